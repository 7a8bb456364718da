"""A market simulator with known Almgren-Chriss parameters: the demo's data and the tests' ground truth.

It draws quotes, trades, orders and fills whose σ, γ, η and ε are set by the caller, and executes the
orders along the schedules of :mod:`schedule`, so that calibration and attribution can be checked against
the truth that generated the data.
"""

from simulator.files import write_dataset
from simulator.history import daily_history, garch_path
from simulator.market import SimDay, simulate_days, transient_impact_path
from simulator.truth import truth
from simulator.universe import FILL_NOISE_HALF_SPREADS, SimConfig, SymbolParams, random_universe

__all__ = [
    "FILL_NOISE_HALF_SPREADS",
    "SimConfig",
    "SimDay",
    "SymbolParams",
    "daily_history",
    "garch_path",
    "random_universe",
    "simulate_days",
    "transient_impact_path",
    "truth",
    "write_dataset",
]
