"""A home moved (``mv``) or copied (``cp -a``) works as it is: the manifest holds paths relative to the lake,
``kappa sql`` reads the home's own files at once, the next writer points the stored views at them, and no
load deletes a file outside the home it writes."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from data.home import KappaHome
from data.ingest import ingest
from data.lake.files import OutsideLakeError, remove_from_lake
from data.queries import query_frame
from data.schema import market_view_sql
from data.store import writer
from kappa.errors import InputError
from tests.conftest import DAY, WriteCsv, query

Q_HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]
T_HEADER = ["symbol", "ts", "price", "size"]
DAY2 = "2026-11-17"
VIEWS = {
    "quotes": "SELECT * FROM quotes ORDER BY ALL",
    "trades": "SELECT * FROM trades ORDER BY ALL",
    "daily": "SELECT * EXCLUDE (run_id) FROM daily ORDER BY ALL",
}


def _quotes(write_csv: WriteCsv, name: str, day: str, bid: float) -> Path:
    rows = [
        [s, f"{day}T10:{m:02d}:00-05:00", bid, bid + 0.02, 100, 100] for s in ("AAA", "BBB") for m in range(5)
    ]
    return write_csv(name, [Q_HEADER, *rows])


def _trades(write_csv: WriteCsv, name: str, day: str) -> Path:
    return write_csv(name, [T_HEADER, ["AAA", f"{day}T10:01:30-05:00", 10.01, 300]])


def _loaded(root: Path, write_csv: WriteCsv) -> KappaHome:
    """Two sessions of quotes and trades."""
    home = KappaHome.resolve(root)
    for day in (DAY, DAY2):
        ingest(home, "quotes", [_quotes(write_csv, f"q-{day}.csv", day, 10.0)])
        ingest(home, "trades", [_trades(write_csv, f"t-{day}.csv", day)])
    return home


def _tables(home: KappaHome) -> dict[str, list[tuple[object, ...]]]:
    """What ``kappa sql`` answers (its function, read-only) for the market views and daily."""
    return {name: query_frame(home, sql).rows() for name, sql in VIEWS.items()}


def _digests(root: Path) -> dict[str, str]:
    """Every file under ``root`` and the SHA-256 of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _raw(home: KappaHome, sql: str) -> list[tuple[object, ...]]:
    """A read-only DuckDB client opened on the file directly, as a notebook would (no Kappa code)."""
    con = duckdb.connect(str(home.db_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_the_manifest_holds_paths_relative_to_the_lake(home: KappaHome, write_csv: WriteCsv) -> None:
    ingest(home, "quotes", [_quotes(write_csv, "q.csv", DAY, 10.0)])
    ((path, run_id),) = query(home, "SELECT path, run_id FROM lake_files")
    assert path == f"quotes/date={DAY}/{run_id}.parquet"
    assert home.lake_file(path).is_file()


def test_a_moved_home_answers_the_same_and_its_loads_touch_nothing_at_the_old_place(
    tmp_path: Path, write_csv: WriteCsv
) -> None:
    old = _loaded(tmp_path / "old", write_csv)
    before = _tables(old)
    rel = [p for (p,) in query(old, "SELECT path FROM lake_files ORDER BY ALL")]
    moved = KappaHome.resolve(tmp_path / "elsewhere" / "moved")
    moved.root.parent.mkdir()
    shutil.move(old.root, moved.root)

    # before any writer: a raw client reads the stored views, which still list the old place's files
    with pytest.raises(duckdb.IOException, match="No files found"):
        _raw(moved, "SELECT count(*) FROM quotes")
    assert _tables(moved) == before  # kappa sql: the home's own files (temporary views)
    # another home now lives at the old place, with a file where a lake file of the moved one was
    decoys = [old.lake_file(p) for p in rel]
    for d in decoys:
        d.parent.mkdir(parents=True, exist_ok=True)
        d.write_bytes(b"another home's file")

    ingest(moved, "quotes", [_quotes(write_csv, "fix.csv", DAY, 11.0)])  # replaces the day's quotes
    ingest(moved, "trades", [_trades(write_csv, "t-again.csv", DAY)])  # deletes the replaced file
    assert all(d.read_bytes() == b"another home's file" for d in decoys)
    assert _raw(moved, "SELECT min(bid), max(bid) FROM quotes WHERE date = DATE '2026-11-16'") == [
        (11.0, 11.0)
    ]
    after = _tables(moved)
    assert after["quotes"] != before["quotes"]
    assert [r for r in after["quotes"] if str(r[7]) == DAY2] == [
        r for r in before["quotes"] if str(r[7]) == DAY2
    ]
    # the quotes file the correction replaced is gone; the trades file the last load replaced waits
    assert query(moved, "SELECT table_name FROM retired_files") == [("trades",)]
    kept = {
        moved.lake_file(p)
        for (p,) in query(moved, "SELECT path FROM lake_files UNION SELECT path FROM retired_files")
    }
    assert kept == set(moved.lake.glob("*/date=*/*.parquet"))


def test_a_correction_loaded_into_a_copy_leaves_the_original_whole(
    tmp_path: Path, write_csv: WriteCsv
) -> None:
    original = _loaded(tmp_path / "original", write_csv)
    before, files = _tables(original), _digests(original.root)
    copy = KappaHome.resolve(tmp_path / "copy")
    subprocess.run(["cp", "-a", str(original.root), str(copy.root)], check=True)
    assert _tables(copy) == before  # read-only, before any writer: the copy's own files

    ingest(copy, "quotes", [_quotes(write_csv, "fix.csv", DAY, 11.0)])  # replaces the day's quotes
    ingest(copy, "trades", [_trades(write_csv, "t-again.csv", DAY)])  # deletes the file it replaced
    assert _digests(original.root) == files  # not one byte of the original changed, its database included
    assert _tables(original) == before
    assert _raw(original, "SELECT count(*), max(bid) FROM quotes") == [(20, 10.0)]
    assert query(copy, "SELECT DISTINCT bid FROM quotes WHERE date = DATE '2026-11-16'") == [(11.0,)]
    assert _raw(copy, "SELECT count(*), max(bid) FROM quotes") == [(20, 11.0)]


def test_a_home_of_schema_version_16_moved_before_the_upgrade_works(
    tmp_path: Path, write_csv: WriteCsv
) -> None:
    """A database of version 16 holds absolute paths and views over them; moved, then opened by this
    Kappa: ``kappa sql`` reads the home's own files at once, and migration 17 keeps their part after the
    last ``/lake/``."""
    old = _loaded(tmp_path / "lake" / "old", write_csv)  # a /lake/ in the home's own path too
    before = _tables(old)
    with writer(old) as con:  # as version 16 left it
        con.execute("UPDATE lake_files SET path = ? || '/' || path", [str(old.lake)])
        for table in ("quotes", "trades"):
            files = [
                p
                for (p,) in con.execute(
                    "SELECT path FROM lake_files WHERE table_name = ?", [table]
                ).fetchall()
            ]
            con.execute(market_view_sql(table, files))
        con.execute(  # and undo the migrations after 16
            """DROP TABLE retired_files; ALTER TABLE orders DROP COLUMN delivered_date;
               DROP VIEW incomplete_nights; DELETE FROM schema_version WHERE version > 16"""
        )
    moved = KappaHome.resolve(tmp_path / "moved")
    shutil.move(old.root, moved.root)
    assert _tables(moved) == before  # read-only, before any writer: no migration yet
    assert all(p.startswith(str(old.lake)) for (p,) in query(moved, "SELECT path FROM lake_files"))
    with writer(moved):
        pass
    paths = [p for (p,) in query(moved, "SELECT path FROM lake_files ORDER BY ALL")]
    assert paths and all(p.startswith(("quotes/date=", "trades/date=")) for p in paths)
    assert _raw(moved, "SELECT count(*) FROM quotes") == [(20,)]
    assert _tables(moved) == before


def test_kappa_sql_on_a_moved_home(tmp_path: Path, write_csv: WriteCsv) -> None:
    """The command line, once: ``kappa ingest`` then, after ``mv``, ``kappa sql`` answers from the moved
    home's files."""
    from typer.testing import CliRunner

    from flows.cli import app

    old, moved = tmp_path / "old", tmp_path / "moved"
    runner = CliRunner()
    loaded = runner.invoke(
        app, ["ingest", "quotes", str(_quotes(write_csv, "q.csv", DAY, 10.0)), "--home", str(old)]
    )
    assert loaded.exit_code == 0, loaded.output
    shutil.move(old, moved)
    res = runner.invoke(
        app, ["sql", "SELECT count(*) AS n, max(bid) AS bid FROM quotes", "--home", str(moved), "-f", "csv"]
    )
    assert res.exit_code == 0, res.output
    assert res.output.split() == ["n,bid", "10,10.0"]


def test_a_deletion_outside_the_lake_is_refused(home: KappaHome, tmp_path: Path, write_csv: WriteCsv) -> None:
    ingest(home, "quotes", [_quotes(write_csv, "q.csv", DAY, 10.0)])
    outside = tmp_path / "outside.parquet"
    outside.write_bytes(b"keep")
    linked = home.lake / "quotes" / "link.parquet"
    linked.symlink_to(outside)
    for path in (
        outside,
        home.lake,
        home.lake / "quotes" / ".." / ".." / "kappa.duckdb",
        linked,
        tmp_path,
    ):
        with pytest.raises(OutsideLakeError, match="not under the home's lake"):
            remove_from_lake(home, path)
    assert outside.read_bytes() == b"keep" and home.db_path.is_file()
    with pytest.raises(ValueError, match="leaves the lake"):
        home.lake_file("../kappa.duckdb")
    (rel,) = [p for (p,) in query(home, "SELECT path FROM lake_files")]
    assert remove_from_lake(home, home.lake_file(rel)) and not home.lake_file(rel).exists()


@pytest.mark.parametrize("name", ["a*b", "q?m", "bk[1]", "back\\slash"])
def test_a_home_path_duckdb_would_read_as_a_pattern_is_refused_in_one_line(tmp_path: Path, name: str) -> None:
    """A home at ``.../a*b/home`` would read (and merge into its files) the lake files of ``.../ab/home``:
    such a path is refused, naming the character, before anything is opened."""
    with pytest.raises(InputError, match=r"cannot hold .*choose another folder") as refused:
        KappaHome.resolve(tmp_path / name / "home")
    assert "\n" not in str(refused.value)
    assert not (tmp_path / name).exists()


def test_two_homes_over_one_linked_lake_delete_none_of_each_others_files(
    tmp_path: Path, write_csv: WriteCsv
) -> None:
    """A home whose ``lake`` is a link to another disk, copied with ``cp -a``: the copy's link names the
    same lake. Loads into each, corrections of the same date included, leave the other's data whole (no
    file of the other's runs is an orphan to it, and no replaced file is deleted while two homes list it)."""
    first = KappaHome.resolve(tmp_path / "first")
    disk = tmp_path / "disk" / "lake"
    disk.mkdir(parents=True)
    first.root.mkdir()
    (first.root / "lake").symlink_to(disk)
    first = _loaded(first.root, write_csv)
    second = KappaHome.resolve(tmp_path / "second")
    subprocess.run(["cp", "-a", str(first.root), str(second.root)], check=True)
    assert (second.root / "lake").resolve() == disk
    ingest(second, "quotes", [_quotes(write_csv, "fix2.csv", DAY, 12.0)])  # replaces a file both list
    ingest(first, "quotes", [_quotes(write_csv, "fix1.csv", DAY2, 11.0)])  # a file the second never knew
    for _ in range(2):  # later loads: their clean-up meets the other's new and replaced files
        ingest(second, "trades", [_trades(write_csv, "t2.csv", DAY)])
        ingest(first, "trades", [_trades(write_csv, "t1.csv", DAY2)])
    assert _raw(first, "SELECT date, max(bid) FROM quotes GROUP BY ALL ORDER BY 1") == [
        (dt.date(2026, 11, 16), 10.0), (dt.date(2026, 11, 17), 11.0)]  # fmt: skip
    assert _raw(second, "SELECT date, max(bid) FROM quotes GROUP BY ALL ORDER BY 1") == [
        (dt.date(2026, 11, 16), 12.0), (dt.date(2026, 11, 17), 10.0)]  # fmt: skip
