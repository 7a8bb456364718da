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
from flows.server import read_record
from tests.conftest import DAY, DEMO_ARGS, REPO, WriteCsv, query, run_kappa, snapshot

Q_HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]


def _quotes(write_csv: WriteCsv) -> Path:
    return write_csv(
        "q.csv",
        [
            Q_HEADER,
            ["AAA", f"{DAY}T10:00:00-05:00", 10, 10.02, 1, 1],
            ["AAA", f"{DAY}T10:00:01-05:00", 10.05, 10.02, 1, 1],
            ["AAA", "2026-11-22T10:00:01-05:00", 10.0, 10.02, 1, 1],  # a Sunday
            ["AAA", f"{DAY}T10:00:02-05:00", 10.01, 10.03, 1, 1],
            ["AAA", f"{DAY}T10:00:03-05:00", 10.01, 10.03, 1, 1],
        ],
    )


def test_ingest_prints_counts_per_rule(tmp_path: Path, write_csv: WriteCsv) -> None:
    res = run_kappa("ingest", "quotes", str(_quotes(write_csv)), "--home", str(tmp_path / "h"))
    assert res.returncode == 0, res.stderr
    assert "loaded 3, quarantined 2" in res.stdout
    assert "warning: quotes q.csv: 2 of 5 rows (40.0 %) quarantined" in res.stderr.replace("\n", " ")
    assert "bid_gt_ask" in res.stdout and "outside_session" in res.stdout


def test_warnings_exit_0_but_3_under_strict_and_a_refused_load_exits_2(
    tmp_path: Path, write_csv: WriteCsv
) -> None:
    """What cron and schedulers see: a load with warnings exits 0 (3 with --strict or KAPPA_STRICT=1), a
    load refused for its quarantine exits 2 with one line and records a failed run."""
    q = _quotes(write_csv)
    h = str(tmp_path / "h")
    assert run_kappa("ingest", "quotes", str(q), "--home", h).returncode == 0
    strict = run_kappa("ingest", "quotes", str(q), "--home", h, "--strict")
    assert strict.returncode == 3 and "finished with 1 warning(s)" in strict.stderr
    assert run_kappa("ingest", "quotes", str(q), "--home", h, env={"KAPPA_STRICT": "1"}).returncode == 3
    refused = run_kappa("ingest", "quotes", str(q), "--home", h, "--max-quarantined", "0.3")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error: quotes q.csv: 2 of 5 rows (40.0 %) quarantined")
    assert len(refused.stderr.strip().splitlines()) == 1
    runs = query(KappaHome.resolve(h), "SELECT status, rows_written FROM runs ORDER BY started_at")
    assert runs == [("warning", 3), ("warning", 3), ("warning", 3), ("failed", 0)]


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
        ("sql", " ; ", "--home", str(tmp_path / "h")),
    ]
    for args in cases:
        res = run_kappa(*args)
        assert res.returncode != 0
        assert "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    res = run_kappa("ingest", "quotes", str(bad), "--home", str(tmp_path / "h"))
    assert "missing required column(s) ask, bid_size, ask_size" in res.stderr and "bad.csv" in res.stderr


