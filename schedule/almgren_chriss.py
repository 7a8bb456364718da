"""The exact discrete Almgren-Chriss (2000) optimal execution trajectory, its closed forms and limits.

Almgren, R. & Chriss, N. (2000), "Optimal execution of portfolio transactions", J. Risk 3(2), 5–39.
With τ = T/N and η̃ = η − γτ/2, the schedule minimising E + λV is

    x_j = X·sinh(κ(T − t_j)) / sinh(κT),   t_j = jτ,      (eq. 18)
    (2/τ²)(cosh κτ − 1) = κ̃² = λσ²/η̃                     (eq. 19)

so κτ = 2·asinh(κ̃τ/2) exactly. The ratio of sinh is evaluated as e^{−κt}·(1 − e^{−2κ(T−t)})/(1 − e^{−2κT}),
which neither overflows for a large κT nor loses digits for a small one; λ = 0 (or σ = 0) is TWAP exactly
and λ = ∞ the minimum-variance limit (everything in the first period).

With a drift α (§4.3 of the paper) the optimum is shifted towards x̄ = −μ/(2λσ²), μ = side·α:

    x_j = X·sinh(κ(T−t_j))/sinh(κT) + x̄·[1 − (sinh(κ(T−t_j)) + sinh(κt_j))/sinh(κT)]

where the bracket is evaluated as (1 − e^{−a})(1 − e^{−b})/(1 + e^{−(a+b)}), a = κ(T−t_j), b = κt_j (the same
quantity, written without cancellation), and at λ = 0 its limit −μ·t_j(T − t_j)/(4η̃) is used.
"""

from __future__ import annotations

import math

import numpy as np

from kappa.errors import ScheduleError
from schedule.costs import schedule_from_holdings
from schedule.records import FloatArray, MarketParams, Order, Schedule


def _check_risk_aversion(risk_aversion: float) -> None:
    if math.isnan(risk_aversion) or risk_aversion < 0:
        raise ScheduleError(
            f"risk aversion λ must be >= 0 (1/$), got {risk_aversion}",
            name="risk_aversion",
            value=risk_aversion,
        )


def kappa_discrete(risk_aversion: float, sigma_usd: float, eta_tilde: float, tau_days: float) -> float:
    """κ (1/day) solving (2/τ²)(cosh κτ − 1) = λσ²/η̃ (Almgren & Chriss 2000, eq. 19).

    Notes
    -----
    Since cosh κτ − 1 = 2 sinh²(κτ/2), the root is κ = (2/τ)·asinh(τ·√(λσ²/η̃)/2), exact and stable for
    every λ ≥ 0; λ = ∞ gives κ = ∞.
    """
    _check_risk_aversion(risk_aversion)
    if eta_tilde <= 0:
        raise ScheduleError(f"η̃ must be positive, got {eta_tilde}", name="eta_tilde", value=eta_tilde)
    if math.isinf(risk_aversion):
        return math.inf if sigma_usd > 0 else 0.0
    kappa_tilde = math.sqrt(risk_aversion * sigma_usd**2 / eta_tilde)
    return 2.0 / tau_days * math.asinh(kappa_tilde * tau_days / 2.0)


def risk_aversion_for_kappa(kappa: float, sigma_usd: float, eta_tilde: float, tau_days: float) -> float:
    """The λ whose exact discrete κ is ``kappa``: λ = η̃·(4/τ²)·sinh²(κτ/2)/σ² (inverse of eq. 19)."""
    if sigma_usd <= 0:
        raise ScheduleError(
            "with σ = 0 every λ gives TWAP; there is no λ for a given κ", name="sigma_usd", value=sigma_usd
        )
    return eta_tilde * (2.0 / tau_days * math.sinh(kappa * tau_days / 2.0)) ** 2 / sigma_usd**2


def kappa_continuous(risk_aversion: float, sigma_usd: float, eta: float) -> float:
    """κ = √(λσ²/η), the continuous-time limit τ → 0 of eq. 19 (Almgren & Chriss 2000, §2.3)."""
    _check_risk_aversion(risk_aversion)
    return math.sqrt(risk_aversion * sigma_usd**2 / eta)


