"""A busy database says who holds it: a real second process holds the DuckDB file, to read or to write."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from data.home import KappaHome
from data.store import lock_holder, reader, writer
from kappa.errors import DatabaseBusyError


@contextmanager
def _holding(script: Path, db: Path, read_only: bool) -> Iterator[subprocess.Popen[str]]:
    """Run ``script`` (Python) holding ``db`` open until killed."""
    script.write_text(
        "import duckdb, time\n"
        f"con = duckdb.connect({str(db)!r}, read_only={read_only})\n"
        "print('holding', flush=True)\n"
        "time.sleep(60)\n"
    )
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "holding"
        yield p
    finally:
        p.kill()
        p.wait()


def _refused(connect: Callable[[], AbstractContextManager[object]]) -> DatabaseBusyError:
    """The error of opening a connection with ``connect`` (``writer`` or ``reader`` bound to a home)."""
    with pytest.raises(DatabaseBusyError) as err, connect():
        pass
    return err.value


@pytest.fixture
def db(home: KappaHome) -> KappaHome:
    with writer(home):
        pass
    return home


def test_a_reader_elsewhere_blocks_writes_and_is_named_as_a_reader(db: KappaHome, tmp_path: Path) -> None:
    with _holding(tmp_path / "notebook.py", db.db_path, read_only=True) as p:
        refused = _refused(lambda: writer(db, wait_s=0.2))
        message = str(refused)
        assert f"another process (PID {p.pid}: " in message and "notebook.py" in message
        assert "open for reading" in message and "is writing" not in message
        assert refused.holder_reads is True
        with reader(db, wait_s=0.2) as con:  # readers do not block each other
            assert con.execute("SELECT 1").fetchone() == (1,)


def test_a_kappa_reader_and_a_foreign_writer_are_told_apart(db: KappaHome, tmp_path: Path) -> None:
    with _holding(tmp_path / "kappa", db.db_path, read_only=True) as p:  # a program named kappa
        message = str(_refused(lambda: writer(db, wait_s=0.2)))
        assert message.startswith(f"a Kappa command (PID {p.pid}: ") and "open for reading" in message
    with _holding(tmp_path / "etl.py", db.db_path, read_only=False) as p:
        message = str(_refused(lambda: reader(db, wait_s=0.2)))
        assert message.startswith(f"another process (PID {p.pid}: ") and "etl.py) is writing" in message


def test_lock_holder_reads_duckdbs_message() -> None:
    refused_write = (
        'IO Error: Could not set lock on file "/h/kappa.duckdb": Conflicting lock is held in /usr/bin/duckdb '
        "(PID 999999999). However, you would be able to open this database in read-only mode, e.g. by using "
        "the -readonly parameter in the CLI."
    )
    assert lock_holder(refused_write, read_only=False) == ("PID 999999999: duckdb", True, False)
    assert lock_holder("Could not set lock", read_only=True) == (None, False, False)
