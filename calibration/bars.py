"""Five-minute buckets of the regular session: the mid at each bucket's end and the signed volume in it.

Bucket k of a session covers (open + (k−1)·Δ, open + k·Δ] with Δ = 5 minutes; boundary 0 is the open.
The mid at a boundary is that of the last quote at or before it, so a bucket without a quote carries the
previous mid forward; a boundary before the day's first quote takes the first boundary mid there is.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from calibration import SESSION_SECONDS, in_time_runs

BUCKET_NS = 5 * 60 * 1_000_000_000


def _bucket(ts: pl.Expr, open_ts: pl.Expr) -> pl.Expr:
    """Index k of the bucket (open + (k−1)Δ, open + kΔ] holding ``ts``; 0 at or before the open."""
    offset = (ts - open_ts).dt.total_nanoseconds()
    return pl.when(offset <= 0).then(0).otherwise((offset + BUCKET_NS - 1) // BUCKET_NS).cast(pl.Int32)


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
        ``symbol, date, bucket, day_fraction, mid`` sorted by symbol, date, bucket, for bucket = 0..K with
        K = ceil(session length / 5 min); ``day_fraction`` is the session's length in trading days (an early
        close is < 1), ``mid`` = (bid + ask) / 2 in USD.

    Notes
    -----
    The mid at boundary b_k = open + kΔ is that of the last quote with ts ≤ b_k; of quotes that tie on
    that time, the first in row order. Before a symbol-day's first quote, a boundary takes the mid of the
    first boundary that has one; a symbol-day quoted only after its last boundary has null mids. Quotes of
    a date that is no session are left out.

    Lake rows come grouped by (symbol, date) and in time order (see
    :func:`calibration.in_time_runs`), so each boundary's quote is found by binary search in its
    symbol-day's rows, without grouping every quote; any other frame is first sorted stably, which keeps
    the tie rule.
    """
    x, starts = in_time_runs(quotes.select("symbol", "date", "ts", "bid", "ask"), ["symbol", "date"])
    length_ns = (pl.col("close_ts") - pl.col("open_ts")).dt.total_nanoseconds()
    days = (
        x.select("symbol", "date")
        .gather(starts)
        .with_columns(
            pl.Series("start", starts), pl.Series("end", np.append(starts[1:], x.height)[: starts.size])
        )
        .join(
            sessions.select(
                "date",
                pl.col("open_ts").dt.epoch("ns").alias("open_ns"),
                ((length_ns + BUCKET_NS - 1) // BUCKET_NS + 1).alias("boundaries"),
                (length_ns / 1e9 / SESSION_SECONDS).alias("day_fraction"),
            ),
            on="date",
            how="inner",  # a date that is no session of the window
        )
        .sort("symbol", "date")
    )
    ts = x["ts"].dt.epoch("ns").to_numpy()
    picks = []
    for a, b, open_ns, k in days.select("start", "end", "open_ns", "boundaries").iter_rows():
        day = ts[a:b]
        last = np.searchsorted(day, open_ns + BUCKET_NS * np.arange(k, dtype=np.int64), side="right") - 1
        quoted = last >= 0
        if not quoted.any():
            picks.append(np.full(k, -1, dtype=np.int64))
            continue
        last[~quoted] = last[quoted][0]  # before the first quote: the first boundary that has one
        picks.append(a + np.searchsorted(day, day[last], side="left"))  # the first of quotes tied in time
    pick = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
    at = pl.Series(np.maximum(pick, 0))
    mid = ((x["bid"].gather(at) + x["ask"].gather(at)) / 2).scatter(np.flatnonzero(pick < 0), None)
    return (
        days.select(
            "symbol",
            "date",
            pl.int_ranges(0, pl.col("boundaries"), dtype=pl.Int32).alias("bucket"),
            "day_fraction",
        )
        .explode("bucket")
        .with_columns(mid.alias("mid"))
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
