"""Post-trade analytics: shortfall, benchmarks, the model's verdict and reversions (pure functions, no I/O)."""
