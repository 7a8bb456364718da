"""The kill sweep of nightly and backfill (a night's loads, fits, attribution, schedules, results and report;
a backfill's second night): every fault point of each, one trial each (:func:`tests.faults.matrix.kill_trial`).
Run by ``make test-sweep``."""

from __future__ import annotations

import pytest

from tests.faults.matrix import sweep_tests

pytestmark = pytest.mark.sweep

test_a_kill_at_the_point, test_the_sweeps_figures = sweep_tests(("nightly", "backfill"))
