"""One symbol's ``calibrations`` row from its fits, and the reason each estimate fell back or is missing.

:func:`symbol_row` names every column of :class:`calibration.records.CalibrationRow` from the window's facts,
the realized σ, the GARCH fit, the γ and Kyle λ regressions and the fills' ε and η fit. ``reason`` lists, in
the order σ, σ GARCH, γ, ε (and η, added by :func:`calibration.window.finish_calibrations`), every estimate
that fell back or is missing, and why; ``status`` is ``ok`` only where the list is empty,
``insufficient_data`` where there is no σ, ``partial`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from calibration.impact import TemporaryFit, schedule_gamma, temporary_impact
from calibration.permanent import GAMMA_ADV_SIGMA_BAND, GAMMA_HORIZON_MINUTES, gamma_plausibility
from calibration.records import DEFAULT_THRESHOLDS, CalibrationRow, EstimatorThresholds
from calibration.regimes import RegimeFit
from calibration.volatility import TRADING_DAYS_PER_YEAR, GarchFit

Columns = Mapping[str, Any]
"""Some columns of one symbol, by name (a row of an estimator's frame)."""

NAN = float("nan")


def symbol_row(
    symbol: str,
    facts: Columns,
    realized: Columns | None,
    garch: GarchFit,
    gamma: Columns,
    mine: pl.DataFrame | None,
    thresholds: EstimatorThresholds = DEFAULT_THRESHOLDS,
    regime: RegimeFit | None = None,
) -> CalibrationRow:
    """One symbol's row of ``calibrations`` (η still missing where own fills gave none).

    Parameters
    ----------
    symbol
        The symbol.
    facts
        :func:`calibration.window.daily_facts`'s columns of the symbol (ADV, close, half spread, counts,
        σ overnight); empty when it has none.
    realized
        :func:`calibration.volatility.realized_sigma`'s row of the symbol, None without quotes.
    garch
        The GARCH(1,1) fit of its daily closes (:func:`calibration.volatility.garch_sigma`).
    gamma
        Its columns of :func:`calibration.permanent.permanent_impact_by_symbol` and
        :func:`calibration.impact.kyle_lambda_by_symbol` (empty without signed trades).
    mine
        Its own child fills with their rates (:func:`calibration.impact.child_rates`), None without.
    thresholds
        Those the estimators applied: ε and η are fitted with them, and the reasons quote them.
    regime
        The two-regime fit of its daily closes (:func:`calibration.regimes.regime_sigma`), None where it
        was not fitted (its columns NULL). It stands apart from ``status`` and ``reason``: an optional
        model whose own ``regime_status`` says why it has no σ.

    Returns
    -------
    CalibrationRow
        ``status`` and ``reason`` as in the module docstring.
    """
    reasons: list[str] = []
    adv = float(facts.get("adv_shares") or NAN)
    sigma_reason = _sigma_reason(realized, thresholds)
    reasons += [sigma_reason] if sigma_reason else []
    sigma_usd = realized["sigma_usd"] if realized is not None else None
    mid_close_usd = realized["mid_close_usd"] if realized is not None else facts.get("close")
    garch_usd, garch_se_usd, garch_pct_ann, garch_status = _garch_sigma(garch, realized, mid_close_usd)
    if garch.status != "ok":
        reasons.append(_garch_reason(garch))
    gamma_status = gamma.get("gamma_status", "insufficient_data")
    gamma_nobs = gamma.get("gamma_nobs", 0)
    if gamma_status != "ok":
        reasons.append(_gamma_reason(gamma, gamma_status, gamma_nobs, thresholds))
    sigma = float(sigma_usd or NAN)
    fitted = gamma.get("gamma")
    ratio, band = gamma_plausibility(float(fitted) if isinstance(fitted, int | float) else None, adv, sigma)
    if band in ("below_band", "above_band") and gamma_status == "ok":
        low, high = GAMMA_ADV_SIGMA_BAND
        reasons.append(f"gamma: {band}, γ·ADV/σ = {ratio:.3g} outside [{low}, {high}] (Almgren et al. 2005)")
    t = (
        temporary_impact(mine, sigma, adv, thresholds.min_fills, thresholds.min_orders)
        if mine is not None and mine.height
        else None
    )
    from_fills = t is not None and t.status == "ok"
    epsilon_usd: float | None
    if t is not None and from_fills:
        epsilon_usd, epsilon_se_usd, fee = t.epsilon_usd, t.epsilon_se_usd, t.fee_usd_per_share
    else:
        fee = t.fee_usd_per_share if t is not None else 0.0
        half = facts.get("half_spread_usd")
        epsilon_usd, epsilon_se_usd = (float(half) + fee if half is not None else None), None
        reasons.append(f"epsilon: quoted half spread ({_fills_reason(t, thresholds)})")
    no_sigma = sigma_usd is None
    return CalibrationRow(
        symbol=symbol,
        status="ok" if not reasons else ("insufficient_data" if no_sigma else "partial"),
        reason="; ".join(reasons) or None,
        mid_close_usd=mid_close_usd,
        adv_shares=facts.get("adv_shares"),
        half_spread_usd=facts.get("half_spread_usd"),
        n_quotes=facts.get("n_quotes"),
        n_trades=facts.get("n_trades"),
        sigma_usd=sigma_usd,
        sigma_se_usd=realized["se_usd"] if realized is not None else None,
        sigma_pct_ann=realized["sigma_pct_ann"] if realized is not None else None,
        sigma_tsrv_usd=realized["sigma_tsrv_usd"] if realized is not None else None,
        sigma_nobs=realized["nobs"] if realized is not None else None,
        sigma_days=realized["days"] if realized is not None else None,
        sigma_status=realized["status"] if realized is not None else "insufficient_data",
        sigma_overnight_usd=facts.get("sigma_overnight_usd"),
        sigma_overnight_se_usd=facts.get("sigma_overnight_se_usd"),
        sigma_overnight_nobs=facts.get("sigma_overnight_nobs"),
        sigma_garch_usd=garch_usd,
        sigma_garch_se_usd=garch_se_usd,
        sigma_garch_pct_ann=garch_pct_ann,
        garch_variance_forecast_pct2_per_day=garch.variance_forecast_pct2_per_day,
        garch_omega=garch.omega,
        garch_omega_se=garch.omega_se,
        garch_alpha=garch.alpha,
        garch_alpha_se=garch.alpha_se,
        garch_beta=garch.beta,
        garch_beta_se=garch.beta_se,
        garch_loglik=garch.loglik,
        garch_nobs=garch.nobs,
        garch_converged=garch.converged,
        garch_status=garch_status,
        garch_message=garch.message,
        gamma=gamma.get("gamma"),
        gamma_se=gamma.get("gamma_se"),
        gamma_r2=gamma.get("gamma_r2"),
        gamma_nobs=gamma_nobs,
        gamma_status=gamma_status,
        gamma_horizon_min=gamma.get("gamma_horizon_min"),
        gamma_adv_sigma=ratio,
        gamma_plausibility=band,
        kyle_lambda=gamma.get("kyle_lambda"),
        kyle_lambda_se=gamma.get("kyle_lambda_se"),
        kyle_lambda_r2=gamma.get("kyle_lambda_r2"),
        kyle_lambda_nobs=gamma.get("kyle_lambda_nobs"),
        epsilon_usd=epsilon_usd,
        epsilon_se_usd=epsilon_se_usd,
        epsilon_source="fills" if from_fills else "quoted_half_spread",
        fee_usd_per_share=fee,
        eta=t.eta if t is not None else None,
        eta_se=t.eta_se if t is not None else None,
        eta_r2=t.r2 if t is not None else None,
        eta_nobs=t.nobs if t is not None else None,
        eta_orders=t.orders if t is not None else None,
        eta_unquoted_fills=t.unquoted if t is not None else None,
        eta_status=t.status if t is not None else None,
        eta_source="fills" if from_fills else None,
        beta=t.beta if t is not None else None,
        beta_se=t.beta_se if t is not None else None,
        eta_nl=t.eta_nl if t is not None else None,
        eta_nl_se=t.eta_nl_se if t is not None else None,
        power_r2=t.power_r2 if t is not None else None,
        power_nobs=t.power_nobs if t is not None else None,
        power_status=t.power_status if t is not None else None,
        lee_ready_accuracy=gamma.get("lee_ready_accuracy"),
        lee_ready_nobs=gamma.get("lee_ready_nobs"),
        **_regime_columns(regime),
    )


def _regime_columns(regime: RegimeFit | None) -> dict[str, Any]:
    """The ``regime_*`` columns of a two-regime fit (none without one)."""
    if regime is None:
        return {}
    return {
        "regime_sigma_low_usd": regime.sigma_low_usd,
        "regime_sigma_high_usd": regime.sigma_high_usd,
        "regime_p_stay_low": regime.p_stay_low,
        "regime_p_stay_high": regime.p_stay_high,
        "regime_p_high": regime.p_high,
        "regime_sigma_usd": regime.sigma_usd,
        "regime_loglik": regime.loglik,
        "regime_nobs": regime.nobs,
        "regime_status": regime.status,
        "regime_message": regime.message or None,
    }


def _sigma_reason(realized: Columns | None, thresholds: EstimatorThresholds) -> str | None:
    """Why there is no realized σ (no quotes, or too few moving 5-minute returns), or None."""
    if realized is None:
        return "sigma: no quotes in the window"
    if realized["status"] == "insufficient_data":
        return (
            f"sigma: fewer than {thresholds.min_moving_returns} non-zero 5-minute mid returns "
            f"({realized['nobs']} observed returns)"
        )
    return None


def _garch_sigma(
    garch: GarchFit, realized: Columns | None, mid_close_usd: float | None
) -> tuple[float | None, float | None, float | None, str]:
    """σ GARCH ($/share/√day), its standard error, its annualised percentage of the closing mid, and its
    status: the fit's, or the realized σ's (status ``fallback_realized:<the fit's status>``) where the fit
    is not ``ok`` (NaN without a realized σ either)."""
    if garch.status == "ok":
        mid_close = float(mid_close_usd or NAN)
        pct_ann = 100 * garch.sigma_garch_usd / mid_close * math.sqrt(TRADING_DAYS_PER_YEAR)
        return garch.sigma_garch_usd, garch.sigma_garch_se_usd, pct_ann, garch.status
    if realized is None:
        return NAN, NAN, NAN, f"fallback_realized:{garch.status}"
    status = f"fallback_realized:{garch.status}"
    return realized["sigma_usd"], realized["se_usd"], realized["sigma_pct_ann"], status


def _garch_reason(garch: GarchFit) -> str:
    """Why σ GARCH is the realized σ: the fit's status and what it said."""
    why = garch.message.splitlines()[0][:160] if garch.message else ""
    if garch.status == "nonstationary":
        why = f"alpha + beta = {garch.alpha + garch.beta:.4f} >= 1" + (f"; {why}" if why else "")
    return f"sigma_garch: realized sigma (GARCH {garch.status}" + (f": {why})" if why else ")")


def _gamma_reason(
    gamma: Columns, status: str | None, nobs: int | None, thresholds: EstimatorThresholds
) -> str:
    """Why γ is not ``ok``: too few buckets, a degenerate regression, a wrong sign or no significance."""
    n = nobs or 0
    if status == "insufficient_data" and not n and not gamma.get("kyle_lambda_nobs"):
        return "gamma: no signed trades in the window"
    if status == "insufficient_data":
        return (
            f"gamma: {n} observed 5-minute buckets with a quote or a trade and {GAMMA_HORIZON_MINUTES} minutes "
            f"of quoted history before them, fewer than {thresholds.min_buckets}"
        )
    if status == "degenerate":
        return f"gamma: degenerate over {n} buckets (the mid change or the signed volume never varies)"
    g, se = gamma.get("gamma"), gamma.get("gamma_se")
    note = schedule_gamma(
        float(g) if isinstance(g, int | float) else None,
        float(se) if isinstance(se, int | float) else None,
        str(status),
        thresholds.gamma_t_min,
    ).note
    return f"gamma: {status}, {note}"


def _fills_reason(temp: TemporaryFit | None, thresholds: EstimatorThresholds) -> str:
    """Why own fills gave no ε and η: none, too few, or a fit of the wrong sign."""
    if temp is None:
        return "no own fills"
    if temp.status == "insufficient_data":
        fills = f"{temp.nobs} own fill{'' if temp.nobs == 1 else 's'}"
        orders = f"{temp.orders} order{'' if temp.orders == 1 else 's'}"
        left_out = (
            f" ({temp.unquoted} more without a quote of their session before them, left out)"
            if temp.unquoted
            else ""
        )
        need_fills, need_orders = thresholds.min_fills, thresholds.min_orders
        if temp.nobs >= need_fills and temp.orders >= need_orders:
            return f"{fills} from {orders}{left_out}, all at one trading rate"
        return f"{fills} from {orders}{left_out}; {need_fills} from {need_orders} orders needed"
    return f"own fills gave eta = {temp.eta:.2e}, epsilon = {temp.epsilon_usd:.4g} ({temp.status})"
