"""Attribution's prices and benchmarks never take a quote across a session boundary (hand-worked).

The stock closes at a mid of 100.00 on Monday and opens 10 % higher on Tuesday; Tuesday's first quote comes
one second after the open (mid 110.00), and the mid moves to 111.00 at open + 1,799 s.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from data.calendar import TradingClock, session_bounds
from tca.attribution import attribute_orders
from tca.prices import quote_at

D1, D2 = dt.date(2026, 11, 16), dt.date(2026, 11, 17)
SESSIONS = session_bounds(D1, D2)
OPEN1, CLOSE1 = SESSIONS["open_ts"][0], SESSIONS["close_ts"][0]
OPEN2 = SESSIONS["open_ts"][1]
S = dt.timedelta(seconds=1)


def _quotes(first_s: int = 1) -> pl.DataFrame:
    rows = [(OPEN1, 99.99, 100.01), (CLOSE1 - 60 * S, 99.99, 100.01)]
    rows += [(OPEN2 + first_s * S, 109.99, 110.01), (OPEN2 + 1799 * S, 110.99, 111.01)]
    return pl.DataFrame(
        [("X", *r) for r in rows],
        schema={"symbol": pl.String, "ts": pl.Datetime("ns"), "bid": pl.Float64, "ask": pl.Float64},
        orient="row",
    )


def test_an_event_before_its_sessions_first_quote_has_no_mid() -> None:
    events = pl.DataFrame(
        {"symbol": ["X"] * 4, "at": [CLOSE1, CLOSE1 + 3600 * S, OPEN2, OPEN2 + 2 * S]}
    ).with_columns(pl.col("at").cast(pl.Datetime("ns")))
    got = quote_at(events, _quotes(), "at", "q", SESSIONS).sort("at")["q_mid"].to_list()
    assert got == [pytest.approx(100.0), None, None, pytest.approx(110.0)]


def _attribute(
    arrival: dt.datetime, fills: list[tuple[dt.datetime, float, float]], first_s: int = 1
) -> dict[str, object]:
    orders = pl.DataFrame({
        "order_id": ["A"], "symbol": ["X"], "side": ["buy"], "quantity": [1000.0], "arrival_ts": [arrival],
        "end_ts": [OPEN2 + 3600 * S], "decision_price": [None], "broker": ["B"], "algo": ["A"], "trader": ["T"],
    }, schema_overrides={"decision_price": pl.Float64})  # fmt: skip
    f = pl.DataFrame(
        {"fill_id": [f"F{i}" for i in range(len(fills))], "order_id": ["A"] * len(fills),
         "ts": [x[0] for x in fills], "price": [x[1] for x in fills], "quantity": [x[2] for x in fills],
         "fee_usd": [0.0] * len(fills), "venue": ["XNAS"] * len(fills)},
        schema_overrides={"ts": pl.Datetime("ns")},
    )  # fmt: skip
    trades = pl.DataFrame(schema={"symbol": pl.String, "ts": pl.Datetime("ns"), "price": pl.Float64,
                                  "size": pl.Float64})  # fmt: skip
    params = pl.DataFrame(schema={"symbol": pl.String, "calibration_as_of": pl.Date, "sigma_usd": pl.Float64,
                                  "gamma": pl.Float64, "eta": pl.Float64, "epsilon_usd": pl.Float64})  # fmt: skip
    closes = pl.DataFrame({"symbol": ["X"], "close_mid_usd": [111.0]})
    return attribute_orders(
        orders, f, _quotes(first_s), trades, SESSIONS, closes, params, TradingClock()
    ).row(0, named=True)


def test_an_order_at_the_open_is_costed_against_its_sessions_first_quote_not_the_previous_close() -> None:
    """Arrival at the open, an opening fill of 400 at 110.00 before the first quote, 600 at 110.05 at
    14:45: arrival mid 110.00 (not Monday's 100.00), trading = 400·0 + 600·0.05 = 30 $ (not 10,030 $),
    of which the spread is 600 × 0.01 (the opening fill pays no known spread)."""
    r = _attribute(OPEN2, [(OPEN2 + 0.2 * S, 110.0, 400.0), (OPEN2 + 900 * S, 110.05, 600.0)])
    assert r["arrival_mid_usd"] == pytest.approx(110.0)
    assert r["trading_usd"] == pytest.approx(30.0) and r["spread_usd"] == pytest.approx(6.0)
    assert r["status"] == "partial_quotes"  # the opening fill had no quote before it
    assert r["end_mid_usd"] == pytest.approx(111.0)


def test_an_order_that_arrived_before_the_open_says_so() -> None:
    r = _attribute(OPEN2 - 3600 * S, [(OPEN2 + 900 * S, 110.05, 1000.0)])
    assert r["status"] == "opening_quote" and r["arrival_mid_usd"] == pytest.approx(110.0)
    assert r["total_usd"] == pytest.approx(50.0)


def test_a_reversion_before_the_sessions_first_quote_is_null_not_the_previous_close() -> None:
    """Only an opening fill, and Tuesday's first quote 90 s after the open: the 1-minute reversion has no
    quote of its session (NULL; Monday's 100.00 gave 909 bps); the 5-minute one is against 110.00."""
    r = _attribute(OPEN2, [(OPEN2 + 0.2 * S, 110.0, 1000.0)], first_s=90)
    assert r["reversion_1m_bps"] is None
    assert r["reversion_5m_bps"] == pytest.approx(0.0, abs=1e-9)
