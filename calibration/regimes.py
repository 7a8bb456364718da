"""Volatility regimes: a two-regime Markov-switching model of daily log returns with switching variance.

Hamilton (1989), with the regime in the variance (Hamilton & Susmel 1994 in its simplest form): the daily
log return × 100 of the closing mid is

    r_t = μ + σ_{s_t} z_t,   z_t ~ N(0, 1),   s_t ∈ {low, high} a Markov chain,
    P(s_t = low | s_{t−1} = low) = p_stay_low,   P(s_t = high | s_{t−1} = high) = p_stay_high,

fitted by maximum likelihood (Hamilton's filter; the best of 10 seeded random starts, 20 EM steps, then BFGS)
with statsmodels' ``MarkovRegression(r, k_regimes=2, trend="c", switching_trend=False,
switching_variance=True)`` (:func:`switching_variance_model`) on the same
returns GARCH(1,1) takes (:func:`calibration.volatility.garch_sigma`: the GARCH window's closes, × 100).

The mean μ is one constant shared by both regimes, as GARCH's constant mean: the regimes are about the
variance, a regime's own mean is poorly identified (its standard error is σ_regime/√(days in it)) and would
let the fit split the days on the mean; and with a common mean tomorrow's variance is exactly the
probability-weighted sum of the regimes' variances (a switching mean would add the spread of the means).

σ in $/share/√day is converted as σ GARCH is: σ_usd = close_T · √σ²_regime / 100, with close_T the last
close of the window (the as-of date's closing mid). Tomorrow's σ:

    p_high(T+1) = p_high(T) · p_stay_high + (1 − p_high(T)) · (1 − p_stay_low),
    σ_usd(T+1) = close_T / 100 · √((1 − p_high(T+1)) σ²_low + p_high(T+1) σ²_high),

with p_high(T) the filtered probability P(s_T = high | r_1..r_T).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any

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
REGIME_SEARCH_REPS = 10
"""Random starting values tried (five EM steps each) around statsmodels' default start before the
maximisation; the best by likelihood is kept."""
REGIME_EM_ITER = 20
"""EM steps from the best starting value before the BFGS maximisation (statsmodels' ``em_iter``, default 5):
the BFGS then needs fewer steps, and the fit is about a quarter faster at the same likelihood."""
REGIME_SEED = 0
"""The seed of the starting-value search, so that a rerun gives the same table."""


def switching_variance_model(r: np.ndarray) -> Any:
    """statsmodels' ``MarkovRegression(r, k_regimes=2, trend="c", switching_trend=False,
    switching_variance=True)``, its parameter transform computed in numpy (see :func:`_fast_transform`)."""
    return _model_class()(r, k_regimes=2, trend="c", switching_trend=False, switching_variance=True)


@functools.cache
def _model_class() -> Any:
    """``MarkovRegression`` with :func:`_fast_transform` (statsmodels imported on first use)."""
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    class SwitchingVariance(MarkovRegression):
        transform_params = _fast_transform

    return SwitchingVariance


def _fast_transform(model: Any, unconstrained: np.ndarray) -> np.ndarray:
    """``MarkovRegression.transform_params``: the optimiser's unconstrained parameters to the model's.

    The same map (each row of transition probabilities the multinomial logistic of its free parameters,
    p = exp(u_i) / (1 + Σ_j exp(u_j)); regression coefficients unchanged; variances u²), with the log-sum-exp
    written in numpy: scipy's ``logsumexp`` spends about 45 % of a fit in its argument checks (it is called
    for every likelihood, and for every complex-step derivative). Complex arguments pass through, as the
    complex-step score needs.
    """
    constrained = np.array(unconstrained, copy=True)
    constrained = constrained.astype(np.promote_types(np.float64, constrained.dtype))
    for i in range(model.k_regimes):
        at = model.parameters[i, "regime_transition"]
        u = unconstrained[at]
        top = max(0.0, float(np.max(np.real(u))))
        constrained[at] = np.exp(u - (top + np.log(np.exp(-top) + np.sum(np.exp(u - top)))))
    constrained[model.parameters["exog"]] = unconstrained[model.parameters["exog"]]
    constrained[model.parameters["variance"]] = unconstrained[model.parameters["variance"]] ** 2
    return constrained


@dataclass(frozen=True, slots=True)
class RegimeFit:
    """The two-regime fit of one symbol's daily returns and its one-day-ahead σ.

    ``sigma_low_usd`` ≤ ``sigma_high_usd`` ($/share/√day, the regimes labelled by their variance),
    ``p_stay_low``, ``p_stay_high`` (the chain's stay probabilities), ``p_high`` (filtered probability of the
    volatile regime on the last day), ``sigma_usd`` (one-day-ahead σ, $/share/√day, NaN unless ``ok``),
    ``loglik`` (of the returns × 100, as ``garch_loglik``), ``nobs`` (returns fitted), ``status`` and
    ``message`` (warnings captured during the fit, or why there is no fit).
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


