"""Five-minute buckets of the regular session: the mid at each bucket's end and the signed volume in it.

Bucket k of a session covers (open + (k−1)·Δ, open + k·Δ] with Δ = 5 minutes; boundary 0 is the open.
The mid at a boundary is that of the last quote at or before it, so a bucket without a quote carries the
previous mid forward; a boundary before the day's first quote takes that first quote's mid.

A symbol-day's mid is observed only over its quoted span, from its first quote to its last (within the
session). A bucket outside that span (before the first quote, after the last) is not an observation: its
return is zero by construction, not because the price stood still. The estimators count only the buckets
``observed`` marks, and scale a day's variance by the span's length, not the session's.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from calibration.ordering import in_time_runs
from kappa.units import BUCKET_NS, BUCKETS_PER_SESSION, SESSION_SECONDS


def _bucket(ts: pl.Expr, open_ts: pl.Expr) -> pl.Expr:
    """Index k of the bucket (open + (k−1)Δ, open + kΔ] holding ``ts``; 0 at or before the open."""
    offset = (ts - open_ts).dt.total_nanoseconds()
    return pl.when(offset <= 0).then(0).otherwise((offset + BUCKET_NS - 1) // BUCKET_NS).cast(pl.Int32)


def bucket_mids(quotes: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """Mid at every 5-minute boundary of every session a symbol quoted in, and what each bucket observed.

    Parameters
    ----------
    quotes
        ``symbol, date, ts, bid, ask`` (session date; ts UTC ns).
    sessions
        ``date, open_ts, close_ts``.

    Returns
    -------
    polars.DataFrame
        ``symbol, date, bucket, day_fraction, mid, n_quotes, observed, span_days`` sorted by symbol, date,
        bucket, for bucket = 0..K with K = ceil(session length / 5 min):

        - ``day_fraction``: the session's length in trading days (an early close is < 1);
        - ``mid`` = (bid + ask) / 2 in USD at the boundary;
        - ``n_quotes``: quotes in the bucket that ends at the boundary, (b_{k−1}, b_k] (at boundary 0:
          quotes at or before the open);
        - ``observed``: the bucket ending at b_k (k ≥ 1) overlaps the symbol-day's quoted span, i.e. the
          day's first quote is before b_k and its last quote after b_{k−1}; false at k = 0;
        - ``span_days``: the quoted span's length in trading days, (min(last quote, close) − max(first
          quote, open)) / 6.5 h, the same on every row of the symbol-day (= ``day_fraction`` for a day
          quoted from the open to the close).

    Notes
    -----
    The mid at boundary b_k = open + kΔ is that of the last quote with ts ≤ b_k; of quotes that tie on
    that time, the last in row order (the book after every update of that instant, as the prevailing
    quote of :func:`calibration.signs.prevailing_mid` and ``tca.prices``). Before a symbol-day's first
    quote, a boundary takes the first quote time's mid, so the first observed bucket's change runs from
    the first quote to the bucket's end; a symbol-day quoted only after its last boundary has null mids
    and no observed bucket. Quotes of a date that is no session are left out.

    Lake rows come grouped by (symbol, date) and in time order (see
    :func:`calibration.ordering.in_time_runs`), so each boundary's quote is found by binary search in its
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
                pl.col("close_ts").dt.epoch("ns").alias("close_ns"),
                ((length_ns + BUCKET_NS - 1) // BUCKET_NS + 1).alias("boundaries"),
                (length_ns / 1e9 / SESSION_SECONDS).alias("day_fraction"),
            ),
            on="date",
            how="inner",  # a date that is no session of the window
        )
        .sort("symbol", "date")
    )
    ts = x["ts"].dt.epoch("ns").to_numpy()
    picks, counts, seen, spans = [], [], [], []
    rows = days.select("start", "end", "open_ns", "close_ns", "boundaries").iter_rows()
    for a, b, open_ns, close_ns, k in rows:
        pick, count, observed, span = _symbol_day_boundaries(ts, a, b, open_ns, close_ns, k)
        picks.append(pick)
        counts.append(count)
        seen.append(observed)
        spans.append(span)

    def joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    pick = joined(picks, np.int64)
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
        .with_columns(
            mid.alias("mid"),
            pl.Series("n_quotes", joined(counts, np.int64), dtype=pl.Int64),
            pl.Series("observed", joined(seen, np.bool_), dtype=pl.Boolean),
            pl.Series("span_days", joined(spans, np.float64), dtype=pl.Float64),
        )
    )


