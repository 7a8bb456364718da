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

An order still working at a session's close (unfilled shares, its end after that close) has no opportunity
cost yet: its unfilled shares are not cancelled. Its cost so far is split in two (:func:`interim_marks`):

    executed    = delay + trading + fees = s·(Σ q_i p_i − q·P_d) + F     realized on the q shares filled
    interim MtM = s·(Q − q)·(M_c − P_d)                                   unrealized, at the closing mid M_c

and the order is attributed (its opportunity cost and total) once, on the session it completes.
"""

from __future__ import annotations

import polars as pl

from kappa.units import BPS, side_sign

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
        (pl.col(f"{c}_usd") / pl.col("notional_usd") * BPS).alias(f"{c}_bps") for c in COMPONENTS
    )


def interim_marks(orders: pl.DataFrame, working: pl.Expr) -> pl.DataFrame:
    """Split the cost so far into what is realized and the interim mark-to-market of the open shares.

    Parameters
    ----------
    orders
        The output of :func:`implementation_shortfall`, with ``close_mid_usd`` (M_c, $/share: the closing
        mid of the session attributed).
    working
        Boolean expression: the order is still working at that close (its total is not known yet).

    Returns
    -------
    polars.DataFrame
        ``orders`` with ``executed_cost_usd`` / ``_bps`` (delay + trading + fees of the filled shares, every
        order) and ``interim_mtm_usd`` / ``_bps`` (s·(Q − q)·(M_c − P_d), working orders only, else null).
        For a working order ``opportunity_*`` and ``total_*`` become null: they exist once it completes.
        bps are of the notional Q × reference price, as every component.

    Notes
    -----
    Perold (1988): the shortfall of the unexecuted shares is the opportunity cost *when the order is
    cancelled or expires*; before then the open shares are a position marked to market, kept apart from
    the realized cost, so that a period's realized cost never holds an unrealized mark.
    """
    s = side_sign()
    executed = pl.sum_horizontal("delay_usd", "trading_usd", "fees_usd", ignore_nulls=False)
    mtm = (
        s
        * (pl.col("quantity") - pl.col("filled_shares"))
        * (pl.col("close_mid_usd") - pl.col("reference_price_usd"))
    )
    out = orders.with_columns(
        executed.alias("executed_cost_usd"),
        pl.when(working).then(mtm).alias("interim_mtm_usd"),
        *(
            pl.when(~working).then(pl.col(f"opportunity_{u}")).alias(f"opportunity_{u}")
            for u in ("usd", "bps")
        ),
        *(pl.when(~working).then(pl.col(f"total_{u}")).alias(f"total_{u}") for u in ("usd", "bps")),
    )
    return out.with_columns(
        (pl.col(f"{c}_usd") / pl.col("notional_usd") * BPS).alias(f"{c}_bps")
        for c in ("executed_cost", "interim_mtm")
    )


def slippage_bps(price: str, benchmark: str, name: str) -> pl.Expr:
    """s·(price − benchmark)/benchmark in bps: positive when the fills were worse than the benchmark."""
    s = side_sign()
    return (s * (pl.col(price) - pl.col(benchmark)) / pl.col(benchmark) * BPS).alias(name)
