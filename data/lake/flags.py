"""The tape-cleaning flags (:mod:`data.cleaning`) of a lake file, written into a copy of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from data import cleaning
from data.lake.partitions import ROW_GROUP_ROWS
from data.schema import FLAG, has_flag_column
from data.sql import quote_literal

FLAG_BATCH_ROWS = 4_000_000  # rows of a partition flagged at once (whole symbols; a larger symbol alone)
FLAG_COUNT_SCHEMA: dict[str, pl.DataType] = {"symbol": pl.String(), "rule": pl.String(), "rows": pl.Int64()}


@dataclass(frozen=True, slots=True)
class FlaggedPartition:
    """The tape-cleaning flags of one lake file (:mod:`data.cleaning`): where the flagged file is, whether
    its flags differ from those the file had, and ``symbol, rule, rows`` of its flagged rows."""

    path: Path
    changed: bool
    counts: pl.DataFrame


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
    """``_rn`` (row of the file), ``old`` and ``new`` flag of the rows of ``symbols`` in the lake file, whose
    first row is ``first_row`` (row groups of other symbols are not read)."""
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
    else:
        if quotes is not None:
            q = pl.scan_parquet(quotes).filter(pl.col("symbol").is_in(symbols))
            q = q.select(
                "symbol",
                "ts",
                "bid",
                "ask",
                FLAG if has_flag_column(quotes) else pl.lit(None, pl.String).alias(FLAG),
            )
            qf = q.collect()
        else:
            qf = pl.DataFrame(schema={"symbol": pl.String, "ts": pl.Datetime("ns"), "bid": pl.Float64,
                                      "ask": pl.Float64, FLAG: pl.String})  # fmt: skip
        new = cleaning.trade_flags(rows, qf)
    return rows.select("_rn", "symbol", pl.col(FLAG).alias("old"), new.alias("new"))


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
    changed = not has_flag_column(path)
    for symbols, offset in _symbol_batches(path):
        f = _flags_of(table, path, symbols, offset, quotes)
        differs = f.filter(pl.col("old").ne_missing(pl.col("new")))
        changed = changed or differs.height > 0
        flagged.append(f.filter(pl.col("new").is_not_null()).select("_rn", "symbol", "new"))
    flags = (
        pl.concat(flagged)
        if flagged
        else pl.DataFrame(schema={"_rn": pl.UInt32, "symbol": pl.String, "new": pl.String})
    )
    counts = (
        flags.group_by("symbol", pl.col("new").alias("rule"))
        .agg(pl.len().cast(pl.Int64).alias("rows"))
        .sort("symbol", "rule")
    )
    if not changed:
        return FlaggedPartition(Path(path), False, counts)
    _write_flags(path, out, flags.sort("_rn"))
    return FlaggedPartition(out, True, counts)


def _write_flags(path: str, out: Path, flags: pl.DataFrame) -> None:
    """Copy the lake file ``path`` to ``out`` with ``flag`` set from ``flags`` (``_rn``, ``new``), batch by
    batch in file order (the rows keep their order)."""
    rn = flags["_rn"].cast(pl.Int64).to_numpy()
    values = flags["new"].to_list()
    source = pq.ParquetFile(path)
    columns = [c for c in source.schema_arrow.names if c != FLAG]
    tmp = out.with_name(out.stem + ".flagging.parquet")  # an orphan of a crash: collect_garbage removes it
    writer: pq.ParquetWriter | None = None
    start = 0
    try:
        for batch in source.iter_batches(batch_size=ROW_GROUP_ROWS, columns=columns):
            stop = start + batch.num_rows
            lo, hi = np.searchsorted(rn, [start, stop])
            flag: list[str | None] = [None] * batch.num_rows
            for i in range(lo, hi):
                flag[int(rn[i]) - start] = values[i]
            table = pa.Table.from_batches([batch]).append_column(FLAG, pa.array(flag, type=pa.string()))
            if writer is None:
                text = [
                    f.name
                    for f in table.schema
                    if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                ]
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd", use_dictionary=text)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            start = stop
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        tmp.replace(out)
