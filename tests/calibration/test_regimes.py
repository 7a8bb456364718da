"""Volatility regimes: the fit recovers a simulated two-regime chain, says why it has no σ, and reaches the rows."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from calibration.regimes import REGIME_MIN_RETURNS, RegimeFit, regime_fits, regime_sigma
from calibration.window import calibrate_window
from kappa.errors import ParameterError
from schedule.requests import ScheduleRequest, market_params
from tests.calibration.conftest import quoted_minutes_window

P_STAY_LOW, P_STAY_HIGH = 0.98, 0.92
SIGMA_LOW, SIGMA_HIGH = 0.010, 0.025  # daily log-return σ of each regime


def two_regime_closes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` + 1 closes whose daily log returns are N(0, σ_s²), s a Markov chain with the stay probabilities
    above (started in its stationary law), and the chain's states s_1..s_n (1 = the volatile regime)."""
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    share_high = (1 - P_STAY_LOW) / (2 - P_STAY_LOW - P_STAY_HIGH)
    states = np.empty(n, dtype=int)
    states[0] = int(u[0] < share_high)
    for t in range(1, n):
        stay = P_STAY_HIGH if states[t - 1] else P_STAY_LOW
        states[t] = states[t - 1] if u[t] < stay else 1 - states[t - 1]
    r = rng.standard_normal(n) * np.where(states == 1, SIGMA_HIGH, SIGMA_LOW)
    return 40.0 * np.exp(np.concatenate(([0.0], np.cumsum(r)))), states


@pytest.mark.parametrize("seed", [2, 5])
def test_the_fit_recovers_each_regime_its_stay_probability_and_the_current_regime(seed: int) -> None:
    closes, states = two_regime_closes(2000, seed)
    fit = regime_sigma(closes)
    assert fit.status == "ok" and fit.nobs == 2000
    close = closes[-1]
    # σ in $/share/√day is the regime's σ of the daily log return times the last close
    assert fit.sigma_low_usd / close == pytest.approx(SIGMA_LOW, rel=0.15)
    assert fit.sigma_high_usd / close == pytest.approx(SIGMA_HIGH, rel=0.15)
    assert fit.p_stay_low == pytest.approx(P_STAY_LOW, abs=0.05)
    assert fit.p_stay_high == pytest.approx(P_STAY_HIGH, abs=0.05)
    assert (fit.p_high > 0.5) == bool(states[-1])
    # tomorrow: the chain one step on from today's filtered probability
    p_next = fit.p_high * fit.p_stay_high + (1 - fit.p_high) * (1 - fit.p_stay_low)
    expected = math.sqrt((1 - p_next) * fit.sigma_low_usd**2 + p_next * fit.sigma_high_usd**2)
    assert fit.sigma_usd == pytest.approx(expected, rel=1e-12)
    assert fit.sigma_low_usd < fit.sigma_usd < fit.sigma_high_usd


def test_the_two_seeds_end_in_different_regimes() -> None:
    """The test above sees the current regime both ways: one path ends calm, the other volatile."""
    assert {int(two_regime_closes(2000, s)[1][-1]) for s in (2, 5)} == {0, 1}


def test_a_rerun_gives_the_same_numbers() -> None:
    closes, _ = two_regime_closes(600, 9)
    assert regime_sigma(closes) == regime_sigma(closes)


def test_too_short_a_history_is_insufficient_data_and_says_the_minimum() -> None:
    closes, _ = two_regime_closes(REGIME_MIN_RETURNS - 1, 4)
    fit = regime_sigma(closes)
    assert fit.status == "insufficient_data" and fit.nobs == REGIME_MIN_RETURNS - 1
    assert fit.message == f"{REGIME_MIN_RETURNS - 1} daily returns < {REGIME_MIN_RETURNS}"
    assert math.isnan(fit.sigma_usd) and math.isnan(fit.sigma_low_usd)
    closes, _ = two_regime_closes(REGIME_MIN_RETURNS, 4)
    assert regime_sigma(closes).status != "insufficient_data"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_constant_variance_is_degenerate_and_gives_no_sigma(seed: int) -> None:
    r = np.random.default_rng(seed).standard_normal(800) * 0.015
    fit = regime_sigma(30.0 * np.exp(np.concatenate(([0.0], np.cumsum(r)))))
    assert fit.status == "degenerate" and math.isnan(fit.sigma_usd)
    assert fit.message  # which rule it broke
    flat = regime_sigma(np.full(300, 12.5))
    assert flat.status == "degenerate" and flat.message == "the 300 closes never move"


