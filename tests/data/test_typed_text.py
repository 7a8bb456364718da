"""Reading clean text columns typed up front (data.validation.typed_text) changes nothing: the rows that
pass, their values, the rules rejected rows break and their raw text are those of the text rules alone."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import data.validation as validation
from data.contract import TABLES

TIMES = [
    "2026-11-16T09:30:00-05:00",
    "2026-11-16T09:30:00.5-05:00",
    "2026-11-16T10:00:00.123456789-05:00",
    "2026-11-16T20:15:00.25+05:30",
    "2026-11-16T15:59:59.999999999+00:00",
]


def _quotes(times: list[str], bids: list[str]) -> pl.DataFrame:
    n = len(times)
    return pl.DataFrame(
        {
            "symbol": ["AAA"] * n,
            "ts": times,
            "bid": bids,
            "ask": ["10.02"] * n,
            "bid_size": ["100"] * n,
            "ask_size": ["1e3"] * n,
            "row_number": list(range(1, n + 1)),
        }
    )


def _text_rules_only(batch: pl.DataFrame, spec: object) -> tuple[pl.DataFrame, frozenset[str]]:
    return batch, frozenset()


@pytest.mark.parametrize(
    ("times", "bids", "typed"),
    [
        (TIMES, ["10.0", "10", "9.99", "10.05", "10.01"], {"ts", "bid", "ask", "bid_size", "ask_size"}),
        ([*TIMES[:4], "2026-11-16 10:00:00-05:00"], ["10.0"] * 5, {"bid", "ask", "bid_size", "ask_size"}),
        ([*TIMES[:4], "2026-02-30T10:00:00-05:00"], ["10.0", "", "x", "1,000", "10.0"],
         {"ask", "bid_size", "ask_size"}),
    ],
)  # fmt: skip
@pytest.mark.parametrize("timezone", [None, "America/New_York"])
def test_the_typed_read_agrees_with_the_text_rules(
    times: list[str], bids: list[str], typed: set[str], timezone: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _quotes(times, bids)
    assert validation.typed_text(batch, TABLES["quotes"])[1] == typed
    fast = validation.validate_batch(batch, TABLES["quotes"], "XNYS", timezone)
    monkeypatch.setattr(validation, "typed_text", _text_rules_only)
    slow = validation.validate_batch(batch, TABLES["quotes"], "XNYS", timezone)
    assert_frame_equal(fast.clean, slow.clean)
    assert_frame_equal(fast.rejected, slow.rejected)
    assert fast.skipped == slow.skipped


def test_iso_timestamps_read_to_the_instant_they_name() -> None:
    got = validation.typed_text(_quotes(TIMES, ["10.0"] * 5), TABLES["quotes"])[0]["ts"]
    utc = dt.UTC
    assert got.to_list() == [
        dt.datetime(2026, 11, 16, 14, 30, tzinfo=utc),
        dt.datetime(2026, 11, 16, 14, 30, 0, 500000, tzinfo=utc),
        dt.datetime(2026, 11, 16, 15, 0, 0, 123456, tzinfo=utc),  # to the microsecond in Python
        dt.datetime(2026, 11, 16, 14, 45, 0, 250000, tzinfo=utc),
        dt.datetime(2026, 11, 16, 15, 59, 59, 999999, tzinfo=utc),
    ]
    assert got.dt.nanosecond()[2] == 123456789
