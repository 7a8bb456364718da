"""The tape-cleaning flags (:mod:`data.cleaning`) of a lake file, written into a copy of it; and the flags of
trades as they stream to a new lake file (:class:`TradeFlagger`), which spares writing the file twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from data import cleaning
from data.lake.daily import SUMMARY_SCHEMA, summary_of_rows
from data.lake.partitions import ROW_GROUP_ROWS
from data.schema import FLAG, has_flag_column
from data.sql import quote_literal

FLAG_BATCH_ROWS = 4_000_000  # rows of a partition flagged at once (whole symbols; a larger symbol alone)
FLAG_COUNT_SCHEMA: dict[str, pl.DataType] = {"symbol": pl.String(), "rule": pl.String(), "rows": pl.Int64()}


@dataclass(frozen=True, slots=True)
class FlaggedPartition:
    """The tape-cleaning flags of one lake file (:mod:`data.cleaning`): where the flagged file is, whether
    its flags differ from those the file had, ``symbol, rule, rows`` of its flagged rows, and for quotes
    their per-symbol summary over the rows no rule flags (:func:`data.lake.daily.summary_of_rows`)."""

    path: Path
    changed: bool
    counts: pl.DataFrame
    summary: pl.DataFrame | None = None


def _symbol_batches(path: str) -> list[tuple[list[str], int]]:
    """The symbols of a lake file in batches of about ``FLAG_BATCH_ROWS`` rows, in file order, each with
    the row of the file its first row is (the file is sorted by symbol: a batch is a run of rows)."""
    con = duckdb.connect(":memory:")
    try:
        rows = con.execute(
            f"SELECT symbol, count(*) FROM read_parquet({quote_literal(path)}) GROUP BY symbol ORDER BY symbol"
        ).fetchall()
    finally:
        con.close()
    batches: list[tuple[list[str], int]] = []
    size, start = 0, 0
    for symbol, n in rows:
        if not batches or size + n > FLAG_BATCH_ROWS:
            batches.append(([], start))
            size = 0
        batches[-1][0].append(symbol)
        size += n
        start += n
    return batches


def _flags_of(table: str, path: str, symbols: list[str], first_row: int, quotes: str | None) -> pl.DataFrame:
    """``_rn`` (row of the file), ``symbol``, ``old`` and ``new`` flag of the rows of ``symbols`` in the lake
    file, whose first row is ``first_row`` (row groups of other symbols are not read); quotes also keep
    ``bid`` and ``ask``."""
    has_old = has_flag_column(path)
    old = pl.col(FLAG) if has_old else pl.lit(None, dtype=pl.String).alias(FLAG)
    cols = ["symbol", "bid", "ask"] if table == "quotes" else ["symbol", "ts", "price", "conditions"]
    rows = (
        pl.scan_parquet(path)
        .filter(pl.col("symbol").is_in(symbols))
        .select(*cols, old)
        .collect()
        .with_row_index("_rn", offset=first_row)
    )
    if table == "quotes":
        new = cleaning.quote_flags(rows)
        return rows.select("_rn", "symbol", "bid", "ask", pl.col(FLAG).alias("old"), new.alias("new"))
    if quotes is not None:
        q = pl.scan_parquet(quotes).filter(pl.col("symbol").is_in(symbols))
        qf = q.select(*T4_QUOTE_COLUMNS[:-1], _flag_or_null(quotes)).collect()
    else:
        qf = pl.DataFrame(schema=T4_QUOTE_SCHEMA)
    new = cleaning.trade_flags(rows, qf)
    return rows.select("_rn", "symbol", pl.col(FLAG).alias("old"), new.alias("new"))


T4_QUOTE_COLUMNS = ("symbol", "ts", "bid", "ask", FLAG)
"""What rule T4 reads of a date's quotes (:func:`data.cleaning.trade_flags`)."""
T4_QUOTE_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(), "ts": pl.Datetime("ns"), "bid": pl.Float64(), "ask": pl.Float64(), FLAG: pl.String(),
}  # fmt: skip


def _flag_or_null(path: str) -> pl.Expr:
    """The ``flag`` column of a lake file, or null for a file written before it existed."""
    return pl.col(FLAG) if has_flag_column(path) else pl.lit(None, pl.String).alias(FLAG)


