"""Volatility regimes: a two-regime Markov-switching model of daily log returns with switching variance.

Hamilton (1989), with the regime in the variance (Hamilton & Susmel 1994 in its simplest form): the daily
log return × 100 of the closing mid is

    r_t = μ + σ_{s_t} z_t,   z_t ~ N(0, 1),   s_t ∈ {low, high} a Markov chain,
    P(s_t = low | s_{t−1} = low) = p_stay_low,   P(s_t = high | s_{t−1} = high) = p_stay_high,

the chain started in its stationary law, fitted by maximum likelihood on the same returns GARCH(1,1) takes
(:func:`calibration.volatility.garch_sigma`: the GARCH window's closes, × 100). The model and its likelihood
are statsmodels' ``MarkovRegression(r, k_regimes=2, trend="c", switching_trend=False,
switching_variance=True)`` (steady-state initial probabilities); the tests hold this fit to that optimum.

The mean μ is one constant shared by both regimes, as GARCH's constant mean: the regimes are about the
variance, a regime's own mean is poorly identified (its standard error is σ_regime/√(days in it)) and would
let the fit split the days on the mean; and with a common mean tomorrow's variance is exactly the
probability-weighted sum of the regimes' variances (a switching mean would add the spread of the means).

σ in $/share/√day is converted as σ GARCH is: σ_usd = close_T · √σ²_regime / 100, with close_T the last
close of the window (the as-of date's closing mid). Tomorrow's σ:

    p_high(T+1) = p_high(T) · p_stay_high + (1 − p_high(T)) · (1 − p_stay_low),
    σ_usd(T+1) = close_T / 100 · √((1 − p_high(T+1)) σ²_low + p_high(T+1) σ²_high),

with p_high(T) the filtered probability P(s_T = high | r_1..r_T).

The fit: EM, vectorised across symbols
-------------------------------------
The maximum is found by the EM algorithm (Hamilton 1990, "Analysis of time series subject to changes in
regime", J. Econometrics 45; Hamilton 1994, *Time Series Analysis*, ch. 22), every symbol given at once
(:func:`regime_fits`; the calibration passes a batch's symbols): numpy arrays of shape
(T, columns), one column per symbol and starting value, the loop over days only. A column's arithmetic does
not depend on the others' (each column's sums are added in day order, and stops on its own), but the choice
of candidates does: Newton's steps begin once at most :data:`_NEWTON_COLUMNS` columns still run. So a
symbol's fit is the same bit for bit alone or in a batch of up to 64 symbols (256 columns); in a larger batch
its path differs: of the benchmark's first 120 series, fitted alone and in their batch of 250, half end within
10⁻¹¹ of ℓ and 112 within 10⁻⁶, the other 8, on flat likelihoods, within 0.3 % (higher or lower).

- E-step: Hamilton's filter and Kim's (1994) smoother, which give the smoothed probabilities ξ_{t|T} and the
  expected transition counts n_ij = Σ_t P(s_{t−1} = i, s_t = j | r_1..r_T). The day's densities enter through
  their log ratio, each scaled by the larger (none underflows; the log of the larger is added back to the
  likelihood); the smoother is its affine recursion ξ_{t|T} = A_t ξ_{t+1|T} + B_t, whose coefficients come
  from the filter, so the loop over days is the filter's six array operations and the smoother's two.
- M-step, in closed form (an ECM step, Meng & Rubin 1993, for the shared mean): μ given the variances,
  μ = Σ_t r_t Σ_k ξ_{t|T}(k)/σ²_k / Σ_t Σ_k ξ_{t|T}(k)/σ²_k; then σ²_k = Σ_t ξ_{t|T}(k)(r_t − μ)² / Σ_t ξ_{t|T}(k);
  then the stay probabilities, which also set the chain's first-day law π (steady state): with
  a = 1 − p_stay_low and b = 1 − p_stay_high, the expected complete-data log-likelihood in them is
  n_00 ln(1 − a) + (n_01 + ξ_{1|T}(high)) ln a + n_11 ln(1 − b) + (n_10 + ξ_{1|T}(low)) ln b − ln(a + b),
  whose stationarity conditions are, for a given s = a + b, the quadratics a² − a(N s + 1) + A s = 0
  (A = n_01 + ξ_{1|T}(high), N = n_00 + A; likewise b); a few fixed-point steps in s solve them.
- Each step raises the likelihood; a column stops when a plain EM step raises it by less than
  :data:`REGIME_TOL` of its absolute value, or after :data:`REGIME_MAX_ITER` cycles (``not_converged``).
- Acceleration (the EM crawls where the likelihood is flat, as it is when the data hold no regime):
  SQUAREM (Varadhan & Roland 2008) for every column, and for the last few columns still running
  (:data:`_NEWTON_COLUMNS`) Newton's step as well, its Hessian by differences of the exact score (Fisher's
  identity), and the EM point with a stay probability that the EM carries towards 0 or 1 put on that bound
  (where the likelihood rises all the way to it, the EM creeps there a constant share of the way a step);
  a candidate is taken only if its likelihood beats the EM step's, so the climb stays monotone. A cycle's
  candidate points are evaluated in one E-step (their columns side by side). The last few columns' loops
  over days run on Python floats (:data:`_SCALAR_COLUMNS`, same arithmetic, without numpy's per-call cost).
  A start more than :data:`_BEHIND` below the best of its symbol's starts is dropped.
- Starting values (:data:`REGIME_STARTS`): the days split at a quantile of |r − median r| into a calm and a
  volatile set, their variances and given stay probabilities; every start is fitted, the best likelihood is
  kept. Deterministic: a rerun gives the same numbers.
- A regime's variance is kept at least :data:`REGIME_VARIANCE_FLOOR` times the sample's: the likelihood is
  unbounded as a regime's variance goes to 0 on repeated returns.

Why not statsmodels, which this replaced: its fit (a search over random starts, EM, then BFGS with
complex-step derivatives) is a Python-level optimisation per symbol, about 0.1 s each, which made the
regimes the night's largest calibration cost (small night: the GARCH-and-regimes stage 0.54 s → 3.95 s).
``python -m benchmarks.regimes`` (500 daily returns a symbol, CPU seconds of one process, statsmodels fitted
on 20 symbols and scaled, EM in batches of 250; ``benchmarks/README.md`` has the runs; 2026-11-30, the same
loaded machine and hour): 2,000 symbols 443.6 s with statsmodels, 49.4 s with this EM as first written, 21.6
and 22.7 s now (2.2–2.3×); 50 symbols 1.91 s → 0.78 and 0.83 s. What gained: the cycle's points in one
E-step and the bound point (the slowest columns, a regime that never lasts two days, crept for hundreds of
cycles), scratch arrays kept across E-steps (a fresh (days × columns) array costs its page faults, more than
the arithmetic on it), the densities by their log ratio, the smoother's affine form (six array operations a
day fewer) and the starting values' quantiles from one sort. Tried and not kept: a time-parallel E-step
(the filter's days in blocks of 24 run side by side from two starts and mixed after, exact to 5·10⁻¹⁵)
costs 4.6× the loop over days at 1,000 columns and wins only below about 30 columns, where the Python-float
loop already runs, and one algorithm must serve every width for a symbol's fit to be the same alone or in a
batch; and short-run EM (every start a few cycles, then the best alone, Biernacki, Celeux & Govaert 2003) is
2.7× faster again but ends lower for 80–100 of the 2,000 series (by up to 0.4 % of ℓ), so every start is
still fitted to the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from calibration.volatility import daily_percent_returns

REGIME_MIN_RETURNS = 100
"""Fewer daily returns than this and no regime model is fitted (``insufficient_data``). Five parameters
(μ, σ²_low, σ²_high, p_stay_low, p_stay_high), and the volatile regime must be visited for its σ to be
measured: with 100 returns and a volatile regime a quarter of the time, its σ rests on about 25 days
(standard error ≈ σ/√50 ≈ 14 %); the same minimum as GARCH(1,1)'s, so a row with a GARCH fit has a regime
fit."""
REGIME_MIN_SHARE = 0.02
"""A regime holding less than this share of the days (mean smoothed probability) is no regime: the fit has
put a handful of outliers in it (``degenerate``)."""
REGIME_MIN_SIGMA_RATIO = 1.1
"""σ_high / σ_low below this and the two regimes are one (``degenerate``)."""
REGIME_STARTS: tuple[tuple[float, float, float], ...] = (
    (0.50, 0.90, 0.90),
    (0.75, 0.95, 0.85),
    (0.90, 0.98, 0.80),
    (0.75, 0.60, 0.60),
)
"""The starting values of the EM: (quantile of |r − median r| above which a day starts volatile,
p_stay_low, p_stay_high). Every one is fitted and the best likelihood kept."""
REGIME_TOL = 1e-10
"""The EM stops when a step raises the log-likelihood by less than this share of its absolute value."""
REGIME_MAX_ITER = 2_000
"""Cycles (an EM step and an accelerated jump, see :func:`_em_columns`) after which a fit that is still
rising is ``not_converged``."""
REGIME_VARIANCE_FLOOR = 1e-4
"""A regime's variance is at least this share of the sample variance of the symbol's returns."""
_P_CLIP = 1e-12
"""Transition probabilities are kept in [_P_CLIP, 1 − _P_CLIP], so that every day stays possible."""
_PI_STEPS = 4
"""Fixed-point steps of the M-step of the stay probabilities (its coupling term ln(a + b) is O(1) beside
counts O(T): each step gains about three digits)."""
_NEWTON_COLUMNS = 256
"""Once no more than this many columns are still fitted, each cycle also tries Newton's step (its Hessian
costs an E-step five columns wide per column: kept for the slow few, where the E-step's cost is its loop
over days, not its width)."""
_SCALAR_COLUMNS = 32
"""At most this many columns, the E-step's loops over days run on Python floats, column by column."""
_NEWTON_FRACTIONS = (1.0, 0.5, 0.2)
"""The fractions of Newton's step tried (a line search; the best point is taken)."""
_BEHIND = 10.0
"""A start whose log-likelihood is this far below the best of its symbol's starts is dropped: it cannot be
the fit unless it climbs further than that from there (it is recorded as it stands, and not taken)."""
_BOUND_NEAR = 0.2
"""A stay probability the EM steps carry towards a bound and within this of it is tried on the bound (see
:func:`_bound_point`)."""
_CRAWL = 1e-8
"""A column whose EM step raises its log-likelihood by less than this share of it crawls: its stay
probabilities are tried on the bound the EM carries them towards, however far (see :func:`_bound_point`)."""
_REACH_STEP = 4.0
"""SQUAREM's largest step length grows by this factor after a jump at it is taken, and falls back to 1
after a jump is refused (Varadhan & Roland 2008; their R package's ``mstep``)."""


