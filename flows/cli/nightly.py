"""``kappa nightly``: run the ``nightly`` flow for one session and show what the night did."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from data.home import KappaHome
from flows.cli.console import finish, out
from flows.cli.options import (
    BatchOption,
    CalendarOption,
    DaskOption,
    GarchDaysOption,
    HomeOption,
    LookbackOption,
    RunnerOption,
    StrictOption,
    TimezoneOption,
    WorkersOption,
    home_settings,
    session,
)
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS, Runner
from kappa.errors import NotFoundError, ParameterError


def nightly_cmd(
    date: Annotated[
        str | None,
        typer.Option("--date", help="Session date, YYYY-MM-DD (default: the last session that has closed)"),
    ] = None,
    home: HomeOption = None,
    inbox: Annotated[
        Path | None, typer.Option("--inbox", help="Drop folder (default KAPPA_HOME/inbox/DATE)")
    ] = None,
    lookback_days: LookbackOption = DEFAULT_LOOKBACK_DAYS,
    garch_days: GarchDaysOption = DEFAULT_GARCH_DAYS,
    task_runner: RunnerOption = Runner.threads,
    workers: WorkersOption = None,
    dask_address: DaskOption = None,
    batch_symbols: BatchOption = DEFAULT_BATCH_SYMBOLS,
    calendar: CalendarOption = None,
    timezone: TimezoneOption = None,
    strict: StrictOption = False,
) -> None:
    """One evening as a Prefect flow: ingest the drop folder, calibrate, attribute, schedule the next
    session's pending orders, write, render the report and publish artifacts.

    Example: kappa nightly --date 2026-11-20 --task-runner dask --dask-address tcp://10.0.0.5:8786
    """
    from data.calendar import latest_closed_session
    from flows.cli.flow_runs import prepare_prefect, run_flow
    from flows.cli.render_night import night_warnings, print_night

    kh, cal = home_settings(home, calendar)
    if date:
        day = session(date, "--date", cal, closed=True)
    else:
        day = latest_closed_session(dt.datetime.now(dt.UTC), cal)
        out.print(f"session {day} (the last one that has closed)")
    if inbox is not None and not inbox.is_dir():
        raise ParameterError(f"--inbox {inbox} is not a folder", name="--inbox", value=inbox)
    require_quotes(kh, day, inbox)
    prepare_prefect(kh, task_runner, dask_address)
    from flows.nightly import nightly as flow_fn

    _, _, result = run_flow(
        flow_fn, kh, task_runner, workers, dask_address, date=day, inbox=str(inbox) if inbox else None,
        lookback_days=lookback_days, garch_days=garch_days, batch_symbols=batch_symbols, calendar=cal,
        timezone=timezone,
    )  # fmt: skip
    print_night(result)
    finish(night_warnings(result), strict)


def require_quotes(home: KappaHome, day: dt.date, inbox: Path | None) -> None:
    """Refuse a night that would fail for want of quotes before Prefect starts (it takes seconds)."""
    from data.inbox import inbox_files, inbox_folder

    folder = inbox or inbox_folder(home, day)
    if "quotes" in inbox_files(folder)[0]:
        return
    if home.db_path.exists():
        from data.step_inputs import has_lake_file

        if has_lake_file(home, "quotes", day):
            return
    raise NotFoundError(
        f"no quotes for {day}: put the day's files in {folder} (or load them first)", key=("quotes", day)
    )
