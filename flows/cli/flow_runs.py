"""Run one of Kappa's Prefect flows from a command: Prefect's environment, the task runner, the final state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from data.home import KappaHome
from flows.settings import Runner
from kappa.errors import ParameterError

if TYPE_CHECKING:
    from prefect import Flow


def prepare_prefect(home: KappaHome, runner: Runner, dask_address: str | None) -> None:
    """Check the task runner's options, then point Prefect at ``home`` (its ``PREFECT_HOME``, analytics off,
    and the home's Prefect server, started on first need: :mod:`flows.server`): call this before importing a
    flow, since Prefect reads its settings on import.
    """
    if runner is not Runner.dask and dask_address:
        raise ParameterError(
            "--dask-address needs --task-runner dask", name="--dask-address", value=dask_address
        )
    from flows.settings import prefect_environment

    prefect_environment(home)


def run_flow(
    fl: Flow[..., Any], home: KappaHome, runner: Runner, workers: int | None, dask_address: str | None,
    **params: object,
) -> tuple[str, str | None, object]:  # fmt: skip
    """Run the Prefect flow ``fl`` on the chosen task runner (after :func:`prepare_prefect`).

    Returns the final state's name and message and the flow's result; a failed run raises its error.
    Check the arguments before calling: starting Prefect takes seconds.
    """
    from flows.settings import quiet_known_errors, task_runner

    quiet_known_errors()
    chosen = task_runner(runner.value, workers=workers, dask_address=dask_address)
    state: Any = fl.with_options(task_runner=chosen)(home=str(home.root), **params, return_state=True)
    result = state.result()  # raises the flow's error when it failed
    return state.name, state.message, result


def state_warnings(state_name: str, message: str | None) -> list[str]:
    """The warning of a run that ended in a ``Warning`` state (none otherwise)."""
    return [message or "finished with warnings"] if state_name == "Warning" else []
