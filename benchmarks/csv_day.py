"""A CSV day loaded and calibrated: Kappa's whole commands against one plain pandas script.

Usage::

    python -m benchmarks.csv_day                   # 5 M quotes, 1 M trades, ~1,000 orders, ~20 k fills
    python -m benchmarks.csv_day --runs 3 --only kappa

The day (:func:`dataset`) is simulated once and cached under ``benchmarks/.cache/csvday-…``: one folder of
the simulator's CSV files (:func:`simulator.files.write_dataset`, ISO-8601 timestamps with the exchange's
UTC offset, nanoseconds), 500 symbols of 8,000 quote updates and about 2,000 trades (each followed by a
quote), 2.2 own orders a symbol of 10-30 child fills, and ``daily.csv``: 500 sessions of daily closes per
symbol before the day, which GARCH needs. The daily history is part of the loaded data on both sides: Kappa
loads it with a fifth ``kappa ingest`` (the four tables of the day, then ``daily``), the pandas script reads
the same ``daily.csv``.

Kappa's side is five ``kappa ingest`` commands and ``kappa calibrate --lookback-days 1``, each a fresh
process into a fresh home, wall times summed; the home's Prefect server (:mod:`flows.server`) is started
before the clock, as it is running for every command but a home's first (its cold start is
``python -m benchmarks.server``'s figure), and stopped after. The pandas side (:mod:`benchmarks.csv_day_pandas`) is one
fresh process doing the same work. Both are timed from outside (wall seconds, and the children's user +
system CPU seconds).

Both sides run as on a machine where Python keeps the bytecode of what it imports (its default): the
installed packages and Kappa's are byte-compiled first (:func:`compile_bytecode`, a no-op once done), and
``PYTHONDONTWRITEBYTECODE`` is not passed on. Without it every process compiles every module it imports
from source, which costs each Kappa command seconds of CPU and the pandas script once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.config import CACHE, DAY, HISTORY_DAYS, REPO, RESULTS

SYMBOLS = 500
QUOTES_PER_SYMBOL = 8_000  # quote updates; the simulator adds one after every trade
ADV_SCALE = 0.435  # about 2,000 trades a symbol (benchmarks.datasets.TRADES_PER_ADV_SCALE)
ORDERS_PER_SYMBOL = 2.2  # about 1,100 orders
CHILDREN = (10, 30)  # fills an order: about 20 on average, so about 20 k fills
TABLES = ("quotes", "trades", "orders", "fills", "daily")
VERSION = 1  # bump when the files change


def dataset(seed: int = 3) -> tuple[Path, dict[str, int]]:
    """The cached CSV day: its folder (``quotes.csv``, ``trades.csv``, ``orders.csv``, ``fills.csv``,
    ``daily.csv``) and row counts; simulated on first use."""
    import polars as pl

    from simulator import SimConfig, random_universe
    from simulator.files import write_dataset

    folder = CACHE / f"csvday-v{VERSION}-s{SYMBOLS}-seed{seed}"
    meta_path = folder / "meta.json"
    if meta_path.exists():
        return folder, json.loads(meta_path.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    universe = random_universe(SYMBOLS, seed=seed, quotes_per_day=QUOTES_PER_SYMBOL, adv_scale=ADV_SCALE)
    cfg = SimConfig(
        universe, DAY, 1, orders_per_symbol_day=ORDERS_PER_SYMBOL, history_days=HISTORY_DAYS, seed=seed,
        children=CHILDREN, spanning_orders=(),
    )  # fmt: skip
    out = folder / "sim"
    (day,) = write_dataset(cfg, out, fmt="csv", ts_format="iso")
    for table in TABLES[:4]:
        (out / day.isoformat() / f"{table}.csv").rename(folder / f"{table}.csv")
    (out / "daily.csv").rename(folder / "daily.csv")
    shutil.rmtree(out)
    meta = {"symbols": SYMBOLS}
    for table in TABLES:
        meta[table] = pl.scan_csv(folder / f"{table}.csv").select(pl.len()).collect().item()
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return folder, meta


KAPPA_PACKAGES = ("kappa", "data", "calibration", "schedule", "tca", "simulator", "reports", "flows")


def compile_bytecode() -> None:
    """Byte-compile the environment's installed packages and Kappa's (what a first run leaves behind)."""
    import compileall
    import sysconfig

    for folder in (sysconfig.get_paths()["purelib"], *(str(REPO / p) for p in KAPPA_PACKAGES)):
        compileall.compile_dir(folder, quiet=1, workers=os.cpu_count() or 1)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(cmd: list[str]) -> dict[str, float]:
    """Wall seconds and CPU seconds (user + system, the process and its children) of ``cmd`` in a fresh
    process; its standard output as ``stdout``."""
    w0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - w0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr[-3000:]}")
    return {"wall_s": wall, "stdout": stdout}  # type: ignore[dict-item]


def _timed(cmd: list[str]) -> dict[str, object]:
    """:func:`_run` with the CPU seconds of the child (``wait4``'s rusage, children included)."""
    before = os.times()
    out = _run(cmd)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"wall_s": out["wall_s"], "cpu_s": cpu, "stdout": out["stdout"]}


