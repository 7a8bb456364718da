"""The Parquet lake of market data: staging a load, merging it into date partitions, daily facts.

A load never touches a live file. Clean rows are staged per session date; each staged date is merged with
the date's current file into a *new* file (rows of the symbols the load brings replace that symbol's rows
for the date; other symbols are kept), sorted by ``symbol, ts`` and, among rows tied on both, in the order
of the files (file, then row): within one timestamp the file's order is the order of events, and the last
row of an instant is the state in force after it. The same inputs give the same file.

The common case, a date not yet in the lake whose rows arrive in that order (exchange files come sorted by
symbol and time), skips the staging: :class:`DirectWriter` writes the rows straight to the new file as they
are validated, and says when the stream breaks the order (or repeats a key), so that the load falls back to
staging and merging. Both ways give the same rows in the same order.
Only the commit in :mod:`data.ingest` switches the manifest ``lake_files`` (and the views) to the new files,
in one transaction; the replaced files are deleted after it. A crash before the commit leaves orphan files
that :func:`collect_garbage` removes at the next load, and the previous state intact.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from data import cleaning
from data.home import KappaHome
from data.schema import FLAG, MARKET_COLUMNS, POLARS_TYPES, has_flag_column
from data.sql import first_row, quote_literal

MERGE_MEMORY_LIMIT = "4GB"
REPLACED_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "rows_before": pl.Int64(),
    "rows_after": pl.Int64(),
}


def _by_date(rows: pl.DataFrame) -> list[tuple[dt.date, pl.DataFrame]]:
    """``rows`` split by their ``date`` (in order of appearance; a batch usually holds one date)."""
    if not rows.height:
        return []
    first, last = rows["date"].min(), rows["date"].max()
    if first == last:
        assert isinstance(first, dt.date)
        return [(first, rows)]
    parts = rows.partition_by("date", as_dict=True, maintain_order=True)
    assert all(isinstance(day, dt.date) for (day,) in parts), "a clean row without a session date"
    return [(day, part) for (day,), part in parts.items()]


class StagingWriter:
    """Appends validated batches of one market table to one Parquet file per session date."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._writers: dict[dt.date, pq.ParquetWriter] = {}
        self.rows: dict[dt.date, int] = {}

    def write(self, clean: pl.DataFrame) -> None:
        """Append ``clean`` rows (with ``date``, ``file_index``, ``row_number``) to their dates' files."""
        for day, part in _by_date(clean):
            table = part.to_arrow()
            if day not in self._writers:
                self._writers[day] = pq.ParquetWriter(self.path(day), table.schema, compression="lz4")
                self.rows[day] = 0
            self._writers[day].write_table(table)
            self.rows[day] += part.height

    def path(self, day: dt.date) -> Path:
        return self.folder / f"{day.isoformat()}.parquet"

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers.clear()


class OutOfLakeOrder(Exception):
    """The rows of a load cannot go straight to the lake: see :class:`DirectWriter`."""


def lake_order(table: str) -> list[str]:
    """The sort key of a lake file: ``symbol, ts``; rows tied on it keep the order of the files (a stable
    sort, never by the other columns: the file's order within an instant is the order of events)."""
    cols = [c for c, _ in MARKET_COLUMNS[table]]
    return cols[:2]


_ROW_GROUP_ROWS = 122_880  # DuckDB's row group, so both ways prune by symbol alike


def _strictly_by_symbol_time(rows: pl.DataFrame) -> bool:
    """Whether (symbol, ts) strictly increases row by row: then the rows are in lake order, whatever the
    other columns hold. Cheaper than sorting rows that come sorted (exchange files do)."""
    symbol, ts = pl.col("symbol"), pl.col("ts")
    up = (symbol > symbol.shift(1)) | ((symbol == symbol.shift(1)) & (ts > ts.shift(1)))
    return bool(rows.select(up.fill_null(True).all()).item())


