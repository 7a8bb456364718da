"""Cross-row rules of the input contract: duplicate keys, and fills checked against their orders.

Each function returns ``(kept, rejected)`` where ``rejected`` has the quarantine columns
``source_file, row_number, rule, detail, raw``; ``raw`` is null, to be read from the file as it stands
(:class:`data.quarantine.Quarantine`). The first occurrence of a key (in load order: file, then row) is
kept; later ones are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from data.validation import ROW

_QSCHEMA = {"source_file": pl.String, ROW: pl.Int64, "rule": pl.String, "detail": pl.String, "raw": pl.String}
_OVERFILL_TOLERANCE = 1e-9


def empty_quarantine() -> pl.DataFrame:
    """A quarantine frame with no rows."""
    return pl.DataFrame(schema=_QSCHEMA)


def _reject(frame: pl.DataFrame, rule: str, detail: str) -> pl.DataFrame:
    return frame.select(
        pl.col("source_file"),
        pl.col(ROW),
        pl.lit(rule).alias("rule"),
        pl.lit(detail).alias("detail"),
        pl.lit(None, dtype=pl.String).alias("raw"),
    )


def drop_duplicate_keys(rows: pl.DataFrame, key: tuple[str, ...]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the first row of each ``key`` (rows with a null key part are never duplicates).

    ``rows`` must carry ``source_file``, ``file_index`` and ``row_number``.
    """
    ordered = rows.sort("file_index", ROW)
    has_key = pl.all_horizontal([pl.col(k).is_not_null() for k in key])
    dup = has_key & (pl.int_range(pl.len()).over(list(key)) > 0)
    flagged = ordered.with_columns(dup.alias("_dup"))
    rejected = _reject(flagged.filter("_dup"), "duplicate_key", ",".join(key))
    return flagged.filter(~pl.col("_dup")).drop("_dup"), rejected


def check_fills(
    fills: pl.DataFrame, orders: pl.DataFrame, existing: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Fills against their parent orders: ``unknown_order``, ``fill_outside_window``, ``overfill``.

    Parameters
    ----------
    fills
        New fills (typed), with ``source_file``, ``file_index``, ``row_number``.
    orders
        ``order_id, quantity, arrival_ts, end_ts`` of the orders the fills name.
    existing
        ``fill_id, order_id, ts, quantity`` of fills already stored for those orders (and not cancelled by
        this load); a stored fill with the same ``fill_id`` as a new fill inside its window is being replaced
        and does not count (one whose replacement is quarantined stays, and counts).

    Notes
    -----
    Overfill: the stored fills of an order count first, whatever their times (they are already the order's),
    then the new fills in time order (then load order); a new fill whose cumulative quantity exceeds the
    order's quantity is rejected, and so is every later one, since each of them also lies beyond the
    order's size. So a late-delivered fill stamped before the stored ones cannot take the order over its
    quantity either.
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
        .sort("order_id", "_new", "ts", "file_index", ROW)
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
            _reject(unknown, "unknown_order", "order_id"),
            _reject(outside, "fill_outside_window", "ts"),
            _reject(over, "overfill", "quantity"),
        ]
    )
    return kept, rejected


@dataclass(frozen=True, slots=True)
class FillCancels:
    """What the cancels of a fills load do (FIX ExecType H, Trade Cancel; see :func:`fill_cancels`)."""

    fills: pl.DataFrame  # the load's fills that stand (new fills and corrections no cancel removes)
    cancelled_loaded: (
        pl.DataFrame
    )  # the load's fills a cancel of the same load removes, with the cancel's row
    cancelled_stored: pl.DataFrame  # ``fill_id, cancel_source_file, cancel_source_row`` of stored fills
    rejected: pl.DataFrame  # cancels of no known fill, and repeated cancels


def fill_cancels(
    rows: pl.DataFrame, stored: pl.DataFrame, cancelled_before: set[str], corrected: set[str] | None = None
) -> FillCancels:
    """Split a fills load into the fills that stand and the fills its cancel rows remove.

    Parameters
    ----------
    rows
        The load's clean fills (duplicates among non-cancel rows already removed) with ``exec_type``
        (``trade``, ``correct`` or ``cancel``), ``source_file``, ``file_index`` and ``row_number``.
    stored
        ``fill_id, order_id`` of stored fills with the ids the cancels name.
    cancelled_before
        Ids of the load that a previous load cancelled (and no correction brought back): cancelling one
        again changes nothing, so loading a cancel file twice gives the same tables; and a plain fill row of
        one (an earlier file loaded again) does not undo the later cancel: it is quarantined as
        ``cancelled_fill``. Only a correction (``exec_type`` = correct) brings a cancelled fill back.
    corrected
        Ids of the load whose stored fill is a correction: a plain fill row of one (an earlier file loaded
        again) does not undo the correction: it is quarantined as ``corrected_fill``; a later correction
        replaces it.

    Notes
    -----
    A cancel names the ``fill_id`` (and ``order_id``) of a fill, stored or brought by the same load, and
    removes it, whatever their order in the file: new fills and corrections are upserted by ``fill_id``,
    then the cancels remove theirs. A cancel of a fill nobody knows, or whose ``order_id`` is another's, is
    quarantined as ``unknown_fill``; a second cancel of one fill in a load as ``duplicate_key``.
    """
    is_cancel = (pl.col("exec_type") == "cancel").fill_null(False)
    cancels, trades = rows.filter(is_cancel), rows.filter(~is_cancel)
    undone = pl.col("fill_id").is_in(list(cancelled_before)) & (
        pl.col("exec_type").fill_null("trade") != "correct"
    )
    revived, trades = trades.filter(undone), trades.filter(~undone)
    uncorrect = pl.col("fill_id").is_in(list(corrected or ())) & (
        pl.col("exec_type").fill_null("trade") != "correct"
    )
    reverted, trades = trades.filter(uncorrect), trades.filter(~uncorrect)
    cancels, repeated = drop_duplicate_keys(cancels, ("fill_id",))
    known = pl.concat(
        [trades.select("fill_id", "order_id"), stored.select("fill_id", "order_id")], how="vertical_relaxed"
    ).unique("fill_id", keep="first")
    c = cancels.join(known, on="fill_id", how="left", suffix="_fill")
    again = c.filter(pl.col("order_id_fill").is_null() & pl.col("fill_id").is_in(list(cancelled_before)))
    unknown = c.filter(
        (pl.col("order_id_fill").is_null() & ~pl.col("fill_id").is_in(list(cancelled_before)))
        | (pl.col("order_id_fill").is_not_null() & (pl.col("order_id_fill") != pl.col("order_id")))
    )
    valid = c.filter(pl.col("order_id_fill").is_not_null() & (pl.col("order_id_fill") == pl.col("order_id")))
    by = valid.select(
        "fill_id", pl.col("source_file").alias("cancel_source_file"), pl.col(ROW).alias("cancel_source_row")
    )
    loaded = trades.join(by, on="fill_id", how="inner")
    stored_ids = by.filter(pl.col("fill_id").is_in(stored["fill_id"].implode()))
    rejected = pl.concat(
        [
            repeated,
            _reject(unknown, "unknown_fill", "fill_id"),
            _reject(revived, "cancelled_fill", "fill_id"),
            _reject(reverted, "corrected_fill", "fill_id"),
        ]
    )
    assert again.height + unknown.height + valid.height == cancels.height
    return FillCancels(
        trades.filter(~pl.col("fill_id").is_in(by["fill_id"].implode())), loaded, stored_ids, rejected
    )
