"""Five-minute buckets of the regular session: the mid at each bucket's end and the signed volume in it.

Bucket k of a session covers (open + (k−1)·Δ, open + k·Δ] with Δ = 5 minutes; boundary 0 is the open.
The mid at a boundary is that of the last quote at or before it (the first quote of the session for the
open); a bucket without a quote carries the previous mid forward.
"""

from __future__ import annotations

import polars as pl

from calibration import SESSION_SECONDS

BUCKET_NS = 5 * 60 * 1_000_000_000


def _bucket(ts: pl.Expr, open_ts: pl.Expr) -> pl.Expr:
    """Index k of the bucket (open + (k−1)Δ, open + kΔ] holding ``ts``; 0 at or before the open."""
    offset = (ts - open_ts).dt.total_nanoseconds()
    return pl.when(offset <= 0).then(0).otherwise((offset + BUCKET_NS - 1) // BUCKET_NS).cast(pl.Int32)


def _session_open(sessions: pl.DataFrame) -> pl.Expr:
    """The open of each row's session, looked up by ``date`` (null for a date that is no session).

    A lookup in the few sessions of a window, where a join would copy every quote.
    """
    return pl.col("date").replace_strict(
        sessions["date"], sessions["open_ts"], default=None, return_dtype=sessions.schema["open_ts"]
    )


def bucket_mids(quotes: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """Mid at every 5-minute boundary of every session a symbol quoted in.

    Parameters
    ----------
    quotes
        ``symbol, date, ts, bid, ask`` (session date; ts UTC ns).
    sessions
        ``date, open_ts, close_ts``.

    Returns
    -------
    polars.DataFrame
        ``symbol, date, bucket, mid`` for bucket = 0..K with K = ceil(session length / 5 min), and
        ``day_fraction``: the session's length in trading days (an early close is < 1).
    """
    open_ts = _session_open(sessions)
    last = (
        quotes.lazy()
        .select(
            "symbol",
            "date",
            "ts",
            ((pl.col("bid") + pl.col("ask")) / 2).alias("mid"),
            _bucket(pl.col("ts"), open_ts).alias("bucket"),
        )
        .filter(open_ts.is_not_null())  # a quote of a date that is no session of the window
        .group_by("symbol", "date", "bucket")
        .agg(pl.col("mid").get(pl.col("ts").arg_max()))
        .collect()
    )
    grid = (
        sessions.with_columns(
            ((pl.col("close_ts") - pl.col("open_ts")).dt.total_nanoseconds() / 1e9 / SESSION_SECONDS).alias(
                "day_fraction"
            ),
            pl.int_ranges(
                0,
                ((pl.col("close_ts") - pl.col("open_ts")).dt.total_nanoseconds() + BUCKET_NS - 1) // BUCKET_NS
                + 1,
            ).alias("bucket"),
        )
        .explode("bucket")
        .with_columns(pl.col("bucket").cast(pl.Int32))
        .select("date", "bucket", "day_fraction")
    )
    days = last.select("symbol", "date").unique()
    return (
        days.join(grid, on="date")
        .join(last, on=["symbol", "date", "bucket"], how="left")
        .sort("symbol", "date", "bucket")
        .with_columns(pl.col("mid").forward_fill().backward_fill().over("symbol", "date"))
    )


def bucket_returns(mids: pl.DataFrame) -> pl.DataFrame:
    """Per bucket k ≥ 1: ``dmid_usd`` = mid_k − mid_{k−1} and ``log_return`` = ln(mid_k / mid_{k−1})."""
    prev = pl.col("mid").shift(1).over("symbol", "date")
    return mids.with_columns(
        (pl.col("mid") - prev).alias("dmid_usd"), (pl.col("mid") / prev).log().alias("log_return")
    ).filter(pl.col("bucket") > 0)


def signed_volume_by_bucket(signed_trades: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """Net signed volume (shares) and trade count per (symbol, date, bucket) from Lee-Ready-signed trades."""
    return (
        signed_trades.join(sessions, on="date")
        .with_columns(_bucket(pl.col("ts"), pl.col("open_ts")).alias("bucket"))
        .group_by("symbol", "date", "bucket")
        .agg(
            (pl.col("sign").cast(pl.Float64) * pl.col("size")).sum().alias("net_signed_shares"),
            pl.len().alias("n_trades"),
        )
        .with_columns(pl.when(pl.col("bucket") == 0).then(1).otherwise(pl.col("bucket")).alias("bucket"))
        .group_by("symbol", "date", "bucket")
        .agg(pl.col("net_signed_shares").sum(), pl.col("n_trades").sum())
    )


def impact_buckets(mids: pl.DataFrame, signed_trades: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """Bucket returns joined to net signed volume (0 where no trade): the data of the γ regression."""
    vol = signed_volume_by_bucket(signed_trades, sessions)
    return (
        bucket_returns(mids)
        .join(vol, on=["symbol", "date", "bucket"], how="left")
        .with_columns(pl.col("net_signed_shares").fill_null(0.0), pl.col("n_trades").fill_null(0))
    )


def intraday_volume_profile(trades: pl.DataFrame, sessions: pl.DataFrame, bins: int = 78) -> pl.DataFrame:
    """Expected fraction of a session's volume in each of ``bins`` equal bins of the session, per symbol.

    Parameters
    ----------
    trades
        ``symbol, date, ts, size``.
    sessions
        ``date, open_ts, close_ts`` (an early close is divided into the same number of shorter bins).
    bins
        Bins per session (78 = 5 minutes of a 6.5-hour session).

    Returns
    -------
    polars.DataFrame
        ``symbol, bin, volume_fraction, days``: the mean over days of each day's share of its volume in
        the bin (each day weighs the same, so one heavy day does not set the shape), and the days averaged.
        A trade at the close counts in the last bin.
    """
    length = (pl.col("close_ts") - pl.col("open_ts")).dt.total_nanoseconds()
    pos = (pl.col("ts") - pl.col("open_ts")).dt.total_nanoseconds() / length
    t = (
        trades.join(sessions, on="date")
        .filter(pl.col("ts") >= pl.col("open_ts"), pl.col("ts") <= pl.col("close_ts"))
        .with_columns((pos * bins).floor().clip(0, bins - 1).cast(pl.Int32).alias("bin"))
    )
    per_day = t.group_by("symbol", "date", "bin").agg(pl.col("size").sum().alias("volume"))
    per_day = per_day.with_columns(
        (pl.col("volume") / pl.col("volume").sum().over("symbol", "date")).alias("share")
    ).filter(pl.col("share").is_finite())
    days = per_day.group_by("symbol").agg(pl.col("date").n_unique().alias("days"))
    grid = days.join(pl.DataFrame({"bin": pl.int_range(0, bins, eager=True).cast(pl.Int32)}), how="cross")
    summed = per_day.group_by("symbol", "bin").agg(pl.col("share").sort().sum())
    return (
        grid.join(summed, on=["symbol", "bin"], how="left")
        .with_columns((pl.col("share").fill_null(0.0) / pl.col("days")).alias("volume_fraction"))
        .select("symbol", "bin", "volume_fraction", "days")
        .sort("symbol", "bin")
    )
