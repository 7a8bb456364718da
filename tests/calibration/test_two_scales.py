"""The two-scales estimator's slow scale is five minutes of the day's quotes, also on the early close of
2026-11-27 (09:30 to 13:00 New York), where ⌈n/78⌉ quotes was 2.7 minutes."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from calibration.volatility import tsrv_by_day, tsrv_slow_scale, two_scales_variance
from data.calendar import session_bounds

EARLY_CLOSE = dt.date(2026, 11, 27)
DAILY_VARIANCE = 1e-4  # of the efficient log price, per 6.5-hour day
NOISE_VAR, PHI = (
    1e-8,
    0.98,
)  # AR(1) noise of the quoted log mid: variance, lag-one correlation (a quote a second)
PATHS = 30


def _ar1(rng: np.random.Generator, n: int) -> np.ndarray:
    e = rng.standard_normal(n) * math.sqrt(NOISE_VAR * (1 - PHI**2))
    u = np.empty(n)
    u[0] = rng.standard_normal() * math.sqrt(NOISE_VAR)
    for i in range(1, n):
        u[i] = PHI * u[i - 1] + e[i]
    return u


def _early_close_quotes() -> tuple[pl.DataFrame, float, int]:
    """A quote a second through the early-close session for PATHS symbols: the efficient log price a
    Brownian motion, each quote's log mid off it by AR(1) noise; returns the quotes, IV and n."""
    (open_ts, close_ts) = session_bounds(EARLY_CLOSE, EARLY_CLOSE).select("open_ts", "close_ts").row(0)
    seconds = (close_ts - open_ts).total_seconds()
    assert seconds == 3.5 * 3600  # the calendar's early close: 12,600 s, not 23,400
    n = int(seconds)
    iv = DAILY_VARIANCE * seconds / 23_400
    rng = np.random.default_rng(12)
    ts = pl.datetime_range(open_ts, close_ts, dt.timedelta(seconds=1), eager=True, time_unit="ns")
    frames = []
    for p in range(PATHS):
        x = np.concatenate([[0.0], np.cumsum(rng.standard_normal(n) * math.sqrt(iv / n))])
        mid = 50.0 * np.exp(x + _ar1(rng, n + 1))
        frames.append(pl.DataFrame({"symbol": f"S{p:02d}", "date": EARLY_CLOSE, "ts": ts,
                                    "bid": mid - 0.01, "ask": mid + 0.01}))  # fmt: skip
    return pl.concat(frames), iv, n


def test_the_slow_scale_is_five_minutes_on_an_early_close() -> None:
    quotes, iv, n = _early_close_quotes()
    assert tsrv_slow_scale(n, 12_600.0) == 300  # a quote a second: 300 quotes are five minutes
    old_k = math.ceil(n / 78)  # the former default: 162 quotes, 2.7 minutes of this day
    days = tsrv_by_day(quotes).sort("symbol")
    logs = {s: np.log(((g["bid"] + g["ask"]) / 2).to_numpy()) for (s,), g in quotes.partition_by(
        "symbol", as_dict=True).items()}  # fmt: skip
    for s, got in zip(days["symbol"], days["tsrv"], strict=True):
        assert got == two_scales_variance(logs[s], 300)

    # E TSRV − IV in closed form, for x = X + u with AR(1) noise u: E RV^(K) = IV·n̄K/n + 2n̄·Var(u)(1 − φ^K),
    # E RV^(all) = IV + 2n·Var(u)(1 − φ), so E TSRV − IV = −IV·K/(n + 1) + 2n̄·Var(u)(φ − φ^K)/(1 − n̄/n):
    # the estimator's edge term and the correlated noise its iid correction leaves (less at a longer K)
    def expected_error(k: int) -> float:
        n_bar = (n - k + 1) / k
        return -iv * k / (n + 1) + 2 * n_bar * NOISE_VAR * (PHI - PHI**k) / (1 - n_bar / n)

    at_old_k = [two_scales_variance(x, old_k) for x in logs.values()]
    for k, got in ((300, days["tsrv"].to_numpy()), (old_k, at_old_k)):
        err = np.asarray(got) - iv
        assert abs(err.mean() - expected_error(k)) < 3 * err.std(ddof=1) / math.sqrt(PATHS)
        assert abs(err.mean()) < 0.1 * iv


def test_a_day_quoted_a_few_minutes_keeps_ten_slow_returns() -> None:
    assert tsrv_slow_scale(480, 240.0) == 48  # four minutes: no five-minute scale, K = n/10
    assert tsrv_slow_scale(23_400, 23_400.0) == 300 == math.ceil(23_400 / 78)  # a full session as before
    assert tsrv_slow_scale(5, 0.0) == 1 and tsrv_slow_scale(0, 100.0) == 1
    rng = np.random.default_rng(3)
    x = np.concatenate([[0.0], np.cumsum(rng.standard_normal(5_000) * 1e-4)])
    assert two_scales_variance(x, 1) == pytest.approx(np.sum(np.diff(x) ** 2), rel=1e-12)
