"""Benchmark `kappa calibrate` on a simulated market day, beside the same steps written the pandas way.

Usage::

    python -m benchmarks.calibrate                       # 2,000 symbols: ~20 M quotes, ~4 M trades, 500-day history
    python -m benchmarks.calibrate --symbols 200 --runs 1

A simulated day (with own orders and fills) and 500 sessions of daily history are generated once, loaded
with `kappa ingest` into a cached home under ``benchmarks/.cache``, and then each variant runs in a fresh
process (so its peak RSS is its own):

- ``kappa``: the stages of :func:`calibration.window.calibrate_window` one by one, GARCH fits in a
  process pool of ``os.cpu_count()`` workers, then the whole calibration step as the ``calibrate`` flow runs
  it (plan, batches of 250 symbols over a process pool, one write; :mod:`benchmarks.flows` adds Prefect);
- ``pandas``: :mod:`benchmarks.pandas_baseline` on the same frames (merge_asof, groupby, statsmodels and
  arch loops over symbols, serial GARCH).

Wall times are medians over ``--runs``; results go to stdout and ``benchmarks/results/calibrate-N.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.config import DAY, HISTORY_DAYS, REPO, RESULTS
from benchmarks.datasets import simulated_home

STAGES = ("read", "signs", "bars", "realized", "gamma", "eta", "garch")


def _window(home: Path):
    from data.home import KappaHome
    from data.step_inputs import read_window

    return read_window(KappaHome.resolve(home), DAY, 1, HISTORY_DAYS)


def run_kappa(home: Path) -> dict[str, float]:
    """Kappa's stages, timed one by one, then the whole calibrate step."""
    import statsmodels.api  # noqa: F401  (imported before timing, as the pandas baseline does)

    from benchmarks.flows import plain_calibrate
    from calibration.bars import bucket_mids, impact_buckets
    from calibration.impact import child_rates, kyle_lambda_by_symbol, temporary_impact
    from calibration.permanent import lagged_flow, permanent_impact_by_symbol
    from calibration.signs import lee_ready_signs
    from calibration.volatility import garch_sigma, realized_sigma
    from data.calendar import TradingClock

    t: dict[str, float] = {}
    t0 = time.perf_counter()
    w = _window(home)
    t["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    signed = lee_ready_signs(w.trades, w.quotes, w.sessions)
    t["signs"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    mids = bucket_mids(w.quotes, w.sessions)
    t["bars"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    realized_sigma(mids, w.quotes)
    t["realized"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    kyle_lambda_by_symbol(impact_buckets(mids, signed, w.sessions))
    permanent_impact_by_symbol(lagged_flow(mids, signed, w.sessions))
    t["gamma"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    children = child_rates(w.fills, w.quotes, w.sessions, TradingClock())
    for (_,), g in children.partition_by("symbol", as_dict=True).items():
        temporary_impact(g, 1.0, 1e6)
    t["eta"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    closes = [g.sort("date")["close"].to_numpy() for _, g in w.daily.group_by("symbol")]
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(garch_sigma, closes, chunksize=16))
    t["garch"] = time.perf_counter() - t0
    t["stages_total"] = sum(t[s] for s in STAGES)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("spawn")) as pool:
        plain_calibrate(home, pool, batch_symbols=250)
    t["calibrate_step"] = time.perf_counter() - t0
    return t


def run_pandas(home: Path) -> dict[str, float]:
    """The pandas baseline on the same window (its read is Kappa's, not timed as pandas work)."""
    from benchmarks.pandas_baseline import calibrate_pandas

    w = _window(home)
    timings, _ = calibrate_pandas(w.quotes, w.trades, w.sessions, w.fills, w.daily)
    return timings


def _child(variant: str, home: Path) -> dict[str, float]:
    code = (
        "import json, resource, sys; from pathlib import Path; from benchmarks.calibrate import run_kappa, run_pandas;"
        f"t = run_{variant}(Path({str(home)!r}));"
        "t['peak_rss_gib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20;"
        "print(json.dumps(t))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         cwd=REPO)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--symbols", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    t0 = time.perf_counter()
    home = simulated_home(args.symbols)
    w = _window(home)
    data = {
        "symbols": args.symbols,
        "quotes": w.quotes.height,
        "trades": w.trades.height,
        "fills": w.fills.height,
        "orders": w.fills["order_id"].n_unique(),
        "daily_rows": w.daily.height,
    }
    del w
    print(f"data: {data} (ready in {time.perf_counter() - t0:.0f} s, cached under {home.parent})")
    runs = {v: [_child(v, home) for _ in range(args.runs)] for v in ("kappa", "pandas")}
    med = {v: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for v, rs in runs.items()}
    k, p = med["kappa"], med["pandas"]
    print(f"{'stage':<16}{'kappa s':>10}{'pandas s':>10}{'pandas/kappa':>14}")
    for stage in STAGES:
        ps = p.get(stage, float("nan"))
        print(f"{stage:<16}{k[stage]:>10.2f}{ps:>10.2f}{ps / k[stage]:>14.1f}")
    print(
        f"{'stages total':<16}{k['stages_total']:>10.2f}{p['total']:>10.2f}{p['total'] / k['stages_total']:>14.1f}"
    )
    print(
        f"{'calibrate step':<16}{k['calibrate_step']:>10.2f}   (read + all estimators + write, `kappa calibrate`)"
    )
    print(f"{'peak RSS GiB':<16}{k['peak_rss_gib']:>10.2f}{p['peak_rss_gib']:>10.2f}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"calibrate-{args.symbols}.json"
    out.write_text(json.dumps({"data": data, "runs": runs, "median": med, "cpus": os.cpu_count()}, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
