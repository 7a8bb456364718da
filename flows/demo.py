"""``kappa demo``: simulate a small market and run the nightly flow over it, night after night.

The simulator writes ``days`` + 1 sessions; the demo lays them out as a desk's drop folder would hold them
(``KAPPA_HOME/inbox/YYYY-MM-DD/``): each evening brings the day's quotes, trades and fills and the next
session's parent orders (known the evening before); the first evening also brings the daily history and
its own day's orders. The last simulated session is "tomorrow": only its orders are delivered, so the last
night schedules them. Then the ``backfill`` flow runs ``nightly`` over the days.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from data.home import KappaHome
from data.inbox import inbox_folder
from data.queries import calibrations_as_of, riskiest_order_schedule, table_rows
from kappa.errors import ParameterError
from schedule.replan import Replan, replan
from simulator import SimConfig, random_universe, write_dataset

if TYPE_CHECKING:
    from flows.baskets import BasketPlan
    from schedule import Schedule

DEMO_START = dt.date(2026, 11, 12)
"""A Thursday: the simulator's order spanning sessions 1-2 crosses the weekend, and all three spanning
orders complete within the nights the demo runs (see ``SimConfig.spanning_orders``)."""
TABLES_SHOWN = ("quotes", "trades", "orders", "fills", "daily", "quarantine", "calibrations", "correlations",
                "attribution", "schedules", "simulations", "runs")  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo produced: the simulated files, the nights run, and row counts per table."""

    data_dir: Path
    dates: list[dt.date]
    nights: list[object]
    table_rows: dict[str, int]
    calibration_vs_truth: pl.DataFrame
    report: Path | None
    simulation: pl.DataFrame | None = None
    basket: DemoBasket | None = None


BAD_ROWS: dict[str, list[str]] = {
    # a crossed quote, a quote before the open (extended hours: counted in skipped_rows, not quarantined),
    # an unparseable price
    "quotes": ["{sym},{day}T10:00:00-05:00,10.05,10.00,100,100", "{sym},{day}T09:00:00-05:00,10.00,10.02,100,100",
               "{sym},{day}T10:00:00-05:00,n/a,10.02,100,100"],
    # a print with no size, a repeated trade id
    "trades": ["{sym},{day}T10:00:00-05:00,10.01,0,XNYS,bad-1", "{sym},{day}T10:00:01-05:00,10.01,100,XNYS,bad-2",
               "{sym},{day}T10:00:02-05:00,10.01,100,XNYS,bad-2"],
    # a fill for an order nobody sent
    "fills": ["bad-fill-1,no-such-order,{day}T10:00:00-05:00,10.0,100,XNYS,0.05,remove,0"],
}  # fmt: skip
OUT_OF_MARKET_ROWS: dict[str, list[str]] = {
    # valid rows of a tape that are no prices of the market: loaded, and flagged by the cleaning rules
    "quotes": ["{sym},{day}T10:00:03-05:00,0.01,99999,100,100"],  # a stub quote (wide_spread)
    "trades": ["{sym},{day}T10:00:04-05:00,0.01,100,XNYS,late-1"],  # a print far below the bid (outside_quote)
}  # fmt: skip


def append_bad_rows(day_dir: Path) -> None:
    """Append a few rows that break the contract to a simulated day, so the demo shows the quarantine, and
    two out of the market, which the tape-cleaning rules flag."""
    day = day_dir.name
    with (day_dir / "quotes.csv").open() as f:
        f.readline()
        sym = f.readline().split(",", 1)[0]
    for table in BAD_ROWS.keys() | OUT_OF_MARKET_ROWS.keys():
        rows = BAD_ROWS.get(table, []) + OUT_OF_MARKET_ROWS.get(table, [])
        with (day_dir / f"{table}.csv").open("a") as f:
            f.writelines(r.format(sym=sym, day=day) + "\n" for r in rows)


