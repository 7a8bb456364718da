"""Load input files into Kappa: validate, quarantine, stage, then commit everything in one transaction.

Replacement rules (what "loading a corrected file replaces that date" means per table):

- ``quotes``, ``trades``: the rows a load brings for a (session date, symbol) replace all stored rows of
  that date and symbol; other symbols of the date are kept.
- ``orders``: likewise by (arrival session date, symbol).
- ``fills``: by ``fill_id`` (a multi-day order's fills arrive in several files, so no date is replaced).
- ``daily``: by (symbol, date).

Loading the same file twice gives the same tables. Every rejected row lands in ``quarantine`` with its file,
row number, rule and raw values; the quarantine rows of a file are replaced when the file is loaded again.
Each load is one row in ``runs`` and one row per file in ``loads``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from data import lake
from data.calendar import DEFAULT_CALENDAR
from data.contract import TABLES, TableSpec
from data.errors import InputError
from data.home import KappaHome
from data.readers import DEFAULT_BATCH_ROWS, check_columns, read_batches
from data.rules import QUARANTINE_COLUMNS, check_fills, drop_duplicate_keys
from data.schema import refresh_market_view
from data.sql import first_row
from data.store import (
    fail_run,
    finish_run,
    load_lock,
    new_run_id,
    replace_rows,
    start_run,
    transaction,
    writer,
)
from data.validation import ROW, ValidatedBatch, clean_schema, validate_batch

Progress = Callable[[str, int], None]
FAULT_ENV = "KAPPA_FAULT_AT"
VALIDATION_THREADS = 2  # batches validated at once (each on polars' own threads too)


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What one load did: rows read, loaded and quarantined (per rule), and the dates it touched."""

    run_id: str
    table: str
    files: list[str]
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    dates: list[dt.date] = field(default_factory=list)


def _fault_point(name: str) -> None:
    """Kill this process with SIGKILL at ``name`` when ``$KAPPA_FAULT_AT`` says so (crash-safety tests)."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _check_files(spec: TableSpec, paths: list[Path]) -> None:
    """Fail before loading anything if a file is missing, of unknown type, or lacks a required column."""
    if not paths:
        raise InputError("no input files given")
    for p in paths:
        if not p.is_file():
            raise InputError("no such file", path=str(p))
        check_columns(p, spec)


def ingest(
    home: KappaHome,
    table: str,
    paths: list[Path],
    *,
    calendar: str = DEFAULT_CALENDAR,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Progress | None = None,
) -> LoadReport:
    """Validate and load ``paths`` into ``table`` (one of quotes, trades, orders, fills, daily).

    Parameters
    ----------
    home
        The Kappa home holding the database and the lake.
    table
        The input table of DESIGN §2.
    paths
        CSV or Parquet files; all are checked for required columns before any is loaded.
    calendar
        Exchange calendar for session dates and the trading-session rule.
    batch_rows
        Rows held in memory at once while streaming a file.
    progress
        Called with (file, rows) after each batch.

    Returns
    -------
    LoadReport
    """
    if table not in TABLES:
        raise InputError(f"unknown table '{table}' (expected one of {', '.join(TABLES)})")
    spec = TABLES[table]
    paths = list(dict.fromkeys(p.expanduser().resolve() for p in paths))  # a file named twice loads once
    _check_files(spec, paths)
    home.ensure()
    with load_lock(home):
        return _ingest_locked(home, spec, paths, calendar, batch_rows, progress)


@dataclass(frozen=True, slots=True)
class _Load:
    """One load's context: what every step of it reads."""

    home: KappaHome
    spec: TableSpec
    paths: list[Path]
    run_id: str
    stage_dir: Path  # this load's staging folder, removed when it ends
    calendar: str
    batch_rows: int


def _ingest_locked(
    home: KappaHome,
    spec: TableSpec,
    paths: list[Path],
    calendar: str,
    batch_rows: int,
    progress: Progress | None,
) -> LoadReport:
    table = spec.name
    run_id = new_run_id(f"ingest-{table}")
    params: dict[str, object] = {"table": table, "files": [str(p) for p in paths], "calendar": calendar}
    with writer(home) as con:
        start_run(con, run_id, "ingest", params)
        manifest = _manifest(con)
    lake.collect_garbage(home, set(manifest.values()))  # no other load runs: every orphan is a crash's
    load = _Load(home, spec, paths, run_id, home.staging / run_id, calendar, batch_rows)
    try:
        report = _load_market(load, manifest, progress) if spec.market else _load_table(load, progress)
    except BaseException as exc:
        fail_run(home, run_id, exc)
        raise
    finally:
        shutil.rmtree(load.stage_dir, ignore_errors=True)
    return report


