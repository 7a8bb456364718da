"""Benchmark start-up: the CPU time of ``kappa --help``, every command's ``--help`` and one schedule.

Usage::

    python -m benchmarks.startup            # 5 runs of each command, each in a fresh process
    python -m benchmarks.startup --runs 9
    python -m benchmarks.startup --before ../kappa-before    # and an older worktree (its .venv), interleaved

Each figure is the median over ``--runs`` of the CPU time (user + system, seconds) of one fresh process,
read from ``resource.getrusage(RUSAGE_CHILDREN)`` before and after it (CPU, not wall time: the machine is
shared and wall times are noisy). The base is ``python -c "import numpy, typer, rich"``, the least any
command of a numpy / typer / rich program pays; the targets (issue 19) are ``--help`` under 2x the base and
one schedule with given parameters (``--json``) under 3x.

The commands are read from the app itself (every command and every command of a group), so a new one is
measured without being listed here. The runs are interleaved (one of each command per round, after an
untimed round), so that the load of a shared machine falls on the base and the commands alike. The
schedule is measured once more with no sessions kept (a fresh ``KAPPA_CACHE`` each run: the run that builds
them from ``exchange_calendars``, once per calendar, version and year). ``--before DIR`` measures another
checkout (its ``.venv``) in the same rounds, for a before/after.

Results go to stdout and ``benchmarks/results/startup.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.config import REPO, RESULTS

BASE_CODE = "import numpy, typer, rich"
HELP_TARGET = 2.0  # x the base's CPU
SCHEDULE_TARGET = 3.0
ONE_ORDER = ["schedule", "--shares", "1e6", "--side", "sell", "--horizon-days", "5", "--periods", "5",
             "--risk-aversion", "1e-6", "--sigma", "0.95", "--eta", "2.5e-6", "--gamma", "2.5e-7",
             "--epsilon", "0.0625", "--json"]  # fmt: skip
"""The paper's example (Almgren & Chriss 2000, README "Schedules") with its parameters given."""
ONE_ORDER_LABEL = "kappa schedule (one order, parameters given) --json"
COLD_LABEL = "the same, no sessions kept yet (the run builds them)"


def cpu_seconds(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """User + system CPU seconds of one run of ``argv`` in a fresh process (its output discarded).

    Raises
    ------
    RuntimeError
        The command failed (its stderr's last line).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: {tail}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def help_commands() -> list[list[str]]:
    """``[]`` (``kappa --help``) and the path of every command and command group of the app."""
    import typer.main

    from flows.cli import app

    out: list[list[str]] = [[]]

    def walk(group: object, path: list[str]) -> None:
        for name, cmd in sorted(getattr(group, "commands", {}).items()):
            out.append([*path, name])
            walk(cmd, [*path, name])

    walk(typer.main.get_command(app), [])
    return out


def measure(runs: int, venvs: dict[str, tuple[Path, Path]]) -> dict[str, Any]:
    """Median CPU seconds of the base and of every command, with their ratio to the base and whether the
    target is met, for each interpreter of ``venvs`` (a label: its ``python``, with the ``kappa`` script
    beside it, and the checkout it runs in).

    The runs are interleaved, one of each command of each venv per round (a first round untimed: bytecode
    and the calendar's sessions written), so that a change of load on a shared machine falls on all alike.
    Bytecode goes to a temporary ``PYTHONPYCACHEPREFIX`` (``PYTHONDONTWRITEBYTECODE`` unset): a user's
    interpreter reads compiled modules, and a checkout measured is not written to.
    """
    cases: list[tuple[str, list[str], float | None]] = [("base", [], None)]
    cases += [(" ".join(["kappa", *p, "--help"]), [*p, "--help"], HELP_TARGET) for p in help_commands()]
    cases += [(ONE_ORDER_LABEL, ONE_ORDER, SCHEDULE_TARGET), (COLD_LABEL, ONE_ORDER, SCHEDULE_TARGET)]
    cpu: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="kappa-startup-") as tmp:
        for r in range(runs + 1):
            for label, args, _ in cases:
                for name, (python, checkout) in venvs.items():
                    env = {**os.environ, "KAPPA_HOME": str(Path(tmp) / name / "home"),
                           "KAPPA_CACHE": str(Path(tmp) / name / "cache"),
                           "PYTHONPYCACHEPREFIX": str(Path(tmp) / name / "pycache")}  # fmt: skip
                    for unset in ("KAPPA_DEBUG", "PYTHONDONTWRITEBYTECODE"):
                        env.pop(unset, None)
                    if label == COLD_LABEL:  # no sessions kept: this run builds them from exchange_calendars
                        env["KAPPA_CACHE"] = str(Path(tmp) / name / f"cold{r}")
                    argv = (
                        [str(python), "-c", BASE_CODE]
                        if label == "base"
                        else [str(python.with_name("kappa")), *args]
                    )
                    seconds = cpu_seconds(argv, env, checkout)
                    if r:
                        cpu.setdefault((name, label), []).append(seconds)
    out: dict[str, Any] = {
        "date": dt.date.today().isoformat(), "runs": runs, "python": sys.version.split()[0],
        "measure": "median CPU seconds (user + system) of a fresh process, resource.getrusage(RUSAGE_CHILDREN)",
        "base_command": f"python -c {BASE_CODE!r}", "one_order": " ".join(["kappa", *ONE_ORDER]),
    }  # fmt: skip
    for name in venvs:
        base = statistics.median(cpu[(name, "base")])
        rows = []
        for label, _, target in cases[1:]:
            median = statistics.median(cpu[(name, label)])
            rows.append({"command": label, "cpu_s": round(median, 3), "ratio": round(median / base, 2),
                         "target": target, "met": median < (target or 0) * base})  # fmt: skip
        out[name] = {"base_cpu_s": round(base, 3), "rows": rows}
    return out


def _print(result: dict[str, Any], names: list[str]) -> None:
    """The table: each command's CPU seconds, ratio to the base and target met, for each venv."""
    tables = [result[n] for n in names]
    print(
        f"{'command (target)':<58}" + "".join(f" | {n + ' CPU s':>12} {'ratio':>6} {'met':>4}" for n in names)
    )
    print(f"{result['base_command']:<58}" + "".join(f" | {t['base_cpu_s']:12.3f} {'':>11}" for t in tables))
    for i, row in enumerate(tables[0]["rows"]):
        line = f"{row['command'] + ' (< ' + format(row['target'], 'g') + 'x)':<58}"
        for c in (t["rows"][i] for t in tables):
            line += f" | {c['cpu_s']:12.3f} {c['ratio']:5.2f}x {'yes' if c['met'] else 'NO':>4}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command (median)")
    parser.add_argument(
        "--before", type=Path, default=None,
        help="also measure this checkout (its .venv), interleaved with this one: a before/after",
    )  # fmt: skip
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    venvs = {"after" if args.before else "kappa": (Path(sys.executable), REPO)}
    if args.before is not None:
        before = args.before.resolve()
        venvs = {"before": (before / ".venv" / "bin" / "python", before), **venvs}
    for python, _ in venvs.values():
        if not python.with_name("kappa").exists():
            parser.error(f"no kappa script beside {python} (uv sync in its checkout first)")
    result = measure(args.runs, venvs)
    _print(result, list(venvs))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "startup.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
