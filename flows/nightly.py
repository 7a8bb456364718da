"""Prefect flows: ``nightly``, ``calibrate``, ``attribute`` and ``backfill``.

``nightly(date)`` runs one evening's work for the session ``date``::

    ingest inbox/DATE ─┬─ plan calibration ─ calibrate batch × B ─┐
                       └─ plan attribution ─ attribute batch × C ─┼─ schedules of tomorrow's orders
                                                                  └─ write (one transaction) ─ report ─ artifacts

Every task is a thin wrapper around a function of ``data``, ``flows.calibrate``, ``flows.attribute``,
``flows.schedules`` or ``reports``, so each can be called and tested without Prefect. Tasks that touch files
or the database retry on I/O errors only (:func:`io_only`); the maths never retries. Batch tasks read market
data from the Parquet lake, never from the DuckDB file, so they run on threads, processes or Dask workers;
the database is read by the planning tasks and written by one task, both in the flow process.

A batch that fails is retried symbol by symbol; a symbol that still fails gets a ``failed`` row with its
error, the run is recorded with status ``warning`` and the flow ends in a ``Completed`` state named
``Warning`` that lists the symbols. A rerun for the same date replaces the same rows (idempotent).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import duckdb
import polars as pl
from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.states import Completed, State
from prefect.task_runners import ThreadPoolTaskRunner

from data.calendar import (
    DEFAULT_CALENDAR,
    exchange_zone,
    home_calendar,
    latest_closed_session,
    require_session,
    sessions,
)
from data.home import KappaHome
from data.inbox import InboxLoad, inbox_folder, ingest_inbox
from data.reads import lake_paths, read_pending_orders
from data.report_queries import read_scorecards
from data.results import Results, write_results
from data.store import finished_run_dates, recorded_run
from flows import attribute as att
from flows import calibrate as cal
from flows.report import report as render_report
from flows.schedule_output import json_safe
from flows.schedules import order_schedules
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS
from kappa.errors import DatabaseBusyError, InputError, KappaError
from reports.tables import cell_text, usd_text
from reports.tca_report import day_summary, report_markdown

IO_ERRORS: tuple[type[BaseException], ...] = (OSError, DatabaseBusyError, duckdb.IOException)
IO_RETRIES = 2
IO_RETRY_DELAY_S = 5


def io_only(_task: object, _task_run: object, state: State[Any]) -> bool:
    """Retry a failed task only if it failed on I/O (a file, the network, a busy database)."""
    try:
        state.result()
    except IO_ERRORS:
        return True
    except BaseException:
        return False
    return False


_task: Any = task  # prefect's overloads do not type a plain function wrapped with options


def _io_task(fn: Callable[..., Any], name: str) -> Any:
    return _task(
        fn, name=name, retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S, retry_condition_fn=io_only,
        cache_policy=NO_CACHE,
    )  # fmt: skip


def _math_task(fn: Callable[..., Any], name: str) -> Any:
    return _task(fn, name=name, cache_policy=NO_CACHE)


load_inbox_task = _io_task(ingest_inbox, "ingest inbox")
plan_calibration_task = _io_task(cal.plan_calibration, "plan calibration")
calibrate_batch_task = _io_task(cal.calibrate_batch, "calibrate batch")  # reads the lake, then fits
plan_attribution_task = _io_task(att.plan_attribution, "plan attribution")
attribute_batch_task = _io_task(att.attribute_batch, "attribute batch")  # reads the lake, then attributes
pending_orders_task = _io_task(read_pending_orders, "read pending orders")
order_schedules_task = _math_task(order_schedules, "schedule pending orders")
write_results_task = _io_task(write_results, "write results")
report_task = _io_task(render_report, "render report")


# ---------------------------------------------------------------------------------------------- batches

B = TypeVar("B", cal.CalibrationBatch, att.AttributionBatch)


@dataclass(slots=True)
class Mapped:
    """Batches submitted to a task, resolved with :meth:`collect`."""

    task: Any
    failed_rows: Callable[[Any, BaseException], pl.DataFrame]
    batches: list[Any]
    futures: list[PrefectFuture[pl.DataFrame]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def submit(
        cls,
        task_: Any,
        batches: Sequence[B],
        failed_rows: Callable[[B, BaseException], pl.DataFrame],
        **options: Any,
    ) -> Mapped:
        """Map ``task_`` over ``batches``; ``options`` go unmapped to every call."""
        out = cls(task_, failed_rows, list(batches), options=options)
        out.futures = out._map(out.batches)
        return out

    def _map(self, batches: list[Any]) -> list[PrefectFuture[pl.DataFrame]]:
        if not batches:
            return []
        return list(self.task.map(batches, **{k: unmapped(v) for k, v in self.options.items()}))

    def collect(self) -> tuple[list[pl.DataFrame], list[tuple[str, str]]]:
        """The batches' frames and the ``(symbol, error)`` of every symbol that failed on its own.

        A failed batch of several symbols is resubmitted as one task per symbol, so a bad symbol takes
        only itself down. An I/O error that outlived its retries (a lake file gone, a disk full) is no
        symbol's fault: it is raised, and the night fails.
        """
        parts: list[pl.DataFrame] = []
        failures: list[tuple[str, str]] = []
        batches, futures = self.batches, self.futures
        while batches:
            again: list[Any] = []
            for batch, fut in zip(batches, futures, strict=True):
                fut.wait()
                if fut.state.is_completed():
                    parts.append(fut.result())
                    continue
                exc = _exception(fut.state)
                if isinstance(exc, IO_ERRORS):
                    raise exc
                if len(batch.symbols) > 1:
                    again.extend(batch.split())
                else:
                    parts.append(self.failed_rows(batch, exc))
                    failures.append((batch.symbols[0], f"{type(exc).__name__}: {exc}"))
            batches, futures = again, self._map(again)
        return parts, failures


def _exception(state: State[Any]) -> BaseException:
    try:
        out = state.result(raise_on_failure=False)
    except BaseException as exc:  # a crashed run raises even so
        return exc
    return out if isinstance(out, BaseException) else RuntimeError(state.message or state.name or "failed")


# ---------------------------------------------------------------------------------------------- results


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
        out = [_warning(f) for f in self.failed_symbols]
        out += [f"file not loaded: {f}" for f in self.ignored_files]
        return out + [f"load: {w}" for w in self.load_warnings]


def _failures(
    step: str, batch_failures: list[tuple[str, str]], rows: pl.DataFrame | None = None
) -> list[tuple[str, str, str]]:
    """``(symbol, step, error)`` of every symbol that failed: its batch task, or its own row (``failed``)."""
    out = {(s, step, e) for s, e in batch_failures}
    seen = {s for s, _ in batch_failures}
    if rows is not None and rows.height:
        out |= {(r["symbol"], step, r["reason"]) for r in rows.filter(pl.col("status") == "failed").to_dicts()
                if r["symbol"] not in seen}  # fmt: skip
    return sorted(out)


def _warning(failure: tuple[str, str, str]) -> str:
    symbol, step, error = failure
    return f"{step} of {symbol} failed: {error}"


def _final_state(result: Any, warnings: list[str]) -> Any:
    """The flow's return: the result, or a ``Completed`` state named ``Warning`` carrying it."""
    if not warnings:
        return result
    shown = "; ".join(warnings[:5]) + (f"; and {len(warnings) - 5} more" if len(warnings) > 5 else "")
    return Completed(name="Warning", message=shown, data=result)


