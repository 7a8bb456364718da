"""A refused parameter raises ScheduleError (a ParameterError, a ValueError) naming the parameter and value."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from kappa.errors import ParameterError, ScheduleError
from schedule import MarketParams, Order, optimal_holdings, periods_for, pov_schedule

PARAMS = MarketParams(sigma_usd=0.95, gamma=2.5e-7, eta=2.5e-6, epsilon_usd=0.0625)


@pytest.mark.parametrize(
    ("make", "name", "value"),
    [
        (lambda: Order(-5.0, "buy", 1.0, 5), "shares", -5.0),
        (lambda: Order(1e4, "hold", 1.0, 5), "side", "hold"),
        (lambda: Order(1e4, "buy", 0.0, 5), "horizon_days", 0.0),
        (lambda: Order(1e4, "buy", 1.0, 0), "periods", 0),
        (lambda: MarketParams(0.95, 2.5e-7, 0.0, 0.0625), "eta", 0.0),
        (lambda: MarketParams(-1.0, 2.5e-7, 2.5e-6, 0.0625), "sigma_usd", -1.0),
        (lambda: periods_for(5.0, 2.0), "period_days", 2.0),
        (lambda: periods_for(-1.0, 0.5), "horizon_days", -1.0),
        (lambda: optimal_holdings(Order(1e4, "sell", 5.0, 5), PARAMS, -1e-6), "risk_aversion", -1e-6),
        (lambda: pov_schedule(Order(1e4, "buy", 1.0, 5), PARAMS, 1.5, 1e6), "participation", 1.5),
    ],
)
def test_a_refused_parameter_is_named_with_its_value(
    make: Callable[[], object], name: str, value: object
) -> None:
    with pytest.raises(ScheduleError) as info:
        make()
    assert isinstance(info.value, ParameterError) and isinstance(info.value, ValueError)
    assert info.value.name == name
    assert info.value.value == value or (isinstance(value, float) and math.isnan(value))
