"""One definition per table: every column of the tables users query, with its type, unit and meaning.

The registry is the contract the rest derives from or is checked against: the polars schemas of the frames
that ``calibration`` and ``tca`` build (:meth:`Table.polars_schema`), the ``CREATE TABLE`` text the
migrations must end at (``data.schema.create_table_sql``), the writer's refusal of a frame that lacks a
column or carries an unknown one (``data.schema.check_insert``), and the README's column tables
(:func:`markdown_table`; a test compares them). The migrations stay literal SQL (a migration's meaning never
changes with live code); a test checks that they end at this registry.

Types are DuckDB's (``VARCHAR``, ``DOUBLE``, ``BIGINT``, ``INTEGER``, ``BOOLEAN``, ``DATE``,
``TIMESTAMP_NS`` in UTC, ``TIMESTAMP``); units follow DESIGN §3: ``USD/share`` a price or a per-share cost,
``USD`` a dollar amount, ``bps`` basis points of quantity × reference price, ``shares``, ``trading days``
(of session time), ``1/USD`` the risk aversion λ. Nothing here opens a file or imports another Kappa
package; polars is imported only to build a schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

TIMESTAMP = "TIMESTAMP"
"""When Kappa wrote a row (UTC, microseconds); market and order times are ``TIMESTAMP_NS``."""


@dataclass(frozen=True, slots=True)
class Col:
    """One column: its ``name``, DuckDB ``sql`` type, ``unit`` ("" for none), ``meaning``, whether the
    database refuses NULL (``not_null``; key columns are NOT NULL too) and its SQL ``default``."""

    name: str
    sql: str
    unit: str
    meaning: str
    not_null: bool = False
    default: str | None = None


@dataclass(frozen=True, slots=True)
class Table:
    """A stored table: its columns in the order the README lists them, and its primary ``key``.

    A ``lake`` table (quotes, trades) is a view over the Parquet lake, not a DuckDB table: its columns are
    those of the view and of the lake files. The view reads the files the manifest ``lake_files`` lists,
    whose paths are relative to the home's ``lake/`` folder (a home moved or copied works as it is).
    """

    name: str
    columns: tuple[Col, ...]
    key: tuple[str, ...] = ()
    lake: bool = False

    @property
    def names(self) -> list[str]:
        """Column names, in order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Col:
        """The column ``name``.

        Raises
        ------
        KeyError
            If the table has no such column.
        """
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    def polars_schema(self, omit: tuple[str, ...] = ()) -> dict[str, pl.DataType]:
        """``{name: polars type}`` of every column but ``omit``, in order (see :func:`polars_type`)."""
        return {c.name: polars_type(c.sql) for c in self.columns if c.name not in omit}


def polars_type(sql: str) -> pl.DataType:
    """The polars type of a DuckDB type of the registry: VARCHAR String, DOUBLE Float64, BIGINT Int64,
    INTEGER Int32, BOOLEAN Boolean, DATE Date, TIMESTAMP_NS Datetime("ns"), TIMESTAMP Datetime("us")."""
    import polars as pl

    types: dict[str, pl.DataType] = {
        "VARCHAR": pl.String(), "DOUBLE": pl.Float64(), "BIGINT": pl.Int64(), "INTEGER": pl.Int32(),
        "BOOLEAN": pl.Boolean(), "DATE": pl.Date(), "TIMESTAMP_NS": pl.Datetime("ns"),
        TIMESTAMP: pl.Datetime("us"),
    }  # fmt: skip
    return types[sql]


def _cols(*rows: tuple[str, str, str, str] | tuple[str, str, str, str, bool]) -> tuple[Col, ...]:
    return tuple(Col(*r) for r in rows)


NN = True
"""Marks a NOT NULL column in the tables below."""

# ---------------------------------------------------------------------------------------------- inputs

_FLAG = Col("flag", "VARCHAR", "", "the tape-cleaning rule the row breaks (NULL for a clean row)")

QUOTES = Table(
    "quotes",
    (
        *_cols(
            ("symbol", "VARCHAR", "", "the instrument"),
            ("ts", "TIMESTAMP_NS", "UTC", "when the quote was published"),
            ("bid", "DOUBLE", "USD/share", "best bid"),
            ("ask", "DOUBLE", "USD/share", "best ask"),
            ("bid_size", "DOUBLE", "shares", "size at the bid"),
            ("ask_size", "DOUBLE", "shares", "size at the ask"),
            ("exchange", "VARCHAR", "", "the quoting exchange, where given"),
            ("date", "DATE", "", "the session date"),
        ),
        _FLAG,
    ),
    lake=True,
)

