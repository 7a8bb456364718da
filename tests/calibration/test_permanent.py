"""γ is the impact that stays: the simulator's transient kernel, the 30-minute response against Kyle's
5-minute lambda, statsmodels' HAC, and the plausibility band of γ·ADV/σ."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from calibration.bars import bucket_mids, impact_buckets
from calibration.impact import kyle_lambda
from calibration.permanent import (
    GAMMA_ADV_SIGMA_BAND,
    PERMANENT_LAGS,
    gamma_plausibility,
    lagged_flow,
    permanent_impact,
)
from calibration.signs import lee_ready_signs
from calibration.window import calibrate_window
from simulator import SymbolParams, transient_impact_path
from tests.calibration.conftest import quoted_minutes_window, simulate_window

GAMMA = 2e-6
# a permanent γ and a transient 4γ with a 5-minute half-life; little diffusion, so that 10 days identify γ
TRANSIENT = SymbolParams(
    "TRAN", 30.0, 0.05, GAMMA, 3e-6, 0.01, 600_000, quotes_per_day=2_000,
    transient_impact=4 * GAMMA, transient_half_life_min=5.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def transient_window():
    return simulate_window((TRANSIENT,), dt.date(2026, 8, 3), 10, orders_per_symbol_day=0, seed=2026)


def _kernel_response(lag: int, bucket_min: float = 5.0, half_life_min: float = 5.0) -> float:
    """E[G] at the end of bucket k + lag for a share traded uniformly inside bucket k, by hand:
    γ + γ_T·2^(−lag·Δ/h)·(1 − 2^(−Δ/h))/(ln 2·Δ/h)."""
    x = bucket_min / half_life_min
    return GAMMA + TRANSIENT.transient_impact * 2 ** (-lag * x) * (1 - 2**-x) / (math.log(2) * x)


def test_the_transient_path_is_the_kernel_summed_over_past_trades() -> None:
    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0, 3_600, 400))
    q = np.where(rng.uniform(size=400) < 0.3, 0.0, rng.normal(0, 300, 400))
    got = transient_impact_path(t, q, 4e-6, 300.0)
    want = np.array([sum(4e-6 * q[j] * 0.5 ** ((t[i] - t[j]) / 300.0) for j in range(i)) for i in range(400)])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15)
    # one share: all of γ_T at once, half of it one half-life later
    one = transient_impact_path(np.array([0.0, 1e-9, 300.0]), np.array([1.0, 0.0, 0.0]), 1.0, 300.0)
    assert one[2] == pytest.approx(0.5, rel=1e-12)


def test_kyle_lambda_overstates_gamma_and_the_30_minute_response_recovers_it(transient_window) -> None:
    w = transient_window
    mids, signed = bucket_mids(w.quotes, w.sessions), lee_ready_signs(w.trades, w.quotes, w.sessions)
    kyle = kyle_lambda(impact_buckets(mids, signed, w.sessions))
    fit = permanent_impact(lagged_flow(mids, signed, w.sessions))
    # Kyle's λ is γ + 0.72·γ_T = 3.9 γ (the kernel's mean over the bucket), not γ
    assert abs(kyle.coef - _kernel_response(0)) < 3 * kyle.se, (kyle.coef, kyle.se, _kernel_response(0))
    assert kyle.coef > 3 * GAMMA
    # the 30-minute response is γ + 0.011·γ_T: within its standard error of the true γ
    assert fit.status == "ok" and fit.nobs == 10 * (78 - PERMANENT_LAGS)
    assert abs(fit.coef - GAMMA) < 2 * fit.se and fit.se < 0.25 * GAMMA, (fit.coef, fit.se)
    assert kyle.coef - GAMMA > 10 * kyle.se
    # and every step of the impulse response follows the kernel
    assert len(fit.response) == PERMANENT_LAGS + 1
    for lag, (r, se) in enumerate(zip(fit.response, fit.response_se, strict=True)):
        assert abs(r - _kernel_response(lag)) < 3 * se, (lag, r, se, _kernel_response(lag))


def test_gamma_and_its_error_equal_statsmodels_hac(transient_window) -> None:
    import statsmodels.api as sm

    from calibration.impact import newey_west_lags

    w = transient_window
    rows = lagged_flow(
        bucket_mids(w.quotes, w.sessions), lee_ready_signs(w.trades, w.quotes, w.sessions), w.sessions
    )
    fit = permanent_impact(rows)
    x = rows.select([f"q{lag}" for lag in range(PERMANENT_LAGS + 1)]).to_numpy()
    res = sm.OLS(rows["dmid_usd"].to_numpy(), sm.add_constant(x)).fit(
        cov_type="HAC", cov_kwds={"maxlags": newey_west_lags(rows.height)}
    )
    a = np.r_[0.0, np.ones(PERMANENT_LAGS + 1)]
    assert fit.coef == pytest.approx(float(a @ res.params), rel=1e-10)
    assert fit.se == pytest.approx(math.sqrt(a @ res.cov_params() @ a), rel=1e-10)
    assert fit.r2 == pytest.approx(res.rsquared, rel=1e-10)


def test_lags_stay_inside_a_session() -> None:
    rows = lagged_flow(*_one_day_rows())
    assert rows["bucket"].min() == PERMANENT_LAGS + 1 and rows.height == 78 - PERMANENT_LAGS
    # q_l of bucket k is q_0 of bucket k − l
    by_bucket = dict(zip(rows["bucket"], rows["q0"], strict=True))
    for r in rows.filter(pl.col("bucket") > 2 * PERMANENT_LAGS).iter_rows(named=True):
        assert r["q3"] == by_bucket[r["bucket"] - 3]


def _one_day_rows() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    w = simulate_window((TRANSIENT,), dt.date(2026, 8, 3), 1, orders_per_symbol_day=0, seed=1)
    return bucket_mids(w.quotes, w.sessions), lee_ready_signs(w.trades, w.quotes, w.sessions), w.sessions


def test_a_mid_that_never_moves_under_trades_is_a_degenerate_gamma() -> None:
    # quoted and traded for an hour a day: 12 buckets, 6 with 30 minutes of quoted history before them
    w = quoted_minutes_window(6, 12 * 60, minutes=60, gamma=0.0, sigma_usd=0.0)
    r = calibrate_window(w).row(0, named=True)
    assert (r["gamma_nobs"], r["gamma_status"], r["gamma"], r["gamma_se"]) == (36, "degenerate", None, None)
    assert "gamma: degenerate over 36 buckets" in r["reason"]


def test_gamma_adv_over_sigma_against_the_band() -> None:
    low, high = GAMMA_ADV_SIGMA_BAND
    assert (low, high) == (0.05, 3.14)  # 0.1 bp per 1 % ADV at σ = 200 bps; 0.314·(10⁴)^(1/4)
    assert gamma_plausibility(1e-6, 1e6, 0.5) == (pytest.approx(2.0), "in_band")
    assert gamma_plausibility(5e-6, 1e6, 0.5) == (pytest.approx(10.0), "above_band")
    assert gamma_plausibility(1e-8, 1e6, 0.5) == (pytest.approx(0.02), "below_band")
    assert gamma_plausibility(-1e-6, 1e6, 0.5)[1] == "below_band"
    assert gamma_plausibility(None, 1e6, 0.5) == (None, None)
    assert gamma_plausibility(1e-6, 0.0, 0.5) == (None, None)


def test_the_calibration_row_keeps_kyle_lambda_apart_and_flags_an_implausible_gamma(transient_window) -> None:
    r = calibrate_window(transient_window).row(0, named=True)
    # the truth here is γ·ADV/σ = 2e-6 · 6e5 / σ ≈ 21: far above the band, and the row says so
    ratio = r["gamma"] * r["adv_shares"] / r["sigma_usd"]
    assert r["gamma_status"] == "ok" and r["gamma_adv_sigma"] == pytest.approx(ratio, rel=1e-12)
    assert r["gamma_plausibility"] == "above_band" and r["status"] == "partial"
    assert (
        f"gamma: above_band, γ·ADV/σ = {ratio:.3g} outside [0.05, 3.14] (Almgren et al. 2005)" in r["reason"]
    )
    assert r["gamma_horizon_min"] == 30.0
    assert abs(r["kyle_lambda"] - _kernel_response(0)) < 3 * r["kyle_lambda_se"]
    assert r["kyle_lambda_nobs"] == 10 * 78
