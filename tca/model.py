"""The model's verdict on an order: Almgren-Chriss E and √V of the path it actually followed, and z.

For the executed children n_1..n_M of an order (X = Σ n_k filled shares, side s) at times t_1..t_M after
its arrival t_0, with τ_k = t_k − t_{k−1} (trading days) and x_{k−1} = X − Σ_{j<k} n_j the shares still to
trade before child k, the market model of DESIGN §4 (Almgren & Chriss 2000, eqs. 1–2, 6–7) gives the cost
against the arrival mid C = s·Σ n_k (p_k − M_a) + fees, with

    E[C] = ½γ(X² − Σn_k²) + εX + η·Σ n_k²/τ_k     (permanent: the first term; temporary: the rest)
    V[C] = σ²·Σ τ_k·x_{k−1}²

(the mid moves by σ·dW while x_{k−1} shares wait for child k; ε includes fees per share, as calibrated).
Then z = (C − E)/√V is N(0, 1) for a well-calibrated model, order by order.
"""

from __future__ import annotations

import polars as pl

from tca import SESSION_SECONDS, side_sign


def realized_path_moments(fills: pl.DataFrame, params: pl.DataFrame) -> pl.DataFrame:
    """Per order: E split into permanent and temporary parts, √V, the realized cost C and z.

    Parameters
    ----------
    fills
        ``order_id, symbol, side, arrival_ts, arrival_mid_usd, ts, price, quantity, fee_usd``.
    params
        ``symbol, sigma_usd, gamma, eta, epsilon_usd`` (the calibration the order is judged with).

    Returns
    -------
    polars.DataFrame
        ``order_id, model_permanent_usd, model_temporary_usd, model_expected_cost_usd, model_std_usd,
        realized_cost_usd, z_score``.
    """
    s = side_sign()
    # fills stamped with the same instant are one child (split across venues): they share its interval
    fills = fills.group_by("order_id", "ts", maintain_order=True).agg(
        pl.col("symbol", "side", "arrival_ts", "arrival_mid_usd").first(),
        ((pl.col("price") * pl.col("quantity")).sum() / pl.col("quantity").sum()).alias("price"),
        pl.col("quantity").sum(),
        pl.col("fee_usd").fill_null(0.0).sum(),
    )
    f = fills.sort("order_id", "ts").with_columns(
        pl.col("ts").shift(1).over("order_id").fill_null(pl.col("arrival_ts")).alias("_prev"),
        (pl.col("quantity").cum_sum().over("order_id") - pl.col("quantity")).alias("_done"),
    )
    f = f.with_columns(
        ((pl.col("ts") - pl.col("_prev")).dt.total_nanoseconds() / 1e9 / SESSION_SECONDS).alias("_tau"),
    )
    per = (
        f.group_by("order_id", maintain_order=True)
        .agg(
            pl.col("symbol").first(),
            pl.col("quantity").sum().alias("_x"),
            (pl.col("quantity") ** 2).sum().alias("_n2"),
            pl.when(pl.col("_tau") > 0).then(pl.col("quantity") ** 2 / pl.col("_tau")).sum().alias("_n2_tau"),
            (pl.col("_tau") > 0).all().alias("_tau_ok"),
            (pl.col("_tau") * (pl.col("quantity").sum() - pl.col("_done")) ** 2).sum().alias("_tx2"),
            (s * pl.col("quantity") * (pl.col("price") - pl.col("arrival_mid_usd"))).sum().alias("_c"),
            pl.col("fee_usd").fill_null(0.0).sum().alias("_fees"),
        )
        .join(params, on="symbol", how="left")
    )
    perm = 0.5 * pl.col("gamma") * (pl.col("_x") ** 2 - pl.col("_n2"))
    temp = pl.col("epsilon_usd") * pl.col("_x") + pl.col("eta") * pl.col("_n2_tau")
    std = pl.when(pl.col("_tau_ok")).then(pl.col("sigma_usd") * pl.col("_tx2").sqrt())
    out = per.with_columns(
        perm.alias("model_permanent_usd"),
        pl.when(pl.col("_tau_ok")).then(temp).alias("model_temporary_usd"),
        std.alias("model_std_usd"),
        (pl.col("_c") + pl.col("_fees")).alias("realized_cost_usd"),
    ).with_columns(
        (pl.col("model_permanent_usd") + pl.col("model_temporary_usd")).alias("model_expected_cost_usd")
    )
    return out.with_columns(
        pl.when(pl.col("model_std_usd") > 0)
        .then((pl.col("realized_cost_usd") - pl.col("model_expected_cost_usd")) / pl.col("model_std_usd"))
        .alias("z_score")
    ).select(
        "order_id", "model_permanent_usd", "model_temporary_usd", "model_expected_cost_usd", "model_std_usd",
        "realized_cost_usd", "z_score",
    )  # fmt: skip