def _sinh_ratio(kappa: float, t: FloatArray, horizon: float) -> FloatArray:
    """sinh(κ(T − t))/sinh(κT) for 0 < κ < ∞ without overflow or cancellation."""
    return (
        np.exp(-kappa * t) * (-np.expm1(-2.0 * kappa * (horizon - t))) / (-math.expm1(-2.0 * kappa * horizon))
    )


def _drift_shape(kappa: float, t: FloatArray, horizon: float) -> FloatArray:
    """1 − (sinh(κ(T−t)) + sinh(κt))/sinh(κT) = 2 sinh(a/2) sinh(b/2)/cosh((a+b)/2), a = κ(T−t), b = κt."""
    a, b = kappa * (horizon - t), kappa * t
    return (-np.expm1(-a)) * (-np.expm1(-b)) / (1.0 + np.exp(-(a + b)))


def optimal_holdings(order: Order, params: MarketParams, risk_aversion: float) -> tuple[float, FloatArray]:
    """κ and the holdings x_0..x_N of the exact discrete optimum (eq. 18, with the drift term of §4.3).

    Returns
    -------
    (float, numpy.ndarray)
        κ (1/day) and x_j (shares still to trade, x_0 = X, x_N = 0).
    """
    _check_risk_aversion(risk_aversion)
    tau, horizon, x0, n = order.tau_days, order.horizon_days, order.shares, order.periods
    eta_tilde = params.eta_tilde(tau)
    kappa = kappa_discrete(risk_aversion, params.sigma_usd, eta_tilde, tau)
    t = tau * np.arange(n + 1, dtype=np.float64)
    mu = order.drift_cost_usd_per_share_day
    nights = order.nights_array
    if nights is not None and params.sigma_overnight_usd > 0 and not math.isinf(kappa):
        return kappa, holdings_with_nights(order, params, risk_aversion, nights)
    if math.isinf(kappa):
        x = np.zeros(n + 1)
    elif kappa == 0.0:  # λσ² = 0: TWAP, bent by the drift (the λ → 0 limit of the drift term)
        x = x0 * (horizon - t) / horizon - mu * t * (horizon - t) / (4.0 * eta_tilde)
    else:
        x = x0 * _sinh_ratio(kappa, t, horizon)
        if mu:
            x_bar = -mu / (2.0 * risk_aversion * params.sigma_usd**2)
            x = x + x_bar * _drift_shape(kappa, t, horizon)
    x[0], x[-1] = x0, 0.0
    return kappa, x


def holdings_with_nights(
    order: Order, params: MarketParams, risk_aversion: float, nights: FloatArray
) -> FloatArray:
    """The exact minimiser of E + λV when periods cross nights: a tridiagonal linear system.

    Parameters
    ----------
    order, params, risk_aversion
        As for :func:`optimal_holdings`; ``params.sigma_overnight_usd`` is σ_night ($/share per night).
    nights
        Shape (N,): c_k, the nights inside period k.

    Returns
    -------
    numpy.ndarray
        Shape (N + 1,): x_0 = X .. x_N = 0.

    Notes
    -----
    With V = Σ_k w_k·x_k², w_k = σ²τ + σ_night²·c_k (:func:`schedule.costs.path_moments`) and the E of
    Almgren & Chriss (2000), eq. 8 (with the drift term of §4.3, μ = side·α), the first-order conditions
    of E + λV in x_1..x_{N−1} are, for a one-way schedule,

        −x_{j−1} + (2 + λw_jτ/η̃)·x_j − x_{j+1} = −μτ²/(2η̃),   x_0 = X, x_N = 0,

    a symmetric positive definite tridiagonal system (E + λV is quadratic: the solution is exact). With
    every c_k = 0 it is eq. 18's recursion, whose solution is X·sinh(κ(T − t_j))/sinh(κT).
    """
    from scipy.linalg import solve_banded

    tau, x0, n = order.tau_days, order.shares, order.periods
    x = np.zeros(n + 1)
    x[0] = x0
    if n == 1:
        return x
    eta_tilde = params.eta_tilde(tau)
    w = params.sigma_usd**2 * tau + params.sigma_overnight_usd**2 * np.asarray(nights[:-1], dtype=np.float64)
    bands = np.zeros((3, n - 1))
    bands[0, 1:] = -1.0
    bands[1] = 2.0 + risk_aversion * w * tau / eta_tilde
    bands[2, :-1] = -1.0
    rhs = np.full(n - 1, -order.drift_cost_usd_per_share_day * tau * tau / (2.0 * eta_tilde))
    rhs[0] += x0
    x[1:-1] = solve_banded((1, 1), bands, rhs)
    return x


