"""The mean-variance optimal schedule under power-law temporary impact, by a banded Newton method.

With h(v) = η_nl·σ·|v/ADV|^β (Almgren, Thum, Hauptmann & Li 2005) the per-period temporary cost of n shares
is A·|n|^{1+β} with A = η_nl·σ/(ADV·τ)^β, and the objective of Almgren & Chriss (2000, §3) becomes

    U(x) = Σ_{k=1..N} [A·|n_k|^{1+β} − ½γn_k²] + Σ_{k=1..N−1} [λσ²τ·x_k² + μτ·x_k]

over the interior holdings x_1..x_{N−1} (x_0 = X, x_N = 0; ½γX² and εX do not depend on the path of a
monotone schedule). Its Hessian is tridiagonal, so each Newton step is one banded Cholesky solve: O(N) per
iteration. Steps are damped (Levenberg) where the Hessian is not positive definite and backtracked (Armijo)
until U falls. At β = 1 U is the quadratic of the linear model with η = η_nl·σ/ADV and the method lands on
the exact discrete solution of :mod:`schedule.almgren_chriss` in one step.
"""

from __future__ import annotations

import math

import numpy as np

from schedule.costs import schedule_from_holdings
from schedule.model import FloatArray, MarketParams, Order, PowerLaw, Schedule, ScheduleError

MAX_ITERATIONS = 200
_SMALLEST_TRADE = 1e-9  # of X: where |n|^(β−1) is evaluated for trades closer to zero (β < 1)


def _objective_parts(
    y: FloatArray, order: Order, params: MarketParams, risk_aversion: float
) -> tuple[float, FloatArray, FloatArray, FloatArray]:
    """U, its gradient, and the Hessian's diagonal and super-diagonal at interior holdings ``y`` (shares)."""
    pw = params.power
    assert pw is not None
    with np.errstate(over="ignore", invalid="ignore"):  # a trial step too far gives inf, and is halved
        return _parts(y, order, params, pw, risk_aversion)


def _parts(
    y: FloatArray, order: Order, params: MarketParams, pw: PowerLaw, risk_aversion: float
) -> tuple[float, FloatArray, FloatArray, FloatArray]:
    tau, beta = order.tau_days, pw.beta
    a = pw.period_cost_coefficient(params.sigma_usd, tau)
    x = np.concatenate(([order.shares], y, [0.0]))
    n = -np.diff(x)
    an = np.abs(n)
    f = a * an ** (1 + beta) - 0.5 * params.gamma * n * n
    f1 = a * (1 + beta) * an**beta * np.sign(n) - params.gamma * n
    f2 = a * (1 + beta) * beta * np.maximum(an, _SMALLEST_TRADE * order.shares) ** (beta - 1) - params.gamma
    risk = risk_aversion * params.sigma_usd**2 * tau
    mu_tau = order.drift_cost_usd_per_share_day * tau
    u = float(np.sum(f) + risk * np.sum(y * y) + mu_tau * np.sum(y))
    grad = -f1[:-1] + f1[1:] + 2 * risk * y + mu_tau
    diag = f2[:-1] + f2[1:] + 2 * risk
    upper = -f2[1:-1]
    return u, grad, diag, upper


def power_law_holdings(
    order: Order, params: MarketParams, risk_aversion: float, tol: float = 1e-12
) -> tuple[FloatArray, int, bool]:
    """Holdings x_0..x_N minimising E + λV under power-law impact; see the module notes.

    Newton runs from TWAP. Unless U is known to be convex (γ = 0, or β = 1 with η̃ > 0) it also runs from
    a front-loaded and a back-loaded start, and the lowest minimum wins: with γ > 0 and β ≠ 1 the
    per-period cost A|n|^{1+β} − ½γn² is not convex everywhere (see :func:`convex_trade_limit`), and for
    β < 1 it even falls without bound for huge trades both ways (the own-trade credit ½γn² outgrows
    A|n|^{1+β}), an artefact of the model far outside execution sizes. So only a schedule that trades in one
    direction (every n_k ≥ 0, as an execution schedule does) is accepted.

    Returns
    -------
    (numpy.ndarray, int, bool)
        The holdings (shares still to trade), Newton iterations used in all, and whether a start ended with
        the Newton decrement below ``tol`` relative to the objective's scale at a point where the Hessian is
        positive definite (a strict local minimum) and every trade goes the order's way.
    """
    if params.power is None:
        raise ScheduleError("the power model needs eta_nl, beta and adv_shares")
    if not (risk_aversion >= 0 and math.isfinite(risk_aversion)):
        raise ScheduleError(
            f"risk aversion λ must be a finite number >= 0 for the power model, got {risk_aversion}"
        )
    n_periods, x0 = order.periods, order.shares
    if n_periods == 1:
        return np.array([x0, 0.0]), 0, True
    t = np.arange(n_periods + 1, dtype=np.float64) / n_periods
    starts = [x0 * (1.0 - t[1:-1])]  # TWAP
    if params.gamma > 0 and params.power.beta != 1:
        starts += [x0 * (1.0 - t[1:-1]) ** 4, x0 * (1.0 - t[1:-1] ** 4)]
    best: tuple[float, FloatArray] | None = None
    total = 0
    for y0 in starts:
        u, y, it, ok = _newton(y0, order, params, risk_aversion, tol)
        total += it
        one_way = bool(np.all(-np.diff(np.concatenate(([x0], y, [0.0]))) >= -1e-9 * x0))
        if ok and one_way and (best is None or u < best[0]):
            best = (u, y)
    if best is None:
        return np.concatenate(([x0], y, [0.0])), total, False
    return np.concatenate(([x0], best[1], [0.0])), total, True


