"""Cross-row rules of the input contract: duplicate keys, and fills checked against their orders.

Each function returns ``(kept, rejected)`` where ``rejected`` has the quarantine columns
``source_file, row_number, rule, detail, raw``. The first occurrence of a key (in load order: file, then
row) is kept; later ones are rejected.
"""

from __future__ import annotations

import polars as pl

from data.validation import ROW, raw_json

QUARANTINE_COLUMNS = ["source_file", ROW, "rule", "detail", "raw"]
_QSCHEMA = {"source_file": pl.String, ROW: pl.Int64, "rule": pl.String, "detail": pl.String, "raw": pl.String}
_OVERFILL_TOLERANCE = 1e-9


def empty_quarantine() -> pl.DataFrame:
    """A quarantine frame with no rows."""
    return pl.DataFrame(schema=_QSCHEMA)


def _reject(frame: pl.DataFrame, rule: str, detail: str, columns: list[str]) -> pl.DataFrame:
    return frame.select(
        pl.col("source_file"),
        pl.col(ROW),
        pl.lit(rule).alias("rule"),
        pl.lit(detail).alias("detail"),
        raw_json(columns).alias("raw"),
    )


def drop_duplicate_keys(
    rows: pl.DataFrame, key: tuple[str, ...], columns: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the first row of each ``key`` (rows with a null key part are never duplicates).

    ``rows`` must carry ``source_file``, ``file_index`` and ``row_number``; ``columns`` are the data columns
    shown in the quarantine's ``raw``.
    """
    ordered = rows.sort("file_index", ROW)
    has_key = pl.all_horizontal([pl.col(k).is_not_null() for k in key])
    dup = has_key & (pl.int_range(pl.len()).over(list(key)) > 0)
    flagged = ordered.with_columns(dup.alias("_dup"))
    rejected = _reject(flagged.filter("_dup"), "duplicate_key", ",".join(key), columns)
    return flagged.filter(~pl.col("_dup")).drop("_dup"), rejected


def check_fills(
    fills: pl.DataFrame, orders: pl.DataFrame, existing: pl.DataFrame, columns: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Fills against their parent orders: ``unknown_order``, ``fill_outside_window``, ``overfill``.

    Parameters
    ----------
    fills
        New fills (typed), with ``source_file``, ``file_index``, ``row_number``.
    orders
        ``order_id, quantity, arrival_ts, end_ts`` of the orders the fills name.
    existing
        ``fill_id, order_id, ts, quantity`` of fills already stored for those orders; a stored fill with the
        same ``fill_id`` as a new fill inside its window is being replaced and does not count (one whose
        replacement is quarantined stays, and counts).
    columns
        Data columns shown in the quarantine's ``raw``.

    Notes
    -----
    Overfill: fills of an order are accumulated in time order (stored fills first at equal times, then load
    order); a new fill whose cumulative quantity exceeds the order's quantity is rejected, and so is every
    later one, since each of them also lies beyond the order's size.
    """
    joined = fills.join(orders, on="order_id", how="left", suffix="_order")
    unknown = joined.filter(pl.col("quantity_order").is_null())
    known = joined.filter(pl.col("quantity_order").is_not_null())
    outside_mask = (pl.col("ts") < pl.col("arrival_ts")) | (pl.col("ts") > pl.col("end_ts"))
    outside = known.filter(outside_mask)
    inside = known.filter(~outside_mask)

    # a stored fill leaves the running total only if a new fill that passed the checks above replaces it
    prior = existing.filter(~pl.col("fill_id").is_in(inside["fill_id"].implode())).select(
        "order_id",
        "ts",
        "quantity",
        pl.lit(0).alias("_new"),
        pl.lit(-1, dtype=pl.Int64).alias("file_index"),
        pl.lit(0, dtype=pl.Int64).alias(ROW),
        pl.lit(None, dtype=pl.String).alias("fill_id"),
    )
    new = inside.select("order_id", "ts", "quantity", pl.lit(1).alias("_new"), "file_index", ROW, "fill_id")
    seq = (
        pl.concat([prior, new], how="vertical_relaxed")
        .sort("order_id", "ts", "_new", "file_index", ROW)
        .with_columns(pl.col("quantity").cum_sum().over("order_id").alias("_cum"))
        .filter(pl.col("_new") == 1)
        .select("fill_id", "_cum")
    )
    inside = inside.join(seq, on="fill_id", how="left")
    over_mask = pl.col("_cum") > pl.col("quantity_order") * (1 + _OVERFILL_TOLERANCE)
    over = inside.filter(over_mask)
    kept = inside.filter(~over_mask).select(fills.columns)
    rejected = pl.concat(
        [
            _reject(unknown, "unknown_order", "order_id", columns),
            _reject(outside, "fill_outside_window", "ts", columns),
            _reject(over, "overfill", "quantity", columns),
        ]
    )
    return kept, rejected
