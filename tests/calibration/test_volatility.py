"""σ realized, two-scales and GARCH against the simulator's truth and against closed forms."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from arch import arch_model

from calibration.bars import bucket_mids
from calibration.volatility import GARCH_MIN_RETURNS, garch_sigma, realized_sigma, two_scales_variance
from calibration.window import calibrate_window
from simulator import SymbolParams, garch_path
from tests.calibration.conftest import simulate_window

SYMS = (
    SymbolParams("AAA", 50.0, 0.9, 4e-7, 2e-6, 0.02, 800_000, quotes_per_day=3_000),
    SymbolParams("BBB", 120.0, 2.5, 1e-6, 5e-6, 0.03, 400_000, quotes_per_day=3_000),
)


@pytest.fixture(scope="module")
def window():  # 40 sessions that include the early close of 2026-11-27
    return simulate_window(SYMS, dt.date(2026, 10, 19), 40, orders_per_symbol_day=3)


def test_realized_sigma_within_5_percent_of_truth(window) -> None:
    assert dt.date(2026, 11, 27) in window.sessions["date"].to_list()
    rs = realized_sigma(bucket_mids(window.quotes, window.sessions), window.quotes)
    for p in SYMS:
        r = rs.filter(pl.col("symbol") == p.symbol).row(0, named=True)
        assert r["sigma_usd"] == pytest.approx(p.sigma_usd, rel=0.05)
        assert r["sigma_tsrv_usd"] == pytest.approx(p.sigma_usd, rel=0.05)
        assert abs(r["sigma_usd"] - p.sigma_usd) < 3 * r["se_usd"]
        assert r["days"] == 40 and r["nobs"] == 39 * 78 + 42  # 78 buckets a day, 42 on the early close
        assert r["sigma_pct_ann"] == pytest.approx(100 * r["sigma_usd"] / r["mid_close_usd"] * math.sqrt(252))


def test_two_scales_removes_microstructure_noise() -> None:
    # x = X + u with X a Brownian path of daily variance 1e-4 and u iid noise of variance 1e-8:
    # E[RV_all] = IV + 2 n Var(u) (Zhang et al. 2005, eq. 7): with n = 23,400 the noise term is 4.7 × IV.
    rng = np.random.default_rng(0)
    n, iv = 23_400, 1e-4
    tsrv, rv = [], []
    for _ in range(40):
        x = np.concatenate([[0.0], np.cumsum(rng.standard_normal(n) * math.sqrt(iv / n))])
        y = x + rng.standard_normal(n + 1) * 1e-4
        tsrv.append(two_scales_variance(y, 300))  # a quote a second: five minutes
        rv.append(np.sum(np.diff(y) ** 2))
    assert np.mean(rv) == pytest.approx(iv + 2 * n * 1e-8, rel=0.02)
    assert np.mean(tsrv) == pytest.approx(iv, rel=0.05)


def test_garch_recovers_simulated_parameters_and_matches_arch() -> None:
    rng = np.random.default_rng(2024)
    omega, alpha, beta = 0.04, 0.07, 0.90
    r = garch_path(rng, omega, alpha, beta, 3_000)
    closes = 40.0 * np.exp(np.concatenate([[0.0], np.cumsum(r / 100)]))
    fit = garch_sigma(closes)
    assert fit.status == "ok" and fit.converged and fit.nobs == 3_000
    for est, se, truth in ((fit.omega, fit.omega_se, omega), (fit.alpha, fit.alpha_se, alpha),
                           (fit.beta, fit.beta_se, beta)):  # fmt: skip
        assert abs(est - truth) < 2 * se, (est, se, truth)
    direct = arch_model(100 * np.diff(np.log(closes)), mean="Constant", vol="GARCH", p=1, q=1,
                        dist="normal", rescale=False).fit(disp="off")  # fmt: skip
    h = direct.forecast(horizon=1).variance.iloc[-1, 0]
    assert fit.sigma_garch_usd == pytest.approx(closes[-1] * math.sqrt(h) / 100, rel=1e-6)
    assert fit.loglik == pytest.approx(direct.loglikelihood, rel=1e-9)
    assert 0 < fit.sigma_garch_se_usd < 0.2 * fit.sigma_garch_usd


def test_garch_failures_fall_back_to_realized_with_a_status(window) -> None:
    short = garch_sigma(np.linspace(10, 11, GARCH_MIN_RETURNS))
    assert short.status == "insufficient_data" and math.isnan(short.sigma_garch_usd)
    out = calibrate_window(window)  # only 40 daily closes: GARCH cannot be fitted
    for r in out.iter_rows(named=True):
        assert r["garch_status"] == "fallback_realized:insufficient_data"
        assert r["sigma_garch_usd"] == r["sigma_usd"]
        # a fallback is never "ok": the reason says which estimate fell back and why, first after σ
        assert r["status"] == "partial"
        assert r["reason"].startswith(
            "sigma_garch: realized sigma (GARCH insufficient_data: 39 daily returns < 100)"
        )


def test_the_reason_lists_every_fallback_in_a_stable_order() -> None:
    """σ GARCH, γ, ε and η all fall back: each is named with its cause, in the order of the columns."""
    w = simulate_window(SYMS[:1], dt.date(2026, 11, 2), 1, orders_per_symbol_day=0)
    no_trades = type(w)(w.as_of, 1, w.sessions, w.quotes, w.trades.clear(), w.fills, w.daily, w.clock)
    r = calibrate_window(no_trades).row(0, named=True)
    assert r["sigma_status"] == "single_day" and r["status"] == "partial"
    assert r["reason"].split("; ") == [
        "sigma_garch: realized sigma (GARCH insufficient_data: 0 daily returns < 100)",
        "gamma: no signed trades in the window",
        "epsilon: quoted half spread (no own fills)",
        "eta: almgren_2005 (no symbol fitted from fills: Almgren et al. (2005) at 10% of ADV)",
    ]


def test_tsrv_by_day_equals_the_per_day_estimator(window) -> None:
    from calibration.volatility import tsrv_by_day

    days = tsrv_by_day(window.quotes)
    assert days.height == 2 * 40
    for r in days.head(12).iter_rows(named=True):
        g = window.quotes.filter((pl.col("symbol") == r["symbol"]) & (pl.col("date") == r["date"])).sort("ts")
        span = (g["ts"][-1] - g["ts"][0]).total_seconds()
        k = min(math.ceil((g.height - 1) * 300 / span), (g.height - 1) // 10)  # five minutes of its quotes
        ref = two_scales_variance(np.log(((g["bid"] + g["ask"]) / 2).to_numpy()), k)
        assert r["tsrv"] == pytest.approx(ref, rel=1e-12)


def test_tsrv_and_bars_do_not_depend_on_the_quotes_row_order(window) -> None:
    """Lake order (grouped, in time) skips the sort; any other order is sorted first: same numbers."""
    from calibration.volatility import tsrv_by_day

    ordered = window.quotes.sort("date", "symbol", "ts", maintain_order=True)  # as several lake files read
    shuffled = window.quotes.sample(fraction=1.0, shuffle=True, seed=3)
    a, b = tsrv_by_day(ordered), tsrv_by_day(shuffled)
    assert a.sort("symbol", "date").equals(b.sort("symbol", "date"))
    mids = [bucket_mids(q, window.sessions) for q in (ordered, shuffled)]
    assert mids[0].equals(mids[1])


def test_time_ordered_runs_finds_groups_only_when_contiguous_and_in_time() -> None:
    from calibration.ordering import time_ordered_runs

    frame = pl.DataFrame({"symbol": ["A", "A", "B", "B", "B"], "ts": [1, 2, 1, 1, 5]})
    assert time_ordered_runs(frame, ["symbol"]).tolist() == [0, 2]
    assert time_ordered_runs(frame.reverse(), ["symbol"]) is None  # time runs backwards
    interleaved = pl.DataFrame({"symbol": ["A", "B", "A"], "ts": [1, 2, 3]})
    assert time_ordered_runs(interleaved, ["symbol"]) is None  # A in two runs
    assert time_ordered_runs(frame.clear(), ["symbol"]).tolist() == []


def test_in_time_runs_sorts_only_what_is_out_of_order_and_keeps_ties_in_row_order() -> None:
    from calibration.ordering import in_time_runs

    frame = pl.DataFrame({"symbol": ["A", "A", "B", "B", "B"], "ts": [1, 2, 1, 1, 5], "row": [0, 1, 2, 3, 4]})
    same, starts = in_time_runs(frame, ["symbol"])
    assert same is frame and starts.tolist() == [0, 2]
    shuffled = frame[[4, 3, 1, 2, 0]]  # B's tie at ts 1 now comes as rows 3, 2
    fixed, starts = in_time_runs(shuffled, ["symbol"])
    assert fixed["row"].to_list() == [0, 1, 3, 2, 4] and starts.tolist() == [0, 2]


def test_a_mid_that_hardly_moves_gives_no_sigma_rather_than_zero(window) -> None:
    # one quote a day: every 5-minute return is zero
    sparse = window.quotes.group_by("symbol", "date").agg(pl.all().first()).select(window.quotes.columns)
    w = type(window)(window.as_of, window.lookback_days, window.sessions, sparse, window.trades.head(0),
                     window.fills.head(0), window.daily, window.clock)  # fmt: skip
    out = calibrate_window(w)
    for r in out.iter_rows(named=True):
        assert r["sigma_status"] == "insufficient_data" and r["sigma_usd"] is None
        assert r["status"] == "insufficient_data" and "non-zero 5-minute" in r["reason"]
        assert r["eta"] is None
