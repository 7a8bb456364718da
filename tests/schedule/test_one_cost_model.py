"""One E and V: schedules, the model's verdict on a realized path, and the nights a schedule crosses."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy.optimize import minimize

from data.calendar import TradingClock
from schedule import MarketParams, Order, optimal_schedule
from schedule.costs import expected_cost, path_moments, variance_usd2
from tca.verdict import realized_path_moments

SIGMA, GAMMA, ETA, EPS = 0.5, 1e-6, 2e-5, 0.01


def test_path_moments_are_almgren_chriss_eqs_8_and_9_by_hand() -> None:
    # X = 1000 in 3 periods of τ = 0.5 day: x = 1000, 600, 200, 0, n = 400, 400, 200
    m = path_moments(
        np.zeros(3, dtype=np.int64), np.array([400.0, 400.0, 200.0]), np.full(3, 0.5),
        np.array([600.0, 200.0, 0.0]), np.zeros(3), sigma_usd=np.array([SIGMA]), gamma=np.array([GAMMA]),
        eta=np.array([ETA]), epsilon_usd=np.array([EPS]), sigma_overnight_usd=np.array([0.0]),
    )  # fmt: skip
    # eq. 8: ½γX² + εX + (η̃/τ)Σn², η̃ = η − γτ/2 = 1.975e-5; Σn² = 360,000
    e = 0.5 * 1e-6 * 1e6 + 0.01 * 1000 + (1.975e-5 / 0.5) * 360_000
    assert e == pytest.approx(0.5 + 10 + 14.22)
    assert m.expected_cost_usd[0] == pytest.approx(e, rel=1e-12)
    # eq. 9: σ²τΣx_k² = 0.25 · 0.5 · (600² + 200²) = 50,000
    assert m.variance_usd2[0] == pytest.approx(50_000.0, rel=1e-12)


def test_a_realized_path_on_a_uniform_grid_has_the_same_e_and_v_through_tca_and_schedule() -> None:
    # Monday 2026-11-16, 10:00 New York (15:00 UTC); fills every 30 minutes (τ = 1/13 day)
    arrival = dt.datetime(2026, 11, 16, 15, 0)
    n = np.array([300.0, 250.0, 250.0, 200.0])
    ts = [arrival + dt.timedelta(minutes=30 * (k + 1)) for k in range(n.size)]
    fills = pl.DataFrame({
        "order_id": "A", "symbol": "X", "side": "sell", "arrival_ts": arrival, "arrival_mid_usd": 40.0, "ts": ts,
        "price": 39.99, "quantity": n, "fee_usd": 0.0,
    })  # fmt: skip
    params = pl.DataFrame({"symbol": ["X"], "sigma_usd": [SIGMA], "gamma": [GAMMA], "eta": [ETA],
                           "epsilon_usd": [EPS], "sigma_overnight_usd": [0.3]})  # fmt: skip
    row = realized_path_moments(fills, params, TradingClock()).row(0, named=True)
    # a fill at the end of its child's interval is the trade at the start of Almgren & Chriss's next period:
    # the schedule x = X, X, x_1, .., x_{M−1}, 0 on M + 1 periods of τ
    tau, x_total = 1 / 13, float(n.sum())
    x = np.concatenate(([x_total], x_total - np.concatenate(([0.0], np.cumsum(n)))))
    order = Order(x_total, "sell", tau * (n.size + 1), n.size + 1)
    p = MarketParams(SIGMA, GAMMA, ETA, EPS, sigma_overnight_usd=0.3)
    e_s, v_s = expected_cost(x, order, p).total_usd, variance_usd2(x, order, p)
    assert row["model_expected_cost_usd"] == pytest.approx(e_s, rel=1e-12, abs=0)
    assert row["model_std_usd"] ** 2 == pytest.approx(v_s, rel=1e-12, abs=0)
    # and both are the paper's sums by hand: E = ½γX² + εX + (η̃/τ)Σn², V = σ²τ(X² + x_1² + x_2² + x_3²)
    e_hand = (
        0.5 * GAMMA * 1000**2 + EPS * 1000 + (ETA - GAMMA * tau / 2) / tau * (300**2 + 2 * 250**2 + 200**2)
    )
    v_hand = SIGMA**2 * tau * (1000**2 + 700**2 + 450**2 + 200**2)
    assert e_s == pytest.approx(e_hand, rel=1e-12) and v_s == pytest.approx(v_hand, rel=1e-12)


def _utility_by_hand(
    inner: np.ndarray, x0: float, tau: float, p: MarketParams, nights: np.ndarray, lam: float
) -> float:
    x = np.concatenate(([x0], inner, [0.0]))
    n = x[:-1] - x[1:]
    e = sum(p.gamma * n[k] * x[k + 1] for k in range(n.size)) + sum(
        n[k] * (p.epsilon_usd + p.eta * n[k] / tau) for k in range(n.size)
    )
    v = sum(
        (p.sigma_usd**2 * tau + p.sigma_overnight_usd**2 * nights[k]) * x[k + 1] ** 2 for k in range(n.size)
    )
    return float(e + lam * v)


def test_a_schedule_over_a_night_counts_it_in_v_and_trades_more_before_it() -> None:
    # 2 days in 8 periods; the close falls inside period 4, which holds x_4 over the night
    nights = (0, 0, 0, 1, 0, 0, 0, 0)
    p = MarketParams(0.6, 2e-7, 3e-6, 0.02, sigma_overnight_usd=1.2)
    lam = 2e-6
    with_night = optimal_schedule(Order(1e5, "buy", 2.0, 8, nights=nights), p, lam)
    without = optimal_schedule(Order(1e5, "buy", 2.0, 8), p, lam)
    # the exact optimum: no other path does better on E + λV written out from the price dynamics
    tau, c = 0.25, np.array(nights, dtype=float)
    best = minimize(lambda u: _utility_by_hand(u * 1e5, 1e5, tau, p, c, lam), without.holdings[1:-1] / 1e5,
                    method="BFGS", options={"gtol": 1e-12, "maxiter": 10_000})  # fmt: skip
    np.testing.assert_allclose(with_night.holdings[1:-1], best.x * 1e5, rtol=1e-6)
    assert with_night.utility_usd() == pytest.approx(
        _utility_by_hand(with_night.holdings[1:-1], 1e5, tau, p, c, lam), rel=1e-12
    )
    v_hand = sum((0.36 * tau + 1.44 * c[k]) * with_night.holdings[k + 1] ** 2 for k in range(8))
    assert with_night.variance_usd2 == pytest.approx(v_hand, rel=1e-12)
    assert with_night.holdings[4] < without.holdings[4]  # less is left to wait over the night
    # without nights the same solver is eq. 18 (the sinh solution)
    zero = optimal_schedule(Order(1e5, "buy", 2.0, 8, nights=(0,) * 8), p, lam)
    np.testing.assert_allclose(zero.holdings, without.holdings, rtol=1e-12)
