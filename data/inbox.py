"""The nightly drop folder: ``KAPPA_HOME/inbox/YYYY-MM-DD/`` holds the files of one evening's load.

A file's table is the start of its name (``quotes.csv``, ``quotes-arca.parquet``, ``orders-next-day.csv``;
case-insensitive), its format the suffix (:mod:`data.readers`). Tables load in dependency order: ``daily``,
``quotes``, ``trades``, ``orders``, then ``fills`` (a fill is checked against its order). A file that
matches no table is not loaded and is reported, never skipped in silence. Loading a folder twice changes
nothing (each load is idempotent, see :func:`data.ingest.ingest`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from data.calendar import DEFAULT_CALENDAR
from data.home import KappaHome
from data.ingest import LoadReport, Progress, ingest
from data.readers import CSV_SUFFIXES, PARQUET_SUFFIXES

LOAD_ORDER = ("daily", "quotes", "trades", "orders", "fills")


@dataclass(frozen=True, slots=True)
class InboxLoad:
    """What loading a drop folder did: the folder, one report per table loaded, and the files not loaded."""

    folder: Path
    loads: list[LoadReport] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def quarantined(self) -> int:
        return sum(r.rows_quarantined for r in self.loads)


def inbox_folder(home: KappaHome, date: dt.date) -> Path:
    """``KAPPA_HOME/inbox/YYYY-MM-DD``."""
    return home.inbox / date.isoformat()


def inbox_files(folder: Path) -> tuple[dict[str, list[Path]], list[str]]:
    """The folder's files by table (in load order, names sorted) and the names that match no table."""
    by_table: dict[str, list[Path]] = {t: [] for t in LOAD_ORDER}
    ignored: list[str] = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        name = path.name.lower()
        table = next((t for t in LOAD_ORDER if name.startswith(t)), None)
        if path.is_file() and table and name.endswith(CSV_SUFFIXES + PARQUET_SUFFIXES):
            by_table[table].append(path)
        else:
            ignored.append(path.name)
    return {t: ps for t, ps in by_table.items() if ps}, ignored


def ingest_inbox(
    home: KappaHome,
    folder: Path,
    *,
    calendar: str = DEFAULT_CALENDAR,
    progress: Progress | None = None,
) -> InboxLoad:
    """Load every table's files of ``folder`` (a missing folder loads nothing)."""
    by_table, ignored = inbox_files(folder)
    loads = [ingest(home, t, ps, calendar=calendar, progress=progress) for t, ps in by_table.items()]
    return InboxLoad(folder, loads, ignored)
