"""A GARCH fit driven by one return (an unadjusted split left in the closes) is flagged and falls back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from arch import arch_model

from calibration.volatility import garch_sigma
from calibration.window import calibrate_window
from simulator import garch_path
from tests.calibration.conftest import simulate_window
from tests.calibration.test_volatility import SYMS

SPLIT_AT = 300  # the 4-for-1 split: closes before it are four times the adjusted ones


def _closes(seed: int = 0, n: int = 500) -> np.ndarray:
    r = garch_path(np.random.default_rng(seed), 0.04, 0.07, 0.90, n)
    return 40.0 * np.exp(np.concatenate([[0.0], np.cumsum(r / 100)]))


def _arch_sigma(returns_pct: np.ndarray, close: float) -> tuple[float, float, float]:
    """σ ($/share/√day), α, β of arch's own GARCH(1,1) fit and one-day forecast."""
    res = arch_model(returns_pct, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fit(disp="off")
    h = float(res.forecast(horizon=1, reindex=False).variance.iloc[-1, 0])
    return close * math.sqrt(h) / 100, float(res.params["alpha[1]"]), float(res.params["beta[1]"])


def test_an_unadjusted_split_is_flagged_not_ok() -> None:
    adjusted = _closes()
    raw = adjusted.copy()
    raw[:SPLIT_AT] *= 4
    r = 100 * np.diff(np.log(raw))
    # what arch alone says: α ≈ 0, β → 1, and a forecast variance dozens of times the adjusted history's
    naive, alpha, beta = _arch_sigma(r, raw[-1])
    clean, _, _ = _arch_sigma(100 * np.diff(np.log(adjusted)), adjusted[-1])
    assert alpha < 1e-3 and beta > 0.99 and (naive / clean) ** 2 > 30
    fit = garch_sigma(raw)
    assert fit.status == "single_return" and math.isnan(fit.sigma_garch_usd)
    assert (fit.alpha, fit.beta) == pytest.approx((alpha, beta), abs=1e-4)  # the fit as it came out
    # the message names the return (ln ¼ = −138.6 %, 200 sessions before the last close) and σ without it
    without, _, _ = _arch_sigma(np.delete(r, SPLIT_AT - 1), raw[-1])
    assert r[SPLIT_AT - 1] - 100 * math.log(0.25) == pytest.approx(
        100 * math.log(adjusted[SPLIT_AT] / adjusted[SPLIT_AT - 1])
    )
    assert fit.message.startswith(f"one return of {r[SPLIT_AT - 1]:+.1f} % (200 sessions ago) is ")
    assert f"sigma without it {without:.3g} $/share/√day" in fit.message
    assert without == pytest.approx(clean, rel=0.1)
    # the same history, split-adjusted, is an ordinary fit
    assert garch_sigma(adjusted).status == "ok"


def test_ordinary_histories_are_not_flagged() -> None:
    assert all(garch_sigma(_closes(seed)).status == "ok" for seed in range(1, 6))


def test_the_calibration_falls_back_to_realized_sigma_and_says_why() -> None:
    window = simulate_window(SYMS, dt.date(2026, 11, 2), 3, orders_per_symbol_day=0)
    daily = []
    for k, p in enumerate(SYMS):
        closes = _closes(10 + k, 500) * p.s0 / 40
        if p.symbol == "AAA":
            closes[:SPLIT_AT] *= 4
        dates = pl.date_range(dt.date(2020, 1, 1), dt.date(2020, 1, 1) + dt.timedelta(days=500), eager=True)
        daily.append(pl.DataFrame({"symbol": p.symbol, "date": dates, "close": closes, "volume": 1e6}))
    w = dataclasses.replace(window, daily=pl.concat(daily))
    out = {r["symbol"]: r for r in calibrate_window(w).iter_rows(named=True)}
    a, b = out["AAA"], out["BBB"]
    assert a["garch_status"] == "fallback_realized:single_return" and a["sigma_garch_usd"] == a["sigma_usd"]
    assert a["garch_alpha"] < 1e-3  # the fit on every return is kept in the row
    assert "sigma_garch: realized sigma (GARCH single_return: one return of -138." in a["reason"]
    assert "(a split? daily must be split-adjusted))" in a["reason"]
    assert b["garch_status"] == "ok" and "sigma_garch" not in (b["reason"] or "")
