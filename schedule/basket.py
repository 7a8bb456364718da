"""The exact discrete Almgren-Chriss optimum of a basket: m names traded over one horizon, with correlated risk
and (optionally) cross impact.

Almgren, R. & Chriss, N. (2000), "Optimal execution of portfolio transactions", J. Risk 3(2), Appendix A
("Multiple-security portfolios"). Holdings are SIGNED: x_{k,i} > 0 is a position still to sell, x_{k,i} < 0
a short still to buy back, so a buy of A against a sale of B is a hedged position when ρ_AB > 0. With
τ = T/N, trades n_k = x_{k−1} − x_k (k = 1..N), x_0 = X, x_N = 0, and symmetric m×m matrices

    C_ij = σ_i σ_j ρ_ij      ($²/share²/day: the covariance of the names' price changes per day)
    H    temporary impact    ($/share per share/day; diagonal η_i unless cross terms are given)
    Γ    permanent impact    ($/share per share;     diagonal γ_i unless cross terms are given)
    H̃  = H − ½τΓ

the expected cost and variance of a trajectory are (Appendix A, the matrix forms of eqs. 8–9)

    E = ½XᵀΓX + Σ_i ε_i Σ_k |n_{k,i}| + (1/τ) Σ_k n_kᵀ H̃ n_k,     V = τ Σ_{k=1..N} x_kᵀ C x_k.

For a schedule that trades each name one way, Σ_k |n_{k,i}| = |X_i| and the first two terms do not depend on
the path. The minimiser of E + λV is then found by the change of variables of Appendix A: y = H̃^{1/2} x turns
(1/τ)Σ n_kᵀH̃n_k into (1/τ)Σ |Δy_k|² and x_kᵀCx_k into y_kᵀ M y_k with M = H̃^{−1/2} C H̃^{−1/2}; in the
eigenbasis M = U diag(μ) Uᵀ (z = Uᵀy) the problem splits into m independent single-name problems with η̃ = 1
and σ² = μ_j, whose exact discrete optimum is eq. 18 with κ_j from eq. 19:

    (2/τ²)(cosh κ_jτ − 1) = λ μ_j,   z_{k,j} = z_{0,j} · sinh(κ_j (T − t_k)) / sinh(κ_j T),

μ_j = 0 (a riskless combination) giving the linear path, and x_k = H̃^{−1/2} U z_k. The result is exact (the
quadratic program's unique minimiser); it is checked against a dense solve of the first-order conditions.

λ = 0 is TWAP in every name; λ = ∞ trades everything in the first period (but for the riskless combinations
of a singular C, which keep the linear path). A name whose optimum trades both ways (a hedge that overshoots)
pays ε on every share it trades: E reports ε Σ|n| in full and the schedule's ``notes`` say so, as the
minimiser assumed ε|X|. The drift and overnight terms of the single-name model are not part of a basket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from kappa.errors import ScheduleError
from kappa.units import SIDE_SIGN
from schedule.almgren_chriss import _sinh_ratio
from schedule.frontier import DEFAULT_POINTS, KAPPA_T_RANGE
from schedule.records import MAX_PERIODS, Cost, FloatArray

SYMMETRY_TOL = 1e-8
"""Relative tolerance of a matrix's symmetry and of ρ's unit diagonal."""
PSD_TOL = 1e-10
"""C's (and Γ's) smallest eigenvalue may be as low as −PSD_TOL · the largest diagonal entry (rounding) and
still count as ≥ 0."""


@dataclass(frozen=True, slots=True, eq=False)
class Basket:
    """What to trade: ``shares[i]`` of ``symbols[i]`` on ``sides[i]``, all over ``horizon_days`` T in
    ``periods`` N equal slices, with the names' market parameters.

    Parameters
    ----------
    symbols, sides
        m distinct names; sides ``buy`` or ``sell``.
    shares
        Shape (m,): |X_i| > 0, the shares of each order.
    horizon_days, periods
        T (trading days) and N; τ = T/N.
    sigma_usd
        Shape (m,): σ_i ≥ 0 ($/share/√day).
    correlation
        Shape (m, m): ρ, symmetric, unit diagonal, |ρ_ij| ≤ 1.
    eta
        Shape (m,) η_i (the diagonal of H) or (m, m) H, symmetric ($/share per share/day).
    gamma
        Shape (m,) γ_i ≥ 0 (the diagonal of Γ) or (m, m) Γ, symmetric ($/share per share).
    epsilon_usd
        Shape (m,): ε_i ≥ 0 ($/share).

    Raises
    ------
    ScheduleError
        Mismatched shapes, a duplicate symbol, a side other than buy/sell, non-positive shares, an asymmetric
        ρ, H or Γ, a ρ without unit diagonal or with |ρ_ij| > 1, a C = diag(σ) ρ diag(σ) or a Γ that is not
        positive semi-definite, or an H̃ = H − ½τΓ that is not positive definite.
    """

    symbols: tuple[str, ...]
    sides: tuple[str, ...]
    shares: FloatArray
    horizon_days: float
    periods: int
    sigma_usd: FloatArray
    correlation: FloatArray
    eta: FloatArray
    gamma: FloatArray
    epsilon_usd: FloatArray

    def __post_init__(self) -> None:
        m = len(self.symbols)
        set_ = object.__setattr__
        set_(self, "symbols", tuple(self.symbols))
        set_(self, "sides", tuple(self.sides))
        if m < 1:
            raise ScheduleError("a basket needs at least one name", name="symbols", value=self.symbols)
        dupes = sorted({s for s in self.symbols if self.symbols.count(s) > 1})
        if dupes:
            raise ScheduleError(f"duplicate symbol(s) in the basket: {', '.join(dupes)}", name="symbols",
                                value=dupes)  # fmt: skip
        if len(self.sides) != m:
            raise ScheduleError(f"{len(self.sides)} sides for {m} symbols", name="sides", value=self.sides)
        bad = [s for s in self.sides if s not in SIDE_SIGN]
        if bad:
            raise ScheduleError(f"side {bad[0]!r} is neither 'buy' nor 'sell'", name="side", value=bad[0])
        for name in ("shares", "sigma_usd", "epsilon_usd"):
            set_(self, name, _vector(getattr(self, name), m, name))
        for name in ("eta", "gamma"):
            v = np.asarray(getattr(self, name), dtype=np.float64)
            set_(self, name, np.diag(_vector(v, m, name)) if v.ndim == 1 else _symmetric(v, m, name))
        set_(
            self, "correlation", _symmetric(np.asarray(self.correlation, dtype=np.float64), m, "correlation")
        )
        if not (math.isfinite(self.horizon_days) and self.horizon_days > 0):
            raise ScheduleError(f"horizon_days must be positive, got {self.horizon_days}", name="horizon_days",
                                value=self.horizon_days)  # fmt: skip
        n = self.periods
        if isinstance(n, bool) or int(n) != n or not 1 <= n <= MAX_PERIODS:
            raise ScheduleError(f"periods must be a whole number from 1 to {MAX_PERIODS:,}, got {n}",
                                name="periods", value=n)  # fmt: skip
        self._check_values()

    def _check_values(self) -> None:
        for name, low in (("shares", 0.0), ("sigma_usd", 0.0), ("epsilon_usd", 0.0)):
            v = getattr(self, name)
            ok = v > low if name == "shares" else v >= low
            if not np.all(ok):
                i = int(np.argmin(ok))
                need = "positive" if name == "shares" else "non-negative"
                raise ScheduleError(f"{name} of {self.symbols[i]} must be {need}, got {v[i]}", name=name,
                                    value=float(v[i]))  # fmt: skip
        if np.any(np.diag(self.gamma) < 0):
            i = int(np.argmin(np.diag(self.gamma)))
            raise ScheduleError(f"γ of {self.symbols[i]} must be non-negative, got {self.gamma[i, i]}",
                                name="gamma", value=float(self.gamma[i, i]))  # fmt: skip
        g_scale = float(np.max(np.diag(self.gamma)))
        low_g = float(np.linalg.eigvalsh(self.gamma)[0]) if g_scale > 0 else float(np.min(self.gamma))
        if low_g < -PSD_TOL * max(g_scale, 0.0):
            raise ScheduleError(
                f"the permanent impact Γ is not positive semi-definite (smallest eigenvalue {low_g:.6g} $/share "
                "per share): trading along that direction would move prices in the trader's favour, so the "
                "model would pay to trade; check the cross impact's γ", name="gamma", value=low_g,
            )  # fmt: skip
        rho = self.correlation
        off = np.abs(np.diag(rho) - 1.0)
        if np.any(off > SYMMETRY_TOL):
            i = int(np.argmax(off))
            raise ScheduleError(f"the correlation of {self.symbols[i]} with itself is {rho[i, i]}, not 1",
                                name="correlation", value=float(rho[i, i]))  # fmt: skip
        if np.any(np.abs(rho) > 1.0 + SYMMETRY_TOL):
            a, b = np.unravel_index(int(np.argmax(np.abs(rho))), rho.shape)
            i, j = int(a), int(b)
            raise ScheduleError(f"|ρ| of {self.symbols[i]} and {self.symbols[j]} is {abs(rho[i, j])} > 1",
                                name="correlation", value=float(rho[i, j]))  # fmt: skip
        c = self.covariance
        scale = float(np.max(np.diag(c))) if c.size else 0.0
        low = float(np.linalg.eigvalsh(c)[0]) if scale > 0 else 0.0
        if low < -PSD_TOL * scale:
            raise ScheduleError(
                f"the covariance C = diag(σ) ρ diag(σ) is not positive semi-definite (smallest eigenvalue "
                f"{low:.6g} $²/share²/day): the correlations are not those of any market; estimate them on one "
                "common window", name="correlation", value=low,
            )  # fmt: skip
        ht = self.eta_tilde
        low_h = float(np.linalg.eigvalsh(ht)[0])
        if not low_h > 0:
            raise ScheduleError(
                f"H̃ = H − ½τΓ is not positive definite (smallest eigenvalue {low_h:.6g}, τ = "
                f"{self.tau_days:.6g} days): the temporary impact must outweigh ½τ × the permanent, cross terms "
                "included; use more periods (a shorter τ) or check η, γ and the cross impact",
                name="eta_tilde", value=low_h,
            )  # fmt: skip

    @property
    def size(self) -> int:
        """m, the number of names."""
        return len(self.symbols)

    @property
    def tau_days(self) -> float:
        """τ = T/N (trading days)."""
        return self.horizon_days / self.periods

    @property
    def direction(self) -> FloatArray:
        """Shape (m,): +1 for a sale (a long to sell down), −1 for a buy (a short to buy back)."""
        return np.array([-SIDE_SIGN[s] for s in self.sides], dtype=np.float64)

    @property
    def initial_holdings(self) -> FloatArray:
        """Shape (m,): X, the signed holdings at t = 0 (shares)."""
        return self.direction * self.shares

    @property
    def covariance(self) -> FloatArray:
        """Shape (m, m): C_ij = σ_i σ_j ρ_ij ($²/share²/day)."""
        return self.sigma_usd[:, None] * self.correlation * self.sigma_usd[None, :]

    @property
    def eta_tilde(self) -> FloatArray:
        """Shape (m, m): H̃ = H − ½τΓ ($/share per share/day; Almgren & Chriss 2000, eq. 17 and App. A)."""
        return self.eta - 0.5 * self.tau_days * self.gamma


def _vector(v: object, m: int, name: str) -> FloatArray:
    a = np.asarray(v, dtype=np.float64)
    if a.shape != (m,):
        raise ScheduleError(f"{name} has shape {a.shape}, expected ({m},)", name=name, value=a.shape)
    if not np.all(np.isfinite(a)):
        raise ScheduleError(f"{name} must be finite, got {a}", name=name, value=a.tolist())
    return a


def _symmetric(a: FloatArray, m: int, name: str) -> FloatArray:
    if a.shape != (m, m):
        raise ScheduleError(f"{name} has shape {a.shape}, expected ({m}, {m})", name=name, value=a.shape)
    if not np.all(np.isfinite(a)):
        raise ScheduleError(f"{name} must be finite", name=name, value=None)
    gap = float(np.max(np.abs(a - a.T)))
    if gap > SYMMETRY_TOL * max(float(np.max(np.abs(a))), 1e-300):
        raise ScheduleError(f"{name} is not symmetric (largest |a_ij − a_ji| = {gap:.3g})", name=name,
                            value=gap)  # fmt: skip
    return 0.5 * (a + a.T)


@dataclass(frozen=True, slots=True, eq=False)
class BasketSchedule:
    """The basket's trajectory with its expected cost and variance.

    ``holdings`` (m, N + 1): x_{k,i} in each order's shares still to trade (|X_i| at k = 0, 0 at k = N,
    falling for a buy and a sale alike); ``trades`` (m, N): n_{k,i} = x_{k−1,i} − x_{k,i} in the order's
    direction; ``signed_holdings`` (m, N + 1): the signed x_k of the model (> 0 to sell, < 0 to buy back).
    ``kappa_per_day`` (m,): κ_j of each mode (1/day, ascending; ``inf`` at λ = ∞), ``mode_mu`` (m,): μ_j, the
    eigenvalues of H̃^{−1/2} C H̃^{−1/2} ($/day²; λμ_j is in 1/day²). ``cost`` is E in parts (drift 0),
    ``variance_usd2`` V.
    """

    basket: Basket
    risk_aversion: float
    times_days: FloatArray
    holdings: FloatArray
    trades: FloatArray
    signed_holdings: FloatArray
    kappa_per_day: FloatArray
    mode_mu: FloatArray
    cost: Cost
    variance_usd2: float
    notes: tuple[str, ...] = field(default=())

    @property
    def expected_cost_usd(self) -> float:
        return self.cost.total_usd

    @property
    def std_usd(self) -> float:
        return math.sqrt(self.variance_usd2)

    def utility_usd(self, risk_aversion: float | None = None) -> float:
        """E + λV at ``risk_aversion`` (default the schedule's λ; 0·V at λ = ∞ counts as 0)."""
        lam = self.risk_aversion if risk_aversion is None else risk_aversion
        return self.expected_cost_usd + (lam * self.variance_usd2 if self.variance_usd2 else 0.0)


def basket_moments(basket: Basket, signed_holdings: FloatArray) -> tuple[Cost, float]:
    """E (in parts) and V of any basket trajectory (Almgren & Chriss 2000, Appendix A).

    Parameters
    ----------
    basket
        The names and their parameters.
    signed_holdings
        Shape (m, N + 1): signed x_k, x_0 = X, x_N = 0.

    Returns
    -------
    (Cost, float)
        ``permanent_usd`` = ½XᵀΓX, ``fixed_usd`` = Σ_i ε_i Σ_k |n_{k,i}|, ``temporary_usd`` =
        (1/τ)Σ_k n_kᵀH̃n_k, ``drift_usd`` = 0; and V = τ Σ_{k=1..N} x_kᵀ C x_k ($²).
    """
    x = np.asarray(signed_holdings, dtype=np.float64)
    n = x[:, :-1] - x[:, 1:]
    x0, tau = x[:, 0], basket.tau_days
    permanent = 0.5 * float(x0 @ basket.gamma @ x0)
    fixed = float(basket.epsilon_usd @ np.sum(np.abs(n), axis=1))
    temporary = float(np.einsum("ik,ij,jk->", n, basket.eta_tilde, n)) / tau
    held = x[:, 1:]
    variance = tau * float(np.einsum("ik,ij,jk->", held, basket.covariance, held))
    return Cost(permanent, fixed, temporary, 0.0), variance


@dataclass(frozen=True, slots=True, eq=False)
class _Modes:
    """H̃^{−1/2} U, the initial mode amplitudes z_0 = Uᵀ H̃^{1/2} X and the eigenvalues μ_j (ascending)."""

    to_holdings: FloatArray
    z0: FloatArray
    mu: FloatArray


def _modes(basket: Basket) -> _Modes:
    h, q = np.linalg.eigh(basket.eta_tilde)
    inv_half = (q / np.sqrt(h)) @ q.T  # H̃^{−1/2}
    half = (q * np.sqrt(h)) @ q.T  # H̃^{1/2}
    m_mat = inv_half @ basket.covariance @ inv_half
    mu, u = np.linalg.eigh(0.5 * (m_mat + m_mat.T))
    mu = np.maximum(mu, 0.0)  # C is PSD (checked): a negative μ is rounding
    return _Modes(inv_half @ u, u.T @ (half @ basket.initial_holdings), mu)


def mode_kappas(basket: Basket, risk_aversion: float) -> FloatArray:
    """κ_j (1/day) of each mode: (2/τ²)(cosh κ_jτ − 1) = λμ_j (eq. 19 with η̃ = 1, σ² = μ_j), ascending."""
    _check_lambda(risk_aversion)
    return _kappas(_modes(basket).mu, risk_aversion, basket.tau_days)


def _kappas(mu: FloatArray, lam: float, tau: float) -> FloatArray:
    if math.isinf(lam):
        return np.where(mu > 0, math.inf, 0.0)
    return 2.0 / tau * np.arcsinh(tau * np.sqrt(lam * mu) / 2.0)


def _check_lambda(lam: float) -> None:
    if math.isnan(lam) or lam < 0:
        raise ScheduleError(f"risk aversion λ must be >= 0 (1/$), got {lam}", name="risk_aversion", value=lam)


def _shape(kappa: float, t: FloatArray, horizon: float) -> FloatArray:
    """sinh(κ(T − t))/sinh(κT) on t (eq. 18): (T − t)/T at κ = 0, 1 then 0 at κ = ∞."""
    if kappa == 0.0:
        s = (horizon - t) / horizon
    elif math.isinf(kappa):
        s = np.zeros_like(t)
    else:
        s = _sinh_ratio(kappa, t, horizon)
    s[0], s[-1] = 1.0, 0.0
    return s


def optimal_basket(basket: Basket, risk_aversion: float) -> BasketSchedule:
    """The exact discrete minimiser of E + λV for the basket (Almgren & Chriss 2000, Appendix A).

    Parameters
    ----------
    basket
        The names, their orders and parameters (:class:`Basket`).
    risk_aversion
        λ ≥ 0 (1/$); ``math.inf`` for the minimum-variance limit.

    Returns
    -------
    BasketSchedule
        Holdings (m, N + 1) and trades (m, N) in the orders' shares, E in parts, V, κ_j per mode and notes.

    Raises
    ------
    ScheduleError
        λ < 0 or NaN.
    """
    _check_lambda(risk_aversion)
    return _solve(basket, _modes(basket), risk_aversion)


def _solve(basket: Basket, modes: _Modes, lam: float) -> BasketSchedule:
    n, horizon, tau = basket.periods, basket.horizon_days, basket.tau_days
    t = tau * np.arange(n + 1, dtype=np.float64)
    kappas = _kappas(modes.mu, lam, tau)
    z = np.stack([modes.z0[j] * _shape(float(k), t, horizon) for j, k in enumerate(kappas)])
    x = modes.to_holdings @ z
    x[:, 0], x[:, -1] = basket.initial_holdings, 0.0
    cost, variance = basket_moments(basket, x)
    held = basket.direction[:, None] * x
    trades = held[:, :-1] - held[:, 1:] + 0.0
    notes = _notes(basket, held, trades, kappas, modes.z0, lam)
    return BasketSchedule(basket, lam, t, held + 0.0, trades, x, kappas, modes.mu, cost, variance, notes)


def _notes(
    basket: Basket, held: FloatArray, trades: FloatArray, kappas: FloatArray, z0: FloatArray, lam: float
) -> tuple[str, ...]:
    """What the plan should say about itself: a name that trades both ways (how much, and how far past its
    target it goes) and λ = ∞ with riskless combinations."""
    notes = []
    for i, sym in enumerate(basket.symbols):
        back = -float(np.min(trades[i]))
        if back > 1e-9 * basket.shares[i]:
            k = int(np.argmin(trades[i])) + 1
            traded = float(np.sum(np.abs(trades[i])))
            past = -float(np.min(held[i]))
            beyond = f", up to {past:,.0f} shares past its target" if past > 1e-9 * basket.shares[i] else ""
            notes.append(
                f"{sym}: the optimum trades both ways ({traded:,.0f} shares in all, {traded / basket.shares[i]:.3g}"
                f" × the order{beyond}; up to {back:,.0f} shares against the {basket.sides[i]} order, in period "
                f"{k}); E counts ε on every share traded, ε·Σ|n|, while the optimum was solved with ε·|X| (each "
                "name one way)"
            )
    if math.isinf(lam) and np.any(kappas == 0) and np.any(np.abs(z0[kappas == 0]) > 0):
        notes.append("λ = ∞: the riskless combinations of the names (C is singular) keep the linear path")
    return tuple(notes)


def basket_risk_aversions(
    basket: Basket, points: int = DEFAULT_POINTS, include: float | None = None
) -> FloatArray:
    """λ = 0 and the λ whose fastest mode's κ_max·T runs geometrically over :data:`KAPPA_T_RANGE`, plus
    ``include`` (sorted): the grid of :func:`schedule.frontier.frontier_risk_aversions`, on the mode with the
    largest μ (λ = (2/τ)² sinh²(κτ/2)/μ_max, eq. 19 inverted). Without risk (μ_max = 0) the grid is [0]."""
    if points < 2:
        raise ScheduleError(f"a frontier needs at least 2 points, got {points}", name="points", value=points)
    mu_max = float(np.max(_modes(basket).mu))
    tau = basket.tau_days
    lams = [0.0]
    if mu_max > 0:
        kts = np.geomspace(*KAPPA_T_RANGE, points - 1)
        lams.extend((2.0 / tau * np.sinh(kts / basket.horizon_days * tau / 2.0)) ** 2 / mu_max)
    if include is not None and math.isfinite(include):
        lams.append(include)
    return np.unique(np.asarray(lams, dtype=np.float64))


def basket_frontier(basket: Basket, risk_aversions: FloatArray) -> list[BasketSchedule]:
    """The optimal basket for each λ of ``risk_aversions`` (the efficient frontier, Almgren & Chriss 2000,
    §3, of the basket's E and V); one eigen-decomposition for all."""
    for lam in risk_aversions:
        _check_lambda(float(lam))
    modes = _modes(basket)
    return [_solve(basket, modes, float(lam)) for lam in risk_aversions]
