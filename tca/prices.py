"""Reference prices of post-trade analysis from quotes and trades, for many orders at once.

Every function joins *as of* a time by symbol, so the cost is a sort and a merge, not a scan of the market
per order. Quotes need ``symbol, ts, bid, ask``; trades ``symbol, ts, price, size``.

The market side is prepared once (sorted by symbol and time, as lake files already are) and numbered
(:mod:`calibration.asof`): an as-of join by symbol is then one merge on an integer key.

A quote prevails only inside its own session (:func:`calibration.sessions.quote_prevails`): an event after the close
or before its session's first quote (an order arriving before the open, an opening fill) has no mid, never
the previous session's closing one; and among quotes tied on one time, the last in row order (the file's)
is the state in force.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from calibration.asof import asof_by_symbol, numbered
from calibration.ordering import in_time_runs
from calibration.sessions import quote_prevails, session_of
from calibration.signs import prevailing_quotes
from kappa.clock import Clock


def prepared_quotes(quotes: pl.DataFrame) -> pl.DataFrame:
    """Quotes as the functions here use them (sorted, numbered, with mid and half spread): prepare once,
    join many times."""
    if "_mid" in quotes.columns:
        return quotes
    return prevailing_quotes(quotes).rename({"mid": "_mid", "half_spread": "_half"})


def reachable_quotes(quotes: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """The prepared quotes that a look-up of this module at an instant of ``events`` can reach, renumbered.

    Parameters
    ----------
    quotes
        Quotes (prepared or not, :func:`prepared_quotes`).
    events
        ``symbol, ts``: every instant at which the quotes will be looked up (nulls ignored).

    Returns
    -------
    polars.DataFrame
        Prepared quotes: of each symbol with events, with lo and hi its first and last instant, the rows
        from the last one strictly before lo (in row order: of quotes tied on its time, the one in force)
        to the first time at or after hi (every quote tied on it); a symbol without events has none. The
        numbering (``_code``, ``_key``) is the kept rows' own.

    Notes
    -----
    Every look-up here at an instant t of [lo, hi] lands on a kept row and gives what it gives on the whole
    tape: the quote in force at or before t (:func:`quote_at`, strict or not: the last row of a tie, at or
    after the last row before lo), the first time at or after t and the quote in force then
    (:func:`opening_quote`: at or before the first time at or after hi, with all its ties). Only sums
    that run from a symbol's first row change: :func:`time_weighted_mid`'s integral starts at the first
    kept quote instead, which leaves I(end) − I(start) the same but for the rounding of the sum (one part
    in 10¹² or less). The point is speed: a batch's orders span a fraction of the day (medium benchmark:
    40 % of their names' quotes; large: less), and each look-up, the quotes' numbering and the TWAP's
    trading time are work per row.
    """
    prepared = "_mid" in quotes.columns
    ts = "_qts" if prepared else "ts"
    if not quotes.height:
        return prepared_quotes(quotes)
    frame, starts = in_time_runs(quotes, ["symbol"], ts)  # the lake's order as read; else sorted, stably
    n = frame.height
    runs = pl.DataFrame(
        {"symbol": frame["symbol"].gather(starts), "_a": starts, "_b": np.append(starts[1:], n)}
    )
    bounds = (
        events.select("symbol", pl.col("ts").cast(pl.Datetime("ns")).dt.epoch("ns").alias("_t"))
        .drop_nulls()
        .group_by("symbol")
        .agg(pl.col("_t").min().alias("_lo"), pl.col("_t").max().alias("_hi"))
        .join(runs, on="symbol")
    )
    t = frame[ts].cast(pl.Datetime("ns")).dt.epoch("ns").to_numpy()
    keep = np.zeros(n + 1, dtype=np.int64)  # +1 at each start, −1 at each stop: kept where the sum is > 0
    for lo, hi, a, b in bounds.select("_lo", "_hi", "_a", "_b").iter_rows():
        run = t[a:b]
        start = max(int(np.searchsorted(run, lo, side="left")) - 1, 0)  # the last row strictly before lo
        after = int(np.searchsorted(run, hi, side="left"))  # the first row at or after hi
        stop = int(np.searchsorted(run, run[after], side="right")) if after < run.size else run.size
        keep[a + start] += 1
        keep[a + stop] -= 1
    kept = frame.filter(pl.Series(np.cumsum(keep[:n]) > 0))
    return numbered(kept.drop("_code", "_key"), "_qts") if prepared else prepared_quotes(kept)


def quote_at(
    events: pl.DataFrame,
    quotes: pl.DataFrame,
    at: str,
    prefix: str,
    sessions: pl.DataFrame,
    *,
    strict: bool = False,
) -> pl.DataFrame:
    """``events`` with ``{prefix}_mid`` and ``{prefix}_half_spread`` of the quote prevailing at column ``at``.

    ``strict`` takes the last quote strictly before (a fill's own quote update comes after it); otherwise
    a quote at the same instant counts. ``sessions`` (``open_ts, close_ts``) bound where a quote prevails:
    null where no quote of the event's own session precedes it (see the module's docstring).
    """
    q = prepared_quotes(quotes)
    cols = {"_mid": f"{prefix}_mid", "_half": f"{prefix}_half_spread", "_qts": "_quote_ts"}
    out = asof_by_symbol(events, q, at, "_qts", cols, strict=strict)
    same = quote_prevails(out["_quote_ts"], out[at], sessions)
    return out.with_columns(
        pl.when(same).then(pl.col(c)).alias(c) for c in (f"{prefix}_mid", f"{prefix}_half_spread")
    ).drop("_quote_ts")


def opening_quote(
    events: pl.DataFrame, quotes: pl.DataFrame, at: str, prefix: str, sessions: pl.DataFrame
) -> pl.DataFrame:
    """``events`` with ``{prefix}_mid`` of the first quote at or after column ``at`` in the session that holds
    ``at``, or, for a time between sessions (before an open), in the next session; null where that session
    has none. For an event with no prevailing quote of its own (an order that arrived before the open, or
    at the open before the first quote): the first mid it could have traded against (of quotes tied on that
    first time, the last)."""
    q = prepared_quotes(quotes)
    j = events.sort("symbol", at).join_asof(
        q.select("symbol", "_qts"), left_on=at, right_on="_qts", by="symbol", strategy="forward",
        check_sortedness=False,
    )  # fmt: skip
    s = sessions.sort("open_ts")
    closes = s["close_ts"].cast(pl.Datetime("ns")).dt.epoch("ns").to_numpy()
    t = j[at].cast(pl.Datetime("ns")).dt.epoch("ns")
    upcoming = np.searchsorted(closes, t.fill_null(0).to_numpy(), side="left")  # the first close ≥ at
    held = session_of(j["_qts"], s) == pl.Series(upcoming, dtype=pl.Int64)
    same = held.fill_null(False) & t.is_not_null()
    first = j.with_columns(pl.when(same).then(pl.col("_qts")).alias("_first_qts")).drop("_qts")
    return quote_at(first, q, "_first_qts", prefix, sessions).drop("_first_qts")


def session_end(events: pl.DataFrame, at: str, sessions: pl.DataFrame, name: str) -> pl.DataFrame:
    """``events`` with ``name`` = ``at``, or the close of the last session opened at or before it where
    ``at`` falls after that close (in the night, or beyond the ``sessions`` given): the time whose
    prevailing quote is the market's last state at ``at``. Null before the first session."""
    s = sessions.sort("open_ts")
    opens = s["open_ts"].cast(pl.Datetime("ns")).dt.epoch("ns").to_numpy()
    closes = s["close_ts"].cast(pl.Datetime("ns"))
    t = events[at].cast(pl.Datetime("ns"))
    k = pl.Series(np.searchsorted(opens, t.dt.epoch("ns").fill_null(0).to_numpy(), side="right") - 1)
    last_close = closes.gather(k.clip(0)) if closes.len() else t.clear().extend_constant(None, t.len())
    bounded = pl.select(
        pl.when(k >= 0).then(pl.min_horizontal(t, last_close)).cast(pl.Datetime("ns"))
    ).to_series()
    return events.with_columns(bounded.alias(name))


