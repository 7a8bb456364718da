"""The nightly deployment: the ``nightly`` flow on a cron schedule in the exchange's time zone.

``kappa serve`` builds it with :func:`nightly_deployment` and serves it from the current process (the
flow runs in subprocesses of the server's runner) until SIGINT or SIGTERM (:func:`serve`). The entrypoint
is the module path ``flows.nightly.nightly``: a run imports the installed package, so no folder of the
repository comes first on ``sys.path`` (a script entrypoint put ``flows/`` there). Prefect's temporary
server runs no scheduler, so a served deployment would never fire on it: without ``PREFECT_API_URL``, the
deployment goes to the home's managed ``prefect server start`` (:mod:`flows.server`), which outlives the
serving (``kappa server stop`` stops it). The cron fires on
weekdays; each run takes the last session closed by its scheduled time, and a run whose session is already
done (on an exchange holiday, the day before's) ends at once in a ``Completed`` state named ``Skipped`` (see
``flows.nightly.scheduled_session``). For production with work pools and workers,
``prefect.yaml`` at the repository's root declares the same deployment (``prefect deploy --name nightly``).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any
from zoneinfo import ZoneInfo

from data.calendar import exchange_timezone, latest_closed_session
from data.home import KappaHome
from flows.server import stop_process_tree
from kappa.errors import FlowError
from kappa.units import DEFAULT_CALENDAR

DEFAULT_CRON = "30 18 * * 1-5"  # 18:30, Monday to Friday, after the close and the closing auction


def nightly_deployment(
    home: KappaHome,
    *,
    cron: str = DEFAULT_CRON,
    timezone: str | None = None,
    calendar: str = DEFAULT_CALENDAR,
    name: str = "kappa-nightly",
) -> Any:
    """The ``nightly`` flow as a deployment on ``Cron(cron, timezone)``.

    ``timezone`` defaults to the exchange's (America/New_York for XNYS). The parameters fix only the home
    and the calendar: ``date`` is left to default, so each run takes the session that had just closed.
    """
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from flows.nightly import nightly

    tz = timezone or exchange_timezone(calendar)
    return nightly.to_deployment(
        name=name,
        entrypoint_type=EntrypointType.MODULE_PATH,
        schedules=[Cron(cron, timezone=tz)],
        parameters={"home": str(home.root), "calendar": calendar},
        description=f"Kappa nightly for {calendar}: ingest, calibrate, attribute, schedule, report",
        tags=["kappa", calendar],
    )


def serve(deployment: Any, *, grace_s: float = 10.0, on_ready: Callable[[], None] | None = None) -> str:
    """Serve ``deployment`` until this process receives SIGINT (Ctrl-C) or SIGTERM; returns the signal's name.

    Prefect's runner (it polls the server for the deployment's scheduled runs and runs each in a
    subprocess) runs on a thread with its own event loop, while the main thread waits for a signal. On
    one, the runner is cancelled: it pauses the deployment's schedule and cancels the runs in flight;
    whatever of its subprocesses is still alive ``grace_s`` seconds later is killed, and the runs it had
    taken (pending or running) are marked ``Crashed`` with the reason, so none stays ``Running`` forever. A
    second signal skips the wait. ``on_ready`` is called once the deployment is registered.
    """
    import asyncio
    import signal
    import threading

    from prefect.runner import Runner

    runner = Runner(name=f"kappa-serve-{os.getpid()}")
    loop: list[asyncio.AbstractEventLoop] = []
    task: list[asyncio.Task[None]] = []
    ready, finished = threading.Event(), threading.Event()
    failure: list[BaseException] = []
    deployment_id: list[Any] = []

    async def run() -> None:
        loop.append(asyncio.get_running_loop())
        current = asyncio.current_task()
        assert current is not None
        task.append(current)
        deployment_id.append(await runner.aadd_deployment(deployment))
        ready.set()
        await runner.start()

    def thread_main() -> None:
        try:
            asyncio.run(run())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
        finally:
            finished.set()

    received: list[int] = []
    woken = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        woken.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=thread_main, name="prefect-runner", daemon=True)
    thread.start()
    try:
        announced = False
        while not woken.wait(0.2):
            if ready.is_set() and not announced:
                announced = True
                if on_ready:
                    on_ready()
            if finished.is_set():
                why = failure[0] if failure else RuntimeError("the runner stopped")
                raise FlowError(f"serving stopped: {type(why).__name__}: {why}")
        if loop and task:
            loop[0].call_soon_threadsafe(task[0].cancel)
        deadline = time.monotonic() + grace_s
        while not finished.wait(0.2) and time.monotonic() < deadline and len(received) < 2:
            pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _stop_children_except_servers()
    signal_name = signal.Signals(received[0]).name
    if deployment_id:
        _crash_runs_in_flight(
            deployment_id[0], f"kappa serve stopped ({signal_name}) while the run was in flight"
        )
    return signal_name


def _crash_runs_in_flight(deployment_id: Any, message: str) -> None:
    """Mark the deployment's pending and running flow runs ``Crashed`` (their processes are gone)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])
                )
            ),
        )
        for r in runs:
            client.set_flow_run_state(r.id, Crashed(message=message), force=True)


