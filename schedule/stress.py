"""Stress tests of a schedule: its E, √V and first trade when σ, η or γ is not what was calibrated.

Each scenario multiplies one parameter and re-solves the exact optimum (Almgren & Chriss 2000, eq. 18) at the
same λ: how much the urgency (κ, the first trade) and the cost depend on each estimate. A scenario the model
refuses (η × 0.5 with η̃ = η − γτ/2 no longer positive) is kept as a row with the reason, never dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from kappa.errors import ScheduleError
from schedule.almgren_chriss import optimal_schedule
from schedule.records import MarketParams, Order

SCENARIOS: tuple[tuple[str, float], ...] = (
    ("sigma", 0.5), ("sigma", 2.0), ("sigma", 10.0),
    ("eta", 0.5), ("eta", 2.0),
    ("gamma", 0.5), ("gamma", 2.0),
)  # fmt: skip
"""(parameter, multiplier): σ × {0.5, 2, 10} (10: the flash crash), η × {0.5, 2}, γ × {0.5, 2}."""
FIELDS = {"sigma": "sigma_usd", "eta": "eta", "gamma": "gamma"}


@dataclass(frozen=True, slots=True)
class StressRow:
    """One scenario: the parameter scaled, its value, and the optimum's κ (1/day), E and √V ($), and first
    trade n_1 (shares); all ``nan`` with ``reason`` set where the model refuses the scenario."""

    parameter: str
    multiplier: float
    value: float
    kappa_per_day: float
    expected_cost_usd: float
    std_usd: float
    first_trade_shares: float
    reason: str | None = None


def stress(
    order: Order,
    params: MarketParams,
    risk_aversion: float,
    scenarios: tuple[tuple[str, float], ...] = SCENARIOS,
) -> list[StressRow]:
    """The base case (multiplier 1) and each scenario's optimum at the same λ.

    Parameters
    ----------
    order, params, risk_aversion
        The schedule's order, its parameters and λ (1/$).
    scenarios
        (``sigma`` | ``eta`` | ``gamma``, multiplier > 0) pairs.

    Returns
    -------
    list[StressRow]
        The base row first, then one row per scenario, in order.
    """
    rows = [_row(order, params, risk_aversion, "base", 1.0)]
    for name, m in scenarios:
        if name not in FIELDS or not (math.isfinite(m) and m > 0):
            raise ScheduleError(f"stress scenario {name} × {m}: expected sigma, eta or gamma × a positive number",
                                name="scenario", value=(name, m))  # fmt: skip
        field = FIELDS[name]
        scaled = replace(params, **{field: getattr(params, field) * m})
        rows.append(_row(order, scaled, risk_aversion, name, m))
    return rows


def _row(order: Order, params: MarketParams, lam: float, name: str, m: float) -> StressRow:
    value = getattr(params, FIELDS[name]) if name in FIELDS else math.nan
    try:
        s = optimal_schedule(order, params, lam)
    except ScheduleError as exc:
        return StressRow(name, m, value, math.nan, math.nan, math.nan, math.nan, str(exc))
    return StressRow(
        name, m, value, float(s.kappa_per_day or 0.0), s.expected_cost_usd, s.std_usd, float(s.trades[0])
    )
