"""Attribute every order that arrived or traded on a date and write ``attribution`` (rerun = replace).

Reads the inputs briefly (lake files for the market, the database for orders, fills, closes and the
calibration a pre-trade model would have had), computes with no connection open, then replaces the date's
rows in one transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from data.calendar import DEFAULT_CALENDAR
from data.home import KappaHome
from data.market import read_attribution_inputs
from data.store import finish_run, recorded_run, transaction, writer
from tca.attribution import attribute_orders


@dataclass(frozen=True, slots=True)
class AttributionRun:
    """What an attribution wrote: its run id and the rows (one per order)."""

    run_id: str
    date: dt.date
    rows: pl.DataFrame


def attribute(home: KappaHome, date: dt.date, calendar: str = DEFAULT_CALENDAR) -> AttributionRun:
    """Attribute the orders of ``date`` and store them."""
    with recorded_run(home, "attribute", {"date": date}) as run_id:
        inp = read_attribution_inputs(home, date, calendar)
        rows = attribute_orders(
            inp.orders, inp.fills, inp.quotes, inp.trades, inp.sessions, inp.closes, inp.params
        ).with_columns(pl.lit(date).alias("date"), pl.lit(run_id).alias("run_id"))
        with writer(home) as con, transaction(con):
            con.execute("DELETE FROM attribution WHERE date = ?", [date])
            if rows.height:
                con.register("_rows", rows)
                con.execute("INSERT INTO attribution BY NAME SELECT * FROM _rows")
                con.unregister("_rows")
            finish_run(con, run_id, rows.height, message=summary(rows))
    return AttributionRun(run_id, date, rows)


def summary(rows: pl.DataFrame) -> str:
    """One line: orders, notional-weighted cost and the model's z statistics."""
    if not rows.height:
        return "no orders"
    costed = rows.filter(pl.col("total_usd").is_not_null())
    notional = float(costed["notional_usd"].to_numpy().sum())
    bps = 1e4 * float(costed["total_usd"].to_numpy().sum()) / notional if notional else float("nan")
    z = rows["z_score"].drop_nulls().to_numpy()
    zs = (
        f"z mean {z.mean():+.2f}, sd {z.std(ddof=1):.2f} over {z.size}" if z.size > 1 else "z: too few orders"
    )
    return f"{rows.height} orders, ${notional:,.0f} notional, cost {bps:.2f} bps; {zs}"