# ---------------------------------------------------------------------------------------------- dates


def scheduled_moment() -> dt.datetime:
    """When this flow run was scheduled (for a run started by hand: when it was triggered), in UTC."""
    from prefect.runtime import flow_run

    return dt.datetime.fromtimestamp(flow_run.scheduled_start_time.timestamp(), dt.UTC)


def scheduled_session(calendar: str = DEFAULT_CALENDAR) -> dt.date:
    """The last session that had closed when this flow run was scheduled
    (``data.calendar.latest_closed_session``): on a Saturday morning, Friday's; on a holiday evening, the
    day before's. A run whose session a nightly has already finished is skipped (:func:`nightly`), so a cron
    that fires after midnight, or on a holiday, neither skips a session nor runs one twice."""
    return latest_closed_session(scheduled_moment(), calendar)


def _require_session(day: dt.date, calendar: str) -> None:
    require_session(day, calendar)


def _run_name(command: str) -> Callable[[], str]:
    def name() -> str:
        from prefect.runtime import flow_run

        p = flow_run.parameters
        day = p.get("date") or p.get("as_of")
        if day is None:
            calendar = p.get("calendar") or home_calendar(KappaHome.resolve(p.get("home")))
            return f"{command} {scheduled_session(calendar)}"
        return f"{command} {day}"

    return name


