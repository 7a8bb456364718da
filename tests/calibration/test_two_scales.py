"""The two-scales estimator's slow scale: the variance-optimal K of Zhang, Mykland & Aït-Sahalia (2005), which
does not assume a full session, tested on the early close of 2026-11-27 (09:30 to 13:00 New York)."""

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
NOISE_VAR = 1e-7  # of the iid noise in each quote's log mid (3.2 bp)
PATHS = 30


def _early_close_quotes() -> tuple[pl.DataFrame, float, int]:
    """A quote a second through the early-close session for PATHS symbols: efficient log price a Brownian
    motion, each quote's mid off it by iid noise; returns the quotes, the integrated variance and n."""
    (open_ts, close_ts) = session_bounds(EARLY_CLOSE, EARLY_CLOSE).select("open_ts", "close_ts").row(0)
    seconds = (close_ts - open_ts).total_seconds()
    assert seconds == 3.5 * 3600  # the calendar's early close: 12,600 s, not 23,400
    open_ns = int(open_ts.replace(tzinfo=dt.UTC).timestamp()) * 1_000_000_000
    iv = DAILY_VARIANCE * seconds / 23_400
    rng = np.random.default_rng(12)
    n = int(seconds)
    ts = open_ns + np.arange(n + 1, dtype=np.int64) * 1_000_000_000
    frames = []
    for p in range(PATHS):
        x = np.concatenate([[0.0], np.cumsum(rng.standard_normal(n) * math.sqrt(iv / n))])
        mid = 50.0 * np.exp(x + rng.standard_normal(n + 1) * math.sqrt(NOISE_VAR))
        frames.append(pl.DataFrame({"symbol": f"S{p:02d}", "date": EARLY_CLOSE, "ts": ts,
                                    "bid": mid - 0.01, "ask": mid + 0.01}))  # fmt: skip
    quotes = pl.concat(frames).with_columns(pl.col("ts").cast(pl.Datetime("ns")))
    return quotes, iv, n


def test_the_slow_scale_on_an_early_close_is_the_variance_optimal_one() -> None:
    quotes, iv, n = _early_close_quotes()
    # the optimum of ZMA (2005, Section 4) from the true noise and variance: K* = c*·n^(2/3) ≈ 18.6 quotes
    k_true = (12 * NOISE_VAR**2 / iv**2) ** (1 / 3) * n ** (2 / 3)
    old_k = math.ceil(n / 78)  # the former default: 162 quotes, 2.7 minutes of this day, not five
    logs = {s: np.log(((g["bid"] + g["ask"]) / 2).to_numpy()) for (s,), g in quotes.partition_by(
        "symbol", as_dict=True).items()}  # fmt: skip
    ks = np.array([tsrv_slow_scale(x) for x in logs.values()])
    # estimated day by day from the day's own noise and a pilot variance: about the optimum
    assert abs(np.median(ks) - k_true) < 0.1 * k_true and np.all(np.abs(ks - k_true) < 0.5 * k_true)
    days = tsrv_by_day(quotes).sort("symbol")
    tsrv = days["tsrv"].to_numpy()
    at_old_k = np.array([two_scales_variance(logs[s], old_k) for s in days["symbol"]])
    # unbiased: the mean of 30 days within 3 standard errors of the integrated variance
    assert abs(tsrv.mean() - iv) < 3 * tsrv.std(ddof=1) / math.sqrt(PATHS)
    # and tighter than at the former lag: asymptotic sd ratio √(V(c_old)/V(c*)) ≈ 2.3
    assert tsrv.std(ddof=1) < 0.7 * at_old_k.std(ddof=1)
    # the realized variance of every quote is mostly noise here: E RV = IV + 2n·Var(noise) ≈ 48 × IV
    rv_all = np.mean([np.sum(np.diff(x) ** 2) for x in logs.values()])
    assert rv_all > 40 * iv


def test_a_mid_without_noise_takes_every_quote() -> None:
    """No noise to remove: c* = (12 (IV/2n)² / IV²)^(1/3) = (3/n²)^(1/3), so K* = 3^(1/3) ≈ 1.4 quotes."""
    rng = np.random.default_rng(3)
    x = np.concatenate([[0.0], np.cumsum(rng.standard_normal(5_000) * 1e-4)])
    assert tsrv_slow_scale(x) in (1, 2)
    assert two_scales_variance(x) == pytest.approx(5_000 * 1e-8, rel=0.05)
    assert tsrv_slow_scale(np.zeros(100)) == math.ceil(99 ** (2 / 3))  # a mid that never moves: the pilot
