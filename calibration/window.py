"""All estimates for every symbol of a window: one row of ``calibrations`` per symbol and as-of date.

:func:`calibrate_window` is the one entry point: it takes the market data of the window (already read by
the data layer) and returns a polars frame whose columns are those of the ``calibrations`` table. One
symbol's failure is recorded in its row (``status`` = ``failed`` with the reason) and never stops the rest.

It is two steps, so that batches of symbols can be fitted apart (on other workers) and joined after:
:func:`calibrate_symbols` fits each symbol on its own data alone; :func:`finish_calibrations` then does the
one cross-sectional step (η for symbols without a fill-based fit, from the fitted symbols' median scale).
Each symbol's row is a :class:`calibration.records.CalibrationRow` built by :func:`calibration.rows.symbol_row`
and turned into the frame in one place (:func:`calibration_frame`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import astuple
from functools import partial

import numpy as np
import polars as pl

from calibration.bars import bucket_mids, impact_buckets, signed_volume_by_bucket
from calibration.correlation import RETURNS_COLUMN, RETURNS_DTYPE, nested_returns
from calibration.impact import child_rates, eta_fallback, kyle_lambda_by_symbol
from calibration.ordering import time_ordered_runs
from calibration.overnight import overnight_sigma
from calibration.permanent import lagged_flow, permanent_impact_by_symbol
from calibration.records import DEFAULT_THRESHOLDS, CalibrationRow, EstimatorThresholds, MarketWindow
from calibration.regimes import regime_fits
from calibration.rows import symbol_row
from calibration.signs import lee_ready_signs, prevailing_quotes, sign_accuracy
from calibration.volatility import GarchFit, garch_sigma, realized_sigma
from kappa.tables import CALIBRATIONS

MapFn = Callable[[Callable[[np.ndarray], GarchFit], Iterable[np.ndarray]], Iterator[GarchFit]]
"""A ``map`` of the GARCH fits over the symbols' closes (the builtin, or a process pool's)."""


def garch_fit(
    closes: np.ndarray, *, min_returns: int, outlier_mads: float, influence_factor: float
) -> GarchFit:
    """GARCH(1,1) (:func:`calibration.volatility.garch_sigma`, with these thresholds) of one symbol's daily
    closes, oldest first: the Python-level optimisation of a calibration, run by its ``map``."""
    return garch_sigma(
        closes, min_returns=min_returns, outlier_mads=outlier_mads, influence_factor=influence_factor
    )


Stage = Callable[[str], AbstractContextManager[None]]
"""A context-manager factory around each stage of :func:`calibrate_symbols`, given the stage's name
(``garch``, ``facts``, ``bars``, ``realized``, ``signs``, ``gamma``, ``eta``): a benchmark passes a
stopwatch's; by default nothing happens."""


def untimed(name: str) -> AbstractContextManager[None]:
    """The default :data:`Stage`: nothing around any stage."""
    return nullcontext()


def calibrate_window(
    window: MarketWindow, map_fn: MapFn = map, thresholds: EstimatorThresholds = DEFAULT_THRESHOLDS
) -> pl.DataFrame:
    """Calibrate every symbol with data in ``window``; see the module docstring.

    ``map_fn`` runs the GARCH fits (:func:`garch_fit`; pass a process pool's ``map`` to fit them in
    parallel); ``thresholds``
    are those the estimators apply.
    """
    rows = calibrate_symbols(window, map_fn, thresholds=thresholds)
    return finish_calibrations(rows, window.as_of, window.lookback_days)


