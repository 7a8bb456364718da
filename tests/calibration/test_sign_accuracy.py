"""The Lee-Ready sign against the aggressor a feed reports (LOBSTER, Databento): counted by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl

from calibration.signs import lee_ready_signs, sign_accuracy

OPEN = dt.datetime(2026, 11, 16, 14, 30)
SESSIONS = pl.DataFrame(
    {"date": [OPEN.date()], "open_ts": [OPEN], "close_ts": [OPEN + dt.timedelta(hours=6.5)]}
)


def _at(seconds: int) -> dt.datetime:
    return OPEN + dt.timedelta(seconds=seconds)


def test_accuracy_counts_the_trades_whose_sign_is_their_aggressor() -> None:
    quotes = pl.DataFrame(
        {"symbol": ["A", "B"], "ts": [_at(1), _at(1)], "bid": [10.0, 20.0], "ask": [10.02, 20.02]}
    )
    trades = pl.DataFrame(
        {
            "symbol": ["A", "A", "A", "A", "A", "B", "B"],
            "ts": [_at(2), _at(3), _at(4), _at(5), _at(6), _at(2), _at(3)],
            # above the mid (buy), below (sell), at the mid after an up-tick (buy), above (buy), below (sell)
            "price": [10.02, 10.00, 10.01, 10.02, 10.00, 20.02, 20.02],
            "size": [100.0] * 7,
            # the feed's aggressor: right, right, right, unknown, wrong; B: right, wrong
            "aggressor": ["buy", "sell", "buy", None, "buy", "buy", "sell"],
        }
    )
    signed = lee_ready_signs(trades, quotes, SESSIONS)
    assert signed["sign"].to_list() == [1, -1, 1, 1, -1, 1, 1]
    got = sign_accuracy(signed)
    assert got.to_dicts() == [
        {"symbol": "A", "lee_ready_accuracy": 3 / 4, "lee_ready_nobs": 4},
        {"symbol": "B", "lee_ready_accuracy": 1 / 2, "lee_ready_nobs": 2},
    ]


def test_a_tape_without_aggressors_gives_no_rows() -> None:
    signed = pl.DataFrame(
        {"symbol": ["A"], "sign": [1], "aggressor": [None]}, schema_overrides={"aggressor": pl.String}
    )
    assert sign_accuracy(signed).height == 0
    assert sign_accuracy(signed.drop("aggressor")).height == 0


def test_a_print_at_the_mid_is_at_the_mid_whatever_the_rounding_of_the_mid() -> None:
    """224.14 / 224.15 give (bid + ask)/2 = 224.14499999999998 in floating point: a print at 224.145 is at
    the mid, signed by the tick rule (a down-tick from 224.15: a sell), not a buy by the quote rule."""
    assert (224.14 + 224.15) / 2 < 224.145  # the rounding this guards against
    quotes = pl.DataFrame({"symbol": ["A"], "ts": [_at(1)], "bid": [224.14], "ask": [224.15]})
    trades = pl.DataFrame(
        {"symbol": ["A", "A"], "ts": [_at(2), _at(3)], "price": [224.15, 224.145], "size": [100.0, 100.0]}
    )
    assert lee_ready_signs(trades, quotes, SESSIONS)["sign"].to_list() == [1, -1]
