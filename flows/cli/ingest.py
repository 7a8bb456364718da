"""``kappa ingest``: validate and load files into one input table, and say what was loaded and refused."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.cli.console import finish, out
from flows.cli.options import (
    CalendarOption,
    EncodingOption,
    HomeOption,
    StrictOption,
    TimezoneOption,
    home_settings,
    session,
)
from kappa.errors import InputError, ParameterError

if TYPE_CHECKING:
    from rich.progress import Progress

    from data.ingest import LoadReport


class InputTable(StrEnum):
    quotes = "quotes"
    trades = "trades"
    orders = "orders"
    fills = "fills"
    daily = "daily"
    market = "market"
    desk = "desk"


GROUPS = {"market": ("quotes", "trades"), "desk": ("orders", "fills")}
"""The tables a group loads, in order: ``market`` every quotes and trades file it is given (a LOBSTER pair or
a DBN tbbo file feeds both), ``desk`` every orders and fills file (a FIX log feeds both)."""


class InputFormat(StrEnum):
    kappa = "kappa"
    taq = "taq"
    wrds = "wrds"
    lobster = "lobster"
    dbn = "dbn"
    fix = "fix"


def parse_columns(text: str | None) -> dict[str, str]:
    """``symbol=SYM,ts=TIMESTAMP`` -> ``{"symbol": "SYM", "ts": "TIMESTAMP"}`` (contract column -> the file's
    column); a :class:`ParameterError` for a pair without ``=`` or a contract column named twice."""
    out: dict[str, str] = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        target, eq, source = pair.partition("=")
        if not eq or not target.strip() or not source.strip():
            raise ParameterError(
                f"--columns '{pair.strip()}' is not COLUMN=FILE_COLUMN (e.g. symbol=SYM,ts=TIMESTAMP)",
                name="--columns", value=text,
            )  # fmt: skip
        key = target.strip().lower()
        if key in out:
            raise ParameterError(f"--columns maps {key} twice", name="--columns", value=text)
        out[key] = source.strip()
    return out


def ingest_cmd(
    table: Annotated[InputTable, typer.Argument(help="Input table of the data contract")],
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Kappa's CSV (, ; tab or | delimited, optionally .gz) or Parquet, or a vendor's files as "
            "delivered: NYSE TAQ (EQY_US_ALL_*), WRDS TAQ CSV, LOBSTER (pair or zip), Databento "
            "(.dbn, .dbn.zst), FIX logs"
        ),
    ],
    home: HomeOption = None,
    calendar: CalendarOption = None,
    timezone: TimezoneOption = None,
    format: Annotated[
        InputFormat | None,
        typer.Option("--format", help="The files' format instead of detecting it from name and header"),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="Kappa layout: contract column=the file's column, comma-separated "
            "(e.g. symbol=SYM,ts=TIMESTAMP,bid=BID_PX)",
        ),
    ] = None,
    encoding: EncodingOption = None,
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
    date: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="Session date the files are delivered for, YYYY-MM-DD (default: the drop folder's, else the "
            "one in the file name): quotes and trades of other dates are quarantined, an orders file replaces "
            "that date's orders",
        ),
    ] = None,
    strict: StrictOption = False,
) -> None:
    """Validate and load files; bad rows go to the quarantine table with the rule they broke and the line
    as read. A fills file cancels a fill with exec_type = cancel (FIX trade cancel). TABLE market loads
    every quotes and trades file given, desk every orders and fills file. A file delivered for a date
    (--date, its drop folder inbox/YYYY-MM-DD, or the date in its name) replaces that date only.

    Example: kappa ingest quotes inbox/2026-11-20/quotes.csv --timezone America/New_York;
    kappa ingest market EQY_US_ALL_BBO_20240102.gz EQY_US_ALL_TRADE_20240102.gz
    """
    from rich.progress import TaskID

    from data.inbox import group_files
    from data.ingest import ingest

    if not 0 <= max_quarantined <= 1:
        raise ParameterError(
            f"--max-quarantined {max_quarantined} is not a share between 0 and 1",
            name="--max-quarantined", value=max_quarantined,
        )  # fmt: skip
    kh, cal = home_settings(home, calendar)
    day = session(date, "--date", cal) if date is not None else None
    with _progress() as bar:
        tasks: dict[str, TaskID] = {}

        def advance(path: str, rows: int) -> None:
            if path not in tasks:
                tasks[path] = bar.add_task(Path(path).name, total=None)
            bar.advance(tasks[path], rows)

        mapping = parse_columns(columns)
        fmt = format.value if format else None
        if table.value in GROUPS:
            by_table, ignored = group_files(
                [p.expanduser() for p in paths], GROUPS[table.value], by_header=True, format=fmt
            )
            if ignored:
                raise InputError(f"cannot tell what to load from: {'; '.join(ignored)}")
        else:
            by_table = {table.value: list(paths)}
        reports = [
            ingest(
                kh, t, ps, calendar=cal, timezone=timezone, progress=advance,
                replace_orders=replace_orders and t == "fills", max_quarantined=max_quarantined,
                format=fmt, columns=mapping, date=day, encoding=encoding,
            )
            for t, ps in by_table.items()
        ]  # fmt: skip
    for report in reports:
        print_load(report)
    finish([w for r in reports for w in r.warnings], strict)


def _progress() -> Progress:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from flows.cli.console import err

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


def print_load(report: LoadReport) -> None:
    """What a load read, loaded, quarantined (by rule), flagged, replaced and cancelled."""
    from rich.table import Table

    out.print(
        f"{report.table}: read {report.rows_read:,} rows from {len(report.files)} file(s), "
        f"loaded {report.rows_loaded:,}, quarantined {report.rows_quarantined:,}"
        + (f" (dates {report.dates[0]} .. {report.dates[-1]})" if report.dates else "")
    )
    declared = sorted({str(d) for d in report.delivered.values() if d.date is not None})
    if declared:
        out.print(f"  delivered for {'; '.join(declared)}", highlight=False)
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
    if report.skipped_by_reason:
        shown = "; ".join(f"{reason} {n:,}" for reason, n in report.skipped_by_reason.items())
        out.print(f"  skipped by design (not loaded, not errors; see skipped_rows): {shown}", highlight=False)
    if report.cancelled_fills:
        out.print(f"  cancelled {report.cancelled_fills:,} fill(s) (kept in cancelled_fills)")
