"""The benchmark's simulated market days, generated once per size and cached under ``benchmarks/.cache``.

Sizes (issue targets; the simulator's Poisson counts land within a few per cent):

========  =======  ==========  =========  ==================================================
size      symbols  quotes      trades     what it stands for
========  =======  ==========  =========  ==================================================
small          50       1 M      200 k    a smoke test
medium        500      20 M        4 M    a desk's universe
large       2,000     100 M       20 M    the Russell 2000 or so; the targets are set here
xl          8,000     330 M       70 M    one day of US NBBO quotes and trades
========  =======  ==========  =========  ==================================================

Every size also has 500 sessions of daily history per symbol (GARCH) and at least 1,000 own orders on the
benchmark day with their fills (about 12 fills an order), plus as many pending orders for the next session
(the day's orders moved one session later), which the nightly schedules.

A size's folder holds::

    inbox/            the evening's drop folder: quotes-*.parquet, trades-*.parquet, fills-*.parquet,
                      orders-next.parquet (Parquet, UTC nanosecond timestamps; 100 symbols a file)
    base/daily.parquet, base/orders.parquet    what was loaded before the evening
    base-home/        a Kappa home with base/ loaded; each run works on a fresh copy of it
    meta.json         row counts
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from benchmarks.config import CACHE, DAY, FILES_TIMEZONE, HISTORY_DAYS, NEXT_DAY

MIN_ORDERS = 1_100  # ≥ 1,000 orders with fills after the simulator's Poisson draw
CHUNK_SYMBOLS = 100
FORMAT_VERSION = 1  # bump when the files or the schema they are loaded under change


@dataclass(frozen=True, slots=True)
class Size:
    """A benchmark size: symbols and the mean quotes and trades per symbol of the day."""

    name: str
    symbols: int
    quotes_per_symbol: int
    trades_per_symbol: int

    @property
    def quotes(self) -> int:
        return self.symbols * self.quotes_per_symbol

    @property
    def trades(self) -> int:
        return self.symbols * self.trades_per_symbol


SIZES = {
    s.name: s
    for s in (
        Size("small", 50, 20_000, 4_000),
        Size("medium", 500, 40_000, 8_000),
        Size("large", 2_000, 50_000, 10_000),
        Size("xl", 8_000, 41_250, 8_750),
    )
}
# The simulator's trades per symbol per unit of ``adv_scale`` (its mean trade size is fixed), measured.
TRADES_PER_ADV_SCALE = 4_600


@dataclass(frozen=True, slots=True)
class Dataset:
    """A generated size: its folders and row counts."""

    size: Size
    folder: Path
    meta: dict[str, int]

    @property
    def inbox(self) -> Path:
        return self.folder / "inbox"

    @property
    def base_home(self) -> Path:
        return self.folder / "base-home"

    def files(self, table: str) -> list[Path]:
        """The drop folder's files of ``table`` (``orders``: the next session's)."""
        return sorted(self.inbox.glob(f"{table}-*.parquet"))


def _next_session_orders(orders: pl.DataFrame) -> pl.DataFrame:
    """The day's orders moved to the next session (same clock times), with their own ids."""
    shift = pl.duration(days=(NEXT_DAY - DAY).days)
    return orders.with_columns(
        ("N" + pl.col("order_id")).alias("order_id"),
        *(pl.col(c) + shift for c in ("arrival_ts", "end_ts", "decision_ts")),
    )


