"""Permanent impact γ: the part of the price response to signed flow that is still there 30 minutes on.

Units (DESIGN §3): γ in $/share per share traded. The 5-minute regression of the mid change on the same
bucket's signed volume (Kyle's lambda, :func:`calibration.impact.kyle_lambda_by_symbol`) measures the
impact at the moment of trading, most of which reverts within minutes; Almgren-Chriss's γ is the part that
stays (Almgren & Chriss 2000, eq. 2; Almgren, Thum, Hauptmann & Li 2005, §2: the permanent impact is the
price change measured 30 minutes after the trade ends). Here it is the cumulative impulse response of the
mid to a bucket's signed volume at a horizon where it has flattened, from a distributed-lag regression on
the tape (Hasbrouck 1991; the propagator of Bouchaud, Gefen, Potters & Wyart 2004).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from calibration.bars import bucket_returns, signed_volume_by_bucket
from calibration.impact import GAMMA_T_MIN, MIN_BUCKETS, gamma_status, newey_west_lags
from kappa.units import BUCKET_MINUTES

PERMANENT_LAGS = 6
"""Lagged buckets in the γ regression: γ is the mid's response 30-35 minutes after a bucket's flow."""
GAMMA_HORIZON_MINUTES = PERMANENT_LAGS * BUCKET_MINUTES
GAMMA_ADV_SIGMA_BAND = (0.05, 3.14)
"""Plausible γ·ADV/σ (the permanent price move of trading one ADV, in daily σ).

Upper edge: Almgren et al. (2005, §4, the permanent impact model with its fitted γ = 0.314 ± 0.041 and
turnover exponent 1/4) find I/σ = 0.314·(X/V)·(Θ/V)^{1/4}, i.e.
γ·ADV/σ = 0.314·(Θ/V)^{1/4} with Θ the shares outstanding: 3.14 for a stock that turns over 0.01 % of its
shares a day (Θ/V = 10⁴), about 1.3 for a large cap (Θ/V ≈ 300). Lower edge: 0.1 bp of permanent move per
1 % of ADV at a daily σ of 2 % (200 bps) is 0.1 = 0.01·(γ·ADV/σ)·200, i.e. γ·ADV/σ = 0.05."""


@dataclass(frozen=True, slots=True)
class PermanentFit:
    """γ (the sum of the lag coefficients) with its Newey-West standard error, observations, R², status,
    and the cumulative response at each lag (``response[l]`` = Σ_{j≤l} β_j, ``response_se`` its error)."""

    coef: float
    se: float
    nobs: int
    r2: float
    status: str
    response: tuple[float, ...] = ()
    response_se: tuple[float, ...] = ()


def lagged_flow(
    mids: pl.DataFrame,
    signed_trades: pl.DataFrame,
    sessions: pl.DataFrame,
    lags: int = PERMANENT_LAGS,
    volume: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The rows of the γ regression: each bucket's mid change beside its own and ``lags`` earlier signed
    volumes of the same session.

    Parameters
    ----------
    mids
        :func:`calibration.bars.bucket_mids` (every 5-minute boundary of every symbol-day).
    signed_trades
        Trades with their Lee-Ready ``sign`` (:func:`calibration.signs.lee_ready_signs`).
    sessions
        ``date, open_ts, close_ts`` of the window's sessions.
    lags
        L, the number of earlier buckets.
    volume
        :func:`calibration.bars.signed_volume_by_bucket` of ``signed_trades``, where the caller has it
        already (:func:`calibration.bars.impact_buckets` takes the same).

    Returns
    -------
    polars.DataFrame
        ``symbol, date, bucket, dmid_usd`` ($/share) and ``q0 .. qL`` (net signed shares of bucket k − l),
        sorted by symbol, date, bucket. A row is bucket k of a symbol-day whose buckets k − L .. k all lie
        inside the day's quoted span (a lag never reaches into the night or before the first quote: the
        first L buckets of a session are no rows) and in which a quote or a trade happened (as for Kyle's
        lambda, :func:`calibration.bars.impact_buckets`). Earlier buckets with nothing in them count with
        their zero volume.
    """
    vol = signed_volume_by_bucket(signed_trades, sessions) if volume is None else volume
    grid = (
        bucket_returns(mids)
        .join(vol, on=["symbol", "date", "bucket"], how="left")
        .with_columns(pl.col("net_signed_shares").fill_null(0.0), pl.col("n_trades").fill_null(0))
        .sort("symbol", "date", "bucket")
    )
    keys = ("symbol", "date")
    shifted = [pl.col("net_signed_shares").shift(lag).over(keys).alias(f"q{lag}") for lag in range(lags + 1)]
    span = pl.col("observed").cast(pl.Int32).rolling_sum(lags + 1).over(keys)
    return (
        grid.with_columns(*shifted, span.alias("_span"))
        .filter(
            (pl.col("_span") == lags + 1) & ((pl.col("n_quotes") > 0) | (pl.col("n_trades") > 0)),
            pl.col("dmid_usd").is_not_null(),
        )
        .select("symbol", "date", "bucket", "dmid_usd", *[f"q{lag}" for lag in range(lags + 1)])
    )


