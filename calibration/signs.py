"""Trade signs by the Lee-Ready algorithm.

Lee & Ready (1991), "Inferring Trade Direction from Intraday Data", J. Finance 46(2): a trade above the
prevailing mid is a buy (+1), below it a sell (−1); a trade at the mid takes the sign of the last price
change (tick rule). The prevailing quote is the last one strictly before the trade (no delay is applied:
modern feeds time-stamp quotes and trades on one clock).
"""

from __future__ import annotations

import polars as pl

from calibration import sorted_by_symbol_time


def prevailing_mid(events: pl.DataFrame, quotes: pl.DataFrame) -> pl.DataFrame:
    """``events`` (symbol, ts, ...) with ``mid`` and ``half_spread`` of the last quote strictly before ``ts``.

    Events with no earlier quote get nulls. Both frames need ``symbol`` and ``ts``; quotes need ``bid``, ``ask``.
    """
    q = sorted_by_symbol_time(
        quotes.select(
            "symbol",
            "ts",
            ((pl.col("bid") + pl.col("ask")) / 2).alias("mid"),
            ((pl.col("ask") - pl.col("bid")) / 2).alias("half_spread"),
        )
    )
    return sorted_by_symbol_time(events).join_asof(
        q, on="ts", by="symbol", strategy="backward", allow_exact_matches=False, check_sortedness=False
    )


def lee_ready_signs(trades: pl.DataFrame, quotes: pl.DataFrame) -> pl.DataFrame:
    """Trades with ``mid`` (prevailing) and ``sign`` (+1 buy, −1 sell, null if undeterminable).

    Parameters
    ----------
    trades
        ``symbol, ts, price, size`` (and any other columns, kept).
    quotes
        ``symbol, ts, bid, ask``.

    Notes
    -----
    Quote rule: sign = sgn(price − mid). Tick rule, where price = mid or no quote prevails: the sign of the
    last non-zero price change of the same symbol (Lee & Ready 1991, section III). A trade with neither
    gets a null sign and does not count in signed volume.
    """
    t = prevailing_mid(trades, quotes)  # sorted by symbol and time: each symbol is one run of rows
    run = (pl.col("symbol") != pl.col("symbol").shift(1)).fill_null(True).cum_sum()
    change = pl.when(run == run.shift(1)).then(pl.col("price") - pl.col("price").shift(1))
    tick = pl.when(change > 0).then(1).when(change < 0).then(-1).otherwise(None).cast(pl.Int8)
    # the last tick of the same symbol: fill forward, and forget a tick carried over from another symbol
    last_tick = pl.when(pl.col("_tick_run").forward_fill() == pl.col("_run")).then(
        pl.col("_tick").forward_fill()
    )
    quote = (
        pl.when(pl.col("price") > pl.col("mid"))
        .then(1)
        .when(pl.col("price") < pl.col("mid"))
        .then(-1)
        .otherwise(None)
    ).cast(pl.Int8)
    return (
        t.with_columns(run.alias("_run"), tick.alias("_tick"))
        .with_columns(pl.when(pl.col("_tick").is_not_null()).then(pl.col("_run")).alias("_tick_run"))
        .with_columns(pl.coalesce(quote, last_tick).alias("sign"))
        .drop("_run", "_tick", "_tick_run")
    )