def _symbol_day_boundaries(
    ts: np.ndarray, a: int, b: int, open_ns: int, close_ns: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For one symbol-day, the quotes ``ts[a:b]`` (ns, sorted), and its session's ``k`` boundaries: the row
    of ``ts`` of each boundary's quote (all −1 if no quote is at or before any boundary), the quotes of
    each bucket, whether each bucket is observed, and the quoted span in trading days (see
    :func:`bucket_mids`)."""
    day = ts[a:b]
    bounds = open_ns + BUCKET_NS * np.arange(k, dtype=np.int64)
    last = np.searchsorted(day, bounds, side="right") - 1
    counts = np.diff(last, prepend=-1)
    closing = int(np.searchsorted(day, close_ns, side="right"))  # quotes at or before the close
    first_ns = max(int(day[0]), open_ns)
    last_ns = int(day[closing - 1]) if closing else open_ns - 1  # none in the session: no span
    starts_before = np.concatenate(([last_ns], bounds[:-1]))  # bucket 0 is no bucket: never observed
    seen = (first_ns < bounds) & (last_ns > starts_before)
    span = np.full(k, max(last_ns - first_ns, 0) / 1e9 / SESSION_SECONDS)
    quoted = last >= 0
    if not quoted.any():
        return np.full(k, -1, dtype=np.int64), counts, seen, span
    last[~quoted] = 0  # before the first quote: the first quote
    pick = a + np.searchsorted(day, day[last], side="right") - 1  # the last of quotes tied in time
    return pick, counts, seen, span


def bucket_returns(mids: pl.DataFrame) -> pl.DataFrame:
    """Per bucket k ≥ 1: ``dmid_usd`` = mid_k − mid_{k−1} and ``log_return`` = ln(mid_k / mid_{k−1}).

    Every bucket is kept, with the columns of :func:`bucket_mids`; only those with ``observed`` are
    observations (see the module's docstring).
    """
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


def impact_buckets(
    mids: pl.DataFrame,
    signed_trades: pl.DataFrame,
    sessions: pl.DataFrame,
    volume: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The data of the γ regression: the observed buckets in which something happened.

    Bucket returns (:func:`bucket_returns`) joined to net signed volume (0 where no trade), keeping the
    buckets that are ``observed`` (inside the symbol-day's quoted span) and hold a quote update or a trade.
    A bucket in which nothing happened carries its mid forward (Δmid = 0) with no volume (Q = 0): it says
    nothing about the price's response to flow, and counting it would shrink γ's standard error with
    observations that were never made (a market quoted four minutes a day would give hundreds of them).
    ``volume`` is :func:`signed_volume_by_bucket` of the trades where the caller has it already.
    """
    vol = signed_volume_by_bucket(signed_trades, sessions) if volume is None else volume
    return (
        bucket_returns(mids)
        .join(vol, on=["symbol", "date", "bucket"], how="left")
        .with_columns(pl.col("net_signed_shares").fill_null(0.0), pl.col("n_trades").fill_null(0))
        .filter(pl.col("observed") & ((pl.col("n_quotes") > 0) | (pl.col("n_trades") > 0)))
    )


def intraday_volume_profile(
    trades: pl.DataFrame, sessions: pl.DataFrame, bins: int = BUCKETS_PER_SESSION
) -> pl.DataFrame:
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
