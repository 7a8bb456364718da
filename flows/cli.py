"""The ``kappa`` command line.

Every command honours ``KAPPA_HOME`` and ``--home``, exits 0 on success and non-zero with a one-line reason
on failure. Set ``KAPPA_DEBUG=1`` to see the traceback of an unexpected error.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from data.errors import KappaError
from data.home import KappaHome
from data.store import reader
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS, Runner
from schedule.model import ScheduleError

if TYPE_CHECKING:
    from data.ingest import LoadReport

app = typer.Typer(
    name="kappa",
    help="Almgren-Chriss calibration, optimal schedules and transaction-cost analysis on DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Kappa home (database, lake, reports); default $KAPPA_HOME or ./.kappa"),
]


class InputTable(StrEnum):
    quotes = "quotes"
    trades = "trades"
    orders = "orders"
    fills = "fills"
    daily = "daily"


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _print_load(report: LoadReport) -> None:
    out.print(
        f"[bold]{report.table}[/]: read {report.rows_read:,} rows from {len(report.files)} file(s), "
        f"loaded {report.rows_loaded:,}, quarantined {report.rows_quarantined:,}"
        + (f" (dates {report.dates[0]} .. {report.dates[-1]})" if report.dates else "")
    )
    if report.quarantined_by_rule:
        t = Table("rule", "rows", title=f"quarantined {report.table} rows by rule", title_justify="left")
        for rule, n in report.quarantined_by_rule.items():
            t.add_row(rule, f"{n:,}")
        out.print(t)


@app.command("ingest")
def ingest_cmd(
    table: Annotated[InputTable, typer.Argument(help="Input table of the data contract")],
    paths: Annotated[list[Path], typer.Argument(help="CSV (optionally .gz) or Parquet files")],
    home: HomeOption = None,
    calendar: Annotated[str, typer.Option(help="exchange_calendars code for sessions")] = "XNYS",
) -> None:
    """Validate and load files; bad rows go to the quarantine table with the rule they broke.

    Example: kappa ingest quotes inbox/2026-11-20/quotes.csv --home ./.kappa
    """
    from data.ingest import ingest

    kh = KappaHome.resolve(home)
    with _progress() as bar:
        tasks: dict[str, TaskID] = {}

        def advance(path: str, rows: int) -> None:
            if path not in tasks:
                tasks[path] = bar.add_task(Path(path).name, total=None)
            bar.advance(tasks[path], rows)

        report = ingest(kh, table.value, paths, calendar=calendar, progress=advance)
    _print_load(report)


@app.command("sql")
def sql_cmd(
    query: Annotated[str, typer.Argument(help="A SQL query over Kappa's tables and views")],
    home: HomeOption = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table, csv or json")
    ] = OutputFormat.table,
    wait: Annotated[float, typer.Option(help="Seconds to wait while a job is writing")] = 5.0,
    max_rows: Annotated[int, typer.Option(help="Rows shown in table format")] = 50,
) -> None:
    """Run a read-only query against the Kappa database.

    Example: kappa sql "SELECT rule, count(*) FROM quarantine GROUP BY rule" --format csv
    """
    kh = KappaHome.resolve(home)
    with reader(kh, wait_s=wait) as con:
        try:
            frame = con.sql(query).pl()
        except Exception as exc:  # DuckDB's parser/binder errors are user errors here
            raise KappaError(f"query failed: {str(exc).splitlines()[0]}") from exc
    if fmt is OutputFormat.csv:
        sys.stdout.write(frame.write_csv())
    elif fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(frame.to_dicts(), default=str) + "\n")
    else:
        _print_frame(frame, max_rows)


def _print_frame(frame: pl.DataFrame, max_rows: int) -> None:
    t = Table(*frame.columns, show_lines=False)
    for row in frame.head(max_rows).iter_rows():
        t.add_row(*("" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v)) for v in row))
    out.print(t)
    if frame.height > max_rows:
        out.print(f"... {frame.height - max_rows:,} more rows (use --max-rows or --format csv)")
    out.print(f"{frame.height:,} row(s)")


RunnerOption = Annotated[
    Runner,
    typer.Option("--task-runner", help="Where batch tasks run: threads, processes or a Dask cluster"),
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", help="Threads, processes or local Dask workers (default: CPU count)"),
]
DaskOption = Annotated[
    str | None,
    typer.Option(
        "--dask-address", help="Dask scheduler, e.g. tcp://host:8786 (default: start a local cluster)"
    ),
]
BatchOption = Annotated[int, typer.Option("--batch-symbols", help="Symbols per calibration/attribution task")]
LookbackOption = Annotated[int, typer.Option(help="Sessions of intraday data (σ realized, γ, η, ε)")]
GarchDaysOption = Annotated[int, typer.Option(help="Daily closes for GARCH(1,1)")]
CalendarOption = Annotated[str, typer.Option(help="exchange_calendars code")]


def _run_flow(
    home: KappaHome, name: str, runner: Runner, workers: int | None, dask_address: str | None,
    **params: object,
) -> tuple[str, str | None, object]:  # fmt: skip
    """Run the Prefect flow ``name`` of :mod:`flows.nightly` on the chosen task runner.

    Returns the final state's name and message and the flow's result; a failed run raises its error.
    """
    from flows.settings import prefect_environment, quiet_known_errors, task_runner

    prefect_environment(home)
    from flows import nightly as flows_mod

    quiet_known_errors()
    if runner is not Runner.dask and dask_address:
        raise KappaError("--dask-address needs --task-runner dask")
    chosen = task_runner(runner.value, workers=workers, dask_address=dask_address)
    fl = getattr(flows_mod, name).with_options(task_runner=chosen)
    state = fl(home=str(home.root), **params, return_state=True)
    result = state.result()  # raises the flow's error when it failed
    return state.name, state.message, result


def _print_warnings(state_name: str, message: str | None) -> None:
    if state_name == "Warning":
        err.print(f"[yellow]warning:[/] {message}", soft_wrap=True, highlight=False)


@app.command("calibrate")
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
    calendar: CalendarOption = "XNYS",
) -> None:
    """Estimate σ (realized, GARCH), γ, η, ε and β per symbol; rows go to `calibrations` (rerun = replace).

    Runs the Prefect flow `calibrate`: symbols in batches, each read from the lake and fitted on the task
    runner, then one write.

    Example: kappa calibrate --as-of 2026-11-20 --lookback-days 20 --symbols AAPL,MSFT
    """
    kh = KappaHome.resolve(home)
    day = _parse_date(as_of, "--as-of")
    chosen = ([s.strip() for s in symbols.split(",") if s.strip()] or None) if symbols else None
    name, message, rows = _run_flow(
        kh, "calibrate", task_runner, workers, dask_address, as_of=day, lookback_days=lookback_days,
        garch_days=garch_days, symbols=chosen, batch_symbols=batch_symbols, calendar=calendar,
    )  # fmt: skip
    assert isinstance(rows, pl.DataFrame)
    if not rows.height:
        raise KappaError(f"no symbol has data for a calibration as of {day}")
    shown = rows.select(
        "symbol", "status", "sigma_usd", "sigma_pct_ann", "sigma_garch_usd", "gamma", "gamma_se",
        "eta", "eta_source", "epsilon_usd", "beta",
    ).sort("symbol")  # fmt: skip
    out.print(f"[bold]calibrations[/] as of {day} (run {rows['run_id'][0]}): {rows.height} symbol(s)")
    _print_frame(shown, 50)
    _print_warnings(name, message)


@app.command("attribute")
def attribute_cmd(
    date: Annotated[str, typer.Option("--date", help="Session date, YYYY-MM-DD")],
    home: HomeOption = None,
    task_runner: RunnerOption = Runner.threads,
    workers: WorkersOption = None,
    dask_address: DaskOption = None,
    batch_symbols: BatchOption = DEFAULT_BATCH_SYMBOLS,
    calendar: CalendarOption = "XNYS",
) -> None:
    """Attribute every order that arrived or traded on a date (Perold shortfall, benchmarks, the model's z,
    markouts); rows go to `attribution` (rerun = replace). Runs the Prefect flow `attribute`.

    Example: kappa attribute --date 2026-11-20
    """
    from flows.attribute import summary

    kh = KappaHome.resolve(home)
    day = _parse_date(date, "--date")
    name, message, rows = _run_flow(
        kh, "attribute", task_runner, workers, dask_address, date=day, batch_symbols=batch_symbols,
        calendar=calendar,
    )  # fmt: skip
    assert isinstance(rows, pl.DataFrame)
    run = rows["run_id"][0] if rows.height else "-"
    out.print(f"[bold]attribution[/] {day} (run {run}): {summary(rows)}")
    if rows.height:
        shown = rows.select(
            "order_id", "symbol", "side", "quantity", "filled_shares", "status", "total_bps", "delay_bps",
            "spread_bps", "impact_bps", "opportunity_bps", "fees_bps", "slippage_interval_vwap_bps", "z_score",
        ).sort("order_id")  # fmt: skip
        _print_frame(shown, 30)
    _print_warnings(name, message)


@app.command("nightly")
def nightly_cmd(
    date: Annotated[
        str | None, typer.Option("--date", help="Session date, YYYY-MM-DD (default: the last closed session)")
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
    calendar: CalendarOption = "XNYS",
) -> None:
    """One evening as a Prefect flow: ingest the drop folder, calibrate, attribute, schedule the next
    session's pending orders, write, render the report and publish artifacts.

    Example: kappa nightly --date 2026-11-20 --task-runner dask --dask-address tcp://10.0.0.5:8786
    """
    kh = KappaHome.resolve(home)
    name, message, result = _run_flow(
        kh, "nightly", task_runner, workers, dask_address, date=_parse_date(date, "--date") if date else None,
        inbox=str(inbox) if inbox else None, lookback_days=lookback_days, garch_days=garch_days,
        batch_symbols=batch_symbols, calendar=calendar,
    )  # fmt: skip
    if name == "Skipped":
        out.print(f"skipped: {message}")
        return
    _print_night(result)
    _print_warnings(name, message)


def _print_night(result: object) -> None:
    from flows.nightly import NightlyResult

    assert isinstance(result, NightlyResult)
    r = result
    cal = ", ".join(f"{k} {v}" for k, v in r.calibration_status.items()) or "none"
    out.print(f"[bold]nightly {r.date}[/] (run {r.run_id})")
    out.print(f"  loaded {r.loaded_rows:,} rows, quarantined {r.quarantined_rows:,}")
    out.print(f"  calibrations: {cal}")
    out.print(f"  attribution: {r.attribution}")
    out.print(f"  schedules for the next session: {r.schedules}")
    for order_id, why in r.skipped_orders:
        out.print(f"    {order_id} not scheduled: {why}", highlight=False)
    if r.report:
        out.print(f"  report: {r.report}")


@app.command("backfill")
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
    calendar: CalendarOption = "XNYS",
) -> None:
    """Run the nightly flow for every session from START to END in order; finished dates are skipped, so
    a backfill that failed resumes where it stopped.

    Example: kappa backfill --start 2026-11-02 --end 2026-11-20
    """
    kh = KappaHome.resolve(home)
    first, last = _parse_date(start, "--start"), _parse_date(end, "--end")
    if last < first:
        raise KappaError(f"--end {last} is before --start {first}")
    _, _, results = _run_flow(
        kh, "backfill", task_runner, workers, dask_address, start=first, end=last, redo=redo,
        lookback_days=lookback_days, garch_days=garch_days, batch_symbols=batch_symbols, calendar=calendar,
    )  # fmt: skip
    assert isinstance(results, list)
    for r in results:
        _print_night(r)
        for w in r.warnings:
            err.print(f"[yellow]warning:[/] {r.date}: {w}", soft_wrap=True, highlight=False)
    out.print(f"backfill {first} .. {last}: {len(results)} night(s) run, the others were already done")


@app.command("serve")
def serve_cmd(
    home: HomeOption = None,
    cron: Annotated[str, typer.Option(help="Cron expression in the exchange's time zone")] = "30 18 * * 1-5",
    timezone: Annotated[
        str | None, typer.Option(help="IANA time zone (default: the exchange's, America/New_York for XNYS)")
    ] = None,
    name: Annotated[str, typer.Option(help="Deployment name")] = "kappa-nightly",
    calendar: CalendarOption = "XNYS",
) -> None:
    """Register the nightly deployment on a cron schedule and serve it until interrupted; each run
    processes the session that had just closed, and holidays and weekends are skipped.

    Example: kappa serve --cron "30 18 * * 1-5" --calendar XNYS
    """
    from flows.settings import prefect_environment

    kh = KappaHome.resolve(home)
    prefect_environment(kh)
    from flows.deploy import nightly_deployment, prefect_server, serve, serve_commands, upcoming_nights

    with prefect_server(kh) as url:
        deployment = nightly_deployment(kh, cron=cron, timezone=timezone, calendar=calendar, name=name)
        tz = deployment.schedules[0].schedule.timezone
        full_name = f"{deployment.flow_name}/{deployment.name}"

        def ready() -> None:
            out.print(f"Prefect server: {url}")
            out.print(f"serving [bold]{full_name}[/]: cron '{cron}' in {tz}")
            for when, session in upcoming_nights(cron, tz, calendar, 5):
                out.print(
                    f"  {when:%a %Y-%m-%d %H:%M %Z}: "
                    + (f"session {session}" if session else "skipped (no session)")
                )
            for line in serve_commands(url, full_name, calendar):
                out.print(line, highlight=False, soft_wrap=True)

        stopped_by = serve(deployment, on_ready=ready)
    out.print(f"stopped ({stopped_by}): the deployment's schedule is paused until it is served again")


@app.command("report")
def report_cmd(
    date: Annotated[str, typer.Option("--date", help="Session date, YYYY-MM-DD")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder (default KAPPA_HOME/reports/DATE)")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Render the date's post-trade report: one self-contained HTML file and PNG charts.

    Example: kappa report --date 2026-11-20 --out /tmp/tca
    """
    from flows.report import report

    kh = KappaHome.resolve(home)
    files = report(kh, _parse_date(date, "--date"), out_dir)
    out.print(f"report: {files.html}")
    for name, path in files.pngs.items():
        out.print(f"  {name}: {path}")


