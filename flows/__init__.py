"""Kappa flows."""
