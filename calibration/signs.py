"""Trade signs by the Lee-Ready algorithm.

Lee & Ready (1991), "Inferring Trade Direction from Intraday Data", J. Finance 46(2): a trade above the
prevailing mid is a buy (+1), below it a sell (−1); a trade at the mid takes the sign of the last price
change (tick rule). The prevailing quote is the last one strictly before the trade (no delay is applied:
modern feeds time-stamp quotes and trades on one clock), of the trade's own session: a quote never prevails
across a session boundary (:func:`calibration.sessions.quote_prevails`), so a print at the open before the session's
first quote takes the tick rule, and so does the tick rule itself look back no further than the session.
"""

from __future__ import annotations

import polars as pl

from calibration.asof import asof_by_symbol, numbered
from calibration.sessions import quote_prevails, session_of


def prevailing_quotes(quotes: pl.DataFrame) -> pl.DataFrame:
    """Quotes as :func:`prevailing_mid` looks them up: ``symbol, _qts, mid, half_spread``, sorted and
    numbered (:func:`calibration.asof.numbered`). Prepare once for many look-ups (the trades' signs, the
    fills' costs); quotes already prepared are returned as they are."""
    if "_key" in quotes.columns:
        return quotes
    return numbered(
        quotes.select(
            "symbol",
            pl.col("ts").alias("_qts"),
            ((pl.col("bid") + pl.col("ask")) / 2).alias("mid"),
            ((pl.col("ask") - pl.col("bid")) / 2).alias("half_spread"),
        ),
        "_qts",
    )


def prevailing_mid(events: pl.DataFrame, quotes: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """``events`` (symbol, ts, ...) with ``mid`` and ``half_spread`` of the last quote strictly before ``ts``
    in the same session, sorted by symbol and ``ts``.

    Parameters
    ----------
    events
        ``symbol, ts`` (UTC) and any other columns (kept).
    quotes
        ``symbol, ts, bid, ask``, or :func:`prevailing_quotes` of them; of quotes tied on one time, the last
        in row order is the state in force.
    sessions
        ``open_ts, close_ts`` of the sessions the quotes fall in.

    Returns
    -------
    polars.DataFrame
        ``events`` with ``mid`` = (bid + ask)/2 and ``half_spread`` = (ask − bid)/2 ($/share); both null where
        no quote of the event's session precedes it (see :func:`calibration.sessions.quote_prevails`).
    """
    cols = {"mid": "mid", "half_spread": "half_spread", "_qts": "_qts"}
    j = asof_by_symbol(events, prevailing_quotes(quotes), "ts", "_qts", cols, strict=True)  # one merge
    same = quote_prevails(j["_qts"], j["ts"], sessions)
    return j.with_columns(pl.when(same).then(pl.col(c)).alias(c) for c in ("mid", "half_spread")).drop("_qts")


AT_MID_RELATIVE = 1e-9
"""A print within this share of the mid from it is at the mid (the tick rule signs it): far below any tick
(a cent on a $10,000 share is 1e-6 of it), far above the rounding of (bid + ask)/2 (about 1e-16)."""


def lee_ready_signs(trades: pl.DataFrame, quotes: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """Trades with ``mid`` (prevailing) and ``sign`` (+1 buy, −1 sell, null if undeterminable).

    Parameters
    ----------
    trades
        ``symbol, ts, price, size`` (and any other columns, kept).
    quotes
        ``symbol, ts, bid, ask``, or :func:`prevailing_quotes` of them.
    sessions
        ``open_ts, close_ts`` of the sessions the trades and quotes fall in.

    Notes
    -----
    Quote rule: sign = sgn(price − mid) against the prevailing quote of the trade's session
    (:func:`prevailing_mid`). Tick rule, where price = mid or no quote of the session prevails (a print
    at the open, before the first quote): the sign of the last non-zero price change of the same symbol in
    the same session (Lee & Ready 1991, section III); the first prints of a session are not compared with
    the previous session's, whose difference is the night's move, not the trade's side. A trade with
    neither gets a null sign and does not count in signed volume.
    """
    t = prevailing_mid(trades, quotes, sessions)  # sorted by symbol and time: each symbol is one run of rows
    t = t.with_columns(session_of(t["ts"], sessions).alias("_session"))
    new_run = (pl.col("symbol") != pl.col("symbol").shift(1)) | pl.col("_session").ne_missing(
        pl.col("_session").shift(1)
    )
    run = new_run.fill_null(True).cum_sum()
    change = pl.when(run == run.shift(1)).then(pl.col("price") - pl.col("price").shift(1))
    tick = pl.when(change > 0).then(1).when(change < 0).then(-1).otherwise(None).cast(pl.Int8)
    # the last tick of the same symbol: fill forward, and forget a tick carried over from another symbol
    last_tick = pl.when(pl.col("_tick_run").forward_fill() == pl.col("_run")).then(
        pl.col("_tick").forward_fill()
    )
    # a print at the mid is one whose price equals (bid + ask)/2 up to that sum's rounding: 224.14 and 224.15
    # give a mid of 224.14499999999998 in binary floating point, which 224.145 must not be above
    gap = pl.col("price") - pl.col("mid")
    at_mid = AT_MID_RELATIVE * pl.col("mid").abs()
    quote = pl.when(gap > at_mid).then(1).when(gap < -at_mid).then(-1).otherwise(None).cast(pl.Int8)
    return (
        t.with_columns(run.alias("_run"), tick.alias("_tick"))
        .with_columns(pl.when(pl.col("_tick").is_not_null()).then(pl.col("_run")).alias("_tick_run"))
        .with_columns(pl.coalesce(quote, last_tick).alias("sign"))
        .drop("_run", "_tick", "_tick_run", "_session")
    )


def sign_accuracy(signed: pl.DataFrame) -> pl.DataFrame:
    """Per symbol, how often the Lee-Ready sign agrees with the aggressor the feed reports.

    Parameters
    ----------
    signed
        Trades with ``symbol``, ``sign`` (:func:`lee_ready_signs`) and ``aggressor`` (``buy``, ``sell`` or
        null: a feed that says which side took liquidity, as LOBSTER's and Databento's do; TAQ does not).

    Returns
    -------
    pl.DataFrame
        ``symbol, lee_ready_accuracy, lee_ready_nobs``: the share of the trades with both a sign and a known
        aggressor whose sign is the aggressor's (+1 buy, −1 sell), and their count; only symbols with at least
        one such trade. Lee & Ready (1991) report about 85 % on NYSE data; Ellis, Michaely & O'Hara (2000,
        *JFQA* 35(4)) 81 % on NASDAQ, lower inside the spread.
    """
    if "aggressor" not in signed.columns:
        return pl.DataFrame(
            schema={"symbol": pl.String, "lee_ready_accuracy": pl.Float64, "lee_ready_nobs": pl.Int64}
        )
    truth = pl.when(pl.col("aggressor") == "buy").then(1).when(pl.col("aggressor") == "sell").then(-1)
    return (
        signed.filter(pl.col("sign").is_not_null() & pl.col("aggressor").is_in(["buy", "sell"]))
        .group_by("symbol", maintain_order=True)
        .agg(
            (pl.col("sign").cast(pl.Int64) == truth).mean().alias("lee_ready_accuracy"),
            pl.len().cast(pl.Int64).alias("lee_ready_nobs"),
        )
        .sort("symbol")
    )
