"""The Prefect flow ``backfill``: ``nightly`` for every session of a range, oldest first, resumable."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from prefect import flow, get_run_logger
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner

from data.calendar import home_calendar, sessions
from data.home import KappaHome
from data.store import finished_run_dates
from flows.batches import state_exception
from flows.night_settings import Thresholds
from flows.nightly import NightlyResult, nightly
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS
from kappa.errors import FlowError, ParameterError


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
    thresholds: Thresholds | None = None,
) -> list[NightlyResult]:
    """Run ``nightly`` for every session from ``start`` to ``end``, oldest first.

    A date whose nightly already finished (status ``success`` or ``warning`` in ``runs``) is skipped unless
    ``redo``; the first date that fails stops the backfill (later nights depend on its calibration), so
    running it again resumes there. Every night runs with ``thresholds`` (the estimators'; default:
    :class:`calibration.records.EstimatorThresholds`'s).

    Raises
    ------
    ParameterError
        No session of the calendar between ``start`` and ``end``.
    FlowError
        A night ended in a state other than ``Completed`` (its error's first line in the message).
    """
    logger = get_run_logger()
    kh = KappaHome.resolve(home)
    calendar = home_calendar(kh, calendar)
    days = sessions(start, end, calendar)
    if not days:
        raise ParameterError(
            f"no {calendar} session between {start} and {end}", name="start..end", value=(start, end)
        )
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
                date=day, home=str(kh.root), lookback_days=lookback_days, garch_days=garch_days,
                batch_symbols=batch_symbols, calendar=calendar, timezone=timezone, thresholds=thresholds,
                return_state=True,
            ),
        )  # fmt: skip
        if not state.is_completed():
            why = (str(state_exception(state)).strip().splitlines() or [state.message or ""])[0]
            raise FlowError(f"nightly {day} ended {state.name}: {why}; rerun the backfill to resume")
        results.append(state.result())
    return results


def backfill_task_runner() -> Any:
    """The task runner of the backfill's own flow run, for the nights it runs."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return ctx.task_runner.duplicate() if ctx and ctx.task_runner else ThreadPoolTaskRunner()
