"""The simulator produces the market model of DESIGN §4 with the parameters its truth file states.

Each check compares a statistic of the generated data with its closed form from the parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from kappa.units import SESSION_SECONDS
from simulator import (
    FILL_NOISE_HALF_SPREADS,
    SimConfig,
    SymbolParams,
    daily_history,
    random_universe,
    simulate_days,
    truth,
    write_dataset,
)

START = dt.date(2026, 9, 1)
# A symbol whose public flow moves the price a lot, so that σ² = σ_d² + γ²·E[N]·E[s²] is tested in
# both of its terms: here the impact term is 0.6² of the diffusion's 0.8².
HEAVY = SymbolParams(
    "HEAVY",
    s0=50.0,
    sigma_diffusion_usd=0.8,
    gamma=0.0,
    eta=2e-6,
    epsilon_usd=0.02,
    adv_shares=400_000,
    mean_trade_lots=2.0,
    quotes_per_day=1_500,
)
_m2, _n = HEAVY.trade_size_moments[1], HEAVY.trades_per_day
HEAVY = SymbolParams(
    **{**{f: getattr(HEAVY, f) for f in HEAVY.__slots__}, "gamma": 0.6 / math.sqrt(_n * _m2)}
)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def quiet_days() -> list:  # 60 sessions without own orders: the mid absent one's own trading
    return simulate_days(SimConfig((HEAVY,), START, 60, orders_per_symbol_day=0, seed=3))


def test_sigma_truth_formula() -> None:
    assert HEAVY.sigma_usd == pytest.approx(1.0, rel=1e-12)  # √(0.8² + 0.6²)


def test_realized_variance_of_the_mid_matches_sigma(quiet_days: list) -> None:
    daily_rv = []
    for d in quiet_days:
        q = d.quotes.with_columns(mid=(pl.col("bid") + pl.col("ask")) / 2)
        bars = q.group_by_dynamic("ts", every="5m").agg(pl.col("mid").last()).sort("ts")
        mids = np.concatenate([[q["mid"][0]], bars["mid"].to_numpy()])
        daily_rv.append(np.sum(np.diff(mids) ** 2))
    # 60 days × 78 returns: the relative s.e. of the variance is about √(2/4680) = 2 %
    assert np.mean(daily_rv) == pytest.approx(HEAVY.sigma_usd**2, rel=0.07)


def test_quotes_sit_at_mid_plus_minus_epsilon(quiet_days: list) -> None:
    q = quiet_days[0].quotes
    np.testing.assert_allclose((q["ask"] - q["bid"]).to_numpy(), 2 * HEAVY.epsilon_usd, rtol=1e-9)


def test_public_trades_print_at_the_prevailing_quote_and_move_the_mid_by_gamma(quiet_days: list) -> None:
    d = quiet_days[1]
    q = d.quotes.with_columns(mid=(pl.col("bid") + pl.col("ask")) / 2).sort("ts")
    t = d.trades.sort("ts").join_asof(
        q.select("ts", "bid", "ask", "mid"), on="ts", strategy="backward", allow_exact_matches=False
    )
    at_quote = np.isclose(t["price"], t["ask"], atol=1e-9) | np.isclose(t["price"], t["bid"], atol=1e-9)
    assert at_quote.all()
    after = t.join_asof(
        q.select("ts", pl.col("mid").alias("mid_after")),
        on="ts",
        strategy="forward",
        allow_exact_matches=False,
    )
    sign = np.where(t["price"].to_numpy() > t["mid"].to_numpy(), 1.0, -1.0)
    jump = after["mid_after"].to_numpy() - t["mid"].to_numpy()
    # the quote 1 µs after the trade shows exactly the trade's impact (no diffusion between them)
    np.testing.assert_allclose(jump, sign * HEAVY.gamma * t["size"].to_numpy(), rtol=1e-6, atol=1e-9)


def test_volume_and_u_shaped_profile(quiet_days: list) -> None:
    vol = [d.trades["size"].sum() for d in quiet_days]
    assert np.mean(vol) == pytest.approx(HEAVY.adv_shares, rel=0.03)
    t = pl.concat([d.trades for d in quiet_days])
    local = t["ts"].dt.replace_time_zone("UTC").dt.convert_time_zone("America/New_York")
    minute = (local.dt.hour().cast(int) * 60 + local.dt.minute().cast(int) - (9 * 60 + 30)).to_numpy()
    first, middle, last = (np.sum((minute >= a) & (minute < a + 30)) for a in (0, 180, 360))

    def mass(a: float) -> float:  # ∫ 1 + 2(2u − 1)² du over the half hour starting at minute a
        u0, u1 = a / 390, (a + 30) / 390
        return (u1 - u0) + ((2 * u1 - 1) ** 3 - (2 * u0 - 1) ** 3) / 3

    assert first / middle == pytest.approx(mass(0) / mass(180), rel=0.08)
    assert last / middle == pytest.approx(mass(360) / mass(180), rel=0.08)
    assert mass(0) / mass(180) > 2.5


def test_own_fills_pay_epsilon_plus_eta_times_rate() -> None:
    sym = SymbolParams("OWN", 40.0, 0.3, 5e-7, 4e-6, 0.015, 300_000, quotes_per_day=20_000)
    days = simulate_days(SimConfig((sym,), START, 15, orders_per_symbol_day=6, seed=5, partial_fill_prob=0.3))
    quotes = (
        pl.concat([d.quotes for d in days]).with_columns(mid=(pl.col("bid") + pl.col("ask")) / 2).sort("ts")
    )
    orders = pl.concat([d.orders for d in days])
    parents = orders.select("order_id", "side", pl.col("quantity").alias("order_qty"), "arrival_ts", "end_ts")
    fills = pl.concat([d.fills for d in days]).sort("ts").join(parents, on="order_id")
    fills = fills.join_asof(
        quotes.select("ts", "mid"), on="ts", strategy="backward", allow_exact_matches=False
    )
    side = np.where(fills["side"] == "buy", 1.0, -1.0)
    y = side * (fills["price"] - fills["mid"]).to_numpy()
    x = fills["rate_shares_per_day"].to_numpy()
    slope, intercept = np.polyfit(x, y, 1)
    assert intercept == pytest.approx(sym.epsilon_usd, rel=0.10)
    assert slope == pytest.approx(sym.eta, rel=0.10)
    # fills stay inside their order's window and never exceed the order; some orders stop early
    assert ((fills["ts"] > fills["arrival_ts"]) & (fills["ts"] <= fills["end_ts"])).all()
    done = fills.group_by("order_id").agg(pl.col("quantity").sum(), pl.col("order_qty").first())
    assert (done["quantity"] <= done["order_qty"]).all()
    assert (done["quantity"] == done["order_qty"]).mean() == pytest.approx(0.7, abs=0.15)


def test_fill_prices_carry_the_stated_noise_and_none_by_default() -> None:
    """fill = mid + side·(ε + η·n/τ) + u with u ~ N(0, fill_noise_usd²): exact at 0, noisy otherwise."""

    def residuals(noise: float) -> np.ndarray:
        sym = SymbolParams("OWN", 40.0, 0.3, 5e-7, 4e-6, 0.015, 300_000, quotes_per_day=20_000,
                           fill_noise_usd=noise)  # fmt: skip
        days = simulate_days(SimConfig((sym,), START, 10, orders_per_symbol_day=6, seed=5))
        quotes = pl.concat([d.quotes for d in days]).with_columns(mid=(pl.col("bid") + pl.col("ask")) / 2)
        sides = pl.concat([d.orders for d in days]).select("order_id", "side")
        fills = (
            pl.concat([d.fills for d in days])
            .sort("ts")
            .join(sides, on="order_id")
            .join_asof(quotes.sort("ts").select("ts", "mid"), on="ts", allow_exact_matches=False)
        )
        side = np.where(fills["side"] == "buy", 1.0, -1.0)
        model = fills["mid"].to_numpy() + side * (
            sym.epsilon_usd + sym.eta * fills["rate_shares_per_day"].to_numpy()
        )
        return fills["price"].to_numpy() - model

    assert np.abs(residuals(0.0)).max() < 1e-9
    u = residuals(0.01)
    assert (
        u.size > 300
        and np.std(u) == pytest.approx(0.01, rel=0.1)
        and abs(np.mean(u)) < 3 * 0.01 / u.size**0.5
    )


def test_the_demo_universe_has_noisy_fills_and_the_truth_says_so(tmp_path: Path) -> None:
    syms = random_universe(3, seed=7)
    assert [p.fill_noise_usd for p in syms] == [FILL_NOISE_HALF_SPREADS * p.epsilon_usd for p in syms]
    assert FILL_NOISE_HALF_SPREADS > 0
    assert all(p.fill_noise_usd == 0 for p in random_universe(3, seed=7, fill_noise_half_spreads=0.0))
    cfg = SimConfig(syms, START, 1, seed=2)
    write_dataset(cfg, tmp_path)
    t = json.loads((tmp_path / "truth.json").read_text())
    assert {s: v["fill_noise_usd"] for s, v in t["symbols"].items()} == {
        p.symbol: p.fill_noise_usd for p in syms
    }
    assert "fill_noise_usd" in t["units"]


def test_same_seed_same_data() -> None:
    cfg = SimConfig((HEAVY,), START, 2, seed=9)
    a, b = simulate_days(cfg), simulate_days(cfg)
    for x, y in zip(a, b, strict=True):
        assert x.quotes.equals(y.quotes) and x.trades.equals(y.trades) and x.fills.equals(y.fills)


def test_daily_history_is_garch_with_the_stated_unconditional_variance() -> None:
    hist = daily_history((HEAVY,), START, 4_000, seed=1)
    r = 100 * np.diff(np.log(hist["close"].to_numpy()))
    assert len(hist) == 4_000 and hist["date"].max() < START
    assert hist["close"][-1] == pytest.approx(HEAVY.s0)
    uncond = HEAVY.garch_omega / (1 - HEAVY.garch_alpha - HEAVY.garch_beta)
    assert np.var(r) == pytest.approx(uncond, rel=0.15)
    assert uncond == pytest.approx((100 * HEAVY.sigma_usd / HEAVY.s0) ** 2)


def test_written_dataset_has_truth_and_inbox_layout(tmp_path: Path) -> None:
    cfg = SimConfig((HEAVY,), START, 2, history_days=30, seed=2)
    dates = write_dataset(cfg, tmp_path)
    assert {p.name for p in (tmp_path / dates[0].isoformat()).iterdir()} == {
        "quotes.csv",
        "trades.csv",
        "orders.csv",
        "fills.csv",
    }
    t = json.loads((tmp_path / "truth.json").read_text())
    assert t["symbols"]["HEAVY"]["sigma_usd"] == pytest.approx(1.0)
    assert t == json.loads(json.dumps(truth(cfg), default=str))
    assert SESSION_SECONDS == 6.5 * 3600


def test_orders_over_several_sessions_fill_on_each_with_session_time_intervals() -> None:
    from data.calendar import session_time_days

    sym = SymbolParams("SPAN", 40.0, 0.5, 0.0, 3e-6, 0.01, 500_000, quotes_per_day=300)
    # Thursday 2026-11-12: sessions Thu, Fri, Mon, Tue, Wed; the default spans (1, 2), (2, 3), (3, 2)
    days = simulate_days(SimConfig((sym,), dt.date(2026, 11, 12), 5, orders_per_symbol_day=1, seed=4))
    orders = pl.concat([d.orders for d in days]).filter(pl.col("order_id").str.contains("-M"))
    fills = pl.concat([d.fills.with_columns(day=pl.lit(d.date)) for d in days])
    utc = dt.UTC
    spans = {}
    for o in orders.iter_rows(named=True):
        f = fills.filter(pl.col("order_id") == o["order_id"]).sort("ts")
        spans[o["order_id"][-2:]] = sorted(set(f["day"].to_list()))
        assert f["quantity"].sum() == o["quantity"] and f["fill_id"].n_unique() == f.height
        # each child's true rate is n/τ with τ the session time since the previous fill (first: arrival)
        prev = [o["arrival_ts"], *f["ts"].to_list()[:-1]]
        for p, row in zip(prev, f.iter_rows(named=True), strict=True):
            tau = session_time_days(p.replace(tzinfo=utc), row["ts"].replace(tzinfo=utc))
            assert row["rate_shares_per_day"] == pytest.approx(row["quantity"] / tau, rel=1e-6)
        assert f["ts"].max() <= o["end_ts"]
    fri, mon, tue, wed = (dt.date(2026, 11, d) for d in (13, 16, 17, 18))
    assert spans == {"M0": [fri, mon], "M1": [mon, tue, wed], "M2": [tue, wed]}  # fills on every session
    # the orders of the day file they arrive in, once; no spanning order without own orders
    assert orders["order_id"].n_unique() == 3
    none = simulate_days(SimConfig((sym,), dt.date(2026, 11, 12), 5, orders_per_symbol_day=0, seed=4))
    assert sum(d.orders.height for d in none) == 0
