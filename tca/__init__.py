"""Kappa tca."""
