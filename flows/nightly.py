"""The Prefect flow ``nightly``: one evening's work for the session ``date``::

    ingest inbox/DATE ─┬─ plan calibration ─ calibrate batch × B ─┐
                       └─ plan attribution ─ attribute batch × C ─┼─ schedules of tomorrow's orders
                                                                  └─ write (one transaction) ─ report ─ artifacts

Every task wraps a function of ``data``, ``flows.calibrate``, ``flows.attribute``, ``flows.schedules`` or
``flows.report`` in a few lines, so each step can be called and tested without Prefect. Tasks that touch
files or the database retry on I/O errors only (``flows.tasks``); the maths never retries. Batch tasks read
market data from the Parquet lake, never from the DuckDB file, so they run on threads, processes or Dask
workers; the database is read by the planning tasks and written by one task, both in the flow process.

A batch that fails is retried symbol by symbol; a symbol that still fails gets a ``failed`` row with its
error, the run is recorded with status ``warning`` and the flow ends in a ``Completed`` state named
``Warning`` that lists the symbols (``flows.batches``). A rerun for the same date replaces the same rows
with equal ones (idempotent in the data and result tables; its run, loads and lake file names are new).
The deployment's entrypoint is this module's :func:`nightly` (``flows.nightly.nightly``).
"""

from __future__ import annotations

import datetime as dt
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.states import Completed

from data.calendar import exchange_zone, home_calendar, require_session
from data.home import KappaHome
from data.inbox import InboxLoad, inbox_folder, ingest_inbox
from data.lake.files import reading_lake
from data.load_run import fault_point
from data.queries import read_scorecards
from data.results import Results
from data.step_inputs import has_lake_file, read_pending_orders
from data.store import finish_run, finished_run_dates, recorded_run, writer
from flows import attribute as att
from flows import calibrate as calib
from flows.artifacts import publish_artifacts
from flows.batches import failures, final_state, status_counts, warning
from flows.night_settings import NightSettings, Thresholds
from flows.report import report as render_report
from flows.runtime import run_name, scheduled_moment, scheduled_session, task_runner_kind, threads
from flows.schedules import OrderSchedules, order_schedules
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS
from flows.tasks import IO_TASK, MATH_TASK, write_results_task
from kappa.errors import NotFoundError
from reports.tca_report import ReportFiles


@dataclass(frozen=True, slots=True)
class NightlyResult:
    """What one night did, in numbers (the rows themselves are in the database)."""

    date: dt.date
    run_id: str
    loaded_rows: int = 0
    quarantined_rows: int = 0
    ignored_files: list[str] = field(default_factory=list)
    load_warnings: list[str] = field(default_factory=list)
    calibration_status: dict[str, int] = field(default_factory=dict)
    attribution: str = ""
    orders_attributed: int = 0
    schedules: int = 0
    skipped_orders: list[tuple[str, str]] = field(default_factory=list)
    schedule_notes: list[tuple[str, str]] = field(default_factory=list)  # (order_id, note): e.g. γ taken as 0
    failed_symbols: list[tuple[str, str, str]] = field(default_factory=list)
    report: str | None = None

    @property
    def warnings(self) -> list[str]:
        out = [warning(f) for f in self.failed_symbols]
        out += [f"file not loaded: {f}" for f in self.ignored_files]
        return out + [f"load: {w}" for w in self.load_warnings]


# ---------------------------------------------------------------------------------------------- tasks


@task(name="ingest inbox", **IO_TASK)
def load_inbox_task(
    home: KappaHome, folder: Path, *, calendar: str, timezone: str | None, day: dt.date | None = None
) -> InboxLoad:
    """Load the drop folder's files, delivered for ``day`` (:func:`data.inbox.ingest_inbox`)."""
    return ingest_inbox(home, folder, calendar=calendar, timezone=timezone, date=day)


@task(name="read pending orders", **IO_TASK)
def pending_orders_task(home: KappaHome, day: dt.date, calendar: str) -> pl.DataFrame:
    """The orders of the next session known by ``day``'s evening (:func:`data.step_inputs.read_pending_orders`)."""
    return read_pending_orders(home, day, calendar)


