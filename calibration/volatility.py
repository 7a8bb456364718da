"""Volatility σ of the mid: realized (5-minute and two-scales) and GARCH(1,1).

σ is in $/share/√day (arithmetic, as Almgren-Chriss needs it): σ_usd = mid_close · √(daily variance of log
returns), with a day = the regular session. ``sigma_pct_ann`` = 100 · σ_usd / mid_close · √252.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from calibration.bars import bucket_returns
from calibration.ordering import in_time_runs
from calibration.records import DEFAULT_THRESHOLDS

TRADING_DAYS_PER_YEAR = 252
TSRV_SLOW_SCALE_SECONDS = 300.0
"""The two-scales estimator's slow scale: five minutes of the day's quotes (see :func:`tsrv_slow_scale`)."""
TSRV_MIN_SLOW_RETURNS = 10
"""The slow-scale lag is at most n / this, so that each subgrid holds this many returns or more."""
# the defaults of calibration.records.EstimatorThresholds, where they are defined and explained
GARCH_MIN_RETURNS = DEFAULT_THRESHOLDS.garch_min_returns
MIN_MOVING_RETURNS = DEFAULT_THRESHOLDS.min_moving_returns
GARCH_OUTLIER_MADS = DEFAULT_THRESHOLDS.garch_outlier_mads
GARCH_INFLUENCE_FACTOR = DEFAULT_THRESHOLDS.garch_influence_factor


@dataclass(frozen=True, slots=True)
class RealizedSigma:
    """Realized σ of one symbol over a window of sessions.

    ``sigma_usd`` from 5-minute returns, ``sigma_tsrv_usd`` from the two-scales estimator; ``se_usd`` by
    the delta method from the dispersion of the daily variances; ``nobs`` 5-minute returns in ``days``.
    """

    sigma_usd: float
    se_usd: float
    sigma_tsrv_usd: float
    sigma_pct_ann: float
    mid_close_usd: float
    nobs: int
    days: int
    status: str


def realized_sigma(
    mids: pl.DataFrame,
    quotes: pl.DataFrame,
    tsrv_k: int | None = None,
    min_moving_returns: int = MIN_MOVING_RETURNS,
) -> pl.DataFrame:
    """Realized σ per symbol from 5-minute boundary mids (see :func:`calibration.bars.bucket_mids`).

    Parameters
    ----------
    mids
        Boundary mids: ``symbol, date, bucket, mid, observed, span_days``.
    quotes
        ``symbol, date, ts, bid, ask``: every quote, for the two-scales estimator.
    tsrv_k
        Slow-scale lag K (quotes) of the two-scales estimator for every day; default: five minutes of
        quotes of each symbol-day (see :func:`tsrv_slow_scale`).
    min_moving_returns
        Fewer non-zero observed 5-minute returns than this in the window and the symbol's σ is
        ``insufficient_data`` (null).

    Returns
    -------
    polars.DataFrame
        One row per symbol with the fields of :class:`RealizedSigma`; ``nobs`` counts the observed 5-minute
        returns and ``days`` the days with at least one.

    Notes
    -----
    Only the buckets inside a symbol-day's quoted span (from its first quote to its last, see
    :mod:`calibration.bars`) are returns: outside it the mid is not observed, and its zero change is no
    evidence of a still price. Inside it, a bucket without a quote update is an observed zero return: the
    quote stood. Daily realized variance RV_d = Σ_k r²_{d,k} over the observed 5-minute log returns,
    divided by the span's length in days (the session's length for a day quoted from the open to the
    close; an early close counts as a fraction of a day), so a day quoted in part of the session gives
    the variance per day of the part it covers rather than a fraction of it. σ²_usd,d = mid_close,d² · RV_d
    and σ_usd = √(mean_d σ²_usd,d): the root of the mean variance, not the mean of the roots, so it is
    unbiased for σ². Two-scales realized variance (Zhang, Mykland & Aït-Sahalia 2005, eq. 55, with the
    small-sample factor of their eq. 64), over the same span: TSRV = (1 − n̄/n)⁻¹ (RV^(K) − (n̄/n) RV^(all)),
    where RV^(K) = (1/K) Σ_i (x_{i+K} − x_i)², RV^(all) = Σ_i (x_{i+1} − x_i)², n̄ = (n − K + 1)/K,
    x = log mid. A day without an observed return has no variance and does not count in ``days``.
    Float sums run over sorted values so that reruns are bit-identical under any thread schedule.
    """
    daily = _daily_variances(mids, quotes, tsrv_k)
    out = (
        daily.sort("date")
        .group_by("symbol")
        .agg(
            pl.col("var_usd").sort().mean().sqrt().alias("sigma_usd"),
            pl.col("var_usd").sort().std().alias("_var_sd"),
            pl.col("tsrv_usd").sort().mean().clip(0.0).sqrt().alias("sigma_tsrv_usd"),
            pl.col("mid_close").last().alias("mid_close_usd"),
            pl.col("n").sum().alias("nobs"),
            pl.col("moves").sum().alias("moves"),
            pl.col("var_usd").is_not_null().sum().alias("days"),
        )
        .with_columns(
            # delta method: se(σ) = se(σ²) / (2σ), se(σ²) = sd(daily σ²) / √days
            (pl.col("_var_sd") / pl.col("days").sqrt() / (2 * pl.col("sigma_usd"))).alias("se_usd"),
            (100 * pl.col("sigma_usd") / pl.col("mid_close_usd") * math.sqrt(TRADING_DAYS_PER_YEAR)).alias(
                "sigma_pct_ann"
            ),
            pl.when(pl.col("moves") < min_moving_returns)
            .then(pl.lit("insufficient_data"))
            .when(pl.col("days") >= 2)
            .then(pl.lit("ok"))
            .otherwise(pl.lit("single_day"))
            .alias("status"),
        )
        .drop("_var_sd", "moves")
    )
    # a mid that hardly moves (a quote or two a day) says nothing about σ: no number rather than σ = 0
    stale = pl.col("status") == "insufficient_data"
    out = out.with_columns(
        [pl.when(stale).then(None).otherwise(pl.col(c)).alias(c)
         for c in ("sigma_usd", "se_usd", "sigma_tsrv_usd", "sigma_pct_ann")]
    )  # fmt: skip
    return out.sort("symbol")


def _daily_variances(mids: pl.DataFrame, quotes: pl.DataFrame, tsrv_k: int | None) -> pl.DataFrame:
    """Per symbol-day: RV and TSRV as $²/day (``var_usd``, ``tsrv_usd``, null for a day without an observed
    return), the closing mid, and the counts of observed and of non-zero 5-minute returns (see
    :func:`realized_sigma`'s notes)."""
    rets = bucket_returns(mids)
    closes = mids.group_by("symbol", "date").agg(pl.col("mid").sort_by("bucket").last().alias("mid_close"))
    obs = pl.col("observed")
    quoted = (pl.col("n") > 0) & (pl.col("span_days") > 0)
    return (
        rets.group_by("symbol", "date")
        .agg(
            (pl.col("log_return").filter(obs) ** 2).sort().sum().alias("rv"),
            pl.col("span_days").first(),
            obs.sum().alias("n"),
            (pl.col("log_return").filter(obs) != 0).sum().alias("moves"),
        )
        .join(closes, on=["symbol", "date"])
        .join(tsrv_by_day(quotes, tsrv_k), on=["symbol", "date"], how="left")
        .with_columns(
            pl.when(quoted)
            .then(pl.col("mid_close") ** 2 * pl.col("rv") / pl.col("span_days"))
            .alias("var_usd"),
            pl.when(quoted)
            .then(pl.col("mid_close") ** 2 * pl.col("tsrv") / pl.col("span_days"))
            .alias("tsrv_usd"),
        )
    )


def tsrv_by_day(quotes: pl.DataFrame, k: int | None = None) -> pl.DataFrame:
    """Two-scales realized variance of the log mid per (symbol, date) from every quote (see above).

    ``k`` fixes the slow-scale lag for every day; by default each day takes :func:`tsrv_slow_scale` of its
    number of quotes and its quoted span (first quote to last). Quotes read from the lake are already
    grouped and in time order; others are sorted first (ties in time keep their order, so the result does
    not depend on the thread schedule).
    """
    x, starts = in_time_runs(quotes.select("symbol", "date", "ts", "bid", "ask"), ["symbol", "date"])
    ends = np.append(starts[1:], x.height)
    values = np.log((x["bid"].to_numpy() + x["ask"].to_numpy()) / 2)
    ns = x["ts"].cast(pl.Int64).to_numpy()
    tsrv = [
        two_scales_variance(values[a:b], k or tsrv_slow_scale(b - a - 1, (ns[b - 1] - ns[a]) / 1e9))
        for a, b in zip(starts, ends, strict=True)
    ]
    return x.select("symbol", "date").gather(starts).with_columns(pl.Series("tsrv", tsrv, dtype=pl.Float64))


def tsrv_slow_scale(n: int, span_seconds: float) -> int:
    """The slow-scale lag K of the two-scales estimator: the quotes of five minutes of the day.

    Parameters
    ----------
    n
        Number of log-mid changes of the day (its quotes less one).
    span_seconds
        Seconds from the day's first quote to its last (its quoted span; 12,600 on a 3.5-hour early close).

    Returns
    -------
    int
        K = ⌈n · :data:`TSRV_SLOW_SCALE_SECONDS` / span⌉, the mean number of quotes in five minutes of that
        day, at most ⌊n / :data:`TSRV_MIN_SLOW_RETURNS`⌋ (a day quoted for a few minutes has no five-minute
        scale) and at least 1.

    Notes
    -----
    Zhang, Mykland & Aït-Sahalia (2005) average the realized variance of K subgrids of every K-th quote
    (the slow scale) and remove the noise measured at the fast scale (every quote); the slow scale plays the
    part of the sparse sampling it improves on (every five minutes, the usual practice). The former default
    ⌈n/78⌉ was five minutes only on a full 6.5-hour session: on an early close it was 2.7 minutes. K
    counts quotes in the day's own clock, so it is five minutes on any day; a longer slow scale also leaves
    less of the bias of serially correlated noise, whose correlation a real quote mid has and the
    estimator's iid-noise correction does not remove.
    """
    if n < 1 or not span_seconds > 0:
        return 1
    k = math.ceil(n * TSRV_SLOW_SCALE_SECONDS / span_seconds)
    return max(1, min(k, n // TSRV_MIN_SLOW_RETURNS))


def two_scales_variance(x: np.ndarray, k: int) -> float:
    """TSRV of one day's log prices ``x`` (Zhang, Mykland & Aït-Sahalia 2005, eqs. 55 and 64).

    Parameters
    ----------
    x
        Shape (n + 1,): log mids of every quote of one day, in time order.
    k
        Slow-scale lag K (quotes), see :func:`tsrv_slow_scale`; capped at n.

    Returns
    -------
    float
        The day's integrated variance of the log mid over its quoted span (unitless); NaN for n < 2.
    """
    n = len(x) - 1
    if n < 2:
        return float("nan")
    k = min(max(k, 1), n)
    rv_all = float(np.sum(np.diff(x) ** 2))
    rv_k = float(np.sum((x[k:] - x[:-k]) ** 2)) / k
    n_bar = (n - k + 1) / k
    if n_bar >= n:
        return rv_all
    return (rv_k - n_bar / n * rv_all) / (1 - n_bar / n)


@dataclass(frozen=True, slots=True)
class GarchFit:
    """GARCH(1,1) of daily log returns × 100 and its one-day-ahead σ.

    ``omega`` in %², ``alpha``, ``beta`` unitless, each with its standard error;
    ``variance_forecast_pct2_per_day`` the one-day-ahead variance of the daily log return × 100, in %²;
    ``sigma_garch_usd`` = mid_close · √variance_forecast_pct2_per_day / 100.
    """

    sigma_garch_usd: float
    sigma_garch_se_usd: float
    variance_forecast_pct2_per_day: float
    omega: float
    omega_se: float
    alpha: float
    alpha_se: float
    beta: float
    beta_se: float
    loglik: float
    nobs: int
    converged: bool
    status: str
    message: str

    @classmethod
    def unfitted(cls, nobs: int, status: str, message: str) -> GarchFit:
        """A fit that did not happen: every number NaN, with the status and reason."""
        nan = float("nan")
        return cls(nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nobs, False, status, message)


def daily_percent_returns(closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The closes kept (finite and positive, oldest first) and their daily log returns × 100.

    Returns
    -------
    (closes, returns)
        Shapes (n + 1,) in $/share and (n,) in %: r_t = 100 ln(C_t / C_{t−1}), the returns GARCH(1,1)
        (:func:`garch_sigma`) and the regime model (:func:`calibration.regimes.regime_sigma`) are fitted to.
    """
    kept = np.asarray(closes, dtype=float)
    kept = kept[np.isfinite(kept) & (kept > 0)]
    return kept, 100.0 * np.diff(np.log(kept))


def garch_sigma(
    closes: np.ndarray,
    min_returns: int = GARCH_MIN_RETURNS,
    outlier_mads: float = GARCH_OUTLIER_MADS,
    influence_factor: float = GARCH_INFLUENCE_FACTOR,
) -> GarchFit:
    """Fit GARCH(1,1) to ``closes`` (closing mids, oldest first) and forecast tomorrow's variance.

    Parameters
    ----------
    closes
        Shape (n,): daily closes ($/share), oldest first, split-adjusted; non-positive or non-finite values
        are left out.
    min_returns, outlier_mads, influence_factor
        The thresholds of :class:`calibration.records.EstimatorThresholds` (``garch_min_returns``,
        ``garch_outlier_mads``, ``garch_influence_factor``).

    Returns
    -------
    GarchFit
        ``status``: ``ok``; ``insufficient_data`` (fewer than ``min_returns`` returns);
        ``failed`` (the optimiser raised); ``not_converged``; ``nonstationary`` (α + β ≥ 1);
        ``single_return`` (the fit is driven by one return, see Notes). σ is NaN unless ``ok``, so that the
        caller falls back to the realized σ; the parameters are those of the fit on every return.

    Notes
    -----
    ``arch`` with a constant mean and normal errors (Bollerslev 1986):
    r_t = μ + ε_t, ε_t = √h_t z_t, h_t = ω + α ε²_{t−1} + β h_{t−1}, with r_t = 100 ln(C_t / C_{t−1}); the
    forecast is h_{T+1} = ω + α ε²_T + β h_T. Warnings (e.g. ``ConvergenceWarning``) are caught and kept in
    ``message``. The standard error of σ comes from the parameters' covariance by the delta method
    (numerical gradient of h_{T+1}).

    Outlier rule: one return that is not a market move (an unadjusted 4-for-1 split is a log return of
    −138.6 %) makes the Gaussian likelihood explain it by a variance that never decays: α ≈ 0, β → 1 and a
    forecast dozens of times too large, with a converged fit. Where the return farthest from the median
    lies more than ``outlier_mads`` robust standard deviations (1.4826 · median absolute deviation,
    which one return cannot move) from it, the model is fitted again without that return; where the
    one-day σ of the two fits differ by more than ``influence_factor`` (either way), or only the
    fit without it is ``ok``, the status is ``single_return`` and ``message`` names the return and the σ
    without it.
    """
    closes, r = daily_percent_returns(closes)
    if len(r) < min_returns:
        return GarchFit.unfitted(len(r), "insufficient_data", f"{len(r)} daily returns < {min_returns}")
    fit = _garch_fit(r, float(closes[-1]))
    if fit.status in ("failed", "insufficient_data"):
        return fit
    dev = np.abs(r - np.median(r))
    scale = 1.4826 * float(np.median(dev))
    worst = int(np.argmax(dev))
    if not (scale > 0 and dev[worst] > outlier_mads * scale):
        return fit
    without = _garch_fit(np.delete(r, worst), float(closes[-1]))
    if without.status != "ok":
        return fit
    ratio = fit.sigma_garch_usd / without.sigma_garch_usd if fit.status == "ok" else float("nan")
    if fit.status == "ok" and 1 / influence_factor <= ratio <= influence_factor:
        return fit
    ago = len(r) - 1 - worst
    driven = (
        f"one return of {r[worst]:+.1f} % ({ago} sessions ago) is {dev[worst] / scale:.0f} robust sd from "
        f"the median; sigma without it {without.sigma_garch_usd:.3g} $/share/√day (a split? daily must be "
        "split-adjusted)"
    )
    return replace(
        fit,
        sigma_garch_usd=float("nan"),
        sigma_garch_se_usd=float("nan"),
        status="single_return",
        message="; ".join(m for m in (driven, fit.message) if m),
    )


def _garch_fit(r: np.ndarray, close: float) -> GarchFit:
    """GARCH(1,1) of the returns ``r`` (%, oldest first), σ scaled by ``close``: see :func:`garch_sigma`."""
    from arch import arch_model

    nan = float("nan")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = arch_model(r, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(
                disp="off", show_warning=True
            )
        except Exception as exc:  # a numerical failure of one symbol must not stop the night
            return GarchFit.unfitted(len(r), "failed", f"{type(exc).__name__}: {exc}")
    message = "; ".join(sorted({str(w.message).splitlines()[0] for w in caught}))
    params, se = res.params, res.std_err
    converged = int(res.convergence_flag) == 0
    omega, alpha, beta = float(params["omega"]), float(params["alpha[1]"]), float(params["beta[1]"])
    h_next = float(res.forecast(horizon=1, reindex=False).variance.iloc[-1, 0])
    status = "ok"
    if not converged:
        status = "not_converged"
    elif alpha + beta >= 1.0:
        status = "nonstationary"
    sigma = close * math.sqrt(h_next) / 100.0 if status == "ok" else nan
    sigma_se = (
        _forecast_se(r, np.asarray(params), np.asarray(res.param_cov), close) if status == "ok" else nan
    )
    return GarchFit(
        sigma, sigma_se, h_next, omega, float(se["omega"]), alpha, float(se["alpha[1]"]), beta,
        float(se["beta[1]"]), float(res.loglikelihood), len(r), converged, status, message,
    )  # fmt: skip


def _forecast_variance(r: np.ndarray, theta: np.ndarray) -> float:
    """h_{T+1} for parameters (μ, ω, α, β) with arch's start-up: h_1 = backcast (weighted mean of ε²)."""
    mu, omega, alpha, beta = theta
    e = r - mu
    tau = min(75, len(e))
    w = 0.94 ** np.arange(tau)
    h0 = float(np.sum(w / w.sum() * e[:tau] ** 2))
    # h_T = ω + α e²_{T−1} + β h_{T−1} unrolled: β^T h_0 + Σ_t β^(T−1−t) (ω + α e²_t), summed oldest first
    powers = beta ** np.arange(len(e) - 1, -1, -1, dtype=np.float64)
    return float(beta ** len(e) * h0 + np.dot(powers, omega + alpha * e**2))


def _forecast_se(r: np.ndarray, theta: np.ndarray, cov: np.ndarray, close: float) -> float:
    base = _forecast_variance(r, theta)
    grad = np.empty(len(theta))
    for i in range(len(theta)):
        step = 1e-5 * max(abs(theta[i]), 1e-4)
        up, dn = theta.copy(), theta.copy()
        up[i] += step
        dn[i] -= step
        grad[i] = (_forecast_variance(r, up) - _forecast_variance(r, dn)) / (2 * step)
    var_h = float(grad @ cov @ grad)
    # σ = C √h / 100  ⇒  dσ/dh = C / (200 √h)
    return close / (200.0 * math.sqrt(base)) * math.sqrt(max(var_h, 0.0))
