"""The Prefect flow ``calibrate`` and its steps: plan in the flow process, fit batches anywhere, join, write.

1. :func:`plan_calibration` (flow process) reads what only the database holds (own fills joined to their
   orders, the daily history) and the lake manifest, and cuts the universe into :class:`CalibrationBatch`es.
2. :func:`calibrate_batch` (any worker: a thread, a process, a Dask worker) reads the batch's quotes and
   trades from the Parquet lake, never from the database, and fits each symbol on its own data.
3. :func:`finish_calibration` joins the batches and applies the one cross-sectional step;
   :func:`finish_correlations` correlates every pair of the symbols' 5-minute returns, which each batch
   returns beside its rows (a column the join drops); the flow's writer task stores both in one
   transaction (rerun = replace).

A batch that raises is retried symbol by symbol (:meth:`CalibrationBatch.split`, ``flows.batches``), so one
bad symbol costs only its own row (``status`` = ``failed``, the error as the reason). The steps are plain
functions; the tasks below wrap them for the flows (this one, and ``flows.nightly``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

import polars as pl
from prefect import flow, task

from calibration.correlation import pairwise_correlations, unnested_returns
from calibration.records import DEFAULT_THRESHOLDS, CalibrationBatch, CalibrationRow, EstimatorThresholds
from calibration.window import (
    CALIBRATION_SCHEMA,
    MapFn,
    Stage,
    calibrate_symbols,
    calibration_frame,
    finish_calibrations,
    untimed,
)
from data.calendar import home_calendar, require_session
from data.home import KappaHome
from data.lake.files import reading_lake
from data.load_run import fault_point
from data.results import Results
from data.step_inputs import read_market, read_window_inputs
from data.store import recorded_run
from flows.artifacts import publish_calibrations
from flows.batches import Mapped, failures, final_state, warning
from flows.garch_pool import garch_pool, single_threaded_blas
from flows.night_settings import NightSettings, Thresholds
from flows.runtime import run_name, task_runner_kind, thread_workers, threads
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS
from flows.tasks import IO_TASK, write_results_task
from kappa.errors import ParameterError
from kappa.units import DEFAULT_CALENDAR


@dataclass(frozen=True, slots=True)
class CalibrationPlan:
    """The batches of one calibration and its window's sessions."""

    as_of: dt.date
    lookback_days: int
    sessions: pl.DataFrame
    batches: list[CalibrationBatch]


def plan_calibration(
    home: KappaHome,
    as_of: dt.date,
    *,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    garch_days: int = DEFAULT_GARCH_DAYS,
    symbols: list[str] | None = None,
    batch_symbols: int = DEFAULT_BATCH_SYMBOLS,
    calendar: str = DEFAULT_CALENDAR,
    thresholds: EstimatorThresholds = DEFAULT_THRESHOLDS,
) -> CalibrationPlan:
    """The batches of a calibration as of ``as_of`` over ``symbols`` (default: every symbol with data); call
    it inside :func:`data.lake.files.reading_lake`, held until the batches are done (they read lake files).

    The intraday window is the ``lookback_days`` sessions ending on ``as_of`` that have quotes loaded; the
    daily history is the last ``garch_days`` + 1 closes up to ``as_of``; fills are those of the window.
    A symbol has data if it has quotes in the window or any daily close up to ``as_of``. Every batch
    carries ``thresholds``, which its estimators apply.
    """
    w = replace(
        read_window_inputs(home, as_of, lookback_days, garch_days, symbols, calendar), thresholds=thresholds
    )
    return CalibrationPlan(as_of, lookback_days, w.sessions, w.batches(batch_symbols))


def calibrate_batch(
    batch: CalibrationBatch, garch_map: MapFn | None = None, stage: Stage = untimed
) -> pl.DataFrame:
    """Per-symbol estimates of the batch (``calibrate_symbols`` rows, with each symbol's 5-minute returns for
    :func:`finish_correlations`), reading market data from the lake.

    The estimators apply the batch's thresholds. ``garch_map`` runs the GARCH fits (default: here, one
    after another; see :func:`flows.garch_pool.garch_pool`);
    ``stage`` wraps the ``read`` and each stage of :func:`calibration.window.calibrate_symbols` (a
    benchmark passes a stopwatch's). Sets
    this process's BLAS to one thread: batches are the unit of parallelism, and the GARCH optimum moves in
    its 7th digit with the BLAS thread count, so a night gives the same numbers on threads, processes or
    Dask workers (which run BLAS single-threaded).
    """
    single_threaded_blas()
    with stage("read"):
        window = read_market(batch)
    rows = calibrate_symbols(window, garch_map or map, stage, batch.thresholds, returns=True)
    fault_point("calibrate_fit")
    return rows