def _newton(
    y: FloatArray, order: Order, params: MarketParams, risk_aversion: float, tol: float
) -> tuple[float, FloatArray, int, bool]:
    """Damped Newton from ``y``: the objective, the point, iterations, and whether it is a strict minimum."""
    assert params.power is not None
    u, g, d, e = _objective_parts(y, order, params, risk_aversion)
    scale = abs(u) + params.power.eta_nl * params.sigma_usd * order.shares
    converged, it = False, 0
    for it in range(1, MAX_ITERATIONS + 1):  # noqa: B007
        step = _newton_step(g, d, e)
        decrement = float(g @ step)
        if decrement <= tol * scale:
            converged = _positive_definite(d, e)
            break
        s = 1.0
        while True:
            u_new, g_new, d_new, e_new = _objective_parts(y - s * step, order, params, risk_aversion)
            if u_new <= u - 1e-4 * s * decrement or s < 1e-12:
                break
            s *= 0.5
        if s < 1e-12:
            converged = decrement <= 1e3 * tol * scale and _positive_definite(d, e)
            break
        y = y - s * step
        u, g, d, e = u_new, g_new, d_new, e_new
    return u, y, it, converged


def _positive_definite(diag: FloatArray, upper: FloatArray) -> bool:
    from scipy.linalg import LinAlgError, cholesky_banded

    ab = np.zeros((2, diag.size))
    ab[0, 1:], ab[1, :] = upper, diag
    try:
        cholesky_banded(ab, lower=False)
    except LinAlgError:
        return False
    return True


def convex_trade_limit(order: Order, params: MarketParams) -> float:
    """The largest trade (shares per period) up to which U is convex in it, for β < 1.

    Per period the cost is f(n) = A·|n|^{1+β} − ½γn², so f''(n) = A(1+β)β|n|^{β−1} − γ ≥ 0 for
    |n| ≤ (A(1+β)β/γ)^{1/(1−β)}: the power-law counterpart of η̃ = η − γτ/2 > 0. Infinite for γ = 0 or β ≥ 1.
    """
    pw = params.power
    if pw is None or params.gamma <= 0 or pw.beta >= 1:
        return math.inf
    a = pw.period_cost_coefficient(params.sigma_usd, order.tau_days)
    return float((a * (1 + pw.beta) * pw.beta / params.gamma) ** (1 / (1 - pw.beta)))


def _newton_step(grad: FloatArray, diag: FloatArray, upper: FloatArray) -> FloatArray:
    """H⁻¹g for the tridiagonal H, adding a Levenberg shift until H is positive definite."""
    from scipy.linalg import LinAlgError, cho_solve_banded, cholesky_banded  # ~0.3 s: only when needed

    shift = 0.0
    floor = 1e-12 * float(np.max(np.abs(diag))) if diag.size else 1.0
    for _ in range(60):
        ab = np.zeros((2, diag.size))
        ab[0, 1:] = upper
        ab[1, :] = diag + shift
        try:
            chol = cholesky_banded(ab, lower=False)
        except LinAlgError:
            shift = max(2 * shift, floor)
            continue
        return np.asarray(cho_solve_banded((chol, False), grad), dtype=np.float64)
    return grad / np.maximum(np.abs(diag), floor)  # a gradient step; the line search keeps it safe


def power_law_schedule(order: Order, params: MarketParams, risk_aversion: float) -> Schedule:
    """The E + λV optimal schedule under power-law temporary impact, with E and V from the same sums."""
    x, iterations, converged = power_law_holdings(order, params, risk_aversion)
    if not converged:
        limit = convex_trade_limit(order, params)
        pw = params.power
        assert pw is not None
        why = (
            f"E + λV is not convex in trades above {limit:,.0f} shares per period "
            f"(A(1+β)β|n|^(β−1) < γ = {params.gamma:.4g}, the power-law counterpart of η̃ ≤ 0)"
            if math.isfinite(limit) and limit < order.shares
            else "no start reached a strict minimum that trades in one direction"
        )
        raise ScheduleError(
            f"no power-law optimum for η_nl = {pw.eta_nl:.4g}, β = {pw.beta:.4g}, ADV = {pw.adv_shares:,.0f}, "
            f"γ = {params.gamma:.4g}, λ = {risk_aversion:g}: {why}; use more periods, check γ against the power "
            "law, or use --model linear"
        )
    return schedule_from_holdings(
        "optimal", x, order, params, power=True, risk_aversion=risk_aversion,
        info={"iterations": iterations, "converged": converged},
    )  # fmt: skip
