"""Where a load's time goes: each stage of ``kappa ingest`` run alone, one after the other, in one process.

Usage::

    python -m benchmarks.csv_profile                 # the CSV day of :mod:`benchmarks.csv_day`
    python -m benchmarks.csv_profile --tables quotes
    python -m benchmarks.csv_profile --size medium   # the Parquet drop folder of a harness size
    python -m benchmarks.csv_profile --size large --steps   # whole loads only, their steps timed inside

A load overlaps its stages (batches are validated on threads while the next is read, the lake writer
compresses on its own thread), so timing them inside a load mixes them up. Here each stage runs alone on
the output of the one before, and gets its wall seconds and the process's CPU seconds (user + system, all
threads): reading the files into batches, the row rules, the SHA-256, the lake-order check of the batches
(``order``), writing the lake file (``lake_write``, the check again included; trades are flagged as they
are written, and ``t4_quotes`` times alone a read of the date's quotes that rule T4 needs), the quotes'
tape-cleaning flags (``flags``, which also sum the quotes per symbol) and the writing of that ``.daily``
summary (``summary``), the ``daily`` rows, the ``fsync`` of the new files before the commit (``sync``),
then the whole load (``ingest``) into a fresh home for the rest (staging, quarantine, commit: whole load
minus the stages). The command's start-up (importing the CLI)
is timed in a fresh process. A harness size holds every batch of a table in memory at once (medium: about
3 GiB for its quotes); at large, ``--steps`` runs only the whole loads, as the harness's ``stages`` variant
does (quotes, then trades, into a copy of the size's base home), each with the wall and CPU seconds spent
inside its steps: streaming the files (read, row rules and lake write, overlapped), the flags, the quotes'
summary, the ``daily`` rows and the whole commit (which holds the flags and ``daily``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from benchmarks.config import REPO, RESULTS

if TYPE_CHECKING:
    from data.home import KappaHome

T = TypeVar("T")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(out: dict[str, dict[str, float]], stage: str, fn: Callable[[], T]) -> T:
    w0, c0 = time.perf_counter(), _cpu()
    value = fn()
    out[stage] = {"wall_s": time.perf_counter() - w0, "cpu_s": _cpu() - c0}
    return value


def startup() -> dict[str, float]:
    """Wall and CPU seconds of ``kappa ingest --help`` in a fresh process (imports and the CLI's set-up)."""
    w0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "ingest", "--help"], cwd=REPO,
                            stdout=subprocess.DEVNULL)  # fmt: skip
    _, _, usage = os.wait4(proc.pid, 0)
    return {"wall_s": time.perf_counter() - w0, "cpu_s": usage.ru_utime + usage.ru_stime}


def profile_table(
    table: str, paths: list[Path], home_dir: Path, quotes: str | None = None, timezone: str = "UTC"
) -> dict[str, dict[str, float]]:
    """The stages of loading ``path`` into ``table`` (module docstring); market tables also the lake's.
    Trades are flagged (rule T4) and summed into ``daily`` against the lake file ``quotes`` where given."""
    import polars as pl

    from data.calendar import home_calendar
    from data.contract import TABLES
    from data.home import KappaHome
    from data.ingest import sources_of
    from data.lake.daily import daily_from_intraday, summary_path, write_quote_summary
    from data.lake.files import remove_from_lake, sync_to_disk
    from data.lake.flags import TradeFlagger, flag_partition
    from data.lake.partitions import lake_order
    from data.lake.writers import DirectWriter
    from data.load_stream import sha256
    from data.readers import DEFAULT_BATCH_ROWS
    from data.validation import validate_batch

    spec = TABLES[table]
    home = KappaHome.resolve(home_dir)
    cal = home_calendar(home, None)
    out: dict[str, dict[str, float]] = {}
    sources = sources_of(paths)
    raw = _timed(out, "read", lambda: [b for s in sources for b in s.batches(spec, DEFAULT_BATCH_ROWS, cal)])
    valid = _timed(out, "validate", lambda: [validate_batch(b.frame, spec, cal, timezone) for b in raw])
    raw.clear()
    _timed(out, "sha256", lambda: [sha256(s.companions()) for s in sources])
    if spec.market:
        order = [pl.col(c) for c in lake_order(table)]
        _timed(out, "order", lambda: [v.clean.select(pl.struct(order).is_sorted()) for v in valid])
        home.ensure()
        other = quotes if table == "trades" else None
        days = {d for v in valid for d in v.clean["date"].unique().to_list()}
        flagger = TradeFlagger(dict.fromkeys(days, other) if other else {}) if table == "trades" else None
        direct = DirectWriter(home, table, "profile", set(), spec.key, flagger)

        def write() -> list:
            for v in valid:
                direct.write(v.clean)
            return direct.finish()

        (part,) = _timed(out, "lake_write", write)
        valid.clear()
        q, t = (str(part.path), None) if table == "quotes" else (other, str(part.path))
        summary = None
        if table == "quotes":  # the flags' pass holds the rows: the summary comes with it
            flagged = _timed(out, "flags", lambda: flag_partition(table, str(part.path), part.path))
            summary = _timed(
                out, "summary", lambda: write_quote_summary(home, str(part.path), flagged.summary)
            )
        elif other is not None:  # the trades were flagged as they were written (lake_write)
            t4 = ["symbol", "ts", "bid", "ask", "flag"]  # what rule T4 reads of the quotes
            _timed(out, "t4_quotes", lambda: pl.scan_parquet(other).select(t4).collect())
        _timed(out, "daily", lambda: daily_from_intraday(home, part.date, q, t, summary))
        written = [part.path, *([summary_path(part.path)] if table == "quotes" else [])]
        _timed(out, "sync", lambda: sync_to_disk(home, written))
        for p in [*home.lake.rglob("*.parquet"), *home.lake.rglob("*.daily")]:
            remove_from_lake(home, p)
    else:
        _timed(out, "concat", lambda: pl.concat([v.clean for v in valid]))
    return out


