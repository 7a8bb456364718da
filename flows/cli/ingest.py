"""``kappa ingest``: validate and load files into one input table, and say what was loaded and refused."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.cli.console import finish, out
from flows.cli.options import CalendarOption, HomeOption, StrictOption, TimezoneOption, home_settings
from kappa.errors import ParameterError

if TYPE_CHECKING:
    from rich.progress import Progress

    from data.ingest import LoadReport


class InputTable(StrEnum):
    quotes = "quotes"
    trades = "trades"
    orders = "orders"
    fills = "fills"
    daily = "daily"


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
    from rich.progress import TaskID

    from data.ingest import ingest

    if not 0 <= max_quarantined <= 1:
        raise ParameterError(
            f"--max-quarantined {max_quarantined} is not a share between 0 and 1",
            name="--max-quarantined", value=max_quarantined,
        )  # fmt: skip
    kh, cal = home_settings(home, calendar)
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
    print_load(report)
    finish(report.warnings, strict)


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