# ---------------------------------------------------------------------------------------------- steps


def _calibrate(
    stack: ExitStack, home: KappaHome, as_of: dt.date, lookback_days: int, garch_days: int,
    symbols: list[str] | None, batch_symbols: int, calendar: str,
) -> tuple[cal.CalibrationPlan, Mapped]:  # fmt: skip
    """Plan the calibration and submit its batches; on the thread-pool runner their GARCH fits go to a
    process pool that lives as long as ``stack`` (``flows.calibrate.garch_pool``)."""
    plan = plan_calibration_task(
        home, as_of, lookback_days=lookback_days, garch_days=garch_days, symbols=symbols,
        batch_symbols=batch_symbols, calendar=calendar,
    )  # fmt: skip
    workers = _thread_workers()
    n_symbols = sum(len(b.symbols) for b in plan.batches)
    garch_map = stack.enter_context(cal.garch_pool(n_symbols, workers)) if workers else None
    return plan, Mapped.submit(calibrate_batch_task, plan.batches, cal.failed_rows, garch_map=garch_map)


def _thread_workers() -> int:
    """The threads of this flow run's task runner, 0 if it runs tasks elsewhere (processes, Dask)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    runner = ctx.task_runner if ctx else None
    if isinstance(runner, ThreadPoolTaskRunner):
        cpus = os.cpu_count() or 1
        return min(int(getattr(runner, "_max_workers", None) or cpus), cpus)
    return 0


def _attribute(home: KappaHome, date: dt.date, batch_symbols: int, calendar: str) -> Mapped:
    batches = plan_attribution_task(home, date, batch_symbols=batch_symbols, calendar=calendar)
    return Mapped.submit(attribute_batch_task, batches, att.failed_rows)


def _status_counts(rows: pl.DataFrame) -> dict[str, int]:
    if not rows.height:
        return {}
    return {str(s): int(n) for s, n in rows.group_by("status").len().sort("status").iter_rows()}


# ---------------------------------------------------------------------------------------------- flows


def _threads() -> Any:
    """The default task runner: a thread per CPU (``flows.settings.task_runner`` for the others)."""
    return ThreadPoolTaskRunner(max_workers=os.cpu_count() or 1)


@flow(name="nightly", flow_run_name=_run_name("nightly"), task_runner=_threads())
def nightly(
    date: dt.date | None = None,
    home: str | None = None,
    inbox: str | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    garch_days: int = DEFAULT_GARCH_DAYS,
    batch_symbols: int = DEFAULT_BATCH_SYMBOLS,
    calendar: str | None = None,
    timezone: str | None = None,
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
    """
    logger = get_run_logger()
    kh = KappaHome.resolve(home)
    calendar = home_calendar(kh, calendar)
    if date is None:
        day = scheduled_session(calendar)
        if day in finished_run_dates(kh, "nightly", [day]):
            local = scheduled_moment().astimezone(exchange_zone(calendar)).date()
            return Completed(
                name="Skipped",
                message=f"the last {calendar} session closed by {local}, {day}, is already done (rerun it "
                "with date set)",
            )
    else:
        day = date
    _require_session(day, calendar)
    params = {"date": day, "lookback_days": lookback_days, "garch_days": garch_days, "calendar": calendar}
    with recorded_run(kh, "nightly", params) as run_id, ExitStack() as stack:
        folder = inbox_folder(kh, day) if inbox is None else Path(inbox).expanduser().resolve()
        load: InboxLoad = load_inbox_task(kh, folder, calendar=calendar, timezone=timezone)
        logger.info(
            "ingested %s file(s) from %s: %s rows loaded, %s quarantined",
            sum(len(r.files) for r in load.loads), folder, sum(r.rows_loaded for r in load.loads),
            load.quarantined,
        )  # fmt: skip
        if not lake_paths(kh, "quotes", [day]):
            raise InputError(f"no quotes for {day}: put the day's files in {folder} (or load them first)")
        plan, cal_batches = _calibrate(
            stack, kh, day, lookback_days, garch_days, None, batch_symbols, calendar
        )
        att_batches = _attribute(kh, day, batch_symbols, calendar)
        cal_parts, cal_failed = cal_batches.collect()
        calibrations = cal.finish_calibration(plan, cal_parts)
        logger.info(
            "calibrated %d symbol(s) in %d batch(es): %s",
            calibrations.height, len(plan.batches), cal.summary(calibrations),
        )  # fmt: skip
        att_parts, att_failed = att_batches.collect()
        attribution = att.join_rows(att_parts)
        logger.info("attributed %s", att.summary(attribution))
        pending = pending_orders_task(kh, day, calendar)
        scheduled = order_schedules_task(pending, calibrations, run_id, calendar)
        logger.info(
            "scheduled %d of %d pending order(s) for the next session",
            pending.height - len(scheduled.skipped), pending.height,
        )  # fmt: skip
        failed = _failures("calibration", cal_failed, calibrations) + _failures("attribution", att_failed)
        message = (
            f"calibrations {cal.summary(calibrations)}; attribution {att.summary(attribution)}; "
            f"schedules {pending.height - len(scheduled.skipped)}/{pending.height}"
        )
        write_results_task(
            kh, run_id,
            Results(
                calibrations=calibrations, calibration_as_of=day, attribution=attribution, attribution_date=day,
                schedules=scheduled.rows, schedule_orders=pending["order_id"].to_list(),
            ),
            message=message, status="warning" if failed or load.warnings else "success",
        )  # fmt: skip
        files = report_task(kh, day, calendar=calendar) if attribution.height else None
        result = NightlyResult(
            date=day, run_id=run_id, loaded_rows=sum(r.rows_loaded for r in load.loads),
            quarantined_rows=load.quarantined, ignored_files=load.ignored,
            load_warnings=[w for r in load.loads for w in r.warnings],
            calibration_status=_status_counts(calibrations), attribution=att.summary(attribution),
            orders_attributed=attribution.height, schedules=pending.height - len(scheduled.skipped),
            skipped_orders=scheduled.skipped, schedule_notes=scheduled.notes, failed_symbols=failed,
            report=str(files.html) if files else None,
        )  # fmt: skip
        publish_artifacts(result, calibrations, attribution, read_scorecards(kh, day) if files else {})
    return _final_state(result, result.warnings)


