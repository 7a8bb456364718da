"""Render the post-trade report of a date from ``attribution`` (run ``kappa attribute`` first)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from data.errors import KappaError
from data.home import KappaHome
from data.store import reader
from reports.tca_report import ReportFiles, render_report
from schedule import MarketParams, Order, ScheduleError, optimal_schedule
from tca import SESSION_SECONDS

PLOTTED_ORDERS = 6
MODEL_PERIODS = 20


def report(home: KappaHome, date: dt.date, out_dir: Path | None = None) -> ReportFiles:
    """Write the report of ``date`` to ``out_dir`` (default ``KAPPA_HOME/reports/<date>``)."""
    with reader(home) as con:
        rows = con.sql("SELECT * FROM attribution WHERE date = ? ORDER BY order_id", params=[date]).pl()
        if not rows.height:
            raise KappaError(f"no attribution for {date}: run kappa attribute --date {date} first")
        cal = con.sql(
            """SELECT c.*, c.as_of AS calibration_as_of FROM calibrations c
               JOIN (SELECT DISTINCT symbol, calibration_as_of FROM attribution WHERE date = ?) a
                 ON c.symbol = a.symbol AND c.as_of = a.calibration_as_of ORDER BY c.symbol""",
            params=[date],
        ).pl()
        top = (
            rows.filter(pl.col("filled_shares") > 0)
            .sort("notional_usd", descending=True, nulls_last=True)
            .head(PLOTTED_ORDERS)
        )
        ids = top["order_id"].to_list()
        fills = con.sql(
            "SELECT order_id, ts, quantity FROM fills WHERE order_id IN (SELECT unnest(?)) ORDER BY order_id, ts",
            params=[ids],
        ).pl()
        lam = con.sql(
            "SELECT order_id, risk_aversion FROM orders WHERE order_id IN (SELECT unnest(?))", params=[ids]
        ).pl()
    paths = holdings_paths(top.join(lam, on="order_id", how="left"), fills)
    return render_report(date, rows, cal, paths, out_dir or home.reports / date.isoformat())


def holdings_paths(orders: pl.DataFrame, fills: pl.DataFrame) -> pl.DataFrame:
    """Per order: shares still to trade after each fill (``actual``) and on its Almgren-Chriss schedule.

    The schedule is the exact discrete optimum over the order's window (N = 20 periods) with the parameters
    it was judged with and its own ``risk_aversion`` (TWAP where it has none).
    """
    parts: list[pl.DataFrame] = []
    for o in orders.iter_rows(named=True):
        f = fills.filter(pl.col("order_id") == o["order_id"]).filter(pl.col("ts") <= o["last_fill_ts"])
        minutes = [0.0, *((f["ts"] - o["arrival_ts"]).dt.total_seconds() / 60).to_list()]
        left = o["quantity"] - np.concatenate(([0.0], np.cumsum(f["quantity"].to_numpy())))
        parts.append(pl.DataFrame({"order_id": o["order_id"], "series": "actual", "minutes": minutes,
                                   "remaining_shares": left}))  # fmt: skip
        horizon_s = (o["end_ts"] - o["arrival_ts"]).total_seconds()
        lam = o.get("risk_aversion") or 0.0
        try:
            params = MarketParams(o["sigma_usd"], max(o["gamma"], 0.0), o["eta"], max(o["epsilon_usd"], 0.0))
            s = optimal_schedule(Order(o["quantity"], o["side"], horizon_s / SESSION_SECONDS, MODEL_PERIODS),
                                 params, lam)  # fmt: skip
        except (ScheduleError, TypeError):  # no calibration, or parameters that admit no schedule
            continue
        label = f"Almgren-Chriss (λ = {lam:.2g})" if lam else "TWAP (λ = 0)"
        parts.append(pl.DataFrame({"order_id": o["order_id"], "series": label,
                                   "minutes": (s.times_days * SESSION_SECONDS / 60).tolist(),
                                   "remaining_shares": s.holdings.tolist()}))  # fmt: skip
    if not parts:
        return pl.DataFrame(schema={"order_id": pl.String, "series": pl.String, "minutes": pl.Float64,
                                    "remaining_shares": pl.Float64})  # fmt: skip
    return pl.concat(parts, how="vertical_relaxed")