@dataclass(frozen=True, slots=True)
class RegimeFit:
    """The two-regime fit of one symbol's daily returns and its one-day-ahead σ.

    ``sigma_low_usd`` ≤ ``sigma_high_usd`` ($/share/√day, the regimes labelled by their variance),
    ``p_stay_low``, ``p_stay_high`` (the chain's stay probabilities), ``p_high`` (filtered probability of the
    volatile regime on the last day), ``sigma_usd`` (one-day-ahead σ, $/share/√day, NaN unless ``ok``),
    ``loglik`` (of the returns × 100, as ``garch_loglik``), ``nobs`` (returns fitted), ``status`` and
    ``message`` (why it has no σ, empty for ``ok``).
    """

    sigma_low_usd: float
    sigma_high_usd: float
    p_stay_low: float
    p_stay_high: float
    p_high: float
    sigma_usd: float
    loglik: float
    nobs: int
    status: str
    message: str

    @classmethod
    def unfitted(cls, nobs: int, status: str, message: str) -> RegimeFit:
        """A fit that did not happen: every number NaN, with the status and reason."""
        nan = float("nan")
        return cls(nan, nan, nan, nan, nan, nan, nan, nobs, status, message)


def regime_sigma(closes: np.ndarray, min_returns: int = REGIME_MIN_RETURNS) -> RegimeFit:
    """The two-regime fit of one symbol's daily closes: :func:`regime_fits` of ``[closes]``."""
    return regime_fits([closes], min_returns)[0]


