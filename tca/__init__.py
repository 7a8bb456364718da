"""Post-trade analytics: shortfall, benchmarks, the model's verdict and markouts (pure functions, no I/O)."""

import polars as pl

SESSION_SECONDS = 23_400  # one trading day of DESIGN §3: the regular 6.5-hour session
TRADING_MINUTES_PER_DAY = SESSION_SECONDS / 60  # 390 minutes of session time per trading day


def side_sign() -> pl.Expr:
    """+1 for a buy, −1 for a sell, from the ``side`` column: costs are side · (price − benchmark)."""
    return pl.when(pl.col("side") == "buy").then(1.0).otherwise(-1.0)