@flow(name="calibrate", flow_run_name=_run_name("calibrate"), task_runner=_threads())
def calibrate(
    as_of: dt.date,
    home: str | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    garch_days: int = DEFAULT_GARCH_DAYS,
    symbols: list[str] | None = None,
    batch_symbols: int = DEFAULT_BATCH_SYMBOLS,
    calendar: str | None = None,
) -> Any:
    """Calibrate ``symbols`` (default: every symbol with data) as of ``as_of`` into ``calibrations``.

    Returns the rows written (a ``Warning`` state carrying them if a symbol failed).
    """
    if symbols is not None and not symbols:
        raise InputError("no symbol given: pass symbols=None to calibrate every symbol with data")
    kh = KappaHome.resolve(home)
    calendar = home_calendar(kh, calendar)
    params = {"as_of": as_of, "lookback_days": lookback_days, "garch_days": garch_days, "symbols": symbols}
    with recorded_run(kh, "calibrate", params) as run_id, ExitStack() as stack:
        plan, batches = _calibrate(
            stack, kh, as_of, lookback_days, garch_days, symbols, batch_symbols, calendar
        )
        parts, failed = batches.collect()
        rows = cal.finish_calibration(plan, parts)
        failures = _failures("calibration", failed, rows)
        write_results_task(
            kh, run_id, Results(calibrations=rows, calibration_as_of=as_of, calibration_symbols=symbols),
            message=cal.summary(rows), status="warning" if failures else "success",
        )  # fmt: skip
        if rows.height:
            publish_calibrations(rows)
    return _final_state(rows.with_columns(run_id=pl.lit(run_id)), [_warning(f) for f in failures])