@task(name="schedule pending orders", **MATH_TASK)
def order_schedules_task(
    orders: pl.DataFrame, calibrations: pl.DataFrame, run_id: str, calendar: str
) -> OrderSchedules:
    """Each pending order's optimal schedule (:func:`flows.schedules.order_schedules`)."""
    return order_schedules(orders, calibrations, run_id, calendar)


@task(name="render report", **IO_TASK)
def report_task(home: KappaHome, day: dt.date, calendar: str) -> ReportFiles:
    """The day's HTML report and charts (:func:`flows.report.report`)."""
    return render_report(home, day, calendar=calendar)


# ---------------------------------------------------------------------------------------------- flow


@flow(name="nightly", flow_run_name=run_name("nightly"), task_runner=threads())
def nightly(
    date: dt.date | None = None,
    home: str | None = None,
    inbox: str | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    garch_days: int = DEFAULT_GARCH_DAYS,
    batch_symbols: int = DEFAULT_BATCH_SYMBOLS,
    calendar: str | None = None,
    timezone: str | None = None,
    thresholds: Thresholds | None = None,
) -> Any:
    """One evening: ingest the date's drop folder, calibrate as of the date, attribute the date's orders,
    schedule the next session's pending orders, write everything in one transaction, render the report
    and publish artifacts.

    Parameters
    ----------
    date
        The session that closed (default: the one that had just closed when the run was scheduled; on a
        weekend or holiday evening the run is skipped).
    home
        ``KAPPA_HOME`` (default ``$KAPPA_HOME`` or ``./.kappa``).
    inbox
        The drop folder (default ``KAPPA_HOME/inbox/DATE``).
    lookback_days, garch_days
        Sessions of intraday data and daily closes for the calibration.
    batch_symbols
        Symbols per calibration or attribution task.
    calendar
        ``exchange_calendars`` code of the exchange (default: the home's, ``data.calendar.home_calendar``).
    timezone
        IANA zone of the drop folder's timestamps written without a UTC offset (default: the home's).
    thresholds
        The calibration estimators' thresholds (default: :class:`calibration.records.EstimatorThresholds`'s).

    Returns
    -------
    NightlyResult
        What the night did, or a ``Completed`` state named ``Warning`` carrying it (a symbol failed, a file
        was not loaded), or ``Skipped`` (no ``date``, and the last closed session is already done).
    """
    kh = KappaHome.resolve(home)
    calendar = home_calendar(kh, calendar)
    if date is None:
        day = scheduled_session(calendar)
        if day in finished_run_dates(kh, "nightly", [day]):
            return _skipped(day, calendar)
    else:
        day = date
    require_session(day, calendar)
    settings = NightSettings.checked(
        home=str(kh.root), calendar=calendar, lookback_days=lookback_days, garch_days=garch_days,
        batch_symbols=batch_symbols, task_runner=task_runner_kind(), thresholds=thresholds or Thresholds(),
    )  # fmt: skip
    with recorded_run(kh, "nightly", settings.run_parameters(date=day)) as run_id, ExitStack() as stack:
        folder = inbox_folder(kh, day) if inbox is None else Path(inbox).expanduser().resolve()
        load = _ingest(kh, day, folder, calendar, timezone)
        fault_point("nightly_ingested")
        with reading_lake(kh):  # from the plans' manifest reads until their batches have read their files
            plan, cal_batches = calib.submit_calibration(stack, kh, day, settings)
            att_batches = att.submit_attribution(kh, day, settings)
            cal_parts, cal_failed = cal_batches.collect()
            att_parts, att_failed = att_batches.collect()
        calibrations = calib.finish_calibration(plan, cal_parts)
        correlations = calib.finish_correlations(plan, cal_parts, calibrations)
        get_run_logger().info(
            "calibrated %d symbol(s) in %d batch(es): %s",
            calibrations.height, len(plan.batches), calib.summary(calibrations),
        )  # fmt: skip
        attribution = att.join_rows(att_parts)
        get_run_logger().info("attributed %s", att.summary(attribution))
        pending, scheduled = _schedule_pending(kh, day, calibrations, run_id, calendar)
        fault_point("nightly_scheduled")
        failed = failures("calibration", cal_failed, calibrations) + failures("attribution", att_failed)
        written, message = _write_night(
            kh, run_id, day, calibrations, attribution, pending, scheduled, correlations
        )
        fault_point("report_before")
        files = report_task(kh, day, calendar=calendar) if attribution.height else None
        fault_point("report_after")
        with writer(kh) as con:  # done only now that every step, the report included, is
            finish_run(con, run_id, written, message=message,
                       status="warning" if failed or load.warnings else "success")  # fmt: skip
        result = _night_result(
            day, run_id, load, calibrations, attribution, pending, scheduled, failed, files
        )
        publish_artifacts(result, calibrations, attribution, read_scorecards(kh, day) if files else {})
    return final_state(result, result.warnings)


