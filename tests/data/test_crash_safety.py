"""A load killed with SIGKILL at an arbitrary moment leaves the previous state intact, and a rerun completes
it; a killed run is marked failed by the next writer (every named fault point of every command:
:mod:`tests.faults`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data.home import KappaHome
from data.ingest import ingest
from data.load_run import FAULT_ENV
from data.store import ABANDONED, start_run, writer
from kappa.processes import create_time
from tests.conftest import DAY, REPO, WriteCsv, query, snapshot

Q_HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]


def _load_in_subprocess(home: KappaHome, table: str, path: Path, fault: str | None) -> subprocess.Popen[str]:
    code = (
        "import sys; from pathlib import Path; from data.home import KappaHome; from data.ingest import ingest;"
        f"ingest(KappaHome.resolve({str(home.root)!r}), {table!r}, [Path({str(path)!r})])"
    )
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env=env, text=True, stderr=subprocess.PIPE
    )


def _files(write_csv: WriteCsv) -> tuple[Path, Path]:
    old = write_csv(
        "old.csv", [Q_HEADER, *[["AAA", f"{DAY}T10:00:{s:02d}-05:00", 10, 10.02, 1, 1] for s in range(30)]]
    )
    new = write_csv(
        "new.csv",
        [
            Q_HEADER,
            *[["AAA", f"{DAY}T11:00:{s:02d}-05:00", 11, 11.02, 1, 1] for s in range(30)],
            ["AAA", f"{DAY}T11:00:00-05:00", 12, 11, 1, 1],
        ],
    )
    return old, new


def test_kill_at_an_arbitrary_moment_of_a_long_load(home: KappaHome, tmp_path: Path) -> None:
    rows = ["symbol,ts,bid,ask,bid_size,ask_size"]
    base = 1794841200_000000000  # 2026-11-16 15:00 UTC
    rows += [f"S{i % 50:02d},{base + i * 1000},10.0,10.02,100,100" for i in range(600_000)]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(rows) + "\n")
    small = tmp_path / "small.csv"
    small.write_text(rows[0] + "\n" + rows[1] + "\n")
    ingest(home, "quotes", [small])
    before = snapshot(home)
    proc = _load_in_subprocess(home, "quotes", path, None)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(home.staging.glob("*/quotes/*.parquet")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert snapshot(home) == before
    report = ingest(home, "quotes", [path])
    assert report.rows_loaded == 600_000
    assert snapshot(home)["lake_files"] == [("quotes", before["lake_files"][0][1], 600_000, 50)]


def _runs(home: KappaHome) -> dict[str, tuple[str, str | None]]:
    return {r: (s, m) for r, s, m in query(home, "SELECT run_id, status, message FROM runs")}


@pytest.mark.parametrize("fault", ["after_staging", "inside_commit"])
def test_a_killed_loads_run_is_marked_failed_by_the_next_writer(
    home: KappaHome, write_csv: WriteCsv, fault: str
) -> None:
    old, new = _files(write_csv)
    ingest(home, "quotes", [old])
    proc = _load_in_subprocess(home, "quotes", new, fault)
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    left = {r: s for r, (s, _) in _runs(home).items() if s == "running"}
    assert len(left) == 1  # the killed load's run: it could not mark itself
    (killed,) = left
    report = ingest(home, "quotes", [new])  # the next writer
    runs = _runs(home)
    status, message = runs[killed]
    assert status == "failed"
    assert message == ABANDONED.format(pid=proc.pid, host=socket.gethostname())
    assert runs[report.run_id][0] == "warning"  # finished (its file has one quarantined row)
    assert not [r for r, (s, _) in runs.items() if s == "running"]


def test_a_run_stays_running_while_its_process_lives_and_not_after_its_pid_is_reused(home: KappaHome) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        created = create_time(sleeper.pid)
        assert created is not None
        with writer(home) as con:
            start_run(con, "other", "ingest", {})
            con.execute(  # as if another process on this host ran it
                "UPDATE runs SET pid = ?, process_created = ? WHERE run_id = 'other'", [sleeper.pid, created]
            )
        with writer(home):
            pass
        assert _runs(home)["other"] == ("running", None)  # alive: left alone
        with writer(home) as con:  # the same pid, another process (a pid reused after the run's died)
            con.execute("UPDATE runs SET process_created = process_created - 1 WHERE run_id = 'other'")
        with writer(home):
            pass
        assert _runs(home)["other"][0] == "failed"
        with writer(home) as con:  # a run of another host is never judged from here
            start_run(con, "remote", "ingest", {})
            con.execute("UPDATE runs SET host = 'elsewhere', pid = 1 WHERE run_id = 'remote'")
        with writer(home):
            pass
        assert _runs(home)["remote"] == ("running", None)
    finally:
        sleeper.kill()
        sleeper.wait()
