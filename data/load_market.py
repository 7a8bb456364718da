"""Loading quotes or trades: to the Parquet lake (straight, or staged and merged), flagged by the tape
cleaning, its ``daily`` rows derived, and the manifest switched to the new files in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import polars as pl

from data.lake.daily import daily_from_intraday, summary_path, write_quote_summary
from data.lake.files import remove_from_lake, sync_to_disk
from data.lake.flags import TradeFlagger, flag_partition
from data.lake.partitions import MergedPartition, merge_partition, partition_path
from data.lake.writers import DirectWriter, OutOfLakeOrder, StagingWriter
from data.load_run import (
    Load,
    LoadReport,
    Progress,
    Read,
    Refusal,
    Replacement,
    fault_point,
    finish_load,
    load_report,
    load_warnings,
    refuse_load,
    shrinkage,
)
from data.load_stream import ShownRows, read_validated, tagged, untagged
from data.quarantine import Quarantine
from data.schema import refresh_market_view
from data.store import replace_rows, transaction, writer


def load_market(
    load: Load, manifest: dict[tuple[str, dt.date], str], progress: Progress | None
) -> LoadReport:
    """Quotes or trades: straight to the lake when the rows come in lake order, else staged and merged."""
    spec = load.spec
    existing = {day for (t, day) in manifest if t == spec.name}
    quotes = {day: path for (t, day), path in manifest.items() if t == "quotes"}
    flagger = TradeFlagger(quotes) if spec.name == "trades" else None  # flagged as written: no second write
    direct = DirectWriter(load.home, spec.name, load.run_id, existing, spec.key, flagger)
    quarantine = Quarantine(load.stage_dir / "quarantine")
    shown = ShownRows(progress)
    try:
        read = read_validated(load, quarantine, shown, untagged(direct.write))
        merged = direct.finish()
    except OutOfLakeOrder:
        direct.abort()
        remove_from_lake(load.home, load.stage_dir)
        quarantine = Quarantine(load.stage_dir / "quarantine")
        shown.again()
        read, merged = _stage_and_merge(load, manifest, quarantine, shown)
    except BaseException:
        direct.abort()
        raise
    try:
        warnings = load_warnings(load, quarantine, read)
    except Refusal as exc:
        for part in merged:
            remove_from_lake(load.home, part.path)
        raise refuse_load(load, quarantine, read, str(exc)) from None
    fault_point("after_staging")
    return _commit_market(load, manifest, quarantine, read, merged, warnings)


def _stage_and_merge(
    load: Load,
    manifest: dict[tuple[str, dt.date], str],
    quarantine: Quarantine,
    progress: Progress | None,
) -> tuple[Read, list[MergedPartition]]:
    """Stage the validated rows per date, then merge each date with its current lake file."""
    spec = load.spec
    staging = StagingWriter(load.stage_dir / spec.name)
    try:
        read = read_validated(load, quarantine, progress, tagged(staging.write))
    finally:
        staging.close()
    merged: list[MergedPartition] = []
    for day in sorted(staging.rows):
        current = manifest.get((spec.name, day))
        part = merge_partition(load.home, spec.name, day, staging.path(day), current, load.run_id, spec.key)
        if part.duplicates.height:
            quarantine.add(part.duplicates)
        merged.append(part)
    return read, merged


@dataclass(frozen=True, slots=True)
class _Flagged:
    """What the tape cleaning of a load's new partitions gives: per (table, date) the flagged rows per
    symbol and rule, the trades files of other loads whose flags the new quotes changed (rule T4), and the
    ``daily`` rows of the dates."""

    flagged: list[tuple[str, dt.date, pl.DataFrame]]
    reflagged: list[tuple[dt.date, Path]]
    daily: pl.DataFrame


def _flags_and_daily(
    load: Load, manifest: dict[tuple[str, dt.date], str], merged: list[MergedPartition]
) -> _Flagged:
    """Flag each new partition (and, for quotes, the date's trades again) and derive its ``daily`` rows."""
    home, spec, run_id = load.home, load.spec, load.run_id
    other = "trades" if spec.name == "quotes" else "quotes"
    daily_rows = []
    flagged: list[tuple[str, dt.date, pl.DataFrame]] = []
    reflagged: list[tuple[dt.date, Path]] = []
    for part in merged:
        other_path = manifest.get((other, part.date))
        if spec.name == "quotes":
            fq = flag_partition("quotes", str(part.path), part.path)
            flagged.append(("quotes", part.date, fq.counts))
            summary: pl.DataFrame | None = write_quote_summary(home, str(fq.path), fq.summary)
            if other_path is not None:  # rule T4 reads the quotes: the date's trades are flagged again
                out = partition_path(home, "trades", part.date, run_id)
                ft = flag_partition("trades", other_path, out, quotes=str(part.path))
                if ft.changed:
                    flagged.append(("trades", part.date, ft.counts))
                    reflagged.append((part.date, ft.path))
                    other_path = str(ft.path)
            q: str | None = str(part.path)
            t: str | None = other_path
        else:
            if part.flagged is None:  # merged: flagged now
                part = replace(
                    part, flagged=flag_partition("trades", str(part.path), part.path, other_path).counts
                )
            assert part.flagged is not None
            flagged.append(("trades", part.date, part.flagged))
            q, t = other_path, str(part.path)
            summary = None  # the quotes' own, kept beside them when they were loaded
        daily_rows.append(daily_from_intraday(home, part.date, q, t, summary))
    daily = pl.concat(daily_rows) if daily_rows else pl.DataFrame()
    return _Flagged(flagged, reflagged, daily)


def _commit_market(
    load: Load,
    manifest: dict[tuple[str, dt.date], str],
    quarantine: Quarantine,
    read: Read,
    merged: list[MergedPartition],
    warnings: list[str],
) -> LoadReport:
    """Daily facts of the new partitions, then one transaction switches the manifest to them."""
    home, spec, run_id = load.home, load.spec, load.run_id
    facts = _flags_and_daily(load, manifest, merged)
    fault_point("lake_written")
    rows_loaded = read.rows.total() - quarantine.total - read.skipped_total
    replaced = [
        Replacement(spec.name, part.date, symbol, before, after)
        for part in merged
        for symbol, before, after in part.replaced.iter_rows()
    ]
    warnings = warnings + shrinkage(replaced)
    sync_to_disk(home, new_files(merged, facts.reflagged))
    fault_point("before_commit")
    with writer(home) as con, transaction(con):
        _switch_manifest(con, load, merged, facts.reflagged)
        _record_flags(con, run_id, facts.flagged)
        if facts.daily.height:
            tagged = facts.daily.with_columns(source=pl.lit("intraday"), run_id=pl.lit(run_id))
            replace_rows(con, "daily", tagged, ["symbol", "date"])
        finish_load(con, load, quarantine, read, rows_loaded, replaced, warnings)
        fault_point("inside_commit")
    fault_point("after_commit")
    report = load_report(load, read, quarantine, [p.date for p in merged], replaced, warnings)
    by_rule: Counter[tuple[str, str]] = Counter()
    for table, _, counts in facts.flagged:
        for rule, n in counts.group_by("rule").agg(pl.col("rows").sum()).iter_rows():
            by_rule[(table, rule)] += int(n)
    return replace(report, flagged_by_rule=dict(sorted(by_rule.items())))


def new_files(merged: list[MergedPartition], reflagged: list[tuple[dt.date, Path]]) -> list[Path]:
    """The files a load's commit points the manifest at: the new partitions (a quotes file with its
    summary) and the trades files flagged again."""
    out: list[Path] = []
    for part in merged:
        out.append(part.path)
        if part.table == "quotes":
            out.append(summary_path(part.path))
    return out + [path for _, path in reflagged]


def _switch_manifest(
    con: duckdb.DuckDBPyConnection,
    load: Load,
    merged: list[MergedPartition],
    reflagged: list[tuple[dt.date, Path]],
) -> None:
    """Point ``lake_files`` (and the views) at the new partitions and the re-flagged trades files, inside
    the commit's transaction (paths relative to the lake: :meth:`data.home.KappaHome.lake_relative`). The
    files they replace are retired (``retired_files``), not deleted: a reader may still hold them, and
    a later load deletes them when none does (:func:`data.lake.partitions.collect_garbage`)."""
    home, table, run_id = load.home, load.spec.name, load.run_id
    switched: list[tuple[str, dt.date, Path, int | None, int | None]] = [
        (table, part.date, part.path, part.row_count, part.symbols) for part in merged
    ]
    switched += [("trades", day, path, None, None) for day, path in reflagged]
    for name, day, path, rows, symbols in switched:
        con.execute(
            """INSERT INTO retired_files SELECT path, table_name, date, ?, now()::TIMESTAMP FROM lake_files
               WHERE table_name = ? AND date = ?""",
            [run_id, name, day],
        )
        if rows is None:  # the same rows, flagged again
            con.execute(
                "UPDATE lake_files SET path = ?, run_id = ? WHERE table_name = ? AND date = ?",
                [home.lake_relative(path), run_id, name, day],
            )
            continue
        con.execute("DELETE FROM lake_files WHERE table_name = ? AND date = ?", [name, day])
        con.execute(
            "INSERT INTO lake_files VALUES (?, ?, ?, ?, ?, ?)",
            [name, day, home.lake_relative(path), rows, symbols, run_id],
        )
    refresh_market_view(con, table, home)
    if reflagged:
        refresh_market_view(con, "trades", home)


def _record_flags(
    con: duckdb.DuckDBPyConnection, run_id: str, flagged: list[tuple[str, dt.date, pl.DataFrame]]
) -> None:
    """Replace the ``flagged_rows`` of each (table, date) flagged by this load."""
    for table, day, counts in flagged:
        con.execute("DELETE FROM flagged_rows WHERE table_name = ? AND date = ?", [table, day])
        if counts.height:
            rows = counts.select(
                pl.lit(table).alias("table_name"), pl.lit(day).alias("date"), "symbol", "rule", "rows",
                pl.lit(run_id).alias("run_id"),
            )  # fmt: skip
            con.register("_flagged", rows)
            try:
                con.execute("INSERT INTO flagged_rows BY NAME SELECT * FROM _flagged")
            finally:
                con.unregister("_flagged")
