"""Over many simulated orders with known parameters, z = (C − E)/√V is standard normal."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from data.calendar import TradingClock, session_bounds
from simulator import SimConfig, SymbolParams, simulate_days
from tca.attribution import attribute_orders

SYMS = (
    SymbolParams("AAA", 50.0, 0.9, 4e-7, 2e-6, 0.02, 600_000, quotes_per_day=3_000, fee_usd_per_share=0.002),
    SymbolParams("BBB", 120.0, 2.5, 1e-6, 5e-6, 0.03, 300_000, quotes_per_day=3_000),
    SymbolParams("CCC", 20.0, 0.3, 1e-7, 6e-7, 0.01, 1_500_000, quotes_per_day=3_000),
)


def test_z_scores_of_orders_following_almgren_chriss_are_standard_normal() -> None:
    cfg = SimConfig(SYMS, dt.date(2026, 11, 9), 5, orders_per_symbol_day=25, seed=11, partial_fill_prob=0.15)
    days = simulate_days(cfg)
    params = pl.DataFrame(
        [(p.symbol, dt.date(2026, 11, 6), p.sigma_usd, p.gamma, p.eta, p.epsilon_usd + p.fee_usd_per_share)
         for p in SYMS],
        schema=["symbol", "calibration_as_of", "sigma_usd", "gamma", "eta", "epsilon_usd"], orient="row",
    )  # fmt: skip
    z = []
    for d in days:
        out = attribute_orders(
            d.orders.select("order_id", "symbol", "side", "quantity", "arrival_ts", "end_ts", "decision_price",
                            "broker", "algo", "trader"),
            d.fills.select("fill_id", "order_id", "ts", "price", "quantity", "fee_usd", "venue"),
            d.quotes, d.trades, session_bounds(d.date, d.date),
            pl.DataFrame({"symbol": list(d.close_mid), "close_mid_usd": list(d.close_mid.values())}), params,
            TradingClock(),
        )  # fmt: skip
        ok = out.filter(pl.col("model_status") == "ok")
        assert ok.height >= 0.95 * out.filter(pl.col("filled_shares") > 0).height
        # the parts of E add up, and the permanent part is ½γ(X² − Σn²) ≥ 0
        assert np.allclose(
            ok["model_permanent_usd"] + ok["model_temporary_usd"], ok["model_expected_cost_usd"]
        )
        z.extend(ok["z_score"].to_list())
    z_arr = np.array(z)
    assert z_arr.size >= 300
    assert abs(z_arr.mean()) < 0.15, z_arr.mean()
    assert 0.85 < z_arr.std(ddof=1) < 1.15, z_arr.std(ddof=1)
