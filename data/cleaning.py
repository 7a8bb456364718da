"""Tape cleaning: quotes and prints that are valid records of the tape but not prices of the market.

Rows that break these rules are not quarantined: they stay in the lake with the rule in their ``flag``
column, and every reader of market data for the models (:func:`data.step_inputs.scan_market`) and the daily
facts leave them out. Rules after Barndorff-Nielsen, Hansen, Lunde & Shephard (2009), "Realized kernels in
practice: trades and quotes", *Econometrics Journal* 12, C1-C32, section 3.1 (their rules Q3, Q4, T3, T4),
applied per symbol and session date:

``wide_spread`` (Q3)
    A quote whose spread ``ask - bid`` is more than 50 times the day's median spread of the symbol (the
    median over its quotes with a positive spread; none: the rule does not apply).
``mid_jump`` (our form of Q4)
    A quote that ``wide_spread`` kept whose mid ``m = (bid + ask) / 2`` lies more than 10 × max(S, D) away
    from the mids of both its neighbours (the previous and the next quote of the symbol that
    ``wide_spread`` kept), on the same side of both: a spike out and back, which a real move is not (after
    one, the next quote stays at the new level). S is the day's median spread; D the day's median absolute
    deviation of the mids from their median (over the quotes ``wide_spread`` kept; robust, as BNHLS's
    absolute-deviation scale is meant to be), which keeps a thinly quoted name whose mid wanders between
    sparse quotes from being flagged. BNHLS's Q4
    compares the mid with a centred rolling median of 50 quotes; this form needs no window (one pass) and
    catches the isolated bad quote that Q4 is there for. The first and last quote of a day have one
    neighbour and are never flagged by it.
``condition`` (T3)
    A trade whose ``conditions`` hold a CTA/UTP sale-condition code of a print that is not a regular trade
    at the market's price of its time (:data:`IRREGULAR_CONDITIONS`). BNHLS keep only blank, ``E`` and
    ``F``; odd lots (``I``) are kept here, as they have been regular trades on the consolidated tape since
    2013 (BNHLS's data predate it).
``outside_quote`` (T4)
    A trade priced above ``ask + spread`` or below ``bid - spread`` of the prevailing quote: the last quote
    of the symbol at or before the trade (of several at one instant, the last: the state in force at that
    instant), of the same session, that the quote rules kept. A sweep's prints and the book updates they
    cause share a timestamp; judged against the quote before the sweep, its deeper prints lie beyond
    ``ask + spread`` whenever the spread is one tick (on LOBSTER's AMZN and GOOG samples, 54 of 23,097
    prints against 13). A trade before the day's first such quote has no reference and is not flagged.

A row breaks the first rule that applies, in the order above; quotes are flagged from quotes alone, trades
from their conditions and the day's flagged quotes.
"""

from __future__ import annotations

import numpy as np
import polars as pl

SPREAD_MULTIPLE = 50.0
"""Q3: a quote's spread above this multiple of the day's median spread is flagged."""
MID_JUMP_SPREADS = 10.0
"""Q4 (our form): a mid this many times max(median spread, median absolute deviation of the mids) away from
both neighbours' mids is flagged."""

WIDE_SPREAD = "wide_spread"
MID_JUMP = "mid_jump"
CONDITION = "condition"
OUTSIDE_QUOTE = "outside_quote"
QUOTE_RULES = (WIDE_SPREAD, MID_JUMP)
TRADE_RULES = (CONDITION, OUTSIDE_QUOTE)

IRREGULAR_CONDITIONS: dict[str, str] = {
    "B": "average price trade (CTA)",
    "W": "average price trade (UTP)",
    "C": "cash sale",
    "N": "next day",
    "R": "seller",
    "G": "bunched sold trade (late)",
    "L": "sold last (late)",
    "Z": "sold, out of sequence",
    "U": "extended hours, sold out of sequence",
    "T": "Form T (extended hours)",
    "H": "price variation trade",
    "P": "prior reference price",
    "4": "derivatively priced",
    "V": "contingent trade",
    "7": "qualified contingent trade",
    "M": "market center official close",
    "Q": "market center official open",
    "9": "corrected consolidated close",
    "8": "placeholder for 611 exempt",
}
"""CTA/UTP sale-condition codes of prints that are not a regular trade at the market of their time (NYSE
Daily TAQ Client Specification, "Sale Condition"). A ``conditions`` value is read one character a code
(``"@ FT"``, ``"F,Z"``); blanks, ``@``, commas and unknown codes mark nothing."""


