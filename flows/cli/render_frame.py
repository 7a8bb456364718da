"""How the command line shows result rows: every value in full, every instant marked as UTC.

Times stored in Kappa's tables are UTC (``TIMESTAMP_NS`` without a zone); printed, they carry the ``Z`` of
ISO 8601, so nobody reads them as local. Floats print in full (the shortest text that reads back as the
same number), never rounded to a few significant digits; a cell too wide for a terminal is folded onto more
lines, never cut. Nested values (lists, structs) print as JSON, their times with the ``Z`` too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from decimal import Decimal
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Column, Table

ISO_UTC = "%Y-%m-%dT%H:%M:%S%.fZ"


def plain(v: Any) -> Any:
    """A value as JSON takes it: times as ISO-8601 UTC text (a zone-free time is UTC), dates as ISO text,
    NaN and ±inf as null, a decimal as a number where a double holds it exactly (else as text, so no digit
    is lost), lists and structs element by element."""
    if isinstance(v, dt.datetime):
        utc = v.astimezone(dt.UTC).replace(tzinfo=None) if v.tzinfo else v
        return utc.isoformat() + "Z"
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Decimal):
        return float(v) if v.is_finite() and Decimal(repr(float(v))) == v else str(v)
    if isinstance(v, list | tuple):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v


def _nested(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.List | pl.Array | pl.Struct)


def utc_text(frame: pl.DataFrame, nested_as_text: bool = True) -> pl.DataFrame:
    """``frame`` with its datetime columns as ISO-8601 UTC text (``2026-11-16T15:00:00.123Z``), its durations
    as text (``1m 3s 500ms``) and, with ``nested_as_text``, its lists and structs as JSON text."""
    cols = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            col = pl.col(name)
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            cols.append(col.dt.to_string(ISO_UTC).alias(name))
        elif isinstance(dtype, pl.Duration):
            cols.append(pl.col(name).dt.to_string("polars").alias(name))
        elif nested_as_text and _nested(dtype):
            text = [None if v is None else json.dumps(plain(v), default=str) for v in frame[name].to_list()]
            cols.append(pl.lit(pl.Series(name, text, dtype=pl.String)))
    return frame.with_columns(cols)


def cell(value: Any) -> str:
    """One value as text: floats in full (``repr``), NaN and ±inf by name, null as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def print_frame(console: Console, frame: pl.DataFrame, max_rows: int, note: str = "") -> None:
    """A table of ``frame`` (its first ``max_rows`` rows), a count, and what to do for the rest."""
    shown = utc_text(frame)
    t = Table(*(Column(c, overflow="fold") for c in shown.columns), show_lines=False)
    for row in shown.head(max_rows).iter_rows():
        t.add_row(*(cell(v) for v in row))
    console.print(t)
    if frame.height > max_rows:
        console.print(f"... {frame.height - max_rows:,} more rows (use --max-rows or --format csv)")
    console.print(f"{frame.height:,} row(s)" + (f"; {note}" if note else ""))


def write_csv(frame: pl.DataFrame) -> None:
    """``frame`` as CSV on stdout, floats in full and times as ISO-8601 UTC."""
    sys.stdout.write(utc_text(frame).write_csv(float_precision=None))


def write_json(frame: pl.DataFrame) -> None:
    """``frame`` as a JSON array of objects on stdout (values as :func:`plain` makes them)."""
    rows = [{k: plain(v) for k, v in r.items()} for r in utc_text(frame, nested_as_text=False).to_dicts()]
    sys.stdout.write(json.dumps(rows, default=str, allow_nan=False) + "\n")