def regime_fits(closes: Sequence[np.ndarray], min_returns: int = REGIME_MIN_RETURNS) -> list[RegimeFit]:
    """Fit the two-regime switching-variance model to each symbol's ``closes`` and forecast tomorrow's σ.

    Parameters
    ----------
    closes
        One array per symbol, shape (n,): daily closing mids ($/share), oldest first, split-adjusted;
        non-positive or non-finite values are left out (as :func:`calibration.volatility.garch_sigma` does).
        The symbols are fitted together (see the module docstring); a symbol's fit does not depend on the
        others'.
    min_returns
        Fewer returns than this: ``insufficient_data`` (see :data:`REGIME_MIN_RETURNS`).

    Returns
    -------
    list of RegimeFit
        One per symbol, in order. ``status``:

        - ``ok``;
        - ``insufficient_data``: fewer than ``min_returns`` returns;
        - ``not_converged``: the EM still rose after :data:`REGIME_MAX_ITER` cycles;
        - ``degenerate``: the data do not hold two regimes: a regime has less than
          :data:`REGIME_MIN_SHARE` of the days, σ_high/σ_low < :data:`REGIME_MIN_SIGMA_RATIO`, or the switching
          model does not beat one normal distribution by the Bayesian information criterion,
          2 (ℓ_2 − ℓ_1) ≤ 3 ln n (three more parameters; the likelihood-ratio statistic has no χ² law here,
          the switching parameters being unidentified under one regime, Hansen 1992), or the closes never move;
        - ``failed:NonFiniteLikelihood``: the likelihood was not finite at every start.

        The regime parameters are those of the fit for ``not_converged`` and ``degenerate`` (for a look), but
        ``sigma_usd`` is NaN unless ``ok``; every number is NaN for ``insufficient_data`` and ``failed``.
    """
    prepared = [daily_percent_returns(c) for c in closes]
    fits: list[RegimeFit | None] = [None] * len(prepared)
    todo = []
    for i, (_, r) in enumerate(prepared):
        n = len(r)
        if n < min_returns:
            fits[i] = RegimeFit.unfitted(n, "insufficient_data", f"{n} daily returns < {min_returns}")
        elif not np.ptp(r) > 0:
            fits[i] = RegimeFit.unfitted(n, "degenerate", f"the {n + 1} closes never move")
        else:
            todo.append(i)
    if todo:
        em = _em([prepared[i][1] for i in todo])
        for j, i in enumerate(todo):
            fits[i] = _regime_fit(em, j, prepared[i][0], prepared[i][1])
    return [f for f in fits if f is not None]


@dataclass(frozen=True, slots=True)
class _Em:
    """The EM's result, one entry per symbol (the best start's): parameters (regime 0 the calm one),
    log-likelihood, filtered P(high) on the last day, mean smoothed P(high), whether it converged."""

    mu: np.ndarray
    var_low: np.ndarray
    var_high: np.ndarray
    p_stay_low: np.ndarray
    p_stay_high: np.ndarray
    loglik: np.ndarray
    p_high_last: np.ndarray
    share_high: np.ndarray
    converged: np.ndarray


def _em(returns: Sequence[np.ndarray]) -> _Em:
    """The EM of the module docstring on every series of ``returns`` (each ≥ 2 values, not constant), every
    start of :data:`REGIME_STARTS` a column, the best by log-likelihood kept."""
    s, k = len(returns), len(REGIME_STARTS)
    lengths = np.array([len(r) for r in returns])
    big_t = int(lengths.max())
    valid = np.arange(big_t)[:, None] < lengths[None, :]
    padded = np.full((big_t, s), np.nan)
    for j, x in enumerate(returns):
        padded[: len(x), j] = x  # left-aligned: a shorter series ends early, its tail masked
    zeroed = np.where(valid, padded, 0.0)
    mean = _total(zeroed) / lengths
    var = _total(np.where(valid, (zeroed - mean) ** 2, 0.0)) / lengths
    dev = np.abs(padded - _column_median(np.sort(padded, axis=0), lengths))
    sorted_dev = np.sort(dev, axis=0)
    sq = np.where(valid, (padded - mean) ** 2, 0.0)
    starts = []
    for q, stay_low, stay_high in REGIME_STARTS:
        volatile = dev > _column_quantile(sorted_dev, lengths, q)
        calm = valid & ~volatile
        v_low = _total(sq * calm) / np.maximum(_total(calm.astype(float)), 1)
        v_high = _total(sq * volatile) / np.maximum(_total(volatile.astype(float)), 1)
        starts.append(np.stack([mean, v_low, v_high, np.full(s, stay_low), np.full(s, stay_high)], axis=1))
    # columns (start, symbol), ordered by decreasing length: the days a column has are a prefix of the columns
    order = np.argsort(-np.tile(lengths, k), kind="stable")
    floor = REGIME_VARIANCE_FLOOR * np.tile(var, k)[order]
    theta0 = _projected(np.concatenate(starts)[order], floor)
    r = np.nan_to_num(np.tile(padded, (1, k))[:, order], nan=0.0)
    out = _em_columns(r, np.tile(lengths, k)[order], floor, theta0, np.tile(np.arange(s), k)[order])
    unsorted = np.empty_like(order)
    unsorted[order] = np.arange(order.size)
    theta, ll, f_last, share, conv = (x[unsorted] for x in out)
    ll = ll.reshape(k, s)
    finite = np.isfinite(ll)
    best = np.argmax(np.where(finite, ll, -np.inf), axis=0)  # ties: the first start
    pick = best * s + np.arange(s)
    mu, v0, v1, p00, p11 = theta[pick].T
    f_last, share, conv = f_last[pick], share[pick], conv[pick]
    swap = v0 > v1  # label the calm regime 0
    return _Em(
        mu=mu,
        var_low=np.where(swap, v1, v0),
        var_high=np.where(swap, v0, v1),
        p_stay_low=np.where(swap, p11, p00),
        p_stay_high=np.where(swap, p00, p11),
        loglik=np.where(finite.any(axis=0), ll[best, np.arange(s)], np.nan),
        p_high_last=np.where(swap, 1.0 - f_last, f_last),
        share_high=np.where(swap, 1.0 - share, share),
        converged=conv,
    )


