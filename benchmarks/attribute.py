"""Benchmark `kappa attribute` and `kappa report` on the simulated day of the calibration benchmark.

Usage::

    python -m benchmarks.attribute                 # 2,000 symbols: ~20 M quotes, ~5 M trades, ~1,000 orders
    python -m benchmarks.attribute --symbols 100 --runs 3

The data are those of :func:`benchmarks.datasets.simulated_home` (generated once and cached under
``benchmarks/.cache``); each command runs ``--runs`` times in a fresh process (wall time and peak RSS of
that process, medians reported). Results go to stdout and ``benchmarks/results/attribute-N.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks.config import DAY, RESULTS
from benchmarks.datasets import simulated_home


def _run(args: list[str]) -> tuple[float, float]:
    """Wall time (s) and peak RSS (GiB) of one command in a fresh process (``wait4`` gives its own rusage)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args[0]} failed")
    return wall, usage.ru_maxrss / 2**20  # KiB → GiB


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--symbols", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    home = simulated_home(args.symbols)
    h = ["--home", str(home)]
    results: dict[str, dict[str, float]] = {}
    for name, cmd in (("attribute", ["attribute", "--date", str(DAY), *h]),
                      ("report", ["report", "--date", str(DAY), *h])):  # fmt: skip
        runs = [_run(cmd) for _ in range(args.runs)]
        results[name] = {
            "wall_s": statistics.median(r[0] for r in runs),
            "peak_rss_gib": max(r[1] for r in runs),
        }
    out = subprocess.run(
        [sys.executable, "-m", "flows.cli", "sql", "SELECT count(*), sum(fills) FROM attribution", "--format",
         "csv", *h], check=True, capture_output=True, text=True,
    ).stdout.splitlines()[1].split(",")  # fmt: skip
    data = {"symbols": args.symbols, "orders": int(out[0]), "fills": int(float(out[1]))}
    print(f"data: {data}")
    for name, r in results.items():
        print(f"{name:<10}{r['wall_s']:>8.2f} s  peak RSS {r['peak_rss_gib']:.2f} GiB")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"attribute-{args.symbols}.json"
    path.write_text(json.dumps({"data": data, "median": results, "cpus": os.cpu_count()}, indent=2))
    print(f"written {path}")


if __name__ == "__main__":
    main()
