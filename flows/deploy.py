"""The nightly deployment: the ``nightly`` flow on a cron schedule in the exchange's time zone.

``kappa serve`` builds it with :func:`nightly_deployment` and serves it from the current process (the
flow runs in subprocesses of the server's runner). Prefect's temporary server runs no scheduler, so a
served deployment would never fire on it: without ``PREFECT_API_URL``, :func:`prefect_server` starts
``prefect server start`` for as long as the serving lasts. The cron fires on weekdays; a run whose evening closed no
session (an exchange holiday) ends at once in a ``Completed`` state named ``Skipped`` (see
``flows.nightly.scheduled_session``). For production with work pools and workers, ``prefect.yaml`` at the
repository's root declares the same deployment (``prefect deploy --name nightly``).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from data.calendar import DEFAULT_CALENDAR, exchange_timezone, last_closed_session
from data.errors import KappaError
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


@contextmanager
def prefect_server(home: KappaHome, startup_s: float = 180.0) -> Iterator[str]:
    """The API URL of a Prefect server with its scheduler running: ``$PREFECT_API_URL`` if set, else a
    ``prefect server start`` subprocess on a free local port (its log in ``KAPPA_HOME/prefect/server.log``),
    stopped on exit. Call before ``prefect`` is imported: ``PREFECT_API_URL`` is set for this process."""
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home.prefect.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}/api"
    with (home.prefect / "server.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PREFECT_SERVER_LOGGING_LEVEL": "WARNING"},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise KappaError(f"the Prefect server did not start: see {home.prefect / 'server.log'}")
            time.sleep(0.5)
        os.environ["PREFECT_API_URL"] = url
        yield url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


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