def test_out_of_range_options_and_a_home_the_demo_did_not_make_exit_2(
    tmp_path: Path, write_csv: WriteCsv
) -> None:
    """Counts below their minimum are usage errors (exit 2) before anything runs; the demo refuses a home
    holding data it did not make (its simulated market would land among a desk's tables); a report goes to
    a folder, not over a file, and only for a session."""
    from typer.testing import CliRunner

    from flows.cli import app

    h = tmp_path / "h"
    for args in (
        ("demo", "--symbols", "0"), ("demo", "--days", "-1"), ("demo", "--history-days", "-5"),
        ("sql", "SELECT 1", "--wait", "-1"), ("nightly", "--workers", "0"), ("attribute", "--date", DAY,
        "--batch-symbols", "0"), ("calibrate", "--as-of", DAY, "--lookback-days", "0"),
    ):  # fmt: skip
        res = CliRunner().invoke(
            app, [*args, "--home", str(h)]
        )  # in process: usage errors come before any work
        text = " ".join(res.output.replace("│", " ").split())  # the error as one line, out of its box
        assert res.exit_code == 2 and "greater than or equal to" in text, (args, res.output)
    assert run_kappa("ingest", "quotes", str(_quotes(write_csv)), "--home", str(h)).returncode == 0
    before = query(KappaHome(h), "SELECT count(*) FROM runs")
    res = run_kappa("demo", "--home", str(h), "--symbols", "1", "--days", "1")
    assert res.returncode == 2 and "holds data the demo did not make" in res.stderr
    assert query(KappaHome(h), "SELECT count(*) FROM runs") == before and not (h / "demo").exists()
    (tmp_path / "a-file").write_text("")
    res = run_kappa("report", "--date", DAY, "--home", str(h), "--out", str(tmp_path / "a-file"))
    assert res.returncode == 2 and "is a file, not a folder" in res.stderr
    res = run_kappa("report", "--date", "2026-11-22", "--home", str(h))
    assert res.returncode == 2 and "is not a session of XNYS" in res.stderr


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


def test_sql_prints_values_in_full_and_times_as_utc(tmp_path: Path, write_csv: WriteCsv) -> None:
    """No rounding to six digits, every instant with its Z (UTC), intervals as text, in every format."""
    h = str(tmp_path / "h")
    assert run_kappa("ingest", "quotes", str(_quotes(write_csv)), "--home", h).returncode == 0
    q = ("SELECT 1869001.0 AS volume, 0.000123456789 AS gamma, TIMESTAMP_NS '2026-11-16 15:00:00.123456789' AS ts, "
         "INTERVAL 63 SECOND AS took")  # fmt: skip
    table = run_kappa("sql", q, "--home", h)
    assert table.returncode == 0, table.stderr
    for text in (
        "1869001.0",
        "0.000123456789",
        "2026-11-16T15:00:00.123456789Z",
        "00:01:03",
        "times are UTC",
    ):
        assert text in table.stdout, text
    assert list(csv.reader(io.StringIO(run_kappa("sql", q, "--home", h, "-f", "csv").stdout)))[1] == [
        "1869001.0", "0.000123456789", "2026-11-16T15:00:00.123456789Z", "00:01:03"
    ]  # fmt: skip
    assert json.loads(run_kappa("sql", q, "--home", h, "-f", "json").stdout) == [
        {
            "volume": 1869001.0,
            "gamma": 0.000123456789,
            "ts": "2026-11-16T15:00:00.123456789Z",
            "took": "00:01:03",
        }
    ]


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
        assert f"another process (PID {holder.pid}: " in res.stderr and "is writing to" in res.stderr
        assert "Traceback" not in res.stderr
        assert "Could not set lock" not in res.stderr
        assert time.monotonic() - t0 < 20
    finally:
        holder.kill()
        holder.wait()
    res = run_kappa("sql", "SELECT count(*) FROM quotes", "--home", str(h), "--format", "csv")
    assert res.returncode == 0 and res.stdout.splitlines()[1] == "3"


def test_every_command_has_help_with_an_example() -> None:
    res = run_kappa("--help")
    listed = {c for c in ("ingest", "sql", "calibrate", "schedule", "attribute", "report", "nightly", "backfill",
                          "serve", "demo", "config") if f" {c} " in res.stdout}  # fmt: skip
    assert len(listed) == 11, res.stdout
    for cmd in sorted(listed):
        res = run_kappa(cmd, "--help")
        assert res.returncode == 0 and "Example: kappa " + cmd in res.stdout, cmd


RESULTS = {
    "calibrations": "SELECT * EXCLUDE (run_id) FROM calibrations ORDER BY ALL",
    "attribution": "SELECT * EXCLUDE (run_id) FROM attribution ORDER BY ALL",
    "schedules": "SELECT * EXCLUDE (run_id, created_at) FROM schedules ORDER BY ALL",
}


