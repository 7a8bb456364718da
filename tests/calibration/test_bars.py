"""Boundary mids of the 5-minute bars, against values read off a hand-built quote tape."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from calibration.bars import bucket_mids

MONDAY, BLACK_FRIDAY, SATURDAY = dt.date(2026, 11, 16), dt.date(2026, 11, 27), dt.date(2026, 11, 28)
OPEN = dt.datetime(2026, 11, 16, 14, 30)  # 09:30 New York, in UTC
EARLY_OPEN = dt.datetime(2026, 11, 27, 14, 30)
SESSIONS = pl.DataFrame(
    {
        "date": [MONDAY, BLACK_FRIDAY],
        "open_ts": [OPEN, EARLY_OPEN],
        "close_ts": [OPEN + dt.timedelta(hours=6.5), EARLY_OPEN + dt.timedelta(hours=3.5)],  # 13:00 close
    },
    schema={"date": pl.Date, "open_ts": pl.Datetime("ns"), "close_ts": pl.Datetime("ns")},
)


def _q(symbol: str, date: dt.date, ts: dt.datetime, mid: float) -> tuple[object, ...]:
    return (symbol, date, ts, mid - 0.01, mid + 0.01)


def _minutes(m: float) -> dt.datetime:
    return OPEN + dt.timedelta(minutes=m)


TAPE = [  # in lake order: symbol, then time
    _q("AAA", MONDAY, _minutes(-1), 10.0),  # before the open: the open's mid
    _q("AAA", MONDAY, _minutes(3), 11.0),  # two quotes at one time: the last counts
    _q("AAA", MONDAY, _minutes(3), 12.0),
    _q("AAA", MONDAY, _minutes(12), 13.0),
    _q("AAA", SATURDAY, dt.datetime(2026, 11, 28, 15), 50.0),  # no session: left out
    _q("BBB", MONDAY, _minutes(7), 20.0),  # first quote after boundary 1: boundaries 0, 1 take boundary 2's
    _q("BBB", MONDAY, _minutes(15), 21.0),  # at boundary 3 exactly: a boundary closes its bucket
    _q("BBB", MONDAY, _minutes(15.0001), 22.0),
    _q("BBB", MONDAY, _minutes(391), 99.0),  # after the close (boundary 78 = 390 min): never a boundary's
    _q("CCC", BLACK_FRIDAY, EARLY_OPEN + dt.timedelta(hours=4), 30.0),  # quoted only after the close
    _q("DDD", MONDAY, _minutes(1), 30.0),  # first quote inside bucket 1: boundary 0 takes it, not 31
    _q("DDD", MONDAY, _minutes(4), 31.0),
    _q("DDD", MONDAY, _minutes(6), 32.0),  # the last quote: buckets after bucket 2 are not observed
]


def _tape() -> pl.DataFrame:
    schema = {
        "symbol": pl.String,
        "date": pl.Date,
        "ts": pl.Datetime("ns"),
        "bid": pl.Float64,
        "ask": pl.Float64,
    }
    return pl.DataFrame(TAPE, schema=schema, orient="row")


@pytest.mark.parametrize("order", ["lake", "reversed"])
def test_bucket_mids_are_the_last_quote_at_or_before_each_boundary(order: str) -> None:
    quotes = _tape()
    if order == "reversed":  # every row out of place but the tie's two, which keep their order
        tied_second = pl.col("bid") == 11.99
        quotes = pl.concat([quotes.reverse().filter(~tied_second), quotes.filter(tied_second)])
    mids = bucket_mids(quotes, SESSIONS)

    assert mids.columns == [
        "symbol", "date", "bucket", "day_fraction", "mid", "n_quotes", "observed", "span_days"
    ]  # fmt: skip
    assert mids.group_by("symbol", "date").len().sort("symbol").rows() == [
        ("AAA", MONDAY, 79),  # boundaries 0..78 of 6.5 h
        ("BBB", MONDAY, 79),
        ("CCC", BLACK_FRIDAY, 43),  # 0..42 of 3.5 h
        ("DDD", MONDAY, 79),
    ]
    assert mids.equals(mids.sort("symbol", "date", "bucket"))

    def at(symbol: str) -> list[float | None]:
        return mids.filter(pl.col("symbol") == symbol)["mid"].to_list()

    aaa = at("AAA")
    assert aaa[:4] == pytest.approx([10.0, 12.0, 12.0, 13.0])
    assert aaa[4:] == pytest.approx([13.0] * 75)
    bbb = at("BBB")
    assert bbb[:5] == pytest.approx([20.0, 20.0, 20.0, 21.0, 22.0])
    assert bbb[5:] == pytest.approx([22.0] * 74)
    assert at("CCC") == [None] * 43
    assert at("DDD")[:3] == pytest.approx([30.0, 31.0, 32.0])
    fractions = dict(mids.group_by("symbol").agg(pl.col("day_fraction").first()).rows())
    assert fractions == {"AAA": 1.0, "BBB": 1.0, "CCC": pytest.approx(3.5 / 6.5), "DDD": 1.0}

    def where(symbol: str, column: str) -> list[int]:
        part = mids.filter(pl.col("symbol") == symbol)
        return part.filter(pl.col(column) > 0 if column == "n_quotes" else pl.col(column))["bucket"].to_list()

    # quotes per bucket (b_{k−1}, b_k], boundary 0 counting those at or before the open
    assert mids.filter(pl.col("symbol") == "AAA")["n_quotes"].to_list()[:4] == [1, 2, 0, 1]
    assert where("BBB", "n_quotes") == [2, 3, 4]  # 15:00 closes bucket 3; the quote after the close is none
    assert where("CCC", "n_quotes") == [] and where("DDD", "n_quotes") == [1, 2]
    # observed buckets: inside the quoted span, from the first quote (the open at the latest) to the last
    # quote at or before the close
    assert where("AAA", "observed") == [1, 2, 3]
    assert where("BBB", "observed") == [2, 3, 4]
    assert where("CCC", "observed") == [] and where("DDD", "observed") == [1, 2]
    spans = dict(mids.group_by("symbol").agg(pl.col("span_days").first()).rows())
    assert spans == pytest.approx({"AAA": 12 / 390, "BBB": 8.0001 / 390, "CCC": 0.0, "DDD": 5 / 390})


def test_bucket_mids_of_no_quote_is_empty() -> None:
    mids = bucket_mids(_tape().clear(), SESSIONS)
    assert mids.height == 0
    assert mids.columns == [
        "symbol", "date", "bucket", "day_fraction", "mid", "n_quotes", "observed", "span_days"
    ]  # fmt: skip
