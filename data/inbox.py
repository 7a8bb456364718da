"""The nightly drop folder: ``KAPPA_HOME/inbox/YYYY-MM-DD/`` holds the files of one evening's load.

A file's table comes from the words of its name (split at ``-``, ``_``, ``.`` and spaces, any case), its
format from its suffix (:mod:`data.readers`):

========  =====================================================================
table     words
========  =====================================================================
fills     fills, fill, executions, execution, execs, exec, blotter (own executions)
orders    orders, order
quotes    quotes, quote, nbbo, bbo
trades    trades, trade, prints, tape (the market's prints)
daily     daily, eod
========  =====================================================================

Words of own executions win over the market's (``trades_blotter.csv`` and ``my-trades-executions.csv`` are
fills, never market prints). A name with the words of two other tables (``orders_and_fills.csv``), or of
none (``notes.txt``), is not loaded and is reported with the reason, never skipped in silence. Tables load
in dependency order: ``daily``, ``quotes``, ``trades``, ``orders``, then ``fills`` (a fill is checked
against its order). Loading a folder twice changes nothing (each load is idempotent, see
:func:`data.ingest.ingest`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from data.home import KappaHome
from data.ingest import LoadReport, Progress, ingest
from data.readers import CSV_SUFFIXES, PARQUET_SUFFIXES

LOAD_ORDER = ("daily", "quotes", "trades", "orders", "fills")
TABLE_WORDS: dict[str, frozenset[str]] = {
    "fills": frozenset({"fills", "fill", "executions", "execution", "execs", "exec", "blotter"}),
    "orders": frozenset({"orders", "order"}),
    "quotes": frozenset({"quotes", "quote", "nbbo", "bbo"}),
    "trades": frozenset({"trades", "trade", "prints", "tape"}),
    "daily": frozenset({"daily", "eod"}),
}
OWN_OVER_MARKET = ("fills", "trades")  # own executions' words win over the market's prints'


@dataclass(frozen=True, slots=True)
class InboxLoad:
    """What loading a drop folder did: the folder, one report per table loaded, and the files not loaded."""

    folder: Path
    loads: list[LoadReport] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # "name: why it was not loaded"

    @property
    def quarantined(self) -> int:
        return sum(r.rows_quarantined for r in self.loads)

    @property
    def warnings(self) -> list[str]:
        """The loads' warnings and the files not loaded."""
        return [
            *(w for r in self.loads for w in r.warnings),
            *(f"file not loaded: {i}" for i in self.ignored),
        ]


def inbox_folder(home: KappaHome, date: dt.date) -> Path:
    """``KAPPA_HOME/inbox/YYYY-MM-DD``."""
    return home.inbox / date.isoformat()


def table_of(name: str) -> tuple[str | None, str]:
    """The table a file name names (see the module docstring), or ``None`` and why not."""
    lower = name.lower()
    if not lower.endswith(CSV_SUFFIXES + PARQUET_SUFFIXES):
        return None, "not a CSV or Parquet file"
    words = set(re.split(r"[^a-z0-9]+", lower))
    tables = [t for t in LOAD_ORDER if words & TABLE_WORDS[t]]
    if set(OWN_OVER_MARKET) <= set(tables):
        tables.remove("trades")
    if not tables:
        return None, "its name names no table"
    if len(tables) > 1:
        return None, f"its name names {' and '.join(tables)}: rename it"
    return tables[0], ""


def inbox_files(folder: Path) -> tuple[dict[str, list[Path]], list[str]]:
    """The folder's files by table (in load order, names sorted) and ``name: why`` of those not loaded."""
    by_table: dict[str, list[Path]] = {t: [] for t in LOAD_ORDER}
    ignored: list[str] = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not path.is_file():
            ignored.append(f"{path.name}: not a file")
            continue
        table, why = table_of(path.name)
        if table is None:
            ignored.append(f"{path.name}: {why}")
        else:
            by_table[table].append(path)
    return {t: ps for t, ps in by_table.items() if ps}, ignored


def ingest_inbox(
    home: KappaHome,
    folder: Path,
    *,
    calendar: str | None = None,
    timezone: str | None = None,
    progress: Progress | None = None,
) -> InboxLoad:
    """Load every table's files of ``folder`` (a missing folder loads nothing); ``calendar`` and
    ``timezone`` as in :func:`data.ingest.ingest` (default: the home's)."""
    by_table, ignored = inbox_files(folder)
    loads = [
        ingest(home, t, ps, calendar=calendar, timezone=timezone, progress=progress)
        for t, ps in by_table.items()
    ]
    return InboxLoad(folder, loads, ignored)
