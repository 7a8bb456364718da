"""Calibration of the Almgren-Chriss parameters (σ, γ, η, ε, β) from market data and own fills.

Pure functions: polars/numpy in, frozen dataclasses out. Nothing here opens a file or a connection; the
data layer reads the inputs and writes the ``calibrations`` table. Units follow DESIGN §3 (:mod:`kappa.units`):
time in trading days (1 day = the 6.5 h regular session), prices in USD per share, sizes in shares.
"""
