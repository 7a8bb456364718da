"""How the command line shows result rows: every value in full, every instant marked as UTC.

Times stored in Kappa's tables are UTC (``TIMESTAMP_NS`` without a zone); printed, they carry the ``Z`` of
ISO 8601, so nobody reads them as local. Floats print in full (the shortest text that reads back as the
same number), never rounded to a few significant digits.
"""

from __future__ import annotations

import json
import math
import sys
from decimal import Decimal
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

ISO_UTC = "%Y-%m-%dT%H:%M:%S%.fZ"


def utc_text(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its datetime columns as ISO-8601 UTC text (``2026-11-16T15:00:00.123Z``) and its
    durations as text (``1m 3s 500ms``)."""
    cols = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            col = pl.col(name)
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            cols.append(col.dt.to_string(ISO_UTC).alias(name))
        elif isinstance(dtype, pl.Duration):
            cols.append(pl.col(name).dt.to_string("polars").alias(name))
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
    t = Table(*shown.columns, show_lines=False)
    for row in shown.head(max_rows).iter_rows():
        t.add_row(*(cell(v) for v in row))
    console.print(t)
    if frame.height > max_rows:
        console.print(f"... {frame.height - max_rows:,} more rows (use --max-rows or --format csv)")
    console.print(f"{frame.height:,} row(s)" + (f"; {note}" if note else ""))


def write_csv(frame: pl.DataFrame) -> None:
    """``frame`` as CSV on stdout, floats in full and times as ISO-8601 UTC."""
    sys.stdout.write(utc_text(frame).write_csv(float_precision=None))


def _json_value(v: Any) -> Any:
    """A JSON value: NaN and ±inf as null; a decimal as a number where a double holds it exactly, else as text
    (so no digit is lost)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Decimal):
        return float(v) if v.is_finite() and Decimal(repr(float(v))) == v else str(v)
    return v


def write_json(frame: pl.DataFrame) -> None:
    """``frame`` as a JSON array of objects on stdout; times as ISO-8601 UTC, NaN and ±inf as null."""
    rows = [{k: _json_value(v) for k, v in r.items()} for r in utc_text(frame).to_dicts()]
    sys.stdout.write(json.dumps(rows, default=str, allow_nan=False) + "\n")