def _manifest(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, dt.date], str]:
    """The current lake file of every (table, date)."""
    rows = con.sql("SELECT table_name, date, path FROM lake_files").fetchall()
    return {(t, d): p for t, d, p in rows}


def _tagged(sink: Callable[[pl.DataFrame], None]) -> Callable[[pl.DataFrame, Path, int], None]:
    """A sink of validated rows tagged with their ``source_file`` and ``file_index`` (the staged and merged
    path needs them for duplicates and the quarantine; rows going straight to the lake do not)."""

    def tag(clean: pl.DataFrame, path: Path, index: int) -> None:
        sink(
            clean.with_columns(
                pl.lit(str(path)).alias("source_file"), pl.lit(index, dtype=pl.Int64).alias("file_index")
            )
        )

    return tag


def _untagged(sink: Callable[[pl.DataFrame], None]) -> Callable[[pl.DataFrame, Path, int], None]:
    return lambda clean, path, index: sink(clean)


class _Quarantine:
    """Collects rejected rows in a staged Parquet file so that a wholly bad file does not fill memory."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.parts = 0
        self.counts: Counter[str] = Counter()  # per rule
        self.by_file: Counter[str] = Counter()

    def add(self, rejected: pl.DataFrame) -> None:
        if rejected.height == 0:
            return
        rejected.select(QUARANTINE_COLUMNS).write_parquet(self.folder / f"q{self.parts:06d}.parquet")
        self.parts += 1
        self.counts.update(rejected["rule"].to_list())
        self.by_file.update(rejected["source_file"].to_list())

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def insert(self, con: duckdb.DuckDBPyConnection, run_id: str, table: str) -> None:
        if self.parts == 0:
            return
        glob = str(self.folder / "q*.parquet").replace("'", "''")
        con.execute(
            f"""INSERT INTO quarantine SELECT ?, ?, source_file, row_number, rule, detail, raw,
                now()::TIMESTAMP FROM read_parquet('{glob}') ORDER BY source_file, row_number""",
            [run_id, table],
        )


@dataclass(frozen=True, slots=True)
class _Read:
    """What streaming the files of a load saw: rows read and SHA-256, per file."""

    rows: Counter[str]
    sha256: dict[str, str]


def _read_validated(
    load: _Load,
    quarantine: _Quarantine,
    progress: Progress | None,
    sink: Callable[[pl.DataFrame, Path, int], None],
) -> _Read:
    """Stream and validate every file; rejected rows go to ``quarantine``, clean ones to ``sink`` with their
    file and its index (see :func:`_tagged`).

    Batches are validated on a small thread pool (polars releases the GIL) while the next one is read;
    they reach ``quarantine`` and ``sink`` in file order. Each file is hashed right after it is read
    (while it is in the page cache), not under the write lock.
    """
    read = _Read(Counter(), {})
    spec = load.spec
    with ThreadPoolExecutor(VALIDATION_THREADS, thread_name_prefix="validate") as pool:
        for index, path in enumerate(load.paths):
            for rows, result in _validated_in_order(
                pool, read_batches(path, spec, load.batch_rows), spec, load.calendar
            ):
                quarantine.add(result.rejected.with_columns(pl.lit(str(path)).alias("source_file")))
                sink(result.clean, path, index)
                read.rows[str(path)] += rows
                if progress:
                    progress(str(path), rows)
            read.sha256[str(path)] = _sha256(path)
    return read


def _validated_in_order(
    pool: ThreadPoolExecutor, batches: Iterator[pl.DataFrame], spec: TableSpec, calendar: str
) -> Iterator[tuple[int, ValidatedBatch]]:
    """(rows, validated batch) in the order of ``batches``, with up to ``VALIDATION_THREADS`` validating
    ahead while the next batch is read."""
    pending: deque[tuple[int, Future[ValidatedBatch]]] = deque()
    for batch in batches:
        pending.append((batch.height, pool.submit(validate_batch, batch, spec, calendar)))
        if len(pending) > VALIDATION_THREADS:
            rows, future = pending.popleft()
            yield rows, future.result()
    while pending:
        rows, future = pending.popleft()
        yield rows, future.result()


def _finish(
    con: duckdb.DuckDBPyConnection, load: _Load, quarantine: _Quarantine, read: _Read, rows_loaded: int
) -> None:
    """The common tail of every commit: quarantine, loads and the run row.

    Every row read is either loaded or quarantined, per file and in total.
    """
    run_id, spec, paths = load.run_id, load.spec, load.paths
    files = [str(p) for p in paths]
    con.execute(
        "DELETE FROM quarantine WHERE table_name = ? AND source_file IN (SELECT unnest(?))",
        [spec.name, files],
    )
    quarantine.insert(con, run_id, spec.name)
    for p in paths:
        n_read, rejected = read.rows[str(p)], quarantine.by_file[str(p)]
        con.execute(
            "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
            [run_id, spec.name, str(p), read.sha256[str(p)], n_read, n_read - rejected, rejected],
        )
    n_q = quarantine.total
    finish_run(con, run_id, rows_loaded, n_q, json.dumps(dict(sorted(quarantine.counts.items()))))
    assert rows_loaded + n_q == read.rows.total(), (rows_loaded, n_q, read.rows.total())


class _ShownRows:
    """Passes rows read on to ``progress``, but not twice when a load reads its files again."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.shown: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()

    def __call__(self, path: str, rows: int) -> None:
        self.seen[path] += rows
        new = self.seen[path] - self.shown[path]
        if new > 0 and self.progress:
            self.progress(path, new)
            self.shown[path] += new

    def again(self) -> None:
        """The files are read again from their start."""
        self.seen.clear()


