"""Run ``kappa`` commands in processes of their own, cheaply, and read a home's tables as users see them.

A kill -9 needs a process to kill; starting one per command costs the imports of Prefect and the flows
(seconds on a 2-core machine). :class:`Kappa` forks each command from a ``multiprocessing`` fork server
that has imported them once: every command still runs in a fresh process of its own (its pid recorded in
``runs``, its crash its own), through the CLI's entry point :func:`flows.cli.main`, with its stdout and stderr
in files.

:func:`data_state` is what a kill must not change: every table and view of the database, bookkeeping
(:data:`BOOKKEEPING`, and the views over it) left out, the columns of :func:`compared_columns` only.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from data.home import KappaHome
from data.load_run import FAULT_ENV
from data.schema import BOOKKEEPING_TABLES

BOOKKEEPING = BOOKKEEPING_TABLES
"""Tables that record what ran (a killed run stays in ``runs``, a rerun adds ``loads``, ``replacements`` and
``retired_files`` rows): not data. A view that reads ``runs`` is bookkeeping too."""

PRELOAD = [
    "flows.cli",
    "flows.nightly",
    "flows.backfill",
    "flows.calibrate",
    "flows.attribute",
    "flows.report",
    "arch",
    "statsmodels.api",
    "scipy.linalg",
]
TRACEBACK = "Traceback (most recent call last)"

State = dict[str, list[tuple[Any, ...]]]


def compared_columns(table: str, columns: list[tuple[str, str]]) -> list[str]:
    """The columns of ``table`` (``(name, type)``) that two homes holding the same data agree on: all but
    run ids (``run_id``, ``*_run_id``), the times rows were written (``TIMESTAMP`` columns named ``*_at``)
    and ``lake_files.path`` (a file's name holds the run that wrote it)."""
    out = []
    for name, kind in columns:
        if name == "run_id" or name.endswith("_run_id"):
            continue
        if name.endswith("_at") and kind.startswith("TIMESTAMP"):
            continue
        if table == "lake_files" and name == "path":
            continue
        out.append(name)
    return out


def data_state(con: duckdb.DuckDBPyConnection, root: Path) -> State:
    """Every data table's and view's rows, sorted, in :func:`compared_columns`; the home's own path in a
    text cell (a drop folder's file in ``quarantine``) written ``$HOME`` so that two homes compare."""
    relations = con.execute(
        """SELECT table_name, false FROM duckdb_tables() WHERE schema_name = 'main'
           UNION ALL SELECT view_name, sql ILIKE '%runs%' FROM duckdb_views()
           WHERE NOT internal AND schema_name = 'main' ORDER BY 1"""
    ).fetchall()
    out: State = {}
    home = str(root)
    for name, over_runs in relations:
        if name in BOOKKEEPING or over_runs:
            continue
        cols = [(c, t) for c, t, *_ in con.execute(f'DESCRIBE SELECT * FROM "{name}"').fetchall()]
        keep = ", ".join(f'"{c}"' for c in compared_columns(name, cols))
        rows = con.execute(f'SELECT {keep} FROM "{name}" ORDER BY ALL').fetchall()
        out[name] = [tuple(v.replace(home, "$HOME") if isinstance(v, str) else v for v in r) for r in rows]
    return out


def read_state(home: KappaHome) -> State:
    """:func:`data_state` of ``home`` through a read-only connection."""
    with duckdb.connect(str(home.db_path), read_only=True) as con:
        return data_state(con, home.root)


def rows_lost(expected: State, actual: State) -> int:
    """Rows of ``expected`` that ``actual`` lacks (as multisets, table by table)."""
    from collections import Counter

    lost = 0
    for name, rows in expected.items():
        missing = Counter(rows) - Counter(actual.get(name, []))
        lost += sum(missing.values())
    return lost


def runs(home: KappaHome) -> dict[str, tuple[str, int | None, str | None]]:
    """``run_id -> (status, pid, message)`` of every run."""
    with duckdb.connect(str(home.db_path), read_only=True) as con:
        rows = con.execute("SELECT run_id, status, pid, message FROM runs").fetchall()
    return {r: (s, p, m) for r, s, p, m in rows}


# ----------------------------------------------------------------------------------- commands in processes


@dataclass(frozen=True)
class Done:
    """A command's end: its exit code (``-9``: killed by SIGKILL), pid, stdout and stderr."""

    code: int
    pid: int
    out: str
    err: str

    @property
    def tracebacks(self) -> int:
        return self.err.count(TRACEBACK) + self.out.count(TRACEBACK)


class Kappa:
    """Runs ``kappa`` commands, each in a process forked from a server that imported the CLI and the flows
    once (``multiprocessing``'s fork server; it inherits this process's environment when first used, so
    set ``PREFECT_API_URL`` before).

    Parameters
    ----------
    logs
        A folder for the commands' stdout and stderr.
    """

    def __init__(self, logs: Path) -> None:
        self.ctx = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(PRELOAD)
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def start(
        self, *argv: str, fault: str | None = None, commits: Path | None = None
    ) -> tuple[multiprocessing.process.BaseProcess, Path, Path]:
        """Start ``kappa ARGV`` (killed at ``fault``, a ``$KAPPA_FAULT_AT`` value; recording the data state
        after each commit to ``commits``); returns the process and its stdout and stderr files."""
        self.n += 1
        out, err = self.logs / f"{self.n}.out", self.logs / f"{self.n}.err"
        proc = self.ctx.Process(target=_command, args=(list(argv), fault, str(out), str(err), commits))
        proc.start()
        return proc, out, err

    def run(
        self, *argv: str, fault: str | None = None, commits: Path | None = None, timeout: float = 600
    ) -> Done:
        """Run ``kappa ARGV`` to its end (see :meth:`start`)."""
        proc, out, err = self.start(*argv, fault=fault, commits=commits)
        proc.join(timeout)
        if proc.exitcode is None:
            proc.kill()
            proc.join()
            raise TimeoutError(f"kappa {' '.join(argv)} did not end in {timeout} s")
        return Done(proc.exitcode, proc.pid or 0, out.read_text(), err.read_text())


def _command(argv: list[str], fault: str | None, out: str, err: str, commits: Path | None) -> None:
    """The forked process: its environment and output files, then the CLI."""
    os.environ.pop(FAULT_ENV, None)
    if fault:
        os.environ[FAULT_ENV] = fault
    for fd, path in ((1, out), (2, err)):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)
    if commits is not None:
        _record_commits(commits, Path(argv[argv.index("--home") + 1]))
    sys.argv = ["kappa", *argv]
    from flows.cli import main

    main()


def _record_commits(path: Path, root: Path) -> None:
    """Write the data state after every commit of this process to ``path`` (a pickled list), through the
    committing connection: the states a kill may leave (each commit whole, or none)."""
    from data import store

    original = store.transaction
    states: list[State] = []

    @contextmanager
    def recorded(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
        with original(con):
            yield con
        states.append(data_state(con, root.resolve()))
        path.write_bytes(pickle.dumps(states))

    for module in list(sys.modules.values()):
        if getattr(module, "transaction", None) is original:
            module.transaction = recorded  # type: ignore[attr-defined]
    path.write_bytes(pickle.dumps(states))


def commit_states(path: Path) -> list[State]:
    """The states recorded by a command run with ``commits=path``."""
    states: list[State] = pickle.loads(path.read_bytes())
    return states
