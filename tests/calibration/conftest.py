"""Simulated windows with known truth for the calibration tests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from calibration.records import MarketWindow
from data.calendar import TradingClock, session_bounds, session_date_expr
from simulator import SimConfig, SimDay, SymbolParams, daily_history, simulate_days


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
    return MarketWindow(days[-1].date, len(days), sessions, quotes, trades, fills, daily, TradingClock())


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


def quoted_minutes_window(
    days: int,
    start_minute: float,
    minutes: float = 4.0,
    gamma: float = 2e-5,
    sigma_usd: float = 0.5,
    seed: int = 1,
    calendar: str = "24/7",
) -> MarketWindow:
    """A market of the ``24/7`` calendar quoted and traded in only ``minutes`` minutes of each day, from
    ``start_minute`` minutes after midnight UTC: a quote a second on an arithmetic random walk of
    ``sigma_usd`` per trading day (6.5 h), a trade every 5 seconds at the quote (random sign, 100-900
    shares) that moves the mid by γ per signed share, and the quote after it. No own fills.
    """
    rng = np.random.default_rng(seed)
    first = dt.date(2026, 11, 2)
    sessions = session_bounds(first, first + dt.timedelta(days=days - 1), calendar)
    quotes, trades = [], []
    step = sigma_usd / np.sqrt(23_400.0)  # per second
    mid = 100.0
    for day, open_ts, _ in sessions.iter_rows():
        t0 = open_ts + dt.timedelta(minutes=start_minute)
        for i in range(int(minutes * 60) + 1):
            ts = t0 + dt.timedelta(seconds=i)
            mid += step * rng.standard_normal()
            quotes.append(("XBT", day, ts, mid - 0.01, mid + 0.01))
            if i % 5 == 2:
                sign, size = float(rng.choice([-1.0, 1.0])), float(rng.integers(1, 10)) * 100
                trades.append(("XBT", day, ts + dt.timedelta(milliseconds=500), mid + sign * 0.01, size))
                mid += gamma * sign * size
                quotes.append(("XBT", day, ts + dt.timedelta(milliseconds=501), mid - 0.01, mid + 0.01))
    q_schema = {
        "symbol": pl.String,
        "date": pl.Date,
        "ts": pl.Datetime("ns"),
        "bid": pl.Float64,
        "ask": pl.Float64,
    }
    t_schema = {
        "symbol": pl.String,
        "date": pl.Date,
        "ts": pl.Datetime("ns"),
        "price": pl.Float64,
        "size": pl.Float64,
    }
    q = pl.DataFrame(quotes, schema=q_schema, orient="row")
    t = pl.DataFrame(trades, schema=t_schema, orient="row")
    daily = (
        q.group_by("symbol", "date")
        .agg(((pl.col("bid") + pl.col("ask")) / 2).sort_by("ts").last().alias("close"))
        .join(t.group_by("symbol", "date").agg(pl.col("size").sum().alias("volume")), on=["symbol", "date"])
        .sort("date")
    )
    fills = pl.DataFrame(schema={"order_id": pl.String, "symbol": pl.String, "side": pl.String,
                                 "ts": pl.Datetime("ns"), "price": pl.Float64, "quantity": pl.Float64,
                                 "arrival_ts": pl.Datetime("ns")})  # fmt: skip
    return MarketWindow(sessions["date"][-1], days, sessions, q, t, fills, daily, TradingClock())


def quoted_minutes_sigma(gamma: float = 2e-5, sigma_usd: float = 0.5) -> float:
    """σ ($/share/√day) of :func:`quoted_minutes_window`'s mid absent own trading, while it is quoted:
    √(σ_diffusion² + γ²·(trades a trading day)·E[size²]) with a trade every 5 s, sizes 100·U{1..9}."""
    trades_per_day, size_sq = 23_400 / 5, 1e4 * sum(k * k for k in range(1, 10)) / 9
    return float(np.sqrt(sigma_usd**2 + gamma**2 * trades_per_day * size_sq))