TRADES = Table(
    "trades",
    (
        *_cols(
            ("symbol", "VARCHAR", "", "the instrument"),
            ("ts", "TIMESTAMP_NS", "UTC", "when the trade printed"),
            ("price", "DOUBLE", "USD/share", "its price"),
            ("size", "DOUBLE", "shares", "its size"),
            ("exchange", "VARCHAR", "", "the exchange, where given"),
            ("conditions", "VARCHAR", "", "sale conditions, where given"),
            ("trade_id", "VARCHAR", "", "the tape's identifier, where given"),
            (
                "aggressor",
                "VARCHAR",
                "",
                "`buy` or `sell`: the side that took liquidity, where the feed says",
            ),
            ("date", "DATE", "", "the session date"),
        ),
        _FLAG,
    ),
    lake=True,
)

ORDERS = Table(
    "orders",
    _cols(  # noqa: RUF005 (the column added by a migration goes last)
        ("order_id", "VARCHAR", "", "the parent order's identifier"),
        ("symbol", "VARCHAR", "", "the instrument", NN),
        ("side", "VARCHAR", "", "`buy` or `sell`", NN),
        ("quantity", "DOUBLE", "shares", "shares to trade (positive for both sides)", NN),
        ("arrival_ts", "TIMESTAMP_NS", "UTC", "when the order reached the desk (the arrival benchmark)", NN),
        ("end_ts", "TIMESTAMP_NS", "UTC", "the end of the order's window", NN),
        ("decision_ts", "TIMESTAMP_NS", "UTC", "when the portfolio manager decided, where given"),
        ("decision_price", "DOUBLE", "USD/share", "the price at the decision, where given"),
        ("limit_price", "DOUBLE", "USD/share", "the order's limit, where given"),
        ("broker", "VARCHAR", "", "the broker the order went to"),
        ("algo", "VARCHAR", "", "the execution algorithm"),
        ("trader", "VARCHAR", "", "the trader"),
        ("risk_aversion", "DOUBLE", "1/USD", "Almgren-Chriss λ of the order, where given"),
        ("date", "DATE", "", "the first session it can be worked in (closing after arrival_ts)", NN),
        ("source_file", "VARCHAR", "", "the file the row was loaded from"),
        ("source_row", "BIGINT", "", "its row number in that file"),
        ("run_id", "VARCHAR", "", "the load that wrote it"),
    )
    + (
        Col(
            "delivered_date",
            "DATE",
            "",
            "the session date its file was delivered for (NULL: none declared); a later delivery for that "
            "date replaces it",
        ),
    ),
    key=("order_id",),
)

FILLS = Table(
    "fills",
    (
        *_cols(
            ("fill_id", "VARCHAR", "", "the child execution's identifier"),
            ("order_id", "VARCHAR", "", "its parent order", NN),
            ("ts", "TIMESTAMP_NS", "UTC", "when it executed", NN),
            ("price", "DOUBLE", "USD/share", "its price", NN),
            ("quantity", "DOUBLE", "shares", "shares executed (positive for both sides)", NN),
            ("venue", "VARCHAR", "", "where it executed"),
            ("fee_usd", "DOUBLE", "USD", "fees paid on it (negative for a rebate)"),
            ("liquidity", "VARCHAR", "", "`add` or `remove`"),
            ("source_file", "VARCHAR", "", "the file the row was loaded from"),
            ("source_row", "BIGINT", "", "its row number in that file"),
            ("run_id", "VARCHAR", "", "the load that wrote it"),
        ),
        Col(
            "exec_type",
            "VARCHAR",
            "",
            "`trade` or `correct` (FIX ExecType G: a later file may not undo it)",
            default="'trade'",
        ),
    ),
    key=("fill_id",),
)

DAILY = Table(
    "daily",
    _cols(
        ("symbol", "VARCHAR", "", "the instrument", NN),
        ("date", "DATE", "", "the session date", NN),
        ("open", "DOUBLE", "USD/share", "first mid (or price) of the session"),
        ("high", "DOUBLE", "USD/share", "highest mid of the session"),
        ("low", "DOUBLE", "USD/share", "lowest mid of the session"),
        ("close", "DOUBLE", "USD/share", "last mid of the session (the closing price of a loaded file)", NN),
        ("volume", "DOUBLE", "shares", "Σ trade sizes of the session"),
        ("source", "VARCHAR", "", "`intraday` (derived from loaded quotes and trades) or `file`", NN),
        ("run_id", "VARCHAR", "", "the load that wrote it"),
    ),
    key=("symbol", "date"),
)

