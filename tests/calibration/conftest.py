"""Simulated windows with known truth for the calibration tests."""

from __future__ import annotations

import datetime as dt

import polars as pl

from calibration.estimates import MarketWindow
from data.calendar import session_bounds, session_date_expr
from data.simulator import SimConfig, SimDay, SymbolParams, daily_history, simulate_days


def window_from_days(days: list[SimDay], symbols: tuple[SymbolParams, ...], history: int = 0) -> MarketWindow:
    """The MarketWindow the data layer would read for these simulated sessions (as of the last one)."""
    sessions = session_bounds(days[0].date, days[-1].date)

    def with_date(f: pl.DataFrame) -> pl.DataFrame:
        return f.with_columns(session_date_expr(pl.col("ts")).alias("date"))

    quotes = with_date(pl.concat([d.quotes for d in days]))
    trades = with_date(pl.concat([d.trades for d in days]))
    with_orders = [d for d in days if d.orders.height and d.fills.height]
    if with_orders:
        orders = pl.concat([d.orders for d in with_orders])
        fills = pl.concat([d.fills for d in with_orders])
        fills = fills.join(orders.select("order_id", "symbol", "side", "arrival_ts"), on="order_id")
    else:
        fills = pl.DataFrame(schema={"order_id": pl.String, "symbol": pl.String, "side": pl.String,
                                     "ts": pl.Datetime("ns"), "price": pl.Float64, "quantity": pl.Float64,
                                     "arrival_ts": pl.Datetime("ns")})  # fmt: skip
    intraday = pl.DataFrame(
        [
            (s, d.date, d.close_mid[s], float(d.trades.filter(pl.col("symbol") == s)["size"].sum()))
            for d in days
            for s in d.close_mid
        ],
        schema={"symbol": pl.String, "date": pl.Date, "close": pl.Float64, "volume": pl.Float64},
        orient="row",
    )
    daily = (
        pl.concat([daily_history(symbols, days[0].date, history, seed=5), intraday]) if history else intraday
    )
    return MarketWindow(days[-1].date, len(days), sessions, quotes, trades, fills, daily)


def simulate_window(
    symbols: tuple[SymbolParams, ...],
    start: dt.date,
    n_days: int,
    seed: int = 4,
    history: int = 0,
    **kw: object,
) -> MarketWindow:
    cfg = SimConfig(symbols, start, n_days, seed=seed, **kw)  # type: ignore[arg-type]
    return window_from_days(simulate_days(cfg), symbols, history)
