"""All estimates for every symbol of a window: one row of ``calibrations`` per symbol and as-of date.

:func:`calibrate_window` is the one entry point: it takes the market data of the window (already read by
the data layer) and returns a polars frame whose columns are those of the ``calibrations`` table. One
symbol's failure is recorded in its row (``status`` = ``failed`` with the reason) and never stops the rest.

It is two steps, so that batches of symbols can be fitted apart (on other workers) and joined after:
:func:`calibrate_symbols` fits each symbol on its own data alone; :func:`finish_calibrations` then does the
one cross-sectional step (η for symbols without a fill-based fit, from the fitted symbols' median scale).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from calibration.bars import bucket_mids, impact_buckets
from calibration.impact import (
    MIN_BUCKETS,
    MIN_FILLS,
    MIN_ORDERS,
    TemporaryFit,
    child_rates,
    eta_fallback,
    kyle_lambda_by_symbol,
    schedule_gamma,
    temporary_impact,
)
from calibration.ordering import time_ordered_runs
from calibration.overnight import overnight_sigma
from calibration.permanent import (
    GAMMA_ADV_SIGMA_BAND,
    GAMMA_HORIZON_MINUTES,
    gamma_plausibility,
    lagged_flow,
    permanent_impact_by_symbol,
)
from calibration.signs import lee_ready_signs
from calibration.volatility import (
    MIN_MOVING_RETURNS,
    TRADING_DAYS_PER_YEAR,
    GarchFit,
    garch_sigma,
    realized_sigma,
)
from kappa.clock import Clock
from kappa.tables import CALIBRATIONS

MapFn = Callable[[Callable[[np.ndarray], GarchFit], Iterable[np.ndarray]], Iterator[GarchFit]]


@dataclass(slots=True)
class StageClock:
    """Wall seconds per stage of a calibration, summed over calls (batches); the performance harness reads it.

    Stages of :func:`calibrate_symbols`: ``garch`` (starting the fits, and waiting for those not done when
    the rows are built), ``facts``, ``bars``, ``realized``, ``signs``, ``gamma``, ``eta`` (the fills' as-of
    join, then each symbol's ε, η and power-law fits and its row); :func:`flows.calibrate.calibrate_batch`
    adds ``read``.
    """

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0


@dataclass(frozen=True, slots=True)
class MarketWindow:
    """The inputs of one calibration: the lookback window's sessions and data, and the daily history.

    ``quotes``: symbol, date, ts, bid, ask; ``trades``: symbol, date, ts, price, size; ``fills``: order_id,
    symbol, side, ts, price, quantity, arrival_ts (own fills joined to their orders); ``daily``: symbol,
    date, close, volume (the GARCH window, ending on the as-of date); ``sessions``: date, open_ts, close_ts
    of the lookback window; ``clock``: the calendar's trading time (``data.calendar.TradingClock``).
    """

    as_of: dt.date
    lookback_days: int
    sessions: pl.DataFrame
    quotes: pl.DataFrame
    trades: pl.DataFrame
    fills: pl.DataFrame
    daily: pl.DataFrame
    clock: Clock


def calibrate_window(window: MarketWindow, map_fn: MapFn = map) -> pl.DataFrame:
    """Calibrate every symbol with data in ``window``; see the module docstring.

    ``map_fn`` runs the GARCH fits (pass a process pool's ``map`` to fit them in parallel).
    """
    return finish_calibrations(calibrate_symbols(window, map_fn), window.as_of, window.lookback_days)


def calibrate_symbols(
    window: MarketWindow, map_fn: MapFn = map, clock: StageClock | None = None
) -> pl.DataFrame:
    """Per-symbol estimates of every symbol with data in ``window``, each from its own data only.

    Rows in ``CALIBRATION_SCHEMA``; η of symbols without a fill-based fit is still missing (see
    :func:`finish_calibrations`). The result for a symbol does not depend on which other symbols share the
    window, so a universe may be split into batches. ``clock`` (optional) collects each stage's seconds.
    """
    stage = (clock or StageClock()).stage
    symbols = sorted(set(window.quotes["symbol"].unique()) | set(window.daily["symbol"].unique()))
    with stage("garch"):
        closes = {
            s: g.sort("date")["close"].to_numpy()
            for (s,), g in window.daily.partition_by("symbol", as_dict=True).items()
        }
        # started first: with a process pool's map the fits run while the intraday estimators below do
        garch_fits = map_fn(garch_sigma, [closes.get(s, np.empty(0)) for s in symbols])
    with stage("facts"):
        facts = daily_facts(window)
    with stage("bars"):
        mids = bucket_mids(window.quotes, window.sessions) if window.quotes.height else None
    with stage("realized"):
        realized = _realized_by_symbol(mids, window.quotes)
    with stage("signs"):
        signed = (
            lee_ready_signs(window.trades, window.quotes, window.sessions) if window.trades.height else None
        )
    with stage("gamma"):
        buckets = (
            impact_buckets(mids, signed, window.sessions) if signed is not None and mids is not None else None
        )
        gammas: dict[str, dict[str, object]] = {}
        if buckets is not None and mids is not None and signed is not None:
            permanent = permanent_impact_by_symbol(lagged_flow(mids, signed, window.sessions))
            kyle = kyle_lambda_by_symbol(buckets).drop("kyle_lambda_status")
            for r in [*permanent.to_dicts(), *kyle.to_dicts()]:
                gammas.setdefault(str(r.pop("symbol")), {}).update(r)
    with stage("eta"):
        children: dict[str, pl.DataFrame] = (
            {
                str(k[0]): g
                for k, g in child_rates(window.fills, window.quotes, window.sessions, window.clock)
                .partition_by("symbol", as_dict=True)
                .items()
            }
            if window.fills.height and window.quotes.height
            else {}
        )
    with stage("garch"):
        garch = dict(zip(symbols, garch_fits, strict=True))
    rows = []
    with stage("eta"):
        for s in symbols:
            try:
                rows.append(
                    _symbol_row(s, facts.get(s, {}), realized.get(s), garch[s], gammas, children.get(s))
                )
            except Exception as exc:  # one symbol's failure is data, not a crash
                rows.append(failed_row(s, exc))
    return pl.DataFrame(rows, schema=CALIBRATION_SCHEMA)


def failed_row(symbol: str, exc: BaseException) -> dict[str, object]:
    """The row of a symbol whose calibration raised: ``status`` = ``failed``, the error as the reason."""
    return {"symbol": symbol, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:500]}


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


def _realized_by_symbol(mids: pl.DataFrame | None, quotes: pl.DataFrame) -> dict[str, dict[str, object]]:
    if mids is None:
        return {}
    frame = realized_sigma(mids, quotes)
    return {r["symbol"]: r for r in frame.to_dicts()}


def daily_facts(window: MarketWindow) -> dict[str, dict[str, object]]:
    """Per symbol over the lookback window: ADV (shares/day), mean quoted half spread, quote/trade counts,
    and the overnight σ (:func:`calibration.overnight.overnight_sigma`)."""
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
    night = overnight_sigma(window.quotes, window.sessions)
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


def _symbol_row(
    symbol: str,
    facts: dict[str, object],
    realized: dict[str, object] | None,
    garch: GarchFit,
    gamma: dict[str, dict[str, object]],
    mine: pl.DataFrame | None,
) -> dict[str, object]:
    """One symbol's row. ``reason`` lists, in the order σ, σ GARCH, γ, ε (and η, added by
    :func:`finish_calibrations`), every estimate that fell back or is missing, and why; ``status`` is ``ok``
    only where the list is empty, ``insufficient_data`` where there is no σ, ``partial`` otherwise."""
    nan = float("nan")
    row: dict[str, object] = {"symbol": symbol, **facts}
    adv = float(facts.get("adv_shares") or nan)  # type: ignore[arg-type]
    reasons: list[str] = []
    if realized is not None:
        row.update(
            sigma_usd=realized["sigma_usd"], sigma_se_usd=realized["se_usd"],
            sigma_tsrv_usd=realized["sigma_tsrv_usd"], sigma_pct_ann=realized["sigma_pct_ann"],
            mid_close_usd=realized["mid_close_usd"], sigma_nobs=realized["nobs"], sigma_days=realized["days"],
            sigma_status=realized["status"],
        )  # fmt: skip
        if realized["status"] == "insufficient_data":
            reasons.append(
                f"sigma: fewer than {MIN_MOVING_RETURNS} non-zero 5-minute mid returns "
                f"({realized['nobs']} observed returns)"
            )
    else:
        row.update(sigma_status="insufficient_data", mid_close_usd=facts.get("close"))
        reasons.append("sigma: no quotes in the window")
    g = asdict(garch)
    row.update({f"garch_{k}" if not k.startswith("sigma") else k: v for k, v in g.items()})
    mid_close = float(row.get("mid_close_usd") or nan)  # type: ignore[arg-type]
    row["sigma_garch_pct_ann"] = 100 * garch.sigma_garch_usd / mid_close * math.sqrt(TRADING_DAYS_PER_YEAR)
    if garch.status != "ok":
        row["sigma_garch_usd"] = row.get("sigma_usd", nan)
        row["sigma_garch_se_usd"] = row.get("sigma_se_usd", nan)
        row["sigma_garch_pct_ann"] = row.get("sigma_pct_ann", nan)
        row["garch_status"] = f"fallback_realized:{garch.status}"
        reasons.append(_garch_reason(garch))
    row.update({"gamma_status": "insufficient_data", "gamma_nobs": 0, **gamma.get(symbol, {})})
    if row.get("gamma_status") != "ok":
        reasons.append(_gamma_reason(row))
    sigma = float(row.get("sigma_usd") or nan)  # type: ignore[arg-type]
    fitted = row.get("gamma")
    ratio, band = gamma_plausibility(float(fitted) if isinstance(fitted, int | float) else None, adv, sigma)
    row.update(gamma_adv_sigma=ratio, gamma_plausibility=band)
    if band in ("below_band", "above_band") and row.get("gamma_status") == "ok":
        low, high = GAMMA_ADV_SIGMA_BAND
        reasons.append(f"gamma: {band}, γ·ADV/σ = {ratio:.3g} outside [{low}, {high}] (Almgren et al. 2005)")
    temp = temporary_impact(mine, sigma, adv) if mine is not None and mine.height else None
    if temp is not None and temp.status == "ok":
        row.update(_temporary_columns(temp), eta_source="fills")
    else:
        row.update(_temporary_columns(temp) if temp is not None else {}, eta_source=None)
        fee = temp.fee_usd_per_share if temp is not None else 0.0
        half = facts.get("half_spread_usd")
        row["epsilon_usd"] = float(half) + fee if half is not None else None  # type: ignore[arg-type]
        row["fee_usd_per_share"] = fee
        row["epsilon_se_usd"] = None
        row["epsilon_source"] = "quoted_half_spread"
        reasons.append(f"epsilon: quoted half spread ({_fills_reason(temp)})")
    if row.get("eta_source") == "fills":
        row["epsilon_source"] = "fills"
    no_sigma = row.get("sigma_usd") is None
    row["status"] = "ok" if not reasons else ("insufficient_data" if no_sigma else "partial")
    row["reason"] = "; ".join(reasons) or None
    return row


def _garch_reason(garch: GarchFit) -> str:
    """Why σ GARCH is the realized σ: the fit's status and what it said."""
    why = garch.message.splitlines()[0][:160] if garch.message else ""
    if garch.status == "nonstationary":
        why = f"alpha + beta = {garch.alpha + garch.beta:.4f} >= 1" + (f"; {why}" if why else "")
    return f"sigma_garch: realized sigma (GARCH {garch.status}" + (f": {why})" if why else ")")


def _gamma_reason(row: dict[str, object]) -> str:
    """Why γ is not ``ok``: too few buckets, a degenerate regression, a wrong sign or no significance."""
    status, n = row.get("gamma_status"), row.get("gamma_nobs") or 0
    if status == "insufficient_data" and not n and not row.get("kyle_lambda_nobs"):
        return "gamma: no signed trades in the window"
    if status == "insufficient_data":
        return (
            f"gamma: {n} observed 5-minute buckets with a quote or a trade and {GAMMA_HORIZON_MINUTES} minutes "
            f"of quoted history before them, fewer than {MIN_BUCKETS}"
        )
    if status == "degenerate":
        return f"gamma: degenerate over {n} buckets (the mid change or the signed volume never varies)"
    g, se = row.get("gamma"), row.get("gamma_se")
    note = schedule_gamma(
        float(g) if isinstance(g, int | float) else None,
        float(se) if isinstance(se, int | float) else None,
        str(status),
    ).note
    return f"gamma: {status}, {note}"


def _fills_reason(temp: TemporaryFit | None) -> str:
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
        if temp.nobs >= MIN_FILLS and temp.orders >= MIN_ORDERS:
            return f"{fills} from {orders}{left_out}, all at one trading rate"
        return f"{fills} from {orders}{left_out}; {MIN_FILLS} from {MIN_ORDERS} orders needed"
    return f"own fills gave eta = {temp.eta:.2e}, epsilon = {temp.epsilon_usd:.4g} ({temp.status})"


def _temporary_columns(t: TemporaryFit) -> dict[str, object]:
    return {
        "epsilon_usd": t.epsilon_usd, "epsilon_se_usd": t.epsilon_se_usd,
        "fee_usd_per_share": t.fee_usd_per_share, "eta": t.eta, "eta_se": t.eta_se,
        "eta_r2": t.r2, "eta_nobs": t.nobs, "eta_orders": t.orders, "eta_unquoted_fills": t.unquoted,
        "eta_status": t.status, "beta": t.beta,
        "beta_se": t.beta_se, "eta_nl": t.eta_nl, "eta_nl_se": t.eta_nl_se, "power_r2": t.power_r2,
        "power_nobs": t.power_nobs, "power_status": t.power_status,
    }  # fmt: skip


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
