"""The quarantine of a load: rejected rows with their rule and the line as read, and the load's verdict.

Rows are collected in staged Parquet parts (a wholly bad file does not fill memory) and inserted at the
load's commit. ``raw`` is the row as it stands in its file: the line's text for delimited text, a JSON object
of the values for Parquet. Rows rejected batch by batch get it while their batch is in memory; rows rejected
by a cross-row rule (a duplicate key, a fill against its order) are read again from their file at the
commit (:func:`data.readers.raw_rows`).

The verdict (:func:`verdict`) turns the counts into what a scheduler needs: a file with more than
``max_quarantined`` of its rows quarantined refuses the load (nothing is loaded; the run is ``failed``);
more than ``WARN_QUARANTINED`` of a file, or every row of a symbol, makes the load a ``warning``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import polars as pl

from data.validation import ROW

if TYPE_CHECKING:
    from data.formats import Source

QUARANTINE_COLUMNS = ["source_file", ROW, "rule", "detail", "raw"]
MAX_QUARANTINED = 0.5  # a file with a larger share of its rows quarantined refuses the load
WARN_QUARANTINED = 0.01  # a file with a larger share of its rows quarantined makes the load a warning
REFUSED_SAMPLE_ROWS = 1_000  # rows kept per file and rule of a refused load, to show what went wrong
SHOWN_SYMBOLS = 10


class Quarantine:
    """Collects rejected rows of one load (``source_file, row_number, rule, detail, raw`` [, ``symbol``])."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.parts = 0
        self.counts: Counter[str] = Counter()  # per rule
        self.by_file: Counter[str] = Counter()
        self.by_file_rule: dict[str, Counter[str]] = defaultdict(Counter)
        self.symbols: dict[str, Counter[str]] = defaultdict(Counter)  # per file: rows rejected per symbol

    def add(self, rejected: pl.DataFrame) -> None:
        """Add rows; a ``raw`` that is null is read from the file at :meth:`insert`."""
        if rejected.height == 0:
            return
        rejected.select(QUARANTINE_COLUMNS).write_parquet(self.folder / f"q{self.parts:06d}.parquet")
        self.parts += 1
        self.counts.update(rejected["rule"].to_list())
        files = rejected["source_file"].to_list()
        self.by_file.update(files)
        for f, r in zip(files, rejected["rule"].to_list(), strict=True):
            self.by_file_rule[f][r] += 1
        if "symbol" in rejected.columns:
            for f, s, n in rejected.group_by("source_file", "symbol").len().iter_rows():
                if s is not None:
                    self.symbols[f][s] += n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def insert(
        self,
        con: duckdb.DuckDBPyConnection,
        run_id: str,
        table: str,
        sample: int | None = None,
        sources: Sequence[Source] = (),
    ) -> None:
        """Insert the rows into ``quarantine`` (at most ``sample`` per file and rule), reading the ``raw`` of
        rows that lack it from their files (as ``sources`` describe them: format, encoding; a file not
        among them by its detected format)."""
        if self.parts == 0:
            return
        glob = str(self.folder / "q*.parquet")
        rows = pl.scan_parquet(glob)
        if sample is not None:
            rows = rows.filter(pl.int_range(pl.len()).over("source_file", "rule") < sample)
        staged = self.folder / "rows.parquet"
        rows.sink_parquet(staged)
        missing = pl.scan_parquet(staged).filter(pl.col("raw").is_null()).select("source_file", ROW).collect()
        fill = self.folder / "raw.parquet"
        parts = [
            _raw_rows(Path(f), g[ROW].to_numpy(), {str(s.path): s for s in sources}.get(f)).with_columns(
                pl.lit(f).alias("source_file")
            )
            for (f,), g in missing.partition_by("source_file", as_dict=True).items()
        ]
        pl.concat([pl.DataFrame(schema={ROW: pl.Int64, "raw": pl.String, "source_file": pl.String}), *parts],
                  how="vertical_relaxed").write_parquet(fill)  # fmt: skip
        con.execute(
            f"""INSERT INTO quarantine SELECT ?, ?, q.source_file, q.row_number, q.rule, q.detail,
                coalesce(q.raw, f.raw), now()::TIMESTAMP
                FROM read_parquet({_literal(staged)}) q
                LEFT JOIN read_parquet({_literal(fill)}) f USING (source_file, row_number)
                ORDER BY q.source_file, q.row_number""",
            [run_id, table],
        )


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a load's quarantine says: why it is refused (``None``: it is not), and its warnings."""

    refused: str | None = None
    warnings: list[str] = field(default_factory=list)


