"""Reading the lake for a calibration window."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from data.step_inputs import quoted_symbols


def test_quoted_symbols_are_the_distinct_symbols_of_the_files(tmp_path: Path) -> None:
    paths = []
    for i, symbols in enumerate((["AAA", "AAA", "B'B"], ["CCC", "AAA"])):  # a quote in a name is escaped
        path = tmp_path / f"it's-{i}.parquet"
        pl.DataFrame({"symbol": symbols, "bid": [1.0] * len(symbols)}).write_parquet(path)
        paths.append(str(path))
    assert sorted(quoted_symbols(paths)) == ["AAA", "B'B", "CCC"]
    assert sorted(quoted_symbols(paths, ["CCC", "B'B", "ZZZ"])) == ["B'B", "CCC"]
    assert quoted_symbols(paths, []) == []
    assert quoted_symbols([]) == []