def arrange_inbox(home: KappaHome, sim_dir: Path, dates: list[dt.date]) -> list[dt.date]:
    """Copy the simulated sessions ``dates`` into the drop folders of all but the last; returns the nights.

    Night k gets the day's quotes, trades and fills and the orders of session k + 1; the first night also
    gets the daily history and its own orders.
    """
    nights = dates[:-1]
    for k, day in enumerate(nights):
        src, dst = sim_dir / day.isoformat(), inbox_folder(home, day)
        if dst.exists():
            shutil.rmtree(dst)
        dst.mkdir(parents=True)
        for table in ("quotes", "trades", "fills"):
            shutil.copy(src / f"{table}.csv", dst / f"{table}.csv")
        if k == 0:
            shutil.copy(sim_dir / "daily.csv", dst / "daily.csv")
            shutil.copy(src / "orders.csv", dst / "orders.csv")
        shutil.copy(sim_dir / dates[k + 1].isoformat() / "orders.csv", dst / "orders-next-session.csv")
    return nights


def run_demo(
    home: KappaHome,
    *,
    symbols: int = 5,
    days: int = 5,
    history_days: int = 500,
    seed: int = 7,
    task_runner: Any = None,
) -> DemoResult:
    """Simulate ``symbols`` × ``days`` sessions (and a daily history), lay them out in the inbox and run
    the nightly flow over them (every night again on a rerun: the result is the same)."""
    from flows.backfill import backfill
    from flows.nightly import NightlyResult

    cfg = SimConfig(
        random_universe(symbols, seed=seed, quotes_per_day=2_000),
        DEMO_START,
        days + 1,
        history_days=history_days,
        seed=seed,
    )
    sim_dir = home.root / "demo"
    dates = write_dataset(cfg, sim_dir)
    nights = arrange_inbox(home, sim_dir, dates)
    append_bad_rows(inbox_folder(home, nights[0]))
    flow = backfill.with_options(task_runner=task_runner) if task_runner is not None else backfill
    results = flow(start=nights[0], end=nights[-1], home=str(home.root), redo=True, lookback_days=days)
    assert all(isinstance(r, NightlyResult) for r in results)
    calibrated = calibrations_as_of(home, nights[-1])
    simulation = simulate_flash_crash(home, calibrated)
    basket = basket_and_replan(home, calibrated)
    last = results[-1] if results else None
    return DemoResult(
        sim_dir, nights, list(results), table_rows(home, TABLES_SHOWN),
        _against_truth(calibrated, sim_dir / "truth.json"),
        Path(last.report) if last is not None and last.report else None, simulation, basket,
    )  # fmt: skip


def _against_truth(rows: pl.DataFrame, truth_file: Path) -> pl.DataFrame:
    """Calibrated σ, γ, η, ε beside the values the demo market was simulated with."""
    truth = json.loads(truth_file.read_text())["symbols"]
    t = pl.DataFrame(
        [(s, p["sigma_usd"], p["gamma"], p["eta"], p["epsilon_usd"]) for s, p in truth.items()],
        schema=["symbol", "sigma_usd_true", "gamma_true", "eta_true", "epsilon_usd_true"],
        orient="row",
    )
    cols = ("sigma_usd", "gamma", "eta", "epsilon_usd")
    est = rows.select("symbol", *cols, "gamma_se", "eta_source")
    return est.join(t, on="symbol").select("symbol", *[c for k in cols for c in (k, f"{k}_true")], "gamma_se",
                                           "eta_source").sort("symbol")  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoBasket:
    """The demo's basket (planned from the last night's calibrations and saved to ``schedules``) and the
    re-plan of one stored order schedule when σ jumps tenfold at mid-horizon (None without such a schedule)."""

    plan: BasketPlan
    schedule: Schedule | None
    replanned: Replan | None
    order_id: str | None


