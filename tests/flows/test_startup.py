"""What ``kappa --help``, every command's ``--help`` and one schedule with given parameters import.

An import-graph test, not a timed one (the CPU time is measured by ``benchmarks/startup.py``): none of these
loads a heavy library; they are imported inside the commands that use them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

HEAVY = ["prefect", "polars", "duckdb", "pandas", "pyarrow", "exchange_calendars", "arch", "statsmodels",
         "altair", "scipy", "sklearn", "numba"]  # fmt: skip
HELP_HEAVY = [
    *HEAVY,
    "pydantic",
]  # typer needs pydantic to read values; a --help reads none (flows.cli.groups)
ONE_ORDER = ["schedule", "--shares", "1e6", "--side", "sell", "--horizon-days", "5", "--periods", "5",
             "--risk-aversion", "1e-6", "--sigma", "0.95", "--eta", "2.5e-6", "--gamma", "2.5e-7",
             "--epsilon", "0.0625", "--json"]  # fmt: skip

# runs in a fresh interpreter: argv[1] the modules to look for, argv[2] the command lines (JSON); prints, for
# each command line, its exit code and the modules of argv[1] loaded by then
PROBE = """
import contextlib, io, json, sys
from flows.cli import app
heavy, lines = json.loads(sys.argv[1]), json.loads(sys.argv[2])
if lines == "help":
    import typer.main
    lines = [["--help"]]
    def walk(group, path):
        for name, cmd in sorted(getattr(group, "commands", {}).items()):
            lines.append([*path, name, "--help"])
            walk(cmd, [*path, name])
    walk(typer.main.get_command(app), [])
out = []
for line in lines:
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            code = app(args=line, standalone_mode=False, prog_name="kappa")
        except SystemExit as exc:
            code = exc.code
    out.append([line, code, sorted(m for m in heavy if m in sys.modules)])
print(json.dumps(out))
"""


def _probe(heavy: list[str], lines: object, cache: Path) -> list[tuple[list[str], int | None, list[str]]]:
    res = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(heavy), json.dumps(lines)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
        env={**_env(), "KAPPA_CACHE": str(cache), "KAPPA_HOME": str(cache.parent / "home")},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return [(line, code, loaded) for line, code, loaded in json.loads(res.stdout)]


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "KAPPA_DEBUG"}


def test_help_of_every_command_imports_no_heavy_library(tmp_path: Path) -> None:
    """``kappa --help`` and the ``--help`` of every command and command group, one after another in one
    process: nothing of HELP_HEAVY is loaded by the end (the first to load one is named)."""
    seen = _probe(HELP_HEAVY, "help", tmp_path / "cache")
    names = {" ".join(line[:-1]) for line, _, _ in seen}
    assert {"", "ingest", "config", "sql", "calibrate", "attribute", "nightly", "backfill", "serve", "report",
            "schedule", "simulate", "demo"} <= names, names  # fmt: skip
    for line, code, loaded in seen:
        assert code in (0, None), (line, code)
        assert not loaded, f"kappa {' '.join(line)} imports {', '.join(loaded)}"


def test_one_schedule_with_given_parameters_imports_no_heavy_library(tmp_path: Path) -> None:
    """The paper's example with its parameters given (``--json``), from the next open of its own start or a
    given date: numpy's arithmetic and the sessions kept on disk, no polars, DuckDB, pandas or
    exchange_calendars (the first run, with no sessions kept, builds them from exchange_calendars)."""
    cache = tmp_path / "cache"
    lines = [
        ONE_ORDER,
        [*ONE_ORDER, "--start", "2026-11-27"],
        [*ONE_ORDER, "--start", "2026-03-09T10:00-04:00"],
    ]
    first = _probe(HEAVY, [lines[1]], cache)
    assert (
        first[0][1] in (0, None) and "exchange_calendars" in first[0][2]
    )  # built the sessions, and kept them
    for line, code, loaded in _probe(HEAVY, lines, cache):
        assert code in (0, None), (line, code)
        assert not loaded, f"kappa {' '.join(line)} imports {', '.join(loaded)}"
