"""The pure half of a schedule request (``schedule.requests``): parameters merged with a calibration row,
the plan built from them, and the refusals that name the parameter."""

from __future__ import annotations

import pytest

from kappa.errors import ParameterError
from schedule import MarketParams, Order, optimal_schedule, twap_schedule
from schedule.requests import PlanInputs, ScheduleRequest, build_plan, market_params

ROW: dict[str, object] = {"as_of": "2026-11-20", "symbol": "AAA", "status": "ok", "sigma_usd": 0.95,
                          "sigma_garch_usd": 1.1, "gamma": -3e-7, "eta": 2.5e-6, "epsilon_usd": 0.0625,
                          "mid_close_usd": 50.0}  # fmt: skip


def test_an_explicit_value_wins_over_the_row_and_gamma_is_the_one_the_rule_gives() -> None:
    req = ScheduleRequest(shares=1e6, side="sell", horizon_days=5, periods=5, risk_aversion=1e-6, eta=3e-6,
                          sigma_source="garch")  # fmt: skip
    p = market_params(req, ROW, calibrated_gamma=0.0)  # the rule takes the row's negative γ as 0
    assert (p.sigma_usd, p.gamma, p.eta, p.epsilon_usd) == (1.1, 0.0, 3e-6, 0.0625)
    given = market_params(ScheduleRequest(1e6, "sell", 5, 5, gamma=2e-7), ROW, calibrated_gamma=0.0)
    assert given.gamma == 2e-7


def test_a_parameter_neither_given_nor_calibrated_is_refused_by_name() -> None:
    with pytest.raises(ParameterError) as info:
        market_params(ScheduleRequest(1e6, "sell", 5, 5, sigma_usd=0.9, gamma=0.0, epsilon_usd=0.01), None)
    assert info.value.name == "--eta" and "missing --eta" in str(info.value)


def test_the_plan_is_the_paper_schedule_with_twap_beside_it_and_a_stable_id() -> None:
    req = ScheduleRequest(1e6, "sell", 5, 5, risk_aversion=1e-6, price_usd=50.0)
    params = MarketParams(0.95, 2.5e-7, 2.5e-6, 0.0625)
    order = Order(1e6, "sell", 5, 5)
    plan = build_plan(req, PlanInputs(order=order, params=params))
    direct = optimal_schedule(order, params, 1e-6)
    assert plan.schedule.holdings.tolist() == direct.holdings.tolist()
    assert [s.strategy for s in plan.comparison] == ["optimal", "twap"]
    assert plan.comparison[1].expected_cost_usd == twap_schedule(order, params).expected_cost_usd
    assert plan.bps(plan.schedule.expected_cost_usd) == pytest.approx(
        1e4 * direct.expected_cost_usd / (1e6 * 50.0)
    )
    assert build_plan(req, PlanInputs(order=order, params=params)).schedule_id == plan.schedule_id
    with pytest.raises(ParameterError) as info:
        build_plan(ScheduleRequest(1e6, "sell", 5, 5), PlanInputs(order=order, params=params))
    assert info.value.name == "--risk-aversion"
