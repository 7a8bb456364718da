"""Monte Carlo of a schedule's execution under the Almgren-Chriss (2000) price dynamics.

Almgren, R. & Chriss, N. (2000), "Optimal execution of portfolio transactions", J. Risk 3(2), 5–39. With
s = +1 for a buy and −1 for a sell, trades n_k > 0 in the order's direction (holdings x_k = x_{k−1} − n_k,
x_0 = X, x_N = 0), periods of τ days and ξ_k independent standard normals, each path follows

    S_k = S_{k−1} + σ_k·√τ·ξ_k + s·γ·n_k               (eq. 1, permanent impact g(v) = γv: τ·g(n_k/τ) = γn_k)
    S̃_k = S_{k−1} + s·(ε·sgn(n_k) + η·n_k/τ)            (eq. 2 with h(v) = ε·sgn(v) + ηv, eq. 7)
    IS  = s·(Σ_k n_k·S̃_k − X·S_0)                        (implementation shortfall, positive = cost)

written for both sides so that the trader always pays (DESIGN §4: a buy pushes the price up and pays above
the mid, a sale the reverse). Prices are arithmetic, so IS does not depend on S_0; paths start at S_0 = 0.

The exact identity (a static schedule: the same n_k on every path). Summing the dynamics,
s·(S_{k−1} − S_0) = s·σ√τ·Σ_{j<k} ξ_j + γ·Σ_{j<k} n_j, so

    IS = Σ_k n_k·(ε·sgn(n_k) + η·n_k/τ) + γ·Σ_{j<k} n_j·n_k + s·σ√τ·Σ_j ξ_j·Σ_{k>j} n_k
       = εΣ|n_k| + (η/τ)Σn_k² + ½γ(X² − Σn_k²) + s·σ√τ·Σ_{j=1..N} x_j·ξ_j,

using 2Σ_{j<k} n_j n_k = (Σn_k)² − Σn_k² = X² − Σn_k² and Σ_{k>j} n_k = x_j. The first three terms are
E = ½γX² + εΣ|n_k| + (η̃/τ)Σn_k² with η̃ = η − γτ/2 (eq. 8, :func:`schedule.costs.expected_cost`); the last
is normal with mean 0 and variance V = σ²τΣ_{k=1..N} x_k² (eq. 9, :func:`schedule.costs.variance_usd2`).
So each static strategy's IS is exactly N(E, V): the simulated mean and variance must match the model's E
and V within Monte Carlo error (tested). With σ_k = σ·M from period K + 1 on (a shock), the mean is still E
and the variance τΣσ_k²x_k² (:func:`shocked_variance_usd2`).

Within each period the mid is observed at M sub-steps (``steps_per_period``): the Brownian increment of the
period is the sum of M increments of variance σ_k²τ/M, and the period's permanent impact accrues evenly
over them (the trader trades at the constant rate n_k/τ). The trade itself is priced off S_{k−1} as in
eq. 2: the sub-steps only feed the adaptive strategy's σ estimate. Every strategy draws the same normals
from the same seed (common random numbers: one stream, period by period, shape (paths, M)), so strategies
are compared on the same market paths and a strategy's numbers do not depend on which others are run.

The adaptive strategy starts from the static optimum and applies :func:`schedule.replan.sigma_trigger`'s
rule on every path at the end of each period k = 1..N−1: the realized σ of the mids over a trailing window
of W periods (:func:`schedule.replan.realized_sigma_usd`: √(Σ Δm²/elapsed days)) is compared with the σ
the path's current plan was solved with; outside ``band`` × that σ (:data:`schedule.replan.BAND`) the rest
is re-planned from the path's x_k with σ = the estimate (η, γ, ε, λ unchanged):
x_j = x_k·sinh(κ'(T − t_j))/sinh(κ'(T − t_k)), κ' from eq. 19 with the estimated σ — the closed form of
:func:`schedule.replan.replan`, vectorised over the paths that re-plan (:func:`replan_holdings`, tested
equal to it). A shock at the end of period K is seen at the end of period K + 1 (the first window that
holds it), so the adaptive strategy trades x_{K+1} as planned and re-plans from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kappa.errors import ScheduleError
from schedule.records import FloatArray, Order, Schedule
from schedule.replan import BAND

STRATEGIES = ("optimal", "twap", "vwap", "pov", "adaptive")
"""What can be simulated: the static schedules of :mod:`schedule.requests` and the adaptive optimum."""
DEFAULT_STEPS_PER_PERIOD = 10
QUANTILES = (0.05, 0.5, 0.95)


@dataclass(frozen=True, slots=True)
class Shock:
    """σ × ``sigma_multiplier`` from the end of period ``at_period`` K on (periods K + 1 onwards): the flash
    crash."""

    at_period: int
    sigma_multiplier: float


def check_shock(shock: Shock | None, periods: int) -> None:
    """Refuse a shock outside periods 1..N−1 or with a multiplier that is not a positive number.

    Raises
    ------
    ScheduleError
        K not a whole number in 1..N−1 (named ``shock_at_period``) or M ≤ 0 (``shock_sigma_multiplier``).
    """
    if shock is None:
        return
    k = shock.at_period
    if isinstance(k, bool) or int(k) != k or not 1 <= k <= periods - 1:
        raise ScheduleError(
            f"shock at period K = {k}: K must be a whole number from 1 to N - 1 = {periods - 1}",
            name="shock_at_period", value=k,
        )  # fmt: skip
    m = shock.sigma_multiplier
    if not (math.isfinite(m) and m > 0):
        raise ScheduleError(
            f"shock σ multiplier {m} must be a positive number", name="shock_sigma_multiplier", value=m
        )


def sigma_by_period(sigma_usd: float, periods: int, shock: Shock | None) -> FloatArray:
    """σ_k for k = 1..``periods`` ($/share/√day): σ, times the multiplier after the shock's period."""
    sig = np.full(periods, float(sigma_usd))
    if shock is not None:
        sig[shock.at_period :] *= shock.sigma_multiplier
    return sig


