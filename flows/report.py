"""Render the post-trade report of a date from ``attribution`` (run ``kappa attribute`` first)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from data.calendar import session_bounds, session_time_days
from data.home import KappaHome
from data.queries import read_attribution_day, read_order_paths
from kappa.units import DEFAULT_CALENDAR, SESSION_HOURS
from reports.charts import ACTUAL, MODEL, PANEL_BREAK, SESSION_CLOSE
from reports.tca_report import ReportFiles, render_report

PLOTTED_ORDERS = 6


def report(
    home: KappaHome, date: dt.date, out_dir: Path | None = None, calendar: str = DEFAULT_CALENDAR
) -> ReportFiles:
    """Write the report of ``date`` to ``out_dir`` (default ``KAPPA_HOME/reports/<date>``).

    ``calendar`` is the exchange whose sessions count as trading time on the execution charts.

    Raises
    ------
    kappa.errors.NotFoundError
        If ``date`` has no attribution.
    """
    day = read_attribution_day(home, date)
    top = plotted_orders(day.rows, PLOTTED_ORDERS)
    plotted = read_order_paths(home, top["order_id"].to_list(), top["schedule_id"].drop_nulls().to_list())
    orders = top.join(plotted.risk_aversion, on="order_id", how="left", maintain_order="left")
    paths = execution_paths(orders, plotted.fills, plotted.schedules, calendar)
    return render_report(
        date, day.rows, day.calibrations, paths, out_dir or home.reports / date.isoformat(), day.scorecards
    )


def plotted_orders(rows: pl.DataFrame, n: int) -> pl.DataFrame:
    """The ``n`` orders the execution chart draws: the largest by notional among those tracked against a
    schedule, then (to fill the ``n``) the largest with fills and none."""
    scheduled = pl.col("schedule_id").is_not_null()
    return (
        rows.filter(scheduled | (pl.col("filled_shares") > 0))
        .sort([scheduled, pl.col("notional_usd")], descending=[True, True], nulls_last=True)
        .head(n)
    )


def execution_paths(
    orders: pl.DataFrame, fills: pl.DataFrame, schedules: pl.DataFrame, calendar: str = DEFAULT_CALENDAR
) -> pl.DataFrame:
    """Per order: shares filled after each fill and the shares its schedule had executed, in trading time.

    Parameters
    ----------
    orders
        ``attribution`` rows (``order_id, symbol, side, quantity, arrival_ts, end_ts, last_fill_ts,
        schedule_id, tracking_error_pct``) with the order's ``risk_aversion``.
    fills
        ``order_id, ts, quantity`` of their fills.
    schedules
        ``order_id, schedule_id, ts, holdings_shares, shares``: the rows of the schedule each order was
        tracked against (an order without one, or whose schedule has no start, is drawn without it).
    calendar
        The exchange whose sessions are trading time.

    Returns
    -------
    polars.DataFrame
        ``order_id, panel, series, hours, shares``: ``series`` ``actual fills`` (F(t), cumulative shares
        filled, after each fill up to the last one attributed), ``Almgren-Chriss schedule`` (S(t_k) = X − x_k
        at each period end t_k; the line between is S(t), linear in trading time, :mod:`tca.tracking`) and
        ``session close`` (each close inside the order's window); ``hours`` is session time since arrival
        in hours (``data.calendar.session_time_days`` × 6.5), so nights, weekends and holidays take no room.

    Notes
    -----
    The schedule is the one stored in ``schedules`` that ``attribution`` tracked the order against (for a
    nightly order, the exact discrete optimum of Almgren & Chriss 2000, eq. 18, planned from its arrival):
    the report draws what was planned, not a schedule recomputed with other parameters.
    """
    parts: list[pl.DataFrame] = []
    for o in orders.iter_rows(named=True):
        arrival, end = _utc(o["arrival_ts"]), _utc(o["end_ts"])

        def hours(ts: dt.datetime, arrival: dt.datetime = arrival) -> float:
            t = _utc(ts)
            signed = session_time_days(arrival, t, calendar) - session_time_days(t, arrival, calendar)
            return SESSION_HOURS * signed

        f = fills.filter(pl.col("order_id") == o["order_id"])  # up to the last fill attributed
        f = f.filter(pl.col("ts") <= o["last_fill_ts"]) if o["last_fill_ts"] is not None else f.clear()
        done = np.concatenate(([0.0], np.cumsum(f["quantity"].to_numpy())))
        lam = o.get("risk_aversion") or 0.0
        te = o.get("tracking_error_pct")
        panel = (
            f"{o['order_id']}: {o['side']} {o['quantity']:,.0f} {o['symbol']}, "
            + (f"λ = {lam:.2g}/$" if lam else "λ = 0 (TWAP)")
            + (f"{PANEL_BREAK}tracking error {te:.1f} % of the order" if te is not None else "")
        )
        actual = [0.0, *(hours(t) for t in f["ts"].to_list())]
        parts.append(_series(o["order_id"], panel, ACTUAL, actual, done.tolist()))
        day = dt.timedelta(days=1)
        bounds = session_bounds(arrival.date() - day, end.date() + day, calendar)
        closes = [hours(c) for c in bounds["close_ts"].to_list() if arrival < _utc(c) < end]
        parts.append(_series(o["order_id"], panel, SESSION_CLOSE, closes, [None] * len(closes)))
        sid = o.get("schedule_id")  # None: the order has no schedule to draw
        plan = (
            schedules.filter((pl.col("order_id") == o["order_id"]) & (pl.col("schedule_id") == sid))
            if sid is not None
            else schedules.clear()
        )
        if plan.height and plan["ts"].null_count() == 0:
            executed = (plan["shares"] - plan["holdings_shares"]).to_list()
            parts.append(
                _series(o["order_id"], panel, MODEL, [hours(t) for t in plan["ts"].to_list()], executed)
            )
    if not parts:
        return pl.DataFrame(schema=PATH_SCHEMA)
    return pl.concat(parts, how="vertical_relaxed")


PATH_SCHEMA = {"order_id": pl.String, "panel": pl.String, "series": pl.String, "hours": pl.Float64,
               "shares": pl.Float64}  # fmt: skip


def _series(
    order_id: str, panel: str, series: str, hours: list[float], shares: list[float | None]
) -> pl.DataFrame:
    return pl.DataFrame(
        {"order_id": order_id, "panel": panel, "series": series, "hours": hours, "shares": shares},
        schema=PATH_SCHEMA,
    )


def _utc(ts: dt.datetime) -> dt.datetime:
    """A tz-naive UTC timestamp of the database as an aware datetime."""
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts
