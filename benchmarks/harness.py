"""The performance harness: a whole night at each size, stage by stage, beside pandas and the floor.

Usage::

    python -m benchmarks.harness                          # small, medium and large, 3 runs each
    python -m benchmarks.harness --sizes xl --runs 1      # a real-market-sized day (330 M quotes)

For each size (:mod:`benchmarks.datasets`: generated once, cached) and each run, every variant runs in a
fresh process on a fresh copy of the size's base home, so its peak RSS is its own:

``nightly``
    The ``nightly`` Prefect flow (ingest → calibrate → attribute → schedules → report) on the thread-pool
    task runner, against a Prefect server the harness starts once (its start-up is not timed).
``plain``
    The same steps called in a row without Prefect (:func:`benchmarks.flows.run_plain_nightly`); Prefect's
    share of the night is (nightly − plain) / nightly.
``stages``
    Kappa's steps one after another, each timed: ingest per table; calibration batch by batch with each
    stage timed by :class:`benchmarks.stopwatch.StageClock` (GARCH on a pool of every core, waited for
    so that it is timed alone); attribution; the pending orders' schedules; the report.
``pandas``
    :mod:`benchmarks.pandas_way`.
``floor``
    :mod:`benchmarks.floor`.

Wall times are medians over ``--runs``; the table goes to stdout, everything to
``benchmarks/results/harness-<size>.json``. Timings are measured here, never asserted in tests.

Every variant runs as on a machine where Python keeps the bytecode of what it imports (its default), as in
:mod:`benchmarks.csv_day`: the installed packages and Kappa's are byte-compiled before the first run
(:func:`benchmarks.csv_day.compile_bytecode`, a no-op once done) and ``PYTHONDONTWRITEBYTECODE`` is not
passed on. Without it each variant's process, and each process it spawns, compiles Kappa's modules from
source inside the clock, while every installed package arrives compiled.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.config import BATCH_SYMBOLS, CACHE, DAY, HISTORY_DAYS, REPO, RESULTS
from benchmarks.datasets import SIZES, Dataset, dataset, fresh_home
from benchmarks.rss import ChildrenRss, own_peak_rss_gib

VARIANTS = ("nightly", "plain", "stages", "pandas", "floor")


# ---------------------------------------------------------------------------------------------- variants


def run_stages(data: Dataset, work: Path) -> dict[str, float]:
    """Kappa's steps one after another, each timed."""
    import arch  # noqa: F401  (imports before the clock, as the pandas way's)
    import numpy as np
    import statsmodels.api  # noqa: F401

    import flows.attribute  # noqa: F401
    from benchmarks.stopwatch import StageClock
    from calibration.volatility import garch_sigma
    from data.calendar import exchange_calendar
    from data.home import KappaHome
    from data.ingest import ingest
    from data.lake.files import reading_lake
    from data.results import Results, write_results
    from data.step_inputs import read_pending_orders
    from data.store import recorded_run
    from flows import attribute as att
    from flows import calibrate as cal
    from flows.garch_pool import single_threaded_blas
    from flows.report import report
    from flows.schedules import order_schedules

    exchange_calendar()
    kh = KappaHome.resolve(fresh_home(data, work / "home"))
    t: dict[str, float] = {}
    for table in ("quotes", "trades", "orders", "fills"):  # the drop folder's load order
        t0 = time.perf_counter()
        ingest(kh, table, data.files(table))
        t[f"ingest_{table}"] = time.perf_counter() - t0
    clock = StageClock()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(os.cpu_count(), mp_context=ctx, initializer=single_threaded_blas) as pool:
        walk = 50 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 300)))
        list(pool.map(garch_sigma, [walk] * 8))  # workers started, and arch imported, before the clock

        def eager(fn, xs):  # type: ignore[no-untyped-def]
            return iter(list(pool.map(fn, xs, chunksize=8)))

        t0 = time.perf_counter()
        with recorded_run(kh, "calibrate", {"as_of": DAY}) as run_id, reading_lake(kh):
            with clock.stage("plan"):
                plan = cal.plan_calibration(
                    kh, DAY, lookback_days=1, garch_days=HISTORY_DAYS, batch_symbols=BATCH_SYMBOLS
                )
            parts = [cal.calibrate_batch(b, eager, clock.stage) for b in plan.batches]
            with clock.stage("write"):
                calibrations = cal.finish_calibration(plan, parts)
                write_results(kh, run_id, Results(calibrations=calibrations, calibration_as_of=DAY))
        t["calibrate"] = time.perf_counter() - t0
    t.update({f"calibrate_{k}": v for k, v in clock.seconds.items()})
    t0 = time.perf_counter()
    with recorded_run(kh, "attribute", {"date": DAY}) as run_id, reading_lake(kh):
        batches = att.plan_attribution(kh, DAY, batch_symbols=BATCH_SYMBOLS)
        rows = att.join_rows([att.attribute_batch(b) for b in batches])
        write_results(kh, run_id, Results(attribution=rows, attribution_date=DAY))
    t["attribution"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pending = read_pending_orders(kh, DAY)
    made = order_schedules(pending, calibrations, "bench")
    t["schedules"] = time.perf_counter() - t0
    t["schedules_orders"] = float(pending.height - len(made.skipped))
    t0 = time.perf_counter()
    report(kh, DAY)
    t["report"] = time.perf_counter() - t0
    return t


def run_nightly(data: Dataset, work: Path, prefect: bool) -> dict[str, float]:
    """The whole night: the Prefect flow, or its steps called in a row."""
    from benchmarks.flows import run_flow_nightly, run_plain_nightly

    home = fresh_home(data, work / "home")
    run = run_flow_nightly if prefect else run_plain_nightly
    return run(home, "threads", BATCH_SYMBOLS, str(data.inbox))


def run_pandas(data: Dataset, work: Path) -> dict[str, float]:
    import pandas as pd
    import statsmodels.api  # noqa: F401  (imports before the clock)

    from benchmarks import pandas_way as pw

    t = pw.ingest_pandas(data, work)
    t.update(pw.calibrate_pandas(data, work))
    t["attribution"] = pw.attribute_pandas(work)
    daily = pd.read_parquet(data.folder / "base" / "daily.parquet")
    calib = daily.groupby("symbol")["close"].agg(lambda c: c.diff().std()).rename("sigma_usd").reset_index()
    calib = calib.assign(eta=1e-7, gamma=1e-8)  # the loop's cost does not depend on the values
    t["schedules"] = pw.schedules_pandas(work, calib)
    return t


def run_floor(data: Dataset, work: Path) -> dict[str, float]:
    import polars as pl

    from benchmarks import floor as fl

    (work / "tmp").mkdir()
    t = fl.ingest_floor(data, work)
    t.update(fl.market_floor(work))
    t["garch"] = fl.garch_floor(data)
    pending = pl.read_parquet(data.files("orders")).with_columns(
        ((pl.col("end_ts") - pl.col("arrival_ts")).dt.total_nanoseconds() / 2.34e13).alias("horizon_days"),
        sigma_usd=pl.lit(0.5),
        eta=pl.lit(1e-7),
        gamma=pl.lit(1e-8),
    )
    t["schedules"] = fl.schedules_floor(pending)
    t["attribution"], rows = fl.attribution_floor(work)
    t["report"] = fl.report_floor(rows, work)
    return t


def child(variant: str, size: str, work: Path) -> dict[str, float]:
    """One variant in this process: its seconds, this process's peak RSS and its children's (GiB)."""
    data = dataset(size)
    with ChildrenRss() as children:
        if variant in ("nightly", "plain"):
            t = run_nightly(data, work, prefect=variant == "nightly")
        else:
            t = {"stages": run_stages, "pandas": run_pandas, "floor": run_floor}[variant](data, work)
    t["peak_rss_gib"] = own_peak_rss_gib()
    t["children_peak_rss_gib"] = children.peak / 2**30
    return t


# ---------------------------------------------------------------------------------------------- driver


def _spawn(variant: str, size: str, env: dict[str, str]) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix=f"kappa-bench-{variant}-", dir=CACHE))
    code = (
        "import json; from pathlib import Path; from benchmarks.harness import child;"
        f"t = child({variant!r}, {size!r}, Path({str(work)!r}));"
        "print(json.dumps(t))"
    )
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         cwd=REPO, env=env)  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    os.sync()  # the run's files are gone from the disk too before the next run starts
    if out.returncode:
        raise SystemExit(f"{variant} at {size} failed:\n{out.stderr[-4000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - t0
    return result


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _sum(m: dict[str, float], *keys: str) -> float:
    return sum(m.get(k, 0.0) for k in keys)


def comparison(data: Dataset, med: dict[str, dict[str, float]]) -> list[dict[str, object]]:
    """One row per stage: Kappa, pandas and floor seconds, rows and the ratios."""
    k, p, f, meta = med["stages"], med["pandas"], med["floor"], data.meta
    market = meta["quotes"] + meta["trades"]
    kappa_ingest = ("ingest_quotes", "ingest_trades", "ingest_orders", "ingest_fills")
    rows: list[tuple[str, float, float | None, float | None, int]] = [
        ("ingest", _sum(k, *kappa_ingest), _sum(p, "ingest_quotes", "ingest_trades", "ingest_orders_fills"),
         _sum(f, "ingest_quotes", "ingest_trades", "ingest_orders_fills"), market + meta["orders"] + meta["fills"]),
        ("read lake (batches)", k["calibrate_read"], p["read"], None, market),
        ("as-of join (Lee-Ready signs)", k["calibrate_signs"], p["signs"], f["asof"], meta["trades"]),
        ("5-minute bars", k["calibrate_bars"], p["bars"], None, meta["quotes"]),
        ("realized σ (RV and two-scales)", k["calibrate_realized"], p["realized"], None, meta["quotes"]),
        ("5-minute realized variance (bars + σ)", _sum(k, "calibrate_bars", "calibrate_realized"),
         _sum(p, "bars", "realized"), f["bars_rv"], meta["quotes"]),
        ("γ/η regressions", _sum(k, "calibrate_gamma", "calibrate_eta"), _sum(p, "gamma", "eta"),
         f["regressions"], meta["trades"] + meta["fills"]),
        ("GARCH(1,1)", k["calibrate_garch"], p["garch"], f["garch"], meta["daily"]),
        ("calibration plan, facts, write", _sum(k, "calibrate_plan", "calibrate_facts", "calibrate_write"),
         None, None, meta["symbols"]),
        ("schedules", k["schedules"], p["schedules"], f["schedules"], int(k["schedules_orders"])),
        ("attribution", k["attribution"], p["attribution"], f["attribution"], meta["fills"]),
        ("report", k["report"], None, f["report"], meta["orders"]),
    ]  # fmt: skip
    out: list[dict[str, object]] = []
    for stage, ks, ps, fs, n in rows:
        out.append({"stage": stage, "kappa_s": ks, "pandas_s": ps, "floor_s": fs, "rows": n,
                    "rows_per_s": n / ks if ks else None})  # fmt: skip
    return out


def night(data: Dataset, med: dict[str, dict[str, float]]) -> dict[str, float]:
    """The whole night: Kappa's flow against the sum of the pandas steps and of the floors."""
    p, f = med["pandas"], med["floor"]
    pandas_keys = ("ingest_quotes", "ingest_trades", "ingest_orders_fills", "read", "signs", "bars", "realized",
                   "gamma", "eta", "garch", "attribution", "schedules")  # fmt: skip
    floor_keys = ("ingest_quotes", "ingest_trades", "ingest_orders_fills", "read", "asof", "bars_rv",
                  "regressions", "garch", "schedules", "attribution", "report")  # fmt: skip
    flow, plain = med["nightly"]["nightly"], med["plain"]["nightly"]
    pandas_total = _sum(p, *pandas_keys) + med["stages"]["report"]  # no pandas report: Kappa's counted
    floor_total = _sum(f, *floor_keys)
    return {
        "kappa_nightly_s": flow,
        "kappa_plain_s": plain,
        "kappa_nightly_cpu_s": med["nightly"].get("nightly_cpu_s", math.nan),
        "kappa_plain_cpu_s": med["plain"].get("nightly_cpu_s", math.nan),
        "prefect_share": (flow - plain) / flow,
        "pandas_s": pandas_total,
        "floor_s": floor_total,
        "kappa_over_floor": flow / floor_total,
        "pandas_over_kappa": pandas_total / flow,
        "peak_rss_gib": med["nightly"]["peak_rss_gib"],
        "children_peak_rss_gib": med["nightly"]["children_peak_rss_gib"],
        "pandas_peak_rss_gib": p["peak_rss_gib"],
        "floor_peak_rss_gib": f["peak_rss_gib"],
    }


def _fmt(x: object, spec: str = ".2f") -> str:
    return "—" if x is None else format(x, spec)


def print_size(name: str, data: Dataset, table: list[dict[str, object]], whole: dict[str, float]) -> None:
    m = data.meta
    print(f"\n## {name}: {m['symbols']:,} symbols, {m['quotes']:,} quotes, {m['trades']:,} trades, "
          f"{m['orders']:,} orders, {m['fills']:,} fills, {m['daily']:,} daily rows")  # fmt: skip
    print(f"{'stage':<40}{'kappa s':>9}{'pandas s':>10}{'floor s':>9}{'pandas/kappa':>14}{'kappa/floor':>13}"
          f"{'rows/s':>13}")  # fmt: skip
    for r in table:
        ks, ps, fs = r["kappa_s"], r["pandas_s"], r["floor_s"]
        assert isinstance(ks, float)
        ratio_p = ps / ks if isinstance(ps, float) and ks else None
        ratio_f = ks / fs if isinstance(fs, float) and fs else None
        print(f"{r['stage']:<40}{ks:>9.2f}{_fmt(ps):>10}{_fmt(fs):>9}{_fmt(ratio_p, '.1f'):>14}"
              f"{_fmt(ratio_f, '.2f'):>13}{_fmt(r['rows_per_s'], ',.0f'):>13}")  # fmt: skip
    w = whole
    print(f"{'whole nightly (Prefect flow)':<40}{w['kappa_nightly_s']:>9.2f}{w['pandas_s']:>10.2f}"
          f"{w['floor_s']:>9.2f}{w['pandas_over_kappa']:>14.1f}{w['kappa_over_floor']:>13.2f}")  # fmt: skip
    print(f"CPU (user + system, the night's process and its waited-for children; not the Prefect server's): "
          f"{w['kappa_nightly_cpu_s']:.2f} s, without Prefect {w['kappa_plain_cpu_s']:.2f} s")  # fmt: skip
    print(f"nightly without Prefect {w['kappa_plain_s']:.2f} s: Prefect's share {100 * w['prefect_share']:.1f} %;"
          f" peak RSS {w['peak_rss_gib']:.2f} GiB (+ its child processes {w['children_peak_rss_gib']:.2f} GiB);"
          f" pandas {w['pandas_peak_rss_gib']:.2f} GiB, floor {w['floor_peak_rss_gib']:.2f} GiB")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="small,medium,large", help=f"comma-separated of {', '.join(SIZES)}")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    from benchmarks.csv_day import compile_bytecode
    from data.home import KappaHome
    from flows.server import ensure_server, stop_server

    variants = args.variants.split(",")
    compile_bytecode()
    server_home = KappaHome.resolve(CACHE / "prefect-server")
    os.environ.setdefault("PREFECT_HOME", str(server_home.root / "prefect"))
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    api_url = ensure_server(server_home)[0].url  # the cache's Prefect server, stopped at the end
    try:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PREFECT_API_URL=api_url, PREFECT_LOGGING_LEVEL="WARNING")
        for size in args.sizes.split(","):
            data = dataset(size)
            runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
            for i in range(args.runs):
                for v in variants if i % 2 == 0 else variants[::-1]:
                    runs[v].append(_spawn(v, size, env))
                    print(
                        f"{size} run {i + 1} {v}: {runs[v][-1]['process_s']:.1f} s",
                        file=sys.stderr,
                        flush=True,
                    )
            med = {v: _median(rs) for v, rs in runs.items()}
            report: dict[str, object] = {
                "size": size, "data": data.meta, "runs": runs, "median": med,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()},
                "date": dt.date.today().isoformat(),
            }  # fmt: skip
            if set(VARIANTS) <= set(variants):
                table, whole = comparison(data, med), night(data, med)
                report.update(stages=table, nightly=whole)
                print_size(size, data, table, whole)
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / f"harness-{size}.json").write_text(json.dumps(report, indent=2) + "\n")
    finally:
        stop_server(server_home)


if __name__ == "__main__":
    main()
