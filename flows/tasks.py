"""The tasks' policies, and the one task every flow shares: the single writer.

Tasks that touch files or the database retry on I/O errors only (:func:`io_only`, :data:`IO_TASK`); the
maths never retries (:data:`MATH_TASK`). No task caches its result: a rerun for the same date recomputes
from what the database and the lake hold then. Each task is written with ``@task`` on the function it
runs, in the module of the flow that runs it, and wraps a function of ``data``, ``calibration``, ``tca``,
``schedule`` or ``reports`` in a few lines, so the step itself is testable without Prefect.
"""

from __future__ import annotations

from typing import Any

import duckdb
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.states import State

from data.home import KappaHome
from data.results import Results, write_results
from kappa.errors import DatabaseBusyError

IO_ERRORS: tuple[type[BaseException], ...] = (OSError, DatabaseBusyError, duckdb.IOException)
"""The errors that are no symbol's fault: a file, the network, a busy database."""
IO_RETRIES = 2
IO_RETRY_DELAY_S = 5


def io_only(_task: object, _task_run: object, state: State[Any]) -> bool:
    """Retry a failed task only if it failed on I/O (a file, the network, a busy database)."""
    try:
        state.result()
    except IO_ERRORS:
        return True
    except BaseException:
        return False
    return False


IO_TASK: dict[str, Any] = {
    "retries": IO_RETRIES,
    "retry_delay_seconds": IO_RETRY_DELAY_S,
    "retry_condition_fn": io_only,
    "cache_policy": NO_CACHE,
}
"""The options of a task that reads or writes: retried on I/O errors only, never cached."""
MATH_TASK: dict[str, Any] = {"cache_policy": NO_CACHE}
"""The options of a task that only computes: never retried, never cached."""


@task(name="write results", **IO_TASK)
def write_results_task(
    home: KappaHome, run_id: str, results: Results, *, message: str = "", status: str | None = "success"
) -> int:
    """Store a flow's rows and mark its run in one transaction (:func:`data.results.write_results`;
    ``status=None`` leaves the run ``running``)."""
    return write_results(home, run_id, results, message=message, status=status)