@flow(name="attribute", flow_run_name=_run_name("attribute"), task_runner=_threads())
def attribute(
    date: dt.date,
    home: str | None = None,
    batch_symbols: int = DEFAULT_BATCH_SYMBOLS,
    calendar: str | None = None,
) -> Any:
    """Attribute the orders that arrived or traded on ``date`` into ``attribution`` (rerun = replace).

    Returns the rows written (a ``Warning`` state carrying them if a symbol failed).
    """
    kh = KappaHome.resolve(home)
    calendar = home_calendar(kh, calendar)
    with recorded_run(kh, "attribute", {"date": date}) as run_id:
        parts, failed = _attribute(kh, date, batch_symbols, calendar).collect()
        rows = att.join_rows(parts)
        write_results_task(
            kh, run_id, Results(attribution=rows, attribution_date=date),
            message=att.summary(rows), status="warning" if failed else "success",
        )  # fmt: skip
    failures = _failures("attribution", failed)
    return _final_state(
        rows.with_columns(date=pl.lit(date), run_id=pl.lit(run_id)), [_warning(f) for f in failures]
    )


@flow(name="backfill", flow_run_name="backfill {start}..{end}")
def backfill(
    start: dt.date,
    end: dt.date,
    home: str | None = None,
    redo: bool = False,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    garch_days: int = DEFAULT_GARCH_DAYS,
    batch_symbols: int = DEFAULT_BATCH_SYMBOLS,
    calendar: str | None = None,
    timezone: str | None = None,
) -> list[NightlyResult]:
    """Run ``nightly`` for every session from ``start`` to ``end``, oldest first.

    A date whose nightly already finished (status ``success`` or ``warning`` in ``runs``) is skipped unless
    ``redo``; the first date that fails stops the backfill (later nights depend on its calibration), so
    running it again resumes there.
    """
    logger = get_run_logger()
    kh = KappaHome.resolve(home)
    calendar = home_calendar(kh, calendar)
    days = sessions(start, end, calendar)
    if not days:
        raise InputError(f"no {calendar} session between {start} and {end}")
    done = set() if redo else finished_run_dates(kh, "nightly", days)
    night = nightly.with_options(task_runner=backfill_task_runner())
    results: list[NightlyResult] = []
    for day in days:
        if day in done:
            logger.info("%s: already done, skipped", day)
            continue
        state = cast(
            State[Any],
            night(
                date=day,
                home=str(kh.root),
                lookback_days=lookback_days,
                garch_days=garch_days,
                batch_symbols=batch_symbols,
                calendar=calendar,
                timezone=timezone,
                return_state=True,
            ),
        )
        if not state.is_completed():
            why = (str(_exception(state)).strip().splitlines() or [state.message or ""])[0]
            raise KappaError(f"nightly {day} ended {state.name}: {why}; rerun the backfill to resume")
        results.append(state.result())
    return results


