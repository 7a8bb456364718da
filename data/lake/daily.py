"""The ``daily`` rows (open, high, low, close of the mid; volume) of a session date's lake files."""

from __future__ import annotations

import datetime as dt

import polars as pl

from data.home import KappaHome
from data.lake.partitions import merge_connection
from data.schema import FLAG, has_flag_column
from data.sql import quote_literal


def _clean_rows(path: str) -> str:
    """The ``WHERE`` clause that keeps the rows of a lake file no cleaning rule flags."""
    return f"WHERE {FLAG} IS NULL" if has_flag_column(path) else ""


def daily_from_intraday(
    home: KappaHome, day: dt.date, quotes: str | None, trades: str | None
) -> pl.DataFrame:
    """One ``daily`` row per symbol for ``day`` from its lake files.

    ``open``, ``high``, ``low``, ``close`` are of the quoted mid (bid + ask) / 2 over the session, ``close``
    the last mid at or before the close; ``volume`` is the sum of trade sizes (shares). A symbol with trades
    but no quotes gets ``close`` from its last trade price. Rows a cleaning rule flags are left out. Of rows
    tied on the first or last time, the first (``open``) or last (``close``) in the file's order counts (see
    the module's docstring).
    """
    con = merge_connection(home)
    try:
        q = (
            f"""SELECT symbol, first((bid + ask) / 2 ORDER BY ts, file_row_number) AS open,
                max((bid + ask) / 2) AS high, min((bid + ask) / 2) AS low,
                last((bid + ask) / 2 ORDER BY ts, file_row_number) AS close
                FROM read_parquet({quote_literal(quotes)}, file_row_number = true) {_clean_rows(quotes)}
                GROUP BY symbol"""
            if quotes
            else "SELECT NULL::VARCHAR symbol, NULL::DOUBLE open, NULL::DOUBLE high, NULL::DOUBLE low, "
            "NULL::DOUBLE close WHERE false"
        )
        t = (
            f"""SELECT symbol, sum(size) AS volume, last(price ORDER BY ts, file_row_number) AS last_price
                FROM read_parquet({quote_literal(trades)}, file_row_number = true) {_clean_rows(trades)}
                GROUP BY symbol"""
            if trades
            else "SELECT NULL::VARCHAR symbol, NULL::DOUBLE volume, NULL::DOUBLE last_price WHERE false"
        )
        frame = con.sql(
            f"""SELECT coalesce(q.symbol, t.symbol) AS symbol, DATE '{day.isoformat()}' AS date,
                q.open, q.high, q.low, coalesce(q.close, t.last_price) AS close, coalesce(t.volume, 0) AS volume
                FROM ({q}) q FULL OUTER JOIN ({t}) t ON q.symbol = t.symbol ORDER BY symbol"""
        ).pl()
    finally:
        con.close()
    return frame
