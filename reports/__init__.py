"""Kappa reports."""