def shocked_variance_usd2(schedule: Schedule, shock: Shock | None) -> float:
    """τΣ_k σ_k²x_k² ($²): the exact variance of a static schedule's IS under the shock (V without one)."""
    x = np.asarray(schedule.holdings[1:], dtype=np.float64)
    sig = sigma_by_period(schedule.params.sigma_usd, x.size, shock)
    return float(schedule.tau_days * np.sum(sig**2 * x**2))


def _check_static(schedule: Schedule) -> None:
    order = schedule.order
    if schedule.model != "linear":
        raise ScheduleError(
            f"the simulation's dynamics are the linear model's; this schedule is {schedule.model}",
            name="model", value=schedule.model,
        )  # fmt: skip
    if order.drift_usd_per_day:
        raise ScheduleError(
            "the simulation has no drift: plan the schedule without one",
            name="drift_usd_per_day", value=order.drift_usd_per_day,
        )  # fmt: skip
    if order.nights_array is not None and schedule.params.sigma_overnight_usd > 0:
        raise ScheduleError(
            "the simulation runs in trading time without nights: plan the schedule with σ_night = 0",
            name="sigma_overnight_usd", value=schedule.params.sigma_overnight_usd,
        )  # fmt: skip


def _check_counts(paths: int, steps_per_period: int, window_periods: int) -> None:
    for name, v, least in (("paths", paths, 2), ("steps_per_period", steps_per_period, 1),
                           ("window_periods", window_periods, 1)):  # fmt: skip
        if isinstance(v, bool) or int(v) != v or v < least:
            raise ScheduleError(f"{name} must be a whole number >= {least}, got {v}", name=name, value=v)


def kappa_for_sigma(
    sigma_usd: FloatArray, risk_aversion: float, eta_tilde: float, tau_days: float
) -> FloatArray:
    """κ (1/day) of eq. 19 for each σ: (2/τ)·asinh(τ·√(λσ²/η̃)/2), as
    :func:`schedule.almgren_chriss.kappa_discrete`, over an array of σ."""
    kt = np.sqrt(risk_aversion * np.asarray(sigma_usd, dtype=np.float64) ** 2 / eta_tilde)
    return 2.0 / tau_days * np.arcsinh(kt * tau_days / 2.0)


