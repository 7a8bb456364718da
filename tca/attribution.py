"""One row of ``attribution`` per parent order: shortfall, benchmarks, the model's verdict and reversions.

:func:`attribute_orders` is the one entry point: the data layer hands it the day's orders and their fills,
the market data around them and the calibration a pre-trade model would have had; it returns a polars
frame whose columns are those of the ``attribution`` table (units in the names: ``_usd`` $, ``_bps`` basis
points of quantity × reference price, positive = cost, for buys and sells alike).
"""

from __future__ import annotations

import polars as pl

from kappa.clock import Clock
from kappa.tables import ATTRIBUTION, REVERSION_MINUTES
from kappa.units import BPS, SESSION_MINUTES, side_sign
from tca.prices import (
    market_vwap,
    opening_quote,
    prepared_trades,
    quote_at,
    reachable_quotes,
    session_end,
    time_weighted_mid,
)
from tca.shortfall import implementation_shortfall, interim_marks, slippage_bps
from tca.verdict import realized_path_moments

BENCHMARKS = {"arrival": "arrival_mid_usd", "interval_vwap": "interval_vwap_usd", "twap": "twap_mid_usd",
              "close": "close_mid_usd", "pwp": "pwp_usd"}  # fmt: skip


def attribute_orders(
    orders: pl.DataFrame,
    fills: pl.DataFrame,
    quotes: pl.DataFrame,
    trades: pl.DataFrame,
    sessions: pl.DataFrame,
    closes: pl.DataFrame,
    params: pl.DataFrame,
    clock: Clock,
) -> pl.DataFrame:
    """Attribute every order of ``orders`` against its ``fills``.

    Parameters
    ----------
    orders
        ``order_id, symbol, side, quantity, arrival_ts, end_ts, decision_price, broker, algo, trader``.
    fills
        ``fill_id, order_id, ts, price, quantity, fee_usd, venue`` of those orders.
    quotes, trades
        The market around the orders (``symbol, ts, bid, ask`` and ``symbol, ts, price, size``).
    sessions
        ``date, open_ts, close_ts`` of every session from the first arrival to the day attributed: a quote
        prevails only inside its own session (``tca.prices``), and reversions stop at the close.
    closes
        ``symbol, close_mid_usd`` for the day attributed.
    params
        ``symbol, calibration_as_of, sigma_usd, gamma, eta, epsilon_usd`` and optionally
        ``sigma_overnight_usd`` (one row per symbol; a symbol without one gets ``model_status`` =
        ``no_calibration``; an order that waits over a night without a σ_night gets
        ``no_overnight_sigma``).
    clock
        Trading time of the exchange calendar (``data.calendar.TradingClock``): every τ of the model, the
        TWAP's weights and ``duration_min`` count session time only.

    Notes
    -----
    An order is *complete* at the close of the session attributed when it has filled its quantity or its
    ``end_ts`` is not after that close; else it is ``working`` (status and model status): its row shows the
    fills so far, the cost they realized (``executed_cost_*``) and the interim mark of its open shares at
    the closing mid (``interim_mtm_*``), with no opportunity cost, total, end mid, model verdict or
    reversions, which it gets once, on the session it completes (:func:`tca.shortfall.interim_marks`).
    """
    if "sigma_overnight_usd" not in params.columns:
        params = params.with_columns(pl.lit(None, dtype=pl.Float64).alias("sigma_overnight_usd"))
    ns = pl.Datetime("ns")
    o = orders.with_columns(
        pl.col("decision_price").cast(pl.Float64), pl.col("arrival_ts", "end_ts").cast(ns)
    )
    fills = fills.with_columns(pl.col("ts").cast(ns))
    trades = prepared_trades(trades.with_columns(pl.col("ts").cast(ns)))
    sessions = sessions.with_columns(pl.col("open_ts", "close_ts").cast(ns))
    f = fills.join(o.select("order_id", "symbol", "side", "arrival_ts"), on="order_id")
    quotes = reachable_quotes(quotes.with_columns(pl.col("ts").cast(ns)), _lookup_times(o, f, sessions))
    f = quote_at(f, quotes, "ts", "fill", sessions, strict=True)
    a = _with_fills(o, f)
    a = _with_benchmarks(a, quotes, trades, sessions, clock)
    a = a.join(closes, on="symbol", how="left")
    a = _reversions(a, quotes, sessions)
    a = implementation_shortfall(a)
    session_close = sessions["close_ts"].max()
    working = (pl.col("filled_shares") < pl.col("quantity")) & (pl.col("end_ts") > pl.lit(session_close))
    a = interim_marks(a.with_columns(working.alias("_working")), pl.col("_working"))
    a = a.with_columns(*_execution_columns(clock))
    moments = realized_path_moments(
        f.join(a.select("order_id", "arrival_mid_usd"), on="order_id").filter(
            pl.col("arrival_mid_usd").is_not_null()
        ),
        params.select("symbol", "sigma_usd", "gamma", "eta", "epsilon_usd", "sigma_overnight_usd"),
        clock,
    )
    a = a.join(moments, on="order_id", how="left").join(params, on="symbol", how="left")
    a = a.with_columns(_status(), _model_status())
    # a working order's end mid, verdict and reversions are those of its completion, not of a day's close
    pending = ("end_mid_usd", *MODEL_COLUMNS, *(f"reversion_{m}m_bps" for m in REVERSION_MINUTES))
    a = a.with_columns(pl.when(~pl.col("_working")).then(pl.col(c)).alias(c) for c in pending)
    return a.select(ATTRIBUTION_COLUMNS).sort("order_id")


