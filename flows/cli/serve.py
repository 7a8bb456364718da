"""``kappa serve``: register the nightly deployment on a cron schedule and serve it until interrupted."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from data.home import KappaHome
from flows.cli.console import err, out
from flows.cli.options import CalendarOption, HomeOption, home_settings
from kappa.errors import ParameterError


def serve_cmd(
    home: HomeOption = None,
    cron: Annotated[str, typer.Option(help="Cron expression in the exchange's time zone")] = "30 18 * * 1-5",
    cron_timezone: Annotated[
        str | None,
        typer.Option(help="IANA zone of the cron (default: the exchange's, America/New_York for XNYS)"),
    ] = None,
    name: Annotated[str, typer.Option(help="Deployment name")] = "kappa-nightly",
    calendar: CalendarOption = None,
) -> None:
    """Register the nightly deployment on a cron schedule and serve it until interrupted; each run
    processes the session that had just closed, and holidays and weekends are skipped.

    Example: kappa serve --cron "30 18 * * 1-5" --calendar XNYS
    """
    from cronsim import CronSim, CronSimError

    from data.calendar import check_timezone
    from flows.server import read_record
    from flows.settings import prefect_environment

    kh, calendar = home_settings(home, calendar)
    try:
        CronSim(cron, dt.datetime.now(dt.UTC))
    except CronSimError as exc:
        raise ParameterError(
            f"--cron {cron!r} is not a cron expression: {exc}", name="--cron", value=cron
        ) from None
    if cron_timezone:
        check_timezone(cron_timezone)
    from flows.deploy import cron_day_fields_warning

    if warning := cron_day_fields_warning(cron):
        err.print(f"warning: {warning}", soft_wrap=True, highlight=False)
    with serving(kh):  # one serve per home: a second would fire every night twice
        # the home's managed server (its scheduler fires the cron)
        url = prefect_environment(kh, scheduler=True)
        assert url is not None
        from flows.deploy import nightly_deployment, serve, serve_commands, upcoming_nights

        deployment = nightly_deployment(kh, cron=cron, timezone=cron_timezone, calendar=calendar, name=name)
        tz = deployment.schedules[0].schedule.timezone
        day_or = deployment.schedules[0].schedule.day_or
        full_name = f"{deployment.flow_name}/{deployment.name}"

        def ready() -> None:
            out.print(f"Prefect server: {url}")
            out.print(f"serving {full_name}: cron '{cron}' in {tz}")
            for when, session in upcoming_nights(cron, tz, calendar, 5, day_or=day_or):
                out.print(
                    f"  {when:%a %Y-%m-%d %H:%M %Z}: "
                    + (f"session {session}" if session else "skipped (no session)")
                )
            for line in serve_commands(url, full_name, calendar):
                out.print(line, highlight=False, soft_wrap=True)

        stopped_by = serve(deployment, on_ready=ready)
        out.print(f"stopped ({stopped_by}): the deployment's schedule is paused until it is served again")
        if (record := read_record(kh)) is not None and record.url == url:
            out.print("the home's Prefect server keeps running for its commands (stop it: kappa server stop)")


SERVE_LOCK = "serve.lock"


@contextmanager
def serving(home: KappaHome) -> Iterator[None]:
    """Hold ``KAPPA_HOME/prefect/serve.lock`` (an ``flock``, released by the kernel if the process dies) while
    this process serves the home's nightly; a second ``kappa serve`` of the home is refused at once, in one
    line that names the first (its PID)."""
    home.prefect.mkdir(parents=True, exist_ok=True)
    with (home.prefect / SERVE_LOCK).open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another kappa serve"
            raise ParameterError(
                f"{home.root} is already served by {holder}: one kappa serve per home (two would run each "
                "night twice); stop it first (Ctrl-C, or kill its PID)",
                name="--home",
                value=str(home.root),
            ) from None
        try:
            f.truncate(0)
            f.write(f"kappa serve (PID {os.getpid()})")
            f.flush()
            yield
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)
