"""Lake files on disk: the one way one is removed, made durable, or read while loads replace files.

- :func:`remove_from_lake` is the only code that deletes a lake file, a summary beside one or a load's
  staging folder, and it refuses any path outside the home's ``lake/`` folder: a copy of a home, or a
  database whose manifest names files elsewhere, never deletes another home's files.
- :func:`sync_to_disk` makes new files durable (``fsync`` of each file and of the folders that hold it)
  before the commit that points the manifest at them, as databases do before their commit record: a power
  loss just after the commit finds the files whole.
- Generations: a load's commit does not delete the files it replaces; it records them in ``retired_files``
  and the next load deletes them (:func:`data.lake.partitions.collect_garbage`) only when no reader holds
  them. A reader of lake files (a calibration, an attribution and its workers, anything that takes paths
  from the manifest and then opens them) holds :func:`reading_lake`, a shared ``flock`` on
  ``lake/.readers.lock``, from reading the manifest until it has read the files; the deletion takes the
  lock exclusively without waiting (:func:`without_readers`), and leaves the files to a later load when a
  reader holds it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from data.home import KappaHome

READERS_LOCK = ".readers.lock"
"""The file in ``lake/`` whose ``flock`` readers share and the deletion of retired files takes alone."""


class OutsideLakeError(RuntimeError):
    """A deletion named a path outside the home's lake: nothing was deleted."""


def _inside(home: KappaHome, path: Path) -> Path:
    """``path`` with symbolic links resolved, if it lies under the home's lake (resolved alike)."""
    lake = home.lake.resolve()
    target = path.resolve()
    if target == lake or not target.is_relative_to(lake):
        raise OutsideLakeError(f"refusing to delete {path}: it is not under the home's lake {lake}")
    return target


def remove_from_lake(home: KappaHome, path: Path) -> bool:
    """Delete the file or folder ``path`` of the home's lake; whether there was one to delete.

    Raises
    ------
    OutsideLakeError
        ``path`` (its links resolved) is the lake itself or lies outside it: nothing is deleted.
    """
    target = _inside(home, path)
    if target.is_dir():
        shutil.rmtree(target)
        return True
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    return True


def sync_to_disk(home: KappaHome, paths: Iterable[Path]) -> None:
    """``fsync`` each of ``paths`` (new lake files) and every folder from its own up to the lake, each once:
    the files' bytes and their names (a new ``date=`` folder's too) are on disk when this returns."""
    folders: set[Path] = set()
    lake = home.lake
    for path in paths:
        _fsync(path, os.O_RDONLY)
        folder = path.parent
        while folder.is_relative_to(lake) and folder not in folders:
            folders.add(folder)
            folder = folder.parent
    for folder in sorted(folders, key=lambda f: -len(f.parts)):  # deepest first: a name after its contents
        _fsync(folder, os.O_RDONLY | os.O_DIRECTORY)


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_held: Counter[Path] = Counter()
_held_guard = threading.Lock()


def readers_lock_path(home: KappaHome) -> Path:
    return home.lake / READERS_LOCK


def _open_lock(home: KappaHome) -> IO[bytes] | None:
    """The readers' lock file, created if the lake allows; ``None`` where it cannot be opened at all (no
    lake yet, or a read-only copy without one: then no load can delete anything either)."""
    path = readers_lock_path(home)
    for mode in ("ab", "rb"):
        try:
            return path.open(mode)
        except OSError:
            continue
    return None


@contextmanager
def reading_lake(home: KappaHome) -> Iterator[None]:
    """Hold the home's readers' lock (shared): no load deletes a lake file while it is held.

    Take it before reading paths from the manifest (:func:`data.step_inputs.lake_paths` refuses to give
    paths without it) and keep it until every file of those paths has been read, by this process or by the
    workers it hands them to. Readers never wait for one another, nor for a load; only for the moment a
    load deletes retired files.
    """
    f = _open_lock(home)
    if f is not None:
        fcntl.flock(f, fcntl.LOCK_SH)
    key = home.lake
    with _held_guard:
        _held[key] += 1
    try:
        yield
    finally:
        with _held_guard:
            _held[key] -= 1
        if f is not None:
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()


def reading_held(home: KappaHome) -> bool:
    """Whether this process holds :func:`reading_lake` for ``home``."""
    with _held_guard:
        return _held[home.lake] > 0


@contextmanager
def without_readers(home: KappaHome) -> Iterator[bool]:
    """Take the readers' lock exclusively if no reader holds it (never waits): yields whether it did; while
    it is held, no reader can read the manifest. Call it under :func:`data.store.load_lock`."""
    home.lake.mkdir(parents=True, exist_ok=True)
    with readers_lock_path(home).open("ab") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


HOMES_FILE = ".homes"
"""The file in ``lake/`` listing the homes that write this lake, one resolved root per line."""


def other_homes(home: KappaHome) -> list[Path]:
    """The other homes whose lake is this home's very folder; registers this home in ``lake/.homes``.

    A lake is one home's unless its folder is reached from two homes: a home whose ``lake`` is a symbolic
    link (to a larger disk), copied with ``cp -a``, gives two databases over one lake. A file one of them
    replaced may then be the other's current file, so neither may delete replaced files
    (:func:`data.lake.partitions.collect_garbage`). Listed homes that are gone (moved, deleted) or whose
    ``lake`` is another folder (a plain ``cp -a`` copies the folder itself) are dropped from the list.
    Homes that shared a lake before either wrote the list are found once the other writes it.
    """
    me, lake = home.root.resolve(), home.lake.resolve()
    marker = home.lake / HOMES_FILE
    try:
        listed = [Path(line) for line in marker.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        listed = []
    others = sorted(
        {p for p in listed if p != me and (p / "kappa.duckdb").exists() and (p / "lake").resolve() == lake}
    )
    wanted = sorted({me, *others})
    if wanted != listed:
        tmp = marker.with_name(f"{HOMES_FILE}.{os.getpid()}.tmp")
        try:
            tmp.write_text("".join(f"{p}\n" for p in wanted), encoding="utf-8")
            tmp.replace(marker)
        except OSError:  # a full disk or a read-only lake: the list is written by a later load
            tmp.unlink(missing_ok=True)
    return others