def regime_sigma(
    closes: np.ndarray,
    min_returns: int = REGIME_MIN_RETURNS,
    search_reps: int = REGIME_SEARCH_REPS,
    seed: int = REGIME_SEED,
) -> RegimeFit:
    """Fit the two-regime switching-variance model to ``closes`` and forecast tomorrow's σ.

    Parameters
    ----------
    closes
        Shape (n,): daily closing mids ($/share), oldest first, split-adjusted; non-positive or non-finite
        values are left out (as :func:`calibration.volatility.garch_sigma` does).
    min_returns
        Fewer returns than this: ``insufficient_data`` (see :data:`REGIME_MIN_RETURNS`).
    search_reps, seed
        Random starting values tried, and the seed of their draw (statsmodels' ``search_reps``, ``rng``).

    Returns
    -------
    RegimeFit
        ``status``:

        - ``ok``;
        - ``insufficient_data``: fewer than ``min_returns`` returns;
        - ``not_converged``: the optimiser stopped before convergence;
        - ``degenerate``: the data do not hold two regimes: a regime has less than
          :data:`REGIME_MIN_SHARE` of the days, σ_high/σ_low < :data:`REGIME_MIN_SIGMA_RATIO`, or the switching
          model does not beat one normal distribution by the Bayesian information criterion,
          2 (ℓ_2 − ℓ_1) ≤ 3 ln n (three more parameters; the likelihood-ratio statistic has no χ² law here,
          the switching parameters being unidentified under one regime, Hansen 1992), or the closes never move;
        - ``failed:<error>``: statsmodels raised (``message`` has the error).

        The regime parameters are those of the fit for ``not_converged`` and ``degenerate`` (for a look), but
        ``sigma_usd`` is NaN unless ``ok``; every number is NaN for ``insufficient_data`` and ``failed``.

    Notes
    -----
    See the module docstring for the model, the labelling and the forecast. Warnings (statsmodels'
    ``ConvergenceWarning``, numpy's) are caught and kept in ``message``.
    """
    closes, r = daily_percent_returns(closes)
    n = len(r)
    if n < min_returns:
        return RegimeFit.unfitted(n, "insufficient_data", f"{n} daily returns < {min_returns}")
    if not np.ptp(r) > 0:
        return RegimeFit.unfitted(n, "degenerate", f"the {n + 1} closes never move")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = switching_variance_model(r)
            res = model.fit(cov_type="none", em_iter=REGIME_EM_ITER, search_reps=search_reps, rng=seed)
        except Exception as exc:  # a numerical failure of one symbol must not stop the night
            return RegimeFit.unfitted(n, f"failed:{type(exc).__name__}", f"{type(exc).__name__}: {exc}")
    message = "; ".join(sorted({str(w.message).splitlines()[0] for w in caught}))
    params = dict(zip(model.param_names, np.asarray(res.params, dtype=float), strict=True))
    variances = np.array([params["sigma2[0]"], params["sigma2[1]"]])
    stay = np.array([params["p[0->0]"], 1.0 - params["p[1->0]"]])
    low, high = (0, 1) if variances[0] <= variances[1] else (1, 0)
    p_high = float(np.asarray(res.filtered_marginal_probabilities)[-1, high])
    share = np.asarray(res.smoothed_marginal_probabilities).mean(axis=0)
    close = float(closes[-1])
    sigma_low, sigma_high = (close * math.sqrt(max(float(variances[k]), 0.0)) / 100.0 for k in (low, high))
    p_stay_low, p_stay_high = float(stay[low]), float(stay[high])
    loglik = float(res.llf)
    single = -0.5 * n * (math.log(2 * math.pi * float(np.var(r))) + 1.0)  # one normal, its MLE
    status, why = "ok", ""
    if not bool(res.mle_retvals.get("converged", False)):
        status = "not_converged"
    elif float(share.min()) < REGIME_MIN_SHARE:
        status, why = (
            "degenerate",
            f"a regime holds {float(share.min()):.1%} of the days < {REGIME_MIN_SHARE:.0%}",
        )
    elif not sigma_high > REGIME_MIN_SIGMA_RATIO * sigma_low:
        status, why = (
            "degenerate",
            f"sigma_high / sigma_low = {sigma_high / sigma_low:.3f} < {REGIME_MIN_SIGMA_RATIO}",
        )
    elif 2 * (loglik - single) <= 3 * math.log(n):
        status = "degenerate"
        why = f"2 (loglik - loglik of one normal) = {2 * (loglik - single):.2f} <= 3 ln n = {3 * math.log(n):.2f}"
    p_next = p_high * p_stay_high + (1.0 - p_high) * (1.0 - p_stay_low)
    forecast = close / 100.0 * math.sqrt((1.0 - p_next) * variances[low] + p_next * variances[high])
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
        message="; ".join(m for m in (why, message) if m),
    )