def calibrate_symbols(
    window: MarketWindow,
    map_fn: MapFn = map,
    stage: Stage = untimed,
    thresholds: EstimatorThresholds = DEFAULT_THRESHOLDS,
    returns: bool = False,
) -> pl.DataFrame:
    """Per-symbol estimates of every symbol with data in ``window``, each from its own data only.

    Rows in ``CALIBRATION_SCHEMA``; η of symbols without a fill-based fit is still missing (see
    :func:`finish_calibrations`). The result for a symbol does not depend on which other symbols share the
    window, so a universe may be split into batches. ``stage`` wraps each stage (see :data:`Stage`; a
    benchmark passes a stopwatch's). Every estimator applies ``thresholds``, and the rows' reasons quote
    them. With ``returns``, one more column, :data:`calibration.correlation.RETURNS_COLUMN`, carries each
    symbol's observed 5-minute log returns (null without quotes) to the correlations, which need every
    batch's (:func:`calibration.correlation.pairwise_correlations`).
    """
    th = thresholds
    symbols = sorted(set(window.quotes["symbol"].unique()) | set(window.daily["symbol"].unique()))
    with stage("garch"):
        closes = {
            s: g.sort("date")["close"].to_numpy()
            for (s,), g in window.daily.partition_by("symbol", as_dict=True).items()
        }
        # started first: with a process pool's map the fits run while the regimes and intraday estimators do
        fit = partial(
            garch_fit,
            min_returns=th.garch_min_returns,
            outlier_mads=th.garch_outlier_mads,
            influence_factor=th.garch_influence_factor,
        )
        symbol_closes = [closes.get(s, np.empty(0)) for s in symbols]
        daily = map_fn(fit, symbol_closes)
        regimes = dict(zip(symbols, regime_fits(symbol_closes), strict=True))  # every symbol at once
    with stage("facts"):
        facts = daily_facts(window, th.min_nights)
    with stage("bars"):
        mids = bucket_mids(window.quotes, window.sessions) if window.quotes.height else None
    with stage("realized"):
        realized = _realized_by_symbol(mids, window.quotes, th.min_moving_returns)
    with stage("signs"):
        quotes = prevailing_quotes(window.quotes)  # prepared once: the trades' signs, then the fills' costs
        signed = lee_ready_signs(window.trades, quotes, window.sessions) if window.trades.height else None
    with stage("gamma"):
        gammas = _impact_by_symbol(mids, signed, window.sessions, th)
        if signed is not None:
            for r in sign_accuracy(signed).to_dicts():
                gammas.setdefault(str(r.pop("symbol")), {}).update(r)
    with stage("eta"):
        children = _child_rates_by_symbol(window, quotes)
    with stage("garch"):
        fits = dict(zip(symbols, daily, strict=True))
    rows = []
    with stage("eta"):
        for s in symbols:
            try:
                rows.append(
                    symbol_row(
                        s,
                        facts.get(s, {}),
                        realized.get(s),
                        fits[s],
                        gammas.get(s, {}),
                        children.get(s),
                        th,
                        regime=regimes[s],
                    )
                )
            except Exception as exc:  # one symbol's failure is data, not a crash
                rows.append(CalibrationRow.failed(s, exc))
    frame = calibration_frame(rows)
    if not returns:
        return frame
    with stage("bars"):
        if mids is None:
            return frame.with_columns(pl.lit(None, dtype=RETURNS_DTYPE).alias(RETURNS_COLUMN))
        return frame.join(nested_returns(mids), on="symbol", how="left")


def calibration_frame(rows: Sequence[CalibrationRow]) -> pl.DataFrame:
    """``rows`` as a frame in ``CALIBRATION_SCHEMA`` (a row's fields are the schema's columns)."""
    return pl.DataFrame([astuple(r) for r in rows], schema=CALIBRATION_SCHEMA, orient="row")


def _impact_by_symbol(
    mids: pl.DataFrame | None, signed: pl.DataFrame | None, sessions: pl.DataFrame, th: EstimatorThresholds
) -> dict[str, dict[str, object]]:
    """Per symbol, the permanent γ regression's and Kyle's λ's columns (none without signed trades)."""
    if mids is None or signed is None:
        return {}
    volume = signed_volume_by_bucket(signed, sessions)  # once, for both regressions
    buckets = impact_buckets(mids, signed, sessions, volume)
    permanent = permanent_impact_by_symbol(
        lagged_flow(mids, signed, sessions, volume=volume), th.min_buckets, th.gamma_t_min
    )
    kyle = kyle_lambda_by_symbol(buckets, th.min_buckets, th.gamma_t_min).drop("kyle_lambda_status")
    gammas: dict[str, dict[str, object]] = {}
    for r in [*permanent.to_dicts(), *kyle.to_dicts()]:
        gammas.setdefault(str(r.pop("symbol")), {}).update(r)
    return gammas


