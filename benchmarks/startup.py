"""Benchmark start-up: the CPU time of ``kappa --help``, every command's ``--help`` and one schedule.

Usage::

    python -m benchmarks.startup            # 5 runs of each command, each in a fresh process
    python -m benchmarks.startup --runs 9
    python -m benchmarks.startup --checkout ../kappa-before    # another worktree, with its own .venv

Each figure is the median over ``--runs`` of the CPU time (user + system, seconds) of one fresh process,
read from ``resource.getrusage(RUSAGE_CHILDREN)`` before and after it (CPU, not wall time: the machine is
shared and wall times are noisy). The base is ``python -c "import numpy, typer, rich"``, the least any
command of a numpy / typer / rich program pays; the targets (issue 19) are ``--help`` under 2x the base and
one schedule with given parameters (``--json``) under 3x.

The commands are read from the app itself (every command and every command of a group), so a new one is
measured without being listed here. Each command runs once untimed first (bytecode and the calendar's
sessions written); the schedule is measured once more with no sessions kept (a fresh ``KAPPA_CACHE`` each
run: the run that builds them from ``exchange_calendars``, once per calendar, version and year).
``--checkout DIR`` measures another worktree (its ``.venv``) the same way, for a before/after.

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

from benchmarks.config import REPO, RESULTS

BASE_CODE = "import numpy, typer, rich"
HELP_TARGET = 2.0  # x the base's CPU
SCHEDULE_TARGET = 3.0
ONE_ORDER = ["schedule", "--shares", "1e6", "--side", "sell", "--horizon-days", "5", "--periods", "5",
             "--risk-aversion", "1e-6", "--sigma", "0.95", "--eta", "2.5e-6", "--gamma", "2.5e-7",
             "--epsilon", "0.0625", "--json"]  # fmt: skip
"""The paper's example (Almgren & Chriss 2000, README "Schedules") with its parameters given."""
ONE_ORDER_LABEL = "kappa schedule (one order, parameters given) --json"


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


def measure(runs: int, checkout: Path, python: Path) -> dict[str, object]:
    """The base and every command's median CPU seconds in ``checkout`` with the interpreter ``python`` (and
    the ``kappa`` script beside it), with their ratio to the base and whether the target is met."""
    kappa = [str(python.with_name("kappa"))]
    with tempfile.TemporaryDirectory(prefix="kappa-startup-") as tmp:
        env = {**os.environ, "KAPPA_HOME": str(Path(tmp) / "home"), "KAPPA_CACHE": str(Path(tmp) / "cache")}
        env.pop("KAPPA_DEBUG", None)

        def median_cpu(argv: list[str]) -> float:
            cpu_seconds(argv, env, checkout)  # untimed: bytecode and the calendar cache written
            return statistics.median(cpu_seconds(argv, env, checkout) for _ in range(runs))

        base = median_cpu([str(python), "-c", BASE_CODE])
        rows: list[dict[str, object]] = []

        def row(label: str, cpu: float, target: float) -> None:
            met = cpu < target * base
            rows.append({"command": label, "cpu_s": round(cpu, 3), "ratio": round(cpu / base, 2),
                         "target": target, "met": met})  # fmt: skip
            print(f"{label:<56} {cpu:6.3f} {cpu / base:6.2f}x  < {target:g}x  {'yes' if met else 'NO'}")

        print(f"{'command':<56} {'CPU s':>6} {'ratio':>7}  target met")
        print(f"{'python -c ' + repr(BASE_CODE):<56} {base:6.3f}")
        for path in help_commands():
            row(" ".join(["kappa", *path, "--help"]), median_cpu([*kappa, *path, "--help"]), HELP_TARGET)
        row(ONE_ORDER_LABEL, median_cpu([*kappa, *ONE_ORDER]), SCHEDULE_TARGET)
        cold = [  # a cache of its own each time: the run that builds the sessions from exchange_calendars
            cpu_seconds([*kappa, *ONE_ORDER], {**env, "KAPPA_CACHE": str(Path(tmp) / f"cold{i}")}, checkout)
            for i in range(runs)
        ]
        row("the same, no sessions kept yet (this run builds them)", statistics.median(cold), SCHEDULE_TARGET)
    return {
        "date": dt.date.today().isoformat(),
        "runs": runs,
        "python": sys.version.split()[0],
        "measure": "median CPU seconds (user + system) of a fresh process, resource.getrusage(RUSAGE_CHILDREN)",
        "base": {"command": f"python -c {BASE_CODE!r}", "cpu_s": round(base, 3)},
        "one_order": " ".join(["kappa", *ONE_ORDER]),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command (median)")
    parser.add_argument(
        "--checkout", type=Path, default=REPO,
        help="measure another checkout with its own .venv (e.g. an older commit's worktree); printed only",
    )  # fmt: skip
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    checkout = args.checkout.resolve()
    python = Path(sys.executable) if checkout == REPO else checkout / ".venv" / "bin" / "python"
    if not python.with_name("kappa").exists():
        parser.error(f"no kappa script beside {python} (uv sync in {checkout} first)")
    result = measure(args.runs, checkout, python)
    rows: list[dict[str, object]] = result["rows"]  # type: ignore[assignment]
    met = sum(bool(r["met"]) for r in rows)
    if checkout != REPO:
        print(f"{met} of {len(rows)} within target ({checkout}; not written)")
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "startup.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{met} of {len(rows)} within target; written to {path}")


if __name__ == "__main__":
    main()