def replan_holdings(
    held_shares: FloatArray,
    at_period: int,
    order: Order,
    schedule: Schedule,
    sigma_usd: FloatArray,
) -> FloatArray:
    """The optimum of the rest from x_K for many paths at once, each with its own σ.

    Parameters
    ----------
    held_shares
        Shape (P,): x_K, the shares each path has left at the end of period K (≥ 0).
    at_period
        K, 1 ≤ K < M (M the schedule's periods).
    order
        The order (τ from it).
    schedule
        The optimum being worked: its η, γ (η̃ = η − γτ/2) and λ.
    sigma_usd
        Shape (P,): σ ($/share/√day) each path re-plans with.

    Returns
    -------
    numpy.ndarray
        Shape (P, M − K + 1): x_K..x_M, x_j = x_K·sinh(κ'(T − t_j))/sinh(κ'(T − t_K)) with κ' of eq. 19 at
        the path's σ (Almgren & Chriss 2000, eq. 18 for the remainder; :func:`schedule.replan.replan`),
        evaluated as e^{−κ'u}(1 − e^{−2κ'(H − u)})/(1 − e^{−2κ'H}) with u = t_j − t_K and H = T − t_K;
        κ' = 0 (λσ² = 0) is the straight line x_K·(1 − u/H).
    """
    lam = schedule.risk_aversion
    if lam is None:
        raise ScheduleError("re-planning needs λ: the schedule has none", name="risk_aversion", value=None)
    tau = order.tau_days
    periods = schedule.trades.size
    rest = periods - at_period
    kappa = kappa_for_sigma(sigma_usd, lam, schedule.params.eta_tilde(tau), tau)[:, None]
    u = tau * np.arange(rest + 1, dtype=np.float64)[None, :]
    h = tau * rest
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        curved = np.exp(-kappa * u) * (-np.expm1(-2.0 * kappa * (h - u))) / (-np.expm1(-2.0 * kappa * h))
    ratio = np.where(kappa > 0, curved, 1.0 - u / h)
    x = np.asarray(held_shares, dtype=np.float64)[:, None] * ratio
    x[:, -1] = 0.0
    return x


@dataclass(frozen=True, slots=True)
class Execution:
    """The simulated executions of one strategy.

    ``schedule`` is the static schedule traded (for ``adaptive``: the optimum it starts from),
    ``costs_usd`` the implementation shortfall of each path (shape (P,), $, positive = cost), ``replans``
    how many times each path re-planned (shape (P,); zeros for a static strategy).
    """

    strategy: str
    schedule: Schedule
    costs_usd: FloatArray
    replans: npt.NDArray[np.int64]


def simulate_execution(
    schedule: Schedule,
    paths: int,
    seed: int,
    *,
    adaptive: bool = False,
    shock: Shock | None = None,
    steps_per_period: int = DEFAULT_STEPS_PER_PERIOD,
    window_periods: int = 1,
    band: tuple[float, float] = BAND,
    strategy: str | None = None,
) -> Execution:
    """Simulate ``paths`` executions of ``schedule`` (or, with ``adaptive``, of the re-planning optimum).

    Parameters
    ----------
    schedule
        A linear-model schedule without drift (its holdings x_0..x_M; M may differ from the order's N for
        POV). With ``adaptive``, the optimal schedule (with its λ).
    paths
        P ≥ 2 Monte Carlo paths.
    seed
        Seed of the ``numpy.random.Generator`` (PCG64): the same seed gives the same paths, and the same
        market for every strategy.
    adaptive
        Re-plan each path with its realized σ when it leaves ``band`` (see the module notes).
    shock
        σ × M from the end of period K on, K in 1..N−1 of the order's N.
    steps_per_period
        M sub-steps at which the mid is observed in each period (for the realized σ).
    window_periods
        W: the trailing window of the realized σ, in periods (W·M mid changes; fewer at the start).
    band
        (low, high) × the plan's σ inside which the adaptive strategy keeps its plan.
    strategy
        The name reported (default ``adaptive`` or the schedule's strategy).

    Returns
    -------
    Execution
        Shape (P,) shortfalls ($) and re-plan counts.

    Raises
    ------
    ScheduleError
        P < 2, M < 1, W < 1, a bad shock or band, a power-law schedule, a drift, σ_night > 0, or an adaptive
        run of a schedule without λ.
    """
    _check_static(schedule)
    _check_counts(paths, steps_per_period, window_periods)
    order, p = schedule.order, schedule.params
    check_shock(shock, order.periods)
    low, high = band
    if not 0 < low <= 1 <= high:
        raise ScheduleError(f"band {band} must hold 1 (0 < low <= 1 <= high)", name="band", value=band)
    if adaptive and schedule.risk_aversion is None:
        raise ScheduleError("the adaptive strategy needs λ", name="risk_aversion", value=None)
    s, tau, m = order.side_sign, schedule.tau_days, int(steps_per_period)
    periods = schedule.trades.size
    sig = sigma_by_period(p.sigma_usd, periods, shock) * math.sqrt(tau / m)  # per sub-step
    rng = np.random.default_rng(seed)
    holdings = np.asarray(schedule.holdings, dtype=np.float64)
    x = np.repeat(holdings[None, :], paths, axis=0) if adaptive else holdings
    mid = np.zeros(paths)  # S_{k−1} − S_0
    paid = np.zeros(paths)  # Σ n_k·(S̃_k − S_0)
    squares = np.zeros((window_periods, paths))  # Σ Δm² of each period in the window
    plan_sigma = np.full(paths, p.sigma_usd)
    replans = np.zeros(paths, dtype=np.int64)
    for k in range(1, periods + 1):
        n = x[..., k - 1] - x[..., k]  # (P,) adaptive, a scalar static
        paid += n * (mid + s * (p.epsilon_usd * np.sign(n) + p.eta * n / tau))
        steps = sig[k - 1] * rng.standard_normal((paths, m)) + np.asarray(s * p.gamma * n / m)[..., None]
        mid += steps.sum(axis=1)
        if not adaptive or k == periods:
            continue
        squares[(k - 1) % window_periods] = np.einsum("ij,ij->i", steps, steps)
        realized = np.sqrt(squares.sum(axis=0) / (min(k, window_periods) * tau))
        fire = (realized < low * plan_sigma) | (realized > high * plan_sigma)
        if fire.any():
            idx = np.flatnonzero(fire)
            x[idx, k:] = replan_holdings(x[idx, k], k, order, schedule, realized[idx])
            plan_sigma[idx] = realized[idx]
            replans[idx] += 1
    name = strategy or ("adaptive" if adaptive else schedule.strategy)
    return Execution(name, schedule, s * paid, replans)