def permanent_impact(
    rows: pl.DataFrame, min_buckets: int = MIN_BUCKETS, t_min: float = GAMMA_T_MIN
) -> PermanentFit:
    """γ of one symbol: the cumulative response of the mid to signed flow after ``L`` buckets.

    Parameters
    ----------
    rows
        One symbol's :func:`lagged_flow` rows in time order: ``dmid_usd`` ($/share) and ``q0 .. qL``
        (shares).
    min_buckets, t_min
        The thresholds (:class:`calibration.records.EstimatorThresholds`).

    Returns
    -------
    PermanentFit
        γ = Σ_{l=0..L} β_l ($/share per share) and se = √(1'·Cov(β)·1). ``status``: ``insufficient_data``
        (fewer than ``min_buckets`` rows), ``degenerate`` (the mid change never varies, a lag of the flow
        is constant, or the design is singular), else that of :func:`calibration.impact.gamma_status` at
        ``t_min``. NaN unless fitted.

    Notes
    -----
    Δmid_k = c + Σ_{l=0..L} β_l·Q_{k−l} + u_k, OLS. A share traded in bucket k moves the mid by β_0 by the
    end of that bucket and by Σ_{j≤l} β_j by the end of bucket k + l: the impulse response of Hasbrouck
    (1991), here on the tape's Lee-Ready-signed volume. With an impact kernel G(t) = γ + γ_T·2^(−t/h)
    (permanent γ, transient γ_T with half-life h) and flow whose lags are in the regression, Σ_{l≤L} β_l
    = γ + γ_T·E[2^(−t/h)] with t between L and L + 1 buckets: at L = 6 (30 minutes) and h = 5 minutes,
    γ + 0.011·γ_T, where Kyle's lambda (L = 0) is γ + 0.72·γ_T. Controlling for the lags also keeps the
    serial correlation of order flow out of γ. Standard errors: Newey & West (1987) HAC, Bartlett kernel
    with :func:`calibration.impact.newey_west_lags` (n) lags, as statsmodels' ``cov_type="HAC"`` (tested
    equal), without a small-sample factor.
    """
    qcols = _lag_columns(rows)
    b = rows.drop_nulls(["dmid_usd", *qcols])
    y, q = b["dmid_usd"].to_numpy().astype(np.float64), b.select(qcols).to_numpy().astype(np.float64)
    return _fit(y, q, min_buckets, t_min)


def _lag_columns(rows: pl.DataFrame) -> list[str]:
    return sorted(
        (c for c in rows.columns if c.startswith("q") and c[1:].isdigit()), key=lambda c: int(c[1:])
    )