def backfill_task_runner() -> Any:
    """The task runner of the backfill's own flow run, for the nights it runs."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return ctx.task_runner.duplicate() if ctx and ctx.task_runner else ThreadPoolTaskRunner()


# ---------------------------------------------------------------------------------------------- artifacts

ARTIFACT_CALIBRATION_COLUMNS = (
    "symbol", "status", "sigma_usd", "sigma_garch_usd", "gamma", "gamma_se", "eta", "eta_source",
    "epsilon_usd", "beta", "adv_shares", "reason",
)  # fmt: skip


def publish_calibrations(calibrations: pl.DataFrame) -> None:
    """A table artifact ``calibrations``: one row per symbol."""
    table = [json_safe(r) for r in calibrations.select(ARTIFACT_CALIBRATION_COLUMNS).to_dicts()]
    as_of = calibrations["as_of"][0] if calibrations.height else None
    create_table_artifact(table, key="calibrations", description=f"Calibrations as of {as_of}")


def publish_artifacts(
    result: NightlyResult,
    calibrations: pl.DataFrame,
    attribution: pl.DataFrame,
    scorecards: dict[str, pl.DataFrame],
) -> None:
    """The night's artifacts: the calibrations table, a markdown summary, and the TCA report in markdown.

    The report artifact (``tca-report``) renders in the Prefect UI: the key numbers, the cost by component
    in $ and bps, the scorecards by broker and algo and the costliest orders, with the path of the HTML
    report (and its charts) as text; a browser does not open ``file://`` links from the UI.
    """
    if calibrations.height:
        publish_calibrations(calibrations)
    create_markdown_artifact(nightly_markdown(result, attribution), key="nightly-summary",
                             description=f"Kappa nightly {result.date}")  # fmt: skip
    if result.report:
        create_markdown_artifact(report_markdown(result.date, attribution, result.report, scorecards=scorecards),
                                 key="tca-report",
                                 description=f"Post-trade report of {result.date}")  # fmt: skip


def nightly_markdown(result: NightlyResult, attribution: pl.DataFrame) -> str:
    """The night in markdown: loads, calibrations, the day's cost by component and the model's z."""
    lines = [
        f"# Kappa nightly {result.date}",
        "",
        f"run `{result.run_id}`: {result.loaded_rows:,} rows loaded, {result.quarantined_rows:,} quarantined",
        "",
        "calibrations: " + (", ".join(f"{k} {v}" for k, v in result.calibration_status.items()) or "none"),
        f"schedules for the next session: {result.schedules}"
        + (f" ({len(result.skipped_orders)} order(s) skipped)" if result.skipped_orders else ""),
        "",
    ]
    costed = attribution.filter(pl.col("status") != "failed") if attribution.height else attribution
    if costed.height:
        s = day_summary(costed)
        lines += [
            f"## Cost of the day: {s['orders']} order(s), {usd_text(s['notional_usd'], 0)} notional, "
            f"{usd_text(s['total_usd'])} total cost",
            "",
            "| component | $ | bps (notional-weighted) |",
            "|---|---:|---:|",
            *(f"| {c} | {cell_text(s[f'{c}_usd'], 'usd')} | {cell_text(s[f'{c}_bps'], 'bps')} |"
              for c in ("delay", "spread", "impact", "opportunity", "fees", "total")),
            "",
            f"model z (realized − E)/√V over {s['z_n']} orders: mean {s['z_mean']:+.2f}, sd {s['z_std']:.2f}"
            " (an unbiased model gives 0 and 1)",
        ]  # fmt: skip
    if result.warnings:
        lines += ["", "## Warnings", "", *(f"- {w}" for w in result.warnings)]
    if result.report:
        lines += ["", f"report: `{result.report}`"]
    return "\n".join(lines)
