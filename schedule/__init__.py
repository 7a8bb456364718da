"""Kappa schedule."""
