"""kill -9 of Kappa's commands at their fault points (:mod:`tests.faults.matrix`): a fixed core set that
covers every stage (read, validate, stage, write the lake, commit before/inside/after, calibrate, attribute,
schedule, report) and a seeded random draw over the loads' other points; every point of every command runs in
``test_kill_sweep_loads.py`` and ``test_kill_sweep_nights.py`` (``make test-sweep``).

The random draw's seed is ``$KAPPA_FAULT_SEED`` (default 20): the chosen points are printed.

Readers during writers, and writers at once (in this module, to share its base home): nothing is lost, and
whoever must wait says so in one line.

- a night (its loads replacing the lake files of the date, its commits) runs while another load runs beside
  it, and readers query the home all the while: ``kappa sql`` in a loop and a plain read-only DuckDB
  client; every query answers, or fails with one line saying who holds the file (``kappa sql``:
  :class:`kappa.errors.DatabaseBusyError`; the plain client: DuckDB's own lock error, never a broken view
  or a missing file); the home ends as if the two writers had run one after the other;
- two loads at once land both, one after the other (the load lock);
- a second ``kappa serve`` of a home is refused in one line naming the first.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb

from data.home import KappaHome
from data.load_run import FAULT_POINTS
from data.store import _is_lock_error
from tests.conftest import REPO
from tests.faults.matrix import D2, D4, Command, Reference, Trial, commands, copy_home, kill_trial, summary
from tests.faults.runner import Done, Kappa, read_state

CORE = [
    *(("ingest quotes", p) for p in ("read_batch", "validated", "after_staging", "lake_written", "before_commit",
                                      "inside_commit", "after_commit")),
    ("ingest orders", "inside_commit"),
    ("calibrate", "calibrate_fit"),
    ("attribute", "results_inside_commit"),
    ("schedule", "schedule_inside_commit"),
    ("nightly", "report_after"),
]  # fmt: skip
"""Every stage once: a quotes load at each of its steps, an orders load's commit, a calibration killed
after its first symbol's fit, an attribution inside its commit, a saved schedule inside its commit, and a
night killed after its report, before it is marked done."""

DRAWN = 2
LOADS = ("ingest quotes", "ingest trades", "ingest orders", "ingest fills")


def drawn(matrix: dict[str, Command], seed: int) -> list[tuple[str, str]]:
    """``DRAWN`` (command, point) pairs of the loads (a second each; a flow command takes several) outside
    the core set, at random."""
    pool = [(c, p) for c in LOADS for p in matrix[c].points if (c, p) not in CORE]
    return random.Random(seed).sample(pool, DRAWN)


SEED = int(os.environ.get("KAPPA_FAULT_SEED", "20"))


def test_every_stage_and_a_random_draw_survive_a_kill(
    kappa: Kappa, base: KappaHome, matrix: dict[str, Command], whole: Callable[[str], Reference],
    tmp_path: Path,
) -> None:  # fmt: skip
    start, trials = time.monotonic(), list[Trial]()
    chosen = CORE + drawn(matrix, SEED)
    print(f"seed {SEED}: drawn {chosen[len(CORE) :]}")
    for i, (name, point) in enumerate(chosen):
        trial = kill_trial(kappa, matrix[name], point, base, whole(name), tmp_path / f"t{i}")
        print(
            f"{name} @ {point}: rows lost {trial.rows_lost}, tracebacks {trial.tracebacks}", *trial.problems
        )
        trials.append(trial)
    print(summary(trials, time.monotonic() - start))
    assert [(t.command, t.point, t.problems) for t in trials if t.problems] == []
    assert sum(t.rows_lost for t in trials) == 0
    assert sum(t.tracebacks for t in trials) == 0


def test_every_fault_point_is_placed_and_swept() -> None:
    """The points :data:`data.load_run.FAULT_POINTS` lists are those the code places, and the sweep kills
    each in at least one command."""
    placed = {
        m
        for package in ("data", "flows", "calibration", "reports")
        for path in (REPO / package).rglob("*.py")
        for m in re.findall(r'fault_point\("(\w+)"\)', path.read_text())
    }
    assert placed == set(FAULT_POINTS)
    swept = {p.partition("@")[0] for c in commands(Path()).values() for p in c.points}
    assert swept == set(FAULT_POINTS)


READERS_PAUSE_S = 0.5  # between a reader's queries: a reader holds the file, and a writer waits for it
QUERY = "SELECT count(*) FROM quotes, trades"


def night(home: Path) -> list[str]:
    return ["nightly", "--date", str(D2), "--lookback-days", "2", "--home", str(home)]


def load_d4(sim: Path, home: Path) -> list[str]:
    return ["ingest", "quotes", str(sim / D4.isoformat() / "quotes.csv"), "--home", str(home)]


def busy_line(done: Done) -> bool:
    """``kappa sql`` refused for a busy file: exit 2 and one line, DatabaseBusyError's."""
    lines = done.err.strip().splitlines()
    return done.code == 2 and len(lines) == 1 and ("is writing to" in lines[0] or "for reading" in lines[0])


