"""Rows grouped by key and in time order, without re-sorting what the lake already wrote in that order."""

import numpy as np
import polars as pl


def time_ordered_runs(frame: pl.DataFrame, by: list[str], ts: str = "ts") -> np.ndarray | None:
    """Where each ``by`` group starts, if every group's rows are contiguous and in non-decreasing ``ts``
    order; ``None`` otherwise.

    Lake files are written in that order (``symbol, ts``, one date a file), so the estimators can skip
    sorting what they read from the lake, and find the groups without hashing; any other frame is sorted.
    One pass over the rows.
    """
    if not frame.height:
        return np.zeros(0, dtype=np.int64)
    new = pl.any_horizontal((pl.col(c) != pl.col(c).shift(1)).fill_null(True) for c in by)
    marks = frame.select(new.alias("new"), (pl.col(ts) >= pl.col(ts).shift(1)).fill_null(True).alias("up"))
    if not marks.select((pl.col("new") | pl.col("up")).all()).item():
        return None
    starts = marks.select(pl.int_range(pl.len()).filter(pl.col("new"))).to_series().to_numpy()
    if frame.select(by).gather(starts).n_unique() != starts.size:  # a group in two runs
        return None
    return starts


def in_time_runs(frame: pl.DataFrame, by: list[str], ts: str = "ts") -> tuple[pl.DataFrame, np.ndarray]:
    """``frame`` with each ``by`` group's rows contiguous and in ``ts`` order, and where each group starts.

    Lake rows are returned as they are (see :func:`time_ordered_runs`); any other frame is sorted by
    ``by`` and ``ts``, stably, so that rows tied in time keep their order and a result that takes "the first
    of a tie" does not depend on how the rows came.
    """
    starts = time_ordered_runs(frame, by, ts)
    if starts is None:
        frame = frame.sort([*by, ts], maintain_order=True)
        starts = time_ordered_runs(frame, by, ts)
        assert starts is not None
    return frame, starts


def sorted_by_symbol_time(frame: pl.DataFrame, ts: str = "ts") -> pl.DataFrame:
    """``frame`` sorted by ``symbol, ts``: as it is when read from one lake file, else sorted (stably)."""
    starts = time_ordered_runs(frame, ["symbol"], ts)
    if starts is not None and frame["symbol"].gather(starts).is_sorted():
        return frame
    return frame.sort("symbol", ts, maintain_order=True)
