"""Replaced lake files outlive their readers, orphans of a crash go at the next load whatever the readers,
and every file a commit points the manifest at is on disk (fsync) before the commit."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import pytest

import data.load_market
from data.home import KappaHome
from data.ingest import ingest
from data.lake.daily import summary_path
from data.lake.files import reading_lake, sync_to_disk
from data.step_inputs import lake_paths, scan_market
from data.store import start_run, writer
from tests.conftest import DAY, WriteCsv, query

Q_HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]
T_HEADER = ["symbol", "ts", "price", "size"]


def _quotes(write_csv: WriteCsv, name: str, bid: float, symbols: tuple[str, ...] = ("AAA", "BBB")) -> Path:
    rows = [[s, f"{DAY}T10:{m:02d}:00-05:00", bid, bid + 0.02, 100, 100] for s in symbols for m in range(5)]
    return write_csv(name, [Q_HEADER, *rows])


def _trades(write_csv: WriteCsv, name: str) -> Path:
    return write_csv(name, [T_HEADER, ["AAA", f"{DAY}T10:01:30-05:00", 10.01, 300]])


def _files(home: KappaHome) -> set[Path]:
    return {p for p in home.lake.glob("*/date=*/*") if p.is_file()}


def _retired(home: KappaHome) -> set[Path]:
    return {home.lake_file(p) for (p,) in query(home, "SELECT path FROM retired_files")}


def test_a_reader_holding_the_old_manifest_reads_its_files_through_a_replacing_load(
    home: KappaHome, write_csv: WriteCsv
) -> None:
    """A reader (a thread standing for a calibration's batches) takes the day's quotes file from the
    manifest; a load replaces it and the next load runs while the reader still holds the lake: the reader
    then reads the rows it planned on. Once it is done, the next load deletes the replaced file."""
    ingest(home, "quotes", [_quotes(write_csv, "old.csv", 10.0)])
    planned, replaced = threading.Event(), threading.Event()
    paths: list[str] = []
    rows: list[tuple[object, ...]] = []

    def calibration() -> None:
        with reading_lake(home):
            paths.extend(lake_paths(home, "quotes", [dt.date.fromisoformat(DAY)]).values())
            planned.set()
            replaced.wait(timeout=60)
            rows.extend(scan_market("quotes", paths, ["symbol", "bid"], None).rows())

    reader = threading.Thread(target=calibration)
    reader.start()
    try:
        assert planned.wait(timeout=60)
        ingest(home, "quotes", [_quotes(write_csv, "new.csv", 11.0)])  # replaces both symbols of the day
        ingest(home, "trades", [_trades(write_csv, "t.csv")])  # the next load: a reader holds the lake
        retired = _retired(home)
        assert retired and all(p.exists() and summary_path(p).exists() for p in retired)
    finally:
        replaced.set()
        reader.join(timeout=60)
    assert rows == [(s, 10.0) for s in ("AAA", "BBB") for _ in range(5)]
    assert {Path(p) for p in paths} == retired
    assert query(home, "SELECT DISTINCT bid FROM quotes") == [(11.0,)]
    ingest(home, "trades", [_trades(write_csv, "t2.csv")])  # no reader now
    assert not any(p.exists() or summary_path(p).exists() for p in retired)
    current = {home.lake_file(p) for (p,) in query(home, "SELECT path FROM lake_files")}
    assert _files(home) == current | _retired(home) | {
        summary_path(p) for p in current if "quotes" in p.parts
    }


def test_lake_paths_are_given_only_to_a_reader_holding_the_lake(home: KappaHome, write_csv: WriteCsv) -> None:
    ingest(home, "quotes", [_quotes(write_csv, "q.csv", 10.0)])
    day = dt.date.fromisoformat(DAY)
    with pytest.raises(RuntimeError, match="reading_lake"):
        lake_paths(home, "quotes", [day])
    with reading_lake(home):
        (path,) = lake_paths(home, "quotes", [day]).values()
    assert Path(path) == home.lake_file(str(query(home, "SELECT path FROM lake_files")[0][0]))


def test_orphans_of_a_crash_go_at_the_next_load_even_with_a_reader(
    home: KappaHome, write_csv: WriteCsv
) -> None:
    """Files no commit ever listed (a crashed load's file, its summary, temporary files, its staging
    folder) are deleted at the start of the next load while a reader holds the lake; the retired file
    stays for the reader."""
    ingest(home, "quotes", [_quotes(write_csv, "old.csv", 10.0)])
    ingest(home, "quotes", [_quotes(write_csv, "new.csv", 11.0)])
    folder = home.lake / "quotes" / f"date={DAY}"
    crashed = [
        folder / "ingest-quotes-crashed.parquet",
        folder / "ingest-quotes-crashed.daily",
        folder / "ingest-quotes-crashed.daily.tmp",
        folder / "ingest-quotes-crashed.flagging.parquet",
        home.lake / "trades" / "date=2026-11-17" / "ingest-quotes-crashed.parquet",  # re-flagged trades
    ]
    for p in crashed:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"a crashed load's bytes")
    staging = home.staging / "ingest-quotes-crashed" / "quotes"
    staging.mkdir(parents=True)
    (staging / f"{DAY}.parquet").write_bytes(b"staged")
    with writer(home) as con:  # the crashed load's run, as it recorded itself before writing any file
        start_run(con, "ingest-quotes-crashed", "ingest", {})
        con.execute("UPDATE runs SET status = 'failed' WHERE run_id = 'ingest-quotes-crashed'")
    foreign = folder / "ingest-quotes-of-another-home.parquet"  # no run of this home: never deleted
    foreign.write_bytes(b"another home's bytes (a lake reached from two homes)")
    retired = _retired(home)
    with reading_lake(home):
        ingest(home, "trades", [_trades(write_csv, "t.csv")])
    assert not any(p.exists() for p in crashed) and not list(home.staging.iterdir())
    assert foreign.exists()
    assert retired and retired <= _retired(home) and all(p.exists() for p in retired)


def test_every_file_a_commit_references_is_synced_before_it(
    home: KappaHome, write_csv: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Straight to the lake (a new date), merged (a date with a file), and trades flagged again by a
    quotes load: the files synced before each commit are exactly those it points the manifest at."""
    synced: list[set[Path]] = []
    committed: list[set[Path]] = []

    def recording(h: KappaHome, paths: list[Path]) -> None:
        synced.append(set(paths))
        sync_to_disk(h, paths)

    monkeypatch.setattr(data.load_market, "sync_to_disk", recording)
    loads = [
        ("quotes", _quotes(write_csv, "q.csv", 10.0)),  # direct
        ("trades", _trades(write_csv, "t.csv")),  # direct, flagged as written
        # merged; AAA's quotes move away from its trade, which the day's trades file now flags (rule T4)
        ("quotes", _quotes(write_csv, "q2.csv", 20.0, ("AAA", "CCC"))),
        ("trades", _trades(write_csv, "t2.csv")),  # merged
    ]
    for table, path in loads:
        report = ingest(home, table, [path])
        rows = query(home, f"SELECT table_name, path FROM lake_files WHERE run_id = '{report.run_id}'")
        files = {home.lake_file(p) for _, p in rows}
        committed.append(files | {summary_path(home.lake_file(p)) for t, p in rows if t == "quotes"})
    assert synced == committed
    assert [len(c) for c in committed] == [2, 1, 3, 1]  # quotes with their summary; the re-flagged trades


def test_sync_fsyncs_each_file_and_its_folders_up_to_the_lake(
    home: KappaHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.ensure()
    files = [
        home.lake / "quotes" / "date=2026-11-16" / "a.parquet",
        home.lake / "quotes" / "date=2026-11-17" / "b.daily",
    ]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
    seen: list[tuple[int, int]] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        seen.append((st.st_dev, st.st_ino))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    sync_to_disk(home, files)
    folders = {f.parent for f in files} | {home.lake / "quotes", home.lake}
    want = {(p.stat().st_dev, p.stat().st_ino) for p in [*files, *folders]}
    assert sorted(seen) == sorted(want)  # each once, nothing else