def quote_flags(quotes: pl.DataFrame) -> pl.Series:
    """The cleaning rule each quote breaks (``wide_spread``, ``mid_jump``), or null.

    Parameters
    ----------
    quotes
        One session date's quotes with ``symbol, bid, ask`` ($/share), each symbol's quotes together and in
        event order (the lake's order: by symbol, then time).

    Returns
    -------
    pl.Series
        ``flag`` (String), aligned with ``quotes``.

    Notes
    -----
    Barndorff-Nielsen, Hansen, Lunde & Shephard (2009), section 3.1, rule Q3 (spread over 50 times the
    day's median), and the spike form of Q4 of this module's docstring; the median spread is the symbol's
    over the frame, so pass one session date (the lake's partition).
    """
    frame = quotes.select(
        pl.col("symbol").rle_id().alias("_g"),  # the symbol's run of rows: 0, 1, 2, ...
        (pl.col("ask") - pl.col("bid")).alias("_spread"),
        ((pl.col("bid") + pl.col("ask")) / 2).alias("_mid"),
    )
    groups = int(frame["_g"][-1]) + 1 if frame.height else 0
    median = frame.filter(pl.col("_spread") > 0).group_by("_g").agg(pl.col("_spread").median().alias("_med"))
    frame = frame.with_columns(_per_run(median, groups, frame["_g"])).with_columns(
        (pl.col("_spread") > SPREAD_MULTIPLE * pl.col("_med")).fill_null(False).alias("_wide")
    )
    frame = frame.with_row_index("_i")
    kept = frame.filter(~pl.col("_wide"))
    mid = pl.col("_mid")
    deviation = kept.group_by("_g").agg((mid - mid.median()).abs().median().alias("_dev"))
    kept = kept.with_columns(_per_run(deviation, groups, kept["_g"]))
    g = pl.col("_g")
    limit = MID_JUMP_SPREADS * pl.max_horizontal(pl.col("_med").fill_null(0.0), pl.col("_dev"))
    up = pl.when(g == g.shift(1)).then(mid - mid.shift(1))
    down = pl.when(g == g.shift(-1)).then(mid - mid.shift(-1))
    jump = ((up.abs() > limit) & (down.abs() > limit) & (up.sign() == down.sign())).fill_null(False)
    jumped = kept.filter(jump)["_i"]
    return frame.select(
        pl.when(pl.col("_wide"))
        .then(pl.lit(WIDE_SPREAD))
        .when(pl.col("_i").is_in(jumped.implode()))
        .then(pl.lit(MID_JUMP))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("flag")
    )["flag"]


def _per_run(values: pl.DataFrame, runs: int, run: pl.Series) -> pl.Series:
    """The value of each row's run (``values``: ``_g`` and one value per run, runs without a value left out;
    theirs is null), aligned with ``run``: an index into the runs, not a join."""
    _, name = values.columns
    column = pl.repeat(None, runs, dtype=values[name].dtype, eager=True).scatter(values["_g"], values[name])
    return column.gather(run).alias(name)


