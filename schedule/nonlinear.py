"""The mean-variance optimal schedule under power-law temporary impact, by a banded Newton method.

With h(v) = η_nl·σ·|v/ADV|^β (Almgren, Thum, Hauptmann & Li 2005) the per-period temporary cost of n shares
is A·|n|^{1+β} with A = η_nl·σ/(ADV·τ)^β, and the objective of Almgren & Chriss (2000, §3) becomes

    U(x) = Σ_{k=1..N} [A·|n_k|^{1+β} − ½γn_k²] + Σ_{k=1..N−1} [λσ²τ·x_k² + μτ·x_k]

over the interior holdings x_1..x_{N−1} (x_0 = X, x_N = 0; ½γX² and εX do not depend on the path of a
monotone schedule). Its Hessian is tridiagonal, so each Newton step is one banded Cholesky solve: O(N) per
iteration. Steps are damped (Levenberg) where the Hessian is not positive definite and backtracked (Armijo)
until U falls. At β = 1 U is the quadratic of the linear model with η = η_nl·σ/ADV and the method lands on
the exact discrete solution of :mod:`schedule.almgren_chriss` in one step.

For β > 1 with γ > 0 the per-period cost is concave for small trades, U may have several minima, and the
least one-way minimum may trade nothing in some periods (a boundary point Newton cannot land on): up to
``GLOBAL_MAX_PERIODS`` periods :func:`global_one_way_holdings` finds it by dynamic programming on a lattice
of holdings, and the lower of its minimum and Newton's is returned.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from kappa.errors import ScheduleError
from schedule.costs import schedule_from_holdings
from schedule.records import FloatArray, MarketParams, Order, PowerLaw, Schedule

MAX_ITERATIONS = 200
GLOBAL_MAX_PERIODS = 100  # the grid search of β > 1 runs up to this many periods (its time grows as N³)
_GRID_CELLS = 4e6  # N·G² of the first lattice: G = max(√(4e6/N), 4N) levels of holdings, at most _GRID_LEVELS
_GRID_LEVELS = 2_000
_BAND = 20  # each refinement searches ±_BAND steps of a 10× finer lattice around the last path
_FINEST = 1e-10  # ... until the lattice step is this fraction of X
_SMALLEST_TRADE = 1e-9  # of X: where |n|^(β−1) is evaluated for trades closer to zero (β < 1)


def _objective_parts(
    y: FloatArray, order: Order, params: MarketParams, risk_aversion: float, held: FloatArray | None = None
) -> tuple[float, FloatArray, FloatArray, FloatArray]:
    """U, its gradient, and the Hessian's diagonal and super-diagonal at interior holdings ``y`` (shares).

    ``held`` (periods each y_j is held; default one each) serves the reduced problem of :func:`_polished`.
    """
    pw = params.power
    assert pw is not None
    with np.errstate(over="ignore", invalid="ignore"):  # a trial step too far gives inf, and is halved
        return _parts(y, order, params, pw, risk_aversion, held)


def _parts(
    y: FloatArray,
    order: Order,
    params: MarketParams,
    pw: PowerLaw,
    risk_aversion: float,
    held: FloatArray | None = None,
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
    if held is None:
        u = float(np.sum(f) + risk * np.sum(y * y) + mu_tau * np.sum(y))
        grad = -f1[:-1] + f1[1:] + 2 * risk * y + mu_tau
        diag = f2[:-1] + f2[1:] + 2 * risk
    else:
        u = float(np.sum(f) + risk * np.sum(held * y * y) + mu_tau * np.sum(held * y))
        grad = -f1[:-1] + f1[1:] + held * (2 * risk * y + mu_tau)
        diag = f2[:-1] + f2[1:] + 2 * risk * held
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
    direction (every n_k ≥ 0, as an execution schedule does) is accepted. For β > 1 with γ > 0 (up to
    ``GLOBAL_MAX_PERIODS`` periods) :func:`global_one_way_holdings` searches every one-way schedule too,
    and its minimum replaces Newton's where it is lower; β ≤ 1 never runs it.

    Returns
    -------
    (numpy.ndarray, int, bool)
        The holdings (shares still to trade), Newton iterations used in all, and whether a start ended with
        the Newton decrement below ``tol`` relative to the objective's scale at a point where the Hessian is
        positive definite (a strict local minimum) and every trade goes the order's way.
    """
    if params.power is None:
        raise ScheduleError("the power model needs eta_nl, beta and adv_shares", name="power", value=None)
    if not (risk_aversion >= 0 and math.isfinite(risk_aversion)):
        raise ScheduleError(
            f"risk aversion λ must be a finite number >= 0 for the power model, got {risk_aversion}",
            name="risk_aversion",
            value=risk_aversion,
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
    if params.gamma > 0 and params.power.beta > 1 and n_periods <= GLOBAL_MAX_PERIODS:
        x, it = global_one_way_holdings(order, params, risk_aversion, tol)
        total += it
        u = _objective_parts(x[1:-1], order, params, risk_aversion)[0]
        scale = params.power.eta_nl * params.sigma_usd * x0
        if best is None or u < best[0] - 1e-12 * (abs(best[0]) + scale):  # a lower minimum than Newton's
            best = (u, x[1:-1])
    if best is None:
        return np.concatenate(([x0], y, [0.0])), total, False
    return np.concatenate(([x0], best[1], [0.0])), total, True


def _newton(
    y: FloatArray,
    order: Order,
    params: MarketParams,
    risk_aversion: float,
    tol: float,
    held: FloatArray | None = None,
) -> tuple[float, FloatArray, int, bool]:
    """Damped Newton from ``y``: the objective, the point, iterations, and whether it is a strict minimum."""
    assert params.power is not None
    u, g, d, e = _objective_parts(y, order, params, risk_aversion, held)
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
            u_new, g_new, d_new, e_new = _objective_parts(y - s * step, order, params, risk_aversion, held)
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


def global_one_way_holdings(
    order: Order, params: MarketParams, risk_aversion: float, tol: float = 1e-12
) -> tuple[FloatArray, int]:
    """The one-way holdings of least U over all schedules, found on a lattice of shares, then polished.

    For β > 1 and γ > 0 the per-period cost f(n) = A·n^{1+β} − ½γn² is concave for trades below
    n* = (γ/(A(1+β)β))^{1/(β−1)} shares and convex above, so U may have several local minima, and its
    least one-way minimum may have periods with no trade (a boundary point, where no Newton start ends on
    a strict interior minimum). U is a sum of terms linking x_{k−1} and x_k only, so it is minimised over
    one-way schedules (X = x_0 ≥ x_1 ≥ … ≥ x_N = 0) by a dynamic programme (Bellman): on a lattice of
    G + 1 levels of holdings, G = min(2000, max(4N, √(4·10⁶/N))), then on lattices ten times finer, each searching
    ±20 steps around the last path (zero trades stay representable: every lattice holds the last one's
    points), down to a step of 1e-10·X. The path's trading periods are then polished by Newton's method
    on the holdings after each trade (each weighted by the periods it is held), kept if U falls and every
    trade keeps its direction.

    Parameters
    ----------
    order, params, risk_aversion
        As for :func:`power_law_holdings` (``params.power`` required; N ≤ ``GLOBAL_MAX_PERIODS``).

    Returns
    -------
    (numpy.ndarray, int)
        Holdings x_0..x_N (shares, shape (N + 1,)) and the Newton iterations of the polish.

    Notes
    -----
    Bellman (1957); the objective is that of the module notes (Almgren & Chriss 2000, §3, with the power
    law of Almgren, Thum, Hauptmann & Li 2005, eq. 4). The first lattice's optimum is global on that
    lattice; the refinements and the polish are local to it.
    """
    pw = params.power
    assert pw is not None
    x0, n = order.shares, order.periods
    a = pw.period_cost_coefficient(params.sigma_usd, order.tau_days)
    risk = risk_aversion * params.sigma_usd**2 * order.tau_days
    mu_tau = order.drift_cost_usd_per_share_day * order.tau_days

    def trade_cost(shares: npt.NDArray[Any]) -> FloatArray:
        return np.asarray(a * shares ** (1 + pw.beta) - 0.5 * params.gamma * shares * shares)

    def holding_cost(shares: npt.NDArray[Any]) -> FloatArray:
        return np.asarray(risk * shares * shares + mu_tau * shares)

    steps = int(min(_GRID_LEVELS, max(4 * n, math.sqrt(_GRID_CELLS / n))))
    every = np.arange(steps + 1, dtype=np.int64)
    table = trade_cost(every * (x0 / steps))
    path = _lattice_path([every] * (n - 1), steps, x0 / steps, lambda d, h: table[d], holding_cost)
    band = np.arange(-_BAND, _BAND + 1, dtype=np.int64)
    while steps * _FINEST < 1:
        steps *= 10
        levels = [np.unique(np.clip(10 * p + band, 0, steps)) for p in path[1:-1]]
        path = _lattice_path(levels, steps, x0 / steps, lambda d, h: trade_cost(d * h), holding_cost)
    x = np.asarray(path * (x0 / steps), dtype=np.float64)
    x[0], x[-1] = x0, 0.0
    return _polished(x, order, params, risk_aversion, tol)


def _lattice_path(
    levels: list[npt.NDArray[np.int64]],
    top: int,
    step: float,
    trade_cost: Callable[[npt.NDArray[np.int64], float], FloatArray],
    holding_cost: Callable[[npt.NDArray[Any]], FloatArray],
) -> npt.NDArray[np.int64]:
    """The one-way path of least Σ f(n_k) + Σ g(x_k) through the allowed lattice points of x_1..x_{N−1}.

    ``levels[k − 1]`` holds the lattice indices allowed for x_k (sorted); x_0 = ``top``, x_N = 0; a point
    is ``step`` shares. Backward induction over the periods, then the path forward (lattice indices).
    """
    states = [np.array([top], dtype=np.int64), *levels, np.array([0], dtype=np.int64)]
    value = np.zeros(1)
    choice: list[npt.NDArray[np.intp]] = []
    for k in range(len(states) - 1, 0, -1):
        d = states[k - 1][:, None] - states[k][None, :]
        ahead = value + (holding_cost(states[k] * step) if k < len(states) - 1 else 0.0)
        total = np.where(d >= 0, trade_cost(np.maximum(d, 0), step), np.inf) + ahead[None, :]
        best = np.argmin(total, axis=1)
        value = total[np.arange(total.shape[0]), best]
        choice.append(best)
    choice.reverse()
    i, path = 0, [top]
    for k, best in enumerate(choice):
        i = int(best[i])
        path.append(int(states[k + 1][i]))
    return np.array(path, dtype=np.int64)


def _polished(
    x: FloatArray, order: Order, params: MarketParams, risk_aversion: float, tol: float
) -> tuple[FloatArray, int]:
    """Newton on the holdings after each trading period of ``x`` (periods without a trade stay so)."""
    active = np.flatnonzero(-np.diff(x) > 0)
    if active.size < 2:
        return x, 0
    held = np.diff(active).astype(np.float64)  # x after the j-th trade is held until the next trade
    u0 = _objective_parts(x[1:-1], order, params, risk_aversion)[0]
    u, y, it, ok = _newton(x[active[:-1] + 1], order, params, risk_aversion, tol, held)
    if not (ok and u < u0 and np.all(-np.diff(np.concatenate(([order.shares], y, [0.0]))) >= 0)):
        return x, it
    out = x.copy()
    for j in range(y.size):
        out[active[j] + 1 : active[j + 1] + 1] = y[j]
    return out, it


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
            + (
                f" (the search of every one-way schedule runs up to {GLOBAL_MAX_PERIODS} periods)"
                if pw.beta > 1 and params.gamma > 0
                else ""
            )
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
