"""Loading orders, fills and daily bars: held in memory, checked, and upserted in one transaction; an
orders load removes the orders a previous delivery of its dates brought that it no longer holds, and is
refused rather than leave a stored fill without its order or outside it (:func:`_dropped_orders`,
:func:`_refuse_unfit_fills`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import duckdb
import polars as pl

from data.contract import TableSpec
from data.cross_row_rules import check_fills, drop_duplicate_keys
from data.delivery import OUTSIDE_DELIVERED_DATE
from data.load_fills import corrections_in_order, fills_after, fills_against_store
from data.load_run import (
    Load,
    LoadReport,
    Progress,
    Read,
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
        if spec.name == "orders":  # the date of the delivery each order came with
            delivered = [load.delivery(i).date for i in range(len(load.sources))]
            day = pl.col("file_index").replace_strict(list(range(len(delivered))), delivered, default=None)
            rows = rows.with_columns(day.cast(pl.Date).alias("delivered_date"))
        cancels = rows.clear()
        rows, dups = drop_duplicate_keys(rows, spec.key)
        quarantine.add(dups)
    fault_point("after_staging")
    fault_point("before_commit")
    try:
        with writer(load.home) as con, transaction(con):
            removed, also_loaded = 0, 0
            notes: list[str] = []
            if spec.name == "fills":
                rows, removed, also_loaded, replaced = fills_against_store(
                    con, load, rows, cancels, quarantine
                )
            elif spec.name == "orders":
                dropped, notes = _dropped_orders(con, load, rows, quarantine, read)
                _refuse_moved_fills(con, rows)
                replaced = _table_replacements(con, spec, rows, dropped)
            else:
                replaced = _table_replacements(con, spec, rows)
            warnings = load_warnings(load, quarantine, read) + notes
            if rows.height:
                _upsert(con, spec, rows, load.run_id)
            if spec.name == "fills":
                replaced = fills_after(con, replaced)
            elif spec.name == "orders":
                con.execute("DELETE FROM orders WHERE order_id IN (SELECT unnest(?::VARCHAR[]))", [dropped])
                _refuse_unfit_fills(con, rows["order_id"].to_list())
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


def _dropped_orders(
    con: duckdb.DuckDBPyConnection, load: Load, rows: pl.DataFrame, quarantine: Quarantine, read: Read
) -> tuple[list[str], list[str]]:
    """The stored orders a load's delivery removes, and its warnings about those it keeps.

    A delivery for a date (:mod:`data.delivery`) replaces the previous delivery for that date: a stored order
    that came with a file delivered for it (``delivered_date``) and that no file of the load holds is removed,
    unless a file delivered for it has quarantined rows (of other rules than ``outside_delivered_date``: they
    may be that order's, so it stays, with a warning) or holds no rows at all (an empty file is a failed
    transfer more often than a day without orders: they stay, with a warning).
    An order removed while it has stored fills refuses the load (:class:`Refusal`): fills are never left
    without their order.
    """
    declared: dict[dt.date, list[str]] = {}
    for i, source in enumerate(load.sources):
        day = load.delivery(i).date
        if day is not None:
            declared.setdefault(day, []).append(str(source.path))
    loaded = set(rows["order_id"].to_list())
    dropped: list[str] = []
    notes: list[str] = []
    for day, files in sorted(declared.items()):
        stored = [
            r[0]
            for r in con.execute(
                "SELECT order_id FROM orders WHERE delivered_date = ? ORDER BY 1", [day]
            ).fetchall()
        ]
        gone = [o for o in stored if o not in loaded]
        if not gone:
            continue
        empty = [Path(f).name for f in files if not read.rows[f]]
        if empty:  # a truncated transfer is not a delivery of no orders
            notes.append(
                f"orders {day}: kept {len(gone)} stored order(s) the delivery does not hold ({_shown(gone)}): "
                f"{', '.join(empty)} holds no rows"
            )
            continue
        unsure = [
            Path(f).name
            for f in files
            if any(n for rule, n in quarantine.by_file_rule[f].items() if rule != OUTSIDE_DELIVERED_DATE)
        ]
        if unsure:
            notes.append(
                f"orders {day}: kept {len(gone)} stored order(s) the delivery does not hold ({_shown(gone)}): "
                f"{', '.join(unsure)} has quarantined rows, which may be theirs"
            )
            continue
        dropped += gone
    if dropped:
        with_fills = con.execute(
            """SELECT order_id, string_agg(fill_id, ', ' ORDER BY fill_id) FROM fills
               WHERE order_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL ORDER BY 1""",
            [dropped],
        ).fetchall()
        if with_fills:
            shown = "; ".join(f"{o} (fills {f})" for o, f in with_fills[:10])
            more = f" and {len(with_fills) - 10} more" if len(with_fills) > 10 else ""
            raise Refusal(
                f"orders {', '.join(str(d) for d in sorted(declared))}: the delivery no longer holds "
                f"{len(with_fills)} stored order(s) with fills: {shown}{more}; nothing was loaded (deliver "
                "them again, or cancel their fills first)"
            )
    return dropped, notes


def _shown(ids: list[str], n: int = 10) -> str:
    return ", ".join(ids[:n]) + (f" and {len(ids) - n} more" if len(ids) > n else "")


def _refuse_moved_fills(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> None:
    """A :class:`Refusal` if the load changes the symbol or the side of an order with stored fills: its fills
    (prices of one symbol, bought or sold) would become another symbol's, or the other side's."""
    con.register("_incoming_orders", rows.select("order_id", "symbol", "side"))
    try:
        moved = con.execute(
            """SELECT o.order_id, o.symbol, o.side, i.symbol, i.side FROM orders o
               JOIN _incoming_orders i USING (order_id)
               WHERE (o.symbol <> i.symbol OR o.side <> i.side)
                 AND EXISTS (SELECT 1 FROM fills f WHERE f.order_id = o.order_id)
               ORDER BY 1"""
        ).fetchall()
    finally:
        con.unregister("_incoming_orders")
    if moved:
        shown = "; ".join(f"{o} {s0} {d0} → {s1} {d1}" for o, s0, d0, s1, d1 in moved[:10])
        more = f" and {len(moved) - 10} more" if len(moved) > 10 else ""
        raise Refusal(
            f"orders: {len(moved)} order(s) with stored fills change symbol or side: {shown}{more}; nothing "
            "was loaded (their fills would become another symbol's or side's: cancel the fills first)"
        )


def _refuse_unfit_fills(con: duckdb.DuckDBPyConnection, order_ids: list[str]) -> None:
    """Check the stored fills of ``order_ids`` against the orders as the load leaves them, by the rules a
    fills load applies (:func:`data.cross_row_rules.check_fills`: the order exists, each fill lies in its
    window, the fills do not exceed its quantity); a :class:`Refusal` naming each order and fill that
    fails."""
    if not order_ids:
        return
    fills = con.sql(
        """SELECT fill_id, order_id, ts, quantity, fill_id AS source_file, source_row AS row_number,
           0::BIGINT AS file_index FROM fills WHERE order_id IN (SELECT unnest(?::VARCHAR[]))""",
        params=[order_ids],
    ).pl()  # source_file holds the fill_id: the rejected rows name their fill by it
    if not fills.height:
        return
    orders = con.sql(
        """SELECT order_id, quantity, arrival_ts, end_ts FROM orders
           WHERE order_id IN (SELECT unnest(?::VARCHAR[]))""",
        params=[order_ids],
    ).pl()
    none = fills.select("fill_id", "order_id", "ts", "quantity").clear()
    _, bad = check_fills(fills, orders, none)
    if not bad.height:
        return
    order_of = dict(zip(fills["fill_id"].to_list(), fills["order_id"].to_list(), strict=True))
    by_order: dict[str, list[str]] = {}
    for fill_id, rule in sorted(bad.select("source_file", "rule").iter_rows()):
        by_order.setdefault(order_of[fill_id], []).append(f"{fill_id} {rule}")
    shown = "; ".join(f"{o} ({', '.join(fs)})" for o, fs in sorted(by_order.items())[:10])
    more = f" and {len(by_order) - 10} more" if len(by_order) > 10 else ""
    raise Refusal(
        f"orders: {len(by_order)} order(s) as loaded no longer fit their stored fills: {shown}{more}; nothing "
        "was loaded (deliver the orders as they were, or correct or cancel the fills first)"
    )


def _table_replacements(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, rows: pl.DataFrame, dropped: list[str] | None = None
) -> list[Replacement]:
    """Stored rows of orders (per arrival date and symbol: those the load's orders fall in, those they leave,
    as an order re-delivered under another date or symbol moves, and those of the ``dropped`` orders) or
    daily bars (per date) the load replaces; ``rows_after`` of orders is set by :func:`_orders_after`."""
    if spec.name == "orders":
        if not rows.height and not dropped:
            return []
        ids = pl.DataFrame(
            {"order_id": [*rows["order_id"].to_list(), *(dropped or [])]}, schema={"order_id": pl.String}
        )
        con.register("_new", rows.select("date", "symbol"))
        con.register("_ids", ids)
        try:
            old = con.sql(
                """WITH pairs AS (SELECT DISTINCT date, symbol FROM _new UNION SELECT DISTINCT date, symbol
                                  FROM orders WHERE order_id IN (SELECT order_id FROM _ids))
                   SELECT p.date, p.symbol, count(o.order_id) AS before FROM pairs p
                   LEFT JOIN orders o USING (date, symbol) GROUP BY ALL ORDER BY ALL"""
            ).fetchall()
        finally:
            con.unregister("_new")
            con.unregister("_ids")
        return [Replacement("orders", day, symbol, int(n), 0) for day, symbol, n in old]
    if not rows.height:
        return []
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
    if spec.name == "orders":  # by key: an order may move to another (date, symbol)
        replace_rows(con, "orders", tagged.sort("date", "symbol", "order_id"), ["order_id"])
    elif spec.name == "fills":
        fills = tagged.with_columns(pl.col("exec_type").fill_null("trade"))
        replace_rows(con, "fills", fills.sort("order_id", "ts", "fill_id"), ["fill_id"])
    elif spec.name == "daily":
        daily = tagged.select(*spec.names, source=pl.lit("file"), run_id=pl.col("run_id"))
        replace_rows(con, "daily", daily.sort("symbol", "date"), ["symbol", "date"])
    else:  # pragma: no cover - market tables go through the lake
        raise AssertionError(spec.name)