def test_the_regime_columns_of_a_calibration_are_the_fit_of_its_daily_closes() -> None:
    window = quoted_minutes_window(3, 600)
    closes, _ = two_regime_closes(600, 2)
    dates = pl.date_range(dt.date(2024, 1, 1), dt.date(2024, 1, 1) + dt.timedelta(days=600), eager=True)
    daily = pl.DataFrame({"symbol": "XBT", "date": dates, "close": closes, "volume": 1e6})
    row = calibrate_window(dataclasses.replace(window, daily=daily)).row(0, named=True)
    fit = regime_sigma(closes)
    assert fit.status == "ok" and row["regime_status"] == "ok"
    assert row["regime_sigma_usd"] == fit.sigma_usd and row["regime_p_high"] == fit.p_high
    assert (row["regime_sigma_low_usd"], row["regime_sigma_high_usd"]) == (
        fit.sigma_low_usd,
        fit.sigma_high_usd,
    )
    assert (row["regime_p_stay_low"], row["regime_p_stay_high"]) == (fit.p_stay_low, fit.p_stay_high)
    assert (row["regime_loglik"], row["regime_nobs"]) == (fit.loglik, 600)
    # three days of closes: no fit, its columns NULL, and the row's own status does not count it
    short = calibrate_window(window).row(0, named=True)
    assert short["regime_status"] == "insufficient_data" and short["regime_sigma_usd"] is None
    assert "regime" not in (short["reason"] or "")


def test_a_schedule_on_a_missing_regime_sigma_is_refused_naming_the_symbol_and_status() -> None:
    req = ScheduleRequest(2e5, "buy", 1.0, 13, 1e-6, symbol="AAA", sigma_source="regime")
    row: dict[str, object] = {"as_of": dt.date(2026, 11, 13), "sigma_usd": 0.9, "regime_sigma_usd": None,
                              "eta": 2e-6, "epsilon_usd": 0.02, "regime_status": "degenerate",
                              "regime_message": "a regime holds 1% of the days"}  # fmt: skip
    with pytest.raises(ParameterError) as err:
        market_params(req, row, 4e-7)
    text = str(err.value)
    assert "AAA" in text and "regime_status degenerate" in text and "\n" not in text
    row["regime_sigma_usd"] = 1.3
    assert market_params(req, row, 4e-7).sigma_usd == 1.3
    assert market_params(dataclasses.replace(req, sigma_usd=0.7), row, 4e-7).sigma_usd == 0.7


