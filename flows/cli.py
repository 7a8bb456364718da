"""The ``kappa`` command line.

Every command honours ``KAPPA_HOME`` and ``--home`` and prints a one-line reason on failure. Exit codes:

====  ==========================================================================================
0     done (warnings, if any, printed on stderr)
1     an unexpected error (``KAPPA_DEBUG=1`` shows its traceback)
2     refused: bad arguments or input, a load refused, a flow run that failed
3     done, but with warnings, under ``--strict`` (or ``KAPPA_STRICT=1``): for cron and schedulers
130   interrupted
====  ==========================================================================================
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import duckdb
import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from data.home import KappaHome
from data.store import reader
from flows.display import print_frame, write_csv, write_json
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS, Runner
from kappa.errors import KappaError, ScheduleError

EXIT_REFUSED = 2
EXIT_WARNINGS = 3
STRICT_ENV = "KAPPA_STRICT"

if TYPE_CHECKING:
    from data.ingest import LoadReport

app = typer.Typer(
    name="kappa",
    help="Almgren-Chriss calibration, optimal schedules and transaction-cost analysis on DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# values, file names and errors are printed as they are: no Rich markup, no highlighting; piped output is not
# cut to a terminal's width
out = Console(soft_wrap=True, markup=False, highlight=False, width=None if sys.stdout.isatty() else 100_000)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Kappa home (database, lake, reports); default $KAPPA_HOME or ./.kappa"),
]
CalendarOption = Annotated[
    str | None,
    typer.Option(
        help="exchange_calendars code, e.g. XNYS or 24/7 (default: the home's, else XNYS; the first one given "
        "is remembered by the home)"
    ),
]
TimezoneOption = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        help="IANA zone of timestamps written without a UTC offset, e.g. America/New_York ('exchange': the "
        "calendar's; default: the home's `kappa config timezone`; none: such rows are quarantined)",
    ),
]
StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict", help="Exit 3 (not 0) when the command finishes with warnings (also KAPPA_STRICT=1)"
    ),
]


class FinishedWithWarnings(Exception):
    """The command did its work, with warnings, under ``--strict``: exit code 3."""


def _finish(warnings: list[str], strict: bool) -> None:
    """Print each warning on stderr; under ``--strict`` end with exit code 3 if there are any."""
    for w in warnings:
        err.print(f"warning: {w}", soft_wrap=True, highlight=False)
    if warnings and (strict or os.environ.get(STRICT_ENV, "") not in ("", "0")):
        raise FinishedWithWarnings(f"finished with {len(warnings)} warning(s) (--strict)")


def _home_settings(home: Path | None, calendar: str | None) -> tuple[KappaHome, str]:
    """The home and its calendar (``data.calendar.home_calendar``: remembered, or refused if it differs)."""
    from data.calendar import home_calendar

    kh = KappaHome.resolve(home)
    return kh, home_calendar(kh, calendar)


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
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _print_load(report: LoadReport) -> None:
    out.print(
        f"{report.table}: read {report.rows_read:,} rows from {len(report.files)} file(s), "
        f"loaded {report.rows_loaded:,}, quarantined {report.rows_quarantined:,}"
        + (f" (dates {report.dates[0]} .. {report.dates[-1]})" if report.dates else "")
    )
    if report.quarantined_by_rule:
        t = Table("rule", "rows", title=f"quarantined {report.table} rows by rule", title_justify="left")
        for rule, n in report.quarantined_by_rule.items():
            t.add_row(rule, f"{n:,}")
        out.print(t)
    if report.flagged_by_rule:
        shown = "; ".join(f"{table} {rule} {n:,}" for (table, rule), n in report.flagged_by_rule.items())
        out.print(
            f"  flagged by the tape-cleaning rules (kept, left out of the models): {shown}", highlight=False
        )
    by_date: dict[object, list[int]] = {}
    for r in report.replaced:
        acc = by_date.setdefault(r.date, [0, 0, 0])
        acc[0], acc[1], acc[2] = acc[0] + r.rows_before, acc[1] + r.rows_after, acc[2] + 1
    what = "order(s)" if report.table == "fills" else ("date(s)" if report.table == "daily" else "symbol(s)")
    for day, (before, after, n) in by_date.items():
        when = f" {day}" if day else ""
        out.print(
            f"  replaced {report.table}{when}: {before:,} → {after:,} rows ({n:,} {what})", highlight=False
        )
    if report.cancelled_fills:
        out.print(f"  cancelled {report.cancelled_fills:,} fill(s) (kept in cancelled_fills)")


@app.command("ingest")
def ingest_cmd(
    table: Annotated[InputTable, typer.Argument(help="Input table of the data contract")],
    paths: Annotated[
        list[Path], typer.Argument(help="CSV (, ; tab or | delimited, optionally .gz) or Parquet")
    ],
    home: HomeOption = None,
    calendar: CalendarOption = None,
    timezone: TimezoneOption = None,
    max_quarantined: Annotated[
        float,
        typer.Option(
            help="Refuse the load (nothing loaded, exit 2) if a file has a larger share quarantined"
        ),
    ] = 0.5,
    replace_orders: Annotated[
        bool,
        typer.Option(
            help="fills: each order the files name gets exactly their fills (the rest is cancelled)"
        ),
    ] = False,
    strict: StrictOption = False,
) -> None:
    """Validate and load files; bad rows go to the quarantine table with the rule they broke and the line
    as read. A fills file cancels a fill with exec_type = cancel (FIX trade cancel).

    Example: kappa ingest quotes inbox/2026-11-20/quotes.csv --timezone America/New_York
    """
    from data.ingest import ingest

    if not 0 <= max_quarantined <= 1:
        raise KappaError(f"--max-quarantined {max_quarantined} is not a share between 0 and 1")
    kh, cal = _home_settings(home, calendar)
    with _progress() as bar:
        tasks: dict[str, TaskID] = {}

        def advance(path: str, rows: int) -> None:
            if path not in tasks:
                tasks[path] = bar.add_task(Path(path).name, total=None)
            bar.advance(tasks[path], rows)

        report = ingest(
            kh, table.value, paths, calendar=cal, timezone=timezone, progress=advance,
            replace_orders=replace_orders, max_quarantined=max_quarantined,
        )  # fmt: skip
    _print_load(report)
    _finish(report.warnings, strict)


@app.command("config")
def config_cmd(
    key: Annotated[str | None, typer.Argument(help="calendar or timezone (none: show every setting)")] = None,
    value: Annotated[str | None, typer.Argument(help="The new value (none: show this setting)")] = None,
    unset: Annotated[bool, typer.Option("--unset", help="Remove the setting (back to the default)")] = False,
    home: HomeOption = None,
) -> None:
    """Show or change the home's settings (KAPPA_HOME/kappa.toml): `calendar` (the exchange whose sessions
    the data are dated in) and `timezone` (of timestamps written without a UTC offset).

    Example: kappa config timezone America/New_York
    """
    from dataclasses import fields

    from data.calendar import DEFAULT_CALENDAR, check_calendar, check_timezone
    from data.home import HomeConfig

    kh = KappaHome.resolve(home)
    known = [f.name for f in fields(HomeConfig)]
    if key is None and (value is not None or unset):
        raise KappaError(f"name the setting to change ({', '.join(known)})")
    if key is not None and key not in known:
        raise KappaError(f"unknown setting {key!r} (settings: {', '.join(known)})")
    if key is not None and (value is not None or unset):
        if value is not None and unset:
            raise KappaError("give a value or --unset, not both")
        if value is not None:
            check_calendar(value) if key == "calendar" else (value == "exchange" or check_timezone(value))
        before = kh.config().calendar or DEFAULT_CALENDAR
        if key == "calendar" and kh.db_path.exists() and (value or DEFAULT_CALENDAR) != before:
            err.print(f"warning: the home already holds data dated in the sessions of {before}")
        kh.save_config(**{key: value})
    cfg = kh.config()
    defaults = {"calendar": DEFAULT_CALENDAR, "timezone": "none: offset-free timestamps are quarantined"}
    for name in [key] if key else known:
        v = getattr(cfg, name)
        out.print(
            f"{name} = {v}" if v is not None else f"{name} (unset; default {defaults[name]})", highlight=False
        )


def _query_frame(con: duckdb.DuckDBPyConnection, query: str) -> pl.DataFrame:
    """The query's rows as polars; an INTERVAL (which polars cannot take) as DuckDB's text, e.g. 00:01:03.5."""
    rel = con.sql(query)
    if rel is None:
        return pl.DataFrame()
    if any(str(t) == "INTERVAL" for t in rel.types):
        rel = rel.select(", ".join(
            f'CAST("{c}" AS VARCHAR) AS "{c}"' if str(t) == "INTERVAL" else f'"{c}"'
            for c, t in zip(rel.columns, rel.types, strict=True)
        ))  # fmt: skip
    return rel.pl()


@app.command("sql")
def sql_cmd(
    query: Annotated[str, typer.Argument(help="A SQL query over Kappa's tables and views")],
    home: HomeOption = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table, csv or json")
    ] = OutputFormat.table,
    wait: Annotated[float, typer.Option(help="Seconds to wait while a job is writing", min=0)] = 5.0,
    max_rows: Annotated[int, typer.Option(help="Rows shown in table format", min=0)] = 50,
) -> None:
    """Run a read-only query against the Kappa database; values print in full and times in ISO 8601 UTC
    (the trailing Z), in every format.

    Example: kappa sql "SELECT rule, count(*) FROM quarantine GROUP BY rule" --format csv
    """
    if not query.replace(";", " ").strip():
        raise KappaError("the query is empty: give a SQL statement, e.g. kappa sql 'SELECT * FROM runs'")
    kh = KappaHome.resolve(home)
    with reader(kh, wait_s=wait) as con:
        try:
            frame = _query_frame(con, query)
        except Exception as exc:  # DuckDB's parser/binder errors are user errors here
            raise KappaError(f"query failed: {str(exc).splitlines()[0]}") from exc
    if fmt is OutputFormat.csv:
        write_csv(frame)
    elif fmt is OutputFormat.json:
        write_json(frame)
    else:
        utc = any(isinstance(t, pl.Datetime) for t in frame.schema.values())
        print_frame(out, frame, max_rows, note="times are UTC (Z)" if utc else "")


RunnerOption = Annotated[
    Runner,
    typer.Option("--task-runner", help="Where batch tasks run: threads, processes or a Dask cluster"),
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", help="Threads, processes or local Dask workers (default: CPU count)", min=1),
]
DaskOption = Annotated[
    str | None,
    typer.Option(
        "--dask-address", help="Dask scheduler, e.g. tcp://host:8786 (default: start a local cluster)"
    ),
]
BatchOption = Annotated[
    int, typer.Option("--batch-symbols", help="Symbols per calibration/attribution task", min=1)
]
LookbackOption = Annotated[int, typer.Option(help="Sessions of intraday data (σ realized, γ, η, ε)", min=1)]
GarchDaysOption = Annotated[int, typer.Option(help="Daily closes for GARCH(1,1)", min=0)]


def _run_flow(
    home: KappaHome, name: str, runner: Runner, workers: int | None, dask_address: str | None,
    **params: object,
) -> tuple[str, str | None, object]:  # fmt: skip
    """Run the Prefect flow ``name`` of :mod:`flows.nightly` on the chosen task runner.

    Returns the final state's name and message and the flow's result; a failed run raises its error.
    Check the arguments before calling: starting Prefect takes seconds.
    """
    if runner is not Runner.dask and dask_address:
        raise KappaError("--dask-address needs --task-runner dask")
    from flows.settings import prefect_environment, quiet_known_errors, task_runner

    prefect_environment(home)
    from flows import nightly as flows_mod

    quiet_known_errors()
    chosen = task_runner(runner.value, workers=workers, dask_address=dask_address)
    fl = getattr(flows_mod, name).with_options(task_runner=chosen)
    state = fl(home=str(home.root), **params, return_state=True)
    result = state.result()  # raises the flow's error when it failed
    return state.name, state.message, result


def _state_warnings(state_name: str, message: str | None) -> list[str]:
    return [message or "finished with warnings"] if state_name == "Warning" else []


def _session(value: str, option: str, calendar: str, closed: bool = False) -> dt.date:
    """A session date of ``calendar`` given as ``value`` (checked before any flow starts); with ``closed``,
    one whose close has passed."""
    from data.calendar import require_closed, require_session

    check = require_closed if closed else require_session
    return check(_parse_date(value, option), calendar, option)


def _num(v: object, digits: int = 4) -> str:
    return f"{v:.{digits}g}" if isinstance(v, float) else ("" if v is None else str(v))


def _calibration_table(rows: pl.DataFrame) -> Table:
    """The calibrations as people read them: units in the headers, each estimate ± its standard error,
    where a value came from when it is not its own estimate, and why a row is not ``ok``."""
    t = Table("symbol", "status", "σ ($/sh/√day)", "σ (% ann.)", "σ GARCH ($/sh/√day)", "γ ($/sh per sh)",
              "η ($/sh per sh/day)", "ε ($/sh)", "β", title_justify="left")  # fmt: skip
    for r in rows.sort("symbol").iter_rows(named=True):
        garch = str(r.get("garch_status") or "")
        g = "realized (fallback)" if garch.startswith("fallback") else _num(r.get("sigma_garch_usd"))
        pm = "±"
        gamma = (
            f"{_num(r.get('gamma'), 3)} {pm} {_num(r.get('gamma_se'), 2)}"
            if r.get("gamma") is not None
            else ""
        )
        if r.get("gamma") is not None and r.get("gamma_status") not in (None, "ok"):
            gamma += f" ({r['gamma_status']})"
        eta = _num(r.get("eta"), 3)
        if r.get("eta_source") == "fills" and r.get("eta_se") is not None:
            eta += f" {pm} {_num(r['eta_se'], 2)}"
        elif r.get("eta_source"):
            eta += f" ({r['eta_source']})"
        eps = _num(r.get("epsilon_usd"), 4)
        if r.get("epsilon_source") and r["epsilon_source"] != "fills":
            eps += f" ({r['epsilon_source']})"
        elif r.get("epsilon_se_usd") is not None:
            eps += f" {pm} {_num(r['epsilon_se_usd'], 2)}"
        beta = (
            f"{_num(r.get('beta'), 3)} {pm} {_num(r.get('beta_se'), 2)}" if r.get("beta") is not None else ""
        )
        t.add_row(r["symbol"], r["status"], _num(r.get("sigma_usd")), _num(r.get("sigma_pct_ann"), 3), g, gamma,
                  eta, eps, beta)  # fmt: skip
    return t


def _print_reasons(rows: pl.DataFrame) -> None:
    """Why each row that is not ``ok`` is not: every fallback, with its cause."""
    for r in rows.filter(pl.col("status") != "ok").sort("symbol").iter_rows(named=True):
        out.print(
            f"  {r['symbol']} {r['status']}: {r.get('reason') or 'no reason recorded'}", highlight=False
        )


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
    calendar: CalendarOption = None,
    strict: StrictOption = False,
) -> None:
    """Estimate σ (realized, GARCH), γ, η, ε and β per symbol; rows go to `calibrations` (rerun = replace).

    Runs the Prefect flow `calibrate`: symbols in batches, each read from the lake and fitted on the task
    runner, then one write. The printout gives the units, each estimate ± its standard error, where a value
    fell back (and to what), and why a row is not `ok`.

    Example: kappa calibrate --as-of 2026-11-20 --lookback-days 20 --symbols AAPL,MSFT
    """
    kh, cal = _home_settings(home, calendar)
    day = _session(as_of, "--as-of", cal, closed=True)
    if lookback_days < 1 or garch_days < 0 or batch_symbols < 1:
        raise KappaError("--lookback-days and --batch-symbols must be at least 1, --garch-days at least 0")
    chosen = ([s.strip() for s in symbols.split(",") if s.strip()] or None) if symbols else None
    name, message, rows = _run_flow(
        kh, "calibrate", task_runner, workers, dask_address, as_of=day, lookback_days=lookback_days,
        garch_days=garch_days, symbols=chosen, batch_symbols=batch_symbols, calendar=cal,
    )  # fmt: skip
    assert isinstance(rows, pl.DataFrame)
    if not rows.height:
        raise KappaError(f"no symbol has data for a calibration as of {day}")
    missing = sorted(set(chosen or []) - set(rows["symbol"].to_list()))
    counts = ", ".join(f"{s} {n}" for s, n in rows.group_by("status").len().sort("status").iter_rows())
    out.print(f"calibrations as of {day} (run {rows['run_id'][0]}): {rows.height} symbol(s): {counts}")
    out.print(_calibration_table(rows))
    _print_reasons(rows)
    no_data = [f"no data for {', '.join(missing)} as of {day}: not calibrated"] if missing else []
    _finish(_state_warnings(name, message) + no_data, strict)


@app.command("attribute")
def attribute_cmd(
    date: Annotated[str, typer.Option("--date", help="Session date, YYYY-MM-DD")],
    home: HomeOption = None,
    task_runner: RunnerOption = Runner.threads,
    workers: WorkersOption = None,
    dask_address: DaskOption = None,
    batch_symbols: BatchOption = DEFAULT_BATCH_SYMBOLS,
    calendar: CalendarOption = None,
    strict: StrictOption = False,
) -> None:
    """Attribute every order that arrived or traded on a date (Perold shortfall, benchmarks, the model's z,
    markouts); rows go to `attribution` (rerun = replace). Runs the Prefect flow `attribute`.

    Example: kappa attribute --date 2026-11-20
    """
    from flows.attribute import summary

    kh, cal = _home_settings(home, calendar)
    day = _session(date, "--date", cal)
    name, message, rows = _run_flow(
        kh, "attribute", task_runner, workers, dask_address, date=day, batch_symbols=batch_symbols,
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
    _finish(_state_warnings(name, message), strict)


@app.command("nightly")
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

    kh, cal = _home_settings(home, calendar)
    if date:
        day = _session(date, "--date", cal, closed=True)
    else:
        day = latest_closed_session(dt.datetime.now(dt.UTC), cal)
        out.print(f"session {day} (the last one that has closed)")
    if inbox is not None and not inbox.is_dir():
        raise KappaError(f"--inbox {inbox} is not a folder")
    _require_quotes(kh, day, inbox)
    _, _, result = _run_flow(
        kh, "nightly", task_runner, workers, dask_address, date=day, inbox=str(inbox) if inbox else None,
        lookback_days=lookback_days, garch_days=garch_days, batch_symbols=batch_symbols, calendar=cal,
        timezone=timezone,
    )  # fmt: skip
    _print_night(result)
    _finish(_night_warnings(result), strict)


def _require_quotes(home: KappaHome, day: dt.date, inbox: Path | None) -> None:
    """Refuse a night that would fail for want of quotes before Prefect starts (it takes seconds)."""
    from data.inbox import inbox_files, inbox_folder

    folder = inbox or inbox_folder(home, day)
    if "quotes" in inbox_files(folder)[0]:
        return
    if home.db_path.exists():
        from data.reads import lake_paths

        if lake_paths(home, "quotes", [day]):
            return
    raise KappaError(f"no quotes for {day}: put the day's files in {folder} (or load them first)")


def _night_warnings(result: object) -> list[str]:
    from flows.nightly import NightlyResult

    assert isinstance(result, NightlyResult)
    return [f"{result.date}: {w}" for w in result.warnings]


def _print_night(result: object) -> None:
    from flows.nightly import NightlyResult

    assert isinstance(result, NightlyResult)
    r = result
    cal = ", ".join(f"{k} {v}" for k, v in r.calibration_status.items()) or "none"
    out.print(f"nightly {r.date} (run {r.run_id})")
    out.print(f"  loaded {r.loaded_rows:,} rows, quarantined {r.quarantined_rows:,}")
    out.print(f"  calibrations: {cal}")
    out.print(f"  attribution: {r.attribution}")
    out.print(f"  schedules for the next session: {r.schedules}")
    for order_id, why in r.skipped_orders:
        out.print(f"    {order_id} not scheduled: {why}", highlight=False)
    by_note: dict[str, list[str]] = {}
    for order_id, note in r.schedule_notes:  # a note is about a symbol's calibration: once for its orders
        by_note.setdefault(note, []).append(order_id)
    for note, ids in by_note.items():
        shown = ids[0] + (f" and {len(ids) - 1} more" if len(ids) > 1 else "")
        out.print(f"    {shown}: {note}", highlight=False)
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
    calendar: CalendarOption = None,
    timezone: TimezoneOption = None,
    strict: StrictOption = False,
) -> None:
    """Run the nightly flow for every session from START to END in order; finished dates are skipped, so
    a backfill that failed resumes where it stopped.

    Example: kappa backfill --start 2026-11-02 --end 2026-11-20
    """
    from data.calendar import sessions

    kh, cal = _home_settings(home, calendar)
    first, last = _parse_date(start, "--start"), _parse_date(end, "--end")
    if last < first:
        raise KappaError(f"--end {last} is before --start {first}")
    if not sessions(first, last, cal):
        raise KappaError(f"no {cal} session between {first} and {last}")
    _, _, results = _run_flow(
        kh, "backfill", task_runner, workers, dask_address, start=first, end=last, redo=redo,
        lookback_days=lookback_days, garch_days=garch_days, batch_symbols=batch_symbols, calendar=cal,
        timezone=timezone,
    )  # fmt: skip
    assert isinstance(results, list)
    warnings = []
    for r in results:
        _print_night(r)
        warnings += _night_warnings(r)
    out.print(f"backfill {first} .. {last}: {len(results)} night(s) run, the others were already done")
    _finish(warnings, strict)


@app.command("serve")
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
    from flows.settings import prefect_environment

    kh, calendar = _home_settings(home, calendar)
    try:
        CronSim(cron, dt.datetime.now(dt.UTC))
    except CronSimError as exc:
        raise KappaError(f"--cron {cron!r} is not a cron expression: {exc}") from None
    if cron_timezone:
        check_timezone(cron_timezone)
    from flows.deploy import cron_day_fields_warning

    if warning := cron_day_fields_warning(cron):
        err.print(f"warning: {warning}", soft_wrap=True, highlight=False)
    prefect_environment(kh)
    from flows.deploy import nightly_deployment, prefect_server, serve, serve_commands, upcoming_nights

    with prefect_server(kh) as url:
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

    kh, cal = _home_settings(home, None)
    day = _session(date, "--date", cal)
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            raise KappaError(f"--out {out_dir} is a file, not a folder")
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KappaError(f"--out {out_dir}: cannot make that folder ({exc.strerror})") from None
        if not os.access(out_dir, os.W_OK):
            raise KappaError(f"--out {out_dir}: the folder is not writable")
    files = report(kh, day, out_dir, calendar=cal)
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
    sigma_overnight: Annotated[
        float | None, typer.Option(help="σ_night ($/share per night crossed; default the calibration's)")
    ] = None,
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
    price: Annotated[
        float | None,
        typer.Option("--price", help="Reference price ($/share) of costs in bps (default: the close)"),
    ] = None,
    lot_size: Annotated[
        float, typer.Option("--lot-size", help="Round lot (shares) of the printed schedule")
    ] = 100,
    calendar: CalendarOption = None,
    home: HomeOption = None,
) -> None:
    """Optimal Almgren-Chriss schedule (exact discrete solution) with E, V and the baselines beside it:
    times in the exchange's zone, holdings in round lots (--lot-size), costs in $ and bps (--price, else the
    calibration's closing mid).

    Example: kappa schedule --shares 1e6 --side sell --horizon-days 5 --periods 5 --risk-aversion 1e-6
    --sigma 0.95 --eta 2.5e-6 --gamma 2.5e-7 --epsilon 0.0625
    """
    from flows.schedules import ScheduleRequest, plan_schedule, save_plan
    from schedule import periods_for

    kh = KappaHome.resolve(home)
    if symbol or save:
        kh, calendar = _home_settings(home, calendar)
    calendar = calendar or "XNYS"
    if price is not None and not price > 0:
        raise KappaError(f"--price {price} must be a positive $/share")
    if not lot_size > 0:
        raise KappaError(f"--lot-size {lot_size} must be positive")
    if periods is None and period_days is None:
        raise KappaError("pass --periods N or --period-days τ")
    n = periods_for(horizon_days, period_days) if period_days is not None else periods
    if periods is not None and n != periods:
        raise KappaError(f"--periods {periods} and --period-days {period_days} disagree (T/τ = {n})")
    assert n is not None
    req = ScheduleRequest(
        shares=shares, side=side.value, horizon_days=horizon_days, periods=n, risk_aversion=risk_aversion,
        symbol=symbol, as_of=_parse_date(as_of, "--as-of") if as_of else None, sigma_usd=sigma,
        sigma_overnight_usd=sigma_overnight, gamma=gamma,
        eta=eta, epsilon_usd=epsilon, eta_nl=eta_nl, beta=beta, adv_shares=adv, sigma_source=sigma_source.value,
        drift_usd_per_day=drift, model=model.value, strategy=baseline.value if baseline else "optimal",
        participation=participation, start=_parse_start(start, calendar) if start else None,
        frontier=frontier or plot is not None, frontier_points=points, order_id=order_id, calendar=calendar,
        price_usd=price,
    )  # fmt: skip
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

        sys.stdout.write(
            json.dumps(json_safe(plan_json(plan, lot_size)), default=str, allow_nan=False) + "\n"
        )
    else:
        from flows.schedule_output import print_plan

        print_plan(out, plan, lot_size)
    if run_id:
        (err if json_out else out).print(f"saved {plan.schedule_id} to schedules (run {run_id})")
    if plot is not None:
        (err if json_out else out).print(f"frontier drawn to {plot}")


def _parse_start(value: str, calendar: str) -> dt.datetime:
    """An ISO time with an offset, or a date meaning that session's open."""
    from data.calendar import require_session, session_bounds

    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        pass
    else:
        require_session(day, calendar, "--start")  # a weekend or holiday, or beyond the sessions built
        return session_bounds(day, day, calendar)["open_ts"][0].replace(tzinfo=dt.UTC)
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
    symbols: Annotated[int, typer.Option(help="Simulated symbols", min=1)] = 5,
    days: Annotated[
        int, typer.Option(help="Nights to run (one more session is simulated: tomorrow)", min=1)
    ] = 5,
    history_days: Annotated[int, typer.Option(help="Sessions of daily history before them", min=0)] = 500,
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

    if days < 1 or symbols < 1 or history_days < 0:
        raise KappaError("--days and --symbols must be at least 1, --history-days at least 0")
    kh = KappaHome.resolve(home)
    if kh.db_path.exists() and not (kh.root / "demo" / "truth.json").exists():
        raise KappaError(
            f"{kh.root} holds data the demo did not make; the demo writes a simulated market into its home: "
            "give it one of its own (--home /tmp/kappa-demo)"
        )
    prefect_environment(kh)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the demo prints its own summary
    from flows.demo import run_demo

    quiet_known_errors()
    result = run_demo(
        kh, symbols=symbols, days=days, history_days=history_days, seed=seed,
        task_runner=make_runner(task_runner.value, workers=workers),
    )  # fmt: skip
    out.print(
        f"Kappa demo: {symbols} symbols, nightly flow over {len(result.dates)} sessions "
        f"({result.dates[0]} .. {result.dates[-1]}), simulated into {result.data_dir}"
    )
    for night in result.nights:
        _print_night(night)
        for w in getattr(night, "warnings", []):
            out.print(f"    warning: {w}", highlight=False, soft_wrap=True)
    t = Table("table", "rows", title="rows in the database", title_justify="left")
    for name, n in result.table_rows.items():
        t.add_row(name, f"{n:,}")
    out.print(t)
    out.print(f"calibrated as of {result.dates[-1]}, beside the simulator's truth:")
    print_frame(out, result.calibration_vs_truth, 50, note="estimate ± standard error beside the truth")
    out.print(f"database: {kh.db_path}\nlake:     {kh.lake}\ninbox:    {kh.inbox}")
    out.print(f"report:   {result.report}")
    import shlex

    kappa = _kappa_command()
    h = f" --home {shlex.quote(str(kh.root))}" if home else ""
    out.print("try (as printed):")
    for query in DEMO_QUERIES:
        out.print(f"  {kappa} sql{h} {shlex.quote(query)}", highlight=False, soft_wrap=True)


