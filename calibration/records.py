"""The records at calibration's boundaries: the estimators' thresholds, a window's market data, a batch's plan,
and one row of output.

- :class:`EstimatorThresholds`: the cut-offs the estimators apply (too few buckets, fills, returns; the
  significance of γ; the GARCH outlier rule). Its defaults are the one home of each value; a night's
  settings carry it into every batch.
- :class:`CalibrationBatch`: what a worker needs to calibrate some symbols before any market data is read
  (the symbols, the window's sessions, the lake files of its quotes and trades, and the database's rows:
  own fills and the daily history). The data layer builds it for the whole universe
  (:func:`data.step_inputs.read_window_inputs`); :meth:`CalibrationBatch.batches` cuts it into batches.
- :class:`MarketWindow`: the same window with its quotes and trades read (:func:`data.step_inputs.read_market`),
  which is what :func:`calibration.window.calibrate_window` takes.
- :class:`CalibrationRow`: one symbol's row of the ``calibrations`` table, built by named fields from the
  fits (:func:`calibration.rows.symbol_row`); its fields are the columns of
  :data:`calibration.window.CALIBRATION_SCHEMA`, in order.

Nothing here reads a file: a batch holds the lake files' paths as strings for a worker to read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import polars as pl

from kappa.clock import Clock
from kappa.errors import ParameterError


@dataclass(frozen=True, slots=True)
class EstimatorThresholds:
    """The thresholds of the night's estimators, a desk's to tune; the defaults are Kappa's.

    Attributes
    ----------
    min_buckets
        Fewer 5-minute buckets than this and γ and Kyle's λ are ``insufficient_data``
        (:mod:`calibration.permanent`, :func:`calibration.impact.kyle_lambda`).
    gamma_t_min
        t = γ / se below which a positive γ (or λ) is ``not_significant``; 1.96 is a two-sided test at the
        5 % level (:func:`calibration.impact.gamma_status`).
    min_fills, min_orders
        Fewer own fills, or fills from fewer orders, than these and ε and η are not fitted from fills
        (``insufficient_data``; :func:`calibration.impact.temporary_impact`); ``min_fills`` is also the
        power law's minimum.
    min_nights
        Fewer close-to-next-open pairs than this and σ overnight is not estimated
        (:func:`calibration.overnight.overnight_sigma`).
    min_moving_returns
        Fewer non-zero observed 5-minute mid returns in the window than this and realized σ is
        ``insufficient_data`` (:func:`calibration.volatility.realized_sigma`).
    garch_min_returns
        Fewer daily returns than this and GARCH(1,1) is not fitted: its three parameters are too loose
        (:func:`calibration.volatility.garch_sigma`).
    garch_outlier_mads
        A daily return farther than this many robust standard deviations (1.4826 · MAD) from the median is
        checked for its influence on the GARCH forecast.
    garch_influence_factor
        A GARCH fit whose one-day σ changes by more than this factor (either way) without that one return
        is driven by it (``single_return``).

    Raises
    ------
    kappa.errors.ParameterError
        A count below 1, ``gamma_t_min`` below 0, ``garch_outlier_mads`` not above 0 or
        ``garch_influence_factor`` below 1.
    """

    min_buckets: int = 30
    gamma_t_min: float = 1.96
    min_fills: int = 20
    min_orders: int = 3
    min_nights: int = 2
    min_moving_returns: int = 20
    garch_min_returns: int = 100
    garch_outlier_mads: float = 10.0
    garch_influence_factor: float = 2.0

    def __post_init__(self) -> None:
        counts = (
            "min_buckets",
            "min_fills",
            "min_orders",
            "min_nights",
            "min_moving_returns",
            "garch_min_returns",
        )
        for name in counts:
            _require(name, getattr(self, name), getattr(self, name) >= 1, "at least 1")
        _require("gamma_t_min", self.gamma_t_min, self.gamma_t_min >= 0, "at least 0")
        _require("garch_outlier_mads", self.garch_outlier_mads, self.garch_outlier_mads > 0, "above 0")
        factor = self.garch_influence_factor
        _require("garch_influence_factor", factor, factor >= 1, "at least 1")


def _require(name: str, value: object, ok: bool, what: str) -> None:
    if not ok:
        raise ParameterError(f"{name} must be {what}, not {value!r}", name=name, value=value)


DEFAULT_THRESHOLDS = EstimatorThresholds()
"""Kappa's thresholds (every field at its default)."""


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


