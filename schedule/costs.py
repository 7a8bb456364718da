"""Expected cost E and variance V of any trajectory, by the sums of Almgren & Chriss (2000).

One cost model for the optimal schedule and every baseline, so they compare fairly. For holdings x_0 = X,
x_1, …, x_M = 0 in periods of τ days and trades n_k = x_{k−1} − x_k (Almgren & Chriss 2000, §2 and
eqs. 8–9, written for both sides; μ = side·α is the drift's cost per share per day):

    E = ½γX² + εΣ|n_k| + Σ n_k·h(n_k/τ) − ½γΣn_k² + μτΣ_{k=1..M} x_k
    V = σ²τΣ_{k=1..M} x_k²

with h(v) = ηv (linear: the middle terms are (η̃/τ)Σn_k², η̃ = η − γτ/2) or h(v) = η_nl·σ·|v/ADV|^β
(power law). The ½γΣn_k² term is the permanent impact of a period's own trade that the trade itself does
not pay (eq. 6 applies γn_k after the period's price).
"""

from __future__ import annotations

import numpy as np

from schedule.model import Cost, FloatArray, MarketParams, Order, PowerLaw, Schedule, ScheduleError


def trades_of(holdings: FloatArray) -> FloatArray:
    """n_k = x_{k−1} − x_k for k = 1..M (a period without a trade is 0, never −0)."""
    return -np.diff(holdings) + 0.0


def temporary_cost_usd(trades: FloatArray, tau_days: float, params: MarketParams, power: bool) -> float:
    """Σ n_k·h(n_k/τ) − ½γΣn_k²: the temporary impact paid, net of the own-trade permanent term."""
    n = np.abs(trades)
    if power:
        pw = _power(params)
        paid = pw.period_cost_coefficient(params.sigma_usd, tau_days) * float(np.sum(n ** (1.0 + pw.beta)))
    else:
        paid = params.eta / tau_days * float(np.sum(n * n))
    return paid - 0.5 * params.gamma * float(np.sum(n * n))


def expected_cost(holdings: FloatArray, order: Order, params: MarketParams, power: bool = False) -> Cost:
    """E of the trajectory ``holdings`` (x_0 = X … x_M = 0) split into its parts; see the module notes."""
    n = trades_of(holdings)
    x0 = float(holdings[0])
    tau = order.tau_days
    return Cost(
        permanent_usd=0.5 * params.gamma * x0 * x0,
        fixed_usd=params.epsilon_usd * float(np.sum(np.abs(n))),
        temporary_usd=temporary_cost_usd(n, tau, params, power),
        drift_usd=order.drift_cost_usd_per_share_day * tau * float(np.sum(holdings[1:])),
    )


def variance_usd2(holdings: FloatArray, order: Order, params: MarketParams) -> float:
    """V = σ²τΣ_{k=1..M} x_k² ($²): Almgren & Chriss (2000), eq. 9."""
    x = holdings[1:]
    return params.sigma_usd**2 * order.tau_days * float(np.sum(x * x))


def schedule_from_holdings(
    strategy: str,
    holdings: FloatArray,
    order: Order,
    params: MarketParams,
    *,
    power: bool = False,
    risk_aversion: float | None = None,
    kappa_per_day: float | None = None,
    info: dict[str, float | int | str] | None = None,
) -> Schedule:
    """A :class:`Schedule` for ``holdings`` in periods of the order's τ, with E and V from the sums."""
    x = np.asarray(holdings, dtype=np.float64)
    return Schedule(
        strategy=strategy,
        model="power" if power else "linear",
        order=order,
        params=params,
        risk_aversion=risk_aversion,
        tau_days=order.tau_days,
        times_days=order.tau_days * np.arange(x.size, dtype=np.float64),
        holdings=x,
        trades=trades_of(x),
        kappa_per_day=kappa_per_day,
        cost=expected_cost(x, order, params, power),
        variance_usd2=variance_usd2(x, order, params),
        info=info or {},
    )


def _power(params: MarketParams) -> PowerLaw:
    if params.power is None:
        raise ScheduleError("the power model needs eta_nl, beta and adv_shares")
    return params.power