class DirectWriter:
    """Writes validated rows of a market table straight to new lake files, one per session date.

    Each batch is sorted stably by :func:`lake_order`; the stream is in lake order if every batch starts at or after
    where the previous one of its date ended. :meth:`write` raises :class:`OutOfLakeOrder` (then call
    :meth:`abort`) when a batch starts before that, when a date already has a lake file (its other symbols
    would have to be merged), or when a key repeats (the first occurrence in file order must win, which only
    the merge knows). Memory holds one batch.
    """

    def __init__(
        self, home: KappaHome, table: str, run_id: str, existing: set[dt.date], key: tuple[str, ...]
    ) -> None:
        self.home, self.table, self.run_id, self.existing, self.key = home, table, run_id, existing, key
        types = dict(MARKET_COLUMNS[table])
        self.columns = [c for c, _ in MARKET_COLUMNS[table]]
        self.dtypes = {c: POLARS_TYPES[types[c]] for c in self.columns}
        self.order = lake_order(table)
        self._positions = [self.columns.index(c) for c in self.order]
        self._text_columns = [c for c, t in self.dtypes.items() if t == pl.String]  # dictionary-encoded
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="lake-writer")  # compresses while we validate
        self._pending: Future[None] | None = None
        self._writers: dict[dt.date, pq.ParquetWriter] = {}
        self._last: dict[dt.date, tuple[object, ...]] = {}
        self._rows: dict[dt.date, int] = {}
        self._symbols: dict[dt.date, int] = {}
        self._open_keys: dict[
            dt.date, tuple[object, set[object]]
        ] = {}  # the last symbol's keys: it may go on

    def write(self, clean: pl.DataFrame) -> None:
        """Append validated rows (lake columns and ``date``; extra columns are ignored)."""
        for day, part in _by_date(clean):
            assert isinstance(day, dt.date)
            if day in self.existing:
                raise OutOfLakeOrder(f"{self.table} of {day} already has a lake file")
            part = part.select(
                (pl.col(c) if c in part.columns else pl.lit(None)).cast(t).alias(c)
                for c, t in self.dtypes.items()
            )
            if not _strictly_by_symbol_time(part):  # else it is in lake order already (no two rows tie)
                part = part.sort(self.order, maintain_order=True)  # stable: ties keep the file's order
            first, last = part.row(0), part.row(part.height - 1)
            previous = self._last.get(day)
            if previous is not None and self._order_key(first) < self._order_key(previous):
                raise OutOfLakeOrder(f"{self.table} of {day} is not sorted by {', '.join(self.order)}")
            if self.key:
                self._check_keys(day, part)
            table = part.to_arrow()
            if day not in self._writers:
                out = partition_path(self.home, self.table, day, self.run_id)
                out.parent.mkdir(parents=True, exist_ok=True)
                self._writers[day] = pq.ParquetWriter(
                    out, table.schema, compression="zstd", use_dictionary=self._text_columns
                )
                self._rows[day], self._symbols[day] = 0, 0
            self._write(self._writers[day], table)
            self._rows[day] += part.height
            continued = (
                previous is not None and previous[0] == first[0]
            )  # the symbol goes on from the last batch
            self._symbols[day] += part["symbol"].n_unique() - int(continued)
            self._last[day] = last

    def _write(self, writer: pq.ParquetWriter, table: pa.Table) -> None:
        """Write ``table`` on the writer thread, after the previous batch (whose error, if any, raises here)."""
        self._wait()
        self._pending = self._pool.submit(writer.write_table, table, row_group_size=_ROW_GROUP_ROWS)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _order_key(self, row: tuple[object, ...]) -> tuple[tuple[bool, object], ...]:
        """A row's lake-order key for comparing two rows in Python: nulls after every value."""
        return tuple((row[i] is None, row[i] if row[i] is not None else 0) for i in self._positions)

    def _check_keys(self, day: dt.date, part: pl.DataFrame) -> None:
        """Refuse a key seen before: in this batch, or for the symbol the previous batch ended with."""
        symbol, rest = self.key[0], self.key[1:]
        assert symbol == "symbol" and len(rest) == 1, self.key
        keyed = part.select(self.key).drop_nulls()
        repeated = keyed.is_duplicated().any()
        open_symbol, open_keys = self._open_keys.get(day, (None, set()))
        if not repeated and open_keys:
            head = keyed.filter(pl.col(symbol) == open_symbol)[rest[0]].to_list()
            repeated = not open_keys.isdisjoint(head)
        if repeated:
            raise OutOfLakeOrder(f"a repeated ({', '.join(self.key)}) in the {self.table} of {day}")
        last_symbol = part[symbol][-1]
        tail = set(keyed.filter(pl.col(symbol) == last_symbol)[rest[0]].to_list())
        self._open_keys[day] = (last_symbol, tail | open_keys if last_symbol == open_symbol else tail)

    def finish(self) -> list[MergedPartition]:
        """Close the files; the new partitions, not yet committed."""
        self._wait()
        self._pool.shutdown()
        out = []
        for day, w in sorted(self._writers.items()):
            w.close()
            path = partition_path(self.home, self.table, day, self.run_id)
            out.append(
                MergedPartition(self.table, day, path, self._rows[day], self._symbols[day], pl.DataFrame())
            )
        self._writers.clear()
        return out

    def abort(self) -> None:
        """Close and delete what was written."""
        with contextlib.suppress(Exception):  # the files go: the load fails or falls back anyway
            self._wait()
        self._pool.shutdown()
        for day, w in self._writers.items():
            w.close()
            partition_path(self.home, self.table, day, self.run_id).unlink(missing_ok=True)
        self._writers.clear()


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


def partition_path(home: KappaHome, table: str, day: dt.date, run_id: str) -> Path:
    """Where a load writes the new file of ``table`` for ``day``."""
    return home.lake / table / f"date={day.isoformat()}" / f"{run_id}.parquet"


def _merge_connection(home: KappaHome) -> duckdb.DuckDBPyConnection:
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
    con = _merge_connection(home)
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
        staged_select = ", ".join("NULL::VARCHAR AS flag" if c == FLAG else c for c in cols)
        # the symbols of the two parts are disjoint: (_seq1, _seq2) orders the ties of each by its own file
        parts = [f"SELECT {staged_select}, file_index AS _seq1, row_number AS _seq2 FROM {new_rows}"]
        if current is not None:
            current_select = select if has_flag_column(current) else staged_select
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
    con = _merge_connection(home)
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


def collect_garbage(home: KappaHome, referenced: set[str], min_age_s: float = 0.0) -> int:
    """Delete lake files no manifest row references, and staging folders, older than ``min_age_s``.

    Call it under :func:`data.store.load_lock`: then no load is running and every such file is the
    leftover of a load that crashed before its commit.
    """
    now = time.time()
    removed = 0
    if home.staging.exists():
        for folder in home.staging.iterdir():
            if now - folder.stat().st_mtime >= min_age_s:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    for table in MARKET_COLUMNS:
        root = home.lake / table
        if not root.exists():
            continue
        for f in root.glob("date=*/*.parquet"):
            if str(f) not in referenced and now - f.stat().st_mtime >= min_age_s:
                f.unlink(missing_ok=True)
                removed += 1
    return removed


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
        for batch in source.iter_batches(batch_size=_ROW_GROUP_ROWS, columns=columns):
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
            writer.write_table(table, row_group_size=_ROW_GROUP_ROWS)
            start = stop
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        tmp.replace(out)
