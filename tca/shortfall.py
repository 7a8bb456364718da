"""Perold's implementation shortfall, split into delay, trading (spread and impact), opportunity and fees.

Perold, A. (1988), "The implementation shortfall: paper versus reality", J. Portfolio Management 14(3).
For an order of Q shares on side s (+1 buy, −1 sell) with decision price P_d, arrival mid M_a, q filled at
VWAP P̄ with fees F, and the mid M_e at the order's end:

    delay       = s·q·(M_a − P_d)
    trading     = s·q·(P̄ − M_a)          = spread + impact,  spread = Σ q_i·(half quoted spread at fill i)
    opportunity = s·(Q − q)·(M_e − P_d)
    fees        = F
    total       = delay + trading + opportunity + fees  = s·(Σ q_i p_i − q·P_d) + s·(Q − q)(M_e − P_d) + F

Positive is a cost for buys and sells alike (DESIGN §3); bps are of Q × the reference price (P_d where the
order gives a decision price, else M_a, which makes the delay zero).
"""

from __future__ import annotations

import polars as pl

from tca import side_sign

COMPONENTS = ("delay", "trading", "spread", "impact", "opportunity", "fees", "total")


def implementation_shortfall(orders: pl.DataFrame) -> pl.DataFrame:
    """Add ``{component}_usd`` and ``{component}_bps`` for every component of :data:`COMPONENTS`.

    Parameters
    ----------
    orders
        One row per order: ``side`` ('buy'/'sell'), ``quantity`` (Q), ``filled_shares`` (q),
        ``fill_vwap_usd`` (P̄, null without fills), ``decision_price`` (null if none), ``arrival_mid_usd``,
        ``end_mid_usd``, ``fees_usd`` (F) and ``spread_paid_usd`` (Σ q_i·half spread_i).

    Returns
    -------
    polars.DataFrame
        ``orders`` with ``reference_price_usd``, ``notional_usd`` (Q × reference) and the components.
        Components that need a missing mid are null, never guessed.
    """
    s = side_sign()
    q, big_q = pl.col("filled_shares"), pl.col("quantity")
    p_d = pl.coalesce("decision_price", "arrival_mid_usd")
    trading = (
        pl.when(q > 0).then(s * q * (pl.col("fill_vwap_usd") - pl.col("arrival_mid_usd"))).otherwise(0.0)
    )
    # an order filled in full has no opportunity cost, whatever the end mid (which may be unknown)
    opportunity = pl.when(big_q - q <= 0).then(0.0).otherwise(s * (big_q - q) * (pl.col("end_mid_usd") - p_d))
    out = orders.with_columns(
        p_d.alias("reference_price_usd"),
        (big_q * p_d).alias("notional_usd"),
        (s * q * (pl.col("arrival_mid_usd") - p_d)).alias("delay_usd"),
        trading.alias("trading_usd"),
        pl.col("spread_paid_usd").alias("spread_usd"),
        opportunity.alias("opportunity_usd"),
        pl.col("fees_usd").fill_null(0.0).alias("fees_usd"),
    )
    out = out.with_columns(
        (pl.col("trading_usd") - pl.col("spread_usd")).alias("impact_usd"),
        pl.sum_horizontal(
            "delay_usd", "trading_usd", "opportunity_usd", "fees_usd", ignore_nulls=False
        ).alias("total_usd"),
    )
    return out.with_columns(
        (pl.col(f"{c}_usd") / pl.col("notional_usd") * 1e4).alias(f"{c}_bps") for c in COMPONENTS
    )


def slippage_bps(price: str, benchmark: str, name: str) -> pl.Expr:
    """s·(price − benchmark)/benchmark in bps: positive when the fills were worse than the benchmark."""
    s = side_sign()
    return (s * (pl.col(price) - pl.col(benchmark)) / pl.col(benchmark) * 1e4).alias(name)
