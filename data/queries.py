"""Named reads of the result tables, each returning a polars frame (or a row), grouped by the code that
calls them. Every read opens its own read-only connection (``data.store.reader``), which waits while a job
holds the write lock and raises ``DatabaseMissingError`` when there is no database yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import polars as pl

from data.home import KappaHome
from data.sql import first_row
from data.store import DEFAULT_WAIT_S, reader
from kappa.errors import NotFoundError, ParameterError

# ---------------------------------------------------------------------------------------------- kappa sql


def query_frame(home: KappaHome, query: str, wait_s: float = DEFAULT_WAIT_S) -> pl.DataFrame:
    """The rows of a user's read-only ``query``; an INTERVAL (which polars cannot take) as DuckDB's text,
    e.g. ``00:01:03.5``.

    Raises
    ------
    ParameterError
        DuckDB refused the query (a parser or binder error, a table that does not exist): the first line of
        its message, ``name`` = ``query``.
    """
    with reader(home, wait_s=wait_s) as con:
        try:
            return _frame(con, query)
        except Exception as exc:  # DuckDB's parser/binder errors are the user's
            raise ParameterError(
                f"query failed: {str(exc).splitlines()[0]}", name="query", value=query
            ) from exc


def incomplete_nights_note(home: KappaHome, wait_s: float = DEFAULT_WAIT_S) -> str | None:
    """One line naming the nights of ``incomplete_nights`` (their day may be partly loaded), or None when
    there are none (or the database predates the view)."""
    with reader(home, wait_s=wait_s) as con:
        exists = first_row(con, "SELECT count(*) FROM duckdb_views() WHERE view_name = 'incomplete_nights'")
        if not exists or not exists[0]:
            return None
        days = [str(r[0]) for r in con.sql("SELECT date FROM incomplete_nights ORDER BY date").fetchall()]
    if not days:
        return None
    shown = ", ".join(days[:5]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")
    return (
        f"note: {len(days)} night(s) did not finish, their data may be partly loaded: {shown} "
        "(SELECT * FROM incomplete_nights; a rerun of the night completes it)"
    )


def _frame(con: duckdb.DuckDBPyConnection, query: str) -> pl.DataFrame:
    rel = con.sql(query)
    if rel is None:
        return pl.DataFrame()
    if any(str(t) == "INTERVAL" for t in rel.types):
        rel = rel.select(", ".join(
            f'CAST("{c}" AS VARCHAR) AS "{c}"' if str(t) == "INTERVAL" else f'"{c}"'
            for c, t in zip(rel.columns, rel.types, strict=True)
        ))  # fmt: skip
    return rel.pl()


# ---------------------------------------------------------------------------------------------- kappa schedule


def latest_calibration(
    home: KappaHome, symbol: str, as_of: dt.date | None = None
) -> dict[str, object] | None:
    """The ``calibrations`` row of ``symbol`` with the latest ``as_of`` (on or before ``as_of`` when given),
    as a dict of column to value; ``None`` when there is none."""
    cond, params = ("AND as_of <= ?", [symbol, as_of]) if as_of else ("", [symbol])
    with reader(home) as con:
        frame = con.sql(
            f"SELECT * FROM calibrations WHERE symbol = ? {cond} ORDER BY as_of DESC LIMIT 1", params=params
        ).pl()
    return frame.row(0, named=True) if frame.height else None


def correlations_among(home: KappaHome, symbols: Sequence[str], as_of: dt.date | None) -> pl.DataFrame:
    """The ``correlations`` rows (``as_of, symbol_a, symbol_b, rho, nobs``) of pairs of ``symbols`` at the
    latest ``as_of`` on or before ``as_of`` (the latest of all when ``None``) that holds any of them."""
    cond, params = ("AND as_of <= ?", [list(symbols), list(symbols), as_of]) if as_of else (
        "", [list(symbols), list(symbols)])  # fmt: skip
    with reader(home) as con:
        return con.sql(
            "WITH c AS (SELECT as_of, symbol_a, symbol_b, rho, nobs FROM correlations "
            f"WHERE symbol_a IN (SELECT unnest(?)) AND symbol_b IN (SELECT unnest(?)) {cond}) "
            "SELECT * FROM c WHERE as_of = (SELECT max(as_of) FROM c) ORDER BY symbol_a, symbol_b",
            params=params,
        ).pl()


def riskiest_order_schedule(home: KappaHome) -> pl.DataFrame:
    """The rows (k = 0..N) of the stored optimal order schedule with λ > 0 and the most periods (ties: the
    smallest ``schedule_id``); empty when there is none."""
    with reader(home) as con:
        return con.sql(
            "SELECT * FROM schedules WHERE schedule_id = (SELECT schedule_id FROM schedules WHERE order_id IS NOT "
            "NULL AND strategy = 'optimal' AND risk_aversion > 0 AND periods >= 2 AND period = 0 "
            "ORDER BY periods DESC, schedule_id LIMIT 1) ORDER BY period"
        ).pl()


# ---------------------------------------------------------------------------------------------- kappa demo


def table_rows(home: KappaHome, tables: Sequence[str]) -> dict[str, int]:
    """The row count of each of ``tables`` (names of Kappa's tables and views, never user input)."""
    counts: dict[str, int] = {}
    with reader(home) as con:
        for t in tables:
            row = first_row(con, f"SELECT count(*) FROM {t}")
            counts[t] = int(row[0]) if row else 0
    return counts


def calibrations_as_of(home: KappaHome, as_of: dt.date) -> pl.DataFrame:
    """Every ``calibrations`` row as of ``as_of``."""
    with reader(home) as con:
        return con.sql("SELECT * FROM calibrations WHERE as_of = ?", params=[as_of]).pl()


# ---------------------------------------------------------------------------------------------- kappa report
# A date's attribution, the calibrations it was judged with, the ``scorecard_*`` views of the date (the one
# definition of a scorecard, read for one date), and the fills and stored schedules of the orders it plots.

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
    (1/$) of ``orders``; ``schedules``: ``order_id, schedule_id, period, ts, t_days, holdings_shares, shares``
    of the schedule each order was tracked against (``attribution.schedule_id``), by period.
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


TRACKED_SCHEDULES = """
    SELECT order_id, schedule_id, period, ts, t_days, holdings_shares, shares FROM schedules
    WHERE schedule_id IN (SELECT unnest(?)) AND order_id IN (SELECT unnest(?))
    ORDER BY order_id, period
"""
"""The schedules the orders were tracked against (``attribution.schedule_id``: each order's latest saved
schedule when it was attributed)."""


def read_order_paths(home: KappaHome, order_ids: list[str], schedule_ids: list[str]) -> OrderPaths:
    """The fills, λ and the schedules ``schedule_ids`` of ``order_ids`` (see :class:`OrderPaths`)."""
    with reader(home) as con:
        fills = con.sql(
            "SELECT order_id, ts, quantity FROM fills WHERE order_id IN (SELECT unnest(?)) ORDER BY order_id, ts",
            params=[order_ids],
        ).pl()
        lam = con.sql(
            "SELECT order_id, risk_aversion FROM orders WHERE order_id IN (SELECT unnest(?))",
            params=[order_ids],
        ).pl()
        planned = con.sql(TRACKED_SCHEDULES, params=[schedule_ids, order_ids]).pl()
    return OrderPaths(fills, lam, planned)
