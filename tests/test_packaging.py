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

    for name in ("kappa", "data", "calibration", "schedule", "tca", "simulator", "reports", "flows"):
        module = importlib.import_module(name)
        assert Path(module.__file__).resolve().parent == REPO / name


def test_no_module_of_flows_shadows_a_top_level_module() -> None:
    """Prefect runs a script entrypoint with its folder first on ``sys.path``: a ``flows/schedule.py`` once
    hid the ``schedule`` package from ``flows/nightly.py``. No module of ``flows/`` may share a name with an
    importable top-level module (the project's packages, the environment's, the standard library)."""
    import pkgutil
    import sys

    flows_dir = REPO / "flows"
    mine = {p.stem for p in flows_dir.glob("*.py")} | {p.name for p in flows_dir.iterdir() if p.is_dir()}
    path = [p for p in sys.path if Path(p or ".").resolve() != flows_dir]
    others = {m.name for m in pkgutil.iter_modules(path)} | set(sys.stdlib_module_names)
    assert not (mine - {"__init__", "__pycache__"}) & others


ROOT_ALLOWED = {
    ".ci", ".gitignore", ".pre-commit-config.yaml", "Makefile", "README.md", "prefect.yaml", "pyproject.toml",
    "uv.lock", "kappa", "data", "calibration", "schedule", "tca", "simulator", "reports", "flows", "benchmarks",
    "tests",
}  # fmt: skip


def test_the_root_holds_only_what_the_project_is_made_of() -> None:
    """Stray outputs (``out.txt``, ``err.txt``, a notebook) are not committed at the root: every tracked path's
    first component is on the allow-list."""
    import subprocess

    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    roots = {path.split("/", 1)[0] for path in tracked}
    assert roots <= ROOT_ALLOWED, sorted(roots - ROOT_ALLOWED)
