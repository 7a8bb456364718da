"""Loading fills against the store, in FIX's order: corrections, cancels (trade cancel), replacement by
order, and the checks against their orders; removed fills kept in ``cancelled_fills``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import duckdb
import polars as pl

from data.cross_row_rules import FillCancels, check_fills, drop_duplicate_keys, fill_cancels
from data.load_run import Load, Replacement
from data.quarantine import Quarantine
from data.validation import ROW


def corrections_in_order(
    rows: pl.DataFrame, quarantine: Quarantine
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """A fills load's rows in FIX's order: plain fills (a repeated ``fill_id`` among them is a
    ``duplicate_key``), then corrections, the last of a fill winning over the fill and earlier corrections
    (which count as loaded, and superseded); and its cancels, apart. Returns the fills that stand, the
    cancels and how many rows were superseded."""
    kind = pl.col("exec_type").fill_null("trade")
    cancels, corrections = rows.filter(kind == "cancel"), rows.filter(kind == "correct")
    trades, dups = drop_duplicate_keys(rows.filter(kind == "trade"), ("fill_id",))
    quarantine.add(dups)
    last = corrections.sort("file_index", ROW).unique("fill_id", keep="last", maintain_order=True)
    replaced = trades.filter(pl.col("fill_id").is_in(last["fill_id"].implode()))
    superseded = corrections.height - last.height + replaced.height
    kept = pl.concat([trades.filter(~pl.col("fill_id").is_in(last["fill_id"].implode())), last])
    return kept, cancels, superseded


def fills_against_store(
    con: duckdb.DuckDBPyConnection,
    load: Load,
    rows: pl.DataFrame,
    cancels: pl.DataFrame,
    quarantine: Quarantine,
) -> tuple[pl.DataFrame, int, int, list[Replacement]]:
    """Apply a fills load's cancels and check its fills against their orders (inside the commit).

    Returns the fills to upsert, the fills removed (cancelled, or replaced by order), the rows of the load
    counted as loaded besides those fills (applied cancels, and fills cancelled by the same load), and the
    stored fill count of each order the load touches (``rows_after`` is set by :func:`fills_after`).
    """
    run_id = load.run_id
    fc = _cancels_against_store(con, rows, cancels)
    quarantine.add(fc.rejected)
    fills = fc.fills
    ids = sorted(set(fills["order_id"].to_list()) | set(cancels["order_id"].to_list()))
    orders = con.sql(
        "SELECT order_id, quantity, arrival_ts, end_ts FROM orders WHERE order_id IN (SELECT unnest(?))",
        params=[ids],
    ).pl()
    existing = con.sql(
        """SELECT fill_id, order_id, ts, quantity FROM fills WHERE order_id IN (SELECT unnest(?))
           AND fill_id NOT IN (SELECT unnest(?))""",
        params=[ids, fc.cancelled_stored["fill_id"].to_list()],
    ).pl()
    if load.replace_orders:  # the orders the load names get its fills alone
        existing = existing.filter(~pl.col("order_id").is_in(fills["order_id"].implode()))
    kept, bad = check_fills(fills, orders, existing)
    quarantine.add(bad)
    counts = dict(
        con.execute(
            "SELECT order_id, count(*) FROM fills WHERE order_id IN (SELECT unnest(?)) GROUP BY ALL", [ids]
        ).fetchall()
    )
    replaced = [Replacement("fills", None, o, int(counts.get(o, 0)), 0) for o in ids]
    removed = _move_to_cancelled(con, run_id, fc.cancelled_stored, "cancel")
    if load.replace_orders and kept.height:
        removed += _replace_by_order(con, run_id, kept)
    loaded = fc.cancelled_loaded
    if loaded.height:
        con.register("_cancelled", loaded.rename({ROW: "source_row"}).with_columns(
            pl.lit(run_id).alias("run_id"), pl.lit("cancel").alias("reason"), pl.lit(run_id).alias("cancel_run_id"),
            pl.lit(dt.datetime.now(dt.UTC).replace(tzinfo=None)).alias("cancelled_at"),
        ).drop("file_index"))  # fmt: skip
        con.execute("INSERT INTO cancelled_fills BY NAME SELECT * FROM _cancelled")
        con.unregister("_cancelled")
    applied = cancels.height - fc.rejected.filter(pl.col("rule") == "unknown_fill").height
    applied -= fc.rejected.filter(pl.col("rule") == "duplicate_key").height
    return kept, removed + loaded.height, applied + loaded.height, replaced


def _cancels_against_store(
    con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, cancels: pl.DataFrame
) -> FillCancels:
    """The load's cancels resolved against the stored fills (:func:`data.cross_row_rules.fill_cancels`):
    the stored fills they name, the fills cancelled before and not stored again, the stored corrections."""
    cancel_ids = cancels["fill_id"].unique().to_list()
    stored = con.sql(
        "SELECT fill_id, order_id FROM fills WHERE fill_id IN (SELECT unnest(?))", params=[cancel_ids]
    ).pl()
    before = {
        r[0]
        for r in con.execute(
            """SELECT fill_id FROM cancelled_fills WHERE fill_id IN (SELECT unnest(?))
               AND fill_id NOT IN (SELECT fill_id FROM fills)""",
            [cancel_ids + rows["fill_id"].to_list()],
        ).fetchall()
    }
    corrected = {
        r[0]
        for r in con.execute(
            "SELECT fill_id FROM fills WHERE exec_type = 'correct' AND fill_id IN (SELECT unnest(?))",
            [rows["fill_id"].to_list()],
        ).fetchall()
    }
    return fill_cancels(pl.concat([rows, cancels], how="vertical_relaxed"), stored, before, corrected)


def _replace_by_order(con: duckdb.DuckDBPyConnection, run_id: str, kept: pl.DataFrame) -> int:
    """Move the stored fills of each order ``kept`` names, and that it does not bring again, to
    ``cancelled_fills`` (reason ``replaced_by_order``; the first row naming the order is what replaced
    them). Returns how many."""
    named = kept.sort("file_index", ROW).group_by("order_id", maintain_order=True).first()
    con.register("_named", named.select("order_id", "source_file", ROW))
    try:
        stale = con.sql(
            """SELECT f.fill_id, n.source_file AS cancel_source_file, n.row_number AS cancel_source_row
               FROM fills f JOIN _named n USING (order_id) WHERE f.fill_id NOT IN (SELECT unnest(?))""",
            params=[kept["fill_id"].to_list()],
        ).pl()
    finally:
        con.unregister("_named")
    return _move_to_cancelled(con, run_id, stale, "replaced_by_order")


def _move_to_cancelled(con: duckdb.DuckDBPyConnection, run_id: str, which: pl.DataFrame, reason: str) -> int:
    """Move stored fills (``fill_id, cancel_source_file, cancel_source_row``) to ``cancelled_fills``."""
    if not which.height:
        return 0
    con.register("_which", which)
    try:
        con.execute(
            """INSERT INTO cancelled_fills BY NAME SELECT f.*, ? AS reason, w.cancel_source_file,
               w.cancel_source_row, ? AS cancel_run_id, now()::TIMESTAMP AS cancelled_at
               FROM fills f JOIN _which w USING (fill_id)""",
            [reason, run_id],
        )
        con.execute("DELETE FROM fills WHERE fill_id IN (SELECT fill_id FROM _which)")
    finally:
        con.unregister("_which")
    return which.height


def fills_after(con: duckdb.DuckDBPyConnection, replaced: list[Replacement]) -> list[Replacement]:
    """The stored fills of each order after the load (only orders whose count changed or that had fills)."""
    ids = [r.key for r in replaced]
    counts = dict(
        con.execute(
            "SELECT order_id, count(*) FROM fills WHERE order_id IN (SELECT unnest(?)) GROUP BY ALL", [ids]
        ).fetchall()
    )
    return [replace(r, rows_after=int(counts.get(r.key, 0))) for r in replaced if r.rows_before]
