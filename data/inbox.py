"""The nightly drop folder: ``KAPPA_HOME/inbox/YYYY-MM-DD/`` holds the files of one evening's load.

A vendor's file (:mod:`data.formats`: TAQ ``EQY_US_ALL_*``, WRDS extracts, LOBSTER pairs or zips, ``*.dbn``
and ``*.dbn.zst``, FIX logs) feeds the tables its format holds (a LOBSTER pair: quotes and trades; a FIX log:
orders and fills). Any other file's table comes from the words of its name (split at ``-``, ``_``, ``.`` and
spaces, any case), its format from its suffix (:mod:`data.readers`):

========  =====================================================================
table     words
========  =====================================================================
fills     fills, fill, executions, execution, execs, exec, blotter (own executions)
orders    orders, order
quotes    quotes, quote, nbbo, bbo
trades    trades, trade, prints, tape (the market's prints)
daily     daily, eod
========  =====================================================================

The folder's date is the date its files are delivered for (:mod:`data.delivery`): a quote or trade of
another session date is quarantined (``outside_delivered_date``) and replaces nothing, and its orders file
replaces the orders of that date (orders of the next session, and earlier orders still working, are merged
by ``order_id``).

Words of own executions win over the market's (``trades_blotter.csv`` and ``my-trades-executions.csv`` are
fills, never market prints). A name with the words of two other tables (``orders_and_fills.csv``), or of
none (``notes.txt``), is not loaded and is reported with the reason, never skipped in silence. Tables load
in dependency order: ``daily``, ``quotes``, ``trades``, ``orders``, then ``fills`` (a fill is checked
against its order). Loading a folder twice leaves the same data tables (each load is idempotent, see
:func:`data.ingest.ingest`: only its bookkeeping is new).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from data.contract import TABLES
from data.formats import VENDOR_SUFFIXES, Source, detect, redundant
from data.home import KappaHome
from data.ingest import LoadReport, Progress, ingest
from data.readers import CSV_SUFFIXES, PARQUET_SUFFIXES, column_names
from kappa.errors import InputError

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


def tables_of_file(
    path: Path, among: tuple[str, ...] = LOAD_ORDER, by_header: bool = False, format: str | None = None
) -> tuple[tuple[str, ...], str]:
    """The tables of ``among`` that the file feeds: a vendor format's (:func:`data.formats.detect`), else
    the table its name names, else (``by_header``, Kappa's layout) the one table of ``among`` whose
    required columns its header holds; an empty tuple and why not otherwise."""
    try:
        fmt = detect(path, format)
    except InputError as exc:  # neither a vendor's format nor CSV or Parquet
        if path.name.lower().endswith(tuple(VENDOR_SUFFIXES)):
            return (), exc.reason
        fmt = "unknown"  # table_of says why
    if fmt not in ("kappa", "unknown"):
        try:
            held = Source(path, fmt).tables()
        except InputError as exc:  # named like the vendor's files, but not one of them
            return (), exc.reason
        tables = tuple(t for t in held if t in among)
        return tables, "" if tables else f"a {fmt} file holds no {' or '.join(among)}"
    table, why = table_of(path.name)
    if fmt == "unknown":
        return (), why
    if table is not None:
        return ((table,), "") if table in among else ((), f"its name names {table}, not {' or '.join(among)}")
    if not by_header:
        return (), why
    try:
        names = set(column_names(path))
    except InputError as exc:
        return (), exc.reason
    fitting = [t for t in among if set(TABLES[t].required) <= names]
    if len(fitting) == 1:
        return (fitting[0],), ""
    return (), why if not fitting else f"its columns fit {' and '.join(fitting)}: name the table"


def group_files(
    paths: list[Path], among: tuple[str, ...] = LOAD_ORDER, by_header: bool = False, format: str | None = None
) -> tuple[dict[str, list[Path]], list[str]]:
    """The files by table of ``among`` (in load order, in the order given), and ``name: why`` of those that
    feed none (see :func:`tables_of_file`; ``format`` instead of detecting each file's). A file read as
    part of another (a TAQ master file beside its quotes file) is neither; a file a format calls redundant
    beside the others (a TAQ NBBO file beside the exchange quotes of its date) is left out with its
    reason."""
    by_table: dict[str, list[Path]] = {t: [] for t in LOAD_ORDER if t in among}
    ignored: dict[Path, str] = {}
    files = [p for p in paths if p.is_file()]
    ignored.update({p: "not a file" for p in paths if not p.is_file()})
    left_out = redundant(files)
    ignored.update(left_out)
    read_with: set[Path] = set()
    for path in files:
        if path in left_out:
            continue
        tables, why = tables_of_file(path, among, by_header, format)
        if not tables:
            ignored[path] = why
            continue
        read_with.update(c.resolve() for c in _companions(path)[1:])
        for t in tables:
            by_table[t].append(path)
    notes = [f"{p.name}: {why}" for p, why in ignored.items() if p.resolve() not in read_with]
    return {t: ps for t, ps in by_table.items() if ps}, notes


def _companions(path: Path) -> list[Path]:
    try:
        return Source(path, detect(path)).companions()
    except InputError:
        return [path]


def inbox_files(folder: Path) -> tuple[dict[str, list[Path]], list[str]]:
    """The folder's files by table (in load order, names sorted) and ``name: why`` of those not loaded."""
    return group_files(sorted(folder.iterdir()) if folder.is_dir() else [])


def ingest_inbox(
    home: KappaHome,
    folder: Path,
    *,
    calendar: str | None = None,
    timezone: str | None = None,
    progress: Progress | None = None,
    date: dt.date | None = None,
) -> InboxLoad:
    """Load every table's files of ``folder`` (a missing folder loads nothing); ``calendar`` and
    ``timezone`` as in :func:`data.ingest.ingest` (default: the home's). The files are delivered for
    ``date`` (the nightly's night), else for the folder's date (``inbox/YYYY-MM-DD``; see
    :mod:`data.delivery`)."""
    by_table, ignored = inbox_files(folder)
    loads = [
        ingest(home, t, ps, calendar=calendar, timezone=timezone, progress=progress, date=date)
        for t, ps in by_table.items()
    ]
    return InboxLoad(folder, loads, ignored)