QUARANTINE = Table(
    "quarantine",
    _cols(
        ("run_id", "VARCHAR", "", "the load that rejected the row", NN),
        ("table_name", "VARCHAR", "", "the input table it was meant for", NN),
        ("source_file", "VARCHAR", "", "the file it came from", NN),
        ("row_number", "BIGINT", "", "its row number in that file", NN),
        ("rule", "VARCHAR", "", "the rule it breaks (see Quarantine rules)", NN),
        ("detail", "VARCHAR", "", "what exactly is wrong"),
        ("raw", "VARCHAR", "", "the row as it stands in the file (a line, or a Parquet row as JSON)"),
        ("quarantined_at", TIMESTAMP, "UTC", "when", NN),
    ),
)

RUNS = Table(
    "runs",
    _cols(
        ("run_id", "VARCHAR", "", "the run's identifier"),
        ("command", "VARCHAR", "", "the command or flow that ran", NN),
        ("parameters", "VARCHAR", "", "its parameters as JSON (a nightly's hold its `date`)"),
        ("started_at", TIMESTAMP, "UTC", "when it started", NN),
        ("finished_at", TIMESTAMP, "UTC", "when it finished, or was marked abandoned (NULL while running)"),
        ("status", "VARCHAR", "", "`running`, `success`, `warning` or `failed`", NN),
        ("rows_written", "BIGINT", "", "rows the run stored"),
        ("rows_quarantined", "BIGINT", "", "input rows it quarantined"),
        ("message", "VARCHAR", "", "the warnings or the error, in words"),
        ("host", "VARCHAR", "", "the host name of the process that ran it"),
        ("pid", "BIGINT", "", "that process's id"),
        (
            "process_created",
            "DOUBLE",
            "s since the epoch",
            "that process's create time (with `pid`, names one process)",
        ),
    ),
    key=("run_id",),
)

# ------------------------------------------------------------------------------------------- results

