"""The reads of the post-trade report: a date's attribution, the calibrations it was judged with, the
``scorecard_*`` views of the date, and the fills and stored schedules of the orders it plots.

The report prints what these return; the scorecards are the views themselves (the one definition of a
scorecard), read for one date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl

from data.home import KappaHome
from data.store import reader
from kappa.errors import NotFoundError, ParameterError

SCORECARD_VIEWS = ("broker", "algo", "trader", "symbol", "day", "venue")
"""The dimensions of the views ``scorecard_<dim>``."""


@dataclass(frozen=True, slots=True)
class AttributionDay:
    """What the report of a date prints.

    ``rows``: its ``attribution`` rows by ``order_id``; ``calibrations``: the ``calibrations`` rows the
    orders were judged with, plus ``calibration_as_of`` (= ``as_of``); ``scorecards``: the date's rows of
    each ``scorecard_<dim>`` view, by ``dim``.
    """

    rows: pl.DataFrame
    calibrations: pl.DataFrame
    scorecards: dict[str, pl.DataFrame]


@dataclass(frozen=True, slots=True)
class OrderPaths:
    """What the schedule-versus-actual chart of some orders needs.

    ``fills``: ``order_id, ts, quantity`` by order and time; ``risk_aversion``: ``order_id, risk_aversion``
    (1/$) of ``orders``; ``schedules``: ``order_id, t_days, holdings_shares`` of the latest optimal schedule
    stored for each order, by period.
    """

    fills: pl.DataFrame
    risk_aversion: pl.DataFrame
    schedules: pl.DataFrame


def scorecard_sql(dim: str) -> str:
    """The query of the view ``scorecard_<dim>`` for one date (``?``), sorted by the dimension."""
    if dim not in SCORECARD_VIEWS:
        raise ParameterError(
            f"no scorecard by {dim!r}: one of {', '.join(SCORECARD_VIEWS)}", name="dim", value=dim
        )
    order = "" if dim == "day" else f" ORDER BY {dim} NULLS LAST"
    return f"SELECT * FROM scorecard_{dim} WHERE date = ?{order}"


def _scorecards(con: duckdb.DuckDBPyConnection, date: dt.date) -> dict[str, pl.DataFrame]:
    return {dim: con.sql(scorecard_sql(dim), params=[date]).pl() for dim in SCORECARD_VIEWS}


def read_scorecards(home: KappaHome, date: dt.date) -> dict[str, pl.DataFrame]:
    """The rows of ``date`` of every ``scorecard_<dim>`` view (see :data:`SCORECARD_VIEWS`), by ``dim``."""
    with reader(home) as con:
        return _scorecards(con, date)


CALIBRATIONS_USED = """
    SELECT c.*, c.as_of AS calibration_as_of FROM calibrations c
    JOIN (SELECT DISTINCT symbol, calibration_as_of FROM attribution WHERE date = ?) a
      ON c.symbol = a.symbol AND c.as_of = a.calibration_as_of
    ORDER BY c.symbol
"""
"""The calibrations a date's orders were judged with (each order's ``calibration_as_of``)."""


def read_attribution_day(home: KappaHome, date: dt.date) -> AttributionDay:
    """The attribution of ``date``, its calibrations and scorecards (see :class:`AttributionDay`).

    Raises
    ------
    NotFoundError
        If ``date`` has no attribution (``kappa attribute --date`` has not run for it).
    """
    with reader(home) as con:
        rows = con.sql("SELECT * FROM attribution WHERE date = ? ORDER BY order_id", params=[date]).pl()
        if not rows.height:
            raise NotFoundError(
                f"no attribution for {date}: run kappa attribute --date {date} first", key=date
            )
        calibrations = con.sql(CALIBRATIONS_USED, params=[date]).pl()
        return AttributionDay(rows, calibrations, _scorecards(con, date))


STORED_SCHEDULES = """
    SELECT order_id, t_days, holdings_shares FROM schedules
    WHERE order_id IN (SELECT unnest(?)) AND strategy = 'optimal'
    QUALIFY dense_rank() OVER (PARTITION BY order_id ORDER BY created_at DESC, schedule_id DESC) = 1
    ORDER BY order_id, period
"""
"""The latest optimal schedule stored for each order (``kappa nightly`` plans tomorrow's orders)."""


def read_order_paths(home: KappaHome, order_ids: list[str]) -> OrderPaths:
    """The fills, λ and stored schedules of ``order_ids`` (see :class:`OrderPaths`)."""
    with reader(home) as con:
        fills = con.sql(
            "SELECT order_id, ts, quantity FROM fills WHERE order_id IN (SELECT unnest(?)) ORDER BY order_id, ts",
            params=[order_ids],
        ).pl()
        lam = con.sql(
            "SELECT order_id, risk_aversion FROM orders WHERE order_id IN (SELECT unnest(?))",
            params=[order_ids],
        ).pl()
        planned = con.sql(STORED_SCHEDULES, params=[order_ids]).pl()
    return OrderPaths(fills, lam, planned)
