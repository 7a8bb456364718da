"""The Almgren & Chriss (2000) example against its golden vectors (tests/resources/almgren_chriss_2000_example.toml):
κ, E, V and the trajectory of the exact discrete solution, at λ = 0 (TWAP) and at the paper's λ = 1e-6."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from schedule import optimal_schedule
from tests.schedule.conftest import PAPER, PAPER_ORDER, PAPER_PARAMS

CASES: list[dict[str, Any]] = PAPER["cases"]


def test_the_files_inputs_are_the_papers_and_agree_with_each_other() -> None:
    inp = PAPER["inputs"]
    assert inp["tau_days"] == inp["horizon_days"] / inp["periods"]
    assert inp["eta_tilde"] == pytest.approx(inp["eta"] - inp["gamma"] * inp["tau_days"] / 2, rel=1e-15)
    # 30 %/year at S0 = 50 over 252 sessions, as the paper rounds it
    assert inp["sigma_usd"] / inp["initial_price_usd"] * math.sqrt(252) * 100 == pytest.approx(
        inp["sigma_pct_ann"], abs=0.5
    )
    assert inp["epsilon_usd"] == 1 / 16  # half of a 1/8 spread


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"lambda={c['risk_aversion']:g}")
def test_optimal_schedule_reproduces_the_golden_vectors(case: dict[str, Any]) -> None:
    s = optimal_schedule(PAPER_ORDER, PAPER_PARAMS, case["risk_aversion"])
    assert s.kappa_per_day == pytest.approx(case["kappa_per_day"], rel=1e-9, abs=1e-15)
    assert s.expected_cost_usd == pytest.approx(case["expected_cost_usd"], rel=1e-9)
    assert s.variance_usd2 == pytest.approx(case["variance_usd2"], rel=1e-9)
    assert math.sqrt(s.variance_usd2) == pytest.approx(case["std_cost_usd"], rel=1e-9)
    np.testing.assert_allclose(s.holdings, case["holdings_shares"], rtol=1e-9, atol=1e-3)
    np.testing.assert_allclose(s.trades, case["trades_shares"], rtol=1e-9, atol=1e-3)
    assert s.utility_usd() == pytest.approx(
        case["expected_cost_usd"] + case["risk_aversion"] * case["variance_usd2"], rel=1e-9
    )


def test_the_golden_trajectory_is_the_papers_closed_form() -> None:
    """The file's λ = 1e-6 trajectory is eq. 18 at the κ of eq. 19 (the file checked against the paper)."""
    inp, case = PAPER["inputs"], CASES[1]
    kappa = (
        math.acosh(1 + case["risk_aversion"] * inp["sigma_usd"] ** 2 / inp["eta_tilde"] / 2) / inp["tau_days"]
    )
    assert case["kappa_per_day"] == pytest.approx(kappa, rel=1e-9)
    assert kappa == pytest.approx(0.6, abs=0.01) and kappa * inp["horizon_days"] == pytest.approx(
        3.0, abs=0.05
    )
    t = np.arange(inp["periods"] + 1) * inp["tau_days"]
    x = inp["shares"] * np.sinh(kappa * (inp["horizon_days"] - t)) / np.sinh(kappa * inp["horizon_days"])
    np.testing.assert_allclose(case["holdings_shares"], x, rtol=1e-9, atol=1e-3)