@pytest.mark.slow
def test_demo_runs_the_nightly_flow_end_to_end_and_reruns_identically(
    tmp_path: Path, demo: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    """``kappa demo`` as on a fresh machine: the home's Prefect server, its database under KAPPA_HOME, started
    by the first demo and reused by the second."""
    h, res = demo
    args = ("demo", "--home", str(h), *DEMO_ARGS)
    assert "Traceback" not in res.stderr
    assert (h / "prefect" / "prefect.db").exists()
    home = KappaHome.resolve(h)
    first = snapshot(home)
    nights = [dt.date(2026, 11, 12), dt.date(2026, 11, 13)]
    assert query(home, "SELECT count(DISTINCT symbol), count(DISTINCT date) FROM quotes") == [(3, 2)]
    assert query(home, "SELECT count(*) FROM daily") == [(3 * 62,)]
    # the demo's deliberately bad rows, each under its rule
    assert query(home, "SELECT table_name, rule, count(*) FROM quarantine GROUP BY ALL ORDER BY ALL") == [
        ("fills", "unknown_order", 1),
        ("quotes", "bid_gt_ask", 1),
        ("quotes", "unparseable_number", 1),
        ("trades", "duplicate_key", 1),
        ("trades", "non_positive", 1),
    ]
    # the quote before the open: a real record of the tape, counted, neither loaded nor quarantined
    assert query(home, "SELECT table_name, reason, sum(rows) FROM skipped_rows GROUP BY ALL") == [
        ("quotes", "extended_hours", 1)
    ]
    # one nightly flow run per night, each calibrating every symbol and attributing the day's orders
    assert query(home, "SELECT status, count(*) FROM runs WHERE command = 'nightly' GROUP BY ALL") == [
        ("success", 2)
    ]
    assert query(home, "SELECT as_of, count(*) FROM calibrations GROUP BY ALL ORDER BY 1") == [
        (nights[0], 3), (nights[1], 3)
    ]  # fmt: skip
    orders = dict(query(home, "SELECT date, count(*) FROM orders GROUP BY ALL"))
    assert query(home, "SELECT date, count(*), max(calibration_as_of) FROM attribution GROUP BY ALL ORDER BY 1") == [
        (nights[0], orders[nights[0]], None), (nights[1], orders[nights[1]], nights[0])
    ]  # fmt: skip
    # schedules for each next session's orders, delivered the evening before (tomorrow's included)
    scheduled = query(home, "SELECT count(DISTINCT order_id) FROM schedules")[0][0]
    assert scheduled == orders[nights[1]] + orders[dt.date(2026, 11, 16)]
    assert "beside the simulator's truth" in res.stdout
    report = h / "reports" / "2026-11-13" / "report.html"
    assert report.exists() and f"report:   {report}" in res.stdout
    # three example queries, each runs as printed, from the repository (where make demo runs), in a shell
    # without the virtualenv on its PATH
    lines = res.stdout.splitlines()
    suggested = [ln.strip() for ln in lines[lines.index("try (as printed):") + 1 :]]
    assert len(suggested) == 3 and all(" sql " in s for s in suggested), suggested
    kappa = shlex.split(suggested[0])[0]
    assert kappa in ("kappa", ".venv/bin/kappa", str(Path(sys.executable).parent / "kappa"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for line in suggested:
        done = subprocess.run(
            ["bash", "-c", line], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0 and "row(s)" in done.stdout, (line, done.stderr)
    before = {t: query(home, q) for t, q in RESULTS.items()}
    server = read_record(home)
    assert server is not None and (h / "prefect" / "server.log").exists()
    assert f"prefect:  {server.ui} (the home's server, left running; stop it: " in res.stdout
    assert run_kappa(*args, unset=("PREFECT_API_URL", "PREFECT_HOME")).returncode == 0
    assert read_record(home) == server  # the rerun reused the server
    assert snapshot(home) == first
    assert {t: query(home, q) for t, q in RESULTS.items()} == before