def _fit(y: np.ndarray, q: np.ndarray, min_buckets: int, t_min: float) -> PermanentFit:
    """The regression of :func:`permanent_impact` on arrays: y (n,) in $/share, q (n, L + 1) in shares."""
    n, k = q.shape
    nan = float("nan")
    if n < min_buckets:
        return PermanentFit(nan, nan, n, nan, "insufficient_data")
    if np.ptp(y) == 0 or (np.ptp(q, axis=0) == 0).any():
        return PermanentFit(nan, nan, n, nan, "degenerate")
    x = np.column_stack([np.ones(n), q])
    try:
        bread = np.linalg.inv(x.T @ x)
    except np.linalg.LinAlgError:
        return PermanentFit(nan, nan, n, nan, "degenerate")
    beta = bread @ (x.T @ y)
    e = y - x @ beta
    u = x * e[:, None]
    lags = newey_west_lags(n)
    s = u.T @ u
    for lag in range(1, min(lags, n - 1) + 1):
        g = u[lag:].T @ u[:-lag]
        s += (1 - lag / (lags + 1)) * (g + g.T)
    cov = bread @ s @ bread
    a = np.column_stack([np.zeros(k), np.tril(np.ones((k, k)))])  # row l sums β_0..β_l
    response = a @ beta
    response_var = np.einsum("ij,jk,ik->i", a, cov, a)
    coef, var = float(response[-1]), float(response_var[-1])
    se = math.sqrt(var) if var > 0 else nan
    if not math.isfinite(se) or not np.isfinite(beta).all():
        return PermanentFit(nan, nan, n, nan, "degenerate")
    r2 = 1 - float(e @ e) / float(((y - y.mean()) ** 2).sum())
    return PermanentFit(
        coef,
        se,
        n,
        r2,
        gamma_status(coef, se, t_min),
        tuple(float(v) for v in response),
        tuple(math.sqrt(v) if v > 0 else nan for v in response_var),
    )


def permanent_impact_by_symbol(
    rows: pl.DataFrame, min_buckets: int = MIN_BUCKETS, t_min: float = GAMMA_T_MIN
) -> pl.DataFrame:
    """:func:`permanent_impact` for every symbol of :func:`lagged_flow`'s rows (thresholds as there).

    Returns
    -------
    polars.DataFrame
        ``symbol, gamma, gamma_se, gamma_nobs, gamma_r2, gamma_status, gamma_horizon_min`` (the horizon
        L·5 minutes after the end of the flow's bucket at which γ is read); γ NULL unless fitted.
    """
    qcols = _lag_columns(rows)
    b = rows.drop_nulls(["dmid_usd", *qcols]).sort("symbol", "date", "bucket")
    symbols = b["symbol"].to_numpy()
    y, q = b["dmid_usd"].to_numpy().astype(np.float64), b.select(qcols).to_numpy().astype(np.float64)
    starts = np.flatnonzero(np.r_[True, symbols[1:] != symbols[:-1]]) if b.height else np.zeros(0, int)
    ends = np.r_[starts[1:], b.height] if b.height else starts
    out: list[tuple[object, ...]] = []
    for lo, hi in zip(starts, ends, strict=True):
        fit = _fit(y[lo:hi], q[lo:hi], min_buckets, t_min)
        fitted = math.isfinite(fit.coef)
        out.append((str(symbols[lo]), fit.coef if fitted else None, fit.se if fitted else None, fit.nobs,
                    fit.r2 if fitted else None, fit.status))  # fmt: skip
    return pl.DataFrame(
        out,
        schema={"symbol": pl.String, "gamma": pl.Float64, "gamma_se": pl.Float64, "gamma_nobs": pl.Int64,
                "gamma_r2": pl.Float64, "gamma_status": pl.String},
        orient="row",
    ).with_columns(pl.lit(float((len(qcols) - 1) * BUCKET_MINUTES)).alias("gamma_horizon_min"))  # fmt: skip


def gamma_plausibility(
    gamma: float | None, adv_shares: float | None, sigma_usd: float | None
) -> tuple[float | None, str | None]:
    """γ·ADV/σ and where it lies against :data:`GAMMA_ADV_SIGMA_BAND`.

    Parameters
    ----------
    gamma
        $/share per share.
    adv_shares
        Average daily volume, shares/day.
    sigma_usd
        $/share/√day.

    Returns
    -------
    tuple
        (γ·ADV/σ, dimensionless: the permanent move of trading one ADV in daily σ; ``in_band``,
        ``below_band`` or ``above_band``), or (None, None) where any input is missing or σ, ADV ≤ 0.
        A negative γ (``wrong_sign``, which schedules take as 0) is ``below_band``.
    """
    vals = (gamma, adv_shares, sigma_usd)
    if any(v is None or not math.isfinite(v) for v in vals):
        return None, None
    assert gamma is not None and adv_shares is not None and sigma_usd is not None
    if adv_shares <= 0 or sigma_usd <= 0:
        return None, None
    ratio = gamma * adv_shares / sigma_usd
    low, high = GAMMA_ADV_SIGMA_BAND
    return ratio, "below_band" if ratio < low else "above_band" if ratio > high else "in_band"
