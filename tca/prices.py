"""Reference prices of post-trade analysis from quotes and trades, for many orders at once.

Every function joins *as of* a time by symbol (polars ``join_asof``), so the cost is a sort and a merge,
not a scan of the market per order. Quotes need ``symbol, ts, bid, ask``; trades ``symbol, ts, price, size``.
"""

from __future__ import annotations

import polars as pl


def prepared_quotes(quotes: pl.DataFrame) -> pl.DataFrame:
    """Quotes as the functions here use them (sorted, with mid and half spread): prepare once, join many times."""
    if "_mid" in quotes.columns:
        return quotes
    return quotes.select(
        "symbol",
        pl.col("ts").alias("_qts"),
        ((pl.col("bid") + pl.col("ask")) / 2).alias("_mid"),
        ((pl.col("ask") - pl.col("bid")) / 2).alias("_half"),
    ).sort("symbol", "_qts")


def quote_at(
    events: pl.DataFrame, quotes: pl.DataFrame, at: str, prefix: str, *, strict: bool = False
) -> pl.DataFrame:
    """``events`` with ``{prefix}_mid`` and ``{prefix}_half_spread`` of the quote prevailing at column ``at``.

    ``strict`` takes the last quote strictly before (a fill's own quote update comes after it); otherwise
    a quote at the same instant counts. Null where no quote precedes.
    """
    q = prepared_quotes(quotes)
    out = events.sort("symbol", at).join_asof(
        q, left_on=at, right_on="_qts", by="symbol", strategy="backward", allow_exact_matches=not strict,
        check_sortedness=False,
    )  # fmt: skip
    return out.rename({"_mid": f"{prefix}_mid", "_half": f"{prefix}_half_spread"}).drop("_qts")


def _cumulative(frame: pl.DataFrame, ts: str, values: dict[str, pl.Expr]) -> pl.DataFrame:
    return frame.sort("symbol", ts).with_columns(**{k: v.cum_sum().over("symbol") for k, v in values.items()})


def prepared_trades(trades: pl.DataFrame) -> pl.DataFrame:
    """Trades with cumulative volume and notional per symbol: prepare once, join many times."""
    if "_v" in trades.columns:
        return trades
    return _cumulative(
        trades.select("symbol", pl.col("ts").alias("_ts"), "price", "size"),
        "_ts",
        {"_v": pl.col("size"), "_pv": pl.col("price") * pl.col("size")},
    )


def _asof_sum(
    events: pl.DataFrame, cum: pl.DataFrame, at: str, cols: list[str], suffix: str, *, strict: bool
) -> pl.DataFrame:
    right = cum.select(
        "symbol", pl.col("_ts").alias(f"_ts{suffix}"), *[pl.col(c).alias(c + suffix) for c in cols]
    )
    out = events.sort("symbol", at).join_asof(
        right, left_on=at, right_on=f"_ts{suffix}", by="symbol", strategy="backward",
        allow_exact_matches=not strict, check_sortedness=False,
    )  # fmt: skip
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
    ).drop("_v_a", "_pv_a", "_v_b", "_pv_b", "_ts_a", "_ts_b")


def time_weighted_mid(
    events: pl.DataFrame, quotes: pl.DataFrame, start: str, end: str, name: str
) -> pl.DataFrame:
    """``name``: the time-weighted mean of the mid over [start, end] (the mid is a step function of quotes).

    With I(t) = ∫ mid dt from the first quote, I(t) = I(t_i) + mid_i·(t − t_i) for the last quote t_i ≤ t,
    and the mean is (I(end) − I(start)) / (end − start). Null before the first quote or for an empty window.
    """
    q = prepared_quotes(quotes)
    secs = (pl.col("_qts").shift(-1).over("symbol") - pl.col("_qts")).dt.total_nanoseconds() / 1e9
    q = q.with_columns((pl.col("_mid") * secs.fill_null(0.0)).cum_sum().over("symbol").alias("_after"))
    q = q.with_columns((pl.col("_after") - pl.col("_mid") * secs.fill_null(0.0)).alias("_cum"))
    right = q.select("symbol", "_qts", "_mid", "_cum")

    def integral(frame: pl.DataFrame, at: str, tag: str) -> pl.DataFrame:
        r = right.rename({"_qts": f"_qts{tag}", "_mid": f"_mid{tag}", "_cum": f"_cum{tag}"})
        j = frame.sort("symbol", at).join_asof(
            r, left_on=at, right_on=f"_qts{tag}", by="symbol", strategy="backward", check_sortedness=False
        )
        elapsed = (pl.col(at) - pl.col(f"_qts{tag}")).dt.total_nanoseconds() / 1e9
        return j.with_columns(
            (pl.col(f"_cum{tag}") + pl.col(f"_mid{tag}") * elapsed).alias(f"_int{tag}")
        ).drop(f"_qts{tag}", f"_mid{tag}", f"_cum{tag}")

    out = integral(integral(events, start, "a"), end, "b")
    length = (pl.col(end) - pl.col(start)).dt.total_nanoseconds() / 1e9
    return out.with_columns(
        pl.when(length > 0).then((pl.col("_intb") - pl.col("_inta")) / length).alias(name)
    ).drop("_inta", "_intb")
