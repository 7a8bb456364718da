"""The power law of temporary impact fitted in levels on every fill: unbiased under additive price noise."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy.optimize import curve_fit

from calibration.impact import temporary_impact
from calibration.power_law import power_law_impact

MID, HALF_SPREAD, SIGMA_FRAC, ADV = 50.0, 0.02, 0.02, 1e6
ETA_NL, BETA, NOISE_J = 0.35, 0.6, 4.8e-4


def _children(seed: int, n: int = 300, noise_j: float = NOISE_J) -> pl.DataFrame:
    """n fills with J = 0.35 · 0.02 · x^0.6 + N(0, noise_j²), x = v/ADV log-uniform on [1e-3, 0.5]."""
    rng = np.random.default_rng(seed)
    x = np.exp(rng.uniform(math.log(1e-3), math.log(0.5), n))
    j = ETA_NL * SIGMA_FRAC * x**BETA + rng.normal(0.0, noise_j, n)
    return pl.DataFrame({
        "order_id": [f"o{i % 20}" for i in range(n)], "rate_shares_per_day": x * ADV,
        "cost_usd": HALF_SPREAD + j * MID, "quantity": np.full(n, 100.0), "mid": np.full(n, MID),
        "half_spread": np.full(n, HALF_SPREAD),
    })  # fmt: skip


def test_additive_noise_leaves_the_power_law_unbiased_over_seeds() -> None:
    fits, loglog = [], []
    for seed in range(20):
        c = _children(seed)
        fit = temporary_impact(c, SIGMA_FRAC * MID, ADV)
        assert fit.power_status == "ok" and fit.power_nobs == 300  # every fill, J ≤ 0 included
        fits.append((fit.beta, fit.beta_se, fit.eta_nl, fit.eta_nl_se))
        # the log-log regression it replaces, written out: biased (β ≈ 0.50, eta_nl ≈ 0.26)
        j = (c["cost_usd"].to_numpy() - HALF_SPREAD) / MID
        x = c["rate_shares_per_day"].to_numpy() / ADV
        slope, intercept = np.polyfit(np.log(x[j > 0]), np.log(j[j > 0] / SIGMA_FRAC), 1)
        loglog.append((slope, math.exp(intercept)))
    b, b_se, a, a_se = np.array(fits).T
    # the mean of 20 unbiased estimates lies within 3 of its standard errors (se/√20) of the truth
    assert abs(b.mean() - BETA) < 3 * b_se.mean() / math.sqrt(20)
    assert abs(a.mean() - ETA_NL) < 3 * a_se.mean() / math.sqrt(20)
    ll = np.array(loglog)
    assert ll[:, 0].mean() < 0.52 and ll[:, 1].mean() < 0.28  # what the old fit reported
    # the standard errors are those of the estimates' spread across seeds, and cover the truth
    assert b.std(ddof=1) == pytest.approx(b_se.mean(), rel=0.35)
    assert a.std(ddof=1) == pytest.approx(a_se.mean(), rel=0.35)
    assert np.sum(np.abs(b - BETA) < 2 * b_se) >= 16 and np.sum(np.abs(a - ETA_NL) < 2 * a_se) >= 16


def test_the_fit_is_scipys_weighted_least_squares_in_levels() -> None:
    """Same point estimate as scipy's curve_fit on J with weights = quantity (σ_i = 1/√w_i)."""
    rng = np.random.default_rng(7)
    c = _children(7, n=200)
    q = rng.integers(1, 20, c.height) * 100.0
    impact = c["cost_usd"].to_numpy() - HALF_SPREAD
    rate = c["rate_shares_per_day"].to_numpy()
    fit = power_law_impact(impact, rate, q, SIGMA_FRAC * MID, ADV, 20)
    (a, b), _ = curve_fit(lambda x, a, b: a * SIGMA_FRAC * x**b, rate / ADV, impact / MID, p0=(0.2, 1.0),
                          sigma=1 / np.sqrt(q))  # fmt: skip
    assert fit.status == "ok"
    assert (fit.eta_nl, fit.beta) == pytest.approx((a, b), rel=1e-6)
    # integer weights are repeated fills: the same estimates
    rep = np.repeat(np.arange(c.height), (q / 100).astype(int))
    dup = power_law_impact(impact[rep], rate[rep], np.ones(rep.size), SIGMA_FRAC * MID, ADV, 20)
    assert (dup.eta_nl, dup.beta) == pytest.approx((fit.eta_nl, fit.beta), rel=1e-7)


def test_costs_that_do_not_rise_with_the_rate_are_no_power_law() -> None:
    rng = np.random.default_rng(1)
    rate = np.exp(rng.uniform(math.log(1e3), math.log(5e5), 100))
    below = power_law_impact(-0.01 + rng.normal(0, 1e-3, 100), rate, np.ones(100), 1.0, ADV, 20)
    assert below.status == "no_impact" and math.isnan(below.beta) and math.isnan(below.eta_nl)
    # a cost that does not depend on the rate at all: the best β is the search's lower bound, not a number
    flat = power_law_impact(0.01 + rng.normal(0, 1e-4, 100), rate, np.ones(100), 1.0, ADV, 20)
    assert flat.status == "not_identified" and math.isnan(flat.beta)
    few = power_law_impact(np.ones(19), rate[:19], np.ones(19), 1.0, ADV, 20)
    assert few.status == "insufficient_data" and few.nobs == 19
    assert power_law_impact(np.ones(50), rate[:50], np.ones(50), float("nan"), ADV, 20).status == (
        "insufficient_data"
    )
