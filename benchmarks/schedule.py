"""Benchmark schedules: one order, a batch of 10,000, the frontier, the CLI, beside a generic optimiser.

Usage::

    python -m benchmarks.schedule               # 10,000 schedules per batch, 5 runs of each timing
    python -m benchmarks.schedule --batch 1000 --runs 3

Measured, each a median over ``--runs``:

- ``one_*``: one optimal schedule (exact discrete closed form; the power-law Newton optimiser), its E and V;
- ``batch_*``: ``--batch`` schedules with random orders and parameters, one after another in one process;
  ``batch_pending_s``: as many pending orders through the nightly's ``flows.schedules.order_schedules``
  (horizon in session time, N = round(78·T), E and V, the ``schedules`` rows as one frame);
- ``frontier_41``: the 41-point efficient frontier of one order;
- ``scipy_*``: the same optimum found the generic way, ``scipy.optimize.minimize`` (L-BFGS-B) on E + λV;
- ``cli_wall``: ``kappa schedule ... --json`` in a fresh process (interpreter start and imports included),
  and ``plan_compute``: the command's work once imported;
- ``sim_*``: ``kappa simulate``'s Monte Carlo (:func:`schedule.simulation.simulate_execution`), 10,000 paths
  of one order in 50 periods with 10 mids observed per period: the static optimum, the adaptive one, and
  the adaptive one through a 10× σ shock at period 25 (every path re-plans), and the paths per second.

Results go to stdout and ``benchmarks/results/schedule.json`` (``--simulation-only``: the ``sim_*`` figures
alone, to ``benchmarks/results/simulation.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import polars as pl

from benchmarks.config import DAY, NEXT_DAY, RESULTS
from kappa.units import BUCKETS_PER_SESSION

PAPER = ["--shares", "1e6", "--side", "sell", "--horizon-days", "1", "--periods", "78", "--risk-aversion", "1e-6",
         "--sigma", "0.95", "--eta", "2.5e-6", "--gamma", "2.5e-7", "--epsilon", "0.0625"]  # fmt: skip


def _median_s(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _random_orders(n: int, seed: int = 1) -> list[tuple[object, object, float]]:
    from schedule import MarketParams, Order, PowerLaw

    rng = np.random.default_rng(seed)
    out: list[tuple[object, object, float]] = []
    for _ in range(n):
        adv = float(rng.uniform(1e5, 2e7))
        sigma = float(rng.uniform(0.1, 5.0))
        eta = float(rng.uniform(0.05, 0.5)) * sigma / adv
        power = PowerLaw(float(rng.uniform(0.1, 1.0)), float(rng.uniform(0.4, 1.0)), adv)
        params = MarketParams(
            sigma, eta * float(rng.uniform(0.0, 0.5)), eta, float(rng.uniform(0.005, 0.05)), power
        )
        order = Order(
            float(rng.uniform(0.01, 0.3)) * adv, str(rng.choice(["buy", "sell"])), 1.0, BUCKETS_PER_SESSION
        )
        out.append((order, params, float(10 ** rng.uniform(-8, -4))))
    return out


def _pending(n: int, seed: int = 2) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` orders of the next session (random sizes, sides, windows and λ) and their symbols' calibrations."""
    import datetime as dt

    rng = np.random.default_rng(seed)
    symbols = [f"S{i:04d}" for i in range(2_000)]
    open_ = dt.datetime.combine(NEXT_DAY, dt.time(14, 30))  # the session after DAY, in UTC
    start = rng.uniform(0, 5.0, n)
    orders = pl.DataFrame(
        {
            "order_id": [f"o{i:05d}" for i in range(n)],
            "symbol": rng.choice(symbols, n),
            "side": rng.choice(["buy", "sell"], n),
            "quantity": rng.uniform(1e3, 1e5, n).round(),
            "arrival_ts": [open_ + dt.timedelta(hours=float(h)) for h in start],
            "end_ts": [
                open_ + dt.timedelta(hours=float(h + d))
                for h, d in zip(start, rng.uniform(0.5, 1.5, n), strict=True)
            ],
            "risk_aversion": 10 ** rng.uniform(-8, -5, n),
        }
    ).with_columns(pl.col("arrival_ts", "end_ts").cast(pl.Datetime("ns")))
    sigma = rng.uniform(0.1, 5.0, len(symbols))
    calibrations = pl.DataFrame(
        {
            "symbol": symbols,
            "as_of": DAY,
            "sigma_usd": sigma,
            "gamma": sigma * 1e-7,
            "eta": sigma * 1e-6,
            "epsilon_usd": rng.uniform(0.005, 0.05, len(symbols)),
        }
    )
    return orders, calibrations


