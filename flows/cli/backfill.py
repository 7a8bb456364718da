"""``kappa backfill``: run the ``backfill`` flow (``nightly`` over a range of sessions, resumable)."""

from __future__ import annotations

from typing import Annotated

import typer

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
    parse_date,
)
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS, Runner
from kappa.errors import ParameterError


def backfill_cmd(
    start: Annotated[str, typer.Option("--start", help="First session, YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--end", help="Last session, YYYY-MM-DD")],
    home: HomeOption = None,
    redo: Annotated[bool, typer.Option("--redo", help="Run dates that already finished again")] = False,
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
    """Run the nightly flow for every session from START to END in order; finished dates are skipped, so
    a backfill that failed resumes where it stopped.

    Example: kappa backfill --start 2026-11-02 --end 2026-11-20
    """
    from data.calendar import sessions
    from flows.cli.flow_runs import prepare_prefect, run_flow
    from flows.cli.render_night import night_warnings, print_night

    kh, cal = home_settings(home, calendar)
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    if last < first:
        raise ParameterError(f"--end {last} is before --start {first}", name="--end", value=last)
    if not sessions(first, last, cal):
        raise ParameterError(f"no {cal} session between {first} and {last}", name="--start", value=first)
    prepare_prefect(kh, task_runner, dask_address)
    from flows.backfill import backfill as flow_fn

    _, _, results = run_flow(
        flow_fn, kh, task_runner, workers, dask_address, start=first, end=last, redo=redo,
        lookback_days=lookback_days, garch_days=garch_days, batch_symbols=batch_symbols, calendar=cal,
        timezone=timezone,
    )  # fmt: skip
    assert isinstance(results, list)
    warnings = []
    for r in results:
        print_night(r)
        warnings += night_warnings(r)
    out.print(f"backfill {first} .. {last}: {len(results)} night(s) run, the others were already done")
    finish(warnings, strict)
