"""The `kappa` CLI as a user runs it: exit codes, one-line errors, formats, the lock message, the demo."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data.home import KappaHome
from tests.conftest import DAY, REPO, WriteCsv, query, run_kappa, snapshot

Q_HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]


def _quotes(write_csv: WriteCsv) -> Path:
    return write_csv(
        "q.csv",
        [
            Q_HEADER,
            ["AAA", f"{DAY}T10:00:00-05:00", 10, 10.02, 1, 1],
            ["AAA", f"{DAY}T10:00:01-05:00", 10.05, 10.02, 1, 1],
            ["AAA", f"{DAY}T20:00:01-05:00", 10.0, 10.02, 1, 1],
        ],
    )


def test_ingest_prints_counts_per_rule(tmp_path: Path, write_csv: WriteCsv) -> None:
    res = run_kappa("ingest", "quotes", str(_quotes(write_csv)), "--home", str(tmp_path / "h"))
    assert res.returncode == 0, res.stderr
    assert "loaded 1, quarantined 2" in res.stdout
    assert "bid_gt_ask" in res.stdout and "outside_session" in res.stdout


def test_kappa_home_environment_variable(tmp_path: Path, write_csv: WriteCsv) -> None:
    home = tmp_path / "from-env"
    res = run_kappa("ingest", "quotes", str(_quotes(write_csv)), env={"KAPPA_HOME": str(home)})
    assert res.returncode == 0, res.stderr
    assert (home / "kappa.duckdb").exists()


def test_user_errors_are_one_line_without_traceback(tmp_path: Path, write_csv: WriteCsv) -> None:
    bad = write_csv("bad.csv", [["symbol", "ts", "bid"], ["AAA", f"{DAY}T10:00:00-05:00", 10]])
    cases = [
        ("ingest", "quotes", str(bad), "--home", str(tmp_path / "h")),
        ("ingest", "quotes", str(tmp_path / "absent.csv"), "--home", str(tmp_path / "h")),
        ("sql", "SELECT 1", "--home", str(tmp_path / "empty")),
    ]
    for args in cases:
        res = run_kappa(*args)
        assert res.returncode != 0
        assert "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    res = run_kappa("ingest", "quotes", str(bad), "--home", str(tmp_path / "h"))
    assert "missing required column(s) ask, bid_size, ask_size" in res.stderr and "bad.csv" in res.stderr


def test_sql_formats_and_errors(tmp_path: Path, write_csv: WriteCsv) -> None:
    h = str(tmp_path / "h")
    assert run_kappa("ingest", "quotes", str(_quotes(write_csv)), "--home", h).returncode == 0
    q = "SELECT rule, row_number FROM quarantine ORDER BY row_number"
    res = run_kappa("sql", q, "--home", h, "--format", "csv")
    assert list(csv.reader(io.StringIO(res.stdout))) == [
        ["rule", "row_number"],
        ["bid_gt_ask", "2"],
        ["outside_session", "3"],
    ]
    res = run_kappa("sql", q, "--home", h, "--format", "json")
    assert json.loads(res.stdout) == [
        {"rule": "bid_gt_ask", "row_number": 2},
        {"rule": "outside_session", "row_number": 3},
    ]
    res = run_kappa("sql", q, "--home", h)
    assert "bid_gt_ask" in res.stdout and "2 row(s)" in res.stdout
    res = run_kappa("sql", "SELEC nonsense", "--home", h)
    assert res.returncode == 2 and res.stderr.startswith("error: query failed")
    res = run_kappa("sql", "DELETE FROM quarantine", "--home", h)  # read-only
    assert res.returncode == 2 and "read-only" in res.stderr.lower()


def test_sql_says_a_job_is_writing_while_the_database_is_locked(tmp_path: Path, write_csv: WriteCsv) -> None:
    h = tmp_path / "h"
    assert run_kappa("ingest", "quotes", str(_quotes(write_csv)), "--home", str(h)).returncode == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            f"con = duckdb.connect({str(h / 'kappa.duckdb')!r})\n"
            "con.execute('BEGIN'); con.execute('CREATE TABLE busy AS SELECT range AS x FROM range(10)')\n"
            "print('locked', flush=True); time.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        res = run_kappa("sql", "SELECT count(*) FROM quotes", "--home", str(h), "--wait", "1")
        assert res.returncode == 2
        assert "a Kappa job is writing" in res.stderr and "Traceback" not in res.stderr
        assert "Could not set lock" not in res.stderr
        assert time.monotonic() - t0 < 20
    finally:
        holder.kill()
        holder.wait()
    res = run_kappa("sql", "SELECT count(*) FROM quotes", "--home", str(h), "--format", "csv")
    assert res.returncode == 0 and res.stdout.splitlines()[1] == "1"


def test_every_command_has_help_with_an_example() -> None:
    for cmd in ("ingest", "sql", "demo"):
        res = run_kappa(cmd, "--help")
        assert res.returncode == 0 and "Example: kappa " + cmd in res.stdout


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reruns_identically(tmp_path: Path) -> None:
    h = tmp_path / "demo"
    args = ("demo", "--home", str(h), "--symbols", "3", "--days", "2", "--history-days", "60")
    res = run_kappa(*args)
    assert res.returncode == 0, res.stderr
    assert "rows in the database" in res.stdout and "kappa sql" in res.stdout
    home = KappaHome.resolve(h)
    first = snapshot(home)
    assert query(home, "SELECT count(DISTINCT symbol), count(DISTINCT date) FROM quotes") == [(3, 2)]
    assert query(home, "SELECT count(*) FROM daily") == [(3 * 62,)]
    assert len(first["fills"]) > 0 and len(first["orders"]) > 0
    # the demo's deliberately bad rows, each under its rule
    assert query(home, "SELECT table_name, rule, count(*) FROM quarantine GROUP BY ALL ORDER BY ALL") == [
        ("fills", "unknown_order", 1),
        ("quotes", "bid_gt_ask", 1),
        ("quotes", "outside_session", 1),
        ("quotes", "unparseable_number", 1),
        ("trades", "duplicate_key", 1),
        ("trades", "non_positive", 1),
    ]
    # the demo calibrates every symbol as of its last session and shows the truth beside it
    assert "beside the simulator's truth" in res.stdout
    assert query(
        home, "SELECT count(*), count(*) FILTER (WHERE eta_source = 'fills' AND as_of = DATE '2026-11-17') "
              "FROM calibrations"
    ) == [(6, 3)]  # fmt: skip
    # and attributes the last session's orders with the calibration of the night before, into a report
    n_orders = query(home, "SELECT count(*) FROM orders WHERE date = (SELECT max(date) FROM orders)")[0][0]
    assert query(home, "SELECT count(*), min(calibration_as_of) FROM attribution") == [
        (n_orders, dt.date(2026, 11, 16))
    ]
    assert (h / "reports" / "2026-11-17" / "report.html").exists() and "report:" in res.stdout
    # every suggested command runs as printed (the schedule one saves a schedule)
    suggested = [ln.strip() for ln in res.stdout.splitlines() if ln.strip().startswith("kappa ")]
    assert len(suggested) == 5 and suggested[-1].startswith("kappa schedule")
    for line in suggested:
        done = run_kappa(*shlex.split(line)[1:])
        assert done.returncode == 0, (line, done.stderr)
    assert query(home, "SELECT count(*) FROM schedules") == [(14,)]
    assert run_kappa(*args).returncode == 0
    assert snapshot(home) == first
