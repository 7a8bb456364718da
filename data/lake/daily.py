"""The ``daily`` rows (open, high, low, close of the mid; volume) of a session date's lake files.

A quotes file's half of them (open, high, low, close of the mid per symbol) is written beside it when it is
loaded, as a small Parquet file of the same name with the suffix ``.daily`` (:func:`write_quote_summary`),
so that loading the date's trades later sums the trades alone instead of reading every quote of the date
again. The summary is written before the commit that makes its quotes file current and deleted with it: it
always describes the quotes file it sits beside. A quotes file without one (written by an older Kappa) is
summed from its rows, as before.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from data.home import KappaHome
from data.lake.partitions import SUMMARY_SUFFIX, merge_connection
from data.schema import FLAG, has_flag_column
from data.sql import quote_literal

SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(), "open": pl.Float64(), "high": pl.Float64(), "low": pl.Float64(),
    "close": pl.Float64(),
}  # fmt: skip


def _clean_rows(path: str) -> str:
    """The ``WHERE`` clause that keeps the rows of a lake file no cleaning rule flags."""
    return f"WHERE {FLAG} IS NULL" if has_flag_column(path) else ""


def summary_path(quotes: str | Path) -> Path:
    """Where the per-symbol summary of the quotes lake file ``quotes`` is kept (beside it)."""
    return Path(quotes).with_suffix(SUMMARY_SUFFIX)


def _quote_summary(home: KappaHome, quotes: str) -> pl.DataFrame:
    """Per symbol of the quotes lake file: ``open``, ``high``, ``low``, ``close`` of the mid (bid + ask) / 2
    over its unflagged rows; of rows tied on the first or last time, the first or last in the file."""
    con = merge_connection(home)
    try:
        return con.sql(
            f"""SELECT symbol, first((bid + ask) / 2 ORDER BY ts, file_row_number) AS open,
                max((bid + ask) / 2) AS high, min((bid + ask) / 2) AS low,
                last((bid + ask) / 2 ORDER BY ts, file_row_number) AS close
                FROM read_parquet({quote_literal(quotes)}, file_row_number = true) {_clean_rows(quotes)}
                GROUP BY symbol ORDER BY symbol"""
        ).pl()
    finally:
        con.close()


def summary_of_rows(quotes: pl.DataFrame) -> pl.DataFrame:
    """The per-symbol summary of quotes rows given in lake order (``symbol, bid, ask, flag``; whole
    symbols): what :func:`_quote_summary` gives of a lake file holding them, from rows already in memory.

    In lake order a symbol's rows run by time, and rows tied on a time keep the file's order, so its first
    and last unflagged rows are those of ``ORDER BY ts, file_row_number``; the mid is the same
    ``(bid + ask) / 2`` in binary64.
    """
    mid = (pl.col("bid") + pl.col("ask")) / 2
    return (
        quotes.lazy()
        .filter(pl.col(FLAG).is_null())
        .group_by("symbol", maintain_order=True)
        .agg(
            mid.first().alias("open"),
            mid.max().alias("high"),
            mid.min().alias("low"),
            mid.last().alias("close"),
        )
        .sort("symbol")
        .collect()
        .cast(SUMMARY_SCHEMA)  # type: ignore[arg-type]
    )


def write_quote_summary(home: KappaHome, quotes: str, summary: pl.DataFrame | None = None) -> pl.DataFrame:
    """Sum the quotes lake file ``quotes`` per symbol (open, high, low, close of the mid) and keep the sums
    beside it (:func:`summary_path`) for later loads of the date's trades; returns them. ``summary``: the
    sums, already taken from the file's rows (:func:`summary_of_rows`), to keep as they are."""
    if summary is None:
        summary = _quote_summary(home, quotes)
    out = summary_path(quotes)
    tmp = out.with_name(out.name + ".tmp")
    summary.write_parquet(tmp)
    tmp.replace(out)
    return summary


def quote_summary(home: KappaHome, quotes: str) -> pl.DataFrame:
    """The per-symbol summary of the quotes lake file ``quotes``: the one kept beside it, else summed from
    its rows (a file written before summaries were kept)."""
    kept = summary_path(quotes)
    if kept.exists():
        return pl.read_parquet(kept)
    return _quote_summary(home, quotes)


def daily_from_intraday(
    home: KappaHome,
    day: dt.date,
    quotes: str | None,
    trades: str | None,
    summary: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One ``daily`` row per symbol for ``day`` from its lake files.

    ``open``, ``high``, ``low``, ``close`` are of the quoted mid (bid + ask) / 2 over the session, ``close``
    the last mid at or before the close; ``volume`` is the sum of trade sizes (shares). A symbol with trades
    but no quotes gets ``close`` from its last trade price. Rows a cleaning rule flags are left out. Of rows
    tied on the first or last time, the first (``open``) or last (``close``) in the file's order counts (see
    the module's docstring). The quotes' half is ``summary`` where given, else :func:`quote_summary`.
    """
    if summary is None:
        summary = quote_summary(home, quotes) if quotes else pl.DataFrame(schema=SUMMARY_SCHEMA)
    con = merge_connection(home)
    try:
        con.register("_quotes", summary)
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
                FROM _quotes q FULL OUTER JOIN ({t}) t ON q.symbol = t.symbol ORDER BY symbol"""
        ).pl()
    finally:
        con.close()
    return frame
