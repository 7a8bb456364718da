"""``kappa attribute``: run the ``attribute`` flow for a date and show each order's costs."""

from __future__ import annotations

from flows.cli.console import finish, out
from flows.cli.options import (
    BatchOption,
    CalendarOption,
    DaskOption,
    DateOption,
    HomeOption,
    RunnerOption,
    StrictOption,
    WorkersOption,
    home_settings,
    session,
)
from flows.settings import DEFAULT_BATCH_SYMBOLS, Runner


def attribute_cmd(
    date: DateOption,
    home: HomeOption = None,
    task_runner: RunnerOption = Runner.threads,
    workers: WorkersOption = None,
    dask_address: DaskOption = None,
    batch_symbols: BatchOption = DEFAULT_BATCH_SYMBOLS,
    calendar: CalendarOption = None,
    strict: StrictOption = False,
) -> None:
    """Attribute every order that arrived or traded on a date (Perold shortfall, benchmarks, the model's z,
    reversions); rows go to `attribution` (rerun = replace). Runs the Prefect flow `attribute`.

    Example: kappa attribute --date 2026-11-20
    """
    import polars as pl

    from flows.attribute import summary
    from flows.cli.flow_runs import prepare_prefect, run_flow, state_warnings
    from flows.cli.render_frame import print_frame

    kh, cal = home_settings(home, calendar)
    day = session(date, "--date", cal, closed=True)  # a day still trading (or to come) has no final fills
    prepare_prefect(kh, task_runner, dask_address)
    from flows.attribute import attribute as flow_fn

    name, message, rows = run_flow(
        flow_fn, kh, task_runner, workers, dask_address, date=day, batch_symbols=batch_symbols,
        calendar=cal,
    )  # fmt: skip
    assert isinstance(rows, pl.DataFrame)
    run = rows["run_id"][0] if rows.height else "-"
    out.print(f"attribution {day} (run {run}): {summary(rows)}")
    if rows.height:
        shown = rows.select(
            "order_id", "symbol", "side", "quantity", "filled_shares", "status", "total_usd", "total_bps",
            "delay_bps", "spread_bps", "impact_bps", "opportunity_bps", "fees_bps", "slippage_arrival_bps",
            "slippage_interval_vwap_bps", "z_score",
        ).sort("order_id")  # fmt: skip
        print_frame(out, shown, 30, note="costs: positive = paid; bps of quantity × reference price")
    finish(state_warnings(name, message), strict)
