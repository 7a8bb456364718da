"""A lake file per table and session date: its path, the merge of a load into it, the clearing of orphan
and retired files."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from data.home import KappaHome
from data.lake.files import other_homes, remove_from_lake, without_readers
from data.schema import FLAG, MARKET_COLUMNS, file_columns
from data.sql import first_row, quote_literal

MERGE_MEMORY_LIMIT = "4GB"
REPLACED_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "rows_before": pl.Int64(),
    "rows_after": pl.Int64(),
}
ROW_GROUP_ROWS = 122_880  # DuckDB's row group, so both ways prune by symbol alike


def lake_order(table: str) -> list[str]:
    """The sort key of a lake file: ``symbol, ts``; rows tied on it keep the order of the files (a stable
    sort, never by the other columns: the file's order within an instant is the order of events)."""
    cols = [c for c, _ in MARKET_COLUMNS[table]]
    return cols[:2]


@dataclass(frozen=True, slots=True)
class MergedPartition:
    """A new lake file for one table and date, not yet committed."""

    table: str
    date: dt.date
    path: Path
    row_count: int
    symbols: int
    duplicates: pl.DataFrame  # quarantine rows for duplicate keys found while merging
    replaced: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REPLACED_SCHEMA))
    """``symbol, rows_before, rows_after`` of each symbol of the load on a date that had a file."""
    flagged: pl.DataFrame | None = None
    """``symbol, rule, rows`` of the rows the tape cleaning flags, where the file was written with its flags
    (:class:`data.lake.flags.TradeFlagger`); ``None``: the file is still to be flagged."""


SUMMARY_SUFFIX = ".daily"
"""The suffix of the per-symbol summary kept beside a quotes lake file (:mod:`data.lake.daily`)."""


def partition_path(home: KappaHome, table: str, day: dt.date, run_id: str) -> Path:
    """Where a load writes the new file of ``table`` for ``day``."""
    return home.lake / table / f"date={day.isoformat()}" / f"{run_id}.parquet"


