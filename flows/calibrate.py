"""Calibrate every symbol as of a date and write ``calibrations`` (one row per symbol × as-of date).

Reads the window (lake files and the database) briefly, fits with no connection open (GARCH fits in a
process pool, which never touches the database), then writes all rows in one transaction: a rerun for the
same date replaces them.
"""

from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import polars as pl

from calibration.estimates import MarketWindow, calibrate_window
from data.calendar import DEFAULT_CALENDAR
from data.home import KappaHome
from data.market import read_window
from data.store import finish_run, recorded_run, replace_rows, transaction, writer

DEFAULT_LOOKBACK_DAYS = 20
DEFAULT_GARCH_DAYS = 500
PARALLEL_GARCH_MIN_SYMBOLS = 50


@dataclass(frozen=True, slots=True)
class CalibrationRun:
    """What a calibration wrote: its run id and the rows (one per symbol)."""

    run_id: str
    as_of: dt.date
    rows: pl.DataFrame


def calibrate(
    home: KappaHome,
    as_of: dt.date,
    *,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    garch_days: int = DEFAULT_GARCH_DAYS,
    symbols: list[str] | None = None,
    workers: int | None = None,
    calendar: str = DEFAULT_CALENDAR,
) -> CalibrationRun:
    """Calibrate ``symbols`` (default: all with data) as of ``as_of`` and store the rows."""
    params: dict[str, object] = {
        "as_of": as_of, "lookback_days": lookback_days, "garch_days": garch_days, "symbols": symbols,
    }  # fmt: skip
    with recorded_run(home, "calibrate", params) as run_id:
        data = read_window(home, as_of, lookback_days, garch_days, symbols, calendar)
        window = MarketWindow(
            as_of, lookback_days, data.sessions, data.quotes, data.trades, data.fills, data.daily
        )
        n_symbols = data.daily["symbol"].n_unique() if data.daily.height else 0
        workers = workers if workers is not None else (os.cpu_count() or 1)
        if workers > 1 and n_symbols >= PARALLEL_GARCH_MIN_SYMBOLS:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                rows = calibrate_window(window, map_fn=lambda f, xs: pool.map(f, xs, chunksize=16))
        else:
            rows = calibrate_window(window)
        dates = data.sessions["date"]
        rows = rows.with_columns(
            pl.lit(run_id).alias("run_id"),
            pl.lit(dates.min() if len(dates) else None, dtype=pl.Date).alias("window_start"),
            pl.lit(dates.max() if len(dates) else None, dtype=pl.Date).alias("window_end"),
        )
        with writer(home) as con, transaction(con):
            n = replace_rows(con, "calibrations", rows, ["symbol", "as_of"]) if rows.height else 0
            finish_run(con, run_id, n, message=_summary(rows))
    return CalibrationRun(run_id, as_of, rows)


def _summary(rows: pl.DataFrame) -> str:
    if not rows.height:
        return "no symbol with data"
    counts = rows.group_by("status").len().sort("status")
    return ", ".join(f"{s}: {n}" for s, n in counts.iter_rows())