CALIBRATIONS = Table(
    "calibrations",
    _cols(
        ("symbol", "VARCHAR", "", "the instrument", NN),
        ("as_of", "DATE", "", "the last session of the window", NN),
        ("run_id", "VARCHAR", "", "the run that wrote it", NN),
        ("lookback_days", "INTEGER", "sessions", "the window's length asked for", NN),
        ("window_start", "DATE", "", "the window's first session"),
        ("window_end", "DATE", "", "the window's last session"),
        ("status", "VARCHAR", "", "`ok`, `partial`, `insufficient_data` or `failed`", NN),
        ("reason", "VARCHAR", "", "every fallback with its cause, in the order σ, σ GARCH, γ, ε, η (`; `)"),
        ("mid_close_usd", "DOUBLE", "USD/share", "the window's last closing mid"),
        ("adv_shares", "DOUBLE", "shares/day", "mean daily volume"),
        ("half_spread_usd", "DOUBLE", "USD/share", "mean quoted half spread"),
        ("n_quotes", "BIGINT", "", "quotes in the window"),
        ("n_trades", "BIGINT", "", "trades in the window"),
        ("sigma_usd", "DOUBLE", "USD/share/√day", "realized σ from 5-minute mid returns"),
        ("sigma_se_usd", "DOUBLE", "USD/share/√day", "its standard error"),
        ("sigma_pct_ann", "DOUBLE", "%/√year", "realized σ as % of the mid, annualised with √252"),
        ("sigma_tsrv_usd", "DOUBLE", "USD/share/√day", "the two-scales (noise-robust) estimate"),
        ("sigma_nobs", "BIGINT", "", "5-minute returns used"),
        ("sigma_days", "BIGINT", "sessions", "sessions used"),
        ("sigma_status", "VARCHAR", "", "status of the realized σ"),
        ("sigma_overnight_usd", "DOUBLE", "USD/share/night", "RMS of the mid's close-to-next-open change"),
        ("sigma_overnight_se_usd", "DOUBLE", "USD/share/night", "its delta-method standard error"),
        ("sigma_overnight_nobs", "BIGINT", "nights", "nights observed (σ NULL below 2)"),
        (
            "sigma_garch_usd",
            "DOUBLE",
            "USD/share/√day",
            "GARCH(1,1) one-day-ahead σ (realized σ on fallback)",
        ),
        ("sigma_garch_se_usd", "DOUBLE", "USD/share/√day", "its delta-method standard error"),
        ("sigma_garch_pct_ann", "DOUBLE", "%/√year", "GARCH σ as % of the mid, annualised with √252"),
        (
            "garch_variance_forecast_pct2_per_day",
            "DOUBLE",
            "%²/day",
            "the one-day-ahead variance of the daily log return × 100",
        ),
        ("garch_omega", "DOUBLE", "%²", "ω of the fit"),
        ("garch_omega_se", "DOUBLE", "%²", "its standard error"),
        ("garch_alpha", "DOUBLE", "", "α of the fit"),
        ("garch_alpha_se", "DOUBLE", "", "its standard error"),
        ("garch_beta", "DOUBLE", "", "β of the fit"),
        ("garch_beta_se", "DOUBLE", "", "its standard error"),
        ("garch_loglik", "DOUBLE", "", "log-likelihood of the fit"),
        ("garch_nobs", "BIGINT", "", "daily returns fitted"),
        ("garch_converged", "BOOLEAN", "", "whether the optimizer converged"),
        ("garch_status", "VARCHAR", "", "`ok` or `fallback_realized:<why>`"),
        ("garch_message", "VARCHAR", "", "warnings captured during the fit"),
        ("gamma", "DOUBLE", "USD/share per share", "permanent impact γ: the mid's response after the flow"),
        ("gamma_se", "DOUBLE", "USD/share per share", "its Newey-West standard error"),
        ("gamma_r2", "DOUBLE", "", "R² of the regression"),
        ("gamma_nobs", "BIGINT", "", "5-minute buckets in the regression"),
        (
            "gamma_status",
            "VARCHAR",
            "",
            "`ok`, `not_significant`, `wrong_sign`, `degenerate`, `insufficient_data`",
        ),
        ("gamma_horizon_min", "DOUBLE", "minutes", "the response horizon γ is measured at"),
        ("gamma_adv_sigma", "DOUBLE", "", "γ·ADV/σ (dimensionless)"),
        ("gamma_plausibility", "VARCHAR", "", "`in_band`, `below_band` or `above_band` of [0.05, 3.14]"),
        ("kyle_lambda", "DOUBLE", "USD/share per share", "Kyle's λ, the 5-minute same-bucket regression"),
        ("kyle_lambda_se", "DOUBLE", "USD/share per share", "its standard error"),
        ("kyle_lambda_r2", "DOUBLE", "", "R² of the regression"),
        ("kyle_lambda_nobs", "BIGINT", "", "buckets in the regression"),
        ("epsilon_usd", "DOUBLE", "USD/share", "fixed cost ε (half spread plus fees per share)"),
        ("epsilon_se_usd", "DOUBLE", "USD/share", "its standard error"),
        ("epsilon_source", "VARCHAR", "", "`fills` or `quoted_half_spread`"),
        ("fee_usd_per_share", "DOUBLE", "USD/share", "Σ fee_usd / Σ quantity of the fills"),
        ("eta", "DOUBLE", "USD/share per share/day", "temporary impact η"),
        ("eta_se", "DOUBLE", "USD/share per share/day", "its standard error (fills regression only)"),
        ("eta_r2", "DOUBLE", "", "R² of the fills regression"),
        ("eta_nobs", "BIGINT", "", "fills fitted"),
        ("eta_orders", "BIGINT", "", "orders of those fills"),
        (
            "eta_unquoted_fills",
            "BIGINT",
            "",
            "own fills left out for want of a quote of their session before",
        ),
        ("eta_status", "VARCHAR", "", "status of the fills regression"),
        ("eta_source", "VARCHAR", "", "`fills`, `cross_section` or `almgren_2005`"),
        ("beta", "DOUBLE", "", "exponent of the power law J = eta_nl · σ/mid · |v/ADV|^beta"),
        ("beta_se", "DOUBLE", "", "its HC1 standard error"),
        ("eta_nl", "DOUBLE", "", "coefficient of the power law"),
        ("eta_nl_se", "DOUBLE", "", "its HC1 standard error"),
        ("power_r2", "DOUBLE", "", "weighted R² of the power-law fit"),
        ("power_nobs", "BIGINT", "", "fills used"),
        ("power_status", "VARCHAR", "", "`ok`, `insufficient_data`, `no_impact` or `not_identified`"),
        (
            "lee_ready_accuracy",
            "DOUBLE",
            "",
            "share of the trades with a known aggressor (LOBSTER, Databento) whose Lee-Ready sign is its side",
        ),
        ("lee_ready_nobs", "BIGINT", "", "trades with both a Lee-Ready sign and a known aggressor"),
        ("regime_sigma_low_usd", "DOUBLE", "USD/share/√day", "σ of the calm regime (Markov switching)"),
        ("regime_sigma_high_usd", "DOUBLE", "USD/share/√day", "σ of the volatile regime"),
        ("regime_p_stay_low", "DOUBLE", "", "P(calm tomorrow | calm today)"),
        ("regime_p_stay_high", "DOUBLE", "", "P(volatile tomorrow | volatile today)"),
        ("regime_p_high", "DOUBLE", "", "filtered P(volatile) on the as-of date"),
        (
            "regime_sigma_usd",
            "DOUBLE",
            "USD/share/√day",
            "one-day-ahead σ: √(Σ P(regime tomorrow) · σ_regime²)",
        ),
        ("regime_loglik", "DOUBLE", "", "log-likelihood of the fit"),
        ("regime_nobs", "BIGINT", "", "daily returns fitted"),
        ("regime_status", "VARCHAR", "", "`ok` or why there is no regime σ"),
        ("regime_message", "VARCHAR", "", "warnings captured during the fit"),
    ),
    key=("symbol", "as_of"),
)