def basket_and_replan(home: KappaHome, calibrated: pl.DataFrame) -> DemoBasket | None:
    """Plan and save a basket of the first three calibrated names (buy the first, sell the others, 10 % of
    each one's ADV over one day in 13 periods of 30 minutes, λ = 1e-6/$), with ρ from the ``correlations``
    table, or, where it holds no pair of them, the simulator's truth (its names move independently: ρ = I);
    then re-plan the stored order schedule of :func:`data.queries.riskiest_order_schedule` from its middle
    period with σ × 10 (:func:`schedule.replan.replan`)."""
    import numpy as np

    from flows.baskets import BasketLine, BasketRequest, plan_basket, save_basket

    needed = ("adv_shares", "sigma_usd", "gamma", "eta", "epsilon_usd")
    ok = calibrated.filter(
        pl.all_horizontal(pl.col(c).is_not_null() & pl.col(c).is_not_nan() for c in needed)
    )
    names = ok.sort("symbol").head(3)
    if names.height < 2:
        return None
    lines = [
        BasketLine(r["symbol"], "buy" if k == 0 else "sell", max(100.0, round(0.1 * r["adv_shares"], -2)), {})
        for k, r in enumerate(names.iter_rows(named=True))
    ]
    req = BasketRequest(lines, 1.0, 13, 1e-6, as_of=names["as_of"][0])
    try:
        plan = plan_basket(home, req)
    except ParameterError as exc:
        if exc.name != "--correlation":
            raise
        plan = replace(plan_basket(home, replace(req, correlation=np.eye(len(lines)))),
                       correlation_source="the simulator's truth (independent names: ρ = I)")  # fmt: skip
    save_basket(home, plan)
    rows = riskiest_order_schedule(home)
    if not rows.height:
        return DemoBasket(plan, None, None, None)
    s = _stored_schedule(rows)
    p = s.params
    rest = replan(s, s.order.periods // 2, replace(p, sigma_usd=10 * p.sigma_usd))
    return DemoBasket(plan, s, rest, rows["order_id"][0])


def _stored_schedule(rows: pl.DataFrame) -> Schedule:
    """The :class:`schedule.Schedule` of one stored order schedule's rows (k = 0..N)."""
    from schedule import MarketParams, Order, schedule_from_holdings

    r = rows.row(0, named=True)
    nights = tuple(int(c or 0) for c in rows["nights"][1:])
    order = Order(r["shares"], r["side"], r["horizon_days"], r["periods"], r["drift_usd_per_day"],
                  nights if any(nights) else ())  # fmt: skip
    params = MarketParams(r["sigma_usd"], r["gamma"], r["eta"], r["epsilon_usd"],
                          sigma_overnight_usd=r["sigma_overnight_usd"] or 0.0)  # fmt: skip
    return schedule_from_holdings("optimal", rows["holdings_shares"].to_numpy(), order, params,
                                  risk_aversion=r["risk_aversion"], kappa_per_day=r["kappa_per_day"])  # fmt: skip


def simulate_flash_crash(home: KappaHome, calibrated: pl.DataFrame) -> pl.DataFrame | None:
    """Simulate (and save to ``simulations``) the static optimum against the adaptive one through a flash
    crash, from the first calibrated symbol with σ, γ, η and ε: a buy of 5 % of its ADV over one session in
    13 periods, λ such that κT ≈ 2 (λ = η·(2/T)²/σ²), σ × 10 from the end of period 6, 2,000 paths.
    Returns the saved rows (``None`` when no symbol has every parameter)."""
    from flows.simulations import SimulationSettings, run_simulation, save_simulation, simulation_rows
    from schedule.requests import ScheduleRequest
    from schedule.simulation import Shock

    usable = calibrated.drop_nulls(["sigma_usd", "gamma", "eta", "epsilon_usd"]).filter(
        pl.col("sigma_usd") > 0
    )
    if not usable.height:
        return None
    row = usable.sort("symbol").row(0, named=True)
    adv = row.get("adv_shares") or 1e6
    req = ScheduleRequest(
        shares=float(round(0.05 * adv, -2)) or 100.0, side="buy", horizon_days=1.0, periods=13,
        risk_aversion=row["eta"] * 4.0 / row["sigma_usd"] ** 2, symbol=row["symbol"], as_of=row["as_of"],
    )  # fmt: skip
    settings = SimulationSettings(("optimal", "adaptive"), paths=2_000, seed=7, shock=Shock(6, 10.0))
    result = run_simulation(None, req, settings, row)
    run_id = save_simulation(home, result)
    return simulation_rows(result, run_id, dt.datetime.now()).select(
        "symbol", "strategy", "shares", "model_expected_cost_usd", "model_std_usd", "mean_cost_usd",
        "mean_cost_se_usd", "std_cost_usd", "objective_usd",
    ).with_columns(pl.col("^.*_usd$").round(0))  # fmt: skip