def merge_connection(home: KappaHome) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for merging and summing lake files, its memory capped, spilling to the home."""
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{MERGE_MEMORY_LIMIT}'")
    con.execute(f"SET temp_directory = {quote_literal(str(home.tmp))}")
    con.execute("SET preserve_insertion_order = false")
    return con


def merge_partition(
    home: KappaHome,
    table: str,
    day: dt.date,
    staged: Path,
    current: str | None,
    run_id: str,
    key: tuple[str, ...],
) -> MergedPartition:
    """Write the new file of ``table`` for ``day``: staged rows replace the current rows of their symbols.

    Duplicate keys among the staged rows (e.g. a repeated ``trade_id``) keep their first occurrence; the rest
    are returned as quarantine rows. Rows tied on ``symbol, ts`` keep their order: staged rows that of the
    load's files (``file_index, row_number``), kept rows that of the current file.
    """
    cols = [c for c, _ in MARKET_COLUMNS[table]]
    out = partition_path(home, table, day, run_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    con = merge_connection(home)
    try:
        con.execute(f"CREATE VIEW staged AS SELECT * FROM read_parquet({quote_literal(str(staged))})")
        if key:
            part = ", ".join(key)
            not_null = " AND ".join(f"{k} IS NOT NULL" for k in key)
            con.execute(
                f"""CREATE TEMP TABLE ranked AS SELECT *, CASE WHEN {not_null} THEN
                    row_number() OVER (PARTITION BY {part} ORDER BY file_index, row_number) ELSE 1 END AS _rank
                    FROM staged"""
            )
            duplicates = con.sql(  # raw: read from the file as it stands (data.quarantine)
                f"""SELECT source_file, row_number, 'duplicate_key' AS rule, '{",".join(key)}' AS detail,
                    NULL::VARCHAR AS raw FROM ranked WHERE _rank > 1"""
            ).pl()
            new_rows = "(SELECT * FROM ranked WHERE _rank = 1)"
        else:
            duplicates = pl.DataFrame()
            new_rows = "staged"
        select = ", ".join(cols)
        types = dict(MARKET_COLUMNS[table])
        staged_select = ", ".join("NULL::VARCHAR AS flag" if c == FLAG else c for c in cols)
        # the symbols of the two parts are disjoint: (_seq1, _seq2) orders the ties of each by its own file
        parts = [f"SELECT {staged_select}, file_index AS _seq1, row_number AS _seq2 FROM {new_rows}"]
        if current is not None:
            held = file_columns(current)  # a file written before a column existed lacks it
            current_select = ", ".join(c if c in held else f"NULL::{types[c]} AS {c}" for c in cols)
            parts.append(
                f"""SELECT {current_select}, file_row_number AS _seq1, 0 AS _seq2
                    FROM read_parquet({quote_literal(current)}, file_row_number = true)
                    WHERE symbol NOT IN (SELECT DISTINCT symbol FROM staged)"""
            )
        union = " UNION ALL ".join(parts)
        con.execute(
            f"COPY (SELECT {select} FROM ({union}) ORDER BY {', '.join(lake_order(table))}, _seq1, _seq2) "
            f"TO {quote_literal(str(out))} (FORMAT parquet, COMPRESSION zstd)"
        )
        row = first_row(
            con, f"SELECT count(*), count(DISTINCT symbol) FROM read_parquet({quote_literal(str(out))})"
        )
        assert row is not None
        replaced = (
            con.sql(
                f"""WITH new AS (SELECT symbol, count(*) AS rows_after FROM {new_rows} GROUP BY symbol),
                    old AS (SELECT symbol, count(*) AS rows_before FROM read_parquet({quote_literal(current)})
                            WHERE symbol IN (SELECT symbol FROM new) GROUP BY symbol)
                    SELECT symbol, coalesce(rows_before, 0) AS rows_before, rows_after
                    FROM new LEFT JOIN old USING (symbol) ORDER BY symbol"""
            ).pl()
            if current is not None
            else pl.DataFrame(schema=REPLACED_SCHEMA)
        )
    finally:
        con.close()
    return MergedPartition(table, day, out, int(row[0]), int(row[1]), duplicates, replaced)


def collect_garbage(home: KappaHome, con: duckdb.DuckDBPyConnection, *, orphans_only: bool = False) -> int:
    """Clear the lake of what no reader can hold, at the start of a load; return the files and folders
    deleted.

    Call it under :func:`data.store.load_lock`, with a writer connection ``con``: then no load is running,
    and a file of a table's folder is one of three kinds. The current files (``lake_files``) stay. An
    orphan (a staging folder, a file of a load that never committed, a temporary file of a crash, a summary
    whose quotes file is gone) was never in the manifest, so no reader ever saw it: it goes at once, before
    the load needs the space. A retired file (``retired_files``: a file a committed load replaced, with its
    summary) goes only if no reader holds the lake (:func:`data.lake.files.without_readers`); else it waits
    for a later load. Every deletion goes through :func:`data.lake.files.remove_from_lake`.

    Only this home's own files are deleted: an orphan is a file of one of this home's runs (its name starts
    with the run id), never a file of a run the database does not know, and retired files stay where the
    lake is another home's too (:func:`data.lake.files.other_homes`: a linked lake reached from a copy).

    With ``orphans_only`` (``con`` read-only: a full disk refused a writer), the retired files stay.
    """
    current = {home.lake_file(p) for (p,) in con.execute("SELECT path FROM lake_files").fetchall()}
    retired = {home.lake_file(p) for (p,) in con.execute("SELECT path FROM retired_files").fetchall()}
    runs = {r for (r,) in con.execute("SELECT run_id FROM runs").fetchall()}
    shared = other_homes(home)
    removed = 0
    if home.staging.exists():
        for folder in home.staging.iterdir():
            if folder.name in runs:
                removed += remove_from_lake(home, folder)
    for table in MARKET_COLUMNS:
        root = home.lake / table
        for f in root.glob("date=*/*") if root.exists() else []:
            owner = f.with_suffix(".parquet") if f.suffix == SUMMARY_SUFFIX else f
            ours = f.name.split(".", 1)[0] in runs
            if ours and owner not in current and owner not in retired and f.is_file():
                removed += remove_from_lake(home, f)
    if retired and not orphans_only and not shared:
        with without_readers(home) as alone:
            if alone:
                for f in retired:
                    removed += remove_from_lake(home, f)
                    removed += remove_from_lake(home, f.with_suffix(SUMMARY_SUFFIX))
                con.execute("DELETE FROM retired_files")
    return removed