def optimal_schedule(order: Order, params: MarketParams, risk_aversion: float) -> Schedule:
    """The exact discrete Almgren-Chriss schedule minimising E + λV, with E and V from the paper's sums.

    With a strong drift the optimum may trade both ways (``info["one_way"]`` is False). The paper's solution
    takes the fixed cost as εX, so such a schedule minimises E + λV without the extra ε·(Σ|n_k| − X) it
    pays; E reports the cost in full.
    """
    kappa, x = optimal_holdings(order, params, risk_aversion)
    one_way = bool(np.all(np.diff(x) <= 1e-12 * order.shares))
    return schedule_from_holdings(
        "optimal", x, order, params, risk_aversion=risk_aversion, kappa_per_day=kappa,
        info={} if one_way else {"one_way": False},
    )  # fmt: skip


def closed_form_expected_cost(order: Order, params: MarketParams, kappa: float) -> float:
    """E of the optimal trajectory without drift in closed form (Almgren & Chriss 2000, eq. 20).

    E = ½γX² + εX + η̃X²·tanh(κτ/2)·(τ sinh 2κT + 2T sinh κτ) / (2τ² sinh² κT); at κ = 0, ½γX² + εX + η̃X²/T.
    It loses digits for κT ≲ 1e-4 and overflows for κT ≳ 350: :func:`optimal_schedule` uses the sums.
    """
    x0, tau, horizon = order.shares, order.tau_days, order.horizon_days
    eta_tilde = params.eta_tilde(tau)
    fixed = 0.5 * params.gamma * x0**2 + params.epsilon_usd * x0
    if kappa == 0:
        return fixed + eta_tilde * x0**2 / horizon
    k = kappa
    num = math.tanh(k * tau / 2) * (tau * math.sinh(2 * k * horizon) + 2 * horizon * math.sinh(k * tau))
    return fixed + eta_tilde * x0**2 * num / (2 * tau**2 * math.sinh(k * horizon) ** 2)