def kappa_commands(folder: Path, home: Path) -> list[tuple[str, list[str]]]:
    """The commands that load the day into a fresh ``home`` and calibrate it: ``daily`` (the history GARCH
    reads), quotes, trades, orders, fills (after their orders), then ``kappa calibrate --lookback-days 1``."""
    kappa = [sys.executable, "-m", "flows.cli"]
    cmds = [
        (f"ingest {t}", [*kappa, "ingest", t, str(folder / f"{t}.csv"), "--home", str(home)])
        for t in ("daily", "quotes", "trades", "orders", "fills")
    ]
    cmds.append(("calibrate", [*kappa, "calibrate", "--as-of", DAY.isoformat(), "--lookback-days", "1",
                               "--home", str(home)]))  # fmt: skip
    return cmds


def bench(runs: int, only: str | None = None) -> dict[str, object]:
    """``runs`` runs of each side (pandas first, then Kappa's commands); medians of wall and CPU seconds."""
    folder, meta = dataset()
    compile_bytecode()
    result: dict[str, object] = {"data": meta, "runs": runs}
    if only in (None, "pandas"):
        walls, cpus, stages = [], [], []
        for _ in range(runs):
            with tempfile.TemporaryDirectory(prefix="kappa-csv-day-") as tmp:
                r = _timed([sys.executable, "-m", "benchmarks.csv_day_pandas", str(folder), f"{tmp}/out.csv"])
            walls.append(float(r["wall_s"]))  # type: ignore[arg-type]
            cpus.append(float(r["cpu_s"]))  # type: ignore[arg-type]
            stages.append(json.loads(str(r["stdout"]).strip().splitlines()[-1]))
        result["pandas"] = {
            "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "wall_s_all": walls,
            "stages_s": stages[walls.index(statistics.median(walls))] if runs % 2 else stages[0],
        }  # fmt: skip
    if only in (None, "kappa"):
        per: dict[str, dict[str, list[float]]] = {}
        for _ in range(runs):
            with tempfile.TemporaryDirectory(prefix="kappa-csv-day-") as tmp:
                home = Path(tmp) / "home"
                server = [sys.executable, "-m", "flows.cli", "server"]
                _run(
                    [*server, "start", "--home", str(home)]
                )  # running already, as for a user's second command
                try:
                    for name, cmd in kappa_commands(folder, home):
                        r = _timed(cmd)
                        got = per.setdefault(name, {"wall_s": [], "cpu_s": []})
                        got["wall_s"].append(float(r["wall_s"]))  # type: ignore[arg-type]
                        got["cpu_s"].append(float(r["cpu_s"]))  # type: ignore[arg-type]
                finally:
                    _run([*server, "stop", "--home", str(home)])
        commands = {
            name: {"wall_s": statistics.median(v["wall_s"]), "cpu_s": statistics.median(v["cpu_s"]),
                   "wall_s_all": v["wall_s"]}
            for name, v in per.items()
        }  # fmt: skip
        result["kappa"] = {
            "commands": commands,
            "wall_s": sum(c["wall_s"] for c in commands.values()),  # type: ignore[misc]
            "cpu_s": sum(c["cpu_s"] for c in commands.values()),  # type: ignore[misc]
        }
    if "pandas" in result and "kappa" in result:
        p, k = result["pandas"], result["kappa"]
        assert isinstance(p, dict) and isinstance(k, dict)
        result["ratio_wall"] = k["wall_s"] / p["wall_s"]
        result["ratio_cpu"] = k["cpu_s"] / p["cpu_s"]
        result["target"] = 0.5
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--only", choices=("pandas", "kappa"), default=None)
    ap.add_argument("--out", default="csv-day.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    folder, meta = dataset()
    print(f"data: {meta} ({time.perf_counter() - t0:.0f} s to generate or find at {folder})", flush=True)
    res = bench(args.runs, args.only)
    res["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    print(f"{'':<18}{'wall s':>9}{'cpu s':>9}")
    if "pandas" in res:
        p = res["pandas"]
        assert isinstance(p, dict)
        print(f"{'pandas script':<18}{p['wall_s']:>9.1f}{p['cpu_s']:>9.1f}")
    if "kappa" in res:
        k = res["kappa"]
        assert isinstance(k, dict)
        for name, c in k["commands"].items():
            print(f"{'kappa ' + name:<18}{c['wall_s']:>9.1f}{c['cpu_s']:>9.1f}")
        print(f"{'kappa total':<18}{k['wall_s']:>9.1f}{k['cpu_s']:>9.1f}")
    if "ratio_wall" in res:
        print(f"{'kappa / pandas':<18}{res['ratio_wall']:>9.2f}{res['ratio_cpu']:>9.2f}   (target <= 0.5)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / args.out
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