def _load_market(
    load: _Load, manifest: dict[tuple[str, dt.date], str], progress: Progress | None
) -> LoadReport:
    """Quotes or trades: straight to the lake when the rows come in lake order, else staged and merged."""
    spec = load.spec
    existing = {day for (t, day) in manifest if t == spec.name}
    direct = lake.DirectWriter(load.home, spec.name, load.run_id, existing, spec.key)
    quarantine = _Quarantine(load.stage_dir / "quarantine")
    shown = _ShownRows(progress)
    try:
        read = _read_validated(load, quarantine, shown, _untagged(direct.write))
        merged = direct.finish()
    except lake.OutOfLakeOrder:
        direct.abort()
        shutil.rmtree(load.stage_dir, ignore_errors=True)
        quarantine = _Quarantine(load.stage_dir / "quarantine")
        shown.again()
        read, merged = _stage_and_merge(load, manifest, quarantine, shown)
    except BaseException:
        direct.abort()
        raise
    _fault_point("after_staging")
    return _commit_market(load, manifest, quarantine, read, merged)


def _stage_and_merge(
    load: _Load,
    manifest: dict[tuple[str, dt.date], str],
    quarantine: _Quarantine,
    progress: Progress | None,
) -> tuple[_Read, list[lake.MergedPartition]]:
    """Stage the validated rows per date, then merge each date with its current lake file."""
    spec = load.spec
    staging = lake.StagingWriter(load.stage_dir / spec.name)
    try:
        read = _read_validated(load, quarantine, progress, _tagged(staging.write))
    finally:
        staging.close()
    merged: list[lake.MergedPartition] = []
    for day in sorted(staging.rows):
        current = manifest.get((spec.name, day))
        part = lake.merge_partition(
            load.home, spec.name, day, staging.path(day), current, load.run_id, spec.key
        )
        if part.duplicates.height:
            quarantine.add(part.duplicates)
        merged.append(part)
    return read, merged