def statsmodels_optimum(r: np.ndarray) -> tuple[float, np.ndarray]:
    """statsmodels' ``MarkovRegression`` fit of the same model (its search over 20 random starts, EM, then
    BFGS): log-likelihood and (σ²_low, σ²_high, p_stay_low, p_stay_high), regimes sorted by variance."""
    import warnings

    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    model = MarkovRegression(r, k_regimes=2, trend="c", switching_trend=False, switching_variance=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(cov_type="none", em_iter=20, search_reps=20, rng=0)
    p = dict(zip(model.param_names, np.asarray(res.params, dtype=float), strict=True))
    var = np.array([p["sigma2[0]"], p["sigma2[1]"]])
    stay = np.array([p["p[0->0]"], 1.0 - p["p[1->0]"]])
    order = np.argsort(var)
    return float(res.llf), np.concatenate([var[order], stay[order]])


def fitted(fit: RegimeFit, closes: np.ndarray) -> np.ndarray:
    """(σ²_low, σ²_high, p_stay_low, p_stay_high) of ``fit``, σ² in (% a day)² as statsmodels reports them."""
    scale = 100.0 / closes[-1]
    return np.array(
        [(fit.sigma_low_usd * scale) ** 2, (fit.sigma_high_usd * scale) ** 2, fit.p_stay_low, fit.p_stay_high]
    )


def oracle_series() -> list[tuple[str, np.ndarray]]:
    """Closes of simulated two-regime chains, of heavy-tailed and GARCH returns without regimes, and of real
    US quarterly growth rates (statsmodels' macrodata: real GDP and consumption, 1959–2009, whose variance
    fell in the mid-1980s), as prices."""
    from statsmodels.datasets import macrodata

    rng = np.random.default_rng(11)
    out = [(f"two regimes {s}", two_regime_closes(500, s)[0]) for s in (0, 3, 7)]
    out.append(("student t", 30.0 * np.exp(np.cumsum(np.r_[0.0, rng.standard_t(4, 500) * 0.01]))))
    h, x = 1e-4, []
    for _ in range(500):
        x.append(rng.standard_normal() * math.sqrt(h))
        h = 1e-5 + 0.1 * x[-1] ** 2 + 0.85 * h
    out.append(("garch", 50.0 * np.exp(np.cumsum(np.r_[0.0, x]))))
    data = macrodata.load_pandas().data
    for name in ("realgdp", "realcons"):
        out.append((f"macrodata {name}", data[name].to_numpy(dtype=float)))
    return out


@pytest.mark.parametrize(("name", "closes"), oracle_series(), ids=[n for n, _ in oracle_series()])
def test_the_em_reaches_statsmodels_optimum(name: str, closes: np.ndarray) -> None:
    """The vectorised EM's likelihood is at least statsmodels' optimum (to 10⁻⁶ of it), and where the
    likelihood is well identified (two regimes that are clearly apart) so are the parameters."""
    fit = regime_sigma(closes)
    ll, params = statsmodels_optimum(100 * np.diff(np.log(closes)))
    assert fit.loglik >= ll - 1e-6 * abs(ll)
    if fit.status == "ok" and name.startswith("two regimes"):
        np.testing.assert_allclose(fitted(fit, closes), params, rtol=2e-3, atol=1e-4)


def test_symbols_fitted_together_get_the_fit_each_gets_alone() -> None:
    """Unequal lengths are masked exactly: a batch's fits are the fits of its symbols one by one."""
    rng = np.random.default_rng(3)
    closes = [two_regime_closes(n, s)[0] for n, s in ((600, 2), (250, 5), (431, 9))]
    closes.append(40.0 * np.exp(np.cumsum(np.r_[0.0, rng.standard_normal(300) * 0.01])))
    closes.append(np.full(150, 9.0))  # never moves
    closes.append(closes[0][:50])  # too short
    together = regime_fits(closes)
    assert [f.status for f in together][-2:] == ["degenerate", "insufficient_data"]
    # bit for bit (NaN equal to NaN, as the forecast of a fit that is not ok)
    np.testing.assert_equal(
        [dataclasses.astuple(f) for f in together], [dataclasses.astuple(regime_sigma(c)) for c in closes]
    )


def test_the_e_step_is_statsmodels_filter_and_smoother_at_any_parameters() -> None:
    """Hamilton's filter and Kim's smoother as the EM computes them (every column at once, unequal lengths
    masked): log-likelihood, smoothed and last filtered P(high) equal statsmodels' at the same parameters,
    calm or volatile regime near its variance floor, stay probabilities near 0 and 1."""
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    from calibration.regimes import _e_step

    rng = np.random.default_rng(8)
    lengths = np.array([500, 500, 420, 300, 300, 160, 120, 120, 101, 101, 101, 101])
    r = np.zeros((lengths[0], lengths.size))
    for j, n in enumerate(lengths):
        r[:n, j] = 100 * np.diff(np.log(two_regime_closes(int(n), j)[0]))
    theta = np.column_stack(
        [rng.normal(0.0, 0.2, lengths.size), rng.uniform(0.2, 2.0, lengths.size),
         rng.uniform(2.0, 20.0, lengths.size), rng.uniform(0.05, 0.999, lengths.size),
         rng.uniform(0.05, 0.999, lengths.size)]
    )  # fmt: skip
    theta[1, 3:] = [1e-12, 0.6]
    theta[2, 3:] = [0.9, 1e-9]
    theta[3, 1:3] = [1e-3, 40.0]
    theta[4, 1:3] = [0.5, 0.51]
    with np.errstate(all="ignore"):
        loglik, f_last, _, smooth, *_ = _e_step(r, lengths, theta)
    for j, n in enumerate(lengths):
        mu, v0, v1, p00, p11 = theta[j]
        model = MarkovRegression(
            r[:n, j], k_regimes=2, trend="c", switching_trend=False, switching_variance=True
        )
        res = model.smooth(np.array([p00, 1.0 - p11, mu, v0, v1]))
        assert loglik[j] == pytest.approx(res.llf, rel=1e-10)
        np.testing.assert_allclose(
            smooth[:n, j], np.asarray(res.smoothed_marginal_probabilities)[:, 1], atol=1e-12
        )
        assert smooth[n:, j].tolist() == [0.0] * (lengths[0] - n)
        assert f_last[j] == pytest.approx(np.asarray(res.filtered_marginal_probabilities)[-1, 1], abs=1e-12)