def _lookup_times(orders: pl.DataFrame, f: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """``symbol, ts``: the bounds of every instant the attribution looks a quote up at (arrival, end and its
    mark at the close, each fill, and the fills' reversion horizons), for :func:`tca.prices.reachable_quotes`."""
    late = pl.duration(minutes=max(REVERSION_MINUTES))
    marks = session_end(orders.select("symbol", "end_ts"), "end_ts", sessions, "ts").select("symbol", "ts")
    return pl.concat([
        orders.select("symbol", pl.col("arrival_ts").alias("ts")),
        orders.select("symbol", pl.col("end_ts").alias("ts")),
        marks.with_columns(pl.col("ts").cast(pl.Datetime("ns"))),
        f.select("symbol", "ts"),
        f.select("symbol", (pl.col("ts") + late).cast(pl.Datetime("ns")).alias("ts")),
    ])  # fmt: skip


def _with_fills(orders: pl.DataFrame, f: pl.DataFrame) -> pl.DataFrame:
    """``orders`` with what their fills ``f`` (quoted at each fill) add up to: shares, VWAP, fees, the
    spread paid, first and last fill times, counts, and the venue with the most shares."""
    per = f.group_by("order_id").agg(
        pl.col("quantity").sum().alias("filled_shares"),
        ((pl.col("price") * pl.col("quantity")).sum() / pl.col("quantity").sum()).alias("fill_vwap_usd"),
        pl.col("fee_usd").fill_null(0.0).sum().alias("fees_usd"),
        # a fill with no quote before it (at the very open) pays no known spread: its cost counts as impact
        (pl.col("quantity") * pl.col("fill_half_spread").fill_null(0.0)).sum().alias("spread_paid_usd"),
        pl.col("fill_half_spread").is_null().any().alias("_unquoted_fill"),
        pl.col("ts").min().alias("first_fill_ts"),
        pl.col("ts").max().alias("last_fill_ts"),
        pl.len().alias("fills"),
        pl.col("venue").drop_nulls().n_unique().alias("venues"),
    )
    by_venue = (
        f.filter(pl.col("venue").is_not_null())
        .group_by("order_id", "venue")
        .agg(pl.col("quantity").sum().alias("_shares"))
        .sort("order_id", "_shares", "venue", descending=[False, True, False])
        .group_by("order_id", maintain_order=True)
        .agg(pl.col("venue").first())  # the venue with the most shares (ties: the first by name)
    )
    per = per.join(by_venue, on="order_id", how="left")
    return orders.join(per, on="order_id", how="left").with_columns(
        pl.col("filled_shares").fill_null(0.0),
        pl.col("fees_usd").fill_null(0.0),
        pl.col("spread_paid_usd").fill_null(0.0),
        pl.col("fills").fill_null(0),
    )


def _with_benchmarks(
    a: pl.DataFrame, quotes: pl.DataFrame, trades: pl.DataFrame, sessions: pl.DataFrame, clock: Clock
) -> pl.DataFrame:
    """The prices each order is measured against: arrival and end mids, interval VWAP, the participation
    VWAP of its active span (arrival to last fill), and the TWAP of the mid over its horizon."""
    a = a.with_columns(pl.coalesce("last_fill_ts", "end_ts").alias("_active_end"))
    a = quote_at(a, quotes, "arrival_ts", "arrival", sessions)
    # arrived before its session's first quote (before the open, or at it): the first mid it could trade at
    a = opening_quote(a, quotes, "arrival_ts", "_opening", sessions).with_columns(
        pl.col("arrival_mid").is_null().alias("_opening_arrival"),
        pl.coalesce("arrival_mid", "_opening_mid").alias("arrival_mid_usd"),
    )
    # an end after the close is marked at the session's closing quote, never at the next session's
    a = session_end(a, "end_ts", sessions, "_end_mark")
    a = quote_at(a, quotes, "_end_mark", "end", sessions).rename({"end_mid": "end_mid_usd"})
    a = market_vwap(a, trades, "arrival_ts", "end_ts", "interval").rename(
        {"interval_vwap": "interval_vwap_usd"}
    )
    a = market_vwap(a, trades, "arrival_ts", "_active_end", "active").rename({"active_vwap": "pwp_usd"})
    return time_weighted_mid(a, quotes, "arrival_ts", "end_ts", "twap_mid_usd", clock)


def _execution_columns(clock: Clock) -> list[pl.Expr]:
    """Slippage against each benchmark (bps), fill rate, participation in the market's volume over the
    active span, and the active span's length in minutes of session time."""
    return [
        *(slippage_bps("fill_vwap_usd", col, f"slippage_{name}_bps") for name, col in BENCHMARKS.items()),
        (pl.col("filled_shares") / pl.col("quantity")).alias("fill_rate"),
        pl.when(pl.col("active_volume") > 0)
        .then(pl.col("filled_shares") / pl.col("active_volume"))
        .alias("participation_rate"),
        pl.col("active_volume").alias("market_volume_shares"),
        (clock.elapsed_days(pl.col("arrival_ts"), pl.col("_active_end")) * SESSION_MINUTES).alias(
            "duration_min"
        ),
    ]


def _status() -> pl.Expr:
    """``status``: the first of working, no fills, no quotes, a fill without a quote, an arrival before
    the session's first quote; else ``ok``."""
    return (
        pl.when(pl.col("_working"))
        .then(pl.lit("working"))
        .when(pl.col("filled_shares") <= 0)
        .then(pl.lit("no_fills"))
        .when(pl.col("arrival_mid_usd").is_null())
        .then(pl.lit("no_quotes"))
        .when(pl.col("_unquoted_fill"))
        .then(pl.lit("partial_quotes"))
        .when(pl.col("_opening_arrival"))
        .then(pl.lit("opening_quote"))
        .otherwise(pl.lit("ok"))
        .alias("status")
    )


def _model_status() -> pl.Expr:
    """``model_status``: why the model's verdict is missing (working, no or incomplete calibration, no
    fills, no quotes, a night crossed without σ_night, a zero interval), else ``ok``."""
    complete = pl.all_horizontal(
        pl.col(c).is_not_null() for c in ("sigma_usd", "gamma", "eta", "epsilon_usd")
    )
    return (
        pl.when(pl.col("_working"))
        .then(pl.lit("working"))
        .when(pl.col("calibration_as_of").is_null())
        .then(pl.lit("no_calibration"))
        .when(~complete)
        .then(pl.lit("incomplete_calibration"))
        .when(pl.col("filled_shares") <= 0)
        .then(pl.lit("no_fills"))
        .when(pl.col("arrival_mid_usd").is_null())
        .then(pl.lit("no_quotes"))
        .when((pl.col("nights_crossed") > 0) & pl.col("sigma_overnight_usd").is_null())
        .then(pl.lit("no_overnight_sigma"))
        .when(pl.col("z_score").is_null())
        .then(pl.lit("zero_interval"))
        .otherwise(pl.lit("ok"))
        .alias("model_status")
    )


def _reversions(a: pl.DataFrame, quotes: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """``reversion_{m}m_bps`` = s·(P̄ − mid(t_last + m min))/P̄ · 1e4, with s the side sign, P̄ the fills'
    VWAP and t_last the last fill: positive when the price came back against the fills (the trade paid for
    impact that did not last), the opposite sign of a markout; null past the session's close or without
    fills."""
    s = side_sign()
    closes = sessions.select(pl.col("open_ts").alias("_open"), pl.col("close_ts").alias("_close")).sort(
        "_open"
    )
    a = a.sort("last_fill_ts").join_asof(
        closes, left_on="last_fill_ts", right_on="_open", strategy="backward", check_sortedness=False
    )
    for m in REVERSION_MINUTES:
        col = f"_t{m}"
        a = a.with_columns(
            (pl.col("last_fill_ts") + pl.duration(minutes=m)).cast(pl.Datetime("ns")).alias(col)
        )
        a = quote_at(a.with_columns(pl.col(col).fill_null(pl.col("arrival_ts"))), quotes, col, col, sessions)
        a = a.with_columns(
            pl.when(pl.col("last_fill_ts").is_not_null() & (pl.col(col) <= pl.col("_close")))
            .then(s * (pl.col("fill_vwap_usd") - pl.col(f"{col}_mid")) / pl.col("fill_vwap_usd") * BPS)
            .alias(f"reversion_{m}m_bps")
        ).drop(col, f"{col}_mid", f"{col}_half_spread")
    return a.drop("_open", "_close")


MODEL_COLUMNS = ("model_expected_cost_usd", "model_permanent_usd", "model_temporary_usd", "model_std_usd",
                 "realized_cost_usd", "z_score")  # fmt: skip

TRACKING_COLUMNS = ("schedule_id", "scheduled_filled_shares", "ahead_of_schedule_shares", "tracking_error_shares",
                    "tracking_error_pct")  # fmt: skip
"""Columns of ``attribution`` that compare the order's fills with its saved schedule (NULL without one), from
:func:`tca.tracking.track_orders`."""

WRITER_COLUMNS = ("date", "run_id", "horizon_days", "reason", *TRACKING_COLUMNS)
"""Columns of ``attribution`` that the flow adds (the date and run, the horizon by the clock, a failure,
the tracking against the saved schedule)."""

ATTRIBUTION_COLUMNS = [c for c in ATTRIBUTION.names if c not in WRITER_COLUMNS]
"""The columns :func:`attribute_orders` returns, in the registry's order (:data:`kappa.tables.ATTRIBUTION`)."""
