"""The model's verdict on an order: Almgren-Chriss E and √V of the path it actually followed, and z.

For the executed children n_1..n_M of an order (X = Σ n_k filled shares, side s) at times t_1..t_M after
its arrival t_0, with τ_k = t_k − t_{k−1} in trading days (session time of the exchange calendar: nights,
weekends and holidays count nothing), c_k the closes followed by a night in [t_{k−1}, t_k) and
x_{k−1} = X − Σ_{j<k} n_j the shares still to trade before child k, the market model of DESIGN §4
(Almgren & Chriss 2000, eqs. 1–2, 6–7) gives the cost against the arrival mid C = s·Σ n_k (p_k − M_a) +
fees, with

    E[C] = ½γ(X² − Σn_k²) + εX + η·Σ n_k²/τ_k     (permanent: the first term; temporary: the rest)
    V[C] = Σ_k (σ²τ_k + σ_night²·c_k)·x_{k−1}²

(the mid moves by σ·dW while x_{k−1} shares wait for child k, and by a night's change, of standard
deviation σ_night, across each close they wait over; ε includes fees per share, as calibrated). A fill
stamped at the end of its child's interval is Almgren & Chriss's trade at the start of the next period, so
E and V are :func:`schedule.costs.path_moments` with h_k = x_{k−1}: the one implementation of the
schedules' E and V. Then z = (C − E)/√V is N(0, 1) for a well-calibrated model, order by order.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from kappa.clock import Clock
from kappa.units import side_sign
from schedule.costs import path_moments

PARAMS = ("sigma_usd", "gamma", "eta", "epsilon_usd", "sigma_overnight_usd")


def realized_path_moments(fills: pl.DataFrame, params: pl.DataFrame, clock: Clock) -> pl.DataFrame:
    """Per order: E split into permanent and temporary parts, √V, the realized cost C and z.

    Parameters
    ----------
    fills
        ``order_id, symbol, side, arrival_ts, arrival_mid_usd, ts, price, quantity, fee_usd``.
    params
        ``symbol, sigma_usd, gamma, eta, epsilon_usd, sigma_overnight_usd`` (the calibration the order is
        judged with; a null σ_night counts only for an order that waits over a night, whose V is then null).
    clock
        Trading time of the exchange calendar (``data.calendar.TradingClock``).

    Returns
    -------
    polars.DataFrame
        ``order_id, model_permanent_usd, model_temporary_usd, model_expected_cost_usd, model_std_usd,
        realized_cost_usd, z_score, nights_crossed``.
    """
    s = side_sign()
    if "sigma_overnight_usd" not in params.columns:
        params = params.with_columns(pl.lit(None, dtype=pl.Float64).alias("sigma_overnight_usd"))
    f = _children(fills, clock)
    per = (
        f.group_by("order_id", maintain_order=True)
        .agg(
            pl.col("symbol").first(),
            (pl.col("_tau") > 0).all().alias("_tau_ok"),
            pl.col("_nights").sum().alias("nights_crossed"),
            (s * pl.col("quantity") * (pl.col("price") - pl.col("arrival_mid_usd"))).sum().alias("_c"),
            pl.col("fee_usd").fill_null(0.0).sum().alias("_fees"),
        )
        .with_row_index("_path")
        .join(params.select("symbol", *PARAMS), on="symbol", how="left", maintain_order="left")
    )
    f = f.join(per.select("order_id", "_path"), on="order_id")
    tau = f["_tau"].to_numpy()
    m = path_moments(
        f["_path"].to_numpy(), f["quantity"].to_numpy(), np.where(tau > 0, tau, np.inf), f["_held"].to_numpy(),
        f["_nights"].to_numpy(),
        **{k: per[k].fill_null(np.nan).to_numpy() for k in PARAMS if k != "sigma_overnight_usd"},
        sigma_overnight_usd=per["sigma_overnight_usd"].fill_null(0.0).to_numpy(),
    )  # fmt: skip
    night_unknown = per["sigma_overnight_usd"].is_null().to_numpy() & (per["nights_crossed"].to_numpy() > 0)
    out = (
        per.with_columns(
            pl.Series("model_permanent_usd", m.permanent_usd + m.own_trade_usd),
            pl.Series("_temp", m.fixed_usd + m.temporary_usd),
            pl.Series("_std", np.where(night_unknown, np.nan, np.sqrt(m.variance_usd2))),
            (pl.col("_c") + pl.col("_fees")).alias("realized_cost_usd"),
        )
        .with_columns(
            pl.col("model_permanent_usd").fill_nan(None),
            pl.when(pl.col("_tau_ok")).then(pl.col("_temp").fill_nan(None)).alias("model_temporary_usd"),
            pl.when(pl.col("_tau_ok")).then(pl.col("_std").fill_nan(None)).alias("model_std_usd"),
        )
        .with_columns(
            (pl.col("model_permanent_usd") + pl.col("model_temporary_usd")).alias("model_expected_cost_usd")
        )
    )
    return out.with_columns(
        pl.when(pl.col("model_std_usd") > 0)
        .then((pl.col("realized_cost_usd") - pl.col("model_expected_cost_usd")) / pl.col("model_std_usd"))
        .alias("z_score")
    ).select(
        "order_id", "model_permanent_usd", "model_temporary_usd", "model_expected_cost_usd", "model_std_usd",
        "realized_cost_usd", "z_score", "nights_crossed",
    )  # fmt: skip


def _children(fills: pl.DataFrame, clock: Clock) -> pl.DataFrame:
    """Each order's children in time order with the shares held before each (``_held``), the trading days
    since the previous child or arrival (``_tau``) and the nights crossed in between (``_nights``)."""
    # fills stamped with the same instant are one child (split across venues): they share its interval
    children = fills.group_by("order_id", "ts", maintain_order=True).agg(
        pl.col("symbol", "side", "arrival_ts", "arrival_mid_usd").first(),
        ((pl.col("price") * pl.col("quantity")).sum() / pl.col("quantity").sum()).alias("price"),
        pl.col("quantity").sum(),
        pl.col("fee_usd").fill_null(0.0).sum(),
    )
    f = children.sort("order_id", "ts").with_columns(
        pl.col("ts").shift(1).over("order_id").fill_null(pl.col("arrival_ts")).alias("_prev"),
        (pl.col("quantity").sum().over("order_id") - pl.col("quantity").cum_sum().over("order_id")
         + pl.col("quantity")).alias("_held"),
    )  # fmt: skip
    return f.with_columns(
        clock.elapsed_days(pl.col("_prev"), pl.col("ts")).alias("_tau"),
        clock.nights_between(pl.col("_prev"), pl.col("ts")).alias("_nights"),
    )
