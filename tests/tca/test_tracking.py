"""Execution against schedule by hand: the schedule's executed path in trading time across a night and a
weekend, a fill exactly at a period end, an order ahead and one behind, orders without a (timed) schedule.

New York is on EST (UTC−5) in late November 2026: the session is 14:30-21:00 UTC. Thursday 19, Friday 20 and
Monday 23 are sessions; Saturday and Sunday are not.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import polars as pl
import pytest

from data.calendar import TradingClock
from tca.tracking import scheduled_shares, track_orders

CLOCK = TradingClock()


def utc(day: int, h: int, m: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, h, m)


def session(day: int) -> tuple[dt.datetime, dt.datetime]:
    return utc(day, 14, 30), utc(day, 21)


def _schedule(order_id: str, ends: Sequence[dt.datetime | None], holdings: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"order_id": order_id, "schedule_id": f"S-{order_id}", "period": list(range(len(ends))), "ts": ends,
         "holdings_shares": holdings, "shares": holdings[0]},
        schema={"order_id": pl.String, "schedule_id": pl.String, "period": pl.Int32, "ts": pl.Datetime("ns"),
                "holdings_shares": pl.Float64, "shares": pl.Float64},
    )  # fmt: skip


# A and B: three one-hour periods from Friday 14:30 New York (19:30 UTC); the second crosses the weekend
# (30 minutes on Friday, 30 on Monday). Period ends in trading hours θ = 0, 1, 2, 3.
WEEKEND = [utc(20, 19, 30), utc(20, 20, 30), utc(23, 15), utc(23, 16)]
HOLDINGS = [900.0, 500.0, 200.0, 0.0]  # executed X − x_k: 0, 400, 700, 900
# E: two one-hour periods from Thursday 15:30 New York (20:30 UTC); the first crosses the night
NIGHT = [utc(19, 20, 30), utc(20, 15), utc(20, 16)]

SCHEDULES = pl.concat([
    _schedule("A", WEEKEND, HOLDINGS), _schedule("B", WEEKEND, HOLDINGS),
    _schedule("D", [None, None], [500.0, 0.0]), _schedule("E", NIGHT, [1000.0, 400.0, 0.0]),
])  # fmt: skip
FILLS = pl.DataFrame(
    {"order_id": ["A", "A", "A", "B", "B", "C", "D", "E"],
     "ts": [utc(20, 20), utc(20, 20, 30), utc(23, 15, 30), utc(20, 19, 45), utc(20, 20, 45), utc(20, 20),
            utc(20, 20), utc(20, 14, 45)],
     "quantity": [300.0, 150.0, 450.0, 600.0, 300.0, 100.0, 100.0, 500.0]},
    schema_overrides={"ts": pl.Datetime("us")},
)  # fmt: skip
ORDERS = pl.DataFrame(
    {"order_id": ["A", "B", "C", "D", "E"], "quantity": [900.0, 900.0, 400.0, 500.0, 1000.0]}
)


def _tracked(day: int, orders: list[str]) -> dict[str, dict[str, object]]:
    o = ORDERS.filter(pl.col("order_id").is_in(orders))
    f = FILLS.filter(pl.col("order_id").is_in(orders))
    rows = track_orders(o, f, SCHEDULES, *session(day), CLOCK)
    assert rows["order_id"].to_list() == o["order_id"].to_list()
    return {r["order_id"]: r for r in rows.iter_rows(named=True)}


def test_the_scheduled_path_is_linear_in_trading_time_across_a_weekend_and_a_night() -> None:
    from tca.tracking import schedule_path

    path = schedule_path(SCHEDULES, CLOCK)
    at = pl.DataFrame(
        {"order_id": ["A", "A", "A", "A", "A", "E", "E", "C"],
         "ts": [utc(20, 19), utc(20, 20), utc(20, 21), utc(23, 15, 30), utc(23, 17), utc(20, 14, 45),
                utc(19, 21), utc(20, 20)]},
        schema_overrides={"ts": pl.Datetime("us")},
    )  # fmt: skip
    got = scheduled_shares(at, "ts", path, CLOCK, "S")["S"].to_list()
    # before the start: 0; Friday 20:00 UTC is θ = 0.5 h: 400·0.5; the close (θ = 1.5 h): 400 + 300·0.5 (by
    # wall time, 66.5 h from Friday 20:30 to Monday 15:00, it would be 400 + 300·0.5/66.5); Monday 15:30
    # UTC: θ = 2.5 h, 700 + 200·0.5; after the last period end: X
    # E: Friday 14:45 UTC is 30 minutes of Thursday and 15 of Friday, θ = 0.75 h: 600·0.75 (by wall time
    # 600·18.25/18.5); Thursday's close, θ = 0.5 h: 300; C has no schedule
    want = [0.0, 200.0, 550.0, 800.0, 900.0, 450.0, 300.0, None]
    assert got[:-1] == pytest.approx(want[:-1], abs=1e-9) and got[-1] is None


def test_an_order_behind_its_schedule_over_a_weekend() -> None:
    friday = _tracked(20, ["A"])["A"]
    # working at Friday's close (450 of 900): measured at the close, θ = 1.5 h, where the schedule had 550
    assert friday["schedule_id"] == "S-A"
    assert friday["scheduled_filled_shares"] == pytest.approx(550.0)
    assert friday["ahead_of_schedule_shares"] == pytest.approx(450.0 - 550.0)
    # Friday's one period end, 20:30 UTC, where a fill of 150 lands exactly: F = 300 + 150, S = 400
    assert friday["tracking_error_shares"] == pytest.approx(50.0)
    assert friday["tracking_error_pct"] == pytest.approx(50.0 / 900.0 * 100.0)
    monday = _tracked(23, ["A"])["A"]
    # complete at its last fill, Monday 15:30 UTC (θ = 2.5 h): 900 filled against 800 scheduled
    assert monday["scheduled_filled_shares"] == pytest.approx(800.0)
    assert monday["ahead_of_schedule_shares"] == pytest.approx(100.0)
    # Monday's period ends: 15:00 (F 450, S 700) and 16:00 (F 900, S 900)
    rms = math.sqrt(((450.0 - 700.0) ** 2 + 0.0**2) / 2)
    assert monday["tracking_error_shares"] == pytest.approx(rms)
    assert monday["tracking_error_pct"] == pytest.approx(rms / 900.0 * 100.0)


def test_an_order_ahead_of_its_schedule() -> None:
    b = _tracked(20, ["B"])["B"]
    # complete at 20:45 UTC (θ = 1.25 h): the schedule had 400 + 300·0.25
    assert b["scheduled_filled_shares"] == pytest.approx(475.0)
    assert b["ahead_of_schedule_shares"] == pytest.approx(900.0 - 475.0)
    # the period end at 20:30 UTC: F = 600, S = 400
    assert b["tracking_error_shares"] == pytest.approx(200.0)
    assert b["tracking_error_pct"] == pytest.approx(200.0 / 900.0 * 100.0)


def test_an_order_over_a_night() -> None:
    both = _tracked(19, ["E"])["E"]
    # Thursday: no fill, working at the close (θ = 0.5 h), no period end on the day
    assert both["scheduled_filled_shares"] == pytest.approx(300.0)
    assert both["ahead_of_schedule_shares"] == pytest.approx(-300.0)
    assert both["tracking_error_shares"] is None and both["tracking_error_pct"] is None
    e = _tracked(20, ["E"])["E"]
    # Friday: 500 of 1,000 at the close, after the schedule's end: behind by 500; period ends at 15:00
    # (F 500, S 600) and 16:00 (F 500, S 1,000)
    assert e["scheduled_filled_shares"] == pytest.approx(1000.0)
    assert e["ahead_of_schedule_shares"] == pytest.approx(-500.0)
    rms = math.sqrt((100.0**2 + 500.0**2) / 2)
    assert e["tracking_error_shares"] == pytest.approx(rms)
    assert e["tracking_error_pct"] == pytest.approx(rms / 1000.0 * 100.0)


def test_orders_without_a_timed_schedule_get_nulls() -> None:
    rows = _tracked(20, ["A", "B", "C", "D"])
    # C has no schedule; D's was planned without a start (no ts): it keeps its id, not its numbers
    assert all(v is None for v in rows["C"].values() if v != "C")
    assert rows["D"]["schedule_id"] == "S-D"
    assert all(rows["D"][c] is None for c in ("scheduled_filled_shares", "ahead_of_schedule_shares",
                                               "tracking_error_shares", "tracking_error_pct"))  # fmt: skip
    # the others are as when tracked alone
    assert rows["A"]["tracking_error_shares"] == pytest.approx(50.0)
    assert rows["B"]["ahead_of_schedule_shares"] == pytest.approx(425.0)


def test_fills_after_the_close_and_two_schedules_of_one_order() -> None:
    late = FILLS.vstack(
        pl.DataFrame({"order_id": ["A"], "ts": [utc(20, 21, 30)], "quantity": [450.0]},
                     schema_overrides={"ts": pl.Datetime("us")})
    )  # fmt: skip
    rows = track_orders(ORDERS.filter(pl.col("order_id") == "A"), late, SCHEDULES, *session(20), CLOCK)
    assert rows["ahead_of_schedule_shares"][0] == pytest.approx(-100.0)  # the fill after the close waits
    two = pl.concat(
        [SCHEDULES, _schedule("A", WEEKEND, HOLDINGS).with_columns(pl.lit("S-A2").alias("schedule_id"))]
    )
    with pytest.raises(ValueError, match="one schedule per order"):
        track_orders(ORDERS, FILLS, two, *session(20), CLOCK)
