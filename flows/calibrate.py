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
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from calibration.volatility import GarchFit
from calibration.window import (
    CALIBRATION_SCHEMA,
    MapFn,
    MarketWindow,
    StageClock,
    calibrate_symbols,
    failed_row,
    finish_calibrations,
)
from data.calendar import DEFAULT_CALENDAR, TradingClock
from data.home import KappaHome
from data.reads import read_window_inputs, scan_market
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS

PARALLEL_GARCH_MIN_SYMBOLS = 50


@dataclass(frozen=True, slots=True)
class CalibrationBatch:
    """Everything a worker needs to calibrate ``symbols``: lake files to read, and the database's rows.

    ``fills`` and ``daily`` hold only the batch's symbols (columns as in ``MarketWindow``).
    """

    as_of: dt.date
    lookback_days: int
    symbols: tuple[str, ...]
    sessions: pl.DataFrame
    quote_paths: tuple[str, ...]
    trade_paths: tuple[str, ...]
    fills: pl.DataFrame
    daily: pl.DataFrame
    calendar: str = DEFAULT_CALENDAR

    def split(self) -> list[CalibrationBatch]:
        """One batch per symbol (to isolate the symbol that made a batch fail)."""
        return [
            replace(
                self,
                symbols=(s,),
                fills=self.fills.filter(pl.col("symbol") == s),
                daily=self.daily.filter(pl.col("symbol") == s),
            )
            for s in self.symbols
        ]


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
    batches = [
        CalibrationBatch(
            as_of=as_of,
            lookback_days=lookback_days,
            symbols=group,
            sessions=w.sessions,
            quote_paths=tuple(w.quote_paths),
            trade_paths=tuple(w.trade_paths),
            fills=w.fills.filter(pl.col("symbol").is_in(group)),  # in the order read: by symbol
            daily=w.daily.filter(pl.col("symbol").is_in(group)),
            calendar=calendar,
        )
        for group in chunks(w.symbols, batch_symbols)
    ]
    return CalibrationPlan(as_of, lookback_days, w.sessions, batches)


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
    batch: CalibrationBatch, garch_map: MapFn | None = None, clock: StageClock | None = None
) -> pl.DataFrame:
    """Per-symbol estimates of the batch (``calibrate_symbols`` rows), reading market data from the lake.

    ``garch_map`` runs the GARCH fits (default: here, one after another; see :func:`garch_pool`);
    ``clock`` collects each stage's seconds (see :class:`calibration.window.StageClock`). Sets
    this process's BLAS to one thread: batches are the unit of parallelism, and the GARCH optimum moves in
    its 7th digit with the BLAS thread count, so a night gives the same numbers on threads, processes or
    Dask workers (which run BLAS single-threaded).
    """
    single_threaded_blas()
    symbols = list(batch.symbols)
    clock = clock or StageClock()
    with clock.stage("read"):
        quotes = scan_market(
            "quotes", list(batch.quote_paths), ["symbol", "date", "ts", "bid", "ask"], symbols
        )
        trades = scan_market(
            "trades", list(batch.trade_paths), ["symbol", "date", "ts", "price", "size"], symbols
        )
    window = MarketWindow(
        batch.as_of, batch.lookback_days, batch.sessions, quotes, trades, batch.fills, batch.daily,
        TradingClock(batch.calendar),
    )  # fmt: skip
    return calibrate_symbols(window, garch_map or map, clock)


def failed_rows(batch: CalibrationBatch, exc: BaseException) -> pl.DataFrame:
    """A ``failed`` row for each symbol of a batch that raised ``exc``."""
    return pl.DataFrame([failed_row(s, exc) for s in batch.symbols], schema=CALIBRATION_SCHEMA)


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
