"""A market simulator with known Almgren-Chriss parameters: the demo's data and the tests' ground truth.

It draws quotes, trades, orders and fills whose σ, γ, η and ε are set by the caller, and executes the
orders along the schedules of :mod:`schedule`, so that calibration and attribution can be checked against
the truth that generated the data.
"""
