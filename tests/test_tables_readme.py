"""The README's column tables are the registry's (kappa.tables): same columns, order, types and units.

Each table's block follows a marker line ``<!-- columns: NAME -->`` and a blank line. After a change to the
registry, rewrite the blocks with ``.venv/bin/python -m tests.test_tables_readme`` and read the diff.
"""

from __future__ import annotations

import re

from kappa.tables import TABLES, markdown_table
from tests.conftest import REPO

README = REPO / "README.md"
MARKER = re.compile(r"^<!-- columns: (\w+) -->\n(?:\n(?=\|))?((?:\|.*\n)*)", flags=re.M)


def readme_blocks(text: str) -> dict[str, str]:
    """The column table after each marker, by table name."""
    return {m.group(1): m.group(2).rstrip("\n") for m in MARKER.finditer(text)}


def _rows(block: str) -> list[tuple[str, str, str]]:
    """(column, type, unit) of each row of a column table."""
    out = []
    for line in block.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        out.append((cells[0].split("`")[1], cells[1], cells[2]))
    return out


def with_registry_tables(text: str) -> str:
    """``text`` with every marked block replaced by the registry's table."""
    return MARKER.sub(
        lambda m: f"<!-- columns: {m.group(1)} -->\n\n{markdown_table(TABLES[m.group(1)])}\n", text
    )


def test_every_registered_table_has_its_column_table_in_the_readme() -> None:
    blocks = readme_blocks(README.read_text())
    assert sorted(blocks) == sorted(TABLES)


def test_the_readme_column_tables_are_the_registry() -> None:
    blocks = readme_blocks(README.read_text())
    for name, table in TABLES.items():
        want = [(c.name, c.sql, c.unit) for c in table.columns]
        assert _rows(blocks[name]) == want, f"README's columns of {name} differ from kappa.tables"
        assert blocks[name] == markdown_table(table), f"README's meanings of {name} differ from kappa.tables"


def test_a_renamed_column_is_caught() -> None:
    """The check can fail: a README that still says ``markout_5m_bps`` is told apart from the registry."""
    text = with_registry_tables(README.read_text()).replace("`reversion_5m_bps`", "`markout_5m_bps`")
    names = [r[0] for r in _rows(readme_blocks(text)["attribution"])]
    assert "markout_5m_bps" in names and names != TABLES["attribution"].names


if __name__ == "__main__":
    README.write_text(with_registry_tables(README.read_text()))
