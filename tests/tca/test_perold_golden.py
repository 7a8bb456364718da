"""Perold's implementation shortfall through the attribution against its golden vectors
(tests/resources/perold_shortfall_example.toml), for the buy and for its mirror, the sell."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from data.calendar import TradingClock
from tca.attribution import attribute_orders
from tests.golden import golden

PEROLD = golden("perold_shortfall_example.toml")
DAY = dt.date(2026, 11, 16)
COMPONENTS = ("delay", "trading", "spread", "impact", "opportunity", "fees", "total")


def _at(clock_time: str) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time.fromisoformat(clock_time))


def _frames(side: str) -> dict[str, Any]:
    """The file's order as attribution's inputs; the sell has every price reflected about P_d."""
    o = PEROLD["order"]
    p_d = o["decision_price_usd"]

    def price(p: float) -> float:
        return p if side == "buy" else 2 * p_d - p

    mids = [price(q["mid_usd"]) for q in PEROLD["quotes"]]
    half = [q["half_spread_usd"] for q in PEROLD["quotes"]]
    fills = PEROLD["fills"]
    return {
        "orders": pl.DataFrame({
            "order_id": ["A"], "symbol": ["X"], "side": [side], "quantity": [o["quantity"]],
            "arrival_ts": [_at(o["arrival"])], "end_ts": [_at(o["end"])], "decision_price": [p_d],
            "broker": ["B"], "algo": ["A"], "trader": ["T"],
        }),
        "fills": pl.DataFrame(
            {"fill_id": [f"F{i}" for i in range(len(fills))], "order_id": ["A"] * len(fills),
             "ts": [_at(f["time"]) for f in fills], "price": [price(f["price_usd"]) for f in fills],
             "quantity": [f["quantity"] for f in fills], "fee_usd": [f["fee_usd"] for f in fills],
             "venue": ["XNAS"] * len(fills)},
            schema={"fill_id": pl.String, "order_id": pl.String, "ts": pl.Datetime("us"), "price": pl.Float64,
                    "quantity": pl.Float64, "fee_usd": pl.Float64, "venue": pl.String},
        ),
        "quotes": pl.DataFrame({
            "symbol": ["X"] * len(mids), "ts": [_at(q["time"]) for q in PEROLD["quotes"]],
            "bid": [m - h for m, h in zip(mids, half, strict=True)],
            "ask": [m + h for m, h in zip(mids, half, strict=True)],
        }),
        "trades": pl.DataFrame({
            "symbol": ["X"] * len(PEROLD["trades"]), "ts": [_at(t["time"]) for t in PEROLD["trades"]],
            "price": [price(t["price_usd"]) for t in PEROLD["trades"]],
            "size": [t["size"] for t in PEROLD["trades"]],
        }),
        "sessions": pl.DataFrame({"date": [DAY], "open_ts": [_at("14:30:00")], "close_ts": [_at("21:00:00")]}),
        "closes": pl.DataFrame({"symbol": ["X"], "close_mid_usd": [mids[-1]]}),
        "params": pl.DataFrame(schema={"symbol": pl.String, "calibration_as_of": pl.Date, "sigma_usd": pl.Float64,
                                       "gamma": pl.Float64, "eta": pl.Float64, "epsilon_usd": pl.Float64}),
        "clock": TradingClock(),
    }  # fmt: skip


def test_the_files_example_adds_up() -> None:
    """The file against itself: components sum to the total; bps are USD over Q × P_d."""
    e, o = PEROLD["expected"], PEROLD["order"]
    assert o["notional_usd"] == o["quantity"] * o["decision_price_usd"]
    parts = ("delay", "trading", "opportunity", "fees")
    assert sum(e[f"{c}_usd"] for c in parts) == pytest.approx(e["total_usd"], rel=1e-15)
    assert e["spread_usd"] + e["impact_usd"] == pytest.approx(e["trading_usd"], rel=1e-15)
    for c in COMPONENTS:
        assert e[f"{c}_bps"] == pytest.approx(e[f"{c}_usd"] / o["notional_usd"] * 1e4, abs=1e-12), c


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_attribution_reproduces_the_golden_shortfall(side: str) -> None:
    row = attribute_orders(**_frames(side)).row(0, named=True)
    expected = PEROLD["expected"]
    for c in COMPONENTS:
        for unit in ("usd", "bps"):
            key = f"{c}_{unit}"
            assert row[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-9), key
    assert row["fill_rate"] == pytest.approx(expected["fill_rate"])
    assert row["status"] == "ok"