@dataclass(frozen=True, slots=True)
class Summary:
    """What a strategy's simulated executions came to, beside the model's E and √V of its schedule ($).

    ``objective_usd`` is the realized E + λV: the mean shortfall + λ × its sample variance.
    ``model_expected_cost_usd`` / ``model_std_usd`` are E and √V of the schedule traded without the shock
    (for ``adaptive``, of the optimum it starts from); ``shocked_std_usd`` the exact √V of a static
    schedule under the shock (``None`` for ``adaptive``). ``replanned_fraction`` is the share of paths that
    re-planned at least once, ``mean_replans`` the mean number of re-plans.
    """

    strategy: str
    paths: int
    model_expected_cost_usd: float
    model_std_usd: float
    shocked_std_usd: float | None
    mean_cost_usd: float
    mean_cost_se_usd: float
    std_cost_usd: float
    objective_usd: float
    cost_q05_usd: float
    cost_q50_usd: float
    cost_q95_usd: float
    replanned_fraction: float
    mean_replans: float


def summarize(execution: Execution, risk_aversion: float, shock: Shock | None = None) -> Summary:
    """Mean (with its standard error std/√P), standard deviation (ddof = 1), E + λV realized and the 5, 50
    and 95 % quantiles of the shortfall, beside the model's E and √V."""
    c = execution.costs_usd
    paths = c.size
    var = float(np.var(c, ddof=1))
    q05, q50, q95 = (float(q) for q in np.quantile(c, QUANTILES))
    s = execution.schedule
    adaptive = execution.strategy == "adaptive"
    return Summary(
        strategy=execution.strategy, paths=paths, model_expected_cost_usd=s.expected_cost_usd,
        model_std_usd=s.std_usd,
        shocked_std_usd=None if adaptive else math.sqrt(shocked_variance_usd2(s, shock)),
        mean_cost_usd=float(np.mean(c)), mean_cost_se_usd=math.sqrt(var / paths), std_cost_usd=math.sqrt(var),
        objective_usd=float(np.mean(c)) + risk_aversion * var, cost_q05_usd=q05, cost_q50_usd=q50,
        cost_q95_usd=q95, replanned_fraction=float(np.mean(execution.replans > 0)),
        mean_replans=float(np.mean(execution.replans)),
    )  # fmt: skip
