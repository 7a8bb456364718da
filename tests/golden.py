"""Golden vectors kept as TOML files under ``tests/resources/`` (readable without Python: inputs, units in
the header, the source cited), and the reader the tests use."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

RESOURCES = Path(__file__).resolve().parent / "resources"


def golden(name: str) -> dict[str, Any]:
    """The parsed TOML file ``tests/resources/<name>``."""
    with (RESOURCES / name).open("rb") as f:
        return tomllib.load(f)
