"""What a flow run knows about itself: the session it was scheduled for, its name, its task runner."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner

from data.calendar import home_calendar, latest_closed_session
from data.home import KappaHome
from flows.settings import Runner, task_runner
from kappa.units import DEFAULT_CALENDAR


def scheduled_moment() -> dt.datetime:
    """When this flow run was scheduled (for a run started by hand: when it was triggered), in UTC."""
    from prefect.runtime import flow_run

    return dt.datetime.fromtimestamp(flow_run.scheduled_start_time.timestamp(), dt.UTC)


def scheduled_session(calendar: str = DEFAULT_CALENDAR) -> dt.date:
    """The last session that had closed when this flow run was scheduled
    (``data.calendar.latest_closed_session``): on a Saturday morning, Friday's; on a holiday evening, the
    day before's. A run whose session a nightly has already finished is skipped (``flows.nightly``), so a
    cron that fires after midnight, or on a holiday, neither skips a session nor runs one twice."""
    return latest_closed_session(scheduled_moment(), calendar)


def run_name(command: str) -> Callable[[], str]:
    """A flow run's name, e.g. ``nightly 2026-11-20``: the command and the date it is for."""

    def name() -> str:
        from prefect.runtime import flow_run

        p = flow_run.parameters
        day = p.get("date") or p.get("as_of")
        if day is None:
            calendar = p.get("calendar") or home_calendar(KappaHome.resolve(p.get("home")))
            return f"{command} {scheduled_session(calendar)}"
        return f"{command} {day}"

    return name


def threads() -> Any:
    """The flows' default task runner: a thread per CPU (:func:`flows.settings.task_runner`, which builds the
    others too)."""
    return task_runner(Runner.threads)


def thread_workers() -> int:
    """The threads of this flow run's task runner, 0 if it runs tasks elsewhere (processes, Dask)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    runner = ctx.task_runner if ctx else None
    if isinstance(runner, ThreadPoolTaskRunner):
        cpus = os.cpu_count() or 1
        return min(int(getattr(runner, "_max_workers", None) or cpus), cpus)
    return 0


def task_runner_kind() -> str:
    """Which kind of task runner this flow run has: ``threads``, ``processes`` or ``dask``."""
    from prefect.context import FlowRunContext
    from prefect.task_runners import ProcessPoolTaskRunner

    ctx = FlowRunContext.get()
    runner = ctx.task_runner if ctx else None
    if runner is None or isinstance(runner, ThreadPoolTaskRunner):
        return "threads"
    if isinstance(runner, ProcessPoolTaskRunner):
        return "processes"
    return "dask"
