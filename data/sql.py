"""Small helpers for DuckDB statements (DuckDB 2 locks a connection until a result is fully consumed)."""

from __future__ import annotations

from typing import Any

import duckdb


def first_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> tuple[Any, ...] | None:
    """The first row of ``sql``, consuming the whole result so the connection is free again."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def quote_literal(s: str) -> str:
    """``s`` as a SQL string literal."""
    return "'" + s.replace("'", "''") + "'"
