"""``kappa demo``: simulate a small market, load it into Kappa and summarise what landed.

Later stages (calibration, schedules, attribution, the report) hook into :func:`run_demo` as they arrive.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from data.home import KappaHome
from data.ingest import LoadReport, Progress, ingest
from data.simulator import SimConfig, random_universe, write_dataset
from data.sql import first_row
from data.store import reader
from flows.attribute import attribute, summary
from flows.calibrate import calibrate
from flows.report import report

DEMO_START = dt.date(2026, 11, 16)
INPUT_TABLES = ("quotes", "trades", "orders", "fills")


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo produced: where the simulated files are, the loads, and row counts per table."""

    data_dir: Path
    dates: list[dt.date]
    loads: list[LoadReport]
    table_rows: dict[str, int]
    calibration_vs_truth: pl.DataFrame
    attribution_summary: str
    report: Path


BAD_ROWS: dict[str, list[str]] = {
    # a crossed quote, a quote before the open, an unparseable price
    "quotes": ["{sym},{day}T10:00:00-05:00,10.05,10.00,100,100", "{sym},{day}T09:00:00-05:00,10.00,10.02,100,100",
               "{sym},{day}T10:00:00-05:00,n/a,10.02,100,100"],
    # a print with no size, a repeated trade id
    "trades": ["{sym},{day}T10:00:00-05:00,10.01,0,XNYS,bad-1", "{sym},{day}T10:00:01-05:00,10.01,100,XNYS,bad-2",
               "{sym},{day}T10:00:02-05:00,10.01,100,XNYS,bad-2"],
    # a fill for an order nobody sent
    "fills": ["bad-fill-1,no-such-order,{day}T10:00:00-05:00,10.0,100,XNYS,0.05,remove,0"],
}  # fmt: skip


def append_bad_rows(day_dir: Path) -> None:
    """Append a few rows that break the contract to a simulated day, so the demo shows the quarantine."""
    day = day_dir.name
    with (day_dir / "quotes.csv").open() as f:
        f.readline()
        sym = f.readline().split(",", 1)[0]
    for table, rows in BAD_ROWS.items():
        with (day_dir / f"{table}.csv").open("a") as f:
            f.writelines(r.format(sym=sym, day=day) + "\n" for r in rows)


def run_demo(
    home: KappaHome,
    *,
    symbols: int = 5,
    days: int = 5,
    history_days: int = 500,
    seed: int = 7,
    progress: Progress | None = None,
) -> DemoResult:
    """Simulate ``symbols`` × ``days`` sessions (plus a daily history) under ``home/demo`` and ingest them.

    The simulated files sit in the nightly inbox layout (``YYYY-MM-DD/quotes.csv`` ...) with ``truth.json``,
    the parameters the market was generated with.
    """
    cfg = SimConfig(
        random_universe(symbols, seed=seed, quotes_per_day=2_000),
        DEMO_START,
        days,
        history_days=history_days,
        seed=seed,
    )
    data_dir = home.root / "demo"
    dates = write_dataset(cfg, data_dir)
    append_bad_rows(data_dir / dates[0].isoformat())
    loads: list[LoadReport] = []
    if history_days:
        loads.append(ingest(home, "daily", [data_dir / "daily.csv"], progress=progress))
    for table in INPUT_TABLES:
        files = [data_dir / d.isoformat() / f"{table}.csv" for d in dates]
        loads.append(ingest(home, table, files, progress=progress))
    if len(dates) > 1:  # what a pre-trade model had the night before the last session: judged by attribution
        calibrate(home, dates[-2], lookback_days=days - 1)
    calibrated = calibrate(home, dates[-1], lookback_days=days).rows
    attributed = attribute(home, dates[-1])
    report_files = report(home, dates[-1])
    with reader(home) as con:
        counts = {}
        for t in (
            "quotes",
            "trades",
            "orders",
            "fills",
            "daily",
            "quarantine",
            "calibrations",
            "attribution",
            "runs",
        ):
            row = first_row(con, f"SELECT count(*) FROM {t}")
            counts[t] = int(row[0]) if row else 0
    return DemoResult(
        data_dir, dates, loads, counts, _against_truth(calibrated, data_dir / "truth.json"),
        summary(attributed.rows), report_files.html,
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
