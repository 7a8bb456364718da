"""The repository's top-level packages win over PyPI packages of the same name."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_schedule_is_this_repository() -> None:
    # PyPI has a popular job-scheduling package that also imports as `schedule`.
    import schedule

    assert Path(schedule.__file__).resolve().parent == REPO / "schedule"
    assert not hasattr(schedule, "every"), "the PyPI `schedule` package shadows ours"


def test_every_stage_is_a_top_level_package() -> None:
    import importlib

    for name in ("data", "calibration", "schedule", "tca", "reports", "flows"):
        module = importlib.import_module(name)
        assert Path(module.__file__).resolve().parent == REPO / name
