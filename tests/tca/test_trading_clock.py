"""An order working across a night is judged in trading time: τ, TWAP, duration and the overnight risk."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from data.calendar import TradingClock
from tca.attribution import attribute_orders

SIGMA, SIGMA_NIGHT, GAMMA, ETA, EPS = 0.5, 0.8, 1e-6, 2e-5, 0.01


def et(day: int, h: int, m: int = 0) -> dt.datetime:
    """2026-11-{day} h:m New York time (EST, UTC−5) as stored: tz-naive UTC."""
    return dt.datetime(2026, 11, day, h + 5, m)


def thursday_to_friday(night_sigma: float | None = SIGMA_NIGHT) -> dict[str, Any]:
    """A buy of 1,000 shares arriving Thursday 2026-11-19 14:00 and ending Friday 12:00 (New York), filled
    500 at Thursday 14:30 and 500 at Friday 10:00; the mid gaps up overnight from 40.20 to 44.00."""
    orders = pl.DataFrame({
        "order_id": ["A"], "symbol": ["X"], "side": ["buy"], "quantity": [1000.0], "arrival_ts": [et(19, 14)],
        "end_ts": [et(20, 12)], "decision_price": [40.0], "broker": ["B"], "algo": ["AC"], "trader": ["T"],
    })  # fmt: skip
    fills = pl.DataFrame({
        "fill_id": ["F1", "F2"], "order_id": ["A", "A"], "ts": [et(19, 14, 30), et(20, 10)],
        "price": [40.05, 44.05], "quantity": [500.0, 500.0], "fee_usd": [0.0, 0.0], "venue": ["XNAS", "XNAS"],
    })  # fmt: skip
    mids = [(et(19, 14), 40.00), (et(19, 15), 40.20), (et(20, 9, 30), 44.00), (et(20, 11), 44.10)]
    quotes = pl.DataFrame({"symbol": ["X"] * 4, "ts": [m[0] for m in mids], "bid": [m[1] - 0.01 for m in mids],
                           "ask": [m[1] + 0.01 for m in mids]})  # fmt: skip
    trades = pl.DataFrame({"symbol": ["X"], "ts": [et(19, 14, 10)], "price": [40.0], "size": [100.0]})
    sessions = pl.DataFrame({"date": [dt.date(2026, 11, 19), dt.date(2026, 11, 20)],
                             "open_ts": [et(19, 9, 30), et(20, 9, 30)],
                             "close_ts": [et(19, 16), et(20, 16)]})  # fmt: skip
    params = pl.DataFrame(
        {"symbol": ["X"], "calibration_as_of": [dt.date(2026, 11, 18)], "sigma_usd": [SIGMA], "gamma": [GAMMA],
         "eta": [ETA], "epsilon_usd": [EPS], "sigma_overnight_usd": [night_sigma]},
        schema_overrides={"sigma_overnight_usd": pl.Float64},
    )  # fmt: skip
    return {"orders": orders, "fills": fills, "quotes": quotes, "trades": trades, "sessions": sessions,
            "closes": pl.DataFrame({"symbol": ["X"], "close_mid_usd": [44.1]}), "params": params,
            "clock": TradingClock()}  # fmt: skip


def test_twap_weighs_session_time_only() -> None:
    row = attribute_orders(**thursday_to_friday()).row(0, named=True)
    # Thursday 14-15 at 40.00, 15-16 at 40.20; Friday 9:30-11 at 44.00, 11-12 at 44.10: 4.5 session hours
    twap = (1.0 * 40.00 + 1.0 * 40.20 + 1.5 * 44.00 + 1.0 * 44.10) / 4.5
    assert row["twap_mid_usd"] == pytest.approx(twap, rel=1e-12)
    vwap = (40.05 + 44.05) / 2
    assert row["slippage_twap_bps"] == pytest.approx((vwap - twap) / twap * 1e4, rel=1e-9)
    # arrival 14:00 to the last fill Friday 10:00: 120 + 30 trading minutes
    assert row["duration_min"] == pytest.approx(150.0, rel=1e-12)


def test_the_model_counts_session_time_and_the_night_held_across() -> None:
    row = attribute_orders(**thursday_to_friday()).row(0, named=True)
    tau1, tau2 = 0.5 / 6.5, 2.0 / 6.5  # 14:00-14:30; 14:30-16:00 and 9:30-10:00 (not 19.5 h of wall clock)
    e = 0.5 * GAMMA * (1000**2 - 2 * 500**2) + EPS * 1000 + ETA * (500**2 / tau1 + 500**2 / tau2)
    v = (
        SIGMA**2 * (tau1 * 1000**2 + tau2 * 500**2) + SIGMA_NIGHT**2 * 500**2
    )  # 500 shares wait over one night
    assert row["nights_crossed"] == 1 and row["model_status"] == "ok"
    assert row["model_expected_cost_usd"] == pytest.approx(e, rel=1e-12)
    assert row["model_std_usd"] == pytest.approx(v**0.5, rel=1e-12)
    c = 500 * (40.05 - 40.00) + 500 * (44.05 - 40.00)
    assert row["z_score"] == pytest.approx((c - e) / v**0.5, rel=1e-9)


def test_a_night_without_an_overnight_sigma_gets_no_z_and_says_why() -> None:
    row = attribute_orders(**thursday_to_friday(night_sigma=None)).row(0, named=True)
    assert (
        row["model_status"] == "no_overnight_sigma"
        and row["z_score"] is None
        and row["model_std_usd"] is None
    )