def _commit_market(
    load: _Load,
    manifest: dict[tuple[str, dt.date], str],
    quarantine: _Quarantine,
    read: _Read,
    merged: list[lake.MergedPartition],
) -> LoadReport:
    """Daily facts of the new partitions, then one transaction switches the manifest to them."""
    home, spec, run_id = load.home, load.spec, load.run_id
    other = "trades" if spec.name == "quotes" else "quotes"
    daily_rows = []
    for part in merged:
        other_path = manifest.get((other, part.date))
        q, t = (str(part.path), other_path) if spec.name == "quotes" else (other_path, str(part.path))
        daily_rows.append(lake.daily_from_intraday(home, part.date, q, t))
    daily = pl.concat(daily_rows) if daily_rows else pl.DataFrame()
    rows_loaded = read.rows.total() - quarantine.total
    _fault_point("before_commit")
    replaced: list[str] = []
    with writer(home) as con, transaction(con):
        for part in merged:
            old = first_row(
                con, "SELECT path FROM lake_files WHERE table_name = ? AND date = ?", [spec.name, part.date]
            )
            if old:
                replaced.append(old[0])
            con.execute("DELETE FROM lake_files WHERE table_name = ? AND date = ?", [spec.name, part.date])
            con.execute(
                "INSERT INTO lake_files VALUES (?, ?, ?, ?, ?, ?)",
                [spec.name, part.date, str(part.path), part.row_count, part.symbols, run_id],
            )
        refresh_market_view(con, spec.name)
        if daily.height:
            tagged = daily.with_columns(source=pl.lit("intraday"), run_id=pl.lit(run_id))
            replace_rows(con, "daily", tagged, ["symbol", "date"])
        _finish(con, load, quarantine, read, rows_loaded)
        _fault_point("inside_commit")
    _fault_point("after_commit")
    for old_path in replaced:
        Path(old_path).unlink(missing_ok=True)
    return _report(load, read, quarantine, [p.date for p in merged])


def _load_table(load: _Load, progress: Progress | None) -> LoadReport:
    """orders, fills, daily: small enough to hold in memory; committed with upserts."""
    spec = load.spec
    quarantine = _Quarantine(load.stage_dir / "quarantine")
    frames: list[pl.DataFrame] = []
    read = _read_validated(load, quarantine, progress, _tagged(frames.append))
    empty = pl.DataFrame(schema={**clean_schema(spec), "source_file": pl.String, "file_index": pl.Int64})
    rows = pl.concat([empty, *frames], how="vertical_relaxed")
    data_cols = spec.names
    rows, dups = drop_duplicate_keys(rows, spec.key, data_cols)
    quarantine.add(dups)
    _fault_point("before_commit")
    with writer(load.home) as con, transaction(con):
        if spec.name == "fills" and rows.height:
            ids = rows["order_id"].unique().to_list()
            orders = con.sql(
                "SELECT order_id, quantity, arrival_ts, end_ts FROM orders WHERE order_id IN (SELECT unnest(?))",
                params=[ids],
            ).pl()
            existing = con.sql(
                "SELECT fill_id, order_id, ts, quantity FROM fills WHERE order_id IN (SELECT unnest(?))",
                params=[ids],
            ).pl()
            rows, bad = check_fills(rows, orders, existing, data_cols)
            quarantine.add(bad)
        rows_loaded = rows.height
        if rows_loaded:
            _upsert(con, spec, rows, load.run_id)
        _finish(con, load, quarantine, read, rows_loaded)
        _fault_point("inside_commit")
    dates = sorted(set(rows["date"].to_list())) if rows_loaded and "date" in rows.columns else []
    return _report(load, read, quarantine, dates)


def _report(load: _Load, read: _Read, quarantine: _Quarantine, dates: list[dt.date]) -> LoadReport:
    return LoadReport(
        load.run_id,
        load.spec.name,
        [str(p) for p in load.paths],
        read.rows.total(),
        read.rows.total() - quarantine.total,
        quarantine.total,
        dict(sorted(quarantine.counts.items())),
        dates,
    )


def _upsert(con: duckdb.DuckDBPyConnection, spec: TableSpec, rows: pl.DataFrame, run_id: str) -> None:
    """Write validated rows of orders, fills or daily, replacing what they correct (module docstring)."""
    tagged = rows.rename({ROW: "source_row"}).with_columns(run_id=pl.lit(run_id)).drop("file_index")
    if spec.name == "orders":
        # an order may move to another (date, symbol): drop it by id first
        con.execute("DELETE FROM orders WHERE order_id IN (SELECT unnest(?))", [rows["order_id"].to_list()])
        replace_rows(con, "orders", tagged.sort("date", "symbol", "order_id"), ["date", "symbol"])
    elif spec.name == "fills":
        replace_rows(con, "fills", tagged.sort("order_id", "ts", "fill_id"), ["fill_id"])
    elif spec.name == "daily":
        daily = tagged.select(*spec.names, source=pl.lit("file"), run_id=pl.col("run_id"))
        replace_rows(con, "daily", daily.sort("symbol", "date"), ["symbol", "date"])
    else:  # pragma: no cover - market tables go through the lake
        raise AssertionError(spec.name)
