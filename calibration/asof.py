"""As-of joins by symbol as one merge on an integer key (no hashing of symbols per join).

A frame of market rows (quotes, trades) sorted by symbol and time, as lake files already are, is numbered
once (:func:`numbered`): each symbol gets a code in sort order, and each row the key code·span + (ts − t₀),
which increases through the frame. An as-of join by symbol (:func:`asof_by_symbol`) is then one merge on
that integer key; a match from another symbol's rows (an event before its symbol's first row) is discarded.
Where the keys would overflow 64 bits, it joins by symbol instead (the same rows).
"""

from __future__ import annotations

import polars as pl

from calibration.ordering import sorted_by_symbol_time

INT64_HEADROOM = 2**62
"""Keys at or beyond this would overflow: :func:`asof_by_symbol` then joins by symbol."""


def numbered(frame: pl.DataFrame, ts: str) -> pl.DataFrame:
    """``frame`` sorted by symbol and ``ts`` (stably; as it is when read from one lake file), with ``_code``
    (the symbol's rank) and ``_key``."""
    return keyed(sorted_by_symbol_time(frame, ts), ts)


def keyed(frame: pl.DataFrame, ts: str) -> pl.DataFrame:
    """``frame`` (sorted by symbol and ``ts``) with ``_code`` and ``_key`` of its own rows."""
    frame = frame.with_columns(pl.col("symbol").rle_id().cast(pl.Int64).alias("_code"))
    if not frame.height:
        return frame.with_columns(pl.lit(0, dtype=pl.Int64).alias("_key"))
    t0, span = _scale(frame, ts)
    return frame.with_columns((pl.col("_code") * span + pl.col(ts).dt.epoch("ns") - t0).alias("_key"))


def _scale(frame: pl.DataFrame, ts: str) -> tuple[int, int]:
    """t₀ (the first time, ns since the epoch) and the span of the keys: the last time − t₀ + 2 ns, so that
    an event after the last row still sorts after it, strictly."""
    t0, t1 = frame.select(
        pl.col(ts).dt.epoch("ns").min().alias("t0"), pl.col(ts).dt.epoch("ns").max().alias("t1")
    ).row(0)
    return int(t0), int(t1) - int(t0) + 2


def asof_by_symbol(
    events: pl.DataFrame, right: pl.DataFrame, at: str, ts: str, cols: dict[str, str], *, strict: bool
) -> pl.DataFrame:
    """``events`` with ``cols`` (right name → new name) of the last ``right`` row of the same symbol at or
    before (``strict``: before) the event's ``at``; nulls where there is none.

    ``right`` is :func:`numbered` on its time column ``ts`` (of rows tied on one time, the last in row order
    is the one taken). The result is sorted by symbol and ``at``, stably: events tied on both keep their
    order.
    """
    out_cols = [pl.col(c).alias(n) for c, n in cols.items()]
    if not right.height or not events.height:
        return events.sort("symbol", at, maintain_order=True).with_columns(
            pl.lit(None, dtype=right.schema[c]).alias(n) for c, n in cols.items()
        )
    t0, span = _scale(right, ts)
    codes = right.filter(pl.col("_code") != pl.col("_code").shift(1).fill_null(-1)).select("symbol", "_code")
    if span * (codes.height + 1) >= INT64_HEADROOM:  # keys would overflow: join by symbol instead
        r = right.select("symbol", pl.col(ts).alias("_rts"), *out_cols)
        return events.sort("symbol", at, maintain_order=True).join_asof(
            r, left_on=at, right_on="_rts", by="symbol", strategy="backward", allow_exact_matches=not strict,
            check_sortedness=False,
        ).drop("_rts")  # fmt: skip
    offset = (pl.col(at).dt.epoch("ns") - t0).clip(-1, span - 1)
    ev = (
        sorted_by_symbol_time(events, at)  # as read from the lake: as it is
        .join(codes.rename({"_code": "_ecode"}), on="symbol", how="left", maintain_order="left")
        .with_columns((pl.col("_ecode") * span + offset).fill_null(-1).alias("_ekey"))
    )
    # the keys follow the symbols' order, unless an event has no symbol in ``right`` or no time
    ordered = ev["_ekey"].is_sorted()
    if not ordered:
        ev = ev.sort("_ekey", maintain_order=True)
    r = right.select(pl.col("_key").alias("_rkey"), pl.col("_code").alias("_rcode"), *out_cols)
    j = ev.join_asof(r, left_on="_ekey", right_on="_rkey", strategy="backward", allow_exact_matches=not strict,
                     check_sortedness=False)  # fmt: skip
    same = pl.col("_rcode") == pl.col("_ecode")
    out = j.with_columns(pl.when(same).then(pl.col(n)).alias(n) for n in cols.values()).drop(
        "_ecode", "_ekey", "_rkey", "_rcode"
    )
    return out if ordered else out.sort("symbol", at, maintain_order=True)