def failed_rows(batch: CalibrationBatch, exc: BaseException) -> pl.DataFrame:
    """A ``failed`` row for each symbol of a batch that raised ``exc``."""
    return calibration_frame([CalibrationRow.failed(s, exc) for s in batch.symbols])


def finish_calibration(plan: CalibrationPlan, parts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The ``calibrations`` rows of the joined batches, with the window's first and last session."""
    frame = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame(schema=CALIBRATION_SCHEMA)
    return finish_calibrations(frame, plan.as_of, plan.lookback_days).with_columns(_window_columns(plan))


logger = logging.getLogger(__name__)

CORRELATION_MAX_SYMBOLS = 1_000
"""The most names whose pairs a calibration stores: n names make n(n − 1)/2 rows a night (1,000 names:
499,500 rows; 8,000 would make 32 million). Beyond it, the pairs of the most traded names (by ADV) are kept
and a basket of other names is refused in one line that asks for ``--correlation``."""


def correlated_symbols(rows: pl.DataFrame, most: int = CORRELATION_MAX_SYMBOLS) -> list[str]:
    """The symbols of ``rows`` (``symbol, adv_shares``) whose pairs are stored: all of them, or the ``most``
    with the largest ADV (ties by symbol) when there are more."""
    if rows.height <= most:
        return rows["symbol"].to_list()
    kept = rows.sort(pl.col("adv_shares").fill_null(0.0), "symbol", descending=[True, False]).head(most)
    logger.warning(
        "correlations: %d names calibrated; the pairs of the %d most traded (by ADV) are stored "
        "(CORRELATION_MAX_SYMBOLS), baskets of other names need --correlation", rows.height, most,
    )  # fmt: skip
    return kept["symbol"].to_list()


def finish_correlations(
    plan: CalibrationPlan, parts: Sequence[pl.DataFrame], rows: pl.DataFrame
) -> pl.DataFrame:
    """The ``correlations`` rows: every pair (``symbol_a < symbol_b``) of the symbols of ``rows`` (those
    calibrated; at most :data:`CORRELATION_MAX_SYMBOLS`, see :func:`correlated_symbols`) with 5-minute returns
    in the batches' ``parts``, their ρ and common buckets (:func:`calibration.correlation.pairwise_correlations`),
    the as-of date and the window's sessions."""
    returns = pl.concat([unnested_returns(p) for p in [pl.DataFrame(), *parts]])
    returns = returns.filter(pl.col("symbol").is_in(correlated_symbols(rows)))
    return pairwise_correlations(returns).with_columns(
        pl.lit(plan.as_of, dtype=pl.Date).alias("as_of"), *_window_columns(plan)
    )


def _window_columns(plan: CalibrationPlan) -> list[pl.Expr]:
    dates = plan.sessions["date"]
    return [
        pl.lit(dates.min() if len(dates) else None, dtype=pl.Date).alias("window_start"),
        pl.lit(dates.max() if len(dates) else None, dtype=pl.Date).alias("window_end"),
    ]


def summary(rows: pl.DataFrame) -> str:
    """Counts per status, e.g. ``ok: 1998, failed: 2``."""
    if not rows.height:
        return "no symbol with data"
    counts = rows.group_by("status").len().sort("status")
    return ", ".join(f"{s}: {n}" for s, n in counts.iter_rows())


# ---------------------------------------------------------------------------------------------- tasks


@task(name="plan calibration", **IO_TASK)
def plan_calibration_task(
    home: KappaHome, as_of: dt.date, *, lookback_days: int, garch_days: int, symbols: list[str] | None,
    batch_symbols: int, calendar: str, thresholds: EstimatorThresholds = DEFAULT_THRESHOLDS,
) -> CalibrationPlan:  # fmt: skip
    """:func:`plan_calibration`, in the flow process (it reads the database)."""
    return plan_calibration(
        home, as_of, lookback_days=lookback_days, garch_days=garch_days, symbols=symbols,
        batch_symbols=batch_symbols, calendar=calendar, thresholds=thresholds,
    )  # fmt: skip


@task(name="calibrate batch", **IO_TASK)
def calibrate_batch_task(batch: CalibrationBatch, garch_map: MapFn | None = None) -> pl.DataFrame:
    """:func:`calibrate_batch` on the task runner: reads the lake (hence the I/O retries), then fits."""
    return calibrate_batch(batch, garch_map)


def submit_calibration(
    stack: ExitStack,
    home: KappaHome,
    as_of: dt.date,
    settings: NightSettings,
    symbols: list[str] | None = None,
) -> tuple[CalibrationPlan, Mapped]:
    """Plan the calibration of ``symbols`` (default: every symbol with data) with ``settings`` and submit its
    batches; on the thread-pool runner their GARCH fits go to a process pool that lives as long as ``stack``
    (:func:`flows.garch_pool.garch_pool`), or run in the flow's process when they are too few to pay for one."""
    plan = plan_calibration_task(
        home, as_of, lookback_days=settings.lookback_days, garch_days=settings.garch_days, symbols=symbols,
        batch_symbols=settings.batch_symbols, calendar=settings.calendar, thresholds=settings.thresholds.record(),
    )  # fmt: skip
    workers = thread_workers()
    n_symbols = sum(len(b.symbols) for b in plan.batches)
    garch_map = stack.enter_context(garch_pool(n_symbols, workers)) if workers else None
    return plan, Mapped.submit(calibrate_batch_task, plan.batches, failed_rows, garch_map=garch_map)


# ---------------------------------------------------------------------------------------------- flow


@flow(name="calibrate", flow_run_name=run_name("calibrate"), task_runner=threads())
def calibrate(
    as_of: dt.date,
    home: str | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    garch_days: int = DEFAULT_GARCH_DAYS,
    symbols: list[str] | None = None,
    batch_symbols: int = DEFAULT_BATCH_SYMBOLS,
    calendar: str | None = None,
    thresholds: Thresholds | None = None,
) -> Any:
    """Calibrate ``symbols`` (default: every symbol with data) as of ``as_of`` into ``calibrations``.

    ``thresholds``: the estimators' (default: :class:`calibration.records.EstimatorThresholds`'s), stored
    with the other settings in ``runs.parameters``. Returns the rows written (a ``Warning`` state carrying
    them if a symbol failed).
    """
    if symbols is not None and not symbols:
        raise ParameterError(
            "no symbol given: pass symbols=None to calibrate every symbol with data",
            name="symbols",
            value=symbols,
        )
    kh = KappaHome.resolve(home)
    settings = NightSettings.checked(
        home=str(kh.root), calendar=home_calendar(kh, calendar), lookback_days=lookback_days,
        garch_days=garch_days, batch_symbols=batch_symbols, task_runner=task_runner_kind(),
        thresholds=thresholds or Thresholds(),
    )  # fmt: skip
    # as the nightly's date: a calibration is of a session's close
    require_session(as_of, settings.calendar, "as_of")
    params = settings.run_parameters(as_of=as_of, symbols=symbols)
    with recorded_run(kh, "calibrate", params) as run_id, ExitStack() as stack:
        with reading_lake(kh):  # from the plan's manifest read until its batches have read their files
            plan, batches = submit_calibration(stack, kh, as_of, settings, symbols)
            parts, failed = batches.collect()
        rows = finish_calibration(plan, parts)
        correlations = finish_correlations(plan, parts, rows)
        failed_symbols = failures("calibration", failed, rows)
        fault_point("calibrate_before_write")
        write_results_task(
            kh, run_id,
            Results(calibrations=rows, calibration_as_of=as_of, calibration_symbols=symbols,
                    correlations=correlations),
            message=summary(rows), status="warning" if failed_symbols else "success",
        )  # fmt: skip
        if rows.height:
            publish_calibrations(rows)
    return final_state(rows.with_columns(run_id=pl.lit(run_id)), [warning(f) for f in failed_symbols])