CORRELATIONS = Table(
    "correlations",
    _cols(
        ("as_of", "DATE", "", "the last session of the window"),
        ("symbol_a", "VARCHAR", "", "the first name (symbol_a < symbol_b)"),
        ("symbol_b", "VARCHAR", "", "the second name"),
        ("run_id", "VARCHAR", "", "the run that wrote it", NN),
        ("window_start", "DATE", "", "the window's first session"),
        ("window_end", "DATE", "", "the window's last session"),
        ("rho", "DOUBLE", "", "correlation of the two names' 5-minute mid log returns"),
        ("nobs", "BIGINT", "", "5-minute buckets both names have a return in"),
    ),
    key=("as_of", "symbol_a", "symbol_b"),
)

_PARAMETERS = (
    ("sigma_usd", "DOUBLE", "USD/share/√day", "σ used"),
    ("gamma", "DOUBLE", "USD/share per share", "γ used"),
    ("eta", "DOUBLE", "USD/share per share/day", "η used"),
)

SCHEDULES = Table(
    "schedules",
    _cols(
        ("schedule_id", "VARCHAR", "", "hash of the inputs (order, parameters, λ, strategy, start)"),
        ("period", "INTEGER", "", "k = 0..M"),
        ("run_id", "VARCHAR", "", "the run that wrote it", NN),
        ("created_at", TIMESTAMP, "UTC", "when", NN),
        ("order_id", "VARCHAR", "", "the order planned, where there is one"),
        ("symbol", "VARCHAR", "", "the instrument"),
        ("as_of", "DATE", "", "the calibration used (NULL for given parameters)"),
        (
            "strategy",
            "VARCHAR",
            "",
            "`optimal`, `twap`, `vwap`, `pov` or `replanned` (E, V, κ: the rest's from the re-plan's period)",
            NN,
        ),
        ("model", "VARCHAR", "", "`linear` or `power`", NN),
        ("side", "VARCHAR", "", "`buy` or `sell`", NN),
        ("shares", "DOUBLE", "shares", "X, the shares to trade", NN),
        ("horizon_days", "DOUBLE", "trading days", "T", NN),
        ("periods", "INTEGER", "", "M", NN),
        ("tau_days", "DOUBLE", "trading days", "τ = T/M", NN),
        ("risk_aversion", "DOUBLE", "1/USD", "λ"),
        ("drift_usd_per_day", "DOUBLE", "USD/share/day", "α, the expected drift", NN),
        ("participation", "DOUBLE", "", "the POV rate"),
        ("sigma_usd", "DOUBLE", "USD/share/√day", "σ used", NN),
        ("gamma", "DOUBLE", "USD/share per share", "γ used", NN),
        ("eta", "DOUBLE", "USD/share per share/day", "η used", NN),
        ("eta_tilde", "DOUBLE", "USD/share per share/day", "η̃ = η − γτ/2"),
        ("epsilon_usd", "DOUBLE", "USD/share", "ε used", NN),
        ("eta_nl", "DOUBLE", "", "power-law coefficient used"),
        ("beta", "DOUBLE", "", "power-law exponent used"),
        ("adv_shares", "DOUBLE", "shares/day", "ADV used"),
        ("sigma_overnight_usd", "DOUBLE", "USD/share/night", "σ of a night used"),
        ("kappa_per_day", "DOUBLE", "1/day", "the exact discrete κ"),
        ("half_life_days", "DOUBLE", "trading days", "1/κ (NULL for TWAP)"),
        ("expected_cost_usd", "DOUBLE", "USD", "E = permanent + fixed + temporary + drift", NN),
        ("permanent_cost_usd", "DOUBLE", "USD", "permanent part of E", NN),
        ("fixed_cost_usd", "DOUBLE", "USD", "fixed (ε) part of E", NN),
        ("temporary_cost_usd", "DOUBLE", "USD", "temporary part of E", NN),
        ("drift_cost_usd", "DOUBLE", "USD", "drift part of E", NN),
        ("variance_usd2", "DOUBLE", "USD²", "V", NN),
        ("std_usd", "DOUBLE", "USD", "√V", NN),
        ("start_ts", "TIMESTAMP_NS", "UTC", "the schedule's start"),
        ("t_days", "DOUBLE", "trading days", "t_k, time from the start", NN),
        ("ts", "TIMESTAMP_NS", "UTC", "t_k as a time (NULL without a start)"),
        ("holdings_shares", "DOUBLE", "shares", "x_k, shares still to trade (X at k = 0, 0 at k = M)", NN),
        ("trade_shares", "DOUBLE", "shares", "n_k, shares traded in the period ending at k (0 at k = 0)", NN),
        ("nights", "BIGINT", "nights", "closes followed by a night inside the period ending at k"),
        (
            "basket_id",
            "VARCHAR",
            "",
            "the basket this name is traded in (E and V are then the basket's; NULL for one order)",
        ),
    ),
    key=("schedule_id", "period"),
)