def closed_form_variance(order: Order, params: MarketParams, kappa: float) -> float:
    """V ($²) of the optimal trajectory without drift in closed form (Almgren & Chriss 2000, eq. 21).

    Parameters
    ----------
    order : Order
        X (shares), T (days) and N; τ = T/N.
    params : MarketParams
        σ ($/share/√day).
    kappa : float
        κ (1/day) of the schedule, >= 0 (``math.inf``: everything in the first period, V = 0).

    Returns
    -------
    float
        V = σ²τΣ_{k=1..N−1} x_k² of x_k = X·sinh(κ(T − t_k))/sinh(κT), in $².

    Notes
    -----
    Eq. 21 reads V = ½σ²X²·(τ sinh κT cosh κ(T−τ) − T sinh κτ) / (sinh² κT sinh κτ). Its numerator cancels
    to O((κT)³), so for z = κT < 0.1 the series in z is used (exact in N, error < 1e-15 relative):

        V = σ²X²T·[(1 − 1/N)(1 − 1/(2N))/3 − q·(z²/90 − (3 + 2/N²)z⁴/1890
             + (6 + 5/N² + 3/N⁴)z⁶/28350 − (25 + 23/N² + 17/N⁴ + 10/N⁶)z⁸/935550)],

    q = (1 − 1/N²)(4 − 1/N²); κ = 0 is TWAP, σ²X²T(1 − 1/N)(1 − 1/(2N))/3. Above, eq. 21 is evaluated as
    ½σ²X²·[τ·cosh(z − a)/(sinh z·sinh a) − T/sinh² z] (a = κτ) in negative exponentials, which do not
    overflow for a large κT.
    """
    x0, tau, horizon, n = order.shares, order.tau_days, order.horizon_days, order.periods
    s2 = params.sigma_usd**2
    if math.isinf(kappa) or n == 1:  # nothing held after the first period
        return 0.0
    z = kappa * horizon
    if z < 0.1:
        r = 1.0 / n**2
        q = (1 - r) * (4 - r)
        z2 = z * z
        bend = z2 * (
            1 / 90
            - z2
            * (
                (3 + 2 * r) / 1890
                - z2 * ((6 + (5 + 3 * r) * r) / 28350 - z2 * (25 + (23 + (17 + 10 * r) * r) * r) / 935550)
            )
        )
        return s2 * x0**2 * horizon * ((1 - 1 / n) * (1 - 1 / (2 * n)) / 3 - q * bend)
    a = kappa * tau
    e2z = math.exp(-2 * z)
    cosh_over_sinh = math.exp(-a) * (1 + math.exp(-2 * (z - a))) / -math.expm1(-2 * z)  # cosh(z−a)/sinh z
    inv_sinh2 = 4 * e2z / math.expm1(-2 * z) ** 2  # 1/sinh² z
    inv_sinh_a = 2 * math.exp(-a) / -math.expm1(-2 * a)  # 1/sinh a
    return 0.5 * s2 * x0**2 * (tau * cosh_over_sinh * inv_sinh_a - horizon * inv_sinh2)


def continuous_holdings(
    order: Order, params: MarketParams, risk_aversion: float, t: FloatArray
) -> FloatArray:
    """x(t) = X·sinh(κ(T−t))/sinh(κT) with κ = √(λσ²/η): the continuous-time limit (no drift)."""
    kappa = kappa_continuous(risk_aversion, params.sigma_usd, params.eta)
    t = np.asarray(t, dtype=np.float64)
    if kappa == 0:
        return order.shares * (order.horizon_days - t) / order.horizon_days
    return order.shares * _sinh_ratio(kappa, t, order.horizon_days)


def continuous_cost_variance(order: Order, params: MarketParams, risk_aversion: float) -> tuple[float, float]:
    """E and V of the continuous-time optimum (no drift): the N → ∞ limit of the discrete sums.

    Notes
    -----
    With v(t) = −x'(t): E = ½γX² + εX + η∫v² dt = ½γX² + εX + ηX²κ(sinh 2κT + 2κT)/(4 sinh² κT) and
    V = σ²∫x² dt = σ²X²(sinh 2κT − 2κT)/(4κ sinh² κT); at κ = 0, ηX²/T and σ²X²T/3.
    """
    x0, horizon = order.shares, order.horizon_days
    kappa = kappa_continuous(risk_aversion, params.sigma_usd, params.eta)
    fixed = 0.5 * params.gamma * x0**2 + params.epsilon_usd * x0
    z = kappa * horizon
    if z < 1e-2:  # series: coth z ± z/sinh² z = 2/z + 2z³/45 − …, 2z/3 − 4z³/45 + 12z⁵/945 (error ≲ 1e-12)
        e = fixed + params.eta * x0**2 / horizon * (1 + z**4 / 45)
        v = params.sigma_usd**2 * x0**2 * horizon * (1 / 3 - 2 * z**2 / 45 + 6 * z**4 / 945)
        return e, v
    # sinh 2z/(4 sinh² z) = coth(z)/2 and 2z/(4 sinh² z) = z/(2 sinh² z), in forms that do not overflow
    q, one_minus_q = math.exp(-2 * z), -math.expm1(-2 * z)
    coth = (1 + q) / one_minus_q
    z_over_sinh2 = 4 * z * q / one_minus_q**2
    e = fixed + params.eta * x0**2 * kappa * (coth + z_over_sinh2) / 2
    v = params.sigma_usd**2 * x0**2 * (coth - z_over_sinh2) / (2 * kappa)
    return e, v