class Side(StrEnum):
    buy = "buy"
    sell = "sell"


class Model(StrEnum):
    linear = "linear"
    power = "power"


class Baseline(StrEnum):
    twap = "twap"
    vwap = "vwap"
    pov = "pov"


class SigmaSource(StrEnum):
    realized = "realized"
    garch = "garch"
    tsrv = "tsrv"


@app.command("schedule")
def schedule_cmd(
    shares: Annotated[float, typer.Option("--shares", help="X: shares to buy or sell")],
    side: Annotated[Side, typer.Option("--side", help="buy or sell")],
    horizon_days: Annotated[float, typer.Option("--horizon-days", help="T: trading days to finish in")],
    periods: Annotated[int | None, typer.Option("--periods", help="N: equal periods (τ = T/N)")] = None,
    period_days: Annotated[
        float | None, typer.Option("--period-days", help="τ instead of N (must divide T)")
    ] = None,
    risk_aversion: Annotated[
        float | None, typer.Option("--risk-aversion", help="λ (1/$); 0 gives TWAP")
    ] = None,
    symbol: Annotated[str | None, typer.Option(help="Take parameters from this symbol's calibration")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Calibration on or before this date (default: latest)")
    ] = None,
    sigma: Annotated[float | None, typer.Option(help="σ ($/share/√day)")] = None,
    gamma: Annotated[float | None, typer.Option(help="γ ($/share per share)")] = None,
    eta: Annotated[float | None, typer.Option(help="η ($/share per share/day)")] = None,
    epsilon: Annotated[float | None, typer.Option(help="ε ($/share)")] = None,
    eta_nl: Annotated[float | None, typer.Option("--eta-nl", help="Power-law η_nl (dimensionless)")] = None,
    beta: Annotated[float | None, typer.Option(help="Power-law exponent β")] = None,
    adv: Annotated[float | None, typer.Option(help="ADV (shares/day), for POV and the power law")] = None,
    sigma_source: Annotated[
        SigmaSource, typer.Option(help="Which calibrated σ: realized, garch or tsrv")
    ] = SigmaSource.realized,
    drift: Annotated[float, typer.Option(help="Expected drift α ($/share/day, + = price rises)")] = 0.0,
    model: Annotated[Model, typer.Option(help="Temporary impact: linear or power")] = Model.linear,
    baseline: Annotated[
        Baseline | None, typer.Option(help="Show this baseline instead of the optimum: twap, vwap, pov")
    ] = None,
    participation: Annotated[float | None, typer.Option(help="POV participation rate, e.g. 0.1")] = None,
    start: Annotated[
        str | None, typer.Option(help="Start: ISO time with offset, or a date (its open); default next open")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
    save: Annotated[bool, typer.Option(help="Write the `schedules` (and `frontiers`) table")] = False,
    frontier: Annotated[bool, typer.Option(help="Also compute the efficient frontier over λ")] = False,
    points: Annotated[int, typer.Option(help="Frontier points")] = 41,
    plot: Annotated[Path | None, typer.Option(help="Draw the frontier to a .png, .svg or .html file")] = None,
    order_id: Annotated[str | None, typer.Option("--order-id", help="Order this schedule is for")] = None,
    calendar: Annotated[str, typer.Option(help="exchange_calendars code")] = "XNYS",
    home: HomeOption = None,
) -> None:
    """Optimal Almgren-Chriss schedule (exact discrete solution) with E, V and the baselines beside it.

    Example: kappa schedule --shares 1e6 --side sell --horizon-days 5 --periods 5 --risk-aversion 1e-6
    --sigma 0.95 --eta 2.5e-6 --gamma 2.5e-7 --epsilon 0.0625
    """
    from flows.schedules import ScheduleRequest, plan_schedule, save_plan
    from schedule import periods_for

    if periods is None and period_days is None:
        raise KappaError("pass --periods N or --period-days τ")
    n = periods_for(horizon_days, period_days) if period_days is not None else periods
    if periods is not None and n != periods:
        raise KappaError(f"--periods {periods} and --period-days {period_days} disagree (T/τ = {n})")
    assert n is not None
    req = ScheduleRequest(
        shares=shares, side=side.value, horizon_days=horizon_days, periods=n, risk_aversion=risk_aversion,
        symbol=symbol, as_of=_parse_date(as_of, "--as-of") if as_of else None, sigma_usd=sigma, gamma=gamma,
        eta=eta, epsilon_usd=epsilon, eta_nl=eta_nl, beta=beta, adv_shares=adv, sigma_source=sigma_source.value,
        drift_usd_per_day=drift, model=model.value, strategy=baseline.value if baseline else "optimal",
        participation=participation, start=_parse_start(start, calendar) if start else None,
        frontier=frontier or plot is not None, frontier_points=points, order_id=order_id, calendar=calendar,
    )  # fmt: skip
    kh = KappaHome.resolve(home)
    plan = plan_schedule(kh if symbol else None, req)
    run_id = save_plan(kh, plan) if save else None
    if plot is not None:
        from flows.schedules import frontier_rows
        from reports.charts import frontier_chart, save_chart

        front = frontier_rows(plan, run_id or "", dt.datetime.now())
        others = pl.DataFrame(
            [{"strategy": s.strategy, "variance_usd2": s.variance_usd2, "expected_cost_usd": s.expected_cost_usd}
             for s in plan.comparison if s.strategy != "optimal"],
            schema={"strategy": pl.String, "variance_usd2": pl.Float64, "expected_cost_usd": pl.Float64},
        )  # fmt: skip
        title = f"{side.value} {shares:,.0f} {symbol or ''} over {horizon_days:g} days, N = {n}".replace(
            "  ", " "
        )
        try:
            save_chart(frontier_chart(front, others, title), plot)
        except ValueError as exc:
            raise KappaError(str(exc)) from None
    if json_out:
        from flows.schedule_output import json_safe, plan_json

        sys.stdout.write(json.dumps(json_safe(plan_json(plan)), default=str, allow_nan=False) + "\n")
    else:
        from flows.schedule_output import print_plan

        print_plan(out, plan)
    if run_id:
        (err if json_out else out).print(f"saved {plan.schedule_id} to schedules (run {run_id})")
    if plot is not None:
        (err if json_out else out).print(f"frontier drawn to {plot}")


def _parse_start(value: str, calendar: str) -> dt.datetime:
    """An ISO time with an offset, or a date meaning that session's open."""
    from data.calendar import session_bounds

    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        pass
    else:
        sess = session_bounds(day, day, calendar)
        if not sess.height:
            raise KappaError(f"--start {value} is not a session of {calendar}")
        return sess["open_ts"][0].replace(tzinfo=dt.UTC)
    try:
        ts = dt.datetime.fromisoformat(value)
    except ValueError:
        raise KappaError(f"--start {value!r} is neither a date nor an ISO time") from None
    if ts.tzinfo is None:
        raise KappaError(f"--start {value!r} has no UTC offset; add one, e.g. 2026-11-24T09:30-05:00")
    return ts


def _parse_date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise KappaError(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


@app.command("demo")
def demo_cmd(
    home: HomeOption = None,
    symbols: Annotated[int, typer.Option(help="Simulated symbols")] = 5,
    days: Annotated[int, typer.Option(help="Nights to run (one more session is simulated: tomorrow)")] = 5,
    history_days: Annotated[int, typer.Option(help="Sessions of daily history before them")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    task_runner: RunnerOption = Runner.threads,
    workers: WorkersOption = None,
) -> None:
    """Simulate a small market, deliver it to the drop folder night by night and run the nightly flow
    over it (Prefect's temporary server, the embedded DuckDB); print what landed and where.

    Example: kappa demo --home /tmp/kappa-demo --symbols 5 --days 5
    """
    from flows.settings import prefect_environment, quiet_known_errors
    from flows.settings import task_runner as make_runner

    if days < 1:
        raise KappaError("--days must be at least 1")
    kh = KappaHome.resolve(home)
    prefect_environment(kh)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the demo prints its own summary
    from flows.demo import run_demo

    quiet_known_errors()
    result = run_demo(
        kh, symbols=symbols, days=days, history_days=history_days, seed=seed,
        task_runner=make_runner(task_runner.value, workers=workers),
    )  # fmt: skip
    out.print(
        f"[bold]Kappa demo[/]: {symbols} symbols, nightly flow over {len(result.dates)} sessions "
        f"({result.dates[0]} .. {result.dates[-1]}), simulated into {result.data_dir}"
    )
    for night in result.nights:
        _print_night(night)
        for w in getattr(night, "warnings", []):
            out.print(f"    [yellow]warning:[/] {w}", highlight=False)
    t = Table("table", "rows", title="rows in the database", title_justify="left")
    for name, n in result.table_rows.items():
        t.add_row(name, f"{n:,}")
    out.print(t)
    out.print(f"calibrated as of {result.dates[-1]}, beside the simulator's truth:")
    _print_frame(result.calibration_vs_truth, 50)
    out.print(f"database: {kh.db_path}\nlake:     {kh.lake}\ninbox:    {kh.inbox}")
    out.print(f"report:   {result.report}")
    h = f" --home {kh.root}" if home else ""
    out.print("try:")
    out.print(
        f'  kappa sql{h} "SELECT date, broker, orders, total_bps, z_mean, z_std FROM scorecard_broker '
        'ORDER BY date, broker"'
    )
    out.print(
        f'  kappa sql{h} "SELECT symbol, as_of, sigma_usd, gamma, eta, epsilon_usd, status FROM latest_calibrations"'
    )
    out.print(
        f'  kappa sql{h} "SELECT order_id, symbol, side, shares, count(*) - 1 AS periods, '
        'max(expected_cost_usd) AS e_usd, max(std_usd) AS sd_usd FROM schedules GROUP BY ALL ORDER BY 1"'
    )


def main() -> None:
    """Entry point: run the app, turning errors into one line on stderr and a non-zero exit code."""
    try:
        app(standalone_mode=False)
    except (KappaError, ScheduleError) as exc:
        err.print(f"[red]error:[/] {exc}", soft_wrap=True, highlight=False)
        sys.exit(2)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors and anything unexpected: one line, not a traceback
        show = getattr(exc, "show", None)  # click's usage errors (typer vendors its own click)
        if callable(show):
            show()
            sys.exit(int(getattr(exc, "exit_code", 2)))
        if os.environ.get("KAPPA_DEBUG"):
            raise
        err.print(f"[red]error:[/] {type(exc).__name__}: {exc}", soft_wrap=True, highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
