"""Throughput of each input format: records/s and peak memory of a whole load, beside Kappa's own CSV.

Usage::

    python -m benchmarks.formats --records 1000000                # every format, 1 M records each
    python -m benchmarks.formats --records 10000000 --formats taq  # does memory stay flat as files grow?

Each format's files are written once by its writer (``benchmarks/vendor/<format>.py``, realistic symbols,
prices, sizes and conditions, sorted as the vendor sorts) and cached under ``benchmarks/.cache``. Each load
runs in a fresh process into a fresh home, as ``kappa ingest market`` (or ``desk`` for FIX) does: read, turn
into the contract's rows (the NBBO built from exchange quotes, the book's level 1, ...), validate, and commit
to the lake or the tables. Peak RSS is that process's ``ru_maxrss``. The ``kappa`` row loads the same number
of records of Kappa's own CSV quotes (``benchmarks.ingest``'s simulated day).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.config import CACHE, RESULTS

FORMATS = ("kappa", "taq", "wrds", "lobster", "dbn", "fix")
SHARED_FILES = ("lobster", "dbn", "fix")
"""Formats whose one file holds the rows of two tables."""


def files(fmt: str, records: int) -> list[Path]:
    """The cached input files of ``fmt`` holding about ``records`` records (written on first use)."""
    folder = CACHE / "formats" / f"{fmt}-{records}"
    done = folder / "files.json"
    if done.exists():
        return [folder / n for n in json.loads(done.read_text())]
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "kappa":
        from benchmarks.ingest import dataset

        qpath, _, _ = dataset(records)
        paths = [qpath]
    else:
        paths = importlib.import_module(f"benchmarks.vendor.{fmt}").write(folder, records)
    done.write_text(
        json.dumps([str(p.relative_to(folder)) if p.is_relative_to(folder) else str(p) for p in paths])
    )
    return [p if p.is_absolute() else folder / p for p in paths]


def load(paths: list[str], group: str) -> dict[str, object]:
    """Load ``paths`` into a fresh home as ``kappa ingest <group>`` does (in this process); what it did."""
    import resource

    from data.home import KappaHome
    from data.inbox import group_files
    from data.ingest import ingest

    tables = ("orders", "fills") if group == "desk" else ("quotes", "trades")
    with tempfile.TemporaryDirectory() as tmp:
        home = KappaHome.resolve(Path(tmp) / "home")
        start = time.perf_counter()
        by_table, ignored = group_files([Path(p) for p in paths], tables, by_header=True)
        if ignored:
            raise SystemExit(f"cannot load: {ignored}")
        reports = [
            ingest(home, t, ps, timezone="America/New_York", max_quarantined=1.0)
            for t, ps in by_table.items()
        ]
        wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "loads": [
            {"table": r.table, "read": r.rows_read, "loaded": r.rows_loaded, "quarantined": r.rows_quarantined,
             "skipped": r.rows_skipped}
            for r in reports
        ],
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }  # fmt: skip


def run(fmt: str, records: int) -> dict[str, object]:
    """One format's row: its files loaded in a fresh process."""
    paths = files(fmt, records)
    group = "desk" if fmt == "fix" else "market"
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.formats", "--child", group, *map(str, paths)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    got = json.loads(out.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in paths)
    # the files' records: a file that feeds two tables (LOBSTER, DBN mbp-1, FIX) is read once per table and
    # counted once; files of one table each (TAQ, WRDS: quotes and trades files) add up
    per_table = [d["read"] for d in got["loads"]]
    n = max(per_table) if fmt in SHARED_FILES else sum(per_table)
    return {"format": fmt, "records": records, "file_mib": size / 2**20, "records_read": n,
            "records_per_s": n / got["wall_s"], **got}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(load(args.child[1:], args.child[0])))
        return
    rows = [run(f, args.records) for f in args.formats.split(",")]
    print("| format | records | file MiB | wall s | records/s | peak RSS GiB | loaded | skipped |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        loads = r["loads"]
        assert isinstance(loads, list)
        loaded = "+".join(f"{d['loaded']:,}" for d in loads)
        skipped = "+".join(f"{d['skipped']:,}" for d in loads)
        print(f"| {r['format']} | {r['records_read']:,} | {r['file_mib']:.0f} | {r['wall_s']:.1f} | "
              f"{r['records_per_s']:,.0f} | {r['peak_rss_gib']:.2f} | {loaded} | {skipped} |")  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"formats-{args.records}.json"
    out.write_text(json.dumps({"machine": platform.machine(), "cpus": os.cpu_count(), "rows": rows},
                              indent=2, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