def _within_symbol(values: dict[str, pl.Expr]) -> list[pl.Expr]:
    """Cumulative sums restarting at each symbol of a frame numbered by :func:`numbered`."""
    return [v.cum_sum().over("_code").alias(k) for k, v in values.items()]


def prepared_trades(trades: pl.DataFrame) -> pl.DataFrame:
    """Trades with cumulative volume and notional per symbol: prepare once, join many times."""
    if "_v" in trades.columns:
        return trades
    t = numbered(trades.select("symbol", pl.col("ts").alias("_ts"), "price", "size"), "_ts")
    return t.with_columns(_within_symbol({"_v": pl.col("size"), "_pv": pl.col("price") * pl.col("size")}))


def _asof_sum(
    events: pl.DataFrame, cum: pl.DataFrame, at: str, cols: list[str], suffix: str, *, strict: bool
) -> pl.DataFrame:
    out = asof_by_symbol(events, cum, at, "_ts", {c: c + suffix for c in cols}, strict=strict)
    return out.with_columns(pl.col(c + suffix).fill_null(0.0) for c in cols)


def market_vwap(
    events: pl.DataFrame, trades: pl.DataFrame, start: str, end: str, prefix: str
) -> pl.DataFrame:
    """``{prefix}_volume`` (shares) and ``{prefix}_vwap`` ($) of the market's trades with start ≤ ts ≤ end.

    From cumulative volume and notional per symbol: V(end, inclusive) − V(start, exclusive); the VWAP is
    null where no trade printed in the window.
    """
    cum = prepared_trades(trades)
    out = _asof_sum(events, cum, start, ["_v", "_pv"], "_a", strict=True)
    out = _asof_sum(out, cum, end, ["_v", "_pv"], "_b", strict=False)
    vol = pl.col("_v_b") - pl.col("_v_a")
    return out.with_columns(
        vol.alias(f"{prefix}_volume"),
        pl.when(vol > 0).then((pl.col("_pv_b") - pl.col("_pv_a")) / vol).alias(f"{prefix}_vwap"),
    ).drop("_v_a", "_pv_a", "_v_b", "_pv_b")


