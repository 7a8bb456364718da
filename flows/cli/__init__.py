"""The ``kappa`` command line: one module per command, the shared options in :mod:`flows.cli.options`.

Every command honours ``KAPPA_HOME`` and ``--home`` and prints a one-line reason on failure; the exit
codes are listed in :mod:`flows.cli.console`.
"""

from __future__ import annotations

import os
import sys

import typer

from flows.cli.attribute import attribute_cmd
from flows.cli.backfill import backfill_cmd
from flows.cli.calibrate import calibrate_cmd
from flows.cli.config import config_cmd
from flows.cli.console import (
    EXIT_INTERRUPTED,
    EXIT_REFUSED,
    EXIT_UNEXPECTED,
    EXIT_WARNINGS,
    FinishedWithWarnings,
    err,
)
from flows.cli.demo import demo_cmd
from flows.cli.groups import KappaGroup
from flows.cli.ingest import ingest_cmd
from flows.cli.nightly import nightly_cmd
from flows.cli.report import report_cmd
from flows.cli.schedule import schedule_cmd
from flows.cli.serve import serve_cmd
from flows.cli.server import server_app
from flows.cli.simulate import simulate_cmd
from flows.cli.sql import sql_cmd
from kappa.errors import KappaError

__all__ = ["app", "main"]

app = typer.Typer(
    name="kappa",
    help="Almgren-Chriss calibration, optimal schedules and transaction-cost analysis on DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=KappaGroup,
)
for name, command in (
    ("ingest", ingest_cmd), ("config", config_cmd), ("sql", sql_cmd), ("calibrate", calibrate_cmd),
    ("attribute", attribute_cmd), ("nightly", nightly_cmd), ("backfill", backfill_cmd), ("serve", serve_cmd),
    ("report", report_cmd), ("schedule", schedule_cmd), ("simulate", simulate_cmd),
    ("demo", demo_cmd),
):  # fmt: skip
    app.command(name)(command)
app.add_typer(server_app, name="server")


def main() -> None:
    """Entry point: run the app, turning errors into one line on stderr and the exit codes of the module
    docstring."""
    try:
        code = app(
            standalone_mode=False
        )  # click returns (not raises) the exit code of an Abort: 130 on Ctrl-C
        if isinstance(code, int) and code:
            if code == EXIT_INTERRUPTED:
                err.print("interrupted")
            sys.exit(code)
    except FinishedWithWarnings as exc:
        err.print(f"{exc}", soft_wrap=True, highlight=False)
        sys.exit(EXIT_WARNINGS)
    except KappaError as exc:  # ScheduleError, ParameterError, NotFoundError, FlowError, InputError, ...
        err.print(f"error: {_one_line(exc)}", soft_wrap=True, highlight=False)
        _release(exc)
        sys.exit(EXIT_REFUSED)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code if isinstance(code, int) else 0)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # click usage errors and anything unexpected: one line, not a traceback
        show = getattr(exc, "show", None)  # click's usage errors (typer vendors its own click)
        if callable(show):
            show()
            sys.exit(int(getattr(exc, "exit_code", EXIT_REFUSED)))
        if os.environ.get("KAPPA_DEBUG"):
            raise
        err.print(f"error: {type(exc).__name__}: {_one_line(exc)}", soft_wrap=True, highlight=False)
        _release(exc)
        sys.exit(EXIT_UNEXPECTED)


def _release(exc: BaseException) -> None:
    """Drop the frames an error's traceback keeps alive (they hold closed DuckDB connections, which the
    interpreter's exit would report, many lines long, as leaked objects)."""
    import gc

    seen: set[int] = set()
    chain: BaseException | None = exc
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        chain.__traceback__ = None
        chain = chain.__cause__ or chain.__context__
    gc.collect()


def _one_line(exc: BaseException) -> str:
    """The error's message on one line (a flow run's message may carry a traceback after its first line)."""
    text = str(exc).strip()
    return " ".join(text.splitlines()[:1]) if text else type(exc).__name__
