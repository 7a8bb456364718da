"""Write what a flow or a command computed (calibrations, attribution, schedules) in one transaction.

The flow's single writer: workers compute without a connection, and this one step, in the flow process,
holds the database's write lock only for the commit. Each table's rows replace those of the same scope, so
a rerun for the same date leaves the same rows; the run's ``success`` lands with them or not at all.
"""

from __future__ import annotations

import datetime as dt
from contextlib import suppress
from dataclasses import dataclass

import duckdb
import polars as pl

from data.home import KappaHome
from data.load_run import fault_point
from data.schema import check_insert
from data.store import finish_run, replace_rows, start_run, transaction, writer


@dataclass(frozen=True, slots=True)
class Results:
    """Rows to store and what each replaces.

    ``calibrations`` replace the rows of ``calibration_as_of`` (of ``calibration_symbols`` only, when
    given); ``correlations`` replace the pairs of ``calibration_as_of`` (of two of ``calibration_symbols``
    only, when given); ``attribution`` replaces the rows of ``attribution_date``; ``schedules`` replace every schedule
    of ``schedule_orders`` (so an order whose schedule could not be rebuilt keeps none).
    """

    calibrations: pl.DataFrame | None = None
    calibration_as_of: dt.date | None = None
    calibration_symbols: list[str] | None = None
    correlations: pl.DataFrame | None = None
    attribution: pl.DataFrame | None = None
    attribution_date: dt.date | None = None
    schedules: pl.DataFrame | None = None
    schedule_orders: list[str] | None = None


def write_results(
    home: KappaHome, run_id: str, results: Results, *, message: str = "", status: str | None = "success"
) -> int:
    """Store ``results`` and mark the run ``status`` in one transaction; returns the rows written.

    ``status=None`` stores the rows and leaves the run ``running``: its command has steps still to do (the
    nightly's report) and finishes the run itself with :func:`data.store.finish_run`."""
    written = 0
    fault_point("results_before_commit")
    with writer(home) as con, transaction(con):
        if results.calibrations is not None:
            if results.calibration_symbols is None:
                con.execute("DELETE FROM calibrations WHERE as_of = ?", [results.calibration_as_of])
            else:
                con.execute(
                    "DELETE FROM calibrations WHERE as_of = ? AND symbol IN (SELECT unnest(?))",
                    [results.calibration_as_of, results.calibration_symbols],
                )
            written += _insert(con, "calibrations", results.calibrations.with_columns(run_id=pl.lit(run_id)))
        if results.correlations is not None:
            if results.calibration_symbols is None:
                con.execute("DELETE FROM correlations WHERE as_of = ?", [results.calibration_as_of])
            else:
                con.execute(
                    "DELETE FROM correlations WHERE as_of = ? AND symbol_a IN (SELECT unnest(?)) "
                    "AND symbol_b IN (SELECT unnest(?))",
                    [results.calibration_as_of, results.calibration_symbols, results.calibration_symbols],
                )
            written += _insert(con, "correlations", results.correlations.with_columns(run_id=pl.lit(run_id)))
        if results.attribution is not None:
            con.execute("DELETE FROM attribution WHERE date = ?", [results.attribution_date])
            rows = results.attribution.with_columns(
                date=pl.lit(results.attribution_date, dtype=pl.Date), run_id=pl.lit(run_id)
            )
            written += _insert(con, "attribution", rows)
        if results.schedules is not None:
            con.execute(
                "DELETE FROM schedules WHERE order_id IN (SELECT unnest(?))", [results.schedule_orders or []]
            )
            written += _insert(con, "schedules", results.schedules)
        if status is not None:
            finish_run(con, run_id, written, message=message, status=status)
        fault_point("results_inside_commit")
    fault_point("results_after_commit")
    return written


def write_schedules(
    home: KappaHome,
    run_id: str,
    parameters: dict[str, object],
    schedules: pl.DataFrame,
    frontiers: pl.DataFrame | None = None,
    *,
    message: str = "",
    key: str = "schedule_id",
) -> str:
    """Record the run ``run_id`` (command ``schedule``, its ``parameters``), replace the ``schedules`` rows
    of the same ``key`` (``schedule_id``; a basket's ``basket_id``: every name's schedule of the basket) and
    the ``frontiers`` rows of the same ``frontier_id``, and finish the run, in one transaction; returns
    ``run_id``."""
    fault_point("schedule_before_commit")
    with writer(home) as con, transaction(con):
        start_run(con, run_id, "schedule", parameters)
        n = replace_rows(con, "schedules", schedules, [key])
        if frontiers is not None:
            n += replace_rows(con, "frontiers", frontiers, ["frontier_id"])
        finish_run(con, run_id, n, message=message)
        fault_point("schedule_inside_commit")
    return run_id


def write_simulations(
    home: KappaHome,
    run_id: str,
    parameters: dict[str, object],
    simulations: pl.DataFrame,
    *,
    message: str = "",
) -> str:
    """Record the run ``run_id`` (command ``simulate``, its ``parameters``), replace the ``simulations`` rows
    of the same ``simulation_id`` and ``strategy`` and finish the run, in one transaction; returns ``run_id``."""
    with writer(home) as con, transaction(con):
        start_run(con, run_id, "simulate", parameters)
        n = replace_rows(con, "simulations", simulations, ["simulation_id", "strategy"])
        finish_run(con, run_id, n, message=message)
    return run_id


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame) -> int:
    if not rows.height:
        return 0
    check_insert(table, rows.columns)
    con.register("_rows", rows)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
    finally:
        with suppress(duckdb.Error):  # an aborted transaction refuses even this; keep the first error
            con.unregister("_rows")
    return rows.height
