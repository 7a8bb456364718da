"""Benchmark `kappa ingest` on simulated market data: wall time, rows/s and peak memory.

Usage::

    python -m benchmarks.ingest --quotes 20000000          # ~20 M quotes, ~4 M trades, 2,000 symbols
    python -m benchmarks.ingest --quotes 1000000 --runs 3

Data are generated once by the simulator (``simulator.market``) and cached under ``benchmarks/.cache``. Each
load runs the real CLI in a fresh process into a fresh home; peak RSS is that process's ``ru_maxrss``.
Beside it, a floor: DuckDB alone converting the same CSV to Parquet with no validation (what any loader
must at least pay to read the text and write the lake).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from benchmarks.config import CACHE, DAY, RESULTS
from simulator import SimConfig, random_universe, simulate_days

QUOTES_PER_SYMBOL = 10_000


def dataset(quotes: int, seed: int = 1) -> tuple[Path, Path, dict[str, int]]:
    """Simulated quotes and trades CSVs (integer-ns timestamps) of about ``quotes`` quotes on one day."""
    symbols = max(1, quotes // QUOTES_PER_SYMBOL)
    folder = CACHE / f"q{quotes}-s{symbols}-seed{seed}"
    qpath, tpath, meta = folder / "quotes.csv", folder / "trades.csv", folder / "meta.json"
    if meta.exists():
        return qpath, tpath, json.loads(meta.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    # 8,000 quote updates + ~2,000 trades (each followed by a quote) per symbol
    universe = random_universe(symbols, seed=seed, quotes_per_day=8_000, adv_scale=0.5)
    counts = {"symbols": symbols, "quotes": 0, "trades": 0}
    with qpath.open("wb") as qf, tpath.open("wb") as tf:
        for start in range(0, symbols, 100):
            chunk = universe[start : start + 100]
            (day,) = simulate_days(SimConfig(chunk, DAY, 1, orders_per_symbol_day=0, seed=seed + start))
            q = day.quotes.with_columns(pl.col("ts").cast(pl.Int64))
            t = day.trades.with_columns(pl.col("ts").cast(pl.Int64))
            q.write_csv(qf, include_header=start == 0)
            t.write_csv(tf, include_header=start == 0)
            counts["quotes"] += q.height
            counts["trades"] += t.height
    meta.write_text(json.dumps(counts))
    return qpath, tpath, counts


def _run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GiB) of ``cmd`` run in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def _floor_cmd(csv: Path, out: Path) -> list[str]:
    code = (
        "import duckdb; con = duckdb.connect();"
        f"con.execute(\"COPY (SELECT * FROM read_csv('{csv}')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)\")"
    )
    return [sys.executable, "-c", code]


def bench(quotes: int, runs: int) -> dict[str, object]:
    qpath, tpath, counts = dataset(quotes)
    results: dict[str, object] = {"data": counts, "runs": runs}
    for table, path in (("quotes", qpath), ("trades", tpath)):
        rows = counts[table]
        walls, rss, floors = [], [], []
        for _ in range(runs):
            home = Path(tempfile.mkdtemp(prefix="kappa-bench-"))
            try:
                w, m = _run(
                    [sys.executable, "-m", "flows.cli", "ingest", table, str(path), "--home", str(home)]
                )
                walls.append(w)
                rss.append(m)
                fw, _ = _run(_floor_cmd(path, home / "floor.parquet"))
                floors.append(fw)
            finally:
                shutil.rmtree(home, ignore_errors=True)
        med, floor = statistics.median(walls), statistics.median(floors)
        results[table] = {
            "rows": rows,
            "file_gib": path.stat().st_size / 2**30,
            "wall_s_median": med,
            "wall_s_all": walls,
            "rows_per_s": rows / med,
            "peak_rss_gib": max(rss),
            "floor_duckdb_csv_to_parquet_s": floor,
            "ratio_to_floor": med / floor,
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quotes", type=int, default=20_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    t0 = time.perf_counter()
    qpath, _, counts = dataset(args.quotes)
    print(f"data: {counts} ({time.perf_counter() - t0:.1f} s to generate or load from {qpath.parent})")
    res = bench(args.quotes, args.runs)
    res["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    print(
        f"{'table':<8}{'rows':>14}{'GiB':>7}{'wall s':>9}{'rows/s':>14}{'peak GiB':>10}{'floor s':>9}{'/floor':>8}"
    )
    for table in ("quotes", "trades"):
        r = res[table]
        assert isinstance(r, dict)
        print(
            f"{table:<8}{r['rows']:>14,}{r['file_gib']:>7.2f}{r['wall_s_median']:>9.1f}{r['rows_per_s']:>14,.0f}"
            f"{r['peak_rss_gib']:>10.2f}{r['floor_duckdb_csv_to_parquet_s']:>9.1f}{r['ratio_to_floor']:>8.2f}"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"ingest-{args.quotes}.json"
    out.write_text(json.dumps(res, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
