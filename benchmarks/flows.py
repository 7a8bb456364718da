"""Benchmark the Prefect flows' orchestration overhead: the ``calibrate`` and ``attribute`` flows against the
very same steps called without Prefect, on the same executor.

Usage::

    python -m benchmarks.flows                      # 2,000 symbols (the day of benchmarks.calibrate)
    python -m benchmarks.flows --symbols 200 --runs 1

Each variant runs in a fresh process on the cached home of :mod:`benchmarks.calibrate`:

- ``plain``: ``plan_*`` → ``calibrate_batch`` / ``attribute_batch`` over a ``concurrent.futures`` pool →
  ``finish`` → ``write_results``, no Prefect run (the steps are plain functions);
- ``flow``: the ``calibrate`` and ``attribute`` flows (:mod:`flows.calibrate`, :mod:`flows.attribute`) on
  the matching Prefect task runner, against Prefect's temporary server (started by a warm-up flow before the
  clock starts; its start-up time is reported apart).

With ``--nightly``, whole nights instead: the ``nightly`` flow against its steps called in a row (ingest of a
drop folder linking the cached inputs, calibrate, attribute, schedules, report), each run into a fresh home.

Overhead = (flow − plain) / flow, per runner. Results go to stdout and ``benchmarks/results/flows-*.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from pathlib import Path

from benchmarks.config import BATCH_SYMBOLS, DAY, HISTORY_DAYS, REPO, RESULTS
from benchmarks.datasets import simulated_home
from benchmarks.rss import ChildrenRss, cpu_seconds, own_peak_rss_gib

RUNNERS = ("threads", "processes")


def plain_calibrate(home: Path, pool: Executor, batch_symbols: int) -> int:
    """The ``calibrate`` flow's steps without Prefect: plan, batches over ``pool``, finish, one write."""
    from data.home import KappaHome
    from data.lake.files import reading_lake
    from data.results import Results, write_results
    from data.store import recorded_run
    from flows import calibrate as cal
    from flows.garch_pool import garch_pool

    kh = KappaHome.resolve(home)
    with recorded_run(kh, "calibrate", {"as_of": DAY}) as run_id, reading_lake(kh):
        plan = cal.plan_calibration(
            kh, DAY, lookback_days=1, garch_days=HISTORY_DAYS, batch_symbols=batch_symbols
        )
        symbols = sum(len(b.symbols) for b in plan.batches)
        on_threads = isinstance(pool, ThreadPoolExecutor)  # as the flow on its thread-pool runner: GARCH pool
        with garch_pool(symbols, (os.cpu_count() or 1) if on_threads else 0) as garch_map:
            parts = list(pool.map(partial(cal.calibrate_batch, garch_map=garch_map), plan.batches))
        rows = cal.finish_calibration(plan, parts)
        write_results(kh, run_id, Results(calibrations=rows, calibration_as_of=DAY))
    return rows.height


def plain_attribute(home: Path, pool: Executor, batch_symbols: int) -> int:
    """The ``attribute`` flow's steps without Prefect."""
    from data.home import KappaHome
    from data.lake.files import reading_lake
    from data.results import Results, write_results
    from data.store import recorded_run
    from flows import attribute as att

    kh = KappaHome.resolve(home)
    with recorded_run(kh, "attribute", {"date": DAY}) as run_id, reading_lake(kh):
        batches = att.plan_attribution(kh, DAY, batch_symbols=batch_symbols)
        rows = att.join_rows(list(pool.map(att.attribute_batch, batches)))
        write_results(kh, run_id, Results(attribution=rows, attribution_date=DAY))
    return rows.height


