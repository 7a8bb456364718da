"""Attribution by hand: benchmarks, statuses for missing data, children, multi-day orders (Perold's worked
example is test_perold_golden.py, from tests/resources)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from data.calendar import TradingClock
from tca.attribution import attribute_orders

D = dt.date(2026, 11, 16)
OPEN, CLOSE = dt.datetime(2026, 11, 16, 14, 30), dt.datetime(2026, 11, 16, 21, 0)


def t(h: int, m: int, s: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, 16, h, m, s)


def _frames(side: str, filled: list[tuple[dt.datetime, float, float]], decision: float | None = 40.0,
            mids: tuple[float, float] = (40.04, 40.08), quotes: bool = True) -> dict[str, Any]:  # fmt: skip
    sgn = 1 if side == "buy" else -1
    m0, m1 = (40 + sgn * (m - 40) for m in mids)  # the sell mirrors the buy around 40
    orders = pl.DataFrame({
        "order_id": ["A"], "symbol": ["X"], "side": [side], "quantity": [1000.0], "arrival_ts": [t(14, 35)],
        "end_ts": [t(15, 0)], "decision_price": [decision], "broker": ["B1"], "algo": ["VWAP"], "trader": ["T1"],
    })  # fmt: skip
    fills = pl.DataFrame(
        {"fill_id": [f"F{i}" for i in range(len(filled))], "order_id": ["A"] * len(filled),
         "ts": [f[0] for f in filled], "price": [f[1] for f in filled], "quantity": [f[2] for f in filled],
         "fee_usd": [17.0 / max(1, len(filled))] * len(filled), "venue": ["XNAS"] * len(filled)},
        schema={"fill_id": pl.String, "order_id": pl.String, "ts": pl.Datetime("us"), "price": pl.Float64,
                "quantity": pl.Float64, "fee_usd": pl.Float64, "venue": pl.String},
    )  # fmt: skip
    q = pl.DataFrame({"symbol": ["X"] * 3, "ts": [t(14, 30), t(14, 50), t(15, 10)],
                      "bid": [m0 - 0.01, m1 - 0.01, m1 - 0.01], "ask": [m0 + 0.01, m1 + 0.01, m1 + 0.01]})  # fmt: skip
    if not quotes:
        q = q.clear()
    trades = pl.DataFrame({"symbol": ["X", "X", "X"], "ts": [t(14, 40), t(14, 55), t(15, 5)],
                           "price": [40.0, 40.1, 41.0], "size": [100.0, 300.0, 1000.0]})  # fmt: skip
    return {
        "orders": orders, "fills": fills, "quotes": q, "trades": trades,
        "sessions": pl.DataFrame({"date": [D], "open_ts": [OPEN], "close_ts": [CLOSE]}),
        "closes": pl.DataFrame({"symbol": ["X"], "close_mid_usd": [40.2]}),
        "params": pl.DataFrame(schema={"symbol": pl.String, "calibration_as_of": pl.Date, "sigma_usd": pl.Float64,
                                       "gamma": pl.Float64, "eta": pl.Float64, "epsilon_usd": pl.Float64}),
        "clock": TradingClock(),
    }  # fmt: skip


def test_benchmarks_by_hand() -> None:
    row = attribute_orders(**_frames("buy", [(t(14, 40), 40.05, 700.0)])).row(0, named=True)
    # interval VWAP over [14:35, 15:00]: 100 @ 40.0 and 300 @ 40.1 → 40.075; the PWP window ends at the
    # last fill (14:40): 100 @ 40.0, so participation = 700 / 100
    assert row["interval_vwap_usd"] == pytest.approx(40.075)
    assert row["pwp_usd"] == pytest.approx(40.0) and row["participation_rate"] == pytest.approx(7.0)
    # TWAP mid: 40.04 for 15 minutes, 40.08 for 10 → 40.056
    assert row["twap_mid_usd"] == pytest.approx((40.04 * 15 + 40.08 * 10) / 25)
    assert row["slippage_arrival_bps"] == pytest.approx((40.05 - 40.04) / 40.04 * 1e4)
    assert row["slippage_close_bps"] == pytest.approx((40.05 - 40.2) / 40.2 * 1e4)
    assert row["slippage_interval_vwap_bps"] == pytest.approx((40.05 - 40.075) / 40.075 * 1e4)
    # reversions: the mid 1 and 5 minutes after the 14:40 fill is 40.04, 30 minutes after 40.08
    assert row["reversion_1m_bps"] == pytest.approx((40.05 - 40.04) / 40.05 * 1e4)
    assert row["reversion_30m_bps"] == pytest.approx((40.05 - 40.08) / 40.05 * 1e4)


def test_no_fills_and_fills_without_quotes() -> None:
    none = attribute_orders(**_frames("buy", [])).row(0, named=True)
    assert none["status"] == "no_fills" and none["filled_shares"] == 0.0
    assert none["opportunity_usd"] == pytest.approx(1000 * 0.08) and none["trading_usd"] == 0.0
    assert none["fees_usd"] == 0.0 and none["total_usd"] == pytest.approx(80.0)
    blind = attribute_orders(**_frames("buy", [(t(14, 40), 40.05, 700.0)], quotes=False)).row(0, named=True)
    assert blind["status"] == "no_quotes" and blind["fill_vwap_usd"] == 40.05
    assert blind["arrival_mid_usd"] is None and blind["total_usd"] is None and blind["trading_usd"] is None
    # no decision price: the arrival mid is the reference and there is no delay
    nodec = attribute_orders(**_frames("buy", [(t(14, 40), 40.05, 1000.0)], decision=None)).row(0, named=True)
    assert nodec["reference_price_usd"] == pytest.approx(40.04) and nodec["delay_usd"] == 0.0
    assert nodec["opportunity_usd"] == 0.0 and nodec["total_usd"] == pytest.approx(10.0 + 17.0)


def _with_params(frames: dict[str, Any]) -> dict[str, Any]:
    frames["params"] = pl.DataFrame(
        {"symbol": ["X"], "calibration_as_of": [dt.date(2026, 11, 13)], "sigma_usd": [0.5], "gamma": [1e-6],
         "eta": [2e-5], "epsilon_usd": [0.01]}
    )  # fmt: skip
    return frames


def test_fills_at_one_instant_are_one_child_and_the_venue_is_the_one_with_most_shares() -> None:
    fr = _with_params(
        _frames("buy", [(t(14, 40), 40.05, 300.0), (t(14, 40), 40.06, 300.0), (t(14, 50), 40.1, 100.0)])
    )
    fr["fills"] = fr["fills"].with_columns(pl.Series("venue", ["XNAS", "XNAS", "ARCX"]).alias("venue"))
    fr["fills"] = fr["fills"].with_columns(
        pl.when(pl.col("fill_id") == "F2").then(pl.lit(600.0)).otherwise(pl.col("quantity")).alias("quantity")
    )
    row = attribute_orders(**fr).row(0, named=True)
    assert row["venue"] == "ARCX" and row["venues"] == 2  # 600 shares on ARCX against 300 + 300 on XNAS
    # two children: 600 at 14:40 (5 min after arrival), 600 at 14:50; E and V by hand
    tau1, tau2 = 300 / 23_400, 600 / 23_400
    e = 0.5 * 1e-6 * (1200**2 - 2 * 600**2) + 0.01 * 1200 + 2e-5 * (600**2 / tau1 + 600**2 / tau2)
    v = 0.25 * (tau1 * 1200**2 + tau2 * 600**2)
    c = 300 * (40.05 - 40.04) + 300 * (40.06 - 40.04) + 600 * (40.1 - 40.04) + 17.0
    assert row["model_expected_cost_usd"] == pytest.approx(e) and row["model_std_usd"] == pytest.approx(
        v**0.5
    )
    assert row["z_score"] == pytest.approx((c - e) / v**0.5) and row["model_status"] == "ok"


def test_a_fill_at_the_arrival_instant_gets_no_z_and_says_why() -> None:
    row = attribute_orders(**_with_params(_frames("buy", [(t(14, 35), 40.05, 700.0)]))).row(0, named=True)
    assert row["z_score"] is None and row["model_status"] == "zero_interval"
    assert row["total_bps"] == pytest.approx(19.0)  # the shortfall does not depend on the model


def test_day_summary_adds_up_with_unfilled_orders() -> None:
    from reports.tca_report import day_summary

    filled = attribute_orders(**_frames("buy", [(t(14, 40), 40.05, 700.0)]))
    empty = attribute_orders(**_frames("sell", [])).with_columns(pl.lit("B").alias("order_id"))
    s = day_summary(pl.concat([filled, empty]))
    parts = sum(s[f"{c}_bps"] for c in ("delay", "spread", "impact", "opportunity", "fees"))
    assert parts == pytest.approx(s["total_bps"]) and s["spread_bps"] == pytest.approx(7.0 / 80_000 * 1e4)


# ---------------------------------------------------------------------------- an order over two sessions

D1, D2 = dt.date(2026, 11, 16), dt.date(2026, 11, 17)
SESSIONS = pl.DataFrame({
    "date": [D1, D2], "open_ts": [dt.datetime(2026, 11, 16, 14, 30), dt.datetime(2026, 11, 17, 14, 30)],
    "close_ts": [dt.datetime(2026, 11, 16, 21, 0), dt.datetime(2026, 11, 17, 21, 0)],
})  # fmt: skip


def _two_day(day2_shares: float, through: dt.date) -> dict[str, pl.DataFrame]:
    """A buy of 1,000 decided at 40.00, arriving 15:00 New York on D1 (mid 40.04), ending 10:30 on D2; 500
    filled on D1 at 40.10, ``day2_shares`` at 40.55 on D2; $5 of fees a fill; D1 closes at mid 40.30, D2 opens
    at 40.50 (every quote 1 cent either side); the frames the flow hands over for the session ``through``."""
    last = dt.datetime.combine(through, dt.time(21, 0))
    orders = pl.DataFrame({
        "order_id": ["W"], "symbol": ["X"], "side": ["buy"], "quantity": [1000.0],
        "arrival_ts": [dt.datetime(2026, 11, 16, 20, 0)], "end_ts": [dt.datetime(2026, 11, 17, 15, 30)],
        "decision_price": [40.0], "broker": ["B1"], "algo": ["AC"], "trader": ["T1"],
    })  # fmt: skip
    fills = pl.DataFrame({
        "fill_id": ["W1", "W2"], "order_id": ["W", "W"],
        "ts": [dt.datetime(2026, 11, 16, 20, 30), dt.datetime(2026, 11, 17, 15, 0)], "price": [40.10, 40.55],
        "quantity": [500.0, day2_shares], "fee_usd": [5.0, 5.0], "venue": ["XNAS", "XNAS"],
    }).filter(pl.col("ts") <= last)  # fmt: skip
    mids = [(dt.datetime(2026, 11, 16, 19, 55), 40.04), (dt.datetime(2026, 11, 16, 20, 59), 40.30),
            (dt.datetime(2026, 11, 17, 14, 30), 40.50), (dt.datetime(2026, 11, 17, 15, 40), 40.60)]  # fmt: skip
    quotes = pl.DataFrame({"symbol": ["X"] * 4, "ts": [m[0] for m in mids],
                           "bid": [m[1] - 0.01 for m in mids], "ask": [m[1] + 0.01 for m in mids]})  # fmt: skip
    trades = pl.DataFrame({"symbol": ["X"], "ts": [dt.datetime(2026, 11, 16, 20, 10)], "price": [40.05],
                           "size": [100.0]})  # fmt: skip
    return {
        "orders": orders, "fills": fills, "quotes": quotes.filter(pl.col("ts") <= last),
        "trades": trades, "sessions": SESSIONS.filter(pl.col("date") <= through),
        "closes": pl.DataFrame({"symbol": ["X"], "close_mid_usd": [40.30 if through == D1 else 40.70]}),
        "params": pl.DataFrame({"symbol": ["X"], "calibration_as_of": [D1], "sigma_usd": [0.5],
                                "gamma": [1e-6], "eta": [1e-5], "epsilon_usd": [0.01], "sigma_overnight_usd": [0.3]}),
        "clock": TradingClock(),
    }  # fmt: skip


def test_an_order_working_at_the_close_is_marked_not_charged_opportunity() -> None:
    # Perold on D1, by hand: q = 500 at 40.10, M_a = 40.04, P_d = 40.00, notional 1,000 × 40 = $40,000
    #   delay 500·0.04 = 20, trading 500·0.06 = 30 (spread 500·0.01 = 5, impact 25), fees 5: executed $55
    #   the 500 open shares marked at the close: 500·(40.30 − 40.00) = $150, not an opportunity cost
    row = attribute_orders(**_two_day(500.0, D1)).row(0, named=True)
    assert row["status"] == row["model_status"] == "working"
    assert row["delay_usd"] == pytest.approx(20.0) and row["trading_usd"] == pytest.approx(30.0)
    assert row["spread_usd"] == pytest.approx(5.0) and row["impact_usd"] == pytest.approx(25.0)
    assert row["executed_cost_usd"] == pytest.approx(55.0) and row["executed_cost_bps"] == pytest.approx(
        13.75
    )
    assert row["interim_mtm_usd"] == pytest.approx(150.0) and row["interim_mtm_bps"] == pytest.approx(37.5)
    for c in ("opportunity_usd", "opportunity_bps", "total_usd", "total_bps", "end_mid_usd", "z_score"):
        assert row[c] is None, c
    # the report's day: the order is counted as working with its mark, and costs nothing yet
    from reports.tca_report import day_summary, key_numbers

    s = day_summary(attribute_orders(**_two_day(500.0, D1)))
    assert s["working_orders"] == 1 and s["interim_mtm_usd"] == pytest.approx(150.0) and s["total_usd"] == 0.0
    assert ("Working at the close (costed when complete)", "1 order, interim mark $150.00") in key_numbers(s)


@pytest.mark.parametrize(("day2", "opportunity"), [(500.0, 0.0), (300.0, 200 * 0.50)])
def test_a_two_day_order_is_attributed_whole_when_it_completes(day2: float, opportunity: float) -> None:
    # D2: every fill since arrival; Perold total = s·(Σ q_i p_i − q·P_d) + s·(Q − q)(M_e − P_d) + F, with M_e
    # the mid at the order's end (10:30, the 09:30 quote: 40.50) for the unfilled shares of an order that
    # expired (fully filled: 500·40.10 + 500·40.55 − 40,000 + 10 = $335, 83.75 bps)
    row = attribute_orders(**_two_day(day2, D2)).row(0, named=True)
    q = 500.0 + day2
    executed = 500 * 40.10 + day2 * 40.55 - q * 40.0 + 10.0
    assert row["status"] == "ok" and row["model_status"] == "ok" and row["filled_shares"] == q
    assert row["delay_usd"] == pytest.approx(q * 0.04)
    assert row["spread_usd"] == pytest.approx(q * 0.01)
    assert row["opportunity_usd"] == pytest.approx(opportunity)
    assert row["executed_cost_usd"] == pytest.approx(executed)
    assert row["total_usd"] == pytest.approx(executed + opportunity)
    assert row["total_bps"] == pytest.approx((executed + opportunity) / 4.0)
    assert row["interim_mtm_usd"] is None and row["z_score"] is not None
    if day2 == 500.0:
        assert row["total_usd"] == pytest.approx(335.0) and row["total_bps"] == pytest.approx(83.75)