def _child_rates_by_symbol(window: MarketWindow, quotes: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Per symbol, its own child fills with their trading rates (none without fills or quotes), against
    the window's ``quotes`` (:func:`calibration.signs.prevailing_quotes` of them)."""
    if not (window.fills.height and quotes.height):
        return {}
    rates = child_rates(window.fills, quotes, window.sessions, window.clock)
    return {str(k[0]): g for k, g in rates.partition_by("symbol", as_dict=True).items()}


def finish_calibrations(frame: pl.DataFrame, as_of: dt.date, lookback_days: int) -> pl.DataFrame:
    """Join per-symbol rows (:func:`calibrate_symbols`, one or many batches concatenated) into the
    ``calibrations`` rows: the cross-sectional η fallback, NaN as NULL, the as-of date and lookback."""
    frame = _fill_eta_fallbacks(frame.select(list(CALIBRATION_SCHEMA)).sort("symbol"))
    floats = [c for c, t in CALIBRATION_SCHEMA.items() if t == pl.Float64]
    return frame.with_columns(
        pl.col(floats).fill_nan(None),  # NaN is "not estimated": NULL in SQL
        pl.lit(as_of).alias("as_of"),
        pl.lit(lookback_days).alias("lookback_days"),
    )


def _realized_by_symbol(
    mids: pl.DataFrame | None, quotes: pl.DataFrame, min_moving_returns: int
) -> dict[str, dict[str, object]]:
    if mids is None:
        return {}
    frame = realized_sigma(mids, quotes, min_moving_returns=min_moving_returns)
    return {r["symbol"]: r for r in frame.to_dicts()}


def daily_facts(
    window: MarketWindow, min_nights: int = DEFAULT_THRESHOLDS.min_nights
) -> dict[str, dict[str, object]]:
    """Per symbol over the lookback window: ADV (shares/day), mean quoted half spread, quote/trade counts,
    and the overnight σ (:func:`calibration.overnight.overnight_sigma`, null below ``min_nights``)."""
    dates = window.sessions["date"]
    adv = (
        window.daily.filter(pl.col("date").is_in(dates.implode()))
        .group_by("symbol")
        .agg(
            pl.col("volume").mean().alias("adv_shares"), pl.col("close").sort_by("date").last().alias("close")
        )
    )
    q = _half_spreads(window.quotes)
    t = window.trades.group_by("symbol").agg(pl.len().alias("n_trades"))
    night = overnight_sigma(window.quotes, window.sessions, min_nights)
    out: dict[str, dict[str, object]] = {}
    for frame in (adv, q, t, night):
        for r in frame.to_dicts():
            out.setdefault(str(r.pop("symbol")), {}).update(r)
    return out


def _half_spreads(quotes: pl.DataFrame) -> pl.DataFrame:
    """Mean quoted half spread (ask − bid)/2 and quote count per symbol, summed in a fixed order.

    Quotes grouped by symbol (one lake file) are summed in their order, run by run; others are sorted
    within each symbol first. Either way the sum does not depend on the thread schedule.
    """
    starts = time_ordered_runs(quotes, ["symbol"])
    if starts is None:
        return quotes.group_by("symbol").agg(
            ((pl.col("ask") - pl.col("bid")) / 2).sort().mean().alias("half_spread_usd"),
            pl.len().alias("n_quotes"),
        )
    half = ((quotes["ask"] - quotes["bid"]) / 2).to_numpy()
    counts = np.diff(np.append(starts, quotes.height))
    sums = np.add.reduceat(half, starts) if starts.size else np.zeros(0)
    return pl.DataFrame(
        {"symbol": quotes["symbol"].gather(starts), "half_spread_usd": sums / counts, "n_quotes": counts}
    )


def _fill_eta_fallbacks(frame: pl.DataFrame) -> pl.DataFrame:
    """η for symbols without a fill-based fit: cross-sectional η·ADV/σ median, else Almgren et al. (2005).

    Each such row's ``reason`` gets the η it took and why, after the reasons of its own estimates.
    """
    fitted = frame.filter(pl.col("eta_source") == "fills")
    median = (
        fitted.select((pl.col("eta") * pl.col("adv_shares") / pl.col("sigma_usd")).median()).item()
        if fitted.height
        else None
    )
    scale = float(median) if median is not None else None
    why = {
        "cross_section": f"median eta·ADV/sigma of the {fitted.height} symbol(s) fitted from fills",
        "almgren_2005": "no symbol fitted from fills: Almgren et al. (2005) at 10% of ADV",
    }
    etas: list[float | None] = []
    sources: list[str | None] = []
    reasons: list[str | None] = []
    for r in frame.iter_rows(named=True):
        reason = r["reason"]
        if r["eta_source"] == "fills":
            etas.append(r["eta"])
            sources.append("fills")
        elif r["sigma_usd"] is not None and r["adv_shares"] and math.isfinite(r["sigma_usd"]):
            eta, source = eta_fallback(r["sigma_usd"], r["adv_shares"], scale)
            etas.append(eta)
            sources.append(source)
            reason = _joined(reason, f"eta: {source} ({why[source]})")
        else:
            etas.append(None)
            sources.append(None)
            if r["status"] != "failed":
                reason = _joined(reason, "eta: none (no fills fit, and no sigma or ADV to scale one)")
        reasons.append(reason)
    fitted_eta = pl.col("eta_source") == "fills"
    fell_back = (pl.col("status") == "ok") & pl.col("reason").is_not_null()
    return frame.with_columns(
        pl.Series("eta", etas, pl.Float64),
        pl.Series("eta_source", sources, pl.String),
        pl.Series("reason", reasons, pl.String),
    ).with_columns(  # the errors and fit statistics describe the fills regression only
        *[pl.when(fitted_eta).then(pl.col(c)).otherwise(None).alias(c) for c in ("eta_se", "eta_r2")],
        pl.when(fell_back).then(pl.lit("partial")).otherwise(pl.col("status")).alias("status"),
    )


def _joined(reason: str | None, more: str) -> str:
    return f"{reason}; {more}" if reason else more


CALIBRATION_SCHEMA = CALIBRATIONS.polars_schema(
    omit=("as_of", "run_id", "lookback_days", "window_start", "window_end")
)
