"""Optimal execution schedules: the exact discrete Almgren-Chriss solution, its frontier, and baselines.

Pure functions (numpy and scipy, no I/O). Units are those of DESIGN §3; see :mod:`schedule.records`.
"""

from kappa.errors import ScheduleError
from schedule.almgren_chriss import (
    closed_form_expected_cost,
    closed_form_variance,
    continuous_cost_variance,
    continuous_holdings,
    kappa_continuous,
    kappa_discrete,
    optimal_holdings,
    optimal_schedule,
    risk_aversion_for_kappa,
)
from schedule.baselines import cumulative_volume_days, pov_schedule, twap_schedule, vwap_schedule
from schedule.costs import expected_cost, schedule_from_holdings, variance_usd2
from schedule.frontier import efficient_frontier, frontier_risk_aversions
from schedule.nonlinear import power_law_holdings, power_law_schedule
from schedule.records import Cost, MarketParams, Order, PowerLaw, Schedule, periods_for

__all__ = [
    "Cost",
    "MarketParams",
    "Order",
    "PowerLaw",
    "Schedule",
    "ScheduleError",
    "closed_form_expected_cost",
    "closed_form_variance",
    "continuous_cost_variance",
    "continuous_holdings",
    "cumulative_volume_days",
    "efficient_frontier",
    "expected_cost",
    "frontier_risk_aversions",
    "kappa_continuous",
    "kappa_discrete",
    "optimal_holdings",
    "optimal_schedule",
    "periods_for",
    "pov_schedule",
    "power_law_holdings",
    "power_law_schedule",
    "risk_aversion_for_kappa",
    "schedule_from_holdings",
    "twap_schedule",
    "variance_usd2",
    "vwap_schedule",
]
