"""The Monte Carlo of an execution against the model's exact moments, the adaptive strategy through a flash
crash, the vectorised re-plan against :func:`schedule.replan.replan`, and the seeds."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import chi2

from kappa.errors import ScheduleError
from schedule import optimal_schedule, pov_schedule, schedule_from_holdings, twap_schedule
from schedule.nonlinear import power_law_schedule
from schedule.records import MarketParams, Order, PowerLaw, Schedule
from schedule.replan import replan
from schedule.simulation import (
    Shock,
    replan_holdings,
    shocked_variance_usd2,
    simulate_execution,
    summarize,
)
from tests.schedule.conftest import PAPER_PARAMS

LAM = 1e-6
PATHS = 5_000


def _order(side: str = "sell", periods: int = 10) -> Order:
    return Order(1e6, side, 5.0, periods)


def _hand_expected_cost(x: np.ndarray, order: Order, p: MarketParams) -> float:
    """½γX² + εΣ|n| + (η − γτ/2)/τ·Σn² written out (Almgren & Chriss 2000, eq. 8)."""
    n = x[:-1] - x[1:]
    tau = order.tau_days
    return float(
        0.5 * p.gamma * x[0] ** 2
        + p.epsilon_usd * np.abs(n).sum()
        + (p.eta - p.gamma * tau / 2) / tau * (n**2).sum()
    )


def _within_mc(mean: float, var: float, e: float, v: float, paths: int) -> tuple[float, float]:
    """z-scores of the sample mean (its SE √(V/P)) and of the sample variance (s²/V ~ χ²_{P−1}/(P−1): sd
    √(2/(P−1)))."""
    return (mean - e) / math.sqrt(v / paths), (var / v - 1) / math.sqrt(2 / (paths - 1))


def _schedules(side: str) -> list[Schedule]:
    order = _order(side)
    return [
        optimal_schedule(order, PAPER_PARAMS, LAM),
        twap_schedule(order, PAPER_PARAMS),
        pov_schedule(order, PAPER_PARAMS, 0.25, 1e6),
    ]


@pytest.mark.parametrize("side", ["sell", "buy"])
def test_static_strategies_match_the_model_e_and_v_within_monte_carlo_error(side: str) -> None:
    for k, s in enumerate(_schedules(side)):
        e = _hand_expected_cost(s.holdings, s.order, PAPER_PARAMS)
        v = PAPER_PARAMS.sigma_usd**2 * s.tau_days * float(np.sum(s.holdings[1:] ** 2))  # eq. 9
        assert s.expected_cost_usd == pytest.approx(e, rel=1e-12) and s.variance_usd2 == pytest.approx(
            v, rel=1e-12
        )
        r = summarize(simulate_execution(s, PATHS, seed=11 + k), LAM)
        z_mean, z_var = _within_mc(r.mean_cost_usd, r.std_cost_usd**2, e, v, PATHS)
        assert abs(z_mean) < 4 and abs(z_var) < 4, (s.strategy, side, z_mean, z_var)
        assert r.mean_cost_se_usd == pytest.approx(r.std_cost_usd / math.sqrt(PATHS))
        assert r.objective_usd == pytest.approx(r.mean_cost_usd + LAM * r.std_cost_usd**2)
        assert r.cost_q05_usd < r.cost_q50_usd < r.cost_q95_usd
        # IS is normal: its 5 and 95 % quantiles are E ∓ 1.645 √V (the sample quantile's sd ≈ 0.027 √V here)
        assert abs(r.cost_q95_usd - (e + 1.6449 * math.sqrt(v))) < 0.15 * math.sqrt(v)
        assert r.model_expected_cost_usd == s.expected_cost_usd and r.model_std_usd == s.std_usd


def test_without_volatility_every_path_costs_exactly_the_model_e() -> None:
    """σ = 0: IS = E on every path, for any trajectory (the identity of the module notes, path by path)."""
    p = replace(PAPER_PARAMS, sigma_usd=0.0)
    order = _order("buy", 8)
    x = np.array([1e6, 9e5, 5e5, 4.5e5, 2e5, 1.9e5, 1e5, 2e4, 0.0])
    s = schedule_from_holdings("custom", x, order, p)
    c = simulate_execution(s, 3, seed=1).costs_usd
    np.testing.assert_allclose(c, _hand_expected_cost(x, order, p), rtol=1e-12)


def test_a_shock_leaves_the_mean_and_raises_the_variance_to_its_exact_value() -> None:
    s = optimal_schedule(_order(), PAPER_PARAMS, LAM)
    shock = Shock(5, 10.0)
    x = s.holdings[1:]
    sig = np.where(np.arange(1, 11) > 5, 9.5, 0.95)
    v = float(s.tau_days * np.sum(sig**2 * x**2))
    assert shocked_variance_usd2(s, shock) == pytest.approx(v, rel=1e-12)
    r = summarize(simulate_execution(s, PATHS, seed=5, shock=shock), LAM, shock)
    z_mean, z_var = _within_mc(r.mean_cost_usd, r.std_cost_usd**2, s.expected_cost_usd, v, PATHS)
    assert abs(z_mean) < 4 and abs(z_var) < 4
    assert r.shocked_std_usd == pytest.approx(math.sqrt(v))


@pytest.mark.parametrize("side", ["sell", "buy"])
def test_through_a_10x_flash_crash_the_adaptive_strategy_beats_the_static_optimum(side: str) -> None:
    """X = 10⁶ over 5 days in 10 periods at λ = 10⁻⁶, σ × 10 from the end of period 5 (mid-horizon)."""
    s = optimal_schedule(_order(side), PAPER_PARAMS, LAM)
    shock = Shock(5, 10.0)
    static = summarize(simulate_execution(s, PATHS, seed=3, shock=shock), LAM, shock)
    adaptive = summarize(simulate_execution(s, PATHS, seed=3, shock=shock, adaptive=True), LAM, shock)
    # every path sees the crash in period 6's mids and re-plans
    assert adaptive.replanned_fraction == 1.0
    # E + λV realized: about $2.5M against $3.0M; the gap is ~25 times the noise of either estimate
    # (sd of λ·s² ≈ λ·V·√(2/P) ≈ $45k, of the mean ≈ $20k)
    assert adaptive.objective_usd < static.objective_usd - 300_000, (adaptive, static)
    assert adaptive.std_cost_usd < 0.9 * static.std_cost_usd
    # it pays for the lower risk in impact: its mean cost is above the static E
    assert adaptive.mean_cost_usd > static.model_expected_cost_usd


def test_false_alarms_without_a_shock_occur_at_the_chi_square_rate() -> None:
    """No shock, γ = 0: M σ̂²/σ² over one period is χ²_M, so a path re-plans in the first N − 1 checks with
    probability 1 − (1 − q)^(N−1), q = P(χ²_M < M·0.5²) + P(χ²_M > M·2²)."""
    p = replace(PAPER_PARAMS, gamma=0.0)
    s = optimal_schedule(_order(), p, LAM)
    m, paths = 10, 20_000
    ex = simulate_execution(s, paths, seed=8, adaptive=True, steps_per_period=m)
    q = chi2.cdf(m * 0.25, m) + chi2.sf(m * 4.0, m)
    expected = 1 - (1 - q) ** 9
    got = float(np.mean(ex.replans > 0))
    assert abs(got - expected) < 4 * math.sqrt(expected * (1 - expected) / paths), (got, expected)
    # and a re-planned path still matches the model in the mean: the static optimum's E within a few SE
    r = summarize(ex, LAM)
    assert abs(r.mean_cost_usd - s.expected_cost_usd) < 4 * r.mean_cost_se_usd


def test_the_vectorised_replan_is_schedule_replan_replan() -> None:
    s = optimal_schedule(_order(), PAPER_PARAMS, LAM)
    k = 4
    sigmas = np.array([0.0, 0.3, 0.95, 9.5, 95.0])
    got = replan_holdings(np.full(sigmas.size, s.holdings[k]), k, s.order, s, sigmas)
    for row, sigma in zip(got, sigmas, strict=True):
        want = replan(s, k, replace(PAPER_PARAMS, sigma_usd=float(sigma))).holdings[k:]
        np.testing.assert_allclose(row, want, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got[2], s.holdings[k:], rtol=1e-12, atol=1e-9)  # unchanged σ: time consistent
    half = replan_holdings(np.array([0.5 * s.holdings[k]]), k, s.order, s, sigmas[3:4])[0]
    np.testing.assert_allclose(half, 0.5 * got[3], rtol=1e-12)  # linear in x_K


def test_an_adaptive_strategy_that_never_fires_is_the_static_optimum_path_by_path() -> None:
    s = optimal_schedule(_order(), PAPER_PARAMS, LAM)
    static = simulate_execution(s, 500, seed=2)
    never = simulate_execution(s, 500, seed=2, adaptive=True, band=(1e-9, 1e9))
    np.testing.assert_allclose(never.costs_usd, static.costs_usd, rtol=1e-12)
    assert not never.replans.any()


def test_seeds_reproduce_and_differ() -> None:
    s = optimal_schedule(_order(), PAPER_PARAMS, LAM)
    a = simulate_execution(s, 200, seed=9, adaptive=True, shock=Shock(3, 5.0)).costs_usd
    b = simulate_execution(s, 200, seed=9, adaptive=True, shock=Shock(3, 5.0)).costs_usd
    c = simulate_execution(s, 200, seed=10, adaptive=True, shock=Shock(3, 5.0)).costs_usd
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_bad_values_are_refused_with_the_name() -> None:
    s = optimal_schedule(_order(), PAPER_PARAMS, LAM)
    for kwargs, name in (
        ({"paths": 1}, "paths"),
        ({"shock": Shock(0, 10.0)}, "shock_at_period"),
        ({"shock": Shock(10, 10.0)}, "shock_at_period"),
        ({"shock": Shock(5, 0.0)}, "shock_sigma_multiplier"),
        ({"steps_per_period": 0}, "steps_per_period"),
        ({"band": (2.0, 3.0)}, "band"),
    ):
        args = {"paths": 10, "seed": 0, **kwargs}
        with pytest.raises(ScheduleError) as info:
            simulate_execution(s, **args)  # type: ignore[arg-type]
        assert info.value.name == name, kwargs
    power = power_law_schedule(_order(), replace(PAPER_PARAMS, power=PowerLaw(0.3, 0.6, 5e6)), LAM)
    with pytest.raises(ScheduleError, match="linear model"):
        simulate_execution(power, 10, 0)
    with pytest.raises(ScheduleError, match="needs λ"):
        simulate_execution(twap_schedule(_order(), PAPER_PARAMS), 10, 0, adaptive=True)