DEMO_QUERIES = (
    "SELECT date, broker, orders, total_bps, slippage_arrival_bps, z_mean, z_std FROM scorecard_broker "
    "ORDER BY date, broker",
    "SELECT symbol, as_of, sigma_usd, gamma, gamma_status, eta, eta_source, epsilon_usd, status "
    "FROM latest_calibrations",
    "SELECT order_id, symbol, side, shares, count(*) - 1 AS periods, max(expected_cost_usd) AS e_usd, "
    "max(std_usd) AS sd_usd FROM schedules GROUP BY ALL ORDER BY 1",
)


def _kappa_command() -> str:
    """How to call this ``kappa`` from the current folder in a new shell: its path where it lies below the
    folder (``.venv/bin/kappa`` after ``make demo``, whose ``uv run`` puts it on a PATH the user's shell does
    not have), else by name if it is the one on the PATH, else its full path."""
    import shutil

    script = Path(sys.executable).parent / "kappa"
    if not script.exists():
        return f"{sys.executable} -m flows.cli"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        pass
    on_path = shutil.which("kappa")
    return "kappa" if on_path and Path(on_path).resolve() == script.resolve() else str(script)


def main() -> None:
    """Entry point: run the app, turning errors into one line on stderr and the exit codes of the module
    docstring."""
    try:
        code = app(
            standalone_mode=False
        )  # click returns (not raises) the exit code of an Abort: 130 on Ctrl-C
        if isinstance(code, int) and code:
            if code == 130:
                err.print("interrupted")
            sys.exit(code)
    except FinishedWithWarnings as exc:
        err.print(f"{exc}", soft_wrap=True, highlight=False)
        sys.exit(EXIT_WARNINGS)
    except (KappaError, ScheduleError) as exc:
        err.print(f"error: {_one_line(exc)}", soft_wrap=True, highlight=False)
        _release(exc)
        sys.exit(EXIT_REFUSED)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code if isinstance(code, int) else 0)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors and anything unexpected: one line, not a traceback
        show = getattr(exc, "show", None)  # click's usage errors (typer vendors its own click)
        if callable(show):
            show()
            sys.exit(int(getattr(exc, "exit_code", 2)))
        if os.environ.get("KAPPA_DEBUG"):
            raise
        err.print(f"error: {type(exc).__name__}: {_one_line(exc)}", soft_wrap=True, highlight=False)
        _release(exc)
        sys.exit(1)


def _release(exc: BaseException) -> None:
    """Drop the frames an error's traceback keeps alive (they hold closed DuckDB connections, which the
    interpreter's exit would report, many lines long, as leaked objects)."""
    import gc

    seen: set[int] = set()
    chain: BaseException | None = exc
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        chain.__traceback__ = None
        chain = chain.__cause__ or chain.__context__
    gc.collect()


def _one_line(exc: BaseException) -> str:
    """The error's message on one line (a flow run's message may carry a traceback after its first line)."""
    text = str(exc).strip()
    return " ".join(text.splitlines()[:1]) if text else type(exc).__name__


if __name__ == "__main__":
    main()
