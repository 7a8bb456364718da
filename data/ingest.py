"""Load input files into Kappa: validate, quarantine, stage, then commit everything in one transaction.

Replacement rules (what "loading a corrected file replaces that date" means per table):

- ``quotes``, ``trades``: the rows a load brings for a (session date, symbol) replace all stored rows of
  that date and symbol; other symbols of the date are kept.
- ``orders``: likewise by (arrival session date, symbol).
- ``fills``: by ``fill_id`` (a multi-day order's fills arrive in several files, so no date is replaced); a
  row with ``exec_type`` = cancel (FIX trade cancel) removes the fill it names; with ``replace_orders`` the
  load's fills of each order it names replace all stored fills of that order. Removed fills are kept in
  ``cancelled_fills``.
- ``daily``: by (symbol, date).

What a load replaced lands in ``replacements`` (rows before and after, per table, date and symbol; per
order for fills) and in its report, with a warning where a replacement shrinks a symbol's day by more than
half. Loading the same file twice gives the same tables. Every rejected row lands in ``quarantine`` with
its file, row number, rule and the row as it stands in the file; the quarantine rows of a file are
replaced when the file is loaded again. A load whose files are mostly quarantined is refused
(:mod:`data.quarantine`). Each load is one row in ``runs`` (``success``, ``warning`` or ``failed``) and
one row per file in ``loads``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import signal
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import polars as pl

from data import lake
from data.calendar import home_calendar, home_timezone
from data.contract import TABLES, TableSpec
from data.cross_row_rules import check_fills, drop_duplicate_keys, fill_cancels
from data.home import KappaHome
from data.quarantine import MAX_QUARANTINED, REFUSED_SAMPLE_ROWS, Quarantine, verdict
from data.readers import DEFAULT_BATCH_ROWS, RawBatch, check_columns, read_batches
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
from kappa.errors import InputError

Progress = Callable[[str, int], None]
FAULT_ENV = "KAPPA_FAULT_AT"
VALIDATION_THREADS = 2  # batches validated at once (each on polars' own threads too)


SHRINK_WARNING = 0.5  # a replacement that leaves less than this share of a symbol's day is a warning
SHRINK_MIN_ROWS = 10  # ... when the day held at least this many rows


@dataclass(frozen=True, slots=True)
class Replacement:
    """Stored rows a load replaced: of ``table``, for a session ``date`` and a ``key`` (the symbol; for
    fills the order, date ``None``), how many there were and how many there are now."""

    table: str
    date: dt.date | None
    key: str | None
    rows_before: int
    rows_after: int


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What one load did: rows read, loaded and quarantined (per rule), the dates it touched, what it
    replaced or cancelled, and its warnings (its run's status is ``warning`` when there are any)."""

    run_id: str
    table: str
    files: list[str]
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    dates: list[dt.date] = field(default_factory=list)
    replaced: list[Replacement] = field(default_factory=list)
    cancelled_fills: int = 0
    warnings: list[str] = field(default_factory=list)
    flagged_by_rule: dict[tuple[str, str], int] = field(default_factory=dict)
    """Rows of the dates the load touched that a tape-cleaning rule flags, per (table, rule): kept in the
    lake, left out of the models (a quotes load also flags the date's trades again)."""


