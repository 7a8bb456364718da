"""kill -9 of Kappa's commands at their fault points (:mod:`tests.faults.matrix`): a fixed core set that
covers every stage (read, validate, stage, write the lake, commit before/inside/after, calibrate, attribute,
schedule, report) and a seeded random draw over the loads' other points; every point of every command runs in
``test_kill_sweep_loads.py`` and ``test_kill_sweep_nights.py`` (``make test-sweep``).

The random draw's seed is ``$KAPPA_FAULT_SEED`` (default 20): the chosen points are printed.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path

from data.home import KappaHome
from data.load_run import FAULT_POINTS
from tests.conftest import REPO
from tests.faults.matrix import Command, Reference, Trial, commands, kill_trial, summary
from tests.faults.runner import Kappa

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
