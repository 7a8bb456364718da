"""The estimators' thresholds: one record, validated, passed to every estimator, quoted in the reasons."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest

from calibration.impact import GAMMA_T_MIN, MIN_BUCKETS, MIN_FILLS, MIN_ORDERS
from calibration.overnight import MIN_NIGHTS
from calibration.records import DEFAULT_THRESHOLDS, EstimatorThresholds
from calibration.volatility import (
    GARCH_INFLUENCE_FACTOR,
    GARCH_MIN_RETURNS,
    GARCH_OUTLIER_MADS,
    MIN_MOVING_RETURNS,
)
from calibration.window import calibrate_window
from kappa.errors import ParameterError
from simulator import SymbolParams
from tests.calibration.conftest import simulate_window

KYLE = SymbolParams("KYLE", 30.0, 0.25, 2e-6, 3e-6, 0.01, 600_000, quotes_per_day=2_000)
OWN = SymbolParams("OWN", 60.0, 1.2, 5e-7, 4e-6, 0.03, 500_000, quotes_per_day=2_000)
DAYS = 10


@pytest.fixture(scope="module")
def window():  # the window of test_impact's fallbacks: KYLE's γ has t = 1.46 there, OWN is fitted from fills
    return simulate_window(
        (OWN, KYLE), dt.date(2026, 9, 14), DAYS, orders_per_symbol_day=6, seed=3, history=150
    )


def _rows(out: pl.DataFrame) -> dict[str, dict[str, object]]:
    return {r["symbol"]: r for r in out.iter_rows(named=True)}


def test_the_module_constants_are_the_records_defaults() -> None:
    constants = (MIN_BUCKETS, GAMMA_T_MIN, MIN_FILLS, MIN_ORDERS, MIN_NIGHTS, MIN_MOVING_RETURNS,
                 GARCH_MIN_RETURNS, GARCH_OUTLIER_MADS, GARCH_INFLUENCE_FACTOR)  # fmt: skip
    assert dataclasses.astuple(DEFAULT_THRESHOLDS) == (30, 1.96, 20, 3, 2, 20, 100, 10.0, 2.0) == constants


@pytest.mark.parametrize(
    ("field", "value"),
    [("min_buckets", 0), ("min_fills", 0), ("min_orders", -1), ("min_nights", 0), ("min_moving_returns", 0),
     ("garch_min_returns", 0), ("gamma_t_min", -0.1), ("gamma_t_min", float("nan")),
     ("garch_outlier_mads", 0.0), ("garch_influence_factor", 0.5)],
)  # fmt: skip
def test_a_threshold_out_of_range_is_a_parameter_error_naming_it(field: str, value: float) -> None:
    with pytest.raises(ParameterError) as info:
        EstimatorThresholds(**{field: value})
    assert info.value.name == field


def test_thresholds_above_the_data_change_the_rows_and_the_reasons_quote_them(window) -> None:
    """Each threshold set just above what the window has flips its estimate, and just at it does not."""
    base = _rows(calibrate_window(window))
    own_fills = window.fills.filter(pl.col("symbol") == "OWN").height
    own_orders = window.fills.filter(pl.col("symbol") == "OWN")["order_id"].n_unique()
    returns = window.daily.filter(pl.col("symbol") == "OWN").height - 1  # daily closes, one return fewer
    nights = DAYS - 1  # ten consecutive sessions
    assert base["OWN"]["eta_source"] == "fills" and base["OWN"]["eta_nobs"] == own_fills
    assert base["OWN"]["garch_status"] == "ok" and base["OWN"]["garch_nobs"] == returns
    assert base["OWN"]["sigma_overnight_nobs"] == nights and base["OWN"]["sigma_overnight_usd"] is not None
    assert base["KYLE"]["gamma_status"] == "not_significant"  # t = 1.46 < 1.96
    t = base["KYLE"]["gamma"] / base["KYLE"]["gamma_se"]

    above = EstimatorThresholds(min_fills=own_fills + 1, garch_min_returns=returns + 1, min_nights=nights + 1,
                                gamma_t_min=round(t, 2) - 0.01)  # fmt: skip
    rows = _rows(calibrate_window(window, thresholds=above))
    own, kyle = rows["OWN"], rows["KYLE"]
    # η: too few fills for the threshold in force, which the reason quotes; η is then a fallback
    fallback = "cross_section" if kyle["eta_source"] == "fills" else "almgren_2005"
    assert own["eta_status"] == "insufficient_data" and own["eta_source"] == fallback
    assert (
        f"epsilon: quoted half spread ({own_fills} own fills from {own_orders} orders; "
        f"{own_fills + 1} from 3 orders needed)"
    ) in own["reason"]
    # GARCH not fitted: σ GARCH is the realized σ
    assert own["garch_status"] == "fallback_realized:insufficient_data" and own["garch_nobs"] == returns
    assert own["garch_message"] == f"{returns} daily returns < {returns + 1}"
    assert own["sigma_garch_usd"] == own["sigma_usd"]
    # σ overnight: too few nights, null with its count
    assert own["sigma_overnight_usd"] is None and own["sigma_overnight_nobs"] == nights
    # γ significant at the lower t: KYLE's γ itself does not move, only its status
    assert kyle["gamma_status"] == "ok" and kyle["gamma"] == base["KYLE"]["gamma"]

    at = EstimatorThresholds(min_fills=own_fills, garch_min_returns=returns, min_nights=nights)
    exact = _rows(calibrate_window(window, thresholds=at))
    assert exact["OWN"]["eta_source"] == "fills" and exact["OWN"]["garch_status"] == "ok"
    assert exact["OWN"]["sigma_overnight_usd"] == base["OWN"]["sigma_overnight_usd"]


def test_bucket_and_return_counts_and_the_t_threshold_are_quoted_as_in_force(window) -> None:
    th = EstimatorThresholds(min_buckets=100_000, min_moving_returns=100_000, gamma_t_min=1.5)
    rows = _rows(calibrate_window(window, thresholds=th))
    own = rows["OWN"]
    assert own["status"] == "insufficient_data" and own["sigma_usd"] is None
    assert own["reason"].startswith("sigma: fewer than 100000 non-zero 5-minute mid returns")
    assert own["gamma_status"] == "insufficient_data" and own["kyle_lambda"] is None
    assert "minutes of quoted history before them, fewer than 100000" in own["reason"]
    th = EstimatorThresholds(gamma_t_min=1.5)
    kyle = _rows(calibrate_window(window, thresholds=th))["KYLE"]
    assert kyle["gamma_status"] == "not_significant" and "is not significant (t < 1.5)" in kyle["reason"]
