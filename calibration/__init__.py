"""Kappa calibration."""