def _stop_children_except_servers() -> None:
    """Stop the flow-run subprocesses the runner left (a Prefect server of ours runs in its own session)."""
    import psutil

    me = os.getsid(0)
    for child in psutil.Process().children():
        with suppress(psutil.NoSuchProcess):
            if os.getsid(child.pid) == me:
                stop_process_tree(child.pid, grace_s=5.0)


def prefect_command() -> list[str]:
    """The ``prefect`` command of this environment (its virtualenv's script, else ``python -m prefect``)."""
    script = os.path.join(os.path.dirname(sys.executable), "prefect")
    return [script] if os.access(script, os.X_OK) else [sys.executable, "-m", "prefect"]


def serve_commands(api_url: str, deployment: str, calendar: str = DEFAULT_CALENDAR) -> list[str]:
    """What ``kappa serve`` prints once serving: the UI, and commands that work as printed in a new shell."""
    import shlex

    prefect = " ".join(shlex.quote(p) for p in prefect_command())
    env = f"PREFECT_API_URL={shlex.quote(api_url)}"
    ui = api_url.removesuffix("/").removesuffix("/api")
    last = latest_closed_session(dt.datetime.now(dt.UTC), calendar)
    return [
        f"UI: {ui}/deployments",
        "run a night now (from any shell):",
        f"  {env} {prefect} deployment run {shlex.quote(deployment)} --param date={last}",
        "its runs:",
        f"  {env} {prefect} flow-run ls --flow-name {shlex.quote(deployment.split('/')[0])} --limit 5",
        f"stop: Ctrl-C here, or kill {os.getpid()} (SIGTERM)",
    ]


def upcoming_nights(
    cron: str,
    timezone: str,
    calendar: str = DEFAULT_CALENDAR,
    count: int = 5,
    after: dt.datetime | None = None,
    day_or: bool = True,
) -> list[tuple[dt.datetime, dt.date | None]]:
    """The next ``count`` runs Prefect schedules for ``cron`` in ``timezone``, and the session each would
    process: the last session closed by then (``None``: the run before took it already, e.g. on a holiday,
    so the run is skipped; see ``flows.nightly.scheduled_session``).

    The dates are those of Prefect's own scheduler (``prefect.server.schemas.schedules.CronSchedule``, with
    the deployment's ``day_or``, Prefect's default True): croniter's rules, under which a cron restricting
    both the day of month and the day of week fires on days matching *either* (see
    :func:`cron_day_fields_warning`), where Debian's cron needs both when one field starts with ``*``.
    """
    from prefect.server.schemas.schedules import CronSchedule
    from prefect.utilities.asyncutils import run_coro_as_sync

    zone = ZoneInfo(timezone)
    start = after or dt.datetime.now(dt.UTC)
    schedule = CronSchedule(cron=cron, timezone=timezone, day_or=day_or)
    dates: list[dt.datetime] = list(run_coro_as_sync(schedule.get_dates(n=count, start=start)) or [])
    out: list[tuple[dt.datetime, dt.date | None]] = []
    before: dt.date | None = None
    for date in dates:
        when = dt.datetime.fromtimestamp(date.timestamp(), zone)
        session = latest_closed_session(when, calendar)
        out.append((when, session if session != before else None))
        before = session
    return out


def cron_day_fields_warning(cron: str) -> str | None:
    """A warning when ``cron`` restricts both its day-of-month and its day-of-week field, else None.

    Prefect schedules with croniter, which then fires on days matching either field (OR; the deployment's
    ``day_or``), while Debian's cron (and ``crontab(5)``) fires only on days matching both when either
    field starts with ``*`` (as in ``*/2``): the same line means different days to the two.
    """
    fields = cron.split()
    if len(fields) < 5:
        return None
    dom, dow = fields[2], fields[4]
    if dom in ("*", "?") or dow in ("*", "?"):
        return None
    return (
        f"--cron {cron!r} restricts both the day of month ({dom}) and the day of week ({dow}): Prefect runs it "
        "on days matching either (croniter's OR), not only on days matching both; the runs listed are "
        "Prefect's. Keep one of the two fields * (the nightly skips days without a new session)"
    )