class LoadRefusedError(InputError):
    """Most rows of a file were quarantined: nothing was loaded (the run is ``failed``; the quarantine holds
    examples of each rule)."""


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
    calendar: str | None = None,
    timezone: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Progress | None = None,
    replace_orders: bool = False,
    max_quarantined: float = MAX_QUARANTINED,
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
        Exchange calendar for session dates and the trading-session rule (default: the home's, see
        :func:`data.calendar.home_calendar`).
    timezone
        IANA zone of timestamps written without a UTC offset (default: the home's ``timezone`` setting;
        ``exchange`` = the calendar's zone; none: such rows are quarantined as ``missing_utc_offset``).
    batch_rows
        Rows held in memory at once while streaming a file.
    progress
        Called with (file, rows) after each batch.
    replace_orders
        Fills only: each order the files name gets exactly their fills (its other stored fills are
        cancelled) instead of a replacement fill by fill.
    max_quarantined
        A file with a larger share of its rows quarantined refuses the whole load.

    Returns
    -------
    LoadReport

    Raises
    ------
    LoadRefusedError
        A file's quarantined share is above ``max_quarantined``: nothing was loaded.
    InputError
        A file is missing, unreadable or lacks a required column: nothing was loaded.
    """
    if table not in TABLES:
        raise InputError(f"unknown table '{table}' (expected one of {', '.join(TABLES)})")
    if replace_orders and table != "fills":
        raise InputError("replacing by order applies to fills only")
    spec = TABLES[table]
    paths = list(dict.fromkeys(p.expanduser().resolve() for p in paths))  # a file named twice loads once
    _check_files(spec, paths)
    cal = home_calendar(home, calendar)
    tz = home_timezone(home, timezone, cal)
    home.ensure()
    with load_lock(home):
        return _ingest_locked(
            _Load(home, spec, paths, new_run_id(f"ingest-{table}"), Path(), cal, tz, batch_rows,
                  replace_orders, max_quarantined),
            progress,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Load:
    """One load's context: what every step of it reads."""

    home: KappaHome
    spec: TableSpec
    paths: list[Path]
    run_id: str
    stage_dir: Path  # this load's staging folder, removed when it ends
    calendar: str
    timezone: str | None
    batch_rows: int
    replace_orders: bool = False
    max_quarantined: float = MAX_QUARANTINED


def _ingest_locked(load: _Load, progress: Progress | None) -> LoadReport:
    home, spec, paths, run_id = load.home, load.spec, load.paths, load.run_id
    params: dict[str, object] = {
        "table": spec.name, "files": [str(p) for p in paths], "calendar": load.calendar,
        "timezone": load.timezone, "replace_orders": load.replace_orders,
        "max_quarantined": load.max_quarantined,
    }  # fmt: skip
    with writer(home) as con:
        start_run(con, run_id, "ingest", params)
        manifest = _manifest(con)
    lake.collect_garbage(home, set(manifest.values()))  # no other load runs: every orphan is a crash's
    load = replace(load, stage_dir=home.staging / run_id)
    try:
        report = _load_market(load, manifest, progress) if spec.market else _load_table(load, progress)
    except LoadRefusedError:
        raise  # recorded with its quarantine by _refuse
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


@dataclass(slots=True)
class _Read:
    """What streaming the files of a load saw, per file: rows read (malformed lines included), SHA-256,
    and the symbols with at least one row loaded."""

    rows: Counter[str] = field(default_factory=Counter)
    sha256: dict[str, str] = field(default_factory=dict)
    symbols: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def _read_validated(
    load: _Load,
    quarantine: Quarantine,
    progress: Progress | None,
    sink: Callable[[pl.DataFrame, Path, int], None],
) -> _Read:
    """Stream and validate every file; rejected rows go to ``quarantine`` (with their line as read),
    clean ones to ``sink`` with their file and its index (see :func:`_tagged`).

    Batches are validated on a small thread pool (polars releases the GIL) while the next one is read;
    they reach ``quarantine`` and ``sink`` in file order. Each file is hashed right after it is read
    (while it is in the page cache), not under the write lock.
    """
    read = _Read()
    spec = load.spec
    with ThreadPoolExecutor(VALIDATION_THREADS, thread_name_prefix="validate") as pool:
        for index, path in enumerate(load.paths):
            name = str(path)
            for raw, result in _validated_in_order(pool, read_batches(path, spec, load.batch_rows), load):
                rejected = result.rejected
                if (
                    rejected.height
                ):  # the line as read; a Parquet row is read again, as it stands, at the commit
                    text = (
                        raw.lines(rejected[ROW].to_numpy())
                        if raw.lines is not None
                        else [None] * rejected.height
                    )
                    rejected = rejected.with_columns(pl.Series("raw", text, dtype=pl.String))
                quarantine.add(rejected.with_columns(pl.lit(name).alias("source_file")))
                quarantine.add(_malformed(raw, name, len(raw.frame.columns) - 1))
                sink(result.clean, path, index)
                if "symbol" in result.clean.columns and result.clean.height:
                    read.symbols[name].update(result.clean["symbol"].unique().to_list())
                read.rows[name] += raw.rows
                if progress:
                    progress(name, raw.rows)
            read.sha256[name] = _sha256(path)
    return read


def _malformed(raw: RawBatch, source_file: str, columns: int) -> pl.DataFrame:
    """Quarantine rows of the lines whose number of fields is not the header's."""
    return raw.malformed.select(
        pl.lit(source_file).alias("source_file"), pl.col(ROW), pl.lit("malformed_row").alias("rule"),
        pl.lit(f"not {columns} fields").alias("detail"), pl.col("raw"),
    )  # fmt: skip


def _validated_in_order(
    pool: ThreadPoolExecutor, batches: Iterator[RawBatch], load: _Load
) -> Iterator[tuple[RawBatch, ValidatedBatch]]:
    """(raw batch, validated batch) in the order of ``batches``, with up to ``VALIDATION_THREADS``
    validating ahead while the next batch is read."""
    pending: deque[tuple[RawBatch, Future[ValidatedBatch]]] = deque()
    for batch in batches:
        job = pool.submit(validate_batch, batch.frame, load.spec, load.calendar, load.timezone)
        pending.append((batch, job))
        if len(pending) > VALIDATION_THREADS:
            raw, future = pending.popleft()
            yield raw, future.result()
    while pending:
        raw, future = pending.popleft()
        yield raw, future.result()


def _shrinkage(replaced: list[Replacement]) -> list[str]:
    """A warning per table and date where a replacement left less than half of a symbol's stored rows."""
    shrunk: dict[tuple[str, dt.date | None], list[Replacement]] = defaultdict(list)
    for r in replaced:
        if r.rows_before >= SHRINK_MIN_ROWS and r.rows_after < SHRINK_WARNING * r.rows_before:
            shrunk[(r.table, r.date)].append(r)
    out = []
    for (table, day), rs in sorted(shrunk.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        shown = ", ".join(f"{r.key} {r.rows_before:,} → {r.rows_after:,}" for r in rs[:10])
        more = f" and {len(rs) - 10} more" if len(rs) > 10 else ""
        out.append(f"{table} {day or ''}: the load shrank {len(rs)} stored symbol-day(s) by more than half: "
                   f"{shown}{more}".replace("  ", " "))  # fmt: skip
    return out


def _finish(
    con: duckdb.DuckDBPyConnection,
    load: _Load,
    quarantine: Quarantine,
    read: _Read,
    rows_loaded: int,
    replaced: list[Replacement],
    warnings: list[str],
) -> None:
    """The common tail of every commit: quarantine, loads, replacements and the run row.

    Every row read is either loaded or quarantined, per file and in total.
    """
    _record_quarantine(con, load, quarantine, read)
    if replaced:
        con.executemany(
            "INSERT INTO replacements VALUES (?, ?, ?, ?, ?, ?)",
            [[load.run_id, r.table, r.date, r.key, r.rows_before, r.rows_after] for r in replaced],
        )
    n_q = quarantine.total
    finish_run(con, load.run_id, rows_loaded, n_q, _message(quarantine, warnings),
               status="warning" if warnings else "success")  # fmt: skip
    assert rows_loaded + n_q == read.rows.total(), (rows_loaded, n_q, read.rows.total())


def _record_quarantine(
    con: duckdb.DuckDBPyConnection,
    load: _Load,
    quarantine: Quarantine,
    read: _Read,
    sample: int | None = None,
) -> None:
    """Replace the files' quarantine rows, and write a ``loads`` row per file."""
    run_id, table, files = load.run_id, load.spec.name, [str(p) for p in load.paths]
    con.execute(
        "DELETE FROM quarantine WHERE table_name = ? AND source_file IN (SELECT unnest(?))", [table, files]
    )
    quarantine.insert(con, run_id, table, sample=sample)
    loaded = sample is None  # a refused load loads nothing
    for f in files:
        n_read, rejected = read.rows[f], quarantine.by_file[f]
        con.execute(
            "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
            [run_id, table, f, read.sha256.get(f, ""), n_read, n_read - rejected if loaded else 0, rejected],
        )


def _message(quarantine: Quarantine, warnings: list[str]) -> str:
    counts = ", ".join(f"{rule} {n:,}" for rule, n in sorted(quarantine.counts.items()))
    return "; ".join([*warnings, *([f"quarantined: {counts}"] if counts else [])])


def _check(load: _Load, quarantine: Quarantine, read: _Read) -> list[str]:
    """The load's warnings, or :class:`_Refusal` if its quarantine refuses it."""
    v = verdict(load.spec.name, dict(read.rows), quarantine, read.symbols, load.max_quarantined)
    if v.refused:
        raise _Refusal(v.refused)
    return v.warnings


class _Refusal(Exception):
    """Raised inside a load to refuse it (see :func:`_refuse`)."""


def _refuse(load: _Load, quarantine: Quarantine, read: _Read, why: str) -> LoadRefusedError:
    """Record a refused load: its run ``failed`` with the reason, its files' ``loads`` rows (nothing loaded)
    and examples of its quarantine (``REFUSED_SAMPLE_ROWS`` per file and rule); the error to raise."""
    with writer(load.home) as con, transaction(con):
        _record_quarantine(con, load, quarantine, read, sample=REFUSED_SAMPLE_ROWS)
        con.execute(
            """UPDATE runs SET status = 'failed', finished_at = now()::TIMESTAMP, rows_written = 0,
               rows_quarantined = ?, message = ? WHERE run_id = ?""",
            [quarantine.total, why[:2000], load.run_id],
        )
    return LoadRefusedError(why)


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
    quarantine = Quarantine(load.stage_dir / "quarantine")
    shown = _ShownRows(progress)
    try:
        read = _read_validated(load, quarantine, shown, _untagged(direct.write))
        merged = direct.finish()
    except lake.OutOfLakeOrder:
        direct.abort()
        shutil.rmtree(load.stage_dir, ignore_errors=True)
        quarantine = Quarantine(load.stage_dir / "quarantine")
        shown.again()
        read, merged = _stage_and_merge(load, manifest, quarantine, shown)
    except BaseException:
        direct.abort()
        raise
    try:
        warnings = _check(load, quarantine, read)
    except _Refusal as exc:
        for part in merged:
            part.path.unlink(missing_ok=True)
        raise _refuse(load, quarantine, read, str(exc)) from None
    _fault_point("after_staging")
    return _commit_market(load, manifest, quarantine, read, merged, warnings)


def _stage_and_merge(
    load: _Load,
    manifest: dict[tuple[str, dt.date], str],
    quarantine: Quarantine,
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
    quarantine: Quarantine,
    read: _Read,
    merged: list[lake.MergedPartition],
    warnings: list[str],
) -> LoadReport:
    """Daily facts of the new partitions, then one transaction switches the manifest to them."""
    home, spec, run_id = load.home, load.spec, load.run_id
    other = "trades" if spec.name == "quotes" else "quotes"
    daily_rows = []
    flagged: list[tuple[str, dt.date, pl.DataFrame]] = []  # (table, date, flagged rows per symbol and rule)
    reflagged: list[tuple[dt.date, Path]] = []  # trades files of other loads whose flags the quotes changed
    for part in merged:
        other_path = manifest.get((other, part.date))
        if spec.name == "quotes":
            fq = lake.flag_partition("quotes", str(part.path), part.path)
            flagged.append(("quotes", part.date, fq.counts))
            if other_path is not None:  # rule T4 reads the quotes: the date's trades are flagged again
                out = lake.partition_path(home, "trades", part.date, run_id)
                ft = lake.flag_partition("trades", other_path, out, quotes=str(part.path))
                if ft.changed:
                    flagged.append(("trades", part.date, ft.counts))
                    reflagged.append((part.date, ft.path))
                    other_path = str(ft.path)
            q: str | None = str(part.path)
            t: str | None = other_path
        else:
            ft = lake.flag_partition("trades", str(part.path), part.path, quotes=other_path)
            flagged.append(("trades", part.date, ft.counts))
            q, t = other_path, str(part.path)
        daily_rows.append(lake.daily_from_intraday(home, part.date, q, t))
    daily = pl.concat(daily_rows) if daily_rows else pl.DataFrame()
    rows_loaded = read.rows.total() - quarantine.total
    replaced = [
        Replacement(spec.name, part.date, symbol, before, after)
        for part in merged
        for symbol, before, after in part.replaced.iter_rows()
    ]
    warnings = warnings + _shrinkage(replaced)
    _fault_point("before_commit")
    old_files: list[str] = []
    with writer(home) as con, transaction(con):
        for part in merged:
            old = first_row(
                con, "SELECT path FROM lake_files WHERE table_name = ? AND date = ?", [spec.name, part.date]
            )
            if old:
                old_files.append(old[0])
            con.execute("DELETE FROM lake_files WHERE table_name = ? AND date = ?", [spec.name, part.date])
            con.execute(
                "INSERT INTO lake_files VALUES (?, ?, ?, ?, ?, ?)",
                [spec.name, part.date, str(part.path), part.row_count, part.symbols, run_id],
            )
        for day, path in reflagged:
            old = first_row(
                con, "SELECT path FROM lake_files WHERE table_name = 'trades' AND date = ?", [day]
            )
            if old:
                old_files.append(old[0])
            con.execute(
                "UPDATE lake_files SET path = ?, run_id = ? WHERE table_name = 'trades' AND date = ?",
                [str(path), run_id, day],
            )
        refresh_market_view(con, spec.name)
        if reflagged:
            refresh_market_view(con, "trades")
        _record_flags(con, run_id, flagged)
        if daily.height:
            tagged = daily.with_columns(source=pl.lit("intraday"), run_id=pl.lit(run_id))
            replace_rows(con, "daily", tagged, ["symbol", "date"])
        _finish(con, load, quarantine, read, rows_loaded, replaced, warnings)
        _fault_point("inside_commit")
    _fault_point("after_commit")
    for old_path in old_files:
        Path(old_path).unlink(missing_ok=True)
    report = _report(load, read, quarantine, [p.date for p in merged], replaced, warnings)
    by_rule: Counter[tuple[str, str]] = Counter()
    for table, _, counts in flagged:
        for rule, n in counts.group_by("rule").agg(pl.col("rows").sum()).iter_rows():
            by_rule[(table, rule)] += int(n)
    return replace(report, flagged_by_rule=dict(sorted(by_rule.items())))


def _record_flags(
    con: duckdb.DuckDBPyConnection, run_id: str, flagged: list[tuple[str, dt.date, pl.DataFrame]]
) -> None:
    """Replace the ``flagged_rows`` of each (table, date) flagged by this load."""
    for table, day, counts in flagged:
        con.execute("DELETE FROM flagged_rows WHERE table_name = ? AND date = ?", [table, day])
        if counts.height:
            rows = counts.select(
                pl.lit(table).alias("table_name"), pl.lit(day).alias("date"), "symbol", "rule", "rows",
                pl.lit(run_id).alias("run_id"),
            )  # fmt: skip
            con.register("_flagged", rows)
            try:
                con.execute("INSERT INTO flagged_rows BY NAME SELECT * FROM _flagged")
            finally:
                con.unregister("_flagged")


def _load_table(load: _Load, progress: Progress | None) -> LoadReport:
    """orders, fills, daily: small enough to hold in memory; committed with upserts."""
    spec = load.spec
    quarantine = Quarantine(load.stage_dir / "quarantine")
    frames: list[pl.DataFrame] = []
    read = _read_validated(load, quarantine, progress, _tagged(frames.append))
    empty = pl.DataFrame(schema={**clean_schema(spec), "source_file": pl.String, "file_index": pl.Int64})
    rows = pl.concat([empty, *frames], how="vertical_relaxed")
    superseded = 0
    if spec.name == "fills":
        rows, cancels, superseded = _corrections_in_order(rows, quarantine)
    else:
        cancels = rows.clear()
        rows, dups = drop_duplicate_keys(rows, spec.key)
        quarantine.add(dups)
    _fault_point("before_commit")
    try:
        with writer(load.home) as con, transaction(con):
            removed, also_loaded = 0, 0
            if spec.name == "fills":
                rows, removed, also_loaded, replaced = _fills_against_store(
                    con, load, rows, cancels, quarantine
                )
            else:
                replaced = _table_replacements(con, spec, rows)
            warnings = _check(load, quarantine, read)
            if rows.height:
                _upsert(con, spec, rows, load.run_id)
            if spec.name == "fills":
                replaced = _fills_after(con, replaced)
            elif spec.name == "orders":
                replaced = _orders_after(con, replaced)
            warnings += _shrinkage(replaced)
            _finish(con, load, quarantine, read, rows.height + also_loaded + superseded, replaced, warnings)
            _fault_point("inside_commit")
    except _Refusal as exc:
        raise _refuse(load, quarantine, read, str(exc)) from None
    dates = sorted(set(rows["date"].to_list())) if rows.height and "date" in rows.columns else []
    return _report(load, read, quarantine, dates, replaced, warnings, removed)


def _corrections_in_order(
    rows: pl.DataFrame, quarantine: Quarantine
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """A fills load's rows in FIX's order: plain fills (a repeated ``fill_id`` among them is a
    ``duplicate_key``), then corrections, the last of a fill winning over the fill and earlier corrections
    (which count as loaded, and superseded); and its cancels, apart. Returns the fills that stand, the
    cancels and how many rows were superseded."""
    kind = pl.col("exec_type").fill_null("trade")
    cancels, corrections = rows.filter(kind == "cancel"), rows.filter(kind == "correct")
    trades, dups = drop_duplicate_keys(rows.filter(kind == "trade"), ("fill_id",))
    quarantine.add(dups)
    last = corrections.sort("file_index", ROW).unique("fill_id", keep="last", maintain_order=True)
    replaced = trades.filter(pl.col("fill_id").is_in(last["fill_id"].implode()))
    superseded = corrections.height - last.height + replaced.height
    kept = pl.concat([trades.filter(~pl.col("fill_id").is_in(last["fill_id"].implode())), last])
    return kept, cancels, superseded


def _fills_against_store(
    con: duckdb.DuckDBPyConnection,
    load: _Load,
    rows: pl.DataFrame,
    cancels: pl.DataFrame,
    quarantine: Quarantine,
) -> tuple[pl.DataFrame, int, int, list[Replacement]]:
    """Apply a fills load's cancels and check its fills against their orders (inside the commit).

    Returns the fills to upsert, the fills removed (cancelled, or replaced by order), the rows of the load
    counted as loaded besides those fills (applied cancels, and fills cancelled by the same load), and the
    stored fill count of each order the load touches (``rows_after`` is set by :func:`_fills_after`).
    """
    run_id = load.run_id
    cancel_ids = cancels["fill_id"].unique().to_list()
    stored = con.sql(
        "SELECT fill_id, order_id FROM fills WHERE fill_id IN (SELECT unnest(?))", params=[cancel_ids]
    ).pl()
    before = {
        r[0]
        for r in con.execute(
            """SELECT fill_id FROM cancelled_fills WHERE fill_id IN (SELECT unnest(?))
               AND fill_id NOT IN (SELECT fill_id FROM fills)""",
            [cancel_ids + rows["fill_id"].to_list()],
        ).fetchall()
    }
    corrected = {
        r[0]
        for r in con.execute(
            "SELECT fill_id FROM fills WHERE exec_type = 'correct' AND fill_id IN (SELECT unnest(?))",
            [rows["fill_id"].to_list()],
        ).fetchall()
    }
    fc = fill_cancels(pl.concat([rows, cancels], how="vertical_relaxed"), stored, before, corrected)
    quarantine.add(fc.rejected)
    fills = fc.fills
    ids = sorted(set(fills["order_id"].to_list()) | set(cancels["order_id"].to_list()))
    orders = con.sql(
        "SELECT order_id, quantity, arrival_ts, end_ts FROM orders WHERE order_id IN (SELECT unnest(?))",
        params=[ids],
    ).pl()
    existing = con.sql(
        """SELECT fill_id, order_id, ts, quantity FROM fills WHERE order_id IN (SELECT unnest(?))
           AND fill_id NOT IN (SELECT unnest(?))""",
        params=[ids, fc.cancelled_stored["fill_id"].to_list()],
    ).pl()
    if load.replace_orders:  # the orders the load names get its fills alone
        existing = existing.filter(~pl.col("order_id").is_in(fills["order_id"].implode()))
    kept, bad = check_fills(fills, orders, existing)
    quarantine.add(bad)
    counts = dict(
        con.execute(
            "SELECT order_id, count(*) FROM fills WHERE order_id IN (SELECT unnest(?)) GROUP BY ALL", [ids]
        ).fetchall()
    )
    replaced = [Replacement("fills", None, o, int(counts.get(o, 0)), 0) for o in ids]
    removed = _move_to_cancelled(con, run_id, fc.cancelled_stored, "cancel")
    if load.replace_orders and kept.height:  # the first row naming each order is what replaced its fills
        named = kept.sort("file_index", ROW).group_by("order_id", maintain_order=True).first()
        con.register("_named", named.select("order_id", "source_file", ROW))
        try:
            stale = con.sql(
                """SELECT f.fill_id, n.source_file AS cancel_source_file, n.row_number AS cancel_source_row
                   FROM fills f JOIN _named n USING (order_id) WHERE f.fill_id NOT IN (SELECT unnest(?))""",
                params=[kept["fill_id"].to_list()],
            ).pl()
        finally:
            con.unregister("_named")
        removed += _move_to_cancelled(con, run_id, stale, "replaced_by_order")
    loaded = fc.cancelled_loaded
    if loaded.height:
        con.register("_cancelled", loaded.rename({ROW: "source_row"}).with_columns(
            pl.lit(run_id).alias("run_id"), pl.lit("cancel").alias("reason"), pl.lit(run_id).alias("cancel_run_id"),
            pl.lit(dt.datetime.now(dt.UTC).replace(tzinfo=None)).alias("cancelled_at"),
        ).drop("file_index"))  # fmt: skip
        con.execute("INSERT INTO cancelled_fills BY NAME SELECT * FROM _cancelled")
        con.unregister("_cancelled")
    applied = cancels.height - fc.rejected.filter(pl.col("rule") == "unknown_fill").height
    applied -= fc.rejected.filter(pl.col("rule") == "duplicate_key").height
    return kept, removed + loaded.height, applied + loaded.height, replaced


def _move_to_cancelled(con: duckdb.DuckDBPyConnection, run_id: str, which: pl.DataFrame, reason: str) -> int:
    """Move stored fills (``fill_id, cancel_source_file, cancel_source_row``) to ``cancelled_fills``."""
    if not which.height:
        return 0
    con.register("_which", which)
    try:
        con.execute(
            """INSERT INTO cancelled_fills BY NAME SELECT f.*, ? AS reason, w.cancel_source_file,
               w.cancel_source_row, ? AS cancel_run_id, now()::TIMESTAMP AS cancelled_at
               FROM fills f JOIN _which w USING (fill_id)""",
            [reason, run_id],
        )
        con.execute("DELETE FROM fills WHERE fill_id IN (SELECT fill_id FROM _which)")
    finally:
        con.unregister("_which")
    return which.height


def _fills_after(con: duckdb.DuckDBPyConnection, replaced: list[Replacement]) -> list[Replacement]:
    """The stored fills of each order after the load (only orders whose count changed or that had fills)."""
    ids = [r.key for r in replaced]
    counts = dict(
        con.execute(
            "SELECT order_id, count(*) FROM fills WHERE order_id IN (SELECT unnest(?)) GROUP BY ALL", [ids]
        ).fetchall()
    )
    return [replace(r, rows_after=int(counts.get(r.key, 0))) for r in replaced if r.rows_before]


def _table_replacements(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, rows: pl.DataFrame
) -> list[Replacement]:
    """Stored rows of orders (per arrival date and symbol: those the load's orders fall in, and those they
    leave, as an order re-delivered under another date or symbol moves) or daily bars (per date) the load
    replaces; ``rows_after`` of orders is set by :func:`_orders_after`."""
    if not rows.height:
        return []
    if spec.name == "orders":
        con.register("_new", rows.select("order_id", "date", "symbol"))
        try:
            old = con.sql(
                """WITH pairs AS (SELECT DISTINCT date, symbol FROM _new UNION SELECT DISTINCT date, symbol
                                  FROM orders WHERE order_id IN (SELECT order_id FROM _new))
                   SELECT p.date, p.symbol, count(o.order_id) AS before FROM pairs p
                   LEFT JOIN orders o USING (date, symbol) GROUP BY ALL ORDER BY ALL"""
            ).fetchall()
        finally:
            con.unregister("_new")
        return [Replacement("orders", day, symbol, int(n), 0) for day, symbol, n in old]
    con.register("_pairs", rows.select("symbol", "date"))
    try:  # the symbol-days of the load already stored, per date
        old = con.sql(
            "SELECT d.date, count(*) FROM daily d JOIN _pairs p USING (symbol, date) GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        con.unregister("_pairs")
    return [Replacement("daily", day, None, int(n), int(n)) for day, n in old]


def _orders_after(con: duckdb.DuckDBPyConnection, replaced: list[Replacement]) -> list[Replacement]:
    """The stored orders of each (date, symbol) after the load; only those that held orders before."""
    counts = {
        (d, s): n
        for d, s, n in con.execute(
            """SELECT date, symbol, count(*) FROM orders WHERE (date, symbol) IN
               (SELECT (unnest(?), unnest(?))) GROUP BY ALL""",
            [[r.date for r in replaced], [r.key for r in replaced]],
        ).fetchall()
    }
    return [replace(r, rows_after=int(counts.get((r.date, r.key), 0))) for r in replaced if r.rows_before]


def _report(
    load: _Load,
    read: _Read,
    quarantine: Quarantine,
    dates: list[dt.date],
    replaced: list[Replacement],
    warnings: list[str],
    cancelled: int = 0,
) -> LoadReport:
    return LoadReport(
        load.run_id,
        load.spec.name,
        [str(p) for p in load.paths],
        read.rows.total(),
        read.rows.total() - quarantine.total,
        quarantine.total,
        dict(sorted(quarantine.counts.items())),
        dates,
        replaced,
        cancelled,
        warnings,
    )


def _upsert(con: duckdb.DuckDBPyConnection, spec: TableSpec, rows: pl.DataFrame, run_id: str) -> None:
    """Write validated rows of orders, fills or daily, replacing what they correct (module docstring)."""
    tagged = rows.rename({ROW: "source_row"}).with_columns(run_id=pl.lit(run_id)).drop("file_index")
    if spec.name == "orders":
        # an order may move to another (date, symbol): drop it by id first
        con.execute("DELETE FROM orders WHERE order_id IN (SELECT unnest(?))", [rows["order_id"].to_list()])
        replace_rows(con, "orders", tagged.sort("date", "symbol", "order_id"), ["date", "symbol"])
    elif spec.name == "fills":
        fills = tagged.with_columns(pl.col("exec_type").fill_null("trade"))
        replace_rows(con, "fills", fills.sort("order_id", "ts", "fill_id"), ["fill_id"])
    elif spec.name == "daily":
        daily = tagged.select(*spec.names, source=pl.lit("file"), run_id=pl.col("run_id"))
        replace_rows(con, "daily", daily.sort("symbol", "date"), ["symbol", "date"])
    else:  # pragma: no cover - market tables go through the lake
        raise AssertionError(spec.name)
