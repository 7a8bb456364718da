"""Benchmark a flow command against the home's managed Prefect server: ``kappa calibrate`` on a 3-symbol day,
whole commands, beside the same calibration called as plain functions.

Usage::

    python -m benchmarks.server                  # 3 symbols, 3 runs
    python -m benchmarks.server --symbols 3 --runs 1

Each run, on a copy of the cached home of :func:`benchmarks.datasets.simulated_home` (one simulated day and 500
sessions of daily history):

- ``plain``: a fresh ``python`` process importing Kappa and calling the ``calibrate`` flow's steps as plain
  functions (:func:`benchmarks.flows.plain_calibrate`: plan, batches over a thread pool, one write);
- ``first``: ``kappa calibrate --as-of DAY --lookback-days 1`` with no server running for the home: the
  command starts the home's Prefect server (cold: its database migrations included) and runs the flow;
- ``second``: the same command again: the server is reused;
- ``ephemeral``: the same command under ``KAPPA_PREFECT_SERVER=ephemeral`` (a temporary server as
  Prefect's, started and stopped by the command: what every flow command did before the managed server).

Wall seconds are medians over ``--runs``, with the CPU seconds (user + system) of the command's process and
its children (the detached server's are not counted: it outlives the command). The server is stopped at the
end of each run. Results go to stdout and ``benchmarks/results/server-N.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.config import BATCH_SYMBOLS, DAY, HISTORY_DAYS, REPO, RESULTS
from benchmarks.datasets import simulated_home

VARIANTS = ("plain", "first", "second", "ephemeral")
PLAIN = (
    "import os, sys; from concurrent.futures import ThreadPoolExecutor; from pathlib import Path;"
    "from benchmarks.flows import plain_calibrate;"
    "pool = ThreadPoolExecutor(os.cpu_count() or 1);"
    "n = plain_calibrate(Path(sys.argv[1]), pool, {batch}); pool.shutdown(); print(n)"
)


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``cmd`` to its end: wall and CPU seconds (the process and its waited-for children)."""
    cpu0, t0 = _children_cpu_s(), time.perf_counter()
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, _children_cpu_s() - cpu0
    if res.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return {"wall_s": wall, "cpu_s": cpu}


def run_once(source: Path, batch_symbols: int) -> dict[str, dict[str, float]]:
    """One run of every variant on a fresh copy of ``source`` (the server stopped at the end)."""
    from data.home import KappaHome
    from flows.server import stop_server

    folder = Path(tempfile.mkdtemp(prefix="kappa-bench-server-"))
    home = folder / "home"
    shutil.copytree(source, home, ignore=shutil.ignore_patterns("prefect"))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "KAPPA_PREFECT_SERVER"
    }
    env["PREFECT_LOGGING_LEVEL"] = "WARNING"
    kappa = [sys.executable, "-m", "flows.cli", "calibrate", "--as-of", str(DAY), "--lookback-days", "1",
             "--garch-days", str(HISTORY_DAYS), "--batch-symbols", str(batch_symbols), "--home", str(home)]  # fmt: skip
    out: dict[str, dict[str, float]] = {}
    try:
        out["plain"] = _timed([sys.executable, "-c", PLAIN.format(batch=batch_symbols), str(home)], env)
        out["ephemeral"] = _timed(kappa, {**env, "KAPPA_PREFECT_SERVER": "ephemeral"})
        shutil.rmtree(home / "prefect", ignore_errors=True)  # the first command meets no server, no database
        out["first"] = _timed(kappa, env)
        out["second"] = _timed(kappa, env)
    finally:
        stop_server(KappaHome.resolve(home))
        shutil.rmtree(folder, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch-symbols", type=int, default=BATCH_SYMBOLS)
    args = ap.parse_args()
    source = simulated_home(args.symbols)
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    for i in range(args.runs):
        for variant, t in run_once(source, args.batch_symbols).items():
            runs[variant].append(t)
        print(f"run {i + 1}: " + "  ".join(f"{v} {runs[v][-1]['wall_s']:.1f} s" for v in VARIANTS),
              file=sys.stderr, flush=True)  # fmt: skip
    med = {v: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for v, rs in runs.items()}
    ratio = {v: med[v]["wall_s"] / med["plain"]["wall_s"] for v in VARIANTS}
    report = {
        "symbols": args.symbols, "runs": runs, "median": med, "over_plain_wall": ratio,
        "target_second_over_plain": 3.0,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_avg_1m_at_end": os.getloadavg()[0]},
    }  # fmt: skip
    print(f"{'variant':<11}{'wall s':>8}{'CPU s':>8}{'× plain':>9}")
    for v in VARIANTS:
        print(f"{v:<11}{med[v]['wall_s']:>8.2f}{med[v]['cpu_s']:>8.2f}{ratio[v]:>9.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"server-{args.symbols}.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