def _column_median(ordered: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The median of each column's first ``lengths`` values of ``ordered`` (each column sorted), rounded as
    ``np.median`` rounds it (the middle value, or the mean of the middle two); ``np.nanmedian`` along the
    columns of a (days, symbols) array takes each column apart, at several times the cost."""
    cols = np.arange(ordered.shape[1])
    low, high = ordered[(lengths - 1) // 2, cols], ordered[lengths // 2, cols]
    return np.where(lengths % 2 == 1, low, (low + high) / 2.0)


def _column_quantile(ordered: np.ndarray, lengths: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` quantile of each column's first ``lengths`` values of ``ordered`` (each column sorted), as
    ``np.quantile``'s default (``method="linear"``, Hyndman & Fan 1996 type 7) computes it, rounding included:
    position (n − 1) q, between the values below and above it, a + (b − a) γ, or b − (b − a)(1 − γ) for
    γ ≥ ½."""
    cols = np.arange(ordered.shape[1])
    position = (lengths - 1) * q
    below = np.floor(position)
    gamma = position - below
    i = below.astype(np.intp)
    a, b = ordered[i, cols], ordered[np.minimum(i + 1, lengths - 1), cols]
    diff = b - a
    return np.where(gamma >= 0.5, b - diff * (1.0 - gamma), a + diff * gamma)


def _total(x: np.ndarray) -> np.ndarray:
    """Column sums of ``x`` (T, C), added in day order whatever C is, so that a symbol's fit does not depend on
    which others share its batch: numpy's ``sum`` over the rows of a C-contiguous array of two columns or more
    adds row after row, but one column's in pairs, where the running sum (``accumulate``) is taken."""
    if x.ndim == 2 and x.shape[1] >= 2 and x.flags.c_contiguous:
        return x.sum(axis=0)
    return np.add.accumulate(x, axis=0)[-1]


def _projected(theta: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Rows (μ, σ²_0, σ²_1, p_00, p_11) with each variance at least its ``floor`` and the stay probabilities
    in [_P_CLIP, 1 − _P_CLIP]: where a SQUAREM jump may leave the parameter space, it is brought back."""
    v = np.maximum(theta[:, 1:3], floor[:, None])
    p = np.clip(theta[:, 3:], _P_CLIP, 1.0 - _P_CLIP)
    return np.column_stack([theta[:, 0], v, p])


def _em_columns(
    r: np.ndarray, lengths: np.ndarray, floor: np.ndarray, theta: np.ndarray, symbol: np.ndarray
) -> tuple[np.ndarray, ...]:
    """EM, accelerated by SQUAREM, on every column of ``r`` (T, C) from ``theta`` (C, 5) (μ, σ²_0, σ²_1,
    p_00, p_11); columns ordered by decreasing length, the days past a column's end ignored.

    SQUAREM (Varadhan & Roland 2008, scheme S3): from θ_0, two EM steps θ_1 = F(θ_0), θ_2 = F(θ_1); with
    ρ = θ_1 − θ_0, v = θ_2 − 2θ_1 + θ_0 and α = −‖ρ‖/‖v‖ (at most −1), the point θ_0 − 2αρ + α²v is taken
    (|α| at most a reach that grows by :data:`_REACH_STEP` while jumps are taken and falls back to 1 when
    one is refused) if its likelihood is at least θ_1's, otherwise θ_2 (an EM step, which never lowers it):
    the likelihood rises at every cycle, as the EM's. Once no more than :data:`_NEWTON_COLUMNS` columns run,
    Newton's steps (:func:`_newton`) and the bound point (:func:`_bound_point`) are candidates beside the
    jump, the best taken. A column stops when the plain EM step θ_0 → θ_1 raises its log-likelihood by less
    than :data:`REGIME_TOL` of its absolute value (θ_0 is then its fit), or after :data:`REGIME_MAX_ITER`
    cycles. A stopped column leaves the arrays. The points of a cycle are evaluated together, one E-step for
    all (each column's numbers do not depend on the others beside it).

    Returns each column's θ, log-likelihood, filtered P(s = 1) on its last day, mean smoothed P(s = 1), and
    whether it converged.
    """
    c = r.shape[1]
    out_theta = np.full((c, 5), np.nan)
    out = [np.full(c, np.nan) for _ in range(3)]
    out_conv = np.zeros(c, dtype=bool)
    alive = np.arange(c)
    reach = np.ones(c)  # the largest step length |α| a column may take
    every_symbol = symbol
    work = _Work()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        e0 = _e_step(r, lengths, theta, work)
        for it in range(REGIME_MAX_ITER + 1):
            theta1 = _m_step(r, floor, theta, e0, work)
            e1 = _e_step(r, lengths, theta1, work)
            ll0, ll1 = e0[0], e1[0]
            crawl = ll1 - ll0 < _CRAWL * np.abs(ll0)
            best = np.full(int(every_symbol.max()) + 1, -np.inf)
            np.maximum.at(best, symbol, np.where(np.isfinite(ll1), ll1, -np.inf))
            np.maximum.at(best, every_symbol, np.where(np.isfinite(out[0]), out[0], -np.inf))
            behind = ll1 < best[symbol] - _BEHIND
            done = (
                ~np.isfinite(ll0) | (ll1 - ll0 <= REGIME_TOL * np.abs(ll0)) | (it == REGIME_MAX_ITER) | behind
            )
            if done.any():
                idx = alive[done]
                out_theta[idx] = theta[done]
                for slot in range(3):
                    out[slot][idx] = e0[slot][done]
                out_conv[idx] = np.isfinite(ll0[done]) & (it < REGIME_MAX_ITER)
                keep = ~done
                if not keep.any():
                    break
                alive, r, lengths, floor = alive[keep], r[:, keep], lengths[keep], floor[keep]
                reach, symbol, crawl = reach[keep], symbol[keep], crawl[keep]
                theta, theta1 = theta[keep], theta1[keep]
                e1 = tuple(x[..., keep] for x in e1)
            theta2 = _m_step(r, floor, theta1, e1, work)
            rho = theta1 - theta
            v = theta2 - 2.0 * theta1 + theta
            alpha = np.sqrt((rho * rho).sum(axis=1) / (v * v).sum(axis=1))
            alpha = np.clip(np.where(np.isfinite(alpha), alpha, 1.0), 1.0, reach)
            jump = _projected(theta + (2.0 * alpha)[:, None] * rho + (alpha * alpha)[:, None] * v, floor)
            if theta.shape[0] <= _NEWTON_COLUMNS:  # the slow few: Newton's steps and the bound point too
                shifted, h = _newton_points(theta1)
                ej, e2, *es = _e_steps(r, lengths, [jump, theta2, *shifted], work)
                candidates = [
                    *_newton(r, floor, theta1, e1, shifted, h, es),
                    _bound_point(theta, theta1, theta2, crawl),
                ]
                for point, en in zip(candidates, _e_steps(r, lengths, candidates, work), strict=True):
                    better = np.isfinite(en[0]) & ~(en[0] <= ej[0])
                    jump = np.where(better[:, None], point, jump)
                    ej = tuple(np.where(better, a, b) for a, b in zip(en, ej, strict=True))
            else:
                ej, e2 = _e_step(r, lengths, jump, work), None
            take = np.isfinite(ej[0]) & (ej[0] >= e1[0])
            reach = np.where(take, np.where(alpha >= reach, reach * _REACH_STEP, reach), 1.0)
            if take.all():
                theta, e0 = jump, ej
            else:
                theta = np.where(take[:, None], jump, theta2)
                if e2 is None:  # the EM step's E-step, for the columns whose jump is refused
                    refused = np.flatnonzero(~take)
                    e2 = _e_step(r[:, refused], lengths[refused], theta2[refused], work)
                    for x, y in zip(ej, e2, strict=True):  # the jump's arrays are this cycle's own
                        x[..., refused] = y
                    e0 = ej
                else:
                    e0 = tuple(np.where(take, a, b) for a, b in zip(ej, e2, strict=True))
    return out_theta, *out, out_conv


def _e_steps(
    r: np.ndarray, lengths: np.ndarray, points: list[np.ndarray], work: _Work
) -> list[tuple[np.ndarray, ...]]:
    """:func:`_e_step` at each of ``points`` (each (C, 5), a point per column of ``r``) in one call: the
    columns repeated side by side (so still by decreasing length), then split back."""
    m = len(points)
    both = _e_step(
        np.repeat(r, m, axis=1), np.repeat(lengths, m), np.stack(points, axis=1).reshape(-1, 5), work
    )
    return [tuple(np.ascontiguousarray(x[..., j::m]) for x in both) for j in range(m)]


def _bound_point(theta: np.ndarray, theta1: np.ndarray, theta2: np.ndarray, crawl: np.ndarray) -> np.ndarray:
    """The EM point ``theta2`` with each stay probability that the EM steps θ → θ_1 → θ_2 carry towards a bound
    (closer at each step, and within :data:`_BOUND_NEAR` of it or, where ``crawl``, anywhere) put on that bound
    (:data:`_P_CLIP` or 1 − :data:`_P_CLIP`). Where the likelihood rises all the way to a bound (a regime that
    never lasts a second day, or never ends) the EM creeps there, a constant share of the way a step, or crawls
    along a flat ridge towards it; this point is a candidate, taken only where its likelihood is the best."""
    p0, p1, p2 = theta[:, 3:], theta1[:, 3:], theta2[:, 3:]
    far = crawl[:, None]
    down = (p2 < p1) & (p1 < p0) & ((p2 < _BOUND_NEAR) | far)
    up = (p2 > p1) & (p1 > p0) & ((p2 > 1.0 - _BOUND_NEAR) | far)
    point = theta2.copy()
    point[:, 3:] = np.where(down, _P_CLIP, np.where(up, 1.0 - _P_CLIP, p2))
    return point


def _score(r: np.ndarray, params: np.ndarray, e: tuple[np.ndarray, ...]) -> np.ndarray:
    """The gradient of the log-likelihood at ``params`` (C, 5), from the E-step ``e`` there (Fisher's
    identity: the observed score is the expected complete-data score, Louis 1982), shape (C, 5):

        ∂ℓ/∂μ = Σ_t Σ_k ξ_{t|T}(k) (r_t − μ)/σ²_k,   ∂ℓ/∂σ²_k = Σ_t ξ_{t|T}(k) ((r_t − μ)²/σ²_k − 1) / (2σ²_k),
        ∂ℓ/∂p_00 = n_00/p_00 − (n_01 + ξ_{1|T}(1))/a + 1/(a + b),   likewise p_11 (a = 1 − p_00, b = 1 − p_11).
    """
    mu, v0, v1, p00, p11 = params.T
    smooth, n00, n01, n10, n11, first, valid = e[3:]
    w0, w1 = valid - smooth, smooth
    z = r - mu
    z2 = z * z
    a, b = 1.0 - p00, 1.0 - p11
    return np.column_stack(
        [
            _total((w0 / v0 + w1 / v1) * z),
            _total(w0 * (z2 / v0 - 1.0)) / (2.0 * v0),
            _total(w1 * (z2 / v1 - 1.0)) / (2.0 * v1),
            n00 / p00 - (n01 + first) / a + 1.0 / (a + b),
            n11 / p11 - (n10 + (1.0 - first)) / b + 1.0 / (a + b),
        ]
    )


def _newton_points(theta: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The five points at which :func:`_newton` takes the score, θ shifted by h along each coordinate (a
    stay probability within h of 1 shifted down), and h (C, 5)."""
    c = theta.shape[0]
    h = 1e-6 * np.column_stack(
        [np.sqrt(np.maximum(theta[:, 1], theta[:, 2])), theta[:, 1], theta[:, 2], np.ones(c), np.ones(c)]
    )
    h[:, 3:] = np.where(theta[:, 3:] + h[:, 3:] > 1.0 - _P_CLIP, -h[:, 3:], h[:, 3:])
    shifted = []
    for i in range(5):
        point = theta.copy()
        point[:, i] += h[:, i]
        shifted.append(point)
    return shifted, h


def _newton(
    r: np.ndarray,
    floor: np.ndarray,
    theta: np.ndarray,
    e: tuple[np.ndarray, ...],
    shifted: list[np.ndarray],
    h: np.ndarray,
    es: list[tuple[np.ndarray, ...]],
) -> list[np.ndarray]:
    """Newton's step from ``theta`` (its E-step ``e``) times each of :data:`_NEWTON_FRACTIONS`, projected;
    the Hessian H by forward differences of the score (:func:`_score`) at the five points of
    :func:`_newton_points` (``shifted`` by ``h``, their E-steps ``es``). The step is |H|⁻¹ ∇ℓ, |H| with the
    absolute values of H's eigenvalues (Newton's step where H is negative definite, an ascent direction
    where it is not: Dauphin et al. 2014); a stay probability on its bound whose score points beyond it is
    held there. Where the step is not finite, ``theta`` itself (no step)."""
    g = _score(r, theta, e)
    gs = np.stack([_score(r, p, ep) for p, ep in zip(shifted, es, strict=True)], axis=1)  # [column, shift, ∂]
    hess = (gs - g[:, None, :]) / h[:, :, None]
    hess = 0.5 * (hess + hess.transpose(0, 2, 1))
    ok = np.all(np.isfinite(hess), axis=(1, 2)) & np.all(np.isfinite(g), axis=1)
    hess[~ok] = -np.eye(5)
    # a stay probability on its bound with the likelihood rising beyond it stays there: out of the system
    c = theta.shape[0]
    held = np.zeros((c, 5), dtype=bool)
    held[:, 3:] = ((theta[:, 3:] <= 2 * _P_CLIP) & (g[:, 3:] < 0)) | (
        (theta[:, 3:] >= 1 - 2 * _P_CLIP) & (g[:, 3:] > 0)
    )
    g = np.where(held, 0.0, g)
    both = held[:, :, None] | held[:, None, :]
    hess = np.where(both, np.where(np.eye(5, dtype=bool)[None], -1.0, 0.0), hess)
    lam, vec = np.linalg.eigh(hess)
    size = np.maximum(np.abs(lam), 1e-12 * np.abs(lam).max(axis=1, keepdims=True))
    step = np.einsum("cij,cj->ci", vec, np.einsum("cji,cj->ci", vec, g) / size)
    step = np.where(ok[:, None] & np.isfinite(step), step, 0.0)
    return [_projected(theta + f * step, floor) for f in _NEWTON_FRACTIONS]


class _Work:
    """Scratch arrays of one fit, kept from E-step to E-step: a fresh array of (days, columns) costs the page
    faults of its memory, more than the arithmetic on it (at 500 days × 1,000 columns about 2.5 ms an array
    against 0.3 ms for a subtraction into a kept one)."""

    def __init__(self) -> None:
        self._flat: dict[str, np.ndarray] = {}

    def __call__(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        """The scratch array ``name`` with ``shape`` (C-contiguous, contents undefined)."""
        size = shape[0] * shape[1]
        flat = self._flat.get(name)
        if flat is None or flat.size < size:
            flat = self._flat[name] = np.empty(size)
        return flat[:size].reshape(shape)


def _past_end(x: np.ndarray, k: np.ndarray, short: np.ndarray, value: float) -> None:
    """Set ``x`` (T, C) to ``value`` on the days past each column's end (day t has the first ``k[t]`` columns;
    ``short`` the days some column lacks)."""
    for t in short.tolist():
        x[t, k[t] :] = value


def _e_step(
    r: np.ndarray, lengths: np.ndarray, params: np.ndarray, work: _Work | None = None
) -> tuple[np.ndarray, ...]:
    """Hamilton's filter and Kim's smoother, every column at once (columns by decreasing length).

    ``params`` (C, 5): μ, σ²_0, σ²_1, p_00, p_11. Returns (log-likelihood (C,), filtered P(s = 1) on each
    column's last day, mean smoothed P(s = 1), smoothed P(s_t = 1) (T, C) (0 past a column's end), the
    expected transition counts n_00, n_01, n_10, n_11, ξ_{1|T}(1) and the days each column has (T, C)).

    The day's densities enter through their log ratio x_t = ln f_1(r_t) − ln f_0(r_t), each scaled by the
    larger (d_0 = exp(−max(x, 0)), d_1 = exp(min(x, 0)): none underflows), so that the day's log density is
    ln f_0(r_t) + max(x_t, 0) + ln(d_0 (1 − p) + d_1 p), p = P(s_t = 1 | r_1..r_{t−1}); summed over the days,
    ℓ = −½ (n ln 2πσ²_0 + Σ_t (r_t − μ)²/σ²_0) + Σ_t max(x_t, 0) + Σ_t ln(the scaled density). Past a
    column's end every (T, C) array holds 0 (the scaled density 1), so that a column's sums are those of its
    own days, whatever other columns share the arrays. The scratch arrays come from ``work`` (a fresh one if
    None); the returned arrays are the caller's.
    """
    work = _Work() if work is None else work
    big_t, c = r.shape
    mu, v0, v1, p00, p11 = params.T
    k = np.searchsorted(-lengths, -np.arange(big_t), side="left")  # columns with day t: the first k[t]
    short = np.flatnonzero(k < c)  # days some column does not have
    z = np.subtract(r, mu, out=work("z", r.shape))
    np.multiply(z, z, out=z)
    x = np.multiply(z, 0.5 / v0 - 0.5 / v1, out=work("x", r.shape))
    x -= 0.5 * np.log(v1 / v0)  # ln f_1 − ln f_0
    _past_end(z, k, short, 0.0)
    _past_end(x, k, short, 0.0)
    xp = np.maximum(x, 0.0, out=work("xp", r.shape))
    d1 = np.subtract(x, xp, out=x)
    np.exp(d1, out=d1)
    d0 = np.negative(xp, out=work("d0", r.shape))
    np.exp(d0, out=d0)
    dd = np.subtract(d1, d0, out=work("dd", r.shape))
    a = 1.0 - p00  # P(calm → volatile)
    slope = p11 - a
    pred = work("pred", (big_t + 1, c))  # P(s_t = 1 | r_1..r_{t−1})
    filt = work("filt", (big_t, c))  # P(s_t = 1 | r_1..r_t)
    scale = work("scale", (big_t, c))  # the day's scaled density given the past
    _past_end(filt, k, short, 0.0)
    _past_end(scale, k, short, 1.0)
    tmp = np.empty(c)
    pred[0] = a / (a + 1.0 - p11)  # the stationary law's P(s_1 = 1)
    if c <= _SCALAR_COLUMNS:  # a few columns: Python floats beat numpy's per-call cost (same IEEE operations)
        _forward_scalar(d0, d1, dd, a, slope, lengths, pred, filt, scale)
    else:
        for t in range(big_t):
            n = k[t]
            p, f, sc, w = pred[t, :n], filt[t, :n], scale[t, :n], tmp[:n]
            np.multiply(p, dd[t, :n], out=w)
            np.add(d0[t, :n], w, out=sc)
            np.multiply(p, d1[t, :n], out=w)
            np.divide(w, sc, out=f)
            np.multiply(f, slope[:n], out=w)
            np.add(a[:n], w, out=pred[t + 1, :n])
    np.log(scale, out=scale)
    loglik = _total(scale) + _total(xp) - 0.5 * (lengths * np.log(2 * np.pi * v0) + _total(z) / v0)
    cols = np.arange(c)
    last = lengths - 1
    # Kim's smoother, ξ_{t|T}(1) = f_t (p_11 ξ_{t+1|T}(1)/p_{t+1} + (1 − p_11)(1 − ξ_{t+1|T}(1))/(1 − p_{t+1})),
    # is affine in ξ_{t+1|T}(1): ξ_t = A_t ξ_{t+1} + B_t, both coefficients from the filter (row t: day t, t + 1)
    k1, short1 = k[1:], np.flatnonzero(k[1:] < c)  # columns with day t + 1
    p_next, f_prev = pred[1:big_t], filt[:-1]
    stay = np.divide(f_prev, p_next, out=work("stay", (big_t - 1, c)))  # f_t p_11 / p_{t+1}
    stay *= p11
    leave = np.subtract(1.0, p_next, out=work("leave", (big_t - 1, c)))  # f_t (1 − p_11) / (1 − p_{t+1})
    np.divide(f_prev, leave, out=leave)
    leave *= 1.0 - p11
    slope_s = np.subtract(stay, leave, out=work("slope_s", (big_t - 1, c)))
    smooth = np.empty((big_t, c))
    _past_end(smooth, k, short, 0.0)
    smooth[last, cols] = filt[last, cols]  # the last day: smoothed = filtered
    if c <= _SCALAR_COLUMNS:
        _backward_scalar(slope_s, leave, lengths, smooth)
    else:
        for t in range(big_t - 2, -1, -1):
            n = k[t + 1]
            w = tmp[:n]
            np.multiply(slope_s[t, :n], smooth[t + 1, :n], out=w)
            np.add(w, leave[t, :n], out=smooth[t, :n])
    # expected transition counts: n_11 = Σ_t f_t p_11 ξ_{t+1}(1)/p_{t+1},
    # n_10 = Σ_t f_t (1 − p_11) ξ_{t+1}(0)/(1 − p_{t+1}), n_01 and n_00 likewise with 1 − f_t;
    # past a column's last day the ratios are 0, so the products vanish
    s_next = smooth[1:]
    q1 = np.divide(s_next, p_next, out=work("q1", (big_t - 1, c)))  # ξ_{t+1|T}(1) / p_{t+1}
    q0 = np.subtract(1.0, s_next, out=work("q0", (big_t - 1, c)))
    np.divide(q0, np.subtract(1.0, p_next, out=slope_s), out=q0)  # ξ_{t+1|T}(0) / (1 − p_{t+1})
    _past_end(q1, k1, short1, 0.0)
    _past_end(q0, k1, short1, 0.0)
    g_prev = np.subtract(1.0, f_prev, out=d0[:-1])
    prod = np.multiply(f_prev, q1, out=dd[:-1])
    n11 = _total(prod) * p11
    n10 = _total(np.multiply(f_prev, q0, out=prod)) * (1.0 - p11)
    n00 = _total(np.multiply(g_prev, q0, out=prod)) * p00
    n01 = _total(np.multiply(g_prev, q1, out=prod)) * a
    share = _total(smooth) / lengths
    valid = np.arange(big_t)[:, None] < lengths[None, :]
    return loglik, filt[last, cols], share, smooth, n00, n01, n10, n11, smooth[0], valid


def _forward_scalar(
    d0: np.ndarray, d1: np.ndarray, dd: np.ndarray, a: np.ndarray, slope: np.ndarray, lengths: np.ndarray,
    pred: np.ndarray, filt: np.ndarray, scale: np.ndarray,
) -> None:  # fmt: skip
    """Hamilton's filter of :func:`_e_step`, column by column on Python floats: the same operations in the
    same order (IEEE arithmetic rounds each alike), so the same numbers, for a few columns faster."""
    for j, n in enumerate(lengths.tolist()):
        x0, x1, xd = d0[:n, j].tolist(), d1[:n, j].tolist(), dd[:n, j].tolist()
        aj, sj = float(a[j]), float(slope[j])
        p = float(pred[0, j])
        ps, fs, scs = [p], [], []
        for t in range(n):
            sc = x0[t] + p * xd[t]
            f = (p * x1[t]) / sc
            p = aj + f * sj
            scs.append(sc)
            fs.append(f)
            ps.append(p)
        pred[: n + 1, j], filt[:n, j], scale[:n, j] = ps, fs, scs


def _backward_scalar(slope: np.ndarray, level: np.ndarray, lengths: np.ndarray, smooth: np.ndarray) -> None:
    """Kim's smoother of :func:`_e_step`, ξ_t = A_t ξ_{t+1} + B_t (``slope``, ``level``), column by column on
    Python floats (see :func:`_forward_scalar`)."""
    for j, n in enumerate(lengths.tolist()):
        sa, sb = slope[: n - 1, j].tolist(), level[: n - 1, j].tolist()
        sm = [0.0] * n
        s = sm[n - 1] = float(smooth[n - 1, j])
        for t in range(n - 2, -1, -1):
            s = sm[t] = sa[t] * s + sb[t]
        smooth[:n, j] = sm


def _m_step(
    r: np.ndarray, floor: np.ndarray, params: np.ndarray, e: tuple[np.ndarray, ...], work: _Work | None = None
) -> np.ndarray:
    """The closed-form M-step of the module docstring (μ given the variances of ``params``, then σ²_0 and σ²_1,
    then p_00 and p_11) from the E-step ``e`` at ``params``, as θ (scratch arrays from ``work``)."""
    work = _Work() if work is None else work
    smooth, n00, n01, n10, n11, first, valid = e[3:]
    w1 = smooth
    w0 = np.subtract(valid, smooth, out=work("w0", r.shape))
    v0, v1 = params[:, 1], params[:, 2]
    prec = np.divide(w0, v0, out=work("prec", r.shape))
    tmp = np.divide(w1, v1, out=work("tmp", r.shape))
    prec += tmp
    mu = _total(np.multiply(prec, r, out=tmp)) / _total(prec)
    z = np.subtract(r, mu, out=prec)
    np.multiply(z, z, out=z)
    v0 = np.maximum(_total(np.multiply(w0, z, out=tmp)) / _total(w0), floor)
    v1 = np.maximum(_total(np.multiply(w1, z, out=tmp)) / _total(w1), floor)
    leave0, stay0 = n01 + first, n00  # counts of a = P(0 → 1), with ξ_{1|T}(1) from π's ln a − ln(a + b)
    leave1, stay1 = n10 + (1.0 - first), n11
    a = leave0 / (leave0 + stay0)
    b = leave1 / (leave1 + stay1)
    for _ in range(_PI_STEPS):
        s = a + b
        a, b = _leave(leave0, stay0, s), _leave(leave1, stay1, s)
    return _projected(np.column_stack([mu, v0, v1, 1.0 - a, 1.0 - b]), floor)


def _leave(leave: np.ndarray, stay: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The root in [0, 1] of a² − a (N s + 1) + A s = 0 (A = ``leave``, N = A + ``stay``), written without
    cancellation: a = 2 A s / (N s + 1 + √((N s + 1)² − 4 A s))."""
    ns1 = (leave + stay) * s + 1.0
    return 2.0 * leave * s / (ns1 + np.sqrt(np.maximum(ns1 * ns1 - 4.0 * leave * s, 0.0)))


def _regime_fit(em: _Em, j: int, closes: np.ndarray, r: np.ndarray) -> RegimeFit:
    """Symbol ``j``'s :class:`RegimeFit` from the EM's result: labels, σ in $/share, status, forecast."""
    n = len(r)
    loglik = float(em.loglik[j])
    if not math.isfinite(loglik):
        return RegimeFit.unfitted(
            n, "failed:NonFiniteLikelihood", "the likelihood is not finite at any start"
        )
    var_low, var_high = float(em.var_low[j]), float(em.var_high[j])
    p_stay_low, p_stay_high = float(em.p_stay_low[j]), float(em.p_stay_high[j])
    p_high = float(em.p_high_last[j])
    share_high = float(em.share_high[j])
    close = float(closes[-1])
    sigma_low, sigma_high = (close * math.sqrt(v) / 100.0 for v in (var_low, var_high))
    single = -0.5 * n * (math.log(2 * math.pi * float(np.var(r))) + 1.0)  # one normal, its MLE
    share = min(share_high, 1.0 - share_high)
    status, why = "ok", ""
    if not bool(em.converged[j]):
        status, why = "not_converged", f"the EM still rose after {REGIME_MAX_ITER} cycles"
    elif share < REGIME_MIN_SHARE:
        status, why = "degenerate", f"a regime holds {share:.1%} of the days < {REGIME_MIN_SHARE:.0%}"
    elif not sigma_high > REGIME_MIN_SIGMA_RATIO * sigma_low:
        status, why = (
            "degenerate",
            f"sigma_high / sigma_low = {sigma_high / sigma_low:.3f} < {REGIME_MIN_SIGMA_RATIO}",
        )
    elif 2 * (loglik - single) <= 3 * math.log(n):
        status = "degenerate"
        why = f"2 (loglik - loglik of one normal) = {2 * (loglik - single):.2f} <= 3 ln n = {3 * math.log(n):.2f}"
    p_next = p_high * p_stay_high + (1.0 - p_high) * (1.0 - p_stay_low)
    forecast = close / 100.0 * math.sqrt((1.0 - p_next) * var_low + p_next * var_high)
    return RegimeFit(
        sigma_low_usd=sigma_low,
        sigma_high_usd=sigma_high,
        p_stay_low=p_stay_low,
        p_stay_high=p_stay_high,
        p_high=p_high,
        sigma_usd=forecast if status == "ok" else float("nan"),
        loglik=loglik,
        nobs=n,
        status=status,
        message=why,
    )