def measure(batch: int, runs: int) -> dict[str, float]:
    from scipy.optimize import minimize

    from schedule import (
        MarketParams,
        Order,
        PowerLaw,
        efficient_frontier,
        expected_cost,
        frontier_risk_aversions,
        optimal_schedule,
        power_law_schedule,
        variance_usd2,
    )

    params = MarketParams(0.95, 2.5e-7, 2.5e-6, 0.0625, PowerLaw(0.3, 0.6, 5e6))
    o78, o390 = Order(1e6, "sell", 1.0, BUCKETS_PER_SESSION), Order(1e6, "sell", 1.0, 390)
    r: dict[str, float] = {}
    r["one_linear_n78_ms"] = (
        1e3 * _median_s(lambda: [optimal_schedule(o78, params, 1e-6) for _ in range(100)], runs) / 100
    )
    r["one_linear_n390_ms"] = (
        1e3 * _median_s(lambda: [optimal_schedule(o390, params, 1e-6) for _ in range(100)], runs) / 100
    )
    power_law_schedule(o78, params, 1e-6)  # imports scipy.linalg once
    r["one_power_n78_ms"] = (
        1e3 * _median_s(lambda: [power_law_schedule(o78, params, 1e-6) for _ in range(20)], runs) / 20
    )
    lams = frontier_risk_aversions(o78, params, 41, include=1e-6)
    r["frontier_41_ms"] = 1e3 * _median_s(lambda: efficient_frontier(o78, params, lams), runs)
    orders = _random_orders(batch)
    r["batch_linear_s"] = _median_s(lambda: [optimal_schedule(o, p, lam) for o, p, lam in orders], runs)  # type: ignore[arg-type]
    from flows.schedules import order_schedules

    pending, calibrations = _pending(batch)
    made = order_schedules(pending, calibrations, "bench")  # warm: the calendar is loaded once
    assert not made.skipped, made.skipped[:3]
    r["batch_pending_s"] = _median_s(lambda: order_schedules(pending, calibrations, "bench"), runs)
    r["batch_power_s"] = _median_s(
        lambda: [power_law_schedule(o, p, lam) for o, p, lam in orders], max(1, runs // 2)
    )  # type: ignore[arg-type]

    def scipy_solve(power: bool) -> float:
        def u(y: np.ndarray) -> float:
            x = np.concatenate(([1e6], y * 1e6, [0.0]))
            return (
                expected_cost(x, o78, params, power).total_usd + 1e-6 * variance_usd2(x, o78, params)
            ) / 1e6

        res = minimize(
            u, np.linspace(1, 0, 79)[1:-1], method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12}
        )
        return float(res.fun)

    r["scipy_linear_n78_ms"] = 1e3 * _median_s(lambda: scipy_solve(False), runs)
    r["scipy_power_n78_ms"] = 1e3 * _median_s(lambda: scipy_solve(True), runs)
    return r


def cli(runs: int) -> dict[str, float]:
    from flows.schedules import ScheduleRequest, plan_schedule

    cmd = [sys.executable, "-m", "flows.cli", "schedule", *PAPER, "--json"]
    wall = _median_s(lambda: subprocess.run(cmd, check=True, capture_output=True), runs)
    req = ScheduleRequest(shares=1e6, side="sell", horizon_days=1.0, periods=BUCKETS_PER_SESSION, risk_aversion=1e-6,
                          sigma_usd=0.95, eta=2.5e-6, gamma=2.5e-7, epsilon_usd=0.0625)  # fmt: skip
    plan_schedule(None, req)
    compute = _median_s(lambda: plan_schedule(None, req), runs)
    return {"cli_wall_s": wall, "plan_compute_ms": 1e3 * compute}


def simulation(runs: int, paths: int = 10_000, periods: int = 50) -> dict[str, float]:
    """Seconds for ``paths`` simulated executions of one order in ``periods`` periods, and paths per second."""
    from schedule import MarketParams, Order, optimal_schedule
    from schedule.simulation import Shock, simulate_execution

    s = optimal_schedule(Order(1e6, "sell", 1.0, periods), MarketParams(0.95, 2.5e-7, 2.5e-6, 0.0625), 1e-6)
    shock = Shock(periods // 2, 10.0)
    r: dict[str, float] = {}
    for name, kwargs in (("optimal", {}), ("adaptive", {"adaptive": True}),
                         ("adaptive_shock", {"adaptive": True, "shock": shock})):  # fmt: skip
        simulate_execution(s, 100, 0, **kwargs)  # type: ignore[arg-type]
        secs = _median_s(lambda kw=kwargs: simulate_execution(s, paths, 0, **kw), runs)  # type: ignore[arg-type]
        r[f"sim_{name}_s"] = secs
        r[f"sim_{name}_paths_per_s"] = paths / secs
    return r


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--simulation-only", action="store_true", help="only the sim_* figures")
    args = parser.parse_args()
    if args.simulation_only:
        sim = simulation(args.runs)
        for k, v in sim.items():
            print(f"{k:<28}{v:>12.4g}")
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / "simulation.json"
        out.write_text(json.dumps({"runs": args.runs, "cpus": os.cpu_count(), "median": sim}, indent=2))
        print(f"written {out}")
        return
    r = {**measure(args.batch, args.runs), **cli(args.runs), **simulation(args.runs)}
    for k, v in r.items():
        print(f"{k:<22}{v:>12.4g}")
    print(f"scipy / kappa (linear, N = 78): {r['scipy_linear_n78_ms'] / r['one_linear_n78_ms']:,.0f}×; "
          f"(power law): {r['scipy_power_n78_ms'] / r['one_power_n78_ms']:,.1f}×")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "schedule.json"
    out.write_text(
        json.dumps({"batch": args.batch, "runs": args.runs, "cpus": os.cpu_count(), "median": r}, indent=2)
    )
    print(f"written {out}")


if __name__ == "__main__":
    main()
