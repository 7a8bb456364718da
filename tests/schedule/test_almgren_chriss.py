"""The exact discrete Almgren-Chriss solution against the paper's example, brute force and its limits."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from decimal import Decimal, getcontext

import numpy as np
import pytest

from schedule import (
    MarketParams,
    Order,
    ScheduleError,
    closed_form_expected_cost,
    closed_form_variance,
    continuous_cost_variance,
    continuous_holdings,
    kappa_continuous,
    optimal_schedule,
    periods_for,
    twap_schedule,
)
from tests.schedule.conftest import (
    PAPER_ORDER,
    PAPER_PARAMS,
    brute_force_utility,
    first_order_holdings,
    numerical_minimum,
)


@pytest.mark.parametrize("lam", [0.0, 1e-8, 1e-7, 1e-6, 1e-5, 3e-4])
@pytest.mark.parametrize("n", [1, 2, 5, 13, 78])
def test_closed_forms_equal_the_sums_and_brute_force(lam: float, n: int) -> None:
    order = replace(PAPER_ORDER, periods=n)
    s = optimal_schedule(order, PAPER_PARAMS, lam)
    k = s.kappa_per_day
    assert k is not None
    assert s.expected_cost_usd == pytest.approx(closed_form_expected_cost(order, PAPER_PARAMS, k), rel=1e-10)
    assert s.variance_usd2 == pytest.approx(closed_form_variance(order, PAPER_PARAMS, k), rel=1e-9, abs=1e-3)
    assert s.utility_usd() == pytest.approx(
        brute_force_utility(s.holdings, order, PAPER_PARAMS, lam), rel=1e-12
    )
    np.testing.assert_allclose(
        s.holdings, first_order_holdings(order, PAPER_PARAMS, lam), rtol=1e-9, atol=1e-4
    )


@pytest.mark.parametrize("lam", [0.0, 1e-7, 1e-6, 2e-5])
def test_numerical_minimisation_does_not_beat_the_closed_form(lam: float) -> None:
    order = replace(PAPER_ORDER, periods=10)
    s = optimal_schedule(order, PAPER_PARAMS, lam)
    x_num, u_num = numerical_minimum(order, PAPER_PARAMS, lam)
    assert s.utility_usd() <= u_num * (1 + 1e-12)
    np.testing.assert_allclose(s.holdings, x_num, atol=1e-3 * order.shares)


def test_minimum_variance_limit() -> None:
    huge = optimal_schedule(PAPER_ORDER, PAPER_PARAMS, 1e6)
    assert np.all(np.isfinite(huge.holdings)) and huge.kappa_per_day is not None
    assert huge.holdings[1] < 1e-9 * PAPER_ORDER.shares
    inf = optimal_schedule(PAPER_ORDER, PAPER_PARAMS, math.inf)
    np.testing.assert_array_equal(inf.holdings, [1e6, 0, 0, 0, 0, 0])
    assert inf.variance_usd2 == 0.0
    # everything in the first period: ½γX² + εX + (η̃/τ)X²
    assert inf.expected_cost_usd == pytest.approx(125_000 + 62_500 + 2.375e-6 * 1e12, rel=1e-14)
    assert huge.expected_cost_usd == pytest.approx(inf.expected_cost_usd, rel=1e-9)


def test_buys_and_sells_are_mirror_images() -> None:
    for lam in (0.0, 1e-6, 1e-4):
        sell = optimal_schedule(PAPER_ORDER, PAPER_PARAMS, lam)
        buy = optimal_schedule(replace(PAPER_ORDER, side="buy"), PAPER_PARAMS, lam)
        np.testing.assert_array_equal(buy.holdings, sell.holdings)
        assert buy.expected_cost_usd == sell.expected_cost_usd and buy.variance_usd2 == sell.variance_usd2
    # with a drift, a buy expecting +α mirrors a sell expecting −α
    buy = optimal_schedule(Order(1e6, "buy", 5, 5, drift_usd_per_day=0.02), PAPER_PARAMS, 1e-6)
    sell = optimal_schedule(Order(1e6, "sell", 5, 5, drift_usd_per_day=-0.02), PAPER_PARAMS, 1e-6)
    np.testing.assert_array_equal(buy.holdings, sell.holdings)
    assert buy.expected_cost_usd == sell.expected_cost_usd


def test_eta_tilde_not_positive_is_an_error_naming_the_parameters() -> None:
    params = MarketParams(sigma_usd=0.95, gamma=2.5e-6, eta=1e-6, epsilon_usd=0.0)
    with pytest.raises(ScheduleError, match=r"η̃ = η − γτ/2 = 1e-06 − 2.5e-06·1/2"):
        optimal_schedule(PAPER_ORDER, params, 1e-6)
    # a shorter τ makes η̃ positive again
    assert optimal_schedule(replace(PAPER_ORDER, periods=10), params, 1e-6).expected_cost_usd > 0


def test_horizon_not_a_whole_number_of_periods_is_refused() -> None:
    assert periods_for(5.0, 0.5) == 10
    assert periods_for(1.0, 1 / 78) == 78
    with pytest.raises(ScheduleError, match="not a whole number of periods"):
        periods_for(5.0, 2.0)
    with pytest.raises(ScheduleError, match="whole number"):
        Order(1e6, "sell", 5.0, 2.5)  # type: ignore[arg-type]


def test_single_period_and_minute_slices() -> None:
    one = optimal_schedule(replace(PAPER_ORDER, periods=1), PAPER_PARAMS, 1e-6)
    np.testing.assert_array_equal(one.holdings, [1e6, 0.0])
    assert one.variance_usd2 == 0.0
    assert one.expected_cost_usd == pytest.approx(125_000 + 62_500 + (2.5e-6 - 2.5e-7 * 5 / 2) * 1e12 / 5)
    minutes = Order(2e5, "buy", 1.0, 390)  # one-minute slices of a 6.5-hour day
    for lam in (0.0, 1e-6, 1e-3, 1.0):
        s = optimal_schedule(minutes, PAPER_PARAMS, lam)
        assert np.all(np.isfinite(s.holdings)) and np.all(s.trades >= 0)
        assert s.trades.sum() == pytest.approx(2e5, rel=1e-12)
        np.testing.assert_allclose(
            s.holdings, first_order_holdings(minutes, PAPER_PARAMS, lam), rtol=1e-7, atol=1e-6 * 2e5
        )


def test_drift_term_matches_the_first_order_conditions() -> None:
    for alpha in (0.05, -0.05):
        for lam in (0.0, 1e-7, 1e-6):
            order = Order(1e6, "sell", 5, 10, drift_usd_per_day=alpha)
            s = optimal_schedule(order, PAPER_PARAMS, lam)
            np.testing.assert_allclose(
                s.holdings, first_order_holdings(order, PAPER_PARAMS, lam), rtol=1e-9, atol=1e-4
            )
            assert s.utility_usd() == pytest.approx(brute_force_utility(s.holdings, order, PAPER_PARAMS, lam))
    # a seller expecting the price to rise holds on longer; x̄ = α/(2λσ²)
    up = optimal_schedule(Order(1e6, "sell", 5, 5, drift_usd_per_day=0.05), PAPER_PARAMS, 1e-6)
    flat = optimal_schedule(PAPER_ORDER, PAPER_PARAMS, 1e-6)
    assert np.all(up.holdings[1:-1] > flat.holdings[1:-1])
    # the λ → 0 limit of the drift term is continuous
    tiny = optimal_schedule(Order(1e6, "sell", 5, 10, drift_usd_per_day=0.05), PAPER_PARAMS, 1e-16)
    zero = optimal_schedule(Order(1e6, "sell", 5, 10, drift_usd_per_day=0.05), PAPER_PARAMS, 0.0)
    np.testing.assert_allclose(tiny.holdings, zero.holdings, rtol=1e-6, atol=1e-3)


def test_discrete_converges_to_the_continuous_limit() -> None:
    lam = 1e-6
    kc = kappa_continuous(lam, PAPER_PARAMS.sigma_usd, PAPER_PARAMS.eta)
    assert kc == pytest.approx(math.sqrt(1e-6 * 0.9025 / 2.5e-6))
    e_c, v_c = continuous_cost_variance(PAPER_ORDER, PAPER_PARAMS, lam)
    errors = []
    for n in (10, 100, 1000, 10_000):
        s = optimal_schedule(replace(PAPER_ORDER, periods=n), PAPER_PARAMS, lam)
        assert s.kappa_per_day is not None
        errors.append(
            (
                abs(s.kappa_per_day / kc - 1),
                abs(s.expected_cost_usd / e_c - 1),
                abs(s.variance_usd2 / v_c - 1),
            )
        )
        if n == 10_000:
            np.testing.assert_allclose(
                s.holdings,
                continuous_holdings(PAPER_ORDER, PAPER_PARAMS, lam, s.times_days),
                rtol=1e-3,
                atol=1e-6,
            )
    for coarse, fine in itertools.pairwise(errors):  # κ, E and V each closer at every tenfold N
        assert all(f < c for c, f in zip(coarse, fine, strict=True))
    assert max(errors[-1]) < 1e-3
    # continuous TWAP: ηX²/T and σ²X²T/3
    e0, v0 = continuous_cost_variance(PAPER_ORDER, PAPER_PARAMS, 0.0)
    assert e0 == pytest.approx(125_000 + 62_500 + 2.5e-6 * 1e12 / 5)
    assert v0 == pytest.approx(0.9025 * 1e12 * 5 / 3)


def test_optimum_trades_cost_for_risk_against_twap() -> None:
    twap = twap_schedule(PAPER_ORDER, PAPER_PARAMS)
    for lam in (1e-8, 1e-6, 1e-4):
        s = optimal_schedule(PAPER_ORDER, PAPER_PARAMS, lam)
        assert s.expected_cost_usd >= twap.expected_cost_usd and s.variance_usd2 <= twap.variance_usd2
        assert s.utility_usd() <= twap.utility_usd(lam)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ScheduleError, match="risk aversion"):
        optimal_schedule(PAPER_ORDER, PAPER_PARAMS, -1.0)
    with pytest.raises(ScheduleError, match="eta must be"):
        MarketParams(0.95, 2.5e-7, 0.0, 0.0625)
    with pytest.raises(ScheduleError, match="side"):
        Order(1e6, "short", 5, 5)
    with pytest.raises(ScheduleError, match="shares"):
        Order(-5, "buy", 5, 5)


def test_continuous_limit_has_no_overflow_or_jump() -> None:
    e_big, v_big = continuous_cost_variance(PAPER_ORDER, PAPER_PARAMS, 1e6)  # κT ≈ 3,000
    k = kappa_continuous(1e6, 0.95, 2.5e-6)
    # κT → ∞: E → ½γX² + εX + ηX²κ/2, V → σ²X²/(2κ)
    assert e_big == pytest.approx(125_000 + 62_500 + 2.5e-6 * 1e12 * k / 2, rel=1e-12)
    assert v_big == pytest.approx(0.9025 * 1e12 / (2 * k), rel=1e-12)
    # either side of the series' cut-off at κT = 1e-2
    lam_cut = (1e-2 / 5) ** 2 * 2.5e-6 / 0.9025
    lo, hi = (continuous_cost_variance(PAPER_ORDER, PAPER_PARAMS, lam_cut * f) for f in (0.999999, 1.000001))
    assert lo[0] == pytest.approx(hi[0], rel=1e-12) and lo[1] == pytest.approx(hi[1], rel=1e-9)


def test_a_drift_that_makes_the_schedule_trade_both_ways_is_flagged() -> None:
    s = optimal_schedule(Order(1e6, "sell", 5, 5, drift_usd_per_day=0.5), PAPER_PARAMS, 0.0)
    assert s.holdings[1] > 1e6 and s.info == {"one_way": False}
    # the fixed cost is counted in full: ε·Σ|n| > εX
    assert s.cost.fixed_usd == pytest.approx(0.0625 * float(np.sum(np.abs(s.trades))))
    assert s.cost.fixed_usd > 0.0625 * 1e6
    assert optimal_schedule(PAPER_ORDER, PAPER_PARAMS, 1e-6).info == {}


def test_too_many_periods_are_refused() -> None:
    with pytest.raises(ScheduleError, match="more than 100,000"):
        Order(1e6, "sell", 1.0, 10**9)


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_e_and_v_match_a_monte_carlo_of_the_price_dynamics(side: str) -> None:
    # Almgren & Chriss (2000) eqs. 1-2 and 6-7, simulated path by path: the mid diffuses with σ√τ·ξ_k and
    # drifts by α·τ, each period's trade fills at the period's starting mid + side·(ε + η n_k/τ) and then
    # moves the mid by side·γ·n_k. The cost is side·Σ n_k·(fill_k − S_0).
    order = Order(1e6, side, 5.0, 10, drift_usd_per_day=0.03)
    lam = 1e-6
    s = optimal_schedule(order, PAPER_PARAMS, lam)
    sgn = 1.0 if side == "buy" else -1.0
    rng = np.random.default_rng(2000)
    paths, tau = 200_000, order.tau_days
    p = PAPER_PARAMS
    mid = np.zeros(paths)
    cost = np.zeros(paths)
    for n in s.trades:
        fill = mid + sgn * (p.epsilon_usd + p.eta * n / tau)
        cost += sgn * n * fill
        mid = mid + sgn * p.gamma * n + p.sigma_usd * np.sqrt(tau) * rng.standard_normal(paths) + 0.03 * tau
    mc_mean, mc_var = cost.mean(), cost.var(ddof=1)
    assert mc_mean == pytest.approx(s.expected_cost_usd, abs=4 * np.sqrt(mc_var / paths))
    assert mc_var == pytest.approx(s.variance_usd2, rel=4 * np.sqrt(2 / paths))


def _variance_in_50_digits(order: Order, sigma_usd: float, kappa: float) -> float:
    """σ²τΣ_{k=1..N−1} x_k² of x_k = X·sinh(κ(T − t_k))/sinh(κT), summed in 50-digit decimal arithmetic."""
    getcontext().prec = 50
    k, horizon, x0 = Decimal(kappa), Decimal(order.horizon_days), Decimal(order.shares)
    tau = horizon / order.periods

    def sinh(v: Decimal) -> Decimal:
        return (v.exp() - (-v).exp()) / 2

    held = sum((x0 * sinh(k * (horizon - j * tau)) / sinh(k * horizon)) ** 2 for j in range(1, order.periods))
    return float(Decimal(sigma_usd) ** 2 * tau * Decimal(held))


@pytest.mark.parametrize("n", [1, 2, 5, 78])
@pytest.mark.parametrize("kappa_t", [3e-9, 3e-7, 1e-4, 0.0999, 0.1, 3.0, 400.0])
def test_closed_form_variance_keeps_its_digits_for_every_kappa(n: int, kappa_t: float) -> None:
    # eq. 21 cancels to O((κT)³): at κT = 3e-7 it was 0.2 % off and at 3e-9 it gave 0; above κT ≈ 355 sinh
    # overflowed. The reference is the paper's sum in 50 digits, independent of either formula.
    order = replace(PAPER_ORDER, periods=n)
    kappa = kappa_t / order.horizon_days
    want = _variance_in_50_digits(order, PAPER_PARAMS.sigma_usd, kappa)
    got = closed_form_variance(order, PAPER_PARAMS, kappa)
    assert got == pytest.approx(want, rel=1e-13, abs=1e-300)
    if kappa_t < 1e-6:  # and it meets the λ → 0 limit, TWAP's σ²X²T(1 − 1/N)(1 − 1/(2N))/3
        twap = (
            PAPER_PARAMS.sigma_usd**2 * order.shares**2 * order.horizon_days * (1 - 1 / n) * (1 - 0.5 / n) / 3
        )
        assert got == pytest.approx(twap, rel=1e-12)
