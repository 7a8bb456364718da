"""The settings record of a night: validated, frozen, stored whole and read back."""

from __future__ import annotations

import json

import pytest

from flows.night_settings import NightSettings
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS, Runner
from kappa.errors import ParameterError


def test_defaults_come_from_the_flows_defaults_and_the_record_is_frozen() -> None:
    s = NightSettings(home="/h")
    assert (s.calendar, s.lookback_days, s.garch_days, s.batch_symbols, s.task_runner) == (
        "XNYS", DEFAULT_LOOKBACK_DAYS, DEFAULT_GARCH_DAYS, DEFAULT_BATCH_SYMBOLS, Runner.threads
    )  # fmt: skip
    with pytest.raises(ValueError):
        s.lookback_days = 5  # type: ignore[misc]


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
                      task_runner=Runner.processes)  # fmt: skip
    stored = json.loads(json.dumps(s.run_parameters(date="2026-11-20", symbols=["A"])))
    assert (
        stored["date"] == "2026-11-20"
        and stored["lookback_days"] == 7
        and stored["task_runner"] == "processes"
    )
    assert NightSettings.from_parameters(stored) == s
    assert s.flow_parameters() == {"home": "/h", "calendar": "XLON", "lookback_days": 7, "garch_days": 0,
                                   "batch_symbols": 3}  # fmt: skip
