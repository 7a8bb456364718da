"""The efficient frontier's slope and convexity, and invariants over random orders and parameters."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedule import (
    MarketParams,
    Order,
    closed_form_expected_cost,
    closed_form_variance,
    efficient_frontier,
    frontier_risk_aversions,
    optimal_schedule,
)
from tests.schedule.conftest import PAPER_ORDER, PAPER_PARAMS, brute_force_utility


@pytest.mark.parametrize("lam", [1e-7, 1e-6, 1e-5])
def test_frontier_slope_at_lambda_is_minus_lambda(lam: float) -> None:
    h = lam * 1e-4
    lo, hi = (optimal_schedule(PAPER_ORDER, PAPER_PARAMS, v) for v in (lam - h, lam + h))
    slope = (hi.expected_cost_usd - lo.expected_cost_usd) / (hi.variance_usd2 - lo.variance_usd2)
    assert slope == pytest.approx(-lam, rel=1e-5)


def test_frontier_grid_is_convex_and_holds_the_chosen_point() -> None:
    lams = frontier_risk_aversions(PAPER_ORDER, PAPER_PARAMS, 41, include=1e-6)
    assert lams[0] == 0.0 and 1e-6 in lams and np.all(np.diff(lams) > 0)
    front = efficient_frontier(PAPER_ORDER, PAPER_PARAMS, lams)
    kt = [s.kappa_per_day * 5 for s in front if s.kappa_per_day is not None]
    assert kt[1] == pytest.approx(0.01, rel=1e-9) and kt[-1] == pytest.approx(30.0, rel=1e-9)
    v = np.array([s.variance_usd2 for s in front])
    e = np.array([s.expected_cost_usd for s in front])
    assert np.all(np.diff(v) < 0) and np.all(np.diff(e) >= -1e-6)  # more urgency: less risk, more cost
    slopes = np.diff(e) / np.diff(v)  # dE/dV along V decreasing: must fall (convex in V)
    assert np.all(np.diff(slopes) <= 1e-12 * np.abs(slopes[1:]))
    # the chord slopes bracket −λ at each interior point
    i = int(np.flatnonzero(lams == 1e-6)[0])
    assert slopes[i] <= -1e-6 <= slopes[i - 1]


orders = st.builds(
    Order,
    shares=st.floats(1e2, 1e8),
    side=st.sampled_from(["buy", "sell"]),
    horizon_days=st.floats(0.05, 20.0),
    periods=st.integers(1, 120),
)
params = st.builds(
    MarketParams,
    sigma_usd=st.floats(0.001, 20.0),
    gamma=st.floats(0.0, 1e-6),
    eta=st.floats(1e-8, 1e-4),
    epsilon_usd=st.floats(0.0, 0.5),
)
lams = st.one_of(st.just(0.0), st.floats(1e-12, 1e-2))


@settings(max_examples=300, deadline=None)
@given(order=orders, p=params, lam=lams)
def test_invariants(order: Order, p: MarketParams, lam: float) -> None:
    p = replace(p, eta=p.eta + p.gamma * order.tau_days)  # keep η̃ > 0
    s = optimal_schedule(order, p, lam)
    x = order.shares
    assert s.trades.sum() == pytest.approx(x, rel=1e-12)
    assert s.holdings[0] == x and s.holdings[-1] == 0.0
    assert np.all(np.diff(s.holdings) <= 1e-9 * x)  # monotone: never trades back
    assert s.utility_usd() == pytest.approx(brute_force_utility(s.holdings, order, p, lam), rel=1e-9)
    mirror = optimal_schedule(replace(order, side="sell" if order.side == "buy" else "buy"), p, lam)
    assert mirror.expected_cost_usd == s.expected_cost_usd and mirror.variance_usd2 == s.variance_usd2
    k = s.kappa_per_day
    assert k is not None
    if 1e-3 < k * order.horizon_days < 50:  # where the closed forms keep their digits
        assert s.expected_cost_usd == pytest.approx(closed_form_expected_cost(order, p, k), rel=1e-8)
        assert s.variance_usd2 == pytest.approx(closed_form_variance(order, p, k), rel=1e-6, abs=1e-9 * x * x)


@settings(max_examples=100, deadline=None)
@given(p=params, kt=st.floats(0.05, 8.0))
def test_discrete_approaches_continuous_as_n_grows(p: MarketParams, kt: float) -> None:
    from schedule import continuous_cost_variance, kappa_continuous

    order = Order(1e6, "sell", 1.0, 10)
    p = replace(p, eta=p.eta + p.gamma)  # η̃ > 0 for every τ ≤ 1
    lam = kt**2 * p.eta / p.sigma_usd**2  # continuous κT = kt
    e_c, v_c = continuous_cost_variance(order, p, lam)
    k_c = kappa_continuous(lam, p.sigma_usd, p.eta)
    gaps = []
    for n in (10, 100, 1000):
        s = optimal_schedule(replace(order, periods=n), p, lam)
        assert s.kappa_per_day is not None
        gaps.append(abs(s.kappa_per_day - k_c) / k_c + abs(s.expected_cost_usd - e_c) / e_c
                    + abs(s.variance_usd2 - v_c) / v_c)  # fmt: skip
    assert gaps[2] < gaps[1] < gaps[0]


@settings(max_examples=200, deadline=None)
@given(order=orders, p=params, kts=st.lists(st.floats(0.01, 40.0), min_size=3, max_size=3, unique=True))
def test_frontier_is_convex_and_each_point_minimises_its_own_utility(
    order: Order, p: MarketParams, kts: list[float]
) -> None:
    from schedule import risk_aversion_for_kappa

    p = replace(p, eta=p.eta + p.gamma * order.tau_days)
    et = p.eta - 0.5 * p.gamma * order.tau_days
    lam = sorted(
        risk_aversion_for_kappa(k / order.horizon_days, p.sigma_usd, et, order.tau_days) for k in kts
    )
    pts = efficient_frontier(order, p, np.array(lam))
    (v1, e1), (v2, e2), (v3, e3) = ((s.variance_usd2, s.expected_cost_usd) for s in pts)
    if v1 - v3 <= 1e-9 * v1 or order.periods == 1:
        return  # the points coincide (one period, or κτ beyond floating-point reach)
    chord = e3 + (e1 - e3) * (v2 - v3) / (v1 - v3)
    assert e2 <= chord + 1e-9 * abs(chord)
    for s, lam_s in zip(pts, lam, strict=True):  # no other point of the frontier does better at its λ
        assert all(s.utility_usd(lam_s) <= o.utility_usd(lam_s) * (1 + 1e-12) for o in pts)
