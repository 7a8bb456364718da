"""The input contract (``data.contract``: what a file may carry, how each column is parsed) and the table
registry (``kappa.tables``: what is stored, with type, unit and meaning) describe one column once each: every
input column is a stored column of the same name and a matching type, so the two cannot drift apart."""

from __future__ import annotations

import pytest

from data.contract import TABLES as INPUTS
from kappa import tables

SQL_OF_KIND = {
    "str": "VARCHAR", "float": "DOUBLE", "ts": "TIMESTAMP_NS", "date": "DATE", "side": "VARCHAR",
    "liquidity": "VARCHAR", "exec_type": "VARCHAR",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_every_input_column_is_a_registered_column_of_the_same_type(name: str) -> None:
    stored = tables.TABLES[name]
    for col in INPUTS[name].columns:
        if name == "fills" and col.name == "exec_type":
            continue  # what a row *is* (a fill, a correction, a cancel), applied at load, never stored
        assert stored.column(col.name).sql == SQL_OF_KIND[col.kind], (name, col.name)
