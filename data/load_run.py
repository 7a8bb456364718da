"""One load's context and its bookkeeping: the report, the warnings and refusal, and the rows it leaves in
``runs``, ``loads``, ``quarantine`` and ``replacements`` (see :mod:`data.ingest`).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from data.contract import TableSpec
from data.delivery import Delivery
from data.formats import Source
from data.home import KappaHome
from data.quarantine import MAX_QUARANTINED, REFUSED_SAMPLE_ROWS, Quarantine, verdict
from data.store import finish_run, transaction, writer
from kappa.errors import InputError

Progress = Callable[[str, int], None]
FAULT_ENV = "KAPPA_FAULT_AT"
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
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    """Records of the files that are not rows of the table by design, per reason (``extended_hours``, a
    vendor's cancelled prints, quotes that leave the NBBO unchanged): neither loaded nor quarantined."""
    delivered: dict[str, Delivery] = field(default_factory=dict)
    """Each file's delivered date and what declared it (:mod:`data.delivery`): the date it replaces."""

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped_by_reason.values())


class LoadRefusedError(InputError):
    """Most rows of a file were quarantined: nothing was loaded (the run is ``failed``; the quarantine holds
    examples of each rule)."""


FAULT_POINTS = {
    "read_batch": "a load: after the first batch of its files is read and validated (mid-stream)",
    "validated": "a load: every row read and validated, before the lake files are merged or the rows checked",
    "after_staging": "a load: its rows staged (lake files written, or orders/fills held), not yet flagged",
    "lake_written": "a load of quotes or trades: flagged lake files and summaries written, manifest unchanged",
    "before_commit": "a load: everything prepared, before the transaction that commits it",
    "inside_commit": "a load: inside its transaction, every row written, before COMMIT",
    "after_commit": "a load: committed (quotes, trades: the files it replaced listed as retired, not yet deleted)",
    "nightly_ingested": "nightly: the drop folder loaded, nothing calibrated yet",
    "calibrate_fit": "calibrate/nightly: after a batch's symbols are fitted (other batches may still run)",
    "calibrate_before_write": "calibrate: every symbol fitted, before its results are written",
    "attribute_batch": "attribute/nightly: after a batch's orders are attributed",
    "nightly_scheduled": "nightly: the pending orders scheduled, before the night's results are written",
    "results_before_commit": "calibrate/attribute/nightly: before the transaction that writes the results",
    "results_inside_commit": "calibrate/attribute/nightly: inside that transaction, before COMMIT",
    "results_after_commit": "calibrate/attribute/nightly: the results committed",
    "schedule_before_commit": "schedule --save: before the transaction that writes the schedule",
    "schedule_inside_commit": "schedule --save: inside that transaction, before COMMIT",
    "report_before": "nightly: the results committed, before the report is rendered",
    "report_after": "nightly: the report written, before the run is marked done",
}
"""Where :func:`fault_point` can kill a command (crash-safety tests), and what is done when it does."""