def _prevailing(trades: pl.DataFrame, quotes: pl.DataFrame) -> pl.DataFrame:
    """``bid, ask`` of each trade's prevailing quote (null where it has none), aligned with ``trades``.

    A backward as-of join by symbol of ``trades`` (``symbol, ts``) on ``quotes`` (``symbol, _qts, bid,
    ask``, at most one per symbol and time), both sorted by symbol, then time. Each row's symbol becomes its
    index among the symbols of both (sorted), and (index, nanoseconds since the earliest time) one integer
    key, increasing along both frames: the prevailing quote is the last quote key at or before the trade's
    (a binary search), if it is of the trade's symbol. Comparing integers instead of hashing the symbol
    strings of every row takes a fraction of the CPU of polars' ``join_asof(by=...)`` (one hash per row of
    each side), which does it where the keys do not fit 63 bits or the quotes are not in that order.
    """
    t_id, q_id = _symbol_index(trades["symbol"], quotes["symbol"])
    t_ns = trades["ts"].dt.cast_time_unit("ns").cast(pl.Int64).to_numpy()
    q_ns = quotes["_qts"].dt.cast_time_unit("ns").cast(pl.Int64).to_numpy()
    keys = None
    nulls = any(
        f[c].has_nulls() for f, cs in ((trades, ("symbol", "ts")), (quotes, ("symbol", "_qts"))) for c in cs
    )
    if t_ns.size and q_ns.size and not nulls:
        base = min(int(t_ns.min()), int(q_ns.min()))
        bits = (max(int(t_ns.max()), int(q_ns.max())) - base).bit_length()
        if bits + (int(max(t_id.max(), q_id.max())) + 1).bit_length() <= 62:
            t_key, q_key = (t_id << bits) | (t_ns - base), (q_id << bits) | (q_ns - base)
            keys = (t_key, q_key) if bool(np.all(q_key[1:] > q_key[:-1])) else None
    if keys is None:
        if t_ns.size and q_ns.size:
            return trades.join_asof(quotes, left_on="ts", right_on="_qts", by="symbol", strategy="backward",
                                    check_sortedness=False).select("bid", "ask")  # fmt: skip
        return pl.DataFrame({"bid": pl.repeat(None, trades.height, dtype=pl.Float64, eager=True),
                             "ask": pl.repeat(None, trades.height, dtype=pl.Float64, eager=True)})  # fmt: skip
    t_key, q_key = keys
    at = np.searchsorted(q_key, t_key, side="right") - 1
    found = at >= 0
    found[found] = q_id[at[found]] == t_id[found]
    index = pl.Series(np.where(found, at, 0)).set(pl.Series(~found), None)
    return quotes.select(pl.col("bid", "ask").gather(index))


def _symbol_index(*symbols: pl.Series) -> tuple[np.ndarray, ...]:
    """Each row's symbol as its index among the symbols of every series (sorted); each series sorted by
    symbol, read as runs (a few per thousand rows), not row by row."""
    runs = [s.rle().struct.unnest() for s in symbols]
    names = pl.concat([r["value"] for r in runs]).unique().sort().to_list()
    index = {name: i for i, name in enumerate(names)}
    return tuple(
        np.repeat(np.array([index[v] for v in r["value"].to_list()], dtype=np.int64), r["len"].to_numpy())
        for r in runs
    )


def irregular_condition(conditions: pl.Expr) -> pl.Expr:
    """Whether a ``conditions`` value holds a code of :data:`IRREGULAR_CONDITIONS` (False for null)."""
    codes = "".join(IRREGULAR_CONDITIONS)
    return conditions.str.contains(f"[{codes}]").fill_null(False)


def trade_flags(trades: pl.DataFrame, quotes: pl.DataFrame) -> pl.Series:
    """The cleaning rule each trade breaks (``condition``, ``outside_quote``), or null.

    Parameters
    ----------
    trades
        One session date's trades with ``symbol, ts, price`` ($/share) and ``conditions`` (String, may be
        null), sorted by symbol, then time.
    quotes
        The same date's quotes with ``symbol, ts, bid, ask`` and their ``flag`` (from :func:`quote_flags`),
        sorted by symbol, then time (within a time, in event order).

    Returns
    -------
    pl.Series
        ``flag`` (String), aligned with ``trades``.

    Notes
    -----
    Barndorff-Nielsen, Hansen, Lunde & Shephard (2009), section 3.1, rules T3 (sale condition) and T4
    (price outside [bid − spread, ask + spread] of the prevailing quote). The prevailing quote is the last
    unflagged quote at or before the trade (of several at one time, the last in event order).
    """
    symbol, qts = pl.col("symbol"), pl.col("_qts")
    last = ~((symbol == symbol.shift(-1)) & (qts == qts.shift(-1))).fill_null(False)  # of a symbol's instant
    clean = (
        quotes.filter(pl.col("flag").is_null())
        .select("symbol", pl.col("ts").alias("_qts"), "bid", "ask")
        .filter(last)
    )
    t = trades.select("symbol", "ts", "price", "conditions")
    joined = t.with_columns(_prevailing(t, clean))
    spread = pl.col("ask") - pl.col("bid")
    outside = (
        (pl.col("price") > pl.col("ask") + spread) | (pl.col("price") < pl.col("bid") - spread)
    ).fill_null(False)
    return joined.select(
        pl.when(irregular_condition(pl.col("conditions")))
        .then(pl.lit(CONDITION))
        .when(outside)
        .then(pl.lit(OUTSIDE_QUOTE))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("flag"),
    )["flag"]
