"""The records at calibration's boundaries: the row matches the table, the batch cuts, the stages are named."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields

import polars as pl
import pytest

from calibration.records import CalibrationBatch, CalibrationRow
from calibration.window import CALIBRATION_SCHEMA, calibrate_symbols, calibration_frame
from kappa.errors import ParameterError
from tests.calibration.conftest import quoted_minutes_window


def test_row_fields_are_the_schema_columns_in_order() -> None:
    assert [f.name for f in fields(CalibrationRow)] == list(CALIBRATION_SCHEMA)


def test_failed_row_is_null_but_for_its_symbol_status_and_reason() -> None:
    frame = calibration_frame([CalibrationRow.failed("XYZ", ZeroDivisionError("float division by zero"))])
    assert frame.schema == pl.Schema(CALIBRATION_SCHEMA)
    row = frame.row(0, named=True)
    assert (row["symbol"], row["status"]) == ("XYZ", "failed")
    assert row["reason"] == "ZeroDivisionError: float division by zero"
    assert sum(v is not None for v in row.values()) == 3


def _batch(symbols: tuple[str, ...]) -> CalibrationBatch:
    fills = pl.DataFrame(
        {"symbol": [s for s in symbols for _ in range(2)], "order_id": range(2 * len(symbols))}
    )
    daily = pl.DataFrame({"symbol": list(symbols), "close": [float(i) for i in range(len(symbols))]})
    return CalibrationBatch(
        dt.date(2026, 11, 16),
        5,
        symbols,
        pl.DataFrame(),
        ("q.parquet",),
        ("t.parquet",),
        fills,
        daily,
        "XNYS",
    )


def test_batches_cut_the_symbols_and_their_rows_in_order() -> None:
    batches = _batch(("A", "B", "C", "D", "E")).batches(2)
    assert [b.symbols for b in batches] == [("A", "B"), ("C", "D"), ("E",)]
    assert [b.fills["order_id"].to_list() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [b.daily["close"].to_list() for b in batches] == [[0.0, 1.0], [2.0, 3.0], [4.0]]
    assert [b.symbols for b in _batch(("A", "B")).split()] == [("A",), ("B",)]


def test_a_batch_size_below_one_is_refused_with_its_name_and_value() -> None:
    with pytest.raises(ParameterError) as info:
        _batch(("A",)).batches(0)
    assert (info.value.name, info.value.value) == ("batch_size", 0)
    assert isinstance(info.value, ValueError)


def test_each_stage_is_announced_by_name_around_its_work() -> None:
    seen: list[str] = []

    @contextmanager
    def record(name: str) -> Iterator[None]:
        seen.append(name)
        yield

    with_stages = calibrate_symbols(quoted_minutes_window(5, 600), stage=record)
    assert seen == ["garch", "facts", "bars", "realized", "signs", "gamma", "eta", "garch", "eta"]
    assert with_stages.equals(calibrate_symbols(quoted_minutes_window(5, 600)))
