"""The kill matrix: each command of the night, killed with SIGKILL at each of its fault points
(:data:`data.load_run.FAULT_POINTS`), on a copy of one small home, against the same command run whole.

A trial (:func:`kill_trial`) checks, after the kill:

- ``kappa sql`` answers a query over the lake's views (exit 0);
- the data tables (:func:`tests.faults.runner.data_state`: bookkeeping left out) are those of a commit
  boundary of the uninterrupted command: for a command that writes in one commit, its state before (a
  point before the commit) or after (a point after it); for ``nightly`` and ``backfill``, whose loads,
  results and report commit one after another, the state after one of their commits (or before all);
- rows lost: the rows of that expected state the killed home lacks (must be 0);

and, after the same command is run again:

- the killed command's runs are ``failed`` (marked by that next writer), none is left ``running``;
- the data tables equal those of the uninterrupted command's home, value by value;
- no output of any of these commands holds a traceback.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from data.home import KappaHome
from data.inbox import inbox_folder, ingest_inbox
from data.store import ABANDONED
from flows.demo import arrange_inbox
from simulator import SimConfig, SymbolParams, write_dataset
from tests.faults.runner import Done, Kappa, State, commit_states, read_state, rows_lost, runs

SYMS = (
    SymbolParams("AAA", 50.0, 0.9, 4e-7, 2e-6, 0.02, 600_000, quotes_per_day=300),
    SymbolParams("BBB", 120.0, 2.5, 1e-6, 5e-6, 0.03, 300_000, quotes_per_day=300),
)
D1, D2, D3, D4 = (dt.date(2026, 11, d) for d in (16, 17, 18, 19))

LOAD = ("read_batch", "validated", "after_staging", "before_commit", "inside_commit", "after_commit")
MARKET_LOAD = (*LOAD[:3], "lake_written", *LOAD[3:])
RESULTS = ("results_before_commit", "results_inside_commit", "results_after_commit")
NIGHT = ("nightly_ingested", "calibrate_fit", "attribute_batch", "nightly_scheduled", *RESULTS,
         "report_before", "report_after")  # fmt: skip
SCHEDULE = ["schedule", "--symbol", "AAA", "--shares", "20000", "--side", "buy", "--horizon-days", "1",
            "--periods", "8", "--risk-aversion", "1e-6", "--gamma", "4e-7", "--eta", "2e-6"]  # fmt: skip
AFTER_COMMIT = frozenset({"after_commit", "results_after_commit"})
"""Points of a single-commit command that its commit precedes: the killed home holds the new state."""


@dataclass(frozen=True)
class Command:
    """A command of the matrix: its arguments for a home (given the simulated data's folder), the fault
    points it reaches, and whether it writes its data in one commit."""

    name: str
    argv: Callable[[Path], list[str]]
    points: tuple[str, ...]
    single_commit: bool = True


def commands(sim: Path) -> dict[str, Command]:
    """Every command of the matrix on the base home (:func:`base_home`: nights 1 and 2 loaded, calibrated
    as of night 1)."""
    d3, d4 = sim / D3.isoformat(), sim / D4.isoformat()
    night = ["--lookback-days", "2"]

    def load(table: str, path: Path) -> Callable[[Path], list[str]]:
        return lambda h: ["ingest", table, str(path), "--home", str(h)]

    return {c.name: c for c in (
        Command("ingest quotes", load("quotes", d3 / "quotes.csv"), MARKET_LOAD),
        Command("ingest trades", load("trades", d3 / "trades.csv"), MARKET_LOAD),
        Command("ingest orders", load("orders", d4 / "orders.csv"), LOAD),
        Command("ingest fills", load("fills", d3 / "fills.csv"), LOAD),
        Command("calibrate", lambda h: ["calibrate", "--as-of", str(D2), *night, "--batch-symbols", "1",
                                        "--home", str(h)], ("calibrate_fit", "calibrate_before_write", *RESULTS)),
        Command("attribute", lambda h: ["attribute", "--date", str(D2), "--home", str(h)],
                ("attribute_batch", *RESULTS)),
        Command("schedule", lambda h: [*SCHEDULE, "--start", str(D4), "--save", "--home", str(h)],
                ("schedule_before_commit", "schedule_inside_commit")),
        # the drop folder of night 3: quotes, trades, orders (of night 4), fills, loaded in that order
        Command("nightly", lambda h: ["nightly", "--date", str(D3), *night, "--home", str(h)],
                ("read_batch", "inside_commit@2", "after_commit@2", *NIGHT), single_commit=False),
        # nights 2 and 3: a point@2 is reached in night 3
        Command("backfill", lambda h: ["backfill", "--start", str(D2), "--end", str(D3), *night, "--home", str(h)],
                ("report_after", "inside_commit@6", "nightly_ingested@2", "calibrate_fit@2",
                 "results_inside_commit@2", "report_before@2", "report_after@2"), single_commit=False),
    )}  # fmt: skip


def simulate(root: Path) -> Path:
    """Four small sessions of two symbols (and a daily history), written once."""
    cfg = SimConfig(SYMS, D1, 4, orders_per_symbol_day=3, history_days=30, seed=11)
    write_dataset(cfg, root)
    return root


def base_home(kappa: Kappa, sim: Path, root: Path) -> KappaHome:
    """The home every trial copies: the drop folders of nights 1–3, those of nights 1 and 2 loaded, and a
    calibration as of night 1."""
    home = KappaHome.resolve(root).ensure()
    arrange_inbox(home, sim, [D1, D2, D3, D4])
    for day in (D1, D2):
        ingest_inbox(home, inbox_folder(home, day))
    done = kappa.run("calibrate", "--as-of", str(D1), "--lookback-days", "1", "--home", str(home.root))
    assert done.code == 0, done.err
    return home


@dataclass(frozen=True)
class Reference:
    """A command run whole on a copy of the base home: its end, the data state after each of its commits,
    and its home's final state."""

    done: Done
    commits: list[State]
    final: State


def reference(kappa: Kappa, command: Command, base: KappaHome, root: Path) -> Reference:
    home = copy_home(base, root)
    record = root.parent / f"{root.name}.commits"
    done = kappa.run(*command.argv(home.root), commits=record)
    assert done.code in (0, 3), f"{command.name}: {done.err}"
    return Reference(done, commit_states(record), read_state(home))


def copy_home(base: KappaHome, root: Path) -> KappaHome:
    """A copy of ``base`` at ``root`` (``cp -a``): its manifest holds paths relative to the home, so the copy
    reads, replaces and deletes only its own files, as it is."""
    shutil.copytree(base.root, root, symlinks=True)
    return KappaHome.resolve(root)


@dataclass
class Trial:
    """One kill and what it showed."""

    command: str
    point: str
    rows_lost: int = 0
    tracebacks: int = 0
    problems: list[str] = field(default_factory=list)


def kill_trial(
    kappa: Kappa, command: Command, point: str, base: KappaHome, ref: Reference, root: Path
) -> Trial:
    """Kill ``command`` at ``point`` on a copy of ``base``, check the home, run the command again and
    compare with ``ref`` (module docstring)."""
    trial = Trial(command.name, point)
    home = copy_home(base, root)
    before = read_state(home)
    killed = kappa.run(*command.argv(home.root), fault=point)
    if killed.code != -9:
        trial.problems.append(f"the point was not reached: exit {killed.code}: {killed.err.strip()[-300:]}")
    sql = kappa.run("sql", "--home", str(home.root), "SELECT count(*) FROM quotes, trades")
    if sql.code != 0:
        trial.problems.append(f"kappa sql after the kill: exit {sql.code}: {sql.err.strip()}")
    after = read_state(home)
    if command.single_commit:
        allowed = [ref.final] if point.partition("@")[0] in AFTER_COMMIT else [before]
    else:
        allowed = [before, *ref.commits]
    trial.rows_lost += min(rows_lost(state, after) for state in allowed)
    if after not in allowed:
        trial.problems.append(
            "the killed home's tables are not those of a commit boundary: " + _differing(allowed[-1], after)
        )
    rerun = kappa.run(*command.argv(home.root))
    if rerun.code != ref.done.code:
        trial.problems.append(
            f"rerun: exit {rerun.code} (whole: {ref.done.code}): {rerun.err.strip()[-300:]}"
        )
    left = {r: (s, m) for r, (s, pid, m) in runs(home).items() if pid == killed.pid}
    committed = not command.single_commit or point.partition("@")[0] in AFTER_COMMIT
    for run_id, (status, message) in left.items():  # done (its commit landed before the kill), or failed
        if status != "failed" and not committed:
            trial.problems.append(f"the run {run_id}, killed before its commit, is {status}")
        if status == "running" or (
            status == "failed" and not (message or "").startswith(ABANDONED.split("{")[0])
        ):
            trial.problems.append(f"the killed run {run_id} is {status} after the next writer: {message}")
    final = read_state(home)
    trial.rows_lost += rows_lost(ref.final, final)
    if final != ref.final:
        trial.problems.append(
            "after the rerun, the tables differ from a whole run's: " + _differing(ref.final, final)
        )
    trial.tracebacks = killed.tracebacks + sql.tracebacks + rerun.tracebacks
    if trial.tracebacks:
        trial.problems.append("a traceback in the output: " + (killed.err + sql.err + rerun.err)[-1000:])
    return trial


def _differing(expected: State, actual: State) -> str:
    names = sorted(n for n in expected.keys() | actual.keys() if expected.get(n) != actual.get(n))
    return ", ".join(
        f"{n} ({len(expected.get(n, []))} rows expected, {len(actual.get(n, []))} found)" for n in names
    )


def summary(trials: list[Trial], seconds: float) -> str:
    """One line: kills tried per command, rows lost, tracebacks, trials with a problem, time."""
    per: dict[str, int] = {}
    for t in trials:
        per[t.command] = per.get(t.command, 0) + 1
    by = ", ".join(f"{c} {n}" for c, n in per.items())
    bad = sum(1 for t in trials if t.problems)
    lost, tracebacks = sum(t.rows_lost for t in trials), sum(t.tracebacks for t in trials)
    return (f"kill matrix: {len(trials)} kill points tried ({by}); rows lost {lost}; tracebacks {tracebacks}; "
            f"trials with a problem {bad}; {seconds:.0f} s")  # fmt: skip


def sweep_tests(swept_commands: tuple[str, ...]) -> tuple[Callable[..., None], Callable[[], None]]:
    """The two tests of a kill sweep over ``swept_commands``: one trial per fault point of each
    (:func:`kill_trial`), and the summary line of them all (run last). A sweep module binds them to its
    ``test_`` names; sweeps are split by module so that ``make test-sweep``'s workers share them."""
    points = {name: c.points for name, c in commands(Path()).items()}  # the points only: no data needed
    swept = [(name, point) for name in swept_commands for point in points[name]]
    trials: list[Trial] = []
    start = time.monotonic()

    @pytest.mark.parametrize(("name", "point"), swept, ids=[f"{n}@{p}".replace(" ", "-") for n, p in swept])
    def test_a_kill_at_the_point(
        name: str, point: str, kappa: Kappa, base: KappaHome, matrix: dict[str, Command],
        whole: Callable[[str], Reference], tmp_path: Path,
    ) -> None:  # fmt: skip
        trial = kill_trial(kappa, matrix[name], point, base, whole(name), tmp_path / "home")
        trials.append(trial)
        print(
            f"{name} @ {point}: rows lost {trial.rows_lost}, tracebacks {trial.tracebacks}", *trial.problems
        )
        assert trial.problems == []
        assert (trial.rows_lost, trial.tracebacks) == (0, 0)

    def test_the_sweeps_figures() -> None:
        """The summary line of the trials above (run last)."""
        print(summary(trials, time.monotonic() - start))
        assert len(trials) == len(swept)
        assert sum(t.rows_lost for t in trials) == 0
        assert sum(t.tracebacks for t in trials) == 0

    return test_a_kill_at_the_point, test_the_sweeps_figures
