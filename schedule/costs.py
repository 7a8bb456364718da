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

from dataclasses import dataclass

import numpy as np

from kappa.errors import ScheduleError
from schedule.records import Cost, FloatArray, MarketParams, Order, PowerLaw, Schedule


@dataclass(frozen=True, slots=True)
class PathMoments:
    """E and V of one or many trajectories, per trajectory (arrays of shape (P,), USD and USD²).

    ``permanent_usd`` = ½γX² (X = Σn_k), ``own_trade_usd`` = −½γΣn_k², ``fixed_usd`` = εΣ|n_k|,
    ``temporary_usd`` = ηΣn_k²/τ_k, ``variance_usd2`` = Σ(σ²τ_k + σ_night²c_k)·h_k²; E is their sum but V.
    """

    permanent_usd: FloatArray
    own_trade_usd: FloatArray
    fixed_usd: FloatArray
    temporary_usd: FloatArray
    variance_usd2: FloatArray

    @property
    def expected_cost_usd(self) -> FloatArray:
        return self.permanent_usd + self.own_trade_usd + self.fixed_usd + self.temporary_usd


def path_moments(
    path: np.ndarray,
    trades: FloatArray,
    tau_days: FloatArray,
    held_shares: FloatArray,
    nights: FloatArray,
    *,
    sigma_usd: FloatArray,
    gamma: FloatArray,
    eta: FloatArray,
    epsilon_usd: FloatArray,
    sigma_overnight_usd: FloatArray,
) -> PathMoments:
    """E and V of linear-impact Almgren-Chriss trajectories with per-period τ_k: the one implementation.

    Parameters
    ----------
    path
        Shape (K,): the trajectory (0..P−1) each period belongs to.
    trades
        Shape (K,): n_k, shares traded in period k (signed as the order: Σn_k = X).
    tau_days
        Shape (K,): τ_k, the period's length in trading days (the interval the trade's rate n_k/τ_k is
        measured over; must be positive).
    held_shares
        Shape (K,): h_k, the shares exposed to the price over period k. For a schedule, x_k (Almgren &
        Chriss 2000: the period's trade is done at the price of its start); for fills stamped at the end
        of their child's interval, x_{k−1}.
    nights
        Shape (K,): c_k, closes followed by a night inside period k (the position h_k is held across them).
    sigma_usd, gamma, eta, epsilon_usd, sigma_overnight_usd
        Shape (P,): σ ($/share/√day), γ ($/share²), η ($·day/share²), ε ($/share), σ_night ($/share per
        night) of each trajectory.

    Returns
    -------
    PathMoments
        Per trajectory, shape (P,).

    Notes
    -----
    Almgren & Chriss (2000), eqs. 8–9 with τ_k per period (written for both sides), plus the overnight
    term:

        E = ½γX² − ½γΣn_k² + εΣ|n_k| + ηΣn_k²/τ_k
        V = Σ_k (σ²τ_k + σ_night²·c_k)·h_k²

    On a uniform grid with h_k = x_k and no nights these are eqs. 8 and 9: E = ½γX² + εΣ|n_k| +
    (η̃/τ)Σn_k², η̃ = η − γτ/2, and V = σ²τΣx_k².
    """
    p = np.asarray(path, dtype=np.int64)
    size = len(np.asarray(gamma))
    n = np.asarray(trades, dtype=np.float64)
    tau = np.asarray(tau_days, dtype=np.float64)
    h = np.asarray(held_shares, dtype=np.float64)
    c = np.asarray(nights, dtype=np.float64)
    sig, gam, et, eps, night = (
        np.asarray(a, dtype=np.float64) for a in (sigma_usd, gamma, eta, epsilon_usd, sigma_overnight_usd)
    )

    def total(values: FloatArray) -> FloatArray:
        return np.bincount(p, weights=values, minlength=size).astype(np.float64)

    x0 = total(n)
    n2 = total(n * n)
    return PathMoments(
        permanent_usd=0.5 * gam * x0 * x0,
        own_trade_usd=-0.5 * gam * n2,
        fixed_usd=eps * total(np.abs(n)),
        temporary_usd=et * total(n * n / tau),
        variance_usd2=sig**2 * total(tau * h * h) + night**2 * total(c * h * h),
    )


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


def _moments(
    holdings: FloatArray, order: Order, params: MarketParams, nights: FloatArray | None
) -> PathMoments:
    """:func:`path_moments` of one schedule on its uniform grid (h_k = x_k)."""
    n = trades_of(holdings)
    one = np.ones(1)
    return path_moments(
        np.zeros(n.size, dtype=np.int64), n, np.full(n.size, order.tau_days), holdings[1:],
        np.zeros(n.size) if nights is None else np.asarray(nights, dtype=np.float64),
        sigma_usd=params.sigma_usd * one, gamma=params.gamma * one, eta=params.eta * one,
        epsilon_usd=params.epsilon_usd * one, sigma_overnight_usd=params.sigma_overnight_usd * one,
    )  # fmt: skip


def expected_cost(holdings: FloatArray, order: Order, params: MarketParams, power: bool = False) -> Cost:
    """E of the trajectory ``holdings`` (x_0 = X … x_M = 0) split into its parts; see the module notes.

    The linear terms are :func:`path_moments`'; under the power law the temporary term is
    Σ n_k·h(n_k/τ) − ½γΣn_k² with h the power law.
    """
    n = trades_of(holdings)
    tau = order.tau_days
    m = _moments(holdings, order, params, None)
    temporary = (
        temporary_cost_usd(n, tau, params, power) if power else float(m.temporary_usd[0] + m.own_trade_usd[0])
    )
    return Cost(
        permanent_usd=float(m.permanent_usd[0]),
        fixed_usd=float(m.fixed_usd[0]),
        temporary_usd=temporary,
        drift_usd=order.drift_cost_usd_per_share_day * tau * float(np.sum(holdings[1:])),
    )


def variance_usd2(
    holdings: FloatArray, order: Order, params: MarketParams, nights: FloatArray | None = None
) -> float:
    """V = Σ_k (σ²τ + σ_night²·c_k)·x_k² ($²): Almgren & Chriss (2000), eq. 9, plus σ_night² for each of
    the ``nights`` c_k (k = 1..M) a period crosses (see :func:`path_moments`)."""
    return float(_moments(holdings, order, params, nights).variance_usd2[0])


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
        variance_usd2=variance_usd2(x, order, params, order.nights_array),
        info=info or {},
    )


def _power(params: MarketParams) -> PowerLaw:
    if params.power is None:
        raise ScheduleError("the power model needs eta_nl, beta and adv_shares", name="power", value=None)
    return params.power