def run_plain(home: Path, runner: str, batch_symbols: int) -> dict[str, float]:
    """The flows' steps without Prefect, batches mapped over a thread or process pool."""
    import calibration.window  # noqa: F401  (imported before the clock, as the flow variant's are)
    import data.calendar
    import flows.attribute  # noqa: F401

    data.calendar.exchange_calendar()
    workers = os.cpu_count() or 1
    pool: Executor = (
        ThreadPoolExecutor(workers)
        if runner == "threads"  # spawned processes, as Prefect's: polars may deadlock in a forked child
        else ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    )
    t: dict[str, float] = {}
    with pool:
        t0 = time.perf_counter()
        t["symbols"] = float(plain_calibrate(home, pool, batch_symbols))
        t["calibrate"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        t["orders"] = float(plain_attribute(home, pool, batch_symbols))
        t["attribute"] = time.perf_counter() - t0
    return t


def run_flow(home: Path, runner: str, batch_symbols: int) -> dict[str, float]:
    """The ``calibrate`` and ``attribute`` flows on Prefect's ``runner`` task runner."""
    from data.home import KappaHome
    from flows.settings import prefect_environment

    kh = KappaHome.resolve(home)
    prefect_environment(kh)
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    t0 = time.perf_counter()
    from prefect import flow

    from flows.attribute import attribute
    from flows.calibrate import calibrate
    from flows.settings import task_runner

    @flow
    def warm_up() -> int:
        return 1

    warm_up()  # starts the temporary server
    t: dict[str, float] = {"server_start": time.perf_counter() - t0}
    t0 = time.perf_counter()
    calibrate.with_options(task_runner=task_runner(runner))(
        as_of=DAY, home=str(kh.root), lookback_days=1, garch_days=HISTORY_DAYS, batch_symbols=batch_symbols
    )
    t["calibrate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    attribute.with_options(task_runner=task_runner(runner))(
        date=DAY, home=str(kh.root), batch_symbols=batch_symbols
    )
    t["attribute"] = time.perf_counter() - t0
    return t


def inbox(symbols: int) -> Path:
    """A drop folder of the benchmark day: links to the cached input files of
    :func:`benchmarks.datasets.simulated_home`."""
    source = simulated_home(symbols).parent
    folder = source / "inbox"
    if not folder.exists():
        folder.mkdir()
        for f in sorted(source.glob("*.parquet")):
            (folder / f.name).symlink_to(f)
    return folder


def run_plain_nightly(home: Path, runner: str, batch_symbols: int, drop: str = "") -> dict[str, float]:
    """The nightly flow's steps without Prefect, into the fresh home ``home``."""
    import calibration.window  # noqa: F401  (imported before the clock, as the flow variant's are)
    import data.calendar
    import flows.attribute  # noqa: F401
    from data.home import KappaHome
    from data.inbox import ingest_inbox
    from data.queries import calibrations_as_of
    from data.step_inputs import read_pending_orders
    from flows.report import report
    from flows.schedules import order_schedules

    data.calendar.exchange_calendar()
    kh = KappaHome.resolve(home)
    pool = ThreadPoolExecutor(os.cpu_count() or 1)
    c0, t0 = cpu_seconds(), time.perf_counter()
    ingest_inbox(kh, Path(drop))
    with pool:
        plain_calibrate(home, pool, batch_symbols)
        plain_attribute(home, pool, batch_symbols)
    calibrations = calibrations_as_of(kh, DAY)
    order_schedules(read_pending_orders(kh, DAY), calibrations, "plain")
    report(kh, DAY)
    return {"nightly": time.perf_counter() - t0, "nightly_cpu_s": cpu_seconds() - c0}


def run_flow_nightly(home: Path, runner: str, batch_symbols: int, drop: str = "") -> dict[str, float]:
    """The nightly flow, into the fresh home ``home``."""
    from data.home import KappaHome
    from flows.settings import prefect_environment

    kh = KappaHome.resolve(home)
    prefect_environment(kh)
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    from prefect import flow

    from flows.nightly import nightly
    from flows.settings import task_runner

    @flow
    def warm_up() -> int:
        return 1

    warm_up()  # starts the temporary server
    c0, t0 = cpu_seconds(), time.perf_counter()
    nightly.with_options(task_runner=task_runner(runner))(
        date=DAY, home=str(kh.root), inbox=drop, lookback_days=1,
        garch_days=HISTORY_DAYS, batch_symbols=batch_symbols,
    )  # fmt: skip
    return {"nightly": time.perf_counter() - t0, "nightly_cpu_s": cpu_seconds() - c0}


def measured(variant: str, home: Path, runner: str, batch_symbols: int, drop: str = "") -> dict[str, float]:
    """``run_<variant>`` in this process, with its peak RSS and its child processes' (GiB)."""
    runs: dict[str, Callable[..., dict[str, float]]] = {
        "plain": run_plain, "flow": run_flow, "plain_nightly": run_plain_nightly, "flow_nightly": run_flow_nightly,
    }  # fmt: skip
    run = runs[variant]
    with ChildrenRss() as children:
        t = run(home, runner, batch_symbols, drop) if drop else run(home, runner, batch_symbols)
    return {**t, "peak_rss_gib": own_peak_rss_gib(), "children_peak_rss_gib": children.peak / 2**30}


def _child(variant: str, home: Path, runner: str, batch_symbols: int, drop: str = "") -> dict[str, float]:
    extra = f", {drop!r}" if drop else ""
    code = (
        "import json; from pathlib import Path; from benchmarks.flows import measured;"
        f"print(json.dumps(measured({variant!r}, Path({str(home)!r}), {runner!r}, {batch_symbols}{extra})))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = tempfile.mkdtemp(prefix="kappa-bench-prefect-")  # a fresh flow-run history
    env["KAPPA_PREFECT_SERVER"] = (
        "ephemeral"  # a temporary server per run, as measured before (not the home's)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         cwd=REPO, env=env)  # fmt: skip
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch-symbols", type=int, default=BATCH_SYMBOLS)
    ap.add_argument("--runners", default=",".join(RUNNERS), help="comma-separated: threads,processes")
    ap.add_argument("--nightly", action="store_true", help="whole nights (ingest included) into fresh homes")
    args = ap.parse_args()
    home = simulated_home(args.symbols)
    report: dict[str, object] = {"symbols": args.symbols, "batch_symbols": args.batch_symbols,
                                 "cpus": os.cpu_count(), "runs": args.runs}  # fmt: skip
    kinds = ("plain_nightly", "flow_nightly") if args.nightly else ("plain", "flow")
    steps = ("nightly",) if args.nightly else ("calibrate", "attribute")
    drop = str(inbox(args.symbols)) if args.nightly else ""
    for runner in args.runners.split(","):
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
        for i in range(args.runs):  # alternating, so neither variant always runs on a warmer machine
            for variant in kinds if i % 2 == 0 else kinds[::-1]:
                target = (
                    Path(tempfile.mkdtemp(prefix="kappa-bench-night-")) / "home" if args.nightly else home
                )
                runs[variant].append(_child(variant, target, runner, args.batch_symbols, drop))
                if args.nightly:
                    shutil.rmtree(target.parent, ignore_errors=True)
        for variant, rs in runs.items():
            med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            report[f"{variant}_{runner}"] = med
            print(
                f"{variant:13s} {runner:9s} " + "  ".join(f"{k} {v:.2f}" for k, v in med.items()), flush=True
            )
        plain, fl = report[f"{kinds[0]}_{runner}"], report[f"{kinds[1]}_{runner}"]
        assert isinstance(plain, dict) and isinstance(fl, dict)
        for step in steps:
            over = (fl[step] - plain[step]) / fl[step]
            report[f"overhead_{runner}_{step}"] = over
            print(
                f"overhead {runner} {step}: {100 * over:.1f} % ({fl[step]:.2f} s flow vs {plain[step]:.2f} s plain)"
            )
    RESULTS.mkdir(exist_ok=True)
    name = f"flows-{args.symbols}-{args.runners.replace(',', '-')}" + ("-nightly" if args.nightly else "")
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