def flag_partition(table: str, path: str, out: Path, quotes: str | None = None) -> FlaggedPartition:
    """Apply the tape-cleaning rules to the lake file ``path`` of ``table`` for one session date.

    Parameters
    ----------
    table
        ``quotes`` or ``trades``.
    path
        The lake file (sorted in lake order).
    out
        Where to write the file with its new flags when they differ from the ones it has (may be ``path``:
        then it is replaced; the file is not yet in the manifest).
    quotes
        For trades: the date's quotes file, already flagged (the prevailing quote of rule T4).

    Returns
    -------
    FlaggedPartition
        ``path`` is ``out`` when the file was written, else ``path``; ``counts`` the flagged rows per symbol
        and rule. Memory holds about ``FLAG_BATCH_ROWS`` rows of the file at once.
    """
    flagged: list[pl.DataFrame] = []
    summaries: list[pl.DataFrame] = []
    changed = not has_flag_column(path)
    for symbols, offset in _symbol_batches(path):
        f = _flags_of(table, path, symbols, offset, quotes)
        differs = f.filter(pl.col("old").ne_missing(pl.col("new")))
        changed = changed or differs.height > 0
        flagged.append(f.filter(pl.col("new").is_not_null()).select("_rn", "symbol", "new"))
        if table == "quotes":  # a batch holds whole symbols, in the file's order
            summaries.append(summary_of_rows(f.select("symbol", "bid", "ask", pl.col("new").alias(FLAG))))
    flags = (
        pl.concat(flagged)
        if flagged
        else pl.DataFrame(schema={"_rn": pl.UInt32, "symbol": pl.String, "new": pl.String})
    )
    counts = flag_counts(flags.select("symbol", pl.col("new").alias(FLAG)))
    summary = None
    if table == "quotes":  # the batches' symbols follow one another: their summaries too
        summary = pl.concat(summaries).sort("symbol") if summaries else pl.DataFrame(schema=SUMMARY_SCHEMA)
    if not changed:
        return FlaggedPartition(Path(path), False, counts, summary)
    _write_flags(path, out, flags.sort("_rn"))
    return FlaggedPartition(out, True, counts, summary)


def flag_counts(rows: pl.DataFrame) -> pl.DataFrame:
    """``symbol, rule, rows`` of the rows whose ``flag`` is set, sorted by symbol and rule; of counts
    (``symbol, rule, rows``, of batches of one file), their sums."""
    if "rows" in rows.columns:
        counted, n = rows, pl.col("rows").sum()
    else:
        counted, n = rows.filter(pl.col(FLAG).is_not_null()).rename({FLAG: "rule"}), pl.len()
    return counted.group_by("symbol", "rule").agg(n.cast(pl.Int64).alias("rows")).sort("symbol", "rule")


class TradeFlagger:
    """The flags of trades written straight to a new lake file, batch by batch (:class:`data.lake.writers.
    DirectWriter`): rule T3 reads a trade alone, and rule T4 its symbol's prevailing quote, so a batch of
    trades is flagged by itself against the quotes of its symbols, read from the rows groups of the date's
    quotes file that hold them. The flags equal :func:`flag_partition`'s of the written file.

    Parameters
    ----------
    quotes
        The current quotes lake file of each session date (a date without one: no trade breaks T4).
    """

    def __init__(self, quotes: Mapping[dt.date, str]) -> None:
        self.quotes = quotes
        self._flag: dict[str, pl.Expr] = {}  # each quotes file's flag column (null: a file without one)

    def __call__(self, day: dt.date, trades: pl.DataFrame) -> pl.Series:
        """``flag`` of each of ``trades`` (one date's, sorted by symbol, then time), aligned with them."""
        path = self.quotes.get(day)
        quotes = self._quotes(path, trades) if path is not None else pl.DataFrame(schema=T4_QUOTE_SCHEMA)
        return cleaning.trade_flags(trades, quotes).alias(FLAG)

    def _quotes(self, path: str, trades: pl.DataFrame) -> pl.DataFrame:
        """The quotes of the symbols of ``trades``; the file is sorted by symbol, so the range of their
        symbols skips the row groups of the others (by the groups' statistics)."""
        if path not in self._flag:
            self._flag[path] = _flag_or_null(path)
        symbols = trades["symbol"]
        within = pl.col("symbol").is_between(pl.lit(symbols.min()), pl.lit(symbols.max()))
        return (
            pl.scan_parquet(path)
            .filter(within)
            .select(*T4_QUOTE_COLUMNS[:-1], self._flag[path])
            .filter(pl.col("symbol").is_in(symbols.unique().implode()))
            .collect()
        )


def _write_flags(path: str, out: Path, flags: pl.DataFrame) -> None:
    """Copy the lake file ``path`` to ``out`` with ``flag`` set from ``flags`` (``_rn``, ``new``), batch by
    batch in file order (the rows keep their order)."""
    source = pq.ParquetFile(path)
    column = pl.repeat(None, source.metadata.num_rows, dtype=pl.String, eager=True)
    column = column.scatter(flags["_rn"].cast(pl.Int64).to_numpy(), flags["new"])  # the file's flag column
    columns = [c for c in source.schema_arrow.names if c != FLAG]
    tmp = out.with_name(out.stem + ".flagging.parquet")  # an orphan of a crash: collect_garbage removes it
    writer: pq.ParquetWriter | None = None
    start = 0
    try:
        for batch in source.iter_batches(batch_size=ROW_GROUP_ROWS, columns=columns):
            flag = column.slice(start, batch.num_rows).to_arrow().cast(pa.string())
            table = pa.Table.from_batches([batch]).append_column(FLAG, flag)
            if writer is None:
                text = [
                    f.name
                    for f in table.schema
                    if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                ]
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd", use_dictionary=text)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            start += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        tmp.replace(out)