def time_weighted_mid(
    events: pl.DataFrame, quotes: pl.DataFrame, start: str, end: str, name: str, clock: Clock
) -> pl.DataFrame:
    """``name``: the mean of the mid over [start, end] weighted by trading time (the mid is a step function
    of quotes).

    With I(t) = ∫ mid dθ from the first quote, θ the trading time of ``clock`` (session time: a night, a
    weekend or a holiday weighs nothing, so a closing mid is not held for the night's 17.5 hours),
    I(t) = I(t_i) + mid_i·(θ(t) − θ(t_i)) for the last quote t_i ≤ t, and the mean is
    (I(end) − I(start)) / (θ(end) − θ(start)). Null before the first quote or for a window without
    session time.
    """
    q = prepared_quotes(quotes)
    following = pl.when(pl.col("_code") == pl.col("_code").shift(-1)).then(pl.col("_qts").shift(-1))
    days = clock.elapsed_days(pl.col("_qts"), following).fill_null(0.0)
    q = q.with_columns(_within_symbol({"_after": pl.col("_mid") * days}))
    q = q.with_columns((pl.col("_after") - pl.col("_mid") * days).alias("_cum"))

    def integral(frame: pl.DataFrame, at: str, tag: str) -> pl.DataFrame:
        cols = {"_qts": f"_qts{tag}", "_mid": f"_mid{tag}", "_cum": f"_cum{tag}"}
        j = asof_by_symbol(frame, q, at, "_qts", cols, strict=False)
        elapsed = clock.elapsed_days(pl.col(f"_qts{tag}"), pl.col(at))
        return j.with_columns(
            (pl.col(f"_cum{tag}") + pl.col(f"_mid{tag}") * elapsed).alias(f"_int{tag}")
        ).drop(f"_qts{tag}", f"_mid{tag}", f"_cum{tag}")

    out = integral(integral(events, start, "a"), end, "b")
    length = clock.elapsed_days(pl.col(start), pl.col(end))
    return out.with_columns(
        pl.when(length > 0).then((pl.col("_intb") - pl.col("_inta")) / length).alias(name)
    ).drop("_inta", "_intb")
