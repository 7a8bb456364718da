"""Run one of Kappa's Prefect flows from a command: Prefect's environment, the task runner, the final state."""

from __future__ import annotations

import importlib

from data.home import KappaHome
from flows.settings import Runner
from kappa.errors import ParameterError


def run_flow(
    home: KappaHome, name: str, runner: Runner, workers: int | None, dask_address: str | None,
    **params: object,
) -> tuple[str, str | None, object]:  # fmt: skip
    """Run the Prefect flow ``name`` (the function of that name in the module ``flows.<name>``) on the
    chosen task runner.

    Returns the final state's name and message and the flow's result; a failed run raises its error.
    Check the arguments before calling: starting Prefect takes seconds.
    """
    if runner is not Runner.dask and dask_address:
        raise ParameterError(
            "--dask-address needs --task-runner dask", name="--dask-address", value=dask_address
        )
    from flows.settings import prefect_environment, quiet_known_errors, task_runner

    prefect_environment(home)
    module = importlib.import_module(f"flows.{name}")
    quiet_known_errors()
    chosen = task_runner(runner.value, workers=workers, dask_address=dask_address)
    fl = getattr(module, name).with_options(task_runner=chosen)
    state = fl(home=str(home.root), **params, return_state=True)
    result = state.result()  # raises the flow's error when it failed
    return state.name, state.message, result


def state_warnings(state_name: str, message: str | None) -> list[str]:
    """The warning of a run that ended in a ``Warning`` state (none otherwise)."""
    return [message or "finished with warnings"] if state_name == "Warning" else []
