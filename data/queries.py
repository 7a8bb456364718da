"""Named reads of the result tables, each returning a polars frame (or a row), grouped by the code that
calls them. Every read opens its own read-only connection (``data.store.reader``), which waits while a job
holds the write lock and raises ``DatabaseMissingError`` when there is no database yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb
import polars as pl

from data.home import KappaHome
from data.sql import first_row
from data.store import DEFAULT_WAIT_S, reader
from kappa.errors import ParameterError

# ---------------------------------------------------------------------------------------------- kappa sql


def query_frame(home: KappaHome, query: str, wait_s: float = DEFAULT_WAIT_S) -> pl.DataFrame:
    """The rows of a user's read-only ``query``; an INTERVAL (which polars cannot take) as DuckDB's text,
    e.g. ``00:01:03.5``.

    Raises
    ------
    ParameterError
        DuckDB refused the query (a parser or binder error, a table that does not exist): the first line of
        its message, ``name`` = ``query``.
    """
    with reader(home, wait_s=wait_s) as con:
        try:
            return _frame(con, query)
        except Exception as exc:  # DuckDB's parser/binder errors are the user's
            raise ParameterError(
                f"query failed: {str(exc).splitlines()[0]}", name="query", value=query
            ) from exc


def _frame(con: duckdb.DuckDBPyConnection, query: str) -> pl.DataFrame:
    rel = con.sql(query)
    if rel is None:
        return pl.DataFrame()
    if any(str(t) == "INTERVAL" for t in rel.types):
        rel = rel.select(", ".join(
            f'CAST("{c}" AS VARCHAR) AS "{c}"' if str(t) == "INTERVAL" else f'"{c}"'
            for c, t in zip(rel.columns, rel.types, strict=True)
        ))  # fmt: skip
    return rel.pl()


# ---------------------------------------------------------------------------------------------- kappa schedule


def latest_calibration(
    home: KappaHome, symbol: str, as_of: dt.date | None = None
) -> dict[str, object] | None:
    """The ``calibrations`` row of ``symbol`` with the latest ``as_of`` (on or before ``as_of`` when given),
    as a dict of column to value; ``None`` when there is none."""
    cond, params = ("AND as_of <= ?", [symbol, as_of]) if as_of else ("", [symbol])
    with reader(home) as con:
        frame = con.sql(
            f"SELECT * FROM calibrations WHERE symbol = ? {cond} ORDER BY as_of DESC LIMIT 1", params=params
        ).pl()
    return frame.row(0, named=True) if frame.height else None


# ---------------------------------------------------------------------------------------------- kappa demo


def table_rows(home: KappaHome, tables: Sequence[str]) -> dict[str, int]:
    """The row count of each of ``tables`` (names of Kappa's tables and views, never user input)."""
    counts: dict[str, int] = {}
    with reader(home) as con:
        for t in tables:
            row = first_row(con, f"SELECT count(*) FROM {t}")
            counts[t] = int(row[0]) if row else 0
    return counts


def calibrations_as_of(home: KappaHome, as_of: dt.date) -> pl.DataFrame:
    """Every ``calibrations`` row as of ``as_of``."""
    with reader(home) as con:
        return con.sql("SELECT * FROM calibrations WHERE as_of = ?", params=[as_of]).pl()
