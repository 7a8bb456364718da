"""A load that meets a full disk (a 64 MiB tmpfs as the home): one clear line, the previous tables intact,
its partial files removed, its run ``failed``; and the next load succeeds once there is space, even when a
killed load's leftovers had filled the disk to the last byte."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from data.home import KappaHome
from data.ingest import ingest
from data.store import start_run, writer
from kappa.errors import DiskFullError
from tests.conftest import DAY, query, snapshot

HEADER = "symbol,ts,bid,ask,bid_size,ask_size\n"
BASE_NS = 1794841200_000000000  # 2026-11-16 15:00 UTC, inside the session of DAY


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs mounted for the test (needs root: CI and the development machine run as root)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "--lazy", str(mnt)], check=True)


def fill(disk: Path, leave_bytes: int) -> Path:
    """A file that leaves ``leave_bytes`` free on ``disk``."""
    st = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave_bytes))
    return filler


def quotes_file(path: Path, rows: int, *, sorted_by_symbol: bool) -> Path:
    """``rows`` quotes of 20 symbols on DAY with random prices and sizes (little to compress): in lake order
    (written straight to the lake) or interleaved (staged, then merged)."""
    rng = random.Random(7)
    lines = [(i % 20, f"S{i % 20:02d},{BASE_NS + i * 1000},{10 + rng.random():.6f},{11 + rng.random():.6f},"
                      f"{rng.randint(1, 99999)},{rng.randint(1, 99999)}\n") for i in range(rows)]  # fmt: skip
    if sorted_by_symbol:  # the same rows in another order
        lines.sort(key=lambda line: line[0])  # stable: each symbol's rows stay in time order
    path.write_text(HEADER + "".join(line for _, line in lines))
    return path


def home_files(home: KappaHome) -> set[str]:
    """Every file of the home but the database and its WAL (whose sizes a failed run's row changes)."""
    return {str(p.relative_to(home.root)) for p in home.root.rglob("*") if p.is_file()} - {
        "kappa.duckdb",
        "kappa.duckdb.wal",
    }


ROWS = 60_000  # their lake file or their staging exceeds 1 MiB


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[object, ...]]]:
    """The tables after the one-row file (twice) and the big one, loaded on a disk with room."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    home = KappaHome.resolve(folder / "home")
    for path in (
        one_row_file(folder),
        one_row_file(folder),
        quotes_file(folder / "big.csv", ROWS, sorted_by_symbol=True),
    ):
        ingest(home, "quotes", [path])
    return snapshot(home)


def one_row_file(folder: Path) -> Path:
    path = folder / "one.csv"
    path.write_text(HEADER + f"AAA,{DAY}T10:00:00-05:00,10,10.02,1,1\n")
    return path


@pytest.mark.parametrize("in_lake_order", [True, False], ids=["direct", "staged"])
def test_a_load_that_fills_the_disk_is_undone_and_the_next_succeeds(
    small_disk: Path, tmp_path: Path, in_lake_order: bool, uninterrupted: dict[str, list[tuple[object, ...]]]
) -> None:
    home = KappaHome.resolve(small_disk / "home")
    one_row = one_row_file(tmp_path)
    big = quotes_file(tmp_path / "big.csv", ROWS, sorted_by_symbol=in_lake_order)
    ingest(home, "quotes", [one_row])
    before, files_before = snapshot(home), home_files(home)
    filler = fill(small_disk, 1 << 20)  # 1 MiB: less than the big file's lake file or staging

    with pytest.raises(DiskFullError) as failed:
        ingest(home, "quotes", [big])
    message = str(failed.value)
    assert "\n" not in message and message.startswith(f"no space left on the disk holding {home.root}")
    assert snapshot(home) == before
    assert home_files(home) == files_before  # no staging, no partial lake file
    ((status, run_message),) = query(home, "SELECT status, message FROM runs WHERE run_id LIKE 'ingest-%' "
                                           "ORDER BY started_at DESC, run_id LIMIT 1")  # fmt: skip
    assert status == "failed" and "No space left on device" in str(run_message)

    ingest(home, "quotes", [one_row])  # a one-row load fits in what is left
    filler.unlink()
    report = ingest(home, "quotes", [big])
    assert report.rows_loaded == ROWS
    assert snapshot(home) == uninterrupted  # the order of the file's rows does not matter


def test_a_killed_loads_leftovers_filling_the_disk_are_cleared_first(
    small_disk: Path, tmp_path: Path
) -> None:
    home = KappaHome.resolve(small_disk / "home")
    one_row = one_row_file(tmp_path)
    ingest(home, "quotes", [one_row])
    with writer(home) as con:  # a load killed while staging: its run still running, its process gone
        start_run(con, "ingest-quotes-killed", "ingest", {})
        con.execute("UPDATE runs SET pid = 2147483646 WHERE run_id = 'ingest-quotes-killed'")
    (home.staging / "ingest-quotes-killed").mkdir(parents=True)
    (home.staging / "ingest-quotes-killed" / "2026-11-16.parquet").write_bytes(os.urandom(8 << 20))
    fill(small_disk, 0)  # not a byte left

    ingest(home, "quotes", [one_row])

    assert not any(home.staging.iterdir())
    assert query(home, "SELECT status FROM runs WHERE run_id = 'ingest-quotes-killed'") == [("failed",)]
    assert query(home, "SELECT count(*) FROM quotes") == [(1,)]


def test_a_full_disk_before_the_load_starts_is_one_line(small_disk: Path, tmp_path: Path) -> None:
    home = KappaHome.resolve(small_disk / "home")
    one_row = one_row_file(tmp_path)
    ingest(home, "quotes", [one_row])
    before, files_before = snapshot(home), home_files(home)
    filler = fill(small_disk, 0)  # nothing to clear: DuckDB cannot even record the run

    with pytest.raises(DiskFullError) as failed:
        ingest(home, "quotes", [one_row])
    assert "\n" not in str(failed.value) and "nothing was loaded" in str(failed.value)
    assert snapshot(home) == before and home_files(home) == files_before

    filler.unlink()
    ingest(home, "quotes", [one_row])
    assert snapshot(home) == before  # the same file again: the same tables