def test_readers_answer_or_wait_while_a_night_and_a_load_run_together(
    kappa: Kappa, base: KappaHome, sim: Path, tmp_path: Path
) -> None:
    home = copy_home(base, tmp_path / "home")
    counts: Counter[str] = Counter()
    other: list[str] = []
    stop = threading.Event()

    def plain_client() -> None:  # a notebook's read-only connection, opened for each query
        while not stop.is_set():
            try:
                with duckdb.connect(str(home.db_path), read_only=True) as con:
                    con.execute(QUERY).fetchall()
                counts["duckdb answered"] += 1
            except duckdb.IOException as exc:
                if _is_lock_error(exc):
                    counts["duckdb busy"] += 1
                else:
                    other.append(f"duckdb: {exc}")
            except duckdb.Error as exc:
                other.append(f"duckdb: {type(exc).__name__}: {exc}")
            stop.wait(READERS_PAUSE_S)

    writers = [kappa.start(*night(home.root))[0], kappa.start(*load_d4(sim, home.root))[0]]
    client = threading.Thread(target=plain_client)
    client.start()
    tracebacks = 0
    try:
        while any(w.is_alive() for w in writers):
            done = kappa.run("sql", "--home", str(home.root), QUERY)
            tracebacks += done.tracebacks
            if done.code == 0:
                counts["kappa sql answered"] += 1
            elif busy_line(done):
                counts["kappa sql busy"] += 1
            else:
                other.append(f"kappa sql: exit {done.code}: {done.err.strip()}")
            time.sleep(READERS_PAUSE_S)
    finally:
        stop.set()
        client.join()
        for w in writers:
            w.join(600)
    print(f"readers during writers: {dict(counts)}, other {len(other)}, tracebacks {tracebacks}")
    assert other == []
    assert tracebacks == 0
    assert counts["kappa sql answered"] and counts["duckdb answered"]
    assert [w.exitcode for w in writers] == [0, 0]
    # as if the load had run first, then the night
    reference = copy_home(base, tmp_path / "reference")
    for argv in (load_d4(sim, reference.root), night(reference.root)):
        assert kappa.run(*argv).code == 0
    assert read_state(home) == read_state(reference)


def test_two_loads_at_once_both_land(
    kappa: Kappa,
    base: KappaHome,
    matrix: dict[str, Command],
    whole: Callable[[str], Reference],
    tmp_path: Path,
) -> None:
    home = copy_home(base, tmp_path / "home")
    quotes, trades = matrix["ingest quotes"], matrix["ingest trades"]
    both = [kappa.start(*quotes.argv(home.root))[0], kappa.start(*trades.argv(home.root))[0]]
    for p in both:
        p.join(300)
    assert [p.exitcode for p in both] == [0, 0]
    state = read_state(home)
    # one after the other, in either order: the same tables (trades are flagged against the day's quotes
    # whichever came first)
    one_after_other = copy_home(base, tmp_path / "sequential")
    for command in (quotes, trades):
        assert kappa.run(*command.argv(one_after_other.root)).code == 0
    assert state == read_state(one_after_other)
    # every row of each load run alone is there (a trade's flag depends on the day's quotes: counted)
    assert whole(quotes.name).final["quotes"] == state["quotes"]
    assert len(whole(trades.name).final["trades"]) == len(state["trades"])


def test_a_second_serve_of_a_home_is_refused_in_one_line(kappa: Kappa, tmp_path: Path) -> None:
    home = KappaHome.resolve(tmp_path / "home").ensure()
    first, _, first_err = kappa.start("serve", "--home", str(home.root))
    lock = home.prefect / "serve.lock"
    try:
        deadline = time.monotonic() + 300  # a bound for "has started", not a measure of speed
        while f"PID {first.pid}" not in (lock.read_text() if lock.exists() else ""):
            assert first.is_alive(), first_err.read_text()
            assert time.monotonic() < deadline, "the first kappa serve never took the home"
            time.sleep(0.2)
        second = kappa.run("serve", "--home", str(home.root))
    finally:
        first.kill()
        first.join(60)
    lines = second.err.strip().splitlines()
    assert second.code == 2
    assert len(lines) == 1 and f"kappa serve (PID {first.pid})" in lines[0], lines
    assert second.tracebacks == 0
