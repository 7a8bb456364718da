"""The settings record of a night: validated, frozen, stored whole and read back."""

from __future__ import annotations

import dataclasses
import json

import pytest

from calibration.records import DEFAULT_THRESHOLDS, EstimatorThresholds
from flows.night_settings import NightSettings, Thresholds
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS, Runner
from kappa.errors import ParameterError


def test_defaults_come_from_the_flows_defaults_and_the_record_is_frozen() -> None:
    s = NightSettings(home="/h")
    assert (s.calendar, s.lookback_days, s.garch_days, s.batch_symbols, s.task_runner) == (
        "XNYS", DEFAULT_LOOKBACK_DAYS, DEFAULT_GARCH_DAYS, DEFAULT_BATCH_SYMBOLS, Runner.threads
    )  # fmt: skip
    with pytest.raises(ValueError):
        s.lookback_days = 5  # type: ignore[misc]


def test_the_thresholds_are_the_estimators_fields_with_their_defaults() -> None:
    assert Thresholds().model_dump() == dataclasses.asdict(DEFAULT_THRESHOLDS)
    assert NightSettings(home="/h").thresholds.record() == EstimatorThresholds()
    assert Thresholds(min_fills=50, gamma_t_min=2.5).record() == EstimatorThresholds(
        min_fills=50, gamma_t_min=2.5
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("min_fills", 0), ("min_buckets", 0), ("garch_min_returns", -1), ("gamma_t_min", -1.0),
     ("gamma_t_min", float("inf")), ("garch_outlier_mads", 0.0), ("garch_influence_factor", 0.9),
     ("min_fill", 3)],
)  # fmt: skip
def test_a_refused_threshold_is_a_parameter_error_naming_it(field: str, value: object) -> None:
    with pytest.raises(ParameterError) as info:
        NightSettings.checked(home="/h", thresholds={field: value})
    assert info.value.name == f"thresholds.{field}" and info.value.value == value


@pytest.mark.parametrize(
    ("field", "value"),
    [("lookback_days", 0), ("garch_days", -1), ("batch_symbols", 0), ("task_runner", "gpu")],
)
def test_a_refused_value_is_a_parameter_error_naming_it(field: str, value: object) -> None:
    with pytest.raises(ParameterError) as info:
        NightSettings.checked(home="/h", **{field: value})
    assert info.value.name == field and info.value.value == value and isinstance(info.value, ValueError)


def test_stored_parameters_read_back_to_the_same_record() -> None:
    s = NightSettings(home="/h", calendar="XLON", lookback_days=7, garch_days=0, batch_symbols=3,
                      task_runner=Runner.processes, thresholds=Thresholds(min_fills=40))  # fmt: skip
    stored = json.loads(json.dumps(s.run_parameters(date="2026-11-20", symbols=["A"])))
    assert (
        stored["date"] == "2026-11-20"
        and stored["lookback_days"] == 7
        and stored["task_runner"] == "processes"
        and stored["thresholds"] == {**dataclasses.asdict(DEFAULT_THRESHOLDS), "min_fills": 40}
    )
    assert NightSettings.from_parameters(stored) == s
    assert s.flow_parameters() == {"home": "/h", "calendar": "XLON", "lookback_days": 7, "garch_days": 0,
                                   "batch_symbols": 3, "thresholds": Thresholds(min_fills=40)}  # fmt: skip
    # a run stored before the thresholds were settings ran with the defaults
    older = {k: v for k, v in stored.items() if k != "thresholds"}
    assert NightSettings.from_parameters(older).thresholds == Thresholds()
