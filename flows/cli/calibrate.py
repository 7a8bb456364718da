"""``kappa calibrate``: run the ``calibrate`` flow and show the calibrations with their units and errors."""

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
    WorkersOption,
    home_settings,
    session,
)
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS, Runner
from kappa.errors import NotFoundError, ParameterError


def calibrate_cmd(
    as_of: Annotated[str, typer.Option("--as-of", help="As-of session date, YYYY-MM-DD")],
    home: HomeOption = None,
    lookback_days: LookbackOption = DEFAULT_LOOKBACK_DAYS,
    garch_days: GarchDaysOption = DEFAULT_GARCH_DAYS,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols (default: all with data)")
    ] = None,
    task_runner: RunnerOption = Runner.threads,
    workers: WorkersOption = None,
    dask_address: DaskOption = None,
    batch_symbols: BatchOption = DEFAULT_BATCH_SYMBOLS,
    calendar: CalendarOption = None,
    strict: StrictOption = False,
) -> None:
    """Estimate σ (realized, GARCH), γ, η, ε and β per symbol; rows go to `calibrations` (rerun = replace).

    Runs the Prefect flow `calibrate`: symbols in batches, each read from the lake and fitted on the task
    runner, then one write. The printout gives the units, each estimate ± its standard error, where a value
    fell back (and to what), and why a row is not `ok`.

    Example: kappa calibrate --as-of 2026-11-20 --lookback-days 20 --symbols AAPL,MSFT
    """
    import polars as pl

    from flows.cli.flow_runs import prepare_prefect, run_flow, state_warnings
    from flows.cli.render_calibrations import calibration_table, print_reasons

    kh, cal = home_settings(home, calendar)
    day = session(as_of, "--as-of", cal, closed=True)
    for option, value, least in (
        ("--lookback-days", lookback_days, 1), ("--batch-symbols", batch_symbols, 1), ("--garch-days", garch_days, 0)
    ):  # fmt: skip
        if value < least:
            raise ParameterError(
                "--lookback-days and --batch-symbols must be at least 1, --garch-days at least 0",
                name=option, value=value,
            )  # fmt: skip
    chosen = ([s.strip() for s in symbols.split(",") if s.strip()] or None) if symbols else None
    prepare_prefect(kh, task_runner, dask_address)
    from flows.calibrate import calibrate as flow_fn

    name, message, rows = run_flow(
        flow_fn, kh, task_runner, workers, dask_address, as_of=day, lookback_days=lookback_days,
        garch_days=garch_days, symbols=chosen, batch_symbols=batch_symbols, calendar=cal,
    )  # fmt: skip
    assert isinstance(rows, pl.DataFrame)
    if not rows.height:
        raise NotFoundError(f"no symbol has data for a calibration as of {day}", key=day)
    missing = sorted(set(chosen or []) - set(rows["symbol"].to_list()))
    counts = ", ".join(f"{s} {n}" for s, n in rows.group_by("status").len().sort("status").iter_rows())
    out.print(f"calibrations as of {day} (run {rows['run_id'][0]}): {rows.height} symbol(s): {counts}")
    out.print(calibration_table(rows))
    print_reasons(rows)
    no_data = [f"no data for {', '.join(missing)} as of {day}: not calibrated"] if missing else []
    finish(state_warnings(name, message) + no_data, strict)