def dataset(name: str, seed: int = 5) -> Dataset:
    """The cached data of size ``name``, generated (and loaded into its base home) on first use."""
    from data.home import KappaHome
    from data.ingest import ingest
    from simulator import SimConfig, daily_history, random_universe, simulate_days

    size = SIZES[name]
    folder = CACHE / f"{name}-v{FORMAT_VERSION}-seed{seed}"
    meta_path = folder / "meta.json"
    if meta_path.exists():
        return Dataset(size, folder, json.loads(meta_path.read_text()))
    shutil.rmtree(folder, ignore_errors=True)
    inbox, base = folder / "inbox", folder / "base"
    inbox.mkdir(parents=True)
    base.mkdir()
    adv_scale = size.trades_per_symbol / TRADES_PER_ADV_SCALE
    universe = random_universe(
        size.symbols,
        seed=seed,
        quotes_per_day=size.quotes_per_symbol - size.trades_per_symbol,  # a quote follows every trade
        adv_scale=adv_scale,
    )
    orders_per_symbol = max(0.5, MIN_ORDERS / size.symbols)
    meta = {"symbols": size.symbols, "quotes": 0, "trades": 0, "orders": 0, "fills": 0}
    orders = []
    for start in range(0, size.symbols, CHUNK_SYMBOLS):
        chunk = universe[start : start + CHUNK_SYMBOLS]
        cfg = SimConfig(chunk, DAY, 1, orders_per_symbol_day=orders_per_symbol, seed=seed + start)
        (day,) = simulate_days(cfg)
        for table in ("quotes", "trades", "fills"):
            frame = getattr(day, table)
            frame.write_parquet(inbox / f"{table}-{start:05d}.parquet")
            meta[table] += frame.height
        orders.append(day.orders)
        meta["orders"] += day.orders.height
    today = pl.concat(orders)
    today.write_parquet(base / "orders.parquet")
    _next_session_orders(today).write_parquet(inbox / "orders-next.parquet")
    daily = daily_history(universe, DAY, HISTORY_DAYS, seed=seed)
    daily.write_parquet(base / "daily.parquet")
    meta["daily"] = daily.height
    home = KappaHome.resolve(folder / "base-home")
    home.save_config(timezone=FILES_TIMEZONE)
    ingest(home, "daily", [base / "daily.parquet"])
    ingest(home, "orders", [base / "orders.parquet"])
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return Dataset(size, folder, meta)


def fresh_home(data: Dataset, target: Path) -> Path:
    """A copy of the size's base home at ``target`` (the evening's load has not happened yet).

    Synced to disk before it returns, so that writing the copy back does not compete with the clock.
    """
    from data.home import KappaHome

    shutil.copytree(data.base_home, target)
    KappaHome.resolve(target).save_config(timezone=FILES_TIMEZONE)  # also for base homes cached before it
    os.sync()
    return target


def simulated_home(symbols: int, seed: int = 2) -> Path:
    """A Kappa home with one simulated day of ``symbols`` symbols (own orders and fills) and their daily
    history, loaded; cached under ``benchmarks/.cache`` (:mod:`benchmarks.calibrate`, ``attribute``, ``flows``)."""
    from data.home import KappaHome
    from data.ingest import ingest
    from simulator import SimConfig, daily_history, random_universe, simulate_days

    folder = CACHE / f"calibrate-s{symbols}-seed{seed}"
    home = folder / "home"
    if (folder / "ready").exists():
        return home
    universe = random_universe(symbols, seed=seed, quotes_per_day=8_000, adv_scale=0.5)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[Path]] = {t: [] for t in ("quotes", "trades", "orders", "fills")}
    for start in range(0, symbols, 100):
        chunk = universe[start : start + 100]
        (day,) = simulate_days(SimConfig(chunk, DAY, 1, orders_per_symbol_day=0.5, seed=seed + start))
        for table in files:
            frame = getattr(day, table)
            if frame.height:
                path = folder / f"{table}-{start:05d}.parquet"
                frame.write_parquet(path)
                files[table].append(path)
    daily_history(universe, DAY, HISTORY_DAYS, seed=seed).write_parquet(folder / "daily.parquet")
    kh = KappaHome.resolve(home)
    kh.save_config(timezone=FILES_TIMEZONE)
    ingest(kh, "daily", [folder / "daily.parquet"])
    for table, paths in files.items():
        ingest(kh, table, paths)
    (folder / "ready").write_text("ok")
    return home


def main() -> None:
    import argparse
    import time

    ap = argparse.ArgumentParser(description="generate and cache the benchmark's simulated days")
    ap.add_argument("sizes", nargs="+", choices=list(SIZES))
    args = ap.parse_args()
    for name in args.sizes:
        t0 = time.perf_counter()
        d = dataset(name)
        print(f"{name}: {d.meta} in {time.perf_counter() - t0:.0f} s at {d.folder}", flush=True)


if __name__ == "__main__":
    main()
