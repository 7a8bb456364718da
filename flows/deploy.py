"""The nightly deployment: the ``nightly`` flow on a cron schedule in the exchange's time zone.

``kappa serve`` builds it with :func:`nightly_deployment` and serves it from the current process (the
flow runs in subprocesses of the server's runner). The cron fires on weekdays; a run whose evening closed no
session (an exchange holiday) ends at once in a ``Completed`` state named ``Skipped`` (see
``flows.nightly.scheduled_session``). For production with work pools and workers, ``prefect.yaml`` at the
repository's root declares the same deployment (``prefect deploy --name nightly``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from data.calendar import DEFAULT_CALENDAR, exchange_timezone, last_closed_session
from data.home import KappaHome

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

    from flows.nightly import nightly

    tz = timezone or exchange_timezone(calendar)
    return nightly.to_deployment(
        name=name,
        schedules=[Cron(cron, timezone=tz)],
        parameters={"home": str(home.root), "calendar": calendar},
        description=f"Kappa nightly for {calendar}: ingest, calibrate, attribute, schedule, report",
        tags=["kappa", calendar],
    )


def serve(deployment: Any) -> None:
    """Serve ``deployment`` until interrupted (Prefect's runner polls for its scheduled runs)."""
    from prefect import serve as prefect_serve

    prefect_serve(deployment)


def upcoming_nights(
    cron: str,
    timezone: str,
    calendar: str = DEFAULT_CALENDAR,
    count: int = 5,
    after: dt.datetime | None = None,
) -> list[tuple[dt.datetime, dt.date | None]]:
    """The next ``count`` firings of ``cron`` in ``timezone`` and the session each would process (``None``:
    the run is skipped, no session closed that day)."""
    from cronsim import CronSim

    zone = ZoneInfo(timezone)
    start = (after or dt.datetime.now(dt.UTC)).astimezone(zone)
    it = CronSim(cron, start)
    out = []
    for _ in range(count):
        when = next(it)
        out.append((when, last_closed_session(when, calendar)))
    return out
