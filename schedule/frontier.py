"""The efficient frontier: the (V, E) of the optimal schedule over a grid of risk aversions λ.

Every point minimises E + λV, so along the frontier dE/dV = −λ (Almgren & Chriss 2000, §3, Fig. 1): the
frontier is convex and the point for a given λ is where its slope is −λ. The grid is spaced evenly in log κT
(the urgency), from a nearly linear schedule to one that trades almost everything at once, and λ = 0 (TWAP)
is always its first point.
"""

from __future__ import annotations

import math

import numpy as np

from kappa.errors import ScheduleError
from schedule.almgren_chriss import optimal_schedule, risk_aversion_for_kappa
from schedule.nonlinear import power_law_schedule
from schedule.records import FloatArray, MarketParams, Order, Schedule

DEFAULT_POINTS = 41
KAPPA_T_RANGE = (1e-2, 30.0)


def frontier_risk_aversions(
    order: Order, params: MarketParams, points: int = DEFAULT_POINTS, include: float | None = None
) -> FloatArray:
    """λ = 0 and the λ whose κT runs geometrically over :data:`KAPPA_T_RANGE`, plus ``include`` (sorted).

    With σ = 0 every λ gives TWAP and the grid is just [0] (and ``include``). With a power law the κ of a
    λ is that of the linear model whose η̃ matches the power law's curvature at the TWAP trade:
    η̃ = τ·A(1+β)β(X/N)^{β−1}/2 with A = η_nl·σ/(ADV·τ)^β (only the grid's spacing depends on it).
    """
    if points < 2:
        raise ScheduleError(f"a frontier needs at least 2 points, got {points}", name="points", value=points)
    lams = [0.0]
    if params.sigma_usd > 0:
        tau = order.tau_days
        pw = params.power
        if pw is not None:
            a = pw.period_cost_coefficient(params.sigma_usd, tau)
            eta_tilde = (
                tau * a * (1 + pw.beta) * pw.beta * (order.shares / order.periods) ** (pw.beta - 1) / 2
            )
        else:
            eta_tilde = params.eta_tilde(tau)
        for kt in np.geomspace(*KAPPA_T_RANGE, points - 1):
            lams.append(risk_aversion_for_kappa(kt / order.horizon_days, params.sigma_usd, eta_tilde, tau))
    if include is not None and math.isfinite(include):
        lams.append(include)
    return np.unique(np.asarray(lams, dtype=np.float64))


def efficient_frontier(
    order: Order, params: MarketParams, risk_aversions: FloatArray, *, power: bool = False
) -> list[Schedule]:
    """The optimal schedule for each λ of ``risk_aversions`` (linear: exact; power law: numerical)."""
    build = power_law_schedule if power else optimal_schedule
    return [build(order, params, float(lam)) for lam in risk_aversions]