_fault_hits: Counter[str] = Counter()
_fault_lock = threading.Lock()


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL at ``name`` when ``$KAPPA_FAULT_AT`` says so (crash-safety tests).

    ``$KAPPA_FAULT_AT`` is a name of :data:`FAULT_POINTS`, or ``name@N`` to kill at the N-th time this
    process reaches the point (the second night of a backfill, the second batch of a calibration). Without
    the variable a point costs one environment lookup.
    """
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    assert name in FAULT_POINTS, name
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    with _fault_lock:
        _fault_hits[name] += 1
        hit = _fault_hits[name]
    if hit == (int(nth) if nth else 1):
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True, slots=True)
class Load:
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
    sources: tuple[Source, ...] = ()  # one per path, in the order of ``paths``: its format and mapping
    deliveries: tuple[Delivery, ...] = ()  # one per source: its delivered date (data.delivery)

    def delivery(self, index: int) -> Delivery:
        """The delivered date of source ``index`` (none declared if the load gives none)."""
        return self.deliveries[index] if index < len(self.deliveries) else Delivery()


@dataclass(slots=True)
class Read:
    """What streaming the files of a load saw, per file: records read (malformed and skipped ones
    included), records skipped by design per reason, the file's format, its SHA-256, and the symbols with
    at least one row loaded."""

    rows: Counter[str] = field(default_factory=Counter)
    sha256: dict[str, str] = field(default_factory=dict)
    symbols: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)
    formats: dict[str, str] = field(default_factory=dict)

    def skipped_in(self, name: str) -> int:
        """Records of file ``name`` skipped by design."""
        return sum(n for (f, _), n in self.skipped.items() if f == name)

    @property
    def skipped_total(self) -> int:
        return self.skipped.total()


def shrinkage(replaced: list[Replacement]) -> list[str]:
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


def finish_load(
    con: duckdb.DuckDBPyConnection,
    load: Load,
    quarantine: Quarantine,
    read: Read,
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
    n_s = read.skipped_total
    assert rows_loaded + n_q + n_s == read.rows.total(), (rows_loaded, n_q, n_s, read.rows.total())


def _record_quarantine(
    con: duckdb.DuckDBPyConnection,
    load: Load,
    quarantine: Quarantine,
    read: Read,
    sample: int | None = None,
) -> None:
    """Replace the files' quarantine and skipped rows, and write a ``loads`` row per file.

    A committed load (``sample`` None) replaces every earlier row of its files. A refused load (``sample``
    rows per file and rule) replaces only the rows of earlier refused loads of its files: the rows of the
    load whose data is stored stay beside its examples, so a refused correction erases no record of it.
    """
    run_id, table, files = load.run_id, load.spec.name, [str(p) for p in load.paths]
    only_refused = (
        "" if sample is None else " AND run_id IN (SELECT run_id FROM runs WHERE status = 'failed')"
    )
    con.execute(
        f"DELETE FROM quarantine WHERE table_name = ? AND source_file IN (SELECT unnest(?)){only_refused}",
        [table, files],
    )
    quarantine.insert(con, run_id, table, sample=sample, sources=load.sources)
    loaded = sample is None  # a refused load loads nothing
    for f in files:
        n_read, rejected, skipped = read.rows[f], quarantine.by_file[f], read.skipped_in(f)
        con.execute(
            "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP, ?, ?)",
            [run_id, table, f, read.sha256.get(f, ""), n_read, n_read - rejected - skipped if loaded else 0,
             rejected, skipped, read.formats.get(f, "kappa")],
        )  # fmt: skip
    con.execute(
        f"DELETE FROM skipped_rows WHERE table_name = ? AND source_file IN (SELECT unnest(?)){only_refused}",
        [table, files],
    )
    if read.skipped:
        con.executemany(
            "INSERT INTO skipped_rows VALUES (?, ?, ?, ?, ?)",
            [[run_id, table, f, reason, n] for (f, reason), n in sorted(read.skipped.items())],
        )


def _message(quarantine: Quarantine, warnings: list[str]) -> str:
    counts = ", ".join(f"{rule} {n:,}" for rule, n in sorted(quarantine.counts.items()))
    return "; ".join([*warnings, *([f"quarantined: {counts}"] if counts else [])])


def load_warnings(load: Load, quarantine: Quarantine, read: Read) -> list[str]:
    """The load's warnings, or :class:`Refusal` if its quarantine refuses it."""
    candidates = {f: n - read.skipped_in(f) for f, n in read.rows.items()}  # skipped rows are no errors
    v = verdict(load.spec.name, candidates, quarantine, read.symbols, load.max_quarantined)
    if v.refused:
        raise Refusal(v.refused)
    empty = [  # a file of zero bytes, or of a header only: loaded, with nothing in it
        f"{load.spec.name} {Path(f).name}: no rows (the file is empty or holds only its header)"
        for f, n in read.rows.items()
        if n == 0
    ]
    return [*empty, *v.warnings]


class Refusal(Exception):
    """Raised inside a load to refuse it (see :func:`refuse_load`)."""


def refuse_load(load: Load, quarantine: Quarantine, read: Read, why: str) -> LoadRefusedError:
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


def load_report(
    load: Load,
    read: Read,
    quarantine: Quarantine,
    dates: list[dt.date],
    replaced: list[Replacement],
    warnings: list[str],
    cancelled: int = 0,
) -> LoadReport:
    """The :class:`LoadReport` of a committed load: every record read neither quarantined nor skipped
    counts as loaded."""
    return LoadReport(
        load.run_id,
        load.spec.name,
        [str(p) for p in load.paths],
        read.rows.total(),
        read.rows.total() - quarantine.total - read.skipped_total,
        quarantine.total,
        dict(sorted(quarantine.counts.items())),
        dates,
        replaced,
        cancelled,
        warnings,
        skipped_by_reason=dict(sorted(_by_reason(read).items())),
        delivered={str(s.path): load.delivery(i) for i, s in enumerate(load.sources)},
    )


def _by_reason(read: Read) -> Counter[str]:
    out: Counter[str] = Counter()
    for (_, reason), n in read.skipped.items():
        out[reason] += n
    return out