def _skipped(day: dt.date, calendar: str) -> Any:
    """The state of a scheduled run whose session a nightly has already finished."""
    local = scheduled_moment().astimezone(exchange_zone(calendar)).date()
    return Completed(
        name="Skipped",
        message=f"the last {calendar} session closed by {local}, {day}, is already done (rerun it with date set)",
    )


def _ingest(home: KappaHome, day: dt.date, folder: Path, calendar: str, timezone: str | None) -> InboxLoad:
    """Load the drop folder; a night without the day's quotes (loaded now or before) is refused."""
    load: InboxLoad = load_inbox_task(home, folder, calendar=calendar, timezone=timezone, day=day)
    get_run_logger().info(
        "ingested %s file(s) from %s: %s rows loaded, %s quarantined",
        sum(len(r.files) for r in load.loads), folder, sum(r.rows_loaded for r in load.loads), load.quarantined,
    )  # fmt: skip
    if not has_lake_file(home, "quotes", day):
        raise NotFoundError(
            f"no quotes for {day}: put the day's files in {folder} (or load them first)", key=("quotes", day)
        )
    return load


def _schedule_pending(
    home: KappaHome, day: dt.date, calibrations: pl.DataFrame, run_id: str, calendar: str
) -> tuple[pl.DataFrame, OrderSchedules]:
    """The next session's pending orders and their schedules from the night's calibrations."""
    pending = pending_orders_task(home, day, calendar)
    scheduled = order_schedules_task(pending, calibrations, run_id, calendar)
    get_run_logger().info(
        "scheduled %d of %d pending order(s) for the next session",
        pending.height - len(scheduled.skipped), pending.height,
    )  # fmt: skip
    return pending, scheduled


def _write_night(
    home: KappaHome, run_id: str, day: dt.date, calibrations: pl.DataFrame, attribution: pl.DataFrame,
    pending: pl.DataFrame, scheduled: OrderSchedules, correlations: pl.DataFrame | None = None,
) -> tuple[int, str]:  # fmt: skip
    """The night's rows in one transaction, the run left ``running`` until the report is written too (a
    night killed between the two is not done: it is marked failed and a backfill runs it again); returns
    the rows written and the run's message."""
    message = (
        f"calibrations {calib.summary(calibrations)}; attribution {att.summary(attribution)}; "
        f"schedules {pending.height - len(scheduled.skipped)}/{pending.height}"
    )
    written = write_results_task(
        home, run_id,
        Results(
            calibrations=calibrations, calibration_as_of=day, correlations=correlations,
            attribution=attribution, attribution_date=day,
            schedules=scheduled.rows, schedule_orders=pending["order_id"].to_list(),
        ),
        message=message, status=None,
    )  # fmt: skip
    return written, message


def _night_result(
    day: dt.date, run_id: str, load: InboxLoad, calibrations: pl.DataFrame, attribution: pl.DataFrame,
    pending: pl.DataFrame, scheduled: OrderSchedules, failed: list[tuple[str, str, str]],
    files: ReportFiles | None,
) -> NightlyResult:  # fmt: skip
    return NightlyResult(
        date=day, run_id=run_id, loaded_rows=sum(r.rows_loaded for r in load.loads),
        quarantined_rows=load.quarantined, ignored_files=load.ignored,
        load_warnings=[w for r in load.loads for w in r.warnings],
        calibration_status=status_counts(calibrations), attribution=att.summary(attribution),
        orders_attributed=attribution.height, schedules=pending.height - len(scheduled.skipped),
        skipped_orders=scheduled.skipped, schedule_notes=scheduled.notes, failed_symbols=failed,
        report=str(files.html) if files else None,
    )  # fmt: skip