FRONTIERS = Table(
    "frontiers",
    _cols(
        ("frontier_id", "VARCHAR", "", "hash of the inputs"),
        ("point", "INTEGER", "", "the point's index"),
        ("run_id", "VARCHAR", "", "the run that wrote it", NN),
        ("created_at", TIMESTAMP, "UTC", "when", NN),
        ("symbol", "VARCHAR", "", "the instrument"),
        ("as_of", "DATE", "", "the calibration used (NULL for given parameters)"),
        ("model", "VARCHAR", "", "`linear` or `power`", NN),
        ("side", "VARCHAR", "", "`buy` or `sell`", NN),
        ("shares", "DOUBLE", "shares", "X", NN),
        ("horizon_days", "DOUBLE", "trading days", "T", NN),
        ("periods", "INTEGER", "", "M", NN),
        ("drift_usd_per_day", "DOUBLE", "USD/share/day", "α", NN),
        ("sigma_usd", "DOUBLE", "USD/share/√day", "σ used (NULL for a basket)"),
        ("gamma", "DOUBLE", "USD/share per share", "γ used (NULL for a basket)"),
        ("eta", "DOUBLE", "USD/share per share/day", "η used (NULL for a basket)"),
        ("epsilon_usd", "DOUBLE", "USD/share", "ε used (NULL for a basket)"),
        ("eta_nl", "DOUBLE", "", "power-law coefficient used"),
        ("beta", "DOUBLE", "", "power-law exponent used"),
        ("adv_shares", "DOUBLE", "shares/day", "ADV used"),
        ("sigma_overnight_usd", "DOUBLE", "USD/share/night", "σ of a night used"),
        ("risk_aversion", "DOUBLE", "1/USD", "λ of the point", NN),
        ("kappa_per_day", "DOUBLE", "1/day", "κ of the point"),
        ("expected_cost_usd", "DOUBLE", "USD", "E", NN),
        ("variance_usd2", "DOUBLE", "USD²", "V", NN),
        ("std_usd", "DOUBLE", "USD", "√V", NN),
        ("selected", "BOOLEAN", "", "the λ of the command", NN),
        (
            "basket_id",
            "VARCHAR",
            "",
            "the basket (symbol NULL, side `basket`, shares Σ|X_i|); NULL otherwise",
        ),
    ),
    key=("frontier_id", "point"),
)

SIMULATIONS = Table(
    "simulations",
    _cols(
        ("simulation_id", "VARCHAR", "", "hash of the inputs (order, parameters, paths, seed, shock)"),
        ("strategy", "VARCHAR", "", "`optimal`, `twap`, `vwap`, `pov` or `adaptive`"),
        ("run_id", "VARCHAR", "", "the run that wrote it", NN),
        ("created_at", TIMESTAMP, "UTC", "when", NN),
        ("symbol", "VARCHAR", "", "the calibration's instrument (NULL for given parameters)"),
        ("as_of", "DATE", "", "the calibration used (NULL for given parameters)"),
        ("side", "VARCHAR", "", "`buy` or `sell`", NN),
        ("shares", "DOUBLE", "shares", "X", NN),
        ("horizon_days", "DOUBLE", "trading days", "T", NN),
        ("periods", "INTEGER", "", "N", NN),
        ("risk_aversion", "DOUBLE", "1/USD", "λ", NN),
        ("sigma_usd", "DOUBLE", "USD/share/√day", "σ before any shock", NN),
        ("gamma", "DOUBLE", "USD/share per share", "γ", NN),
        ("eta", "DOUBLE", "USD/share per share/day", "η", NN),
        ("epsilon_usd", "DOUBLE", "USD/share", "ε", NN),
        ("paths", "BIGINT", "", "Monte Carlo paths", NN),
        ("seed", "BIGINT", "", "the generator's seed", NN),
        ("shock_at_period", "INTEGER", "", "σ is multiplied from the end of this period (NULL: no shock)"),
        ("shock_sigma_multiplier", "DOUBLE", "", "the multiplier"),
        ("model_expected_cost_usd", "DOUBLE", "USD", "the strategy's model E (without the shock)"),
        ("model_std_usd", "DOUBLE", "USD", "its model √V (without the shock)"),
        ("mean_cost_usd", "DOUBLE", "USD", "mean realized implementation shortfall", NN),
        ("mean_cost_se_usd", "DOUBLE", "USD", "its Monte Carlo standard error", NN),
        ("std_cost_usd", "DOUBLE", "USD", "standard deviation of the shortfall", NN),
        ("objective_usd", "DOUBLE", "USD", "realized E + λV: mean + λ · variance of the shortfall", NN),
        ("cost_q05_usd", "DOUBLE", "USD", "5 % quantile of the shortfall", NN),
        ("cost_q50_usd", "DOUBLE", "USD", "median shortfall", NN),
        ("cost_q95_usd", "DOUBLE", "USD", "95 % quantile of the shortfall", NN),
    ),
    key=("simulation_id", "strategy"),
)

