"""Loading orders, fills and daily bars: held in memory, checked, and upserted in one transaction."""

from __future__ import annotations

from dataclasses import replace

import duckdb
import polars as pl

from data.contract import TableSpec
from data.cross_row_rules import drop_duplicate_keys
from data.load_fills import corrections_in_order, fills_after, fills_against_store
from data.load_run import (
    Load,
    LoadReport,
    Progress,
    Refusal,
    Replacement,
    fault_point,
    finish_load,
    load_report,
    load_warnings,
    refuse_load,
    shrinkage,
)
from data.load_stream import read_validated, tagged
from data.quarantine import Quarantine
from data.store import replace_rows, transaction, writer
from data.validation import ROW, clean_schema


def load_table(load: Load, progress: Progress | None) -> LoadReport:
    """orders, fills, daily: small enough to hold in memory; committed with upserts."""
    spec = load.spec
    quarantine = Quarantine(load.stage_dir / "quarantine")
    frames: list[pl.DataFrame] = []
    read = read_validated(load, quarantine, progress, tagged(frames.append))
    empty = pl.DataFrame(schema={**clean_schema(spec), "source_file": pl.String, "file_index": pl.Int64})
    rows = pl.concat([empty, *frames], how="vertical_relaxed")
    superseded = 0
    if spec.name == "fills":
        rows, cancels, superseded = corrections_in_order(rows, quarantine)
    else:
        cancels = rows.clear()
        rows, dups = drop_duplicate_keys(rows, spec.key)
        quarantine.add(dups)
    fault_point("after_staging")
    fault_point("before_commit")
    try:
        with writer(load.home) as con, transaction(con):
            removed, also_loaded = 0, 0
            if spec.name == "fills":
                rows, removed, also_loaded, replaced = fills_against_store(
                    con, load, rows, cancels, quarantine
                )
            else:
                replaced = _table_replacements(con, spec, rows)
            warnings = load_warnings(load, quarantine, read)
            if rows.height:
                _upsert(con, spec, rows, load.run_id)
            if spec.name == "fills":
                replaced = fills_after(con, replaced)
            elif spec.name == "orders":
                replaced = _orders_after(con, replaced)
            warnings += shrinkage(replaced)
            finish_load(
                con, load, quarantine, read, rows.height + also_loaded + superseded, replaced, warnings
            )
            fault_point("inside_commit")
    except Refusal as exc:
        raise refuse_load(load, quarantine, read, str(exc)) from None
    fault_point("after_commit")
    dates = sorted(set(rows["date"].to_list())) if rows.height and "date" in rows.columns else []
    return load_report(load, read, quarantine, dates, replaced, warnings, removed)


def _table_replacements(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, rows: pl.DataFrame
) -> list[Replacement]:
    """Stored rows of orders (per arrival date and symbol: those the load's orders fall in, and those they
    leave, as an order re-delivered under another date or symbol moves) or daily bars (per date) the load
    replaces; ``rows_after`` of orders is set by :func:`_orders_after`."""
    if not rows.height:
        return []
    if spec.name == "orders":
        con.register("_new", rows.select("order_id", "date", "symbol"))
        try:
            old = con.sql(
                """WITH pairs AS (SELECT DISTINCT date, symbol FROM _new UNION SELECT DISTINCT date, symbol
                                  FROM orders WHERE order_id IN (SELECT order_id FROM _new))
                   SELECT p.date, p.symbol, count(o.order_id) AS before FROM pairs p
                   LEFT JOIN orders o USING (date, symbol) GROUP BY ALL ORDER BY ALL"""
            ).fetchall()
        finally:
            con.unregister("_new")
        return [Replacement("orders", day, symbol, int(n), 0) for day, symbol, n in old]
    con.register("_pairs", rows.select("symbol", "date"))
    try:  # the symbol-days of the load already stored, per date
        old = con.sql(
            "SELECT d.date, count(*) FROM daily d JOIN _pairs p USING (symbol, date) GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        con.unregister("_pairs")
    return [Replacement("daily", day, None, int(n), int(n)) for day, n in old]


def _orders_after(con: duckdb.DuckDBPyConnection, replaced: list[Replacement]) -> list[Replacement]:
    """The stored orders of each (date, symbol) after the load; only those that held orders before."""
    counts = {
        (d, s): n
        for d, s, n in con.execute(
            """SELECT date, symbol, count(*) FROM orders WHERE (date, symbol) IN
               (SELECT (unnest(?), unnest(?))) GROUP BY ALL""",
            [[r.date for r in replaced], [r.key for r in replaced]],
        ).fetchall()
    }
    return [replace(r, rows_after=int(counts.get((r.date, r.key), 0))) for r in replaced if r.rows_before]


def _upsert(con: duckdb.DuckDBPyConnection, spec: TableSpec, rows: pl.DataFrame, run_id: str) -> None:
    """Write validated rows of orders, fills or daily, replacing what they correct (module docstring)."""
    tagged = rows.rename({ROW: "source_row"}).with_columns(run_id=pl.lit(run_id)).drop("file_index")
    if spec.name == "orders":
        # an order may move to another (date, symbol): drop it by id first
        con.execute("DELETE FROM orders WHERE order_id IN (SELECT unnest(?))", [rows["order_id"].to_list()])
        replace_rows(con, "orders", tagged.sort("date", "symbol", "order_id"), ["date", "symbol"])
    elif spec.name == "fills":
        fills = tagged.with_columns(pl.col("exec_type").fill_null("trade"))
        replace_rows(con, "fills", fills.sort("order_id", "ts", "fill_id"), ["fill_id"])
    elif spec.name == "daily":
        daily = tagged.select(*spec.names, source=pl.lit("file"), run_id=pl.col("run_id"))
        replace_rows(con, "daily", daily.sort("symbol", "date"), ["symbol", "date"])
    else:  # pragma: no cover - market tables go through the lake
        raise AssertionError(spec.name)
