"""Connections to the DuckDB file: a brief writer, patient readers, and transactions.

DuckDB locks the whole file: while one process writes, no other process can even read it, and while one
process reads (a notebook's connection, a BI tool, ``duckdb -readonly``, ``kappa sql``), no other can write.
So writers hold the connection only for the commit of work prepared elsewhere, and both readers and writers
wait a little for a busy file before saying clearly which process holds it and whether it reads or writes
(:class:`DatabaseBusyError`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import duckdb
import polars as pl

from data.home import KappaHome
from data.schema import check_insert, migrate, shadow_stale_views
from data.sql import first_row
from kappa.errors import DatabaseBusyError, DatabaseMissingError
from kappa.processes import create_time, is_alive

DEFAULT_WAIT_S = 10.0
_POLL_S = 0.2


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


_HOLDER = re.compile(r"lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")


def lock_holder(message: str, *, read_only: bool) -> tuple[str | None, bool | None, bool]:
    """Who holds the lock that DuckDB refused, from its error ``message``: a description of the process,
    whether it holds the file to read, and whether it is Kappa's.

    DuckDB's message names the holder's program and PID ("Conflicting lock is held in /usr/bin/python3
    (PID 4242)"); its command line is read from ``/proc/PID/cmdline`` where the system has one (Linux),
    else the program stands for it. A write refused while read-only access would be granted ("you would
    be able to open this database in read-only mode") means the holder only reads; a read refused means it
    writes. Kappa's own processes run ``kappa`` or a module of ``flows``.
    """
    reads = False if read_only else "read-only mode" in message
    found = _HOLDER.search(message)
    if found is None:
        return None, reads, False
    pid, argv = found["pid"], [found["program"]]
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a] or argv
    except OSError:
        pass
    kappa = any(os.path.basename(a) == "kappa" or a.startswith("flows.") for a in argv[:4])
    command = " ".join(" ".join([os.path.basename(argv[0]), *argv[1:]]).split())  # one line
    command = command if len(command) <= 120 else command[:119] + "…"
    return f"PID {pid}: {command}", reads, kappa


def _connect(home: KappaHome, *, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_s
    config: dict[str, str | bool | int | float | list[str]] = {"temp_directory": str(home.tmp)}
    while True:
        try:
            return duckdb.connect(str(home.db_path), read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                holder, reads, kappa = lock_holder(str(exc), read_only=read_only)
                raise DatabaseBusyError(str(home.db_path), wait_s, holder, reads, kappa) from None
            time.sleep(_POLL_S)


@contextmanager
def writer(home: KappaHome, wait_s: float = DEFAULT_WAIT_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection with the schema migrated, the views ``quotes`` and ``trades`` over this home's
    lake files (rebuilt if the home moved: :func:`data.schema.point_views_at`) and abandoned runs marked
    failed (:func:`fail_abandoned_runs`); closed (lock released) on exit."""
    home.ensure()
    con = _connect(home, read_only=False, wait_s=wait_s)
    try:
        migrate(con, home)
        fail_abandoned_runs(con)
        yield con
    finally:
        con.close()


@contextmanager
def reader(home: KappaHome, wait_s: float = DEFAULT_WAIT_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection; :class:`DatabaseMissingError` if there is no database yet. Its ``quotes`` and
    ``trades`` list this home's lake files even where the stored views were built elsewhere, before the
    home was moved or copied (:func:`data.schema.shadow_stale_views`)."""
    if not home.db_path.exists():
        raise DatabaseMissingError(str(home.db_path))
    con = _connect(home, read_only=True, wait_s=wait_s)
    try:
        shadow_stale_views(con, home)
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``BEGIN`` ... ``COMMIT``, or ``ROLLBACK`` if the block raises (the previous state stays intact)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, frame: object, key: list[str]) -> int:
    """Replace the rows of ``table`` whose ``key`` values appear in ``frame``, inserting ``frame`` by name.

    Call inside :func:`transaction`; returns the number of rows inserted.
    """
    if isinstance(frame, pl.DataFrame):
        check_insert(table, frame.columns)
    con.register("_incoming", frame)
    try:
        on = " AND ".join(f"{table}.{k} = i.{k}" for k in key)
        con.execute(
            f"DELETE FROM {table} USING (SELECT DISTINCT {', '.join(key)} FROM _incoming) i WHERE {on}"
        )
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _incoming")
        row = first_row(con, "SELECT count(*) FROM _incoming")
    finally:
        with suppress(duckdb.Error):  # an aborted transaction refuses even this; keep the first error
            con.unregister("_incoming")
    return int(row[0]) if row else 0


def start_run(con: duckdb.DuckDBPyConnection, run_id: str, command: str, params: dict[str, object]) -> None:
    """Record a run as ``running`` in ``runs``, with the process that runs it (host, pid, create time): a
    run whose process is gone before it finished is marked ``failed`` by :func:`fail_abandoned_runs`."""
    pid = os.getpid()
    con.execute(
        """INSERT INTO runs BY NAME SELECT ? AS run_id, ? AS command, ? AS parameters,
           now()::TIMESTAMP AS started_at, 'running' AS status, ? AS host, ? AS pid, ? AS process_created""",
        [run_id, command, json.dumps(params, default=str), socket.gethostname(), pid, create_time(pid)],
    )


ABANDONED = "abandoned: its process (PID {pid} on {host}) ended before the run finished (killed or crashed)"


def fail_abandoned_runs(con: duckdb.DuckDBPyConnection) -> int:
    """Mark ``failed`` the ``running`` runs of this host whose process is gone (or whose pid now names a
    later process); return how many.

    A killed command (``kill -9``, an OOM kill, a machine stopped) cannot mark its own run; the next writer
    does, with the reason. Runs of other hosts (a home on a shared disk) are left: their processes cannot be
    seen from here. Runs recorded before runs kept their process (no pid) are left as they are.
    """
    rows = con.execute(
        "SELECT run_id, pid, process_created FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL",
        [host := socket.gethostname()],
    ).fetchall()
    gone = [
        (run_id, pid) for run_id, pid, created in rows if created is not None and not is_alive(pid, created)
    ]
    for run_id, pid in gone:
        con.execute(
            """UPDATE runs SET status = 'failed', finished_at = now()::TIMESTAMP, message = ?
               WHERE run_id = ? AND status = 'running'""",
            [ABANDONED.format(pid=pid, host=host), run_id],
        )
    return len(gone)


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    rows_written: int,
    rows_quarantined: int = 0,
    message: str = "",
    status: str = "success",
) -> None:
    """Mark a run ``success`` (or ``warning``: done, with symbols that failed; call inside the transaction
    that writes its results)."""
    con.execute(
        """UPDATE runs SET status = ?, finished_at = now()::TIMESTAMP, rows_written = ?,
           rows_quarantined = ?, message = ? WHERE run_id = ?""",
        [status, rows_written, rows_quarantined, message or None, run_id],
    )


def fail_run(home: KappaHome, run_id: str, exc: BaseException) -> None:
    """Mark a run ``failed`` with the error, best effort (the error itself is re-raised by the caller)."""
    try:
        with writer(home, wait_s=2.0) as con:
            con.execute(
                "UPDATE runs SET status = 'failed', finished_at = now()::TIMESTAMP, message = ? WHERE run_id = ?",
                [f"{type(exc).__name__}: {exc}"[:500], run_id],
            )
    except Exception:  # the failure being reported matters more than its bookkeeping
        pass


@contextmanager
def recorded_run(home: KappaHome, command: str, params: dict[str, object]) -> Iterator[str]:
    """Record a run in ``runs``: ``running`` now, ``failed`` with the error if the block raises.

    Yields the run id; the block marks success itself with :func:`finish_run` inside the transaction that
    writes its results, so the results and the ``success`` land together or not at all.
    """
    run_id = new_run_id(command)
    with writer(home) as con:
        start_run(con, run_id, command, params)
    try:
        yield run_id
    except BaseException as exc:
        fail_run(home, run_id, exc)
        raise


def finished_run_dates(home: KappaHome, command: str, dates: list[dt.date]) -> set[dt.date]:
    """The ``dates`` for which a ``command`` run finished (``success`` or ``warning``), by its ``date``
    parameter."""
    if not home.db_path.exists():
        return set()
    with reader(home) as con:
        rows = con.execute(
            """SELECT DISTINCT CAST(json_extract_string(parameters, '$.date') AS DATE) FROM runs
               WHERE command = ? AND status IN ('success', 'warning')
                 AND CAST(json_extract_string(parameters, '$.date') AS DATE) IN (SELECT unnest(?))""",
            [command, dates],
        ).fetchall()
    return {r[0] for r in rows}


@contextmanager
def load_lock(home: KappaHome) -> Iterator[None]:
    """Hold the home's load lock: loads run one at a time, a second one waits for the first.

    A load merges against the lake's current files and replaces them at its commit; two at once would
    each replace what the other wrote. The lock is an ``flock`` on ``lake/.load.lock``, released by the
    kernel if the process dies.
    """
    home.ensure()
    with (home.lake / ".load.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def new_run_id(command: str) -> str:
    """A unique, sortable run id: ``<command>-<UTC time>-<random>``."""
    return f"{command}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"