def _lake_file(home: KappaHome, table: str) -> str | None:
    """The current lake file of ``table`` in ``home`` (one date), if any."""
    from data.store import reader

    with reader(home) as con:
        row = con.execute("SELECT path FROM lake_files WHERE table_name = ?", [table]).fetchone()
    return str(home.lake_file(row[0])) if row else None


def profile_load(
    files: Callable[[str], list[Path]], tables: list[str], home_dir: Path, timezone: str = "UTC"
) -> dict[str, dict[str, dict[str, float]]]:
    """Per table: its stages alone, then its whole load (in order: later tables load onto the earlier).
    ``files`` gives a table's input files."""
    from data.home import KappaHome
    from data.ingest import ingest

    result: dict[str, dict[str, dict[str, float]]] = {}
    home = KappaHome.resolve(home_dir / "home")
    home.ensure()
    home.save_config(timezone=timezone)
    for table in tables:
        quotes = _lake_file(home, "quotes") if table == "trades" else None
        stages = profile_table(table, files(table), home_dir / f"stages-{table}", quotes, timezone)
        paths = files(table)
        _timed(stages, "whole_load", lambda t=table, p=paths: ingest(home, t, p))  # type: ignore[misc]
        result[table] = stages
    return result


STEPS = {  # module: functions timed inside a whole load (--steps)
    "data.load_market": ("read_validated", "flag_partition", "write_quote_summary", "daily_from_intraday",
                         "sync_to_disk", "_commit_market"),
    "data.lake.flags": ("_flags_of", "_write_flags"),
    "data.cleaning": ("quote_flags", "trade_flags"),
}  # fmt: skip


def profile_steps(size: str, home_dir: Path) -> dict[str, dict[str, dict[str, float]]]:
    """Whole loads of a harness size's quotes, then trades, into a copy of its base home, with the wall and
    CPU seconds spent inside the functions of :data:`STEPS` (summed over calls; nested ones included in
    their callers)."""
    import functools
    import importlib

    from benchmarks.datasets import dataset, fresh_home
    from data.home import KappaHome
    from data.ingest import ingest

    spent: dict[str, dict[str, float]] = {}

    def timed(name: str, fn: Callable[..., object]) -> Callable[..., object]:
        @functools.wraps(fn)
        def run(*args: object, **kwargs: object) -> object:
            w0, c0 = time.perf_counter(), _cpu()
            try:
                return fn(*args, **kwargs)
            finally:
                t = spent.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
                t["wall_s"] += time.perf_counter() - w0
                t["cpu_s"] += _cpu() - c0

        return run

    for module, names in STEPS.items():
        m = importlib.import_module(module)
        for name in names:
            setattr(m, name, timed(name, getattr(m, name)))
    data = dataset(size)
    home = KappaHome.resolve(fresh_home(data, home_dir / "home"))
    result: dict[str, dict[str, dict[str, float]]] = {}
    for table in ("quotes", "trades"):
        spent.clear()
        whole: dict[str, dict[str, float]] = {}
        _timed(whole, "whole_load", lambda t=table: ingest(home, t, data.files(t)))  # type: ignore[misc]
        result[table] = {**spent, **whole}
    return result


def main() -> None:
    from benchmarks import csv_day, datasets

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=list(datasets.SIZES), help="a harness size's Parquet drop folder")
    ap.add_argument("--tables", help="comma-separated (default: every table of the data)")
    ap.add_argument("--out", help="results file (default: csv-profile.json, or load-profile-SIZE.json)")
    ap.add_argument("--steps", action="store_true", help="with --size: whole loads only, steps timed inside")
    args = ap.parse_args()
    if args.size:
        data = datasets.dataset(args.size)
        meta: dict[str, object] = {"size": args.size, **data.meta}
        tables, files, tz = ["quotes", "trades"], data.files, datasets.FILES_TIMEZONE
        out = args.out or f"load-profile-{args.size}.json"
    else:
        folder, meta = csv_day.dataset()
        tables, tz, out = list(csv_day.TABLES), "UTC", args.out or "csv-profile.json"
        files = lambda t: [folder / f"{t}.csv"]  # noqa: E731
    if args.tables:
        tables = args.tables.split(",")
    args.tables = ",".join(tables)
    args.out = out
    with tempfile.TemporaryDirectory(prefix="kappa-load-profile-") as tmp:
        result: dict[str, object] = {"data": meta, "startup": startup()}
        if args.steps and args.size:
            args.out = args.out.replace(".json", "-steps.json")
            result.update(profile_steps(args.size, Path(tmp)))
        else:
            result.update(profile_load(files, tables, Path(tmp), tz))
    print(f"{'table':<8}{'stage':<22}{'wall s':>9}{'cpu s':>9}")
    s = result["startup"]
    assert isinstance(s, dict)
    print(f"{'-':<8}{'startup':<22}{s['wall_s']:>9.2f}{s['cpu_s']:>9.2f}")
    for table in args.tables.split(","):
        stages = result[table]
        assert isinstance(stages, dict)
        for stage, t in stages.items():
            print(f"{table:<8}{stage:<22}{t['wall_s']:>9.2f}{t['cpu_s']:>9.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
