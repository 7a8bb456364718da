"""Post-trade analytics: shortfall, benchmarks, the model's verdict and markouts (pure functions, no I/O)."""
