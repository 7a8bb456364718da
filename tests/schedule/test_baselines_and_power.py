"""TWAP, VWAP and POV against hand-worked schedules; the power-law optimiser against the exact linear one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import minimize

from schedule import (
    MarketParams,
    Order,
    PowerLaw,
    ScheduleError,
    cumulative_volume_days,
    expected_cost,
    optimal_schedule,
    pov_schedule,
    power_law_schedule,
    twap_schedule,
    variance_usd2,
    vwap_schedule,
)
from tests.schedule.conftest import PAPER_ORDER, PAPER_PARAMS

ADV = 5e6


def test_twap_is_the_risk_neutral_optimum() -> None:
    twap = twap_schedule(PAPER_ORDER, PAPER_PARAMS)
    opt = optimal_schedule(PAPER_ORDER, PAPER_PARAMS, 0.0)
    np.testing.assert_allclose(twap.holdings, opt.holdings, rtol=1e-15)
    assert twap.expected_cost_usd == pytest.approx(662_500.0) and twap.variance_usd2 == pytest.approx(
        1.083e12
    )


def test_vwap_follows_the_profile() -> None:
    # a session in 4 bins holding 40 %, 10 %, 10 %, 40 % of the volume; one day in 4 periods from the open
    profile = np.array([0.4, 0.1, 0.1, 0.4])
    order = Order(1e5, "buy", 1.0, 4)
    s = vwap_schedule(order, PAPER_PARAMS, profile)
    np.testing.assert_allclose(s.trades, [4e4, 1e4, 1e4, 4e4], rtol=1e-12)
    # the same periods, starting half-way through the session: bins 3, 4 then 1, 2 of the next day
    half = vwap_schedule(order, PAPER_PARAMS, profile, start_fraction=0.5)
    np.testing.assert_allclose(half.trades, [1e4, 4e4, 4e4, 1e4], rtol=1e-12)
    # within a bin volume is even: 8 periods split each bin in two
    fine = vwap_schedule(replace(order, periods=8), PAPER_PARAMS, profile)
    np.testing.assert_allclose(fine.trades, [2e4, 2e4, 5e3, 5e3, 5e3, 5e3, 2e4, 2e4], rtol=1e-12)
    # a flat profile is TWAP; and E, V come from the same sums as the optimum
    flat = vwap_schedule(order, PAPER_PARAMS, np.ones(13))
    np.testing.assert_allclose(flat.holdings, twap_schedule(order, PAPER_PARAMS).holdings, rtol=1e-12)
    et = PAPER_PARAMS.eta - 0.5 * PAPER_PARAMS.gamma * 0.25
    e = 0.5 * 2.5e-7 * 1e10 + 0.0625 * 1e5 + et / 0.25 * (2 * 4e4**2 + 2 * 1e4**2)
    assert s.expected_cost_usd == pytest.approx(e, rel=1e-12)
    assert s.variance_usd2 == pytest.approx(0.9025 * 0.25 * (6e4**2 + 5e4**2 + 4e4**2), rel=1e-12)


def test_cumulative_volume_over_several_days() -> None:
    profile = np.array([0.5, 0.25, 0.25])
    c = cumulative_volume_days(np.array([0.0, 1 / 3, 1.0, 4 / 3, 2.5]), profile, 0.0)
    np.testing.assert_allclose(c, [0.0, 0.5, 1.0, 1.5, 2.0 + 0.5 + 0.25 * 0.5], rtol=1e-12)
    with pytest.raises(ScheduleError):
        cumulative_volume_days(np.array([0.0]), np.array([-1.0, 2.0]), 0.0)


def test_pov_trades_the_participation_until_done() -> None:
    order = Order(1e6, "sell", 5.0, 10)
    s = pov_schedule(order, PAPER_PARAMS, 0.1, ADV)  # 500,000 shares a day: two days
    assert s.info["duration_days"] == pytest.approx(2.0)
    assert s.trades.size == 4 and np.allclose(s.trades, 2.5e5)
    slow = pov_schedule(order, PAPER_PARAMS, 0.01, ADV)  # 50,000 a day: longer than the horizon
    assert slow.info["duration_days"] == pytest.approx(20.0) and slow.trades.sum() == pytest.approx(1e6)
    # with a profile the per-period amounts follow it, the last period takes what is left
    prof = pov_schedule(Order(1e6, "buy", 1.0, 4), PAPER_PARAMS, 0.3, ADV, np.array([0.4, 0.1, 0.1, 0.4]))
    np.testing.assert_allclose(prof.trades, [6e5, 1.5e5, 1.5e5, 1e5], rtol=1e-12)
    with pytest.raises(ScheduleError, match="participation"):
        pov_schedule(order, PAPER_PARAMS, 1.5, ADV)


def _power_params(beta: float, eta_nl: float | None = None) -> MarketParams:
    # at β = 1, η = η_nl·σ/ADV reproduces the paper's η = 2.5e-6
    nl = eta_nl if eta_nl is not None else 2.5e-6 * ADV / 0.95
    return replace(PAPER_PARAMS, power=PowerLaw(nl, beta, ADV))


@pytest.mark.parametrize("lam", [0.0, 1e-7, 1e-6, 1e-4])
@pytest.mark.parametrize("n", [2, 5, 50, 390])
def test_power_law_at_beta_1_reproduces_the_exact_linear_solution(lam: float, n: int) -> None:
    order = replace(PAPER_ORDER, periods=n)
    power = power_law_schedule(order, _power_params(1.0), lam)
    linear = optimal_schedule(order, PAPER_PARAMS, lam)
    assert power.info["converged"]
    np.testing.assert_allclose(power.holdings, linear.holdings, rtol=1e-9, atol=1e-9 * order.shares)
    assert power.expected_cost_usd == pytest.approx(linear.expected_cost_usd, rel=1e-10)
    assert power.variance_usd2 == pytest.approx(linear.variance_usd2, rel=1e-9, abs=1.0)


@pytest.mark.parametrize("lam", [0.0, 1e-7, 1e-6, 1e-5])
def test_power_law_optimum_is_not_beaten_by_a_generic_minimiser(lam: float) -> None:
    order = Order(1e6, "buy", 5.0, 20)
    params = _power_params(0.6, eta_nl=0.3)
    s = power_law_schedule(order, params, lam)
    assert s.info["converged"]

    def u(y: np.ndarray) -> float:
        x = np.concatenate(([1e6], y * 1e6, [0.0]))
        return (
            expected_cost(x, order, params, power=True).total_usd + lam * variance_usd2(x, order, params)
        ) / 1e6

    res = minimize(u, np.linspace(1, 0, 21)[1:-1], method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12})
    assert s.utility_usd() <= res.fun * 1e6 * (1 + 1e-12)
    # the temporary cost is Σ η_nl σ ADV^−β τ^−β |n|^{1+β} − ½γΣn², checked by hand for TWAP
    twap = twap_schedule(order, params, power=True)
    n, tau = 5e4, 0.25
    temp = 20 * (0.3 * 0.95 * (n / tau / ADV) ** 0.6 * n) - 0.5 * 2.5e-7 * 20 * n**2
    assert twap.cost.temporary_usd == pytest.approx(temp, rel=1e-12)
    if lam == 0.0:  # convex and symmetric: the risk-neutral optimum is TWAP
        np.testing.assert_allclose(s.holdings, twap.holdings, rtol=1e-9, atol=1e-3)


def test_power_law_buys_and_sells_mirror_and_trade_monotonically() -> None:
    order = Order(1e6, "sell", 5.0, 10)
    sell = power_law_schedule(order, _power_params(0.6, eta_nl=0.3), 1e-6)
    buy = power_law_schedule(replace(order, side="buy"), _power_params(0.6, eta_nl=0.3), 1e-6)
    np.testing.assert_array_equal(sell.holdings, buy.holdings)
    assert np.all(np.diff(sell.holdings) < 0) and sell.trades.sum() == pytest.approx(1e6)


def test_a_power_law_weaker_than_the_permanent_term_is_refused_not_returned() -> None:
    from schedule.nonlinear import convex_trade_limit

    # η_nl = 0.142 at ADV 5·10⁶: A(1+β)β|n|^(β−1) falls below γ = 2.5e-7 for trades above the limit
    params = replace(PAPER_PARAMS, power=PowerLaw(0.142, 0.1, 5e6))
    limit = convex_trade_limit(PAPER_ORDER, params)
    a = 0.142 * 0.95 / (5e6 * 1.0) ** 0.1
    assert a * 1.1 * 0.1 * limit ** (0.1 - 1) == pytest.approx(2.5e-7, rel=1e-12)  # f''(limit) = 0
    assert limit < PAPER_ORDER.shares / PAPER_ORDER.periods
    with pytest.raises(ScheduleError, match="not convex in trades above"):
        power_law_schedule(PAPER_ORDER, params, 0.0)


def test_an_unbounded_power_law_problem_is_refused() -> None:
    # β < 1: at large amplitudes the own-trade credit ½γn² outgrows A|n|^(1+β), and with a strong drift a
    # zigzag of holdings lowers E + λV without bound; no schedule that trades one way is a minimum
    params = replace(PAPER_PARAMS, power=PowerLaw(0.142, 0.5, 5e6))
    with pytest.raises(ScheduleError, match="no power-law optimum"):
        power_law_schedule(Order(1e6, "sell", 5.0, 10, drift_usd_per_day=2.0), params, 1e-7)


def test_pov_ends_in_the_period_that_completes_it() -> None:
    # 0.3 × 10⁶ a day: 7·10⁵ shares take 2⅓ days, exactly 7 periods of ⅓ day (no extra period of dust)
    s = pov_schedule(Order(7e5, "buy", 1.0, 3), PAPER_PARAMS, 0.3, 1e6)
    assert s.trades.size == 7 and s.info["duration_days"] == pytest.approx(7 / 3)


def _power_utility(x: np.ndarray, order: Order, params: MarketParams, lam: float) -> np.ndarray:
    """E + λV of holdings ``x`` (rows of x_0..x_N) written out from the price dynamics, not schedule.costs:
    each child pays ε + h(n/τ), h(v) = η_nl·σ·|v/ADV|^β, and moves the price by γn (eqs. 1–9, γΣn_k·x_k)."""
    pw = params.power
    assert pw is not None
    tau = order.tau_days
    n = x[..., :-1] - x[..., 1:]
    temp = np.sum(n * pw.eta_nl * params.sigma_usd * np.abs(n / (tau * pw.adv_shares)) ** pw.beta, axis=-1)
    perm = params.gamma * np.sum(n * x[..., 1:], axis=-1)
    var = params.sigma_usd**2 * tau * np.sum(x[..., 1:] ** 2, axis=-1)
    return np.asarray(perm + params.epsilon_usd * np.sum(np.abs(n), axis=-1) + temp + lam * var)


def _one_way_grid(shares: float, periods: int, levels: int) -> np.ndarray:
    """Every one-way schedule x_0 = X ≥ x_1 ≥ … ≥ x_N = 0 with interior holdings on ``levels`` points."""
    axes = np.meshgrid(*[np.linspace(0.0, shares, levels)] * (periods - 1), indexing="ij")
    y = np.stack([a.ravel() for a in axes], axis=1)
    y = y[np.all(np.diff(y, axis=1) <= 0, axis=1)]
    return np.concatenate([np.full((len(y), 1), shares), y, np.zeros((len(y), 1))], axis=1)


ISSUE_ORDER = Order(1e4, "buy", 1.0, 3)
ISSUE_PARAMS = MarketParams(0.8, 3e-6, 0.3 * 0.8 / 2e5, 0.005, PowerLaw(0.3, 1.4, 2e5))


def test_a_convex_then_concave_power_law_gets_its_one_way_optimum_not_a_refusal() -> None:
    # β = 1.4 with γ = 3e-6: f(n) = A n^2.4 − ½γn² is concave below ~2,035 shares, and the optimum trades
    # nothing in the last period, a boundary point no Newton start reached ("no strict minimum": refused)
    s = power_law_schedule(ISSUE_ORDER, ISSUE_PARAMS, 2e-6)
    assert s.info["converged"] and np.all(s.trades >= 0) and s.trades.sum() == pytest.approx(1e4)
    got = float(_power_utility(s.holdings, ISSUE_ORDER, ISSUE_PARAMS, 2e-6))
    assert got == pytest.approx(s.utility_usd(), rel=1e-13)
    issue = float(_power_utility(np.array([1e4, 3751.0, 0.0, 0.0]), ISSUE_ORDER, ISSUE_PARAMS, 2e-6))
    assert issue == pytest.approx(196.88040706, abs=1e-8) and got <= issue
    np.testing.assert_allclose(s.trades, [6249.1163955, 3750.8836045, 0.0], atol=1e-6)
    assert not np.signbit(s.trades).any()  # the idle period trades 0, not −0
    # brute force over every one-way schedule on a 10-share grid: none is lower, the best is beside ours
    grid = _one_way_grid(1e4, 3, 1_001)
    u = _power_utility(grid, ISSUE_ORDER, ISSUE_PARAMS, 2e-6)
    assert got <= u.min() and np.abs(grid[np.argmin(u)] - s.holdings).max() <= 10


@pytest.mark.parametrize(
    ("periods", "beta", "gamma", "lam", "drift"),
    [
        (2, 1.9, 1e-5, 1e-8, 0.0),
        (3, 1.2, 2e-6, 1e-6, 0.0),
        (3, 1.6, 8e-6, 3e-7, -0.3),
        (4, 1.1, 5e-7, 5e-6, 0.2),
    ],
)
def test_power_law_beta_above_1_is_not_beaten_by_a_brute_force_grid(
    periods: int, beta: float, gamma: float, lam: float, drift: float
) -> None:
    order = Order(1e4, "buy", 1.0, periods, drift_usd_per_day=drift)
    params = MarketParams(0.8, gamma, 1e-6, 0.005, PowerLaw(0.3, beta, 2e5))
    s = power_law_schedule(order, params, lam)
    got = (
        float(_power_utility(s.holdings, order, params, lam)) + drift * order.tau_days * s.holdings[1:].sum()
    )
    assert got == pytest.approx(s.utility_usd(), rel=1e-12) and np.all(s.trades >= 0)
    grid = _one_way_grid(1e4, periods, 101 if periods == 4 else 1_001)
    u = _power_utility(grid, order, params, lam) + drift * order.tau_days * grid[:, 1:].sum(axis=1)
    best = grid[np.argmin(u)]

    def refined(y: np.ndarray) -> float:  # SLSQP from the grid's best, one-way enforced
        return float(_power_utility(np.concatenate(([1e4], y, [0.0])), order, params, lam)) + drift * (
            order.tau_days * y.sum()
        )

    res = minimize(refined, best[1:-1], method="SLSQP", bounds=[(0, 1e4)] * (periods - 1),
                   constraints=[{"type": "ineq", "fun": lambda y: -np.diff(np.concatenate(([1e4], y, [0.0])))}],
                   options={"ftol": 1e-15, "maxiter": 500})  # fmt: skip
    assert got <= min(u.min(), res.fun) + 1e-9 * abs(got)


@pytest.mark.parametrize("beta", [0.6, 0.8, 1.0])
def test_power_law_beta_up_to_1_is_unchanged_by_the_global_search(
    beta: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    import schedule.nonlinear

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the grid search is for β > 1 only")

    monkeypatch.setattr(schedule.nonlinear, "global_one_way_holdings", never)
    order = Order(1e6, "buy", 5.0, 20)
    s = power_law_schedule(order, _power_params(beta, eta_nl=0.3 if beta < 1 else None), 1e-6)
    assert s.info["converged"]
    if beta == 0.6:  # the holdings as they were before the global search existed
        np.testing.assert_allclose(
            s.holdings[:6],
            [
                1e6,
                165781.80029710426,
                68032.78987797642,
                34406.01841253334,
                19580.59322555419,
                12060.259398673317,
            ],
            rtol=1e-13,
        )
