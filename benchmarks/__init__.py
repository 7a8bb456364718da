"""Kappa's performance harness (`make bench`)."""