_COMPONENT_MEANING = {
    "delay": "delay: side · (arrival mid − reference) on the filled shares",
    "trading": "trading: side · (fill VWAP − arrival mid) on the filled shares = spread + impact",
    "spread": "spread: the half spread paid at each fill",
    "impact": "impact: the rest of trading",
    "opportunity": "opportunity: side · (end mid − reference) on the unfilled shares (NULL while working)",
    "fees": "fees paid",
    "total": "total = delay + trading + opportunity + fees (NULL while working)",
}
REVERSION_MINUTES = (1, 5, 30)
"""Horizons of the ``reversion_{m}m_bps`` columns, minutes after the last fill."""
SLIPPAGE_BENCHMARKS = {"arrival": "the arrival mid", "interval_vwap": "the interval VWAP",
                       "twap": "the TWAP mid", "close": "the closing mid", "pwp": "the PWP"}  # fmt: skip

ATTRIBUTION = Table(
    "attribution",
    (
        *_cols(
            ("order_id", "VARCHAR", "", "the order"),
            ("date", "DATE", "", "the session attributed"),
            ("run_id", "VARCHAR", "", "the run that wrote it", NN),
            ("symbol", "VARCHAR", "", "the instrument", NN),
            ("side", "VARCHAR", "", "`buy` or `sell`", NN),
            ("quantity", "DOUBLE", "shares", "Q, the order's quantity", NN),
            ("filled_shares", "DOUBLE", "shares", "q, shares filled up to the session's close", NN),
            ("fill_rate", "DOUBLE", "", "q / Q"),
            (
                "status",
                "VARCHAR",
                "",
                "`working`, `ok`, `no_fills`, `no_quotes`, `partial_quotes`, `opening_quote` or `failed`",
                NN,
            ),
            ("reason", "VARCHAR", "", "the error of a `failed` order (NULL otherwise)"),
            ("broker", "VARCHAR", "", "as loaded"),
            ("algo", "VARCHAR", "", "as loaded"),
            ("trader", "VARCHAR", "", "as loaded"),
            ("venue", "VARCHAR", "", "the venue with most shares (ties: first by name)"),
            ("venues", "BIGINT", "", "venues used"),
            ("fills", "BIGINT", "", "fill count"),
            ("arrival_ts", "TIMESTAMP_NS", "UTC", "the order's arrival"),
            ("end_ts", "TIMESTAMP_NS", "UTC", "the order's end"),
            ("first_fill_ts", "TIMESTAMP_NS", "UTC", "its first fill"),
            ("last_fill_ts", "TIMESTAMP_NS", "UTC", "its last fill up to the close"),
            (
                "duration_min",
                "DOUBLE",
                "session minutes",
                "arrival to the last fill (to the end without fills)",
            ),
            ("horizon_days", "DOUBLE", "trading days", "arrival to end: the horizon T of its schedule"),
            ("decision_price", "DOUBLE", "USD/share", "the order's decision price"),
            ("reference_price_usd", "DOUBLE", "USD/share", "P_d: the decision price, else the arrival mid"),
            ("notional_usd", "DOUBLE", "USD", "Q × reference price"),
            ("arrival_mid_usd", "DOUBLE", "USD/share", "mid prevailing at arrival (of its session)"),
            (
                "end_mid_usd",
                "DOUBLE",
                "USD/share",
                "mid prevailing at the end (the closing quote after a close)",
            ),
            ("fill_vwap_usd", "DOUBLE", "USD/share", "P̄, the fills' VWAP"),
            ("interval_vwap_usd", "DOUBLE", "USD/share", "market VWAP over [arrival, end]"),
            ("twap_mid_usd", "DOUBLE", "USD/share", "mid over [arrival, end] weighted by trading time"),
            ("close_mid_usd", "DOUBLE", "USD/share", "the session's closing mid"),
            ("pwp_usd", "DOUBLE", "USD/share", "participation-weighted price"),
            ("market_volume_shares", "DOUBLE", "shares", "market volume of the PWP"),
            ("participation_rate", "DOUBLE", "", "q / that volume"),
        ),
        *(Col(f"{c}_usd", "DOUBLE", "USD", _COMPONENT_MEANING[c]) for c in _COMPONENT_MEANING),
        *(Col(f"{c}_bps", "DOUBLE", "bps", f"{c}_usd in bps of notional") for c in _COMPONENT_MEANING),
        *(
            Col(f"slippage_{b}_bps", "DOUBLE", "bps", f"side · (fill VWAP − {m}) / {m}")
            for b, m in SLIPPAGE_BENCHMARKS.items()
        ),
        *_cols(
            ("model_status", "VARCHAR", "", "the model's verdict: `ok` or why there is none", NN),
            ("calibration_as_of", "DATE", "", "the calibration a pre-trade model had (the latest before)"),
            *_PARAMETERS,
            ("epsilon_usd", "DOUBLE", "USD/share", "ε used"),
            ("sigma_overnight_usd", "DOUBLE", "USD/share/night", "σ of a night used"),
            ("nights_crossed", "BIGINT", "nights", "nights the unfilled shares waited over"),
            ("model_expected_cost_usd", "DOUBLE", "USD", "Almgren-Chriss E of the path followed"),
            ("model_permanent_usd", "DOUBLE", "USD", "permanent part of E"),
            ("model_temporary_usd", "DOUBLE", "USD", "temporary part of E"),
            ("model_std_usd", "DOUBLE", "USD", "√V of the path followed"),
            ("realized_cost_usd", "DOUBLE", "USD", "C against the arrival mid, fees included"),
            ("z_score", "DOUBLE", "", "z = (C − E)/√V"),
        ),
        *(
            Col(
                f"reversion_{m}m_bps",
                "DOUBLE",
                "bps",
                f"side · (P̄ − mid {m} min after the last fill) / P̄: > 0 when the price came back",
            )
            for m in REVERSION_MINUTES
        ),
        *_cols(
            ("executed_cost_usd", "DOUBLE", "USD", "delay + trading + fees on the shares filled so far"),
            ("executed_cost_bps", "DOUBLE", "bps", "the same in bps of notional"),
            ("interim_mtm_usd", "DOUBLE", "USD", "`working` only: open shares marked to the closing mid"),
            ("interim_mtm_bps", "DOUBLE", "bps", "the same in bps of notional"),
            ("schedule_id", "VARCHAR", "", "the latest saved schedule of the order (NULL: none)"),
            (
                "scheduled_filled_shares",
                "DOUBLE",
                "shares",
                "S(t*), shares the schedule had traded at t*: the session's close (the last fill for an order "
                "complete then)",
            ),
            (
                "ahead_of_schedule_shares",
                "DOUBLE",
                "shares",
                "filled_shares − S(t*): > 0 ahead, < 0 behind",
            ),
            (
                "tracking_error_shares",
                "DOUBLE",
                "shares",
                "RMS of filled − scheduled at the schedule's period ends in the session (NULL: none)",
            ),
            ("tracking_error_pct", "DOUBLE", "%", "tracking_error_shares / quantity × 100"),
        ),
    ),
    key=("date", "order_id"),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        QUOTES,
        TRADES,
        ORDERS,
        FILLS,
        DAILY,
        QUARANTINE,
        RUNS,
        CALIBRATIONS,
        CORRELATIONS,
        SCHEDULES,
        FRONTIERS,
        SIMULATIONS,
        ATTRIBUTION,
    )
}
"""Every registered table by name."""


def markdown_table(table: Table) -> str:
    """The README's column table of ``table``: one row per column (name, type, unit, meaning), in order;
    key columns are marked *key*, NOT NULL ones *required*."""
    lines = ["| column | type | unit | meaning |", "|---|---|---|---|"]
    for c in table.columns:
        flag = " (key)" if c.name in table.key else (" (required)" if c.not_null else "")
        meaning = c.meaning.replace("|", "\\|")
        lines.append(f"| `{c.name}`{flag} | {c.sql} | {c.unit} | {meaning} |")
    return "\n".join(lines)
