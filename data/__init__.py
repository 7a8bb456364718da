"""Kappa data."""
