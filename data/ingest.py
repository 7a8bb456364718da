"""Load input files into Kappa: validate, quarantine, stage, then commit everything in one transaction.

Replacement rules (what "loading a corrected file replaces that date" means per table): a file is delivered
for one session date, declared by ``date`` (``--date``), else its drop folder (``inbox/YYYY-MM-DD``), else the
one date its name holds, else for every date it holds (:mod:`data.delivery`). A quote, trade or order of a
date its file was not delivered for is quarantined (``outside_delivered_date``) and replaces nothing.

- ``quotes``, ``trades``: the rows a load brings for a delivered (session date, symbol) replace all stored
  rows of that date and symbol; other symbols of the date are kept.
- ``orders``: by ``order_id``; a file delivered for a date D also removes the stored orders of D (``date``:
  the first session an order can be worked in) that no file of the load holds, unless a file delivered for D
  has quarantined rows (they may be those orders': kept, with a warning). An orders load that would remove
  an order with stored fills, or leave a stored fill outside its order's window or above its quantity, is
  refused whole (:func:`data.load_tables._refuse_unfit_fills`): no load orphans a fill.
- ``fills``: by ``fill_id`` (a multi-day order's fills arrive in several files, so no date is replaced); a
  row with ``exec_type`` = cancel (FIX trade cancel) removes the fill it names; with ``replace_orders`` the
  load's fills of each order it names replace all stored fills of that order. Removed fills are kept in
  ``cancelled_fills``.
- ``daily``: by (symbol, date); a daily file may hold any dates.

What a load replaced lands in ``replacements`` (rows before and after, per table, date and symbol, orders
upserted or removed included; per order for fills) and in its report, with a warning where a replacement
shrinks a symbol's day by more than half; the report also gives each file's delivered date. Loading the
same file twice gives the same rows in the data tables and views (a new run adds only bookkeeping: its
``runs``, ``loads`` and ``replacements`` rows, its ``run_id`` on the rows it rewrote and new lake file
names). Every rejected row lands in ``quarantine`` with its file, row number,
rule and the row as it stands in the file; the quarantine rows of a file are replaced when the file is
loaded again. A load whose files are mostly quarantined is refused
(:mod:`data.quarantine`). Each load is one row in ``runs`` (``success``, ``warning`` or ``failed``) and
one row per file in ``loads``.

This module is the entry point (:func:`ingest`); the steps live beside it: :mod:`data.load_stream` reads and
validates the files, :mod:`data.load_market` takes quotes and trades to the lake (:mod:`data.lake`),
:mod:`data.load_tables` and :mod:`data.load_fills` upsert orders, daily bars and fills, and
:mod:`data.load_run` holds a load's context, report and bookkeeping rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

import duckdb

from data.calendar import home_calendar, home_timezone
from data.contract import TABLES
from data.delivery import DATED_TABLES, Delivery, check_delivery, delivery_of
from data.formats import Source, detect
from data.home import KappaHome
from data.lake.files import remove_from_lake
from data.lake.partitions import collect_garbage
from data.load_market import load_market
from data.load_run import Load, LoadRefusedError, LoadReport, Progress
from data.load_stream import check_files, sha256
from data.load_tables import load_table
from data.quarantine import MAX_QUARANTINED
from data.readers import DEFAULT_BATCH_ROWS, text_encoding
from data.schema import MIGRATIONS
from data.sql import first_row
from data.store import fail_run, load_lock, new_run_id, reader, start_run, writer
from kappa.errors import DiskFullError, InputError, is_disk_full


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
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    date: dt.date | None = None,
    encoding: str | None = None,
) -> LoadReport:
    """Validate and load ``paths`` into ``table`` (one of quotes, trades, orders, fills, daily).

    Parameters
    ----------
    home
        The Kappa home holding the database and the lake.
    table
        The input table of DESIGN §2.
    paths
        Files as delivered: Kappa's CSV or Parquet layout, or a vendor's format (:mod:`data.formats`:
        TAQ, WRDS, LOBSTER, DBN, FIX), each detected from its name and first bytes; all are checked before
        any is loaded. Paths that name one source twice (a LOBSTER message file and its orderbook) load it
        once.
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
        A file with a larger share of its rows quarantined refuses the whole load (rows skipped by design
        do not count).
    format
        The files' format (one of :data:`data.formats.FORMATS`), instead of detecting it.
    columns
        ``kappa`` format only: contract column -> the file's column (a vendor's own CSV layout).
    date
        The session date the files are delivered for (``--date``), over the drop folder's and the file
        names' (:mod:`data.delivery`); quotes, trades and orders only (fills and daily bars have no date
        unit: it does not change them).
    encoding
        ``kappa`` format only: the encoding of delimited text (``latin-1``, ``cp1252``, ...; default: the
        home's ``encoding`` setting, else UTF-8). A line that is not text of it is quarantined as
        ``invalid_utf8`` with its bytes; Parquet is UTF-8 by its format.

    Returns
    -------
    LoadReport

    Raises
    ------
    LoadRefusedError
        A file's quarantined share is above ``max_quarantined``: nothing was loaded.
    InputError
        A file is missing, unreadable or lacks a required column, or its delivered date is no session:
        nothing was loaded.
    """
    if table not in TABLES:
        raise InputError(f"unknown table '{table}' (expected one of {', '.join(TABLES)})")
    if replace_orders and table != "fills":
        raise InputError("replacing by order applies to fills only")
    spec = TABLES[table]
    sources = sources_of(paths, format, columns, text_encoding(encoding or home.config().encoding))
    check_files(spec, sources)
    paths = [s.path for s in sources]
    cal = home_calendar(home, calendar)
    tz = home_timezone(home, timezone, cal)
    dated = table in DATED_TABLES
    deliveries = tuple(check_delivery(delivery_of(p, date), p, cal) if dated else Delivery() for p in paths)
    home.ensure()
    with load_lock(home):
        return _ingest_locked(
            Load(home, spec, paths, new_run_id(f"ingest-{table}"), Path(), cal, tz, batch_rows,
                  replace_orders, max_quarantined, tuple(sources), deliveries),
            progress,
        )  # fmt: skip


def sources_of(
    paths: list[Path],
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
) -> list[Source]:
    """One :class:`data.formats.Source` per input the paths name, in their order: a file named twice, or
    two files of one source (a LOBSTER message file and its orderbook), give one source. ``encoding`` is
    that of Kappa's delimited text (vendor formats have their own)."""
    if columns and format not in (None, "kappa"):
        raise InputError(f"--columns maps Kappa's CSV/Parquet layout, not the {format} format")
    out: dict[tuple[Path, ...], Source] = {}
    for p in paths:
        path = p.expanduser().resolve()
        if not path.is_file():
            raise InputError("no such file", path=str(path))
        fmt = detect(path, format)
        if columns and fmt != "kappa":
            raise InputError(
                f"--columns maps Kappa's CSV/Parquet layout, and this is a {fmt} file", path=str(path)
            )
        source = Source(path, fmt, dict(columns or {}), encoding if fmt == "kappa" else None)
        out.setdefault(tuple(c.resolve() for c in source.companions()), source)
    sources = list(out.values())
    _refuse_copies(sources)
    return sources


def _refuse_copies(sources: list[Source]) -> None:
    """An :class:`InputError` if two sources hold the same bytes (a file and its copy, under two names):
    loading both would count every row twice. Only files of equal size are hashed."""
    by_size: dict[tuple[int, ...], list[Source]] = {}
    for s in sources:
        by_size.setdefault(tuple(c.stat().st_size for c in s.companions()), []).append(s)
    for same_size in by_size.values():
        seen: dict[str, Path] = {}
        for s in same_size if len(same_size) > 1 else []:
            digest = sha256(s.companions())
            if digest in seen:
                raise InputError(
                    f"{seen[digest]} and {s.path} hold the same bytes: load one of them (the rows would "
                    "count twice)"
                )
            seen[digest] = s.path


def _ingest_locked(load: Load, progress: Progress | None) -> LoadReport:
    """Run one load under the load lock: first clear what crashed loads left (before this one needs any
    space), then record the run, load, and on failure remove this load's files before marking its run
    ``failed`` (a full disk then has room for that row); a full disk is a :class:`DiskFullError`."""
    home, spec, paths, run_id = load.home, load.spec, load.paths, load.run_id
    params: dict[str, object] = {
        "table": spec.name, "files": [str(p) for p in paths], "calendar": load.calendar,
        "timezone": load.timezone, "replace_orders": load.replace_orders,
        "max_quarantined": load.max_quarantined,
        "formats": [s.format for s in load.sources],
        "columns": dict(load.sources[0].columns) if load.sources and load.sources[0].columns else None,
        "delivered": [str(d.date) if d.date else None for d in load.deliveries],
        "encoding": next((s.encoding for s in load.sources if s.encoding), None),
    }  # fmt: skip
    try:
        manifest = _clear_lake_before_load(home)  # orphans go before the load needs any space
        with writer(home) as con:
            start_run(con, run_id, "ingest", params)
    except Exception as exc:
        if is_disk_full(exc):
            raise _disk_full(home, "before the load started: nothing was loaded") from exc
        raise
    load = replace(load, stage_dir=home.staging / run_id)
    try:
        report = load_market(load, manifest, progress) if spec.market else load_table(load, progress)
    except LoadRefusedError:
        with suppress(OSError):
            remove_from_lake(home, load.stage_dir)
        raise  # recorded with its quarantine by refuse_load
    except BaseException as exc:
        _remove_uncommitted(load)
        fail_run(home, run_id, exc)
        if is_disk_full(exc):
            raise _disk_full(home, "the load was undone and its partial files removed") from exc
        raise
    with suppress(OSError):
        remove_from_lake(home, load.stage_dir)
    return report


def _disk_full(home: KappaHome, state: str) -> DiskFullError:
    """The one-line error of a load that met a full disk, saying what ``state`` it leaves."""
    return DiskFullError(
        f"no space left on the disk holding {home.root} ({state}; the tables are as they were): free some "
        "space and load again"
    )


def _remove_uncommitted(load: Load) -> None:
    """Remove a failed load's staging folder and the lake files it wrote (named by its run) that no manifest
    row references: those of a commit that went through stay. Where the database cannot be read, its lake
    files stay too (the next load's garbage collection removes them)."""
    with suppress(OSError):
        remove_from_lake(load.home, load.stage_dir)
    try:
        with reader(load.home) as con:
            manifest = _manifest(con, load.home)
        referenced = {(t, d.isoformat(), Path(p).stem) for (t, d), p in manifest.items()}
    except Exception:
        return
    for f in load.home.lake.glob(f"*/date=*/{load.run_id}.*"):
        table, day = f.parent.parent.name, f.parent.name.removeprefix("date=")
        if (table, day, f.stem) not in referenced:
            with suppress(OSError):
                remove_from_lake(load.home, f)


def _clear_lake_before_load(home: KappaHome) -> dict[tuple[str, dt.date], str]:
    """Clear the lake (:func:`data.lake.partitions.collect_garbage`) and return its manifest, before a load
    needs any space: with a writer (which migrates the schema, marks abandoned runs failed and may delete
    retired files), or, where a full disk refuses even that (a killed load's files filling it), read-only
    from a database whose schema is current, removing the orphans only (retired files wait)."""
    try:
        with writer(home) as con:
            collect_garbage(home, con)  # no other load runs: orphans are crashes'
            return _manifest(con, home)
    except Exception as exc:
        if not is_disk_full(exc) or not home.db_path.exists():
            raise
        with reader(home) as con:
            version = first_row(con, "SELECT max(version) FROM schema_version")
            if not version or version[0] != len(MIGRATIONS):
                raise
            collect_garbage(home, con, orphans_only=True)
            return _manifest(con, home)


def _manifest(con: duckdb.DuckDBPyConnection, home: KappaHome) -> dict[tuple[str, dt.date], str]:
    """The current lake file of every (table, date), as a path of ``home``."""
    rows = con.sql("SELECT table_name, date, path FROM lake_files").fetchall()
    return {(t, d): str(home.lake_file(p)) for t, d, p in rows}
