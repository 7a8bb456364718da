"""The kill matrix's fixtures: the command runner, the simulated sessions, the base home and the whole runs
of each command (once per test session)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from data.home import KappaHome
from tests.faults.matrix import Command, Reference, base_home, commands, reference, simulate
from tests.faults.runner import Kappa


@pytest.fixture(scope="session")
def kappa(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kappa]:
    """Commands in processes forked from one server (flows report to the session's Prefect server)."""
    yield Kappa(tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="session")
def matrix(sim: Path) -> dict[str, Command]:
    return commands(sim)


@pytest.fixture(scope="session")
def base(kappa: Kappa, sim: Path, tmp_path_factory: pytest.TempPathFactory) -> KappaHome:
    return base_home(kappa, sim, tmp_path_factory.mktemp("base") / "home")


@pytest.fixture(scope="session")
def whole(
    kappa: Kappa, base: KappaHome, matrix: dict[str, Command], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Reference]:
    """``whole(command)``: the command run whole on a copy of the base home (run once, on first need)."""
    done: dict[str, Reference] = {}

    def get(name: str) -> Reference:
        if name not in done:
            done[name] = reference(kappa, matrix[name], base, tmp_path_factory.mktemp("whole") / "home")
        return done[name]

    return get
