"""The steps of a calibration as of a date: plan in the flow process, fit batches anywhere, join, write.

1. :func:`plan_calibration` (flow process) reads what only the database holds (own fills joined to their
   orders, the daily history) and the lake manifest, and cuts the universe into :class:`CalibrationBatch`es.
2. :func:`calibrate_batch` (any worker: a thread, a process, a Dask worker) reads the batch's quotes and
   trades from the Parquet lake, never from the database, and fits each symbol on its own data.
3. :func:`finish_calibration` joins the batches and applies the one cross-sectional step; the flow's
   writer task stores the rows in one transaction (rerun = replace).

A batch that raises is retried symbol by symbol (:meth:`CalibrationBatch.split`), so one bad symbol costs
only its own row (``status`` = ``failed``, the error as the reason).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from calibration.records import CalibrationBatch, CalibrationRow
from calibration.volatility import GarchFit
from calibration.window import (
    CALIBRATION_SCHEMA,
    MapFn,
    Stage,
    calibrate_symbols,
    calibration_frame,
    finish_calibrations,
    untimed,
)
from data.calendar import DEFAULT_CALENDAR
from data.home import KappaHome
from data.reads import read_market, read_window_inputs
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS

PARALLEL_GARCH_MIN_SYMBOLS = 50


@dataclass(frozen=True, slots=True)
class CalibrationPlan:
    """The batches of one calibration and its window's sessions."""

    as_of: dt.date
    lookback_days: int
    sessions: pl.DataFrame
    batches: list[CalibrationBatch]


def chunks(items: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """``items`` in consecutive groups of at most ``size``."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]


def plan_calibration(
    home: KappaHome,
    as_of: dt.date,
    *,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    garch_days: int = DEFAULT_GARCH_DAYS,
    symbols: list[str] | None = None,
    batch_symbols: int = DEFAULT_BATCH_SYMBOLS,
    calendar: str = DEFAULT_CALENDAR,
) -> CalibrationPlan:
    """The batches of a calibration as of ``as_of`` over ``symbols`` (default: every symbol with data).

    The intraday window is the ``lookback_days`` sessions ending on ``as_of`` that have quotes loaded; the
    daily history is the last ``garch_days`` + 1 closes up to ``as_of``; fills are those of the window.
    A symbol has data if it has quotes in the window or any daily close up to ``as_of``.
    """
    w = read_window_inputs(home, as_of, lookback_days, garch_days, symbols, calendar)
    return CalibrationPlan(as_of, lookback_days, w.sessions, w.batches(batch_symbols))


def single_threaded_blas() -> None:
    """Run every BLAS this process has loaded, or will use for a calibration, on one thread.

    SciPy bundles its own OpenBLAS beside NumPy's and loads it on first use: it is imported first, so
    the limit reaches both.
    """
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS)

    threadpool_limits(limits=1, user_api="blas")


@contextmanager
def garch_pool(symbols: int, workers: int) -> Iterator[MapFn | None]:
    """A process pool's ``map`` for the GARCH fits of batches that run on threads, or ``None``.

    A GARCH fit is a Python-level optimisation that holds the GIL, so batches on threads would fit one
    symbol at a time; this pool (spawned processes with one BLAS thread each; polars may deadlock in a
    forked child) fits them in parallel while the batches' polars work runs on the threads. Not worth
    its start-up below ``PARALLEL_GARCH_MIN_SYMBOLS`` symbols or with a single worker.
    """
    if workers <= 1 or symbols < PARALLEL_GARCH_MIN_SYMBOLS:
        yield None
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=single_threaded_blas) as pool:
        yield partial(_pool_map, pool)


def _pool_map(
    pool: ProcessPoolExecutor, fn: Callable[[np.ndarray], GarchFit], xs: Iterable[np.ndarray]
) -> Iterator[GarchFit]:
    return pool.map(fn, xs, chunksize=8)


def calibrate_batch(
    batch: CalibrationBatch, garch_map: MapFn | None = None, stage: Stage = untimed
) -> pl.DataFrame:
    """Per-symbol estimates of the batch (``calibrate_symbols`` rows), reading market data from the lake.

    ``garch_map`` runs the GARCH fits (default: here, one after another; see :func:`garch_pool`);
    ``stage`` wraps the ``read`` and each stage of :func:`calibration.window.calibrate_symbols` (a
    benchmark passes a stopwatch's). Sets
    this process's BLAS to one thread: batches are the unit of parallelism, and the GARCH optimum moves in
    its 7th digit with the BLAS thread count, so a night gives the same numbers on threads, processes or
    Dask workers (which run BLAS single-threaded).
    """
    single_threaded_blas()
    with stage("read"):
        window = read_market(batch)
    return calibrate_symbols(window, garch_map or map, stage)


def failed_rows(batch: CalibrationBatch, exc: BaseException) -> pl.DataFrame:
    """A ``failed`` row for each symbol of a batch that raised ``exc``."""
    return calibration_frame([CalibrationRow.failed(s, exc) for s in batch.symbols])


def finish_calibration(plan: CalibrationPlan, parts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The ``calibrations`` rows of the joined batches, with the window's first and last session."""
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=CALIBRATION_SCHEMA)
    dates = plan.sessions["date"]
    return finish_calibrations(frame, plan.as_of, plan.lookback_days).with_columns(
        pl.lit(dates.min() if len(dates) else None, dtype=pl.Date).alias("window_start"),
        pl.lit(dates.max() if len(dates) else None, dtype=pl.Date).alias("window_end"),
    )


def summary(rows: pl.DataFrame) -> str:
    """Counts per status, e.g. ``ok: 1998, failed: 2``."""
    if not rows.height:
        return "no symbol with data"
    counts = rows.group_by("status").len().sort("status")
    return ", ".join(f"{s}: {n}" for s, n in counts.iter_rows())
