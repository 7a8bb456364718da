"""Prefect's environment for a Kappa home, and the task runners a flow can run on.

Call :func:`prefect_environment` before ``prefect`` is first imported (its settings are read then):

- ``PREFECT_HOME`` = ``KAPPA_HOME/prefect``: Prefect's files of the command live with the home's data;
- ``PREFECT_SERVER_ANALYTICS_ENABLED`` = ``false``;
- ``PREFECT_API_URL`` = the home's managed Prefect server, started in the background on first need and
  reused by the commands after (:mod:`flows.server`; its flow-run history is ``KAPPA_HOME/prefect``);
- with ``KAPPA_PREFECT_SERVER=ephemeral`` instead, a temporary server, started for the command, tied to
  its life and stopped when it ends (:func:`flows.server.start_temporary`).

Variables already set win, so a deployment can point everything at a real server (``PREFECT_API_URL``).

Task runners (``--task-runner``): ``threads`` (the default; polars releases the GIL, and the GARCH fits of
a batch run one after another), ``processes`` (one process per CPU, each batch in its own process),
``dask`` (a Dask cluster at ``--dask-address``, or a local one with ``--dask-workers`` processes).
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from data.home import KappaHome

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner


# the defaults of the flows and of the CLI that runs them (here: importing this module costs nothing)
DEFAULT_LOOKBACK_DAYS = 20  # sessions of intraday data for σ realized, γ, η, ε
DEFAULT_GARCH_DAYS = 500  # daily closes for GARCH(1,1)
DEFAULT_BATCH_SYMBOLS = 250  # symbols per calibration or attribution task


class Runner(StrEnum):
    threads = "threads"
    processes = "processes"
    dask = "dask"


def prefect_environment(home: KappaHome, *, scheduler: bool = False) -> str:
    """Set Prefect's environment for ``home`` (see the module docstring); existing variables win.

    Returns the API URL the command reports to. ``scheduler=True`` (``kappa serve``) needs a server that
    schedules runs: the managed one even under ``ephemeral``. Starting a server can take half a minute.
    """
    from flows.server import use_server

    home.ensure()
    home.prefect.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home.prefect))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return use_server(home, scheduler=scheduler)


def task_runner(
    kind: Runner | str = Runner.threads,
    *,
    workers: int | None = None,
    dask_address: str | None = None,
) -> TaskRunner[Any]:
    """The task runner ``kind`` with ``workers`` threads, processes or local Dask worker processes.

    ``dask`` with ``dask_address`` connects to that scheduler (each worker needs the project installed, the
    lake on storage it can read at the same path, and ``PREFECT_API_URL`` pointing at the Prefect server
    the flow reports to); without an address it starts a local cluster of ``workers`` processes (default:
    the CPU count) with one thread each.
    """
    kind = Runner(kind)
    if kind is Runner.threads:
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers or os.cpu_count() or 1)
    if kind is Runner.processes:
        from prefect.task_runners import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=workers or os.cpu_count() or 1)
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    n = workers or os.cpu_count() or 1
    return DaskTaskRunner(cluster_kwargs={"n_workers": n, "threads_per_worker": 1, "processes": True})


class _OneLineErrors:
    """A filter for console log handlers: an error is logged as one line, without its traceback (the
    traceback stays in Prefect's API logs, and ``KAPPA_DEBUG=1`` keeps it on the console too)."""

    def filter(self, record: object) -> bool:
        import logging

        assert isinstance(record, logging.LogRecord)
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and not os.environ.get("KAPPA_DEBUG"):
            first = (str(exc).strip().splitlines() or [""])[0]
            text = record.getMessage().strip().splitlines()[0]
            record.msg = f"{text} ({type(exc).__name__}: {first})" if first not in text else text
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_known_errors() -> None:
    """Log errors as one line on the console (Prefect's API logs keep their tracebacks)."""
    import logging

    for logger in (logging.getLogger("prefect"), logging.getLogger()):
        for handler in logger.handlers:
            if type(handler).__name__ == "APILogHandler" or not isinstance(handler, logging.StreamHandler):
                continue
            if not any(isinstance(f, _OneLineErrors) for f in handler.filters):
                handler.addFilter(_OneLineErrors())
