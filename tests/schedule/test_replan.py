"""Re-planning the rest of an order: time consistency on a static market, the flash crash against the
closed form and a brute-force minimiser of the paper's E + λV, and the volatility trigger's band."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import minimize

from kappa.errors import ScheduleError
from schedule import MarketParams, Order
from schedule.almgren_chriss import optimal_schedule
from schedule.replan import realized_sigma_usd, replan, sigma_trigger
from tests.schedule.conftest import PAPER_ORDER, PAPER_PARAMS, brute_force_utility

LAM = 1e-6


@pytest.mark.parametrize(
    ("order", "params"),
    [
        (PAPER_ORDER, PAPER_PARAMS),
        (replace(PAPER_ORDER, periods=20, drift_usd_per_day=0.05), PAPER_PARAMS),  # with the drift term
        (replace(PAPER_ORDER, periods=10, nights=(0, 1, 0, 1, 0, 1, 0, 1, 0, 0)),
         replace(PAPER_PARAMS, sigma_overnight_usd=0.6)),  # periods across nights (the tridiagonal solve)
    ],
)  # fmt: skip
def test_replanning_with_unchanged_parameters_gives_the_original_schedule(
    order: Order, params: MarketParams
) -> None:
    """The mean-variance optimum is time consistent on a static market (Almgren & Chriss 2000, §2.3)."""
    s = optimal_schedule(order, params, LAM)
    for k in range(order.periods):
        got = replan(s, k).holdings
        np.testing.assert_allclose(got, s.holdings, rtol=1e-9, atol=1e-9 * order.shares)


def test_a_flash_crash_replan_is_the_closed_form_of_the_rest_and_trades_faster() -> None:
    """σ × 10 after period 2 of the paper's example (N = 10): the remainder is x_K·sinh(κ'(T' − t))/sinh(κ'T')
    with cosh(κ'τ) = 1 + λσ'²τ²/(2η̃) (eq. 18), solved independently here, and it trades faster."""
    order = replace(PAPER_ORDER, periods=10)
    s = optimal_schedule(order, PAPER_PARAMS, LAM)
    crash = replace(PAPER_PARAMS, sigma_usd=10 * PAPER_PARAMS.sigma_usd)
    k = 2
    got = replan(s, k, crash)
    tau = order.tau_days
    eta_tilde = crash.eta - crash.gamma * tau / 2
    kappa = math.acosh(1 + LAM * crash.sigma_usd**2 * tau**2 / (2 * eta_tilde)) / tau
    rest_t = tau * np.arange(order.periods - k + 1)
    horizon = rest_t[-1]
    expected = s.holdings[k] * np.sinh(kappa * (horizon - rest_t)) / np.sinh(kappa * horizon)
    np.testing.assert_allclose(got.holdings[: k + 1], s.holdings[: k + 1], rtol=0, atol=0)
    np.testing.assert_allclose(got.holdings[k:], expected, rtol=1e-9, atol=1e-6)
    assert got.rest.kappa_per_day == pytest.approx(kappa, rel=1e-12)
    assert np.all(got.holdings[k + 1 : -1] < s.holdings[k + 1 : -1])  # faster: less left at every period


def test_the_replan_minimises_the_papers_utility_of_the_rest() -> None:
    """A brute-force minimiser of E + λV written from the price dynamics agrees with the re-plan (new σ, η
    and λ at once)."""
    order = replace(PAPER_ORDER, periods=8)
    s = optimal_schedule(order, PAPER_PARAMS, LAM)
    now = replace(PAPER_PARAMS, sigma_usd=3.0, eta=4e-6)
    k = 3
    got = replan(s, k, now, risk_aversion=2e-6)
    rest = got.rest.order
    x_k = float(s.holdings[k])

    def utility(share: np.ndarray) -> float:  # the holdings as shares of x_K: a well-scaled problem
        return brute_force_utility(np.concatenate([[x_k], x_k * share, [0.0]]), rest, now, 2e-6) / x_k

    start = np.linspace(1, 0, rest.periods + 1)[1:-1]  # TWAP, far from the answer
    best = minimize(utility, start, method="BFGS", options={"gtol": 1e-12})
    np.testing.assert_allclose(got.holdings[k + 1 : -1], x_k * best.x, rtol=1e-5)
    assert utility(got.holdings[k + 1 : -1] / x_k) <= best.fun + 1e-9 * abs(best.fun)


def test_periods_outside_the_order_and_a_schedule_without_lambda_are_refused() -> None:
    s = optimal_schedule(PAPER_ORDER, PAPER_PARAMS, LAM)
    for k in (-1, PAPER_ORDER.periods, 1.5):
        with pytest.raises(ScheduleError, match="K must be a whole number from 0 to N - 1 = 4"):
            replan(s, k)  # type: ignore[arg-type]
    with pytest.raises(ScheduleError, match="needs λ"):
        replan(replace(s, risk_aversion=None), 1)


def test_the_trigger_replans_only_outside_its_band() -> None:
    """Mids that move ±d every step: realized σ = d·√(n / elapsed) exactly."""
    s = optimal_schedule(PAPER_ORDER, PAPER_PARAMS, LAM)
    elapsed = 30 / 390  # half an hour of a 6.5-hour session, in trading days
    n = 30
    for multiple, fires in ((1.0, False), (1.9, False), (2.1, True), (0.4, True), (10.0, True)):
        d = multiple * PAPER_PARAMS.sigma_usd * math.sqrt(elapsed / n)
        mids = 50 + d * (np.arange(n + 1) % 2)
        assert realized_sigma_usd(mids, elapsed) == pytest.approx(
            multiple * PAPER_PARAMS.sigma_usd, rel=1e-12
        )
        got = sigma_trigger(s, 1, mids, elapsed)
        assert (got is not None) == fires, multiple
        if got is not None:
            assert got.rest.params.sigma_usd == pytest.approx(multiple * PAPER_PARAMS.sigma_usd, rel=1e-12)
    assert sigma_trigger(s, 1, np.array([50.0]), elapsed) is None  # no estimate: keep the schedule
