"""Correlations between names: of their 5-minute mid log returns over the calibration window.

The returns are those realized σ takes (:func:`calibration.bars.bucket_returns`): the log change of the
boundary mid over each 5-minute bucket of the regular session, only where the bucket is ``observed`` (inside
the symbol-day's quoted span), so no return spans a night and a bucket outside a name's quoted span is no
observation. Two names' returns are paired on the bucket (session date and bucket index: the bucket's end
time in the window's sessions), and each pair's correlation is the Pearson correlation of the buckets both
names have a return in (pairwise-complete observations):

    ρ_ab = Σ (r_a − r̄_a)(r_b − r̄_b) / √(Σ (r_a − r̄_a)² · Σ (r_b − r̄_b)²),

sums and means over the n_ab common buckets. For all pairs at once, with R the (buckets × names) matrix of
returns (0 where missing) and M its 0/1 mask: n = MᵀM, Σ r_a = (RᵀM)_ab, Σ r_b = (MᵀR)_ab,
Σ r_a² = ((R∘R)ᵀM)_ab, Σ r_b² = (Mᵀ(R∘R))_ab and Σ r_a r_b = (RᵀR)_ab.

The correlation of returns sampled at a fixed grid is biased towards zero when quotes are asynchronous
(Epps 1979); five minutes is the sampling realized σ uses, and long enough for liquid names.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from calibration.bars import bucket_returns

CORRELATION_MIN_NOBS = 78
"""Fewer common 5-minute returns than this (one full session) and a pair's ρ is NULL: the standard error of
ρ is about (1 − ρ²)/√n, 0.11 at n = 78."""
RETURNS_COLUMN = "returns_5m"
"""The column of :func:`nested_returns`: a symbol's 5-minute returns, carried from a batch to the join."""
RETURN_FIELDS = {"date": pl.Date, "bucket": pl.Int32, "log_return": pl.Float64}
RETURNS_DTYPE = pl.List(pl.Struct(RETURN_FIELDS))
CORRELATION_SCHEMA = {"symbol_a": pl.String, "symbol_b": pl.String, "rho": pl.Float64, "nobs": pl.Int64}
BLOCK_NAMES = 1024
"""Names per block of rows of the pair matrices (bounds memory at 8 × BLOCK_NAMES × names bytes each)."""


def observed_returns(mids: pl.DataFrame) -> pl.DataFrame:
    """The observed, finite 5-minute log returns of :func:`calibration.bars.bucket_mids`'s boundary mids.

    Returns
    -------
    polars.DataFrame
        ``symbol, date, bucket, log_return`` (unitless log returns), one row per symbol and observed bucket.
    """
    return (
        bucket_returns(mids)
        .filter(pl.col("observed") & pl.col("log_return").is_finite())
        .select("symbol", pl.col("date"), pl.col("bucket").cast(pl.Int32), "log_return")
    )


def nested_returns(mids: pl.DataFrame) -> pl.DataFrame:
    """:func:`observed_returns` as one row per symbol: ``symbol`` and the list :data:`RETURNS_COLUMN`."""
    return (
        observed_returns(mids)
        .group_by("symbol")
        .agg(pl.struct(*RETURN_FIELDS).alias(RETURNS_COLUMN))
        .with_columns(pl.col(RETURNS_COLUMN).cast(RETURNS_DTYPE))
    )


def unnested_returns(frame: pl.DataFrame) -> pl.DataFrame:
    """The long ``symbol, date, bucket, log_return`` of a frame with ``symbol`` and :data:`RETURNS_COLUMN`."""
    if RETURNS_COLUMN not in frame.columns:
        return pl.DataFrame(schema={"symbol": pl.String, **RETURN_FIELDS})
    return (
        frame.select("symbol", RETURNS_COLUMN)
        .explode(RETURNS_COLUMN)
        .drop_nulls(RETURNS_COLUMN)
        .unnest(RETURNS_COLUMN)
    )


def pairwise_correlations(
    returns: pl.DataFrame, min_nobs: int = CORRELATION_MIN_NOBS, block: int = BLOCK_NAMES
) -> pl.DataFrame:
    """The correlation of every pair of names' 5-minute returns, on their common buckets.

    Parameters
    ----------
    returns
        ``symbol, date, bucket, log_return``: one return per symbol and bucket (:func:`observed_returns`).
    min_nobs
        Fewer common returns than this and ρ is null (see :data:`CORRELATION_MIN_NOBS`).
    block
        Names per block of the matrix products (memory, not the result).

    Returns
    -------
    polars.DataFrame
        ``symbol_a, symbol_b, rho, nobs`` for every pair of the names in ``returns`` with
        ``symbol_a < symbol_b``, sorted; ``nobs`` the buckets both have a return in; ``rho`` null below
        ``min_nobs`` or where a name's returns do not vary over the common buckets.

    Notes
    -----
    See the module docstring for the matrix form. Each name's returns are centred on their mean over all its
    buckets first: the correlation is unchanged (each pair's own means are taken out again), and the sums of
    squares lose no digits to a mean far from zero.
    """
    if not returns.height:
        return pl.DataFrame(schema=CORRELATION_SCHEMA)
    names = returns["symbol"].unique().sort()
    keys = returns.select("date", "bucket").unique().sort("date", "bucket").with_row_index("_t")
    at = (
        returns.join(keys, on=["date", "bucket"])
        .join(pl.DataFrame({"symbol": names}).with_row_index("_j"), on="symbol")
        .select("_t", "_j", "log_return")
    )
    t, j = at["_t"].to_numpy(), at["_j"].to_numpy()
    r = at["log_return"].to_numpy().astype(np.float64)
    m = len(names)
    mask = np.zeros((keys.height, m))
    mask[t, j] = 1.0
    x = np.zeros((keys.height, m))
    x[t, j] = r
    counts = mask.sum(axis=0)
    x -= mask * (x.sum(axis=0) / np.maximum(counts, 1.0))
    x2 = x * x
    a_parts, b_parts, rho_parts, n_parts = [], [], [], []
    for lo in range(0, m, block):
        hi = min(lo + block, m)
        mb, xb = mask[:, lo:hi], x[:, lo:hi]
        n = mb.T @ mask
        sa, sb = xb.T @ mask, mb.T @ x
        saa, sbb = (xb * xb).T @ mask, mb.T @ x2
        sab = xb.T @ x
        with np.errstate(divide="ignore", invalid="ignore"):
            cov = sab - sa * sb / n
            va, vb = saa - sa * sa / n, sbb - sb * sb / n
            rho = cov / np.sqrt(va * vb)
        ok = (n >= min_nobs) & (va > 0) & (vb > 0)
        rho = np.where(ok, np.clip(rho, -1.0, 1.0), np.nan)
        ia, ib = np.nonzero(np.arange(lo, hi)[:, None] < np.arange(m)[None, :])
        a_parts.append(ia + lo)
        b_parts.append(ib)
        rho_parts.append(rho[ia, ib])
        n_parts.append(n[ia, ib])
    ia, ib = np.concatenate(a_parts), np.concatenate(b_parts)
    return pl.DataFrame(
        {
            "symbol_a": names.gather(ia),
            "symbol_b": names.gather(ib),
            "rho": pl.Series(np.concatenate(rho_parts)).fill_nan(None),
            "nobs": np.rint(np.concatenate(n_parts)).astype(np.int64),
        },
        schema=CORRELATION_SCHEMA,
    )
