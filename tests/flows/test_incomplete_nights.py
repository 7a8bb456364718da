"""A nightly killed part-way leaves its day partly loaded; ``incomplete_nights`` lists that night, with its
run, until a later nightly of the date finishes, and ``kappa sql`` prints one note line about it on stderr."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

from data.home import KappaHome
from data.load_run import FAULT_ENV
from data.queries import incomplete_nights_note
from data.store import ABANDONED, finish_run, start_run, writer
from tests.conftest import DAY, REPO, query, run_kappa

NIGHT = """
import sys, datetime as dt
from flows.nightly import nightly
nightly(date=dt.date.fromisoformat(sys.argv[2]), home=sys.argv[1])
"""


def killed_night(home: KappaHome, day: str) -> None:
    """Run the nightly of ``day`` in a process killed (SIGKILL) right after its quotes load commits."""
    inbox = home.inbox / day
    inbox.mkdir(parents=True)
    rows = [f"AAA,{day}T10:00:{s:02d}-05:00,10,10.02,100,100" for s in range(20)]
    (inbox / "quotes.csv").write_text("symbol,ts,bid,ask,bid_size,ask_size\n" + "\n".join(rows) + "\n")
    (inbox / "trades.csv").write_text(f"symbol,ts,price,size\nAAA,{day}T10:00:05-05:00,10.01,100\n")
    proc = subprocess.run(
        [sys.executable, "-c", NIGHT, str(home.root), day], cwd=REPO, capture_output=True, text=True,
        env={**os.environ, FAULT_ENV: "after_commit"}, timeout=600,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_a_killed_night_is_listed_until_a_night_of_its_date_finishes(
    tmp_path: Path, prefect_api: str
) -> None:
    home = KappaHome.resolve(tmp_path / "home").ensure()
    killed_night(home, DAY)
    # the day is partly loaded: the quotes committed, the trades never came
    assert query(home, "SELECT count(*) FROM quotes") == [(20,)]
    assert query(home, "SELECT count(*) FROM trades") == [(0,)]
    ((run_id, status),) = query(home, "SELECT run_id, status FROM runs WHERE command = 'nightly'")
    assert status == "running"
    listed = query(home, "SELECT date, run_id, status, reason FROM incomplete_nights")
    assert listed == [(dt.date.fromisoformat(DAY), run_id, "running",
                       "running: in progress, or killed (the next write marks it failed)")]  # fmt: skip

    res = run_kappa("sql", "SELECT count(*) AS n FROM quotes", "--home", str(home.root), "--format", "csv")
    assert res.returncode == 0 and res.stdout.splitlines() == ["n", "20"]
    (note,) = res.stderr.splitlines()
    assert note.startswith(f"note: 1 night(s) did not finish, their data may be partly loaded: {DAY} ")

    with writer(home):  # the next writer marks the killed run failed, with the reason
        pass
    ((pid, host),) = query(home, f"SELECT pid, host FROM runs WHERE run_id = '{run_id}'")
    assert query(home, "SELECT status, reason FROM incomplete_nights") == [
        ("failed", ABANDONED.format(pid=pid, host=host))
    ]

    with writer(home) as con:  # a later night of the date that finished (its rows are the flow's own test)
        start_run(con, "nightly-rerun", "nightly", {"date": DAY})
        finish_run(con, "nightly-rerun", 0)
    assert query(home, "SELECT * FROM incomplete_nights") == []
    assert incomplete_nights_note(home) is None


def test_only_the_latest_run_of_a_date_counts(home: KappaHome) -> None:
    later = {
        "2026-11-17": ["success", "failed"],
        "2026-11-18": ["failed", "warning"],
        "2026-11-19": ["failed"],
    }
    with writer(home) as con:
        for day, statuses in later.items():
            for i, status in enumerate(statuses):
                run_id = f"nightly-{day}-{i}"
                start_run(con, run_id, "nightly", {"date": day})
                con.execute("UPDATE runs SET status = ?, started_at = ?, message = ? WHERE run_id = ?",
                            [status, dt.datetime(2026, 11, 20, 0, i), f"{status} {i}", run_id])  # fmt: skip
        start_run(con, "ingest-quotes-x", "ingest", {"date": "2026-11-16"})  # not a night: not listed
    assert query(home, "SELECT date, run_id, status, reason FROM incomplete_nights") == [
        (dt.date(2026, 11, 17), "nightly-2026-11-17-1", "failed", "failed 1"),
        (dt.date(2026, 11, 19), "nightly-2026-11-19-0", "failed", "failed 0"),
    ]
    assert incomplete_nights_note(home) == (
        "note: 2 night(s) did not finish, their data may be partly loaded: 2026-11-17, 2026-11-19 "
        "(SELECT * FROM incomplete_nights; a rerun of the night completes it)"
    )
