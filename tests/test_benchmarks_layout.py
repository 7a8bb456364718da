"""benchmarks/: no import cycle among its modules (lazy imports inside functions count), and its shared
settings defined once, in benchmarks/config.py."""

from __future__ import annotations

import ast
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SHARED = {"HERE", "CACHE", "RESULTS", "DAY", "NEXT_DAY", "HISTORY_DAYS", "BATCH_SYMBOLS", "FILES_TIMEZONE"}


def _trees() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text()) for p in sorted(BENCHMARKS.glob("*.py"))}


def _imports(tree: ast.Module) -> set[str]:
    """The benchmarks modules ``tree`` imports, anywhere in it."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "benchmarks":
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("benchmarks."):
            out.add((node.module or "").split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("benchmarks.")}
    return out


def test_no_import_cycle_among_the_benchmarks() -> None:
    graph = {name: _imports(tree) - {name} for name, tree in _trees().items()}
    assert graph["calibrate"] and graph["flows"], "the graph was not read"  # the walk sees the imports
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join((*path, name))
        if name in done:
            return
        for dep in graph.get(name, ()):
            visit(dep, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())


def test_the_shared_settings_are_defined_once_in_config() -> None:
    defined = {
        name: {
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name)
        }
        for name, tree in _trees().items()
    }
    assert defined["config"] >= SHARED
    copies = {
        name: sorted(names & SHARED) for name, names in defined.items() if name != "config" and names & SHARED
    }
    assert not copies, copies
