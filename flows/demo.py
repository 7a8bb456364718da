"""``kappa demo``: simulate a small market, load it into Kappa and summarise what landed.

Later stages (calibration, schedules, attribution, the report) hook into :func:`run_demo` as they arrive.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from data.home import KappaHome
from data.ingest import LoadReport, Progress, ingest
from data.simulator import SimConfig, random_universe, write_dataset
from data.store import reader

DEMO_START = dt.date(2026, 11, 16)
INPUT_TABLES = ("quotes", "trades", "orders", "fills")


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo produced: where the simulated files are, the loads, and row counts per table."""

    data_dir: Path
    dates: list[dt.date]
    loads: list[LoadReport]
    table_rows: dict[str, int]


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
    loads: list[LoadReport] = []
    if history_days:
        loads.append(ingest(home, "daily", [data_dir / "daily.csv"], progress=progress))
    for table in INPUT_TABLES:
        files = [data_dir / d.isoformat() / f"{table}.csv" for d in dates]
        loads.append(ingest(home, table, files, progress=progress))
    with reader(home) as con:
        counts = {}
        for t in ("quotes", "trades", "orders", "fills", "daily", "quarantine", "runs"):
            row = con.execute(f"SELECT count(*) FROM {t}").fetchone()
            counts[t] = int(row[0]) if row else 0
    return DemoResult(data_dir, dates, loads, counts)
