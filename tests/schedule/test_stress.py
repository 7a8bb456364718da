"""Stress scenarios against the closed form of eq. 18, written out here, and the refused scenario kept."""

from __future__ import annotations

import math

import pytest

from schedule import MarketParams
from schedule.stress import SCENARIOS, stress
from tests.schedule.conftest import PAPER_ORDER, PAPER_PARAMS

LAM = 1e-6


def test_each_scenario_is_the_closed_form_optimum_with_its_parameter_scaled() -> None:
    rows = stress(PAPER_ORDER, PAPER_PARAMS, LAM)
    assert [(r.parameter, r.multiplier) for r in rows] == [("base", 1.0), *SCENARIOS]
    x, n = PAPER_ORDER.shares, PAPER_ORDER.periods
    tau, horizon = PAPER_ORDER.tau_days, PAPER_ORDER.horizon_days
    for r in rows:
        sigma = PAPER_PARAMS.sigma_usd * (r.multiplier if r.parameter == "sigma" else 1.0)
        eta = PAPER_PARAMS.eta * (r.multiplier if r.parameter == "eta" else 1.0)
        gamma = PAPER_PARAMS.gamma * (r.multiplier if r.parameter == "gamma" else 1.0)
        eta_tilde = eta - gamma * tau / 2
        kappa = math.acosh(1 + LAM * sigma**2 * tau**2 / (2 * eta_tilde)) / tau  # eq. 18
        first = x - x * math.sinh(kappa * (horizon - tau)) / math.sinh(kappa * horizon)
        assert r.kappa_per_day == pytest.approx(kappa, rel=1e-12), r
        assert r.first_trade_shares == pytest.approx(first, rel=1e-10), r
        holdings = [
            x * math.sinh(kappa * (horizon - k * tau)) / math.sinh(kappa * horizon) for k in range(n + 1)
        ]
        v = sigma**2 * tau * sum(h**2 for h in holdings[1:])  # eq. 8's V
        assert r.std_usd == pytest.approx(math.sqrt(v), rel=1e-10), r
    by = {(r.parameter, r.multiplier): r for r in rows}
    assert by["sigma", 10.0].first_trade_shares > by["base", 1.0].first_trade_shares  # more risk: faster


def test_a_scenario_the_model_refuses_is_a_row_with_the_reason() -> None:
    """η × 0.5 with η̃ = η − γτ/2 no longer positive: kept, with the model's reason, never dropped."""
    params = MarketParams(sigma_usd=0.95, gamma=5e-7, eta=3e-7, epsilon_usd=0.0625)  # η̃ = 5e-8 > 0 at τ = 1
    rows = stress(PAPER_ORDER, params, LAM)
    refused = [r for r in rows if r.reason]
    assert [(r.parameter, r.multiplier) for r in refused] == [("eta", 0.5), ("gamma", 2.0)]
    assert all("is not positive" in (r.reason or "") and math.isnan(r.expected_cost_usd) for r in refused)
    assert len(rows) == 1 + len(SCENARIOS)
