"""γ, ε, η and the power law against the simulator's truth; Lee-Ready on hand-worked trades."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from calibration.bars import bucket_mids, impact_buckets
from calibration.impact import (
    ALMGREN_2005_ETA,
    ScheduleGamma,
    child_rates,
    eta_fallback,
    gamma_status,
    kyle_lambda,
    kyle_lambda_by_symbol,
    newey_west_lags,
    schedule_gamma,
    temporary_impact,
)
from calibration.signs import lee_ready_signs
from calibration.window import calibrate_window
from data.calendar import TradingClock
from simulator import SymbolParams
from tests.calibration.conftest import simulate_window

# Heavy public flow relative to σ so that γ is identified in a few weeks of 5-minute buckets.
KYLE = SymbolParams("KYLE", 30.0, 0.25, 2e-6, 3e-6, 0.01, 600_000, quotes_per_day=2_000)
OWN = SymbolParams("OWN", 60.0, 1.2, 5e-7, 4e-6, 0.03, 500_000, quotes_per_day=2_000)
T0 = dt.datetime(2026, 11, 16, 15, 0)
SESSIONS = pl.DataFrame(
    {"open_ts": [dt.datetime(2026, 11, 16, 14, 30)], "close_ts": [dt.datetime(2026, 11, 16, 21, 0)]}
).cast(pl.Datetime("ns"))


def _ts(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_the_tick_rule_never_carries_a_tick_from_another_symbol() -> None:
    quotes = pl.DataFrame(
        {"symbol": ["A", "B"], "ts": [_ts(0), _ts(0)], "bid": [9.9, 19.9], "ask": [10.1, 20.1]}
    )
    trades = pl.DataFrame({
        "symbol": ["A", "A", "B", "B", "B"],
        "ts": [_ts(1), _ts(2), _ts(1), _ts(2), _ts(3)],
        "price": [9.0, 10.0, 20.0, 20.0, 20.0],  # A: a rise to the mid; B: at the mid, never a change
        "size": [100.0] * 5,
    })  # fmt: skip
    for order in (trades, trades.reverse()):
        signed = lee_ready_signs(order, quotes, SESSIONS).sort("symbol", "ts")
        assert signed["sign"].to_list() == [-1, 1, None, None, None]


def test_lee_ready_quote_rule_then_tick_rule() -> None:
    quotes = pl.DataFrame({"symbol": ["A"] * 3, "ts": [_ts(0), _ts(10), _ts(20)],
                           "bid": [10.0, 10.0, 10.1], "ask": [10.2, 10.2, 10.3]})  # fmt: skip
    trades = pl.DataFrame({
        "symbol": ["A"] * 6,
        "ts": [_ts(1), _ts(2), _ts(3), _ts(4), _ts(5), _ts(20)],
        "price": [10.2, 10.0, 10.1, 10.15, 10.15, 10.1],
        "size": [100.0] * 6,
    })  # fmt: skip
    signed = lee_ready_signs(trades, quotes, SESSIONS).sort("ts")
    # above mid, below mid, at mid after a rise (10.0 -> 10.1: tick up), above, zero tick: keep +1; the last
    # trade prints at the quote stamped at the same instant, which is not yet prevailing (mid 10.1): at mid,
    # after a fall 10.15 -> 10.1: −1
    assert signed["sign"].to_list() == [1, -1, 1, 1, 1, -1]
    assert signed["mid"].to_list()[-1] == pytest.approx(10.1)


def test_lee_ready_is_sign_symmetric() -> None:
    w = simulate_window((KYLE,), dt.date(2026, 11, 2), 2, orders_per_symbol_day=0)
    s = lee_ready_signs(w.trades, w.quotes, w.sessions)
    mirror_q = w.quotes.with_columns((100 - pl.col("ask")).alias("bid"), (100 - pl.col("bid")).alias("ask"))
    m = lee_ready_signs(w.trades.with_columns((100 - pl.col("price")).alias("price")), mirror_q, w.sessions)
    assert (s["sign"] == -m["sign"]).all()
    assert s["sign"].null_count() == 0


def test_kyle_lambda_within_two_standard_errors_of_a_permanent_only_gamma() -> None:
    """Without transient impact, the 5-minute λ is γ (and tighter with a longer window)."""
    fits = {}
    for days in (10, 40):
        w = simulate_window((KYLE,), dt.date(2026, 8, 3), days, orders_per_symbol_day=0, seed=days)
        b = impact_buckets(
            bucket_mids(w.quotes, w.sessions), lee_ready_signs(w.trades, w.quotes, w.sessions), w.sessions
        )
        fits[days] = kyle_lambda(b)
    for fit in fits.values():
        assert fit.status == "ok"
        assert abs(fit.coef - KYLE.gamma) < 2 * fit.se, (fit.coef, fit.se, KYLE.gamma)
    assert fits[40].se < 0.7 * fits[10].se  # √(10/40) = 0.5 in expectation
    assert abs(fits[40].coef - KYLE.gamma) / KYLE.gamma < 0.15
    assert fits[40].nobs == 40 * 78


def test_newey_west_lag_rule() -> None:
    assert [newey_west_lags(n) for n in (100, 780, 3120)] == [4, 6, 8]


@pytest.fixture(scope="module")
def own_window():
    # orders within one session (the estimator's test); orders over a night: the test after it
    return simulate_window(
        (OWN,), dt.date(2026, 9, 14), 15, orders_per_symbol_day=6, seed=11, spanning_orders=()
    )


def test_epsilon_and_eta_within_10_percent_of_truth(own_window) -> None:
    children = child_rates(own_window.fills, own_window.quotes, own_window.sessions, own_window.clock)
    fit = temporary_impact(children, OWN.sigma_usd, OWN.adv_shares)
    assert fit.status == "ok" and fit.nobs == own_window.fills.height
    assert fit.epsilon_usd == pytest.approx(OWN.epsilon_usd, rel=0.10)
    assert fit.eta == pytest.approx(OWN.eta, rel=0.10)
    # linear temporary impact: the power-law exponent is 1
    assert fit.beta == pytest.approx(1.0, abs=0.05)


def test_child_rates_equal_the_simulators_including_orders_over_a_night() -> None:
    # the child's rate computed from its fills equals the simulator's n/τ, τ in session time
    w = simulate_window((OWN,), dt.date(2026, 9, 14), 5, orders_per_symbol_day=2, seed=11)
    children = child_rates(w.fills, w.quotes, w.sessions, TradingClock())
    truth = w.fills.select("order_id", "ts", "rate_shares_per_day")
    joined = children.join(truth, on=["order_id", "ts"], suffix="_true")
    assert joined.height == w.fills.height and w.fills["order_id"].str.contains("-M").any()
    np.testing.assert_allclose(joined["rate_shares_per_day"], joined["rate_shares_per_day_true"], rtol=1e-9)


def test_noisy_fills_give_eta_and_epsilon_within_three_standard_errors() -> None:
    """Fills priced with a noise of one half spread (as the demo's): the regression still finds η and ε,
    and its standard errors are those of data, not of an identity (noise-free fills give se ~ 1e-18)."""
    noisy = replace(OWN, fill_noise_usd=OWN.epsilon_usd)
    w = simulate_window((noisy,), dt.date(2026, 9, 14), 15, orders_per_symbol_day=6, seed=11, history=150)
    r = calibrate_window(w).row(0, named=True)
    assert r["eta_source"] == r["epsilon_source"] == "fills"
    assert abs(r["eta"] - OWN.eta) < 3 * r["eta_se"] and r["eta_se"] > 1e-3 * OWN.eta
    assert abs(r["epsilon_usd"] - OWN.epsilon_usd) < 3 * r["epsilon_se_usd"]
    assert r["epsilon_se_usd"] > 0.01 * OWN.epsilon_usd
    assert 0 < r["eta_r2"] < 1 - 1e-6


def test_buys_and_sells_give_the_same_estimates(own_window) -> None:
    children = child_rates(own_window.fills, own_window.quotes, own_window.sessions, own_window.clock)
    mirrored = children.with_columns(
        pl.when(pl.col("side") == "buy").then(pl.lit("sell")).otherwise(pl.lit("buy")).alias("side"),
        (2 * pl.col("mid") - pl.col("price")).alias("price"),
    )
    side = pl.when(pl.col("side") == "buy").then(1.0).otherwise(-1.0)
    mirrored = mirrored.with_columns((side * (pl.col("price") - pl.col("mid"))).alias("cost_usd"))
    a = temporary_impact(children, OWN.sigma_usd, OWN.adv_shares)
    b = temporary_impact(mirrored, OWN.sigma_usd, OWN.adv_shares)
    assert (a.epsilon_usd, a.eta) == pytest.approx((b.epsilon_usd, b.eta), rel=1e-12)
    buys = temporary_impact(children.filter(pl.col("side") == "buy"), OWN.sigma_usd, OWN.adv_shares)
    sells = temporary_impact(children.filter(pl.col("side") == "sell"), OWN.sigma_usd, OWN.adv_shares)
    assert buys.eta == pytest.approx(sells.eta, rel=0.05)
    assert buys.epsilon_usd == pytest.approx(sells.epsilon_usd, rel=0.05)


def test_power_law_recovers_a_known_exponent() -> None:
    rng = np.random.default_rng(3)
    n, mid, sigma, adv, eps = 400, 50.0, 1.0, 1e6, 0.02
    rate = np.exp(rng.uniform(np.log(1e4), np.log(5e5), n))
    j = 0.3 * (sigma / mid) * (rate / adv) ** 0.6 * np.exp(rng.normal(0, 0.05, n))
    cost = eps + j * mid
    children = pl.DataFrame({"order_id": [f"o{i % 20}" for i in range(n)], "rate_shares_per_day": rate,
                             "cost_usd": cost, "quantity": np.full(n, 100.0), "mid": np.full(n, mid),
                             "half_spread": np.full(n, eps)})  # fmt: skip
    fit = temporary_impact(children, sigma, adv)
    assert fit.power_status == "ok" and fit.power_nobs == n
    assert abs(fit.beta - 0.6) < 3 * fit.beta_se and fit.beta_se < 0.01
    assert fit.eta_nl == pytest.approx(0.3, rel=0.05)


def test_symbols_without_fills_fall_back_and_say_so() -> None:
    w = simulate_window((OWN, KYLE), dt.date(2026, 9, 14), 10, orders_per_symbol_day=6, seed=3, history=150)
    w_no_kyle_fills = type(w)(w.as_of, w.lookback_days, w.sessions, w.quotes, w.trades,
                              w.fills.filter(pl.col("symbol") == "OWN"), w.daily, w.clock)  # fmt: skip
    out = calibrate_window(w_no_kyle_fills)
    own = out.filter(pl.col("symbol") == "OWN").row(0, named=True)
    kyle = out.filter(pl.col("symbol") == "KYLE").row(0, named=True)
    assert own["eta_source"] == "fills" and own["garch_status"] == "ok"
    assert kyle["eta_source"] == "cross_section" and kyle["status"] == "partial"
    assert kyle["epsilon_source"] == "quoted_half_spread"
    assert kyle["epsilon_usd"] == pytest.approx(KYLE.epsilon_usd, rel=1e-9)
    scale = own["eta"] * own["adv_shares"] / own["sigma_usd"]
    assert kyle["eta"] == pytest.approx(scale * kyle["sigma_usd"] / kyle["adv_shares"], rel=1e-12)
    # every fallback is in the reason, ε then η, each with why
    assert kyle["gamma_status"] == "not_significant" and kyle["reason"] == (
        "gamma: not_significant, γ = 2.2e-06 ± 1.5e-06 (t = 1.46) is not significant (t < 1.96): the schedule "
        "uses it as estimated; "
        "epsilon: quoted half spread (no own fills); "
        "eta: cross_section (median eta·ADV/sigma of the 1 symbol(s) fitted from fills)"
    )
    # OWN's γ comes out within one standard error of 0 here (truth +5e-7): that is no "ok", and the reason
    # says so; γ·ADV/σ is then outside the band, which the plausibility says
    t = own["gamma"] / own["gamma_se"]
    assert 0 < t < 1.96 and own["gamma_status"] == "not_significant" and own["status"] == "partial"
    assert own["gamma_plausibility"] == ("above_band" if own["gamma_adv_sigma"] > 3.14 else "in_band")
    assert own["reason"].startswith(
        f"gamma: not_significant, γ = {own['gamma']:.1e} ± {own['gamma_se']:.1e} (t = {t:.2f}) is not significant"
    )
    eta, source = eta_fallback(1.0, 1e6)
    assert source == "almgren_2005" and eta == pytest.approx(ALMGREN_2005_ETA * 0.1**-0.4 / 1e6)
    # too few orders: the reason says how many there were and how many are needed
    two = w.fills.filter(pl.col("order_id").is_in(w.fills["order_id"].unique().sort().head(2).implode()))
    few = calibrate_window(
        type(w)(w.as_of, w.lookback_days, w.sessions, w.quotes, w.trades, two, w.daily, w.clock)
    )
    reason = few.filter(pl.col("symbol") == two["symbol"][0])["reason"].item()
    n = two.height
    assert f"epsilon: quoted half spread ({n} own fills from 2 orders; 20 from 3 orders needed)" in reason
    assert reason.endswith(
        "eta: almgren_2005 (no symbol fitted from fills: Almgren et al. (2005) at 10% of ADV)"
    )


def test_gamma_statuses_say_what_is_wrong() -> None:
    assert gamma_status(-3.0e-6, 8.1e-6) == "wrong_sign"
    assert gamma_status(-3.0e-6, 1e-7) == "wrong_sign"  # significantly negative is still the wrong sign
    assert gamma_status(7.8e-7, 8.1e-7) == "not_significant"  # t = 0.96
    assert gamma_status(1.9e-6, 1e-6) == "not_significant"  # t = 1.9 < 1.96
    assert gamma_status(2.0e-6, 1e-6) == "ok"
    assert gamma_status(2.0e-6, float("nan")) == "not_significant"  # no standard error: not shown to be > 0


def test_one_gamma_rule_for_schedules() -> None:
    wrong = schedule_gamma(-3.0e-6, 8.1e-6, "ok")  # a row written before the statuses: the numbers decide
    assert wrong.gamma == 0.0
    assert wrong.note == "γ = -3.0e-06 ± 8.1e-06 (t = -0.37) has the wrong sign: the schedule uses γ = 0"
    weak = schedule_gamma(7.8e-7, 8.1e-7, "not_significant")
    assert weak.gamma == 7.8e-7 and weak.note is not None and "not significant (t < 1.96)" in weak.note
    assert schedule_gamma(7.8e-7, 1e-7, "ok") == ScheduleGamma(7.8e-7, None)
    assert schedule_gamma(7.8e-7, None, None).note == (
        "γ = 7.8e-07 (no standard error) is not significant (t < 1.96): the schedule uses it as estimated"
    )
    missing = schedule_gamma(None, None, "insufficient_data")
    assert missing.gamma is None and missing.note == "no γ estimate (insufficient_data)"
    assert schedule_gamma(float("nan"), float("nan"), "degenerate").gamma is None


def test_a_degenerate_regression_is_not_ok() -> None:
    """A mid that never moves while volume trades gives γ = 0 ± 0: no estimate, not an exact zero."""
    rng = np.random.default_rng(1)
    n = 300
    flat = pl.DataFrame({
        "symbol": ["FLAT"] * n, "date": [dt.date(2026, 11, 16)] * n, "bucket": list(range(1, n + 1)),
        "dmid_usd": np.zeros(n), "net_signed_shares": rng.normal(0, 1e4, n),
    })  # fmt: skip
    fit = kyle_lambda(flat)
    assert fit.status == "degenerate" and math.isnan(fit.coef) and fit.nobs == n
    vec = kyle_lambda_by_symbol(flat).row(0, named=True)
    assert vec["kyle_lambda_status"] == "degenerate" and vec["kyle_lambda"] is None
    assert vec["kyle_lambda_nobs"] == n
    no_volume = flat.with_columns(
        pl.lit(0.0).alias("net_signed_shares"), pl.Series("dmid_usd", rng.normal(0, 0.01, n))
    )
    assert kyle_lambda(no_volume).status == "degenerate"
    assert kyle_lambda_by_symbol(no_volume)["kyle_lambda_status"].to_list() == ["degenerate"]
    assert kyle_lambda(flat.head(29)).status == "insufficient_data"


def test_robust_to_locked_quotes_and_odd_lots(own_window) -> None:
    q = own_window.quotes
    locked = (
        q.sample(200, seed=1)
        .with_columns(
            pl.col("ts") + pl.duration(nanoseconds=1), ((pl.col("bid") + pl.col("ask")) / 2).alias("bid")
        )
        .with_columns(pl.col("bid").alias("ask"))
    )
    odd = own_window.trades.sample(300, seed=2).with_columns(
        pl.lit(7.0).alias("size"), pl.col("ts") + pl.duration(nanoseconds=3)
    )
    w = type(own_window)(own_window.as_of, own_window.lookback_days, own_window.sessions,
                         pl.concat([q, locked]), pl.concat([own_window.trades, odd]), own_window.fills,
                         own_window.daily, own_window.clock)  # fmt: skip
    r = calibrate_window(w).row(0, named=True)
    assert r["sigma_usd"] == pytest.approx(OWN.sigma_usd, rel=0.05)
    assert r["eta"] == pytest.approx(OWN.eta, rel=0.10)
    assert r["epsilon_usd"] == pytest.approx(OWN.epsilon_usd, rel=0.10)
    assert math.isfinite(r["gamma"]) and math.isfinite(r["gamma_se"])


def test_vectorised_kyle_lambda_equals_statsmodels_per_symbol() -> None:
    from simulator import random_universe

    syms = random_universe(12, seed=5, quotes_per_day=1_500, adv_scale=0.5)
    w = simulate_window(syms, dt.date(2026, 11, 2), 6, orders_per_symbol_day=1, seed=8)
    b = impact_buckets(
        bucket_mids(w.quotes, w.sessions), lee_ready_signs(w.trades, w.quotes, w.sessions), w.sessions
    )
    vec = kyle_lambda_by_symbol(b)
    assert vec.height == 12
    for r in vec.iter_rows(named=True):
        ref = kyle_lambda(b.filter(pl.col("symbol") == r["symbol"]).sort("date", "bucket"))
        assert r["kyle_lambda"] == pytest.approx(ref.coef, rel=1e-10)
        assert r["kyle_lambda_se"] == pytest.approx(ref.se, rel=1e-10)
        assert r["kyle_lambda_r2"] == pytest.approx(ref.r2, rel=1e-9, abs=1e-12)
        assert r["kyle_lambda_nobs"] == ref.nobs == 6 * 78


def test_epsilon_includes_fees_per_share(own_window) -> None:
    fills = own_window.fills.with_columns((pl.col("quantity") * 0.0015).alias("fee_usd"))
    fit = temporary_impact(
        child_rates(fills, own_window.quotes, own_window.sessions, own_window.clock),
        OWN.sigma_usd,
        OWN.adv_shares,
    )
    assert fit.fee_usd_per_share == pytest.approx(0.0015, rel=1e-12)
    base = temporary_impact(
        child_rates(own_window.fills, own_window.quotes, own_window.sessions, own_window.clock),
        OWN.sigma_usd,
        OWN.adv_shares,
    )
    assert fit.epsilon_usd - base.epsilon_usd == pytest.approx(0.0015, rel=1e-9)
    assert (fit.eta, fit.beta) == (base.eta, base.beta)