def _share(n: int, of: int) -> str:
    return f"{n:,} of {of:,} rows ({100 * n / of:.1f} %)" if of else f"{n:,} rows"


def _rules(counts: Counter[str]) -> str:
    return ", ".join(f"{rule}: {n:,}" for rule, n in counts.most_common())


def verdict(
    table: str,
    rows_read: dict[str, int],
    quarantine: Quarantine,
    loaded_symbols: dict[str, set[str]],
    max_quarantined: float = MAX_QUARANTINED,
) -> Verdict:
    """The load's verdict from each file's rows read and quarantined (see the module docstring).

    ``loaded_symbols`` are, per file, the symbols with at least one row loaded: a symbol with rows in the
    quarantine and none loaded lost all its rows.
    """
    refused: list[str] = []
    warnings: list[str] = []
    for path, n in rows_read.items():
        bad = quarantine.by_file.get(path, 0)
        name = Path(path).name
        why = f"{table} {name}: {_share(bad, n)} quarantined ({_rules(quarantine.by_file_rule[path])})"
        if n and bad / n > max_quarantined:
            hint = _hint(quarantine.by_file_rule[path])
            refused.append(why + (f"; {hint}" if hint else ""))
        elif n and bad / n > WARN_QUARANTINED:
            warnings.append(why)
        lost = sorted(s for s in quarantine.symbols.get(path, {}) if s not in loaded_symbols.get(path, set()))
        if lost and not (n and bad / n > max_quarantined):
            shown = ", ".join(lost[:SHOWN_SYMBOLS]) + (
                f" and {len(lost) - SHOWN_SYMBOLS} more" if len(lost) > SHOWN_SYMBOLS else ""
            )
            warnings.append(f"{table} {name}: every row of {len(lost)} symbol(s) was quarantined: {shown}")
    if refused:
        return Verdict(
            "; ".join(refused) + f" (more than {100 * max_quarantined:g} % of a file): nothing was loaded; "
            "the quarantine table holds examples of each rule",
            warnings,
        )
    return Verdict(None, warnings)


HINTS = {
    "missing_utc_offset": "the timestamps carry no UTC offset: declare their time zone with --timezone "
    "(e.g. America/New_York) or `kappa config timezone ...`",
    "unparseable_number": "numbers must use '.' as the decimal point ('1,869,001.5' is read; '1.869.001,5' "
    "is not)",
    "outside_session": "the rows lie outside the exchange's sessions: check the calendar (--calendar) and the "
    "time zone of the timestamps",
    "malformed_row": "lines have more or fewer fields than the header: check the delimiter and quoting",
    "outside_delivered_date": "the rows are of other dates than the one the file was delivered for (--date, "
    "its drop folder's or its name's): declare the file's date with --date",
}


def _hint(rules: Counter[str]) -> str | None:
    """A hint for the rule that rejected most rows, where one helps."""
    top = rules.most_common(1)
    return HINTS.get(top[0][0]) if top else None


def _raw_rows(path: Path, rows: np.ndarray, source: Source | None = None) -> pl.DataFrame:
    """The records ``rows`` of ``path`` as they stand in it, whatever its format (:mod:`data.formats`)."""
    from data.formats import Source, detect

    return (source or Source(path, detect(path))).raw_rows(rows)
