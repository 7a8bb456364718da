"""``kappa sql``: a read-only query against the Kappa database, as a table, CSV or JSON."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from data.home import KappaHome
from flows.cli.console import err, out
from flows.cli.options import HomeOption
from kappa.errors import ParameterError


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


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
    import polars as pl

    from data.queries import incomplete_nights_note, query_frame
    from flows.cli.render_frame import print_frame, write_csv, write_json

    if not query.replace(";", " ").strip():
        raise ParameterError(
            "the query is empty: give a SQL statement, e.g. kappa sql 'SELECT * FROM runs'",
            name="query",
            value=query,
        )
    kh = KappaHome.resolve(home)
    frame = query_frame(kh, query, wait_s=wait)
    if note := incomplete_nights_note(kh, wait_s=wait):
        err.print(note, soft_wrap=True, highlight=False)
    if fmt is OutputFormat.csv:
        write_csv(frame)
    elif fmt is OutputFormat.json:
        write_json(frame)
    else:
        utc = any(isinstance(t, pl.Datetime) for t in frame.schema.values())
        print_frame(out, frame, max_rows, note="times are UTC (Z)" if utc else "")