@dataclass(frozen=True, slots=True)
class CalibrationBatch:
    """A calibration window before its market data is read: everything a worker needs to calibrate
    ``symbols``.

    ``sessions``: the lookback window's sessions that have quotes loaded; ``quote_paths`` /
    ``trade_paths``: the lake files of those sessions (all symbols; a worker reads only its own);
    ``fills`` and ``daily``: the database's rows of ``symbols`` only (columns as in :class:`MarketWindow`);
    ``calendar``: the exchange calendar whose trading time the window runs on; ``thresholds``: those the
    estimators apply.
    """

    as_of: dt.date
    lookback_days: int
    symbols: tuple[str, ...]
    sessions: pl.DataFrame
    quote_paths: tuple[str, ...]
    trade_paths: tuple[str, ...]
    fills: pl.DataFrame
    daily: pl.DataFrame
    calendar: str
    thresholds: EstimatorThresholds = DEFAULT_THRESHOLDS

    def of(self, symbols: tuple[str, ...]) -> CalibrationBatch:
        """The batch of ``symbols`` only (the fills and daily rows filtered, in the order they were read)."""
        return replace(
            self,
            symbols=symbols,
            fills=self.fills.filter(pl.col("symbol").is_in(symbols)),
            daily=self.daily.filter(pl.col("symbol").is_in(symbols)),
        )

    def batches(self, size: int) -> list[CalibrationBatch]:
        """The symbols in consecutive batches of at most ``size`` (the last may be smaller).

        Raises
        ------
        kappa.errors.ParameterError
            ``size`` below 1.
        """
        if size < 1:
            raise ParameterError(f"batch size must be at least 1, not {size}", name="batch_size", value=size)
        return [self.of(tuple(self.symbols[i : i + size])) for i in range(0, len(self.symbols), size)]

    def split(self) -> list[CalibrationBatch]:
        """One batch per symbol (to isolate the symbol that made a batch fail)."""
        return self.batches(1)


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    """One symbol's row of ``calibrations`` before the cross-sectional η (see ``calibration.window``).

    Fields are the table's columns in order (units in their names and in the README's column table): the
    window's facts, realized σ, σ overnight, σ GARCH (the realized σ where the fit fell back), γ and its
    plausibility, Kyle's λ, ε and η from own fills (or ε from the quoted half spread), and the power law.
    A field left None is NULL. ``status``: ``ok``, ``partial``, ``insufficient_data`` or ``failed``;
    ``reason``: every estimate that fell back or is missing, and why.
    """

    symbol: str
    status: str
    reason: str | None = None
    mid_close_usd: float | None = None
    adv_shares: float | None = None
    half_spread_usd: float | None = None
    n_quotes: int | None = None
    n_trades: int | None = None
    sigma_usd: float | None = None
    sigma_se_usd: float | None = None
    sigma_pct_ann: float | None = None
    sigma_tsrv_usd: float | None = None
    sigma_nobs: int | None = None
    sigma_days: int | None = None
    sigma_status: str | None = None
    sigma_overnight_usd: float | None = None
    sigma_overnight_se_usd: float | None = None
    sigma_overnight_nobs: int | None = None
    sigma_garch_usd: float | None = None
    sigma_garch_se_usd: float | None = None
    sigma_garch_pct_ann: float | None = None
    garch_variance_forecast_pct2_per_day: float | None = None
    garch_omega: float | None = None
    garch_omega_se: float | None = None
    garch_alpha: float | None = None
    garch_alpha_se: float | None = None
    garch_beta: float | None = None
    garch_beta_se: float | None = None
    garch_loglik: float | None = None
    garch_nobs: int | None = None
    garch_converged: bool | None = None
    garch_status: str | None = None
    garch_message: str | None = None
    gamma: float | None = None
    gamma_se: float | None = None
    gamma_r2: float | None = None
    gamma_nobs: int | None = None
    gamma_status: str | None = None
    gamma_horizon_min: float | None = None
    gamma_adv_sigma: float | None = None
    gamma_plausibility: str | None = None
    kyle_lambda: float | None = None
    kyle_lambda_se: float | None = None
    kyle_lambda_r2: float | None = None
    kyle_lambda_nobs: int | None = None
    epsilon_usd: float | None = None
    epsilon_se_usd: float | None = None
    epsilon_source: str | None = None
    fee_usd_per_share: float | None = None
    eta: float | None = None
    eta_se: float | None = None
    eta_r2: float | None = None
    eta_nobs: int | None = None
    eta_orders: int | None = None
    eta_unquoted_fills: int | None = None
    eta_status: str | None = None
    eta_source: str | None = None
    beta: float | None = None
    beta_se: float | None = None
    eta_nl: float | None = None
    eta_nl_se: float | None = None
    power_r2: float | None = None
    power_nobs: int | None = None
    power_status: str | None = None
    lee_ready_accuracy: float | None = None
    lee_ready_nobs: int | None = None
    regime_sigma_low_usd: float | None = None
    regime_sigma_high_usd: float | None = None
    regime_p_stay_low: float | None = None
    regime_p_stay_high: float | None = None
    regime_p_high: float | None = None
    regime_sigma_usd: float | None = None
    regime_loglik: float | None = None
    regime_nobs: int | None = None
    regime_status: str | None = None
    regime_message: str | None = None

    @classmethod
    def failed(cls, symbol: str, exc: BaseException) -> CalibrationRow:
        """The row of a symbol whose calibration raised: ``status`` = ``failed``, the error as the reason."""
        return cls(symbol, "failed", f"{type(exc).__name__}: {exc}"[:500])
