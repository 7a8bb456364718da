"""The kill sweep of the loads (quotes, trades, orders, fills), calibrate, attribute and schedule: every
fault point of each, one trial each (:func:`tests.faults.matrix.kill_trial`). Run by ``make test-sweep``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from data.home import KappaHome
from tests.faults.matrix import Command, Reference, Trial, commands, kill_trial, summary
from tests.faults.runner import Kappa

pytestmark = pytest.mark.sweep

SWEPT_COMMANDS = (
    "ingest quotes",
    "ingest trades",
    "ingest orders",
    "ingest fills",
    "calibrate",
    "attribute",
    "schedule",
)
POINTS = {name: c.points for name, c in commands(Path()).items()}  # the points only: no data needed
SWEPT = [(name, point) for name in SWEPT_COMMANDS for point in POINTS[name]]
TRIALS: list[Trial] = []
START = time.monotonic()


@pytest.mark.parametrize(("name", "point"), SWEPT, ids=[f"{n}@{p}".replace(" ", "-") for n, p in SWEPT])
def test_a_kill_at_the_point(
    name: str, point: str, kappa: Kappa, base: KappaHome, matrix: dict[str, Command],
    whole: Callable[[str], Reference], tmp_path: Path,
) -> None:  # fmt: skip
    trial = kill_trial(kappa, matrix[name], point, base, whole(name), tmp_path / "home")
    TRIALS.append(trial)
    print(f"{name} @ {point}: rows lost {trial.rows_lost}, tracebacks {trial.tracebacks}", *trial.problems)
    assert trial.problems == []
    assert (trial.rows_lost, trial.tracebacks) == (0, 0)


def test_the_sweeps_figures() -> None:
    """The summary line of the trials above (run last)."""
    print(summary(TRIALS, time.monotonic() - START))
    assert len(TRIALS) == len(SWEPT)
    assert sum(t.rows_lost for t in TRIALS) == 0
    assert sum(t.tracebacks for t in TRIALS) == 0
