"""Adaptive re-planning: the exact optimum of the rest of an order, re-solved when the market changes.

At the end of period K an order has x_K shares left and N − K periods to go. Re-planning solves the
Almgren-Chriss problem (Almgren & Chriss 2000, eq. 18, :func:`schedule.almgren_chriss.optimal_holdings`) for
that remainder alone: an order of x_K shares over (N − K)·τ days in N − K periods, with the parameters in force
now (σ first: a flash crash multiplies it; also η, γ and λ). The periods already traded stay as they were.

Time consistency: on a static market the mean-variance optimum is time consistent (Almgren & Chriss 2000,
§2.3: the optimal trajectory from (t_K, x_K) is the rest of the optimal trajectory from (0, X), since
sinh(κ(T − t))/sinh(κT) restricted to [t_K, T] and rescaled by x_K is the solution of the remainder), so
re-planning with unchanged parameters gives back the original schedule: tested to 1e-9.

:func:`sigma_trigger` is the rule a live system calls between periods: it re-plans when the realized σ of a
trailing window of mids leaves a band around the calibrated σ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from kappa.errors import ScheduleError
from schedule.almgren_chriss import optimal_holdings
from schedule.costs import schedule_from_holdings
from schedule.records import FloatArray, MarketParams, Order, Schedule

BAND = (0.5, 2.0)
"""The default band of :func:`sigma_trigger`: re-plan when the realized σ is below half or above twice the σ
the schedule was solved with (a 10× flash crash is far outside it; day-to-day noise of a trailing estimate is
inside it)."""


@dataclass(frozen=True, slots=True)
class Replan:
    """A re-planned schedule: ``holdings`` x_0..x_N (the original up to period ``at_period`` K, then the
    remainder's optimum), and ``rest``, the remainder's own schedule (x_K shares over N − K periods, with its
    κ, E and V under the new parameters)."""

    at_period: int
    holdings: FloatArray
    rest: Schedule


def replan(
    schedule: Schedule,
    at_period: int,
    params: MarketParams | None = None,
    risk_aversion: float | None = None,
) -> Replan:
    """Re-solve the rest of ``schedule`` from the end of period ``at_period`` K with new parameters.

    Parameters
    ----------
    schedule
        The schedule being worked (its order, parameters, λ and holdings x_0..x_N).
    at_period
        K, 0 <= K < N: periods already traded (K = 0 re-plans the whole order).
    params
        The parameters in force now (default: the schedule's), e.g. ``replace(p, sigma_usd=10 * p.sigma_usd)``.
    risk_aversion
        λ now (1/$; default: the schedule's).

    Returns
    -------
    Replan
        Shape (N + 1,) holdings: x_0..x_K as before, then x_K·(the remainder's optimum).

    Raises
    ------
    ScheduleError
        K outside 0..N−1, a schedule without λ or of the power-law model, or x_K < 0 (a two-way schedule
        sold past its target).
    """
    order, n = schedule.order, schedule.order.periods
    if isinstance(at_period, bool) or int(at_period) != at_period or not 0 <= at_period < n:
        raise ScheduleError(
            f"re-plan at period K = {at_period}: K must be a whole number from 0 to N - 1 = {n - 1}",
            name="at_period", value=at_period,
        )  # fmt: skip
    if schedule.model != "linear":
        raise ScheduleError(
            f"re-planning solves the linear model; this schedule is {schedule.model}", name="model",
            value=schedule.model,
        )  # fmt: skip
    lam = schedule.risk_aversion if risk_aversion is None else risk_aversion
    if lam is None:
        raise ScheduleError("re-planning needs λ: the schedule has none", name="risk_aversion", value=None)
    p = schedule.params if params is None else params
    x = np.asarray(schedule.holdings, dtype=np.float64)
    left = float(x[at_period])
    if left < -1e-9 * order.shares:
        raise ScheduleError(
            f"x_K = {left:.6g} < 0 shares left at period {at_period}: nothing to re-plan",
            name="at_period", value=at_period,
        )  # fmt: skip
    rest_order = Order(
        shares=max(left, math.ulp(order.shares)), side=order.side, horizon_days=order.tau_days * (n - at_period),
        periods=n - at_period, drift_usd_per_day=order.drift_usd_per_day,
        nights=order.nights[at_period:] if order.nights else (),
    )  # fmt: skip
    kappa, tail = optimal_holdings(rest_order, p, lam)
    if left <= 0:
        tail = np.zeros_like(tail)
    rest = schedule_from_holdings("optimal", tail, rest_order, p, risk_aversion=lam, kappa_per_day=kappa)
    return Replan(at_period, np.concatenate([x[: at_period + 1], tail[1:]]), rest)


def realized_sigma_usd(mids: FloatArray, elapsed_days: float) -> float:
    """σ ($/share/√day) of a trailing window of mids: √(Σ (m_i − m_{i−1})² / elapsed), elapsed in trading days.

    The realized variance of the window's mid changes per trading day (Andersen et al. 2001), the estimator
    of :mod:`calibration.volatility` on one window: sample the mids on a grid (e.g. every minute) to keep
    the bid-ask bounce out of it. ``nan`` for fewer than two mids or no elapsed time.
    """
    m = np.asarray(mids, dtype=np.float64)
    if m.size < 2 or not elapsed_days > 0:
        return math.nan
    return math.sqrt(float(np.sum(np.diff(m) ** 2)) / elapsed_days)


def sigma_trigger(
    schedule: Schedule,
    at_period: int,
    mids: FloatArray,
    elapsed_days: float,
    band: tuple[float, float] = BAND,
) -> Replan | None:
    """The volatility rule a live system calls at the end of period K: re-plan with the realized σ when it
    leaves ``band`` × the σ the schedule was solved with, else ``None`` (keep the schedule).

    Parameters
    ----------
    schedule
        The schedule being worked (its σ is the calibrated one, or the last re-plan's).
    at_period
        K, the periods traded so far.
    mids
        The trailing window's mids ($/share), on a regular grid, oldest first.
    elapsed_days
        The window's length in trading days (e.g. 30 minutes = 30/390).
    band
        (low, high) multiples of the schedule's σ inside which nothing changes.

    Returns
    -------
    Replan or None
        The re-planned schedule (its ``rest`` solved with σ = the realized σ; η, γ, ε and λ unchanged), or
        ``None`` inside the band or when the window gives no estimate.
    """
    low, high = band
    if not 0 < low <= 1 <= high:
        raise ScheduleError(f"band {band} must hold 1 (0 < low <= 1 <= high)", name="band", value=band)
    sigma = realized_sigma_usd(mids, elapsed_days)
    base = schedule.params.sigma_usd
    if math.isnan(sigma) or low * base <= sigma <= high * base:
        return None
    return replan(schedule, at_period, replace(schedule.params, sigma_usd=sigma))
