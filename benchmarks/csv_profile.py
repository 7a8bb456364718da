"""Where a CSV load's time goes: each stage of ``kappa ingest`` run alone, one after the other, in one process.

Usage::

    python -m benchmarks.csv_profile                 # the CSV day of :mod:`benchmarks.csv_day`
    python -m benchmarks.csv_profile --tables quotes

A load overlaps its stages (batches are validated on threads while the next is read, the lake writer
compresses on its own thread), so timing them inside a load mixes them up. Here each stage runs alone on
the output of the one before, and gets its wall seconds and the process's CPU seconds (user + system, all
threads): reading the text into batches, the row rules, the SHA-256, writing the lake file, the tape
cleaning's flags, the ``daily`` rows, then the whole load (``ingest``) into a fresh home for the rest
(staging, quarantine, commit: whole load minus the stages). The command's start-up (importing the CLI) is
timed in a fresh process.
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
from typing import TypeVar

from benchmarks.config import REPO, RESULTS

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
    table: str, path: Path, home_dir: Path, quotes: str | None = None
) -> dict[str, dict[str, float]]:
    """The stages of loading ``path`` into ``table`` (module docstring); market tables also the lake's.
    Trades are flagged (rule T4) and summed into ``daily`` against the lake file ``quotes`` where given."""
    import polars as pl

    from data.calendar import home_calendar
    from data.contract import TABLES
    from data.home import KappaHome
    from data.ingest import sources_of
    from data.lake.daily import daily_from_intraday
    from data.lake.flags import flag_partition
    from data.lake.writers import DirectWriter
    from data.load_stream import sha256
    from data.readers import DEFAULT_BATCH_ROWS
    from data.validation import validate_batch

    spec = TABLES[table]
    home = KappaHome.resolve(home_dir)
    cal = home_calendar(home, None)
    out: dict[str, dict[str, float]] = {}
    (source,) = sources_of([path])
    raw = _timed(out, "read", lambda: list(source.batches(spec, DEFAULT_BATCH_ROWS, cal)))
    valid = _timed(out, "validate", lambda: [validate_batch(b.frame, spec, cal, "UTC") for b in raw])
    _timed(out, "sha256", lambda: sha256(source.companions()))
    if spec.market:
        home.ensure()
        direct = DirectWriter(home, table, "profile", set(), spec.key)

        def write() -> list:
            for v in valid:
                direct.write(v.clean)
            return direct.finish()

        (part,) = _timed(out, "lake_write", write)
        other = quotes if table == "trades" else None
        _timed(out, "flags", lambda: flag_partition(table, str(part.path), part.path, quotes=other))
        q, t = (str(part.path), None) if table == "quotes" else (other, str(part.path))
        _timed(out, "daily", lambda: daily_from_intraday(home, part.date, q, t))
        for p in home.lake.rglob("*.parquet"):
            p.unlink()
    else:
        _timed(out, "concat", lambda: pl.concat([v.clean for v in valid]))
    return out


def _lake_file(home: object, table: str) -> str | None:
    """The current lake file of ``table`` in ``home`` (one date), if any."""
    from data.store import reader

    with reader(home) as con:  # type: ignore[arg-type]
        row = con.execute("SELECT path FROM lake_files WHERE table_name = ?", [table]).fetchone()
    return str(row[0]) if row else None


def profile_load(folder: Path, tables: list[str], home_dir: Path) -> dict[str, dict[str, dict[str, float]]]:
    """Per table: its stages alone, then its whole load (in order: later tables load onto the earlier)."""
    from data.home import KappaHome
    from data.ingest import ingest

    result: dict[str, dict[str, dict[str, float]]] = {}
    home = KappaHome.resolve(home_dir / "home")
    home.ensure()
    home.save_config(timezone="UTC")
    for table in tables:
        quotes = _lake_file(home, "quotes") if table == "trades" else None
        stages = profile_table(table, folder / f"{table}.csv", home_dir / f"stages-{table}", quotes)
        path = folder / f"{table}.csv"
        _timed(stages, "whole_load", lambda t=table, p=path: ingest(home, t, [p]))  # type: ignore[misc]
        result[table] = stages
    return result


def main() -> None:
    from benchmarks.csv_day import TABLES, dataset

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", default=",".join(TABLES))
    ap.add_argument("--out", default="csv-profile.json")
    args = ap.parse_args()
    folder, meta = dataset()
    with tempfile.TemporaryDirectory(prefix="kappa-csv-profile-") as tmp:
        result: dict[str, object] = {"data": meta, "startup": startup()}
        result.update(profile_load(folder, args.tables.split(","), Path(tmp)))
    print(f"{'table':<8}{'stage':<12}{'wall s':>9}{'cpu s':>9}")
    s = result["startup"]
    assert isinstance(s, dict)
    print(f"{'-':<8}{'startup':<12}{s['wall_s']:>9.2f}{s['cpu_s']:>9.2f}")
    for table in args.tables.split(","):
        stages = result[table]
        assert isinstance(stages, dict)
        for stage, t in stages.items():
            print(f"{table:<8}{stage:<12}{t['wall_s']:>9.2f}{t['cpu_s']:>9.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
