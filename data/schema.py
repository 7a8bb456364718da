"""DuckDB tables and views of DESIGN §5, created by numbered migrations.

The migrations are literal SQL, frozen once released: a later change (a column, a view) is a new
migration appended at the end, so a database migrated from any version ends where a fresh one does. The
columns they end at are those of the registry :mod:`kappa.tables` (a test checks it against
:func:`create_table_sql`), and a result frame is written only if its columns are the registry's
(:func:`check_insert`).

Units: prices and costs in USD (per share where the column says so), sizes and quantities in shares,
timestamps ``TIMESTAMP_NS`` in UTC, dates are exchange session dates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from data.contract import TABLES
from data.sql import first_row, quote_literal
from kappa.errors import KappaError
from kappa.tables import TABLES as REGISTRY
from kappa.tables import Table, polars_type

if TYPE_CHECKING:
    from data.home import KappaHome

BOOKKEEPING_TABLES = frozenset({"runs", "loads", "replacements", "retired_files", "schema_version"})
"""Tables that record what ran, not data: a rerun adds rows to them (its run, a ``loads`` row per file, its
``replacements``, the lake files it retired); the data tables and views are what a rerun leaves identical
(README, "Reloads and corrections"). A view over ``runs`` (``incomplete_nights``) is bookkeeping too."""

MIGRATIONS: list[str] = [
    # 1: inputs, the lake manifest, quarantine and runs
    """
    CREATE TABLE orders (
        order_id VARCHAR PRIMARY KEY, symbol VARCHAR NOT NULL, side VARCHAR NOT NULL,
        quantity DOUBLE NOT NULL, arrival_ts TIMESTAMP_NS NOT NULL, end_ts TIMESTAMP_NS NOT NULL,
        decision_ts TIMESTAMP_NS, decision_price DOUBLE, limit_price DOUBLE,
        broker VARCHAR, algo VARCHAR, trader VARCHAR, risk_aversion DOUBLE,
        date DATE NOT NULL, source_file VARCHAR, source_row BIGINT, run_id VARCHAR
    );
    CREATE TABLE fills (
        fill_id VARCHAR PRIMARY KEY, order_id VARCHAR NOT NULL, ts TIMESTAMP_NS NOT NULL,
        price DOUBLE NOT NULL, quantity DOUBLE NOT NULL, venue VARCHAR, fee_usd DOUBLE, liquidity VARCHAR,
        source_file VARCHAR, source_row BIGINT, run_id VARCHAR
    );
    CREATE TABLE daily (
        symbol VARCHAR NOT NULL, date DATE NOT NULL,
        open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE NOT NULL, volume DOUBLE,
        source VARCHAR NOT NULL, run_id VARCHAR,
        PRIMARY KEY (symbol, date)
    );
    CREATE TABLE lake_files (
        table_name VARCHAR NOT NULL, date DATE NOT NULL, path VARCHAR NOT NULL, row_count BIGINT NOT NULL,
        symbols BIGINT NOT NULL, run_id VARCHAR NOT NULL,
        PRIMARY KEY (table_name, date)
    );
    CREATE TABLE quarantine (
        run_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, source_file VARCHAR NOT NULL,
        row_number BIGINT NOT NULL, rule VARCHAR NOT NULL, detail VARCHAR, raw VARCHAR,
        quarantined_at TIMESTAMP NOT NULL
    );
    CREATE TABLE loads (
        run_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, source_file VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL, rows_read BIGINT NOT NULL, rows_loaded BIGINT NOT NULL,
        rows_quarantined BIGINT NOT NULL, loaded_at TIMESTAMP NOT NULL
    );
    CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY, command VARCHAR NOT NULL, parameters VARCHAR,
        started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, status VARCHAR NOT NULL,
        rows_written BIGINT, rows_quarantined BIGINT, message VARCHAR
    );
    """,
    # 2: calibrations (DESIGN §3-4); units in the column names or as documented in the README
    """
    CREATE TABLE calibrations (
        symbol VARCHAR NOT NULL, as_of DATE NOT NULL, run_id VARCHAR NOT NULL, lookback_days INTEGER NOT NULL,
        window_start DATE, window_end DATE, status VARCHAR NOT NULL, reason VARCHAR,
        mid_close_usd DOUBLE, adv_shares DOUBLE, half_spread_usd DOUBLE, n_quotes BIGINT, n_trades BIGINT,
        sigma_usd DOUBLE, sigma_se_usd DOUBLE, sigma_pct_ann DOUBLE, sigma_tsrv_usd DOUBLE,
        sigma_nobs BIGINT, sigma_days BIGINT, sigma_status VARCHAR,
        sigma_garch_usd DOUBLE, sigma_garch_se_usd DOUBLE, sigma_garch_pct_ann DOUBLE,
        garch_variance_forecast DOUBLE, garch_omega DOUBLE, garch_omega_se DOUBLE, garch_alpha DOUBLE,
        garch_alpha_se DOUBLE, garch_beta DOUBLE, garch_beta_se DOUBLE, garch_loglik DOUBLE, garch_nobs BIGINT,
        garch_converged BOOLEAN, garch_status VARCHAR, garch_message VARCHAR,
        gamma DOUBLE, gamma_se DOUBLE, gamma_r2 DOUBLE, gamma_nobs BIGINT, gamma_status VARCHAR,
        epsilon_usd DOUBLE, epsilon_se_usd DOUBLE, epsilon_source VARCHAR, fee_usd_per_share DOUBLE,
        eta DOUBLE, eta_se DOUBLE, eta_r2 DOUBLE, eta_nobs BIGINT, eta_orders BIGINT, eta_status VARCHAR,
        eta_source VARCHAR,
        beta DOUBLE, beta_se DOUBLE, eta_nl DOUBLE, eta_nl_se DOUBLE, power_r2 DOUBLE, power_nobs BIGINT,
        power_status VARCHAR,
        PRIMARY KEY (symbol, as_of)
    );
    CREATE VIEW latest_calibrations AS
        SELECT * FROM calibrations QUALIFY row_number() OVER (PARTITION BY symbol ORDER BY as_of DESC) = 1;
    """,
    # 3: schedules (one row per schedule × period, k = 0..M) and efficient frontiers (one row per λ)
    """
    CREATE TABLE schedules (
        schedule_id VARCHAR NOT NULL, period INTEGER NOT NULL, run_id VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, order_id VARCHAR, symbol VARCHAR, as_of DATE,
        strategy VARCHAR NOT NULL, model VARCHAR NOT NULL, side VARCHAR NOT NULL, shares DOUBLE NOT NULL,
        horizon_days DOUBLE NOT NULL, periods INTEGER NOT NULL, tau_days DOUBLE NOT NULL,
        risk_aversion DOUBLE, drift_usd_per_day DOUBLE NOT NULL, participation DOUBLE,
        sigma_usd DOUBLE NOT NULL, gamma DOUBLE NOT NULL, eta DOUBLE NOT NULL, eta_tilde DOUBLE,
        epsilon_usd DOUBLE NOT NULL, eta_nl DOUBLE, beta DOUBLE, adv_shares DOUBLE,
        kappa_per_day DOUBLE, half_life_days DOUBLE,
        expected_cost_usd DOUBLE NOT NULL, permanent_cost_usd DOUBLE NOT NULL, fixed_cost_usd DOUBLE NOT NULL,
        temporary_cost_usd DOUBLE NOT NULL, drift_cost_usd DOUBLE NOT NULL,
        variance_usd2 DOUBLE NOT NULL, std_usd DOUBLE NOT NULL, start_ts TIMESTAMP_NS,
        t_days DOUBLE NOT NULL, ts TIMESTAMP_NS, holdings_shares DOUBLE NOT NULL, trade_shares DOUBLE NOT NULL,
        PRIMARY KEY (schedule_id, period)
    );
    CREATE TABLE frontiers (
        frontier_id VARCHAR NOT NULL, point INTEGER NOT NULL, run_id VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, symbol VARCHAR, as_of DATE, model VARCHAR NOT NULL,
        side VARCHAR NOT NULL, shares DOUBLE NOT NULL, horizon_days DOUBLE NOT NULL, periods INTEGER NOT NULL,
        drift_usd_per_day DOUBLE NOT NULL, sigma_usd DOUBLE NOT NULL, gamma DOUBLE NOT NULL, eta DOUBLE NOT NULL,
        epsilon_usd DOUBLE NOT NULL, eta_nl DOUBLE, beta DOUBLE, adv_shares DOUBLE,
        risk_aversion DOUBLE NOT NULL, kappa_per_day DOUBLE, expected_cost_usd DOUBLE NOT NULL,
        variance_usd2 DOUBLE NOT NULL, std_usd DOUBLE NOT NULL, selected BOOLEAN NOT NULL,
        PRIMARY KEY (frontier_id, point)
    );
    """,
    # 4: post-trade attribution (one row per order and day it traded) and the scorecards over it
    """
    CREATE TABLE attribution (
        order_id VARCHAR NOT NULL, date DATE NOT NULL, run_id VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
        side VARCHAR NOT NULL, quantity DOUBLE NOT NULL, filled_shares DOUBLE NOT NULL, fill_rate DOUBLE,
        status VARCHAR NOT NULL, broker VARCHAR, algo VARCHAR, trader VARCHAR, venue VARCHAR, venues BIGINT,
        fills BIGINT, arrival_ts TIMESTAMP_NS, end_ts TIMESTAMP_NS, first_fill_ts TIMESTAMP_NS,
        last_fill_ts TIMESTAMP_NS, duration_min DOUBLE, decision_price DOUBLE, reference_price_usd DOUBLE,
        notional_usd DOUBLE, arrival_mid_usd DOUBLE, end_mid_usd DOUBLE, fill_vwap_usd DOUBLE,
        interval_vwap_usd DOUBLE, twap_mid_usd DOUBLE, close_mid_usd DOUBLE, pwp_usd DOUBLE,
        market_volume_shares DOUBLE, participation_rate DOUBLE,
        delay_usd DOUBLE, trading_usd DOUBLE, spread_usd DOUBLE, impact_usd DOUBLE, opportunity_usd DOUBLE,
        fees_usd DOUBLE, total_usd DOUBLE, delay_bps DOUBLE, trading_bps DOUBLE, spread_bps DOUBLE,
        impact_bps DOUBLE, opportunity_bps DOUBLE, fees_bps DOUBLE, total_bps DOUBLE,
        slippage_arrival_bps DOUBLE, slippage_interval_vwap_bps DOUBLE, slippage_twap_bps DOUBLE,
        slippage_close_bps DOUBLE, slippage_pwp_bps DOUBLE,
        model_status VARCHAR NOT NULL, calibration_as_of DATE, sigma_usd DOUBLE, gamma DOUBLE, eta DOUBLE,
        epsilon_usd DOUBLE, model_expected_cost_usd DOUBLE, model_permanent_usd DOUBLE,
        model_temporary_usd DOUBLE, model_std_usd DOUBLE, realized_cost_usd DOUBLE, z_score DOUBLE,
        markout_1m_bps DOUBLE, markout_5m_bps DOUBLE, markout_30m_bps DOUBLE,
        PRIMARY KEY (date, order_id)
    );

    CREATE VIEW scorecard_broker AS
        SELECT date, broker, count(*) AS orders, sum(notional_usd) AS notional_usd,
               sum(filled_shares * fill_vwap_usd) AS filled_notional_usd,
               1e4 * sum(delay_usd) / sum(notional_usd) AS delay_bps,
               1e4 * sum(spread_usd) / sum(notional_usd) AS spread_bps,
               1e4 * sum(impact_usd) / sum(notional_usd) AS impact_bps,
               1e4 * sum(opportunity_usd) / sum(notional_usd) AS opportunity_bps,
               1e4 * sum(fees_usd) / sum(notional_usd) AS fees_bps,
               1e4 * sum(total_usd) / sum(notional_usd) AS total_bps,
               median(total_bps) AS total_bps_median,
               sum(notional_usd * slippage_arrival_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_arrival_bps IS NOT NULL) AS slippage_arrival_bps,
               sum(notional_usd * slippage_interval_vwap_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_interval_vwap_bps IS NOT NULL)
                   AS slippage_interval_vwap_bps,
               count(z_score) AS z_n, avg(z_score) AS z_mean, stddev_samp(z_score) AS z_std
        FROM attribution WHERE total_usd IS NOT NULL GROUP BY date, broker;

    CREATE VIEW scorecard_algo AS
        SELECT date, algo, count(*) AS orders, sum(notional_usd) AS notional_usd,
               sum(filled_shares * fill_vwap_usd) AS filled_notional_usd,
               1e4 * sum(delay_usd) / sum(notional_usd) AS delay_bps,
               1e4 * sum(spread_usd) / sum(notional_usd) AS spread_bps,
               1e4 * sum(impact_usd) / sum(notional_usd) AS impact_bps,
               1e4 * sum(opportunity_usd) / sum(notional_usd) AS opportunity_bps,
               1e4 * sum(fees_usd) / sum(notional_usd) AS fees_bps,
               1e4 * sum(total_usd) / sum(notional_usd) AS total_bps,
               median(total_bps) AS total_bps_median,
               sum(notional_usd * slippage_arrival_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_arrival_bps IS NOT NULL) AS slippage_arrival_bps,
               sum(notional_usd * slippage_interval_vwap_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_interval_vwap_bps IS NOT NULL)
                   AS slippage_interval_vwap_bps,
               count(z_score) AS z_n, avg(z_score) AS z_mean, stddev_samp(z_score) AS z_std
        FROM attribution WHERE total_usd IS NOT NULL GROUP BY date, algo;

    CREATE VIEW scorecard_trader AS
        SELECT date, trader, count(*) AS orders, sum(notional_usd) AS notional_usd,
               sum(filled_shares * fill_vwap_usd) AS filled_notional_usd,
               1e4 * sum(delay_usd) / sum(notional_usd) AS delay_bps,
               1e4 * sum(spread_usd) / sum(notional_usd) AS spread_bps,
               1e4 * sum(impact_usd) / sum(notional_usd) AS impact_bps,
               1e4 * sum(opportunity_usd) / sum(notional_usd) AS opportunity_bps,
               1e4 * sum(fees_usd) / sum(notional_usd) AS fees_bps,
               1e4 * sum(total_usd) / sum(notional_usd) AS total_bps,
               median(total_bps) AS total_bps_median,
               sum(notional_usd * slippage_arrival_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_arrival_bps IS NOT NULL) AS slippage_arrival_bps,
               sum(notional_usd * slippage_interval_vwap_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_interval_vwap_bps IS NOT NULL)
                   AS slippage_interval_vwap_bps,
               count(z_score) AS z_n, avg(z_score) AS z_mean, stddev_samp(z_score) AS z_std
        FROM attribution WHERE total_usd IS NOT NULL GROUP BY date, trader;

    CREATE VIEW scorecard_symbol AS
        SELECT date, symbol, count(*) AS orders, sum(notional_usd) AS notional_usd,
               sum(filled_shares * fill_vwap_usd) AS filled_notional_usd,
               1e4 * sum(delay_usd) / sum(notional_usd) AS delay_bps,
               1e4 * sum(spread_usd) / sum(notional_usd) AS spread_bps,
               1e4 * sum(impact_usd) / sum(notional_usd) AS impact_bps,
               1e4 * sum(opportunity_usd) / sum(notional_usd) AS opportunity_bps,
               1e4 * sum(fees_usd) / sum(notional_usd) AS fees_bps,
               1e4 * sum(total_usd) / sum(notional_usd) AS total_bps,
               median(total_bps) AS total_bps_median,
               sum(notional_usd * slippage_arrival_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_arrival_bps IS NOT NULL) AS slippage_arrival_bps,
               sum(notional_usd * slippage_interval_vwap_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_interval_vwap_bps IS NOT NULL)
                   AS slippage_interval_vwap_bps,
               count(z_score) AS z_n, avg(z_score) AS z_mean, stddev_samp(z_score) AS z_std
        FROM attribution WHERE total_usd IS NOT NULL GROUP BY date, symbol;

    CREATE VIEW scorecard_day AS
        SELECT date, count(*) AS orders, sum(notional_usd) AS notional_usd,
               sum(filled_shares * fill_vwap_usd) AS filled_notional_usd,
               1e4 * sum(delay_usd) / sum(notional_usd) AS delay_bps,
               1e4 * sum(spread_usd) / sum(notional_usd) AS spread_bps,
               1e4 * sum(impact_usd) / sum(notional_usd) AS impact_bps,
               1e4 * sum(opportunity_usd) / sum(notional_usd) AS opportunity_bps,
               1e4 * sum(fees_usd) / sum(notional_usd) AS fees_bps,
               1e4 * sum(total_usd) / sum(notional_usd) AS total_bps,
               median(total_bps) AS total_bps_median,
               sum(notional_usd * slippage_arrival_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_arrival_bps IS NOT NULL) AS slippage_arrival_bps,
               sum(notional_usd * slippage_interval_vwap_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_interval_vwap_bps IS NOT NULL)
                   AS slippage_interval_vwap_bps,
               count(z_score) AS z_n, avg(z_score) AS z_mean, stddev_samp(z_score) AS z_std
        FROM attribution WHERE total_usd IS NOT NULL GROUP BY date;

    CREATE VIEW scorecard_venue AS
        SELECT a.date, f.venue, count(*) AS fills, count(DISTINCT a.order_id) AS orders,
               sum(f.quantity) AS shares, sum(f.quantity * f.price) AS notional_usd,
               1e4 * sum(CASE a.side WHEN 'buy' THEN 1 ELSE -1 END * f.quantity * (f.price - a.arrival_mid_usd))
                   / sum(f.quantity * a.arrival_mid_usd) AS slippage_arrival_bps,
               1e4 * sum(coalesce(f.fee_usd, 0)) / sum(f.quantity * f.price) AS fees_bps
        FROM attribution a JOIN fills f USING (order_id)
        WHERE a.arrival_mid_usd IS NOT NULL AND f.ts <= a.last_fill_ts
              AND f.ts >= a.arrival_ts AND CAST(f.ts AS DATE) = a.date
        GROUP BY ALL;
    """,
    # 5: why an order could not be attributed (status 'failed'); NULL for every attributed order
    """
    ALTER TABLE attribution ADD COLUMN reason VARCHAR;
    """,
    # 6: fills that a cancel (FIX trade cancel) or a replace-by-order load removed, and what loads replaced
    """
    CREATE TABLE cancelled_fills (
        fill_id VARCHAR NOT NULL, order_id VARCHAR NOT NULL, ts TIMESTAMP_NS, price DOUBLE, quantity DOUBLE,
        venue VARCHAR, fee_usd DOUBLE, liquidity VARCHAR, source_file VARCHAR, source_row BIGINT,
        run_id VARCHAR, reason VARCHAR NOT NULL, cancel_source_file VARCHAR, cancel_source_row BIGINT,
        cancel_run_id VARCHAR NOT NULL, cancelled_at TIMESTAMP NOT NULL
    );
    CREATE TABLE replacements (
        run_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, date DATE, key VARCHAR,
        rows_before BIGINT NOT NULL, rows_after BIGINT NOT NULL
    );
    """,
    # 7: whether a stored fill is a correction (FIX ExecType G), which an earlier file may not undo
    """
    ALTER TABLE fills ADD COLUMN exec_type VARCHAR DEFAULT 'trade';
    ALTER TABLE cancelled_fills ADD COLUMN exec_type VARCHAR DEFAULT 'trade';
    """,
    # the overnight risk: σ of the close-to-next-open mid change per symbol, and the nights an order waited
    """
    ALTER TABLE calibrations ADD COLUMN sigma_overnight_usd DOUBLE;
    ALTER TABLE calibrations ADD COLUMN sigma_overnight_se_usd DOUBLE;
    ALTER TABLE calibrations ADD COLUMN sigma_overnight_nobs BIGINT;
    ALTER TABLE attribution ADD COLUMN sigma_overnight_usd DOUBLE;
    ALTER TABLE attribution ADD COLUMN nights_crossed BIGINT;
    ALTER TABLE schedules ADD COLUMN sigma_overnight_usd DOUBLE;
    ALTER TABLE schedules ADD COLUMN nights BIGINT;
    ALTER TABLE frontiers ADD COLUMN sigma_overnight_usd DOUBLE;
    """,
    # tape cleaning (data.cleaning): rows of the lake flagged per table, session date, symbol and rule
    """
    CREATE TABLE flagged_rows (
        table_name VARCHAR NOT NULL, date DATE NOT NULL, symbol VARCHAR NOT NULL, rule VARCHAR NOT NULL,
        rows BIGINT NOT NULL, run_id VARCHAR NOT NULL,
        PRIMARY KEY (table_name, date, symbol, rule)
    );
    """,
    # γ is the permanent impact (the response 30 minutes on); Kyle's 5-minute lambda kept apart, and the
    # plausibility of γ·ADV/σ
    """
    ALTER TABLE calibrations ADD COLUMN gamma_horizon_min DOUBLE;
    ALTER TABLE calibrations ADD COLUMN gamma_adv_sigma DOUBLE;
    ALTER TABLE calibrations ADD COLUMN gamma_plausibility VARCHAR;
    ALTER TABLE calibrations ADD COLUMN kyle_lambda DOUBLE;
    ALTER TABLE calibrations ADD COLUMN kyle_lambda_se DOUBLE;
    ALTER TABLE calibrations ADD COLUMN kyle_lambda_r2 DOUBLE;
    ALTER TABLE calibrations ADD COLUMN kyle_lambda_nobs BIGINT;
    """,
    # own fills the ε/η regression left out for want of a quote of their own session before them
    """
    ALTER TABLE calibrations ADD COLUMN eta_unquoted_fills BIGINT;
    """,
    # orders working across sessions: the cost realized so far and the interim mark of the open shares
    # (status 'working' until the order completes), and the order's horizon in trading days
    """
    ALTER TABLE attribution ADD COLUMN executed_cost_usd DOUBLE;
    ALTER TABLE attribution ADD COLUMN executed_cost_bps DOUBLE;
    ALTER TABLE attribution ADD COLUMN interim_mtm_usd DOUBLE;
    ALTER TABLE attribution ADD COLUMN interim_mtm_bps DOUBLE;
    ALTER TABLE attribution ADD COLUMN horizon_days DOUBLE;
    """,
    # names a quant reads without a glossary: the markouts are reversions (positive when the price came
    # back), the GARCH variance carries its unit; the scorecards gain the cost in $ that the report prints
    """
    DROP VIEW scorecard_broker;
    DROP VIEW scorecard_algo;
    DROP VIEW scorecard_trader;
    DROP VIEW scorecard_symbol;
    DROP VIEW scorecard_day;
    ALTER TABLE attribution RENAME COLUMN markout_1m_bps TO reversion_1m_bps;
    ALTER TABLE attribution RENAME COLUMN markout_5m_bps TO reversion_5m_bps;
    ALTER TABLE attribution RENAME COLUMN markout_30m_bps TO reversion_30m_bps;
    ALTER TABLE calibrations RENAME COLUMN garch_variance_forecast TO garch_variance_forecast_pct2_per_day;
    CREATE VIEW scorecard_broker AS
        SELECT date, broker, count(*) AS orders, sum(notional_usd) AS notional_usd,
               sum(filled_shares * fill_vwap_usd) AS filled_notional_usd, sum(total_usd) AS total_usd,
               1e4 * sum(delay_usd) / sum(notional_usd) AS delay_bps,
               1e4 * sum(spread_usd) / sum(notional_usd) AS spread_bps,
               1e4 * sum(impact_usd) / sum(notional_usd) AS impact_bps,
               1e4 * sum(opportunity_usd) / sum(notional_usd) AS opportunity_bps,
               1e4 * sum(fees_usd) / sum(notional_usd) AS fees_bps,
               1e4 * sum(total_usd) / sum(notional_usd) AS total_bps,
               median(total_bps) AS total_bps_median,
               sum(notional_usd * slippage_arrival_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_arrival_bps IS NOT NULL) AS slippage_arrival_bps,
               sum(notional_usd * slippage_interval_vwap_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_interval_vwap_bps IS NOT NULL)
                   AS slippage_interval_vwap_bps,
               count(z_score) AS z_n, avg(z_score) AS z_mean, stddev_samp(z_score) AS z_std
        FROM attribution WHERE total_usd IS NOT NULL GROUP BY date, broker;

    CREATE VIEW scorecard_algo AS
        SELECT date, algo, count(*) AS orders, sum(notional_usd) AS notional_usd,
               sum(filled_shares * fill_vwap_usd) AS filled_notional_usd, sum(total_usd) AS total_usd,
               1e4 * sum(delay_usd) / sum(notional_usd) AS delay_bps,
               1e4 * sum(spread_usd) / sum(notional_usd) AS spread_bps,
               1e4 * sum(impact_usd) / sum(notional_usd) AS impact_bps,
               1e4 * sum(opportunity_usd) / sum(notional_usd) AS opportunity_bps,
               1e4 * sum(fees_usd) / sum(notional_usd) AS fees_bps,
               1e4 * sum(total_usd) / sum(notional_usd) AS total_bps,
               median(total_bps) AS total_bps_median,
               sum(notional_usd * slippage_arrival_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_arrival_bps IS NOT NULL) AS slippage_arrival_bps,
               sum(notional_usd * slippage_interval_vwap_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_interval_vwap_bps IS NOT NULL)
                   AS slippage_interval_vwap_bps,
               count(z_score) AS z_n, avg(z_score) AS z_mean, stddev_samp(z_score) AS z_std
        FROM attribution WHERE total_usd IS NOT NULL GROUP BY date, algo;

    CREATE VIEW scorecard_trader AS
        SELECT date, trader, count(*) AS orders, sum(notional_usd) AS notional_usd,
               sum(filled_shares * fill_vwap_usd) AS filled_notional_usd, sum(total_usd) AS total_usd,
               1e4 * sum(delay_usd) / sum(notional_usd) AS delay_bps,
               1e4 * sum(spread_usd) / sum(notional_usd) AS spread_bps,
               1e4 * sum(impact_usd) / sum(notional_usd) AS impact_bps,
               1e4 * sum(opportunity_usd) / sum(notional_usd) AS opportunity_bps,
               1e4 * sum(fees_usd) / sum(notional_usd) AS fees_bps,
               1e4 * sum(total_usd) / sum(notional_usd) AS total_bps,
               median(total_bps) AS total_bps_median,
               sum(notional_usd * slippage_arrival_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_arrival_bps IS NOT NULL) AS slippage_arrival_bps,
               sum(notional_usd * slippage_interval_vwap_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_interval_vwap_bps IS NOT NULL)
                   AS slippage_interval_vwap_bps,
               count(z_score) AS z_n, avg(z_score) AS z_mean, stddev_samp(z_score) AS z_std
        FROM attribution WHERE total_usd IS NOT NULL GROUP BY date, trader;

    CREATE VIEW scorecard_symbol AS
        SELECT date, symbol, count(*) AS orders, sum(notional_usd) AS notional_usd,
               sum(filled_shares * fill_vwap_usd) AS filled_notional_usd, sum(total_usd) AS total_usd,
               1e4 * sum(delay_usd) / sum(notional_usd) AS delay_bps,
               1e4 * sum(spread_usd) / sum(notional_usd) AS spread_bps,
               1e4 * sum(impact_usd) / sum(notional_usd) AS impact_bps,
               1e4 * sum(opportunity_usd) / sum(notional_usd) AS opportunity_bps,
               1e4 * sum(fees_usd) / sum(notional_usd) AS fees_bps,
               1e4 * sum(total_usd) / sum(notional_usd) AS total_bps,
               median(total_bps) AS total_bps_median,
               sum(notional_usd * slippage_arrival_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_arrival_bps IS NOT NULL) AS slippage_arrival_bps,
               sum(notional_usd * slippage_interval_vwap_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_interval_vwap_bps IS NOT NULL)
                   AS slippage_interval_vwap_bps,
               count(z_score) AS z_n, avg(z_score) AS z_mean, stddev_samp(z_score) AS z_std
        FROM attribution WHERE total_usd IS NOT NULL GROUP BY date, symbol;

    CREATE VIEW scorecard_day AS
        SELECT date, count(*) AS orders, sum(notional_usd) AS notional_usd,
               sum(filled_shares * fill_vwap_usd) AS filled_notional_usd, sum(total_usd) AS total_usd,
               1e4 * sum(delay_usd) / sum(notional_usd) AS delay_bps,
               1e4 * sum(spread_usd) / sum(notional_usd) AS spread_bps,
               1e4 * sum(impact_usd) / sum(notional_usd) AS impact_bps,
               1e4 * sum(opportunity_usd) / sum(notional_usd) AS opportunity_bps,
               1e4 * sum(fees_usd) / sum(notional_usd) AS fees_bps,
               1e4 * sum(total_usd) / sum(notional_usd) AS total_bps,
               median(total_bps) AS total_bps_median,
               sum(notional_usd * slippage_arrival_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_arrival_bps IS NOT NULL) AS slippage_arrival_bps,
               sum(notional_usd * slippage_interval_vwap_bps)
                   / sum(notional_usd) FILTER (WHERE slippage_interval_vwap_bps IS NOT NULL)
                   AS slippage_interval_vwap_bps,
               count(z_score) AS z_n, avg(z_score) AS z_mean, stddev_samp(z_score) AS z_std
        FROM attribution WHERE total_usd IS NOT NULL GROUP BY date;
    """,
    # 14: vendor formats: records skipped by design (extended hours, cancelled prints, unchanged NBBO) per
    # file and reason, each loaded file's format, and how often Lee-Ready signs a trade like its aggressor
    """
    ALTER TABLE loads ADD COLUMN rows_skipped BIGINT DEFAULT 0;
    ALTER TABLE loads ADD COLUMN format VARCHAR DEFAULT 'kappa';
    ALTER TABLE calibrations ADD COLUMN lee_ready_accuracy DOUBLE;
    ALTER TABLE calibrations ADD COLUMN lee_ready_nobs BIGINT;
    CREATE TABLE skipped_rows (
        run_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, source_file VARCHAR NOT NULL,
        reason VARCHAR NOT NULL, rows BIGINT NOT NULL
    );
    """,
    # 15: the rest of the model: volatility regimes in calibrations, the correlations of the names' 5-minute
    # returns, baskets in schedules and frontiers (a basket's frontier has no per-name parameters), Monte
    # Carlo simulations of a schedule's execution, and the tracking of each order against its schedule
    """
    ALTER TABLE calibrations ADD COLUMN regime_sigma_low_usd DOUBLE;
    ALTER TABLE calibrations ADD COLUMN regime_sigma_high_usd DOUBLE;
    ALTER TABLE calibrations ADD COLUMN regime_p_stay_low DOUBLE;
    ALTER TABLE calibrations ADD COLUMN regime_p_stay_high DOUBLE;
    ALTER TABLE calibrations ADD COLUMN regime_p_high DOUBLE;
    ALTER TABLE calibrations ADD COLUMN regime_sigma_usd DOUBLE;
    ALTER TABLE calibrations ADD COLUMN regime_loglik DOUBLE;
    ALTER TABLE calibrations ADD COLUMN regime_nobs BIGINT;
    ALTER TABLE calibrations ADD COLUMN regime_status VARCHAR;
    ALTER TABLE calibrations ADD COLUMN regime_message VARCHAR;
    CREATE TABLE correlations (
        as_of DATE NOT NULL, symbol_a VARCHAR NOT NULL, symbol_b VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
        window_start DATE, window_end DATE, rho DOUBLE, nobs BIGINT,
        PRIMARY KEY (as_of, symbol_a, symbol_b)
    );
    ALTER TABLE schedules ADD COLUMN basket_id VARCHAR;
    ALTER TABLE frontiers ADD COLUMN basket_id VARCHAR;
    ALTER TABLE frontiers ALTER COLUMN sigma_usd DROP NOT NULL;
    ALTER TABLE frontiers ALTER COLUMN gamma DROP NOT NULL;
    ALTER TABLE frontiers ALTER COLUMN eta DROP NOT NULL;
    ALTER TABLE frontiers ALTER COLUMN epsilon_usd DROP NOT NULL;
    CREATE TABLE simulations (
        simulation_id VARCHAR NOT NULL, strategy VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, symbol VARCHAR, as_of DATE, side VARCHAR NOT NULL,
        shares DOUBLE NOT NULL, horizon_days DOUBLE NOT NULL, periods INTEGER NOT NULL,
        risk_aversion DOUBLE NOT NULL, sigma_usd DOUBLE NOT NULL, gamma DOUBLE NOT NULL, eta DOUBLE NOT NULL,
        epsilon_usd DOUBLE NOT NULL, paths BIGINT NOT NULL, seed BIGINT NOT NULL, shock_at_period INTEGER,
        shock_sigma_multiplier DOUBLE, model_expected_cost_usd DOUBLE, model_std_usd DOUBLE,
        mean_cost_usd DOUBLE NOT NULL, mean_cost_se_usd DOUBLE NOT NULL, std_cost_usd DOUBLE NOT NULL,
        objective_usd DOUBLE NOT NULL, cost_q05_usd DOUBLE NOT NULL, cost_q50_usd DOUBLE NOT NULL,
        cost_q95_usd DOUBLE NOT NULL,
        PRIMARY KEY (simulation_id, strategy)
    );
    ALTER TABLE attribution ADD COLUMN schedule_id VARCHAR;
    ALTER TABLE attribution ADD COLUMN scheduled_filled_shares DOUBLE;
    ALTER TABLE attribution ADD COLUMN ahead_of_schedule_shares DOUBLE;
    ALTER TABLE attribution ADD COLUMN tracking_error_shares DOUBLE;
    ALTER TABLE attribution ADD COLUMN tracking_error_pct DOUBLE;
    """,
    # 16: the process that runs each run, so that a run whose process is gone (killed) is marked failed
    """
    ALTER TABLE runs ADD COLUMN host VARCHAR;
    ALTER TABLE runs ADD COLUMN pid BIGINT;
    ALTER TABLE runs ADD COLUMN process_created DOUBLE;
    """,
    # 17: lake paths relative to the home's lake/ folder (a home moved or copied works as it is: the part
    # after the last /lake/ of each absolute path), and the files loads replaced, kept until no reader
    # can hold them (data.lake.files)
    """
    UPDATE lake_files SET path = regexp_replace(path, '^.*/lake/', '') WHERE contains(path, '/lake/');
    CREATE TABLE retired_files (
        path VARCHAR NOT NULL, table_name VARCHAR NOT NULL, date DATE NOT NULL, run_id VARCHAR NOT NULL,
        retired_at TIMESTAMP NOT NULL
    );
    """,
    # 18: the date an order's file was delivered for (NULL: none declared): what a later delivery of that
    # date replaces (data.delivery)
    """
    ALTER TABLE orders ADD COLUMN delivered_date DATE;
    """,
    # 19: the nights whose latest nightly run did not finish (killed, failed): their day may be partly loaded
    """
    CREATE OR REPLACE VIEW incomplete_nights AS
    SELECT date, run_id, status, started_at,
           CASE WHEN status = 'running' THEN 'running: in progress, or killed (the next write marks it failed)'
                ELSE coalesce(message, status) END AS reason
    FROM (
        SELECT CAST(json_extract_string(parameters, '$.date') AS DATE) AS date, run_id, status, started_at,
               message,
               row_number() OVER (PARTITION BY json_extract_string(parameters, '$.date')
                                  ORDER BY started_at DESC, run_id DESC) AS latest
        FROM runs WHERE command = 'nightly'
    )
    WHERE latest = 1 AND status NOT IN ('success', 'warning')
    ORDER BY date;
    """,
]


def create_table_sql(table: Table) -> str:
    """The ``CREATE TABLE`` statement of the registry's ``table``: its columns in order, NOT NULL where
    the registry says so, defaults, and the primary key."""
    cols = [
        f"{c.name} {c.sql}"
        + (" NOT NULL" if c.not_null and c.name not in table.key else "")
        + (f" DEFAULT {c.default}" if c.default is not None else "")
        for c in table.columns
    ]
    if table.key:
        cols.append(f"PRIMARY KEY ({', '.join(table.key)})")
    return f"CREATE TABLE {table.name} ({', '.join(cols)})"


class SchemaMismatchError(KappaError, ValueError):
    """A frame to insert lacks a column of its table or carries one the table does not have."""


def check_insert(table: str, columns: list[str]) -> None:
    """Refuse to write a frame of ``columns`` into the registered ``table`` unless they are exactly its
    columns (any order): ``INSERT ... BY NAME`` would store a missing column as NULL without a word.

    Raises
    ------
    SchemaMismatchError
        Naming the columns missing and the unknown ones.
    """
    if table not in REGISTRY or REGISTRY[table].lake:
        return
    expected = REGISTRY[table].names
    missing = [c for c in expected if c not in columns]
    unknown = [c for c in columns if c not in expected]
    if missing or unknown:
        raise SchemaMismatchError(
            f"refusing to write {table}: the rows lack {missing or 'nothing'} and carry unknown "
            f"{unknown or 'nothing'} (kappa.tables.{table.upper()} lists its columns)"
        )


MARKET_COLUMNS: dict[str, list[tuple[str, str]]] = {
    t.name: [(c.name, c.sql) for c in t.columns] for t in REGISTRY.values() if t.lake
}
"""The columns of the lake files; ``flag`` holds the tape-cleaning rule a row breaks (:mod:`data.cleaning`),
null for a clean row; files written before it existed lack it (their rows count as clean)."""
FLAG = "flag"
assert all(set(TABLES[t].names) <= {c for c, _ in cols} for t, cols in MARKET_COLUMNS.items())

POLARS_TYPES: dict[str, pl.DataType] = {
    sql: polars_type(sql) for cols in MARKET_COLUMNS.values() for _, sql in cols
}
"""The polars type of each DuckDB type of ``MARKET_COLUMNS``."""


def migrate(con: duckdb.DuckDBPyConnection, home: KappaHome | None = None) -> int:
    """Apply the migrations this database has not seen yet and point the views ``quotes`` and ``trades`` at
    the lake files of ``home`` (:func:`point_views_at`; ``None``: a database without a home, in memory, whose
    manifest must be empty); return the schema version."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = first_row(con, "SELECT max(version) FROM schema_version")
    current = int(row[0]) if row and row[0] is not None else 0
    for version, ddl in enumerate(MIGRATIONS, start=1):
        if version <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(ddl)
            con.execute("INSERT INTO schema_version VALUES (?)", [version])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    point_views_at(con, home, rebuild=current < len(MIGRATIONS))
    return len(MIGRATIONS)


def file_columns(path: str) -> frozenset[str]:
    """The columns of the lake file ``path`` (files written before a column existed lack it)."""
    return frozenset(pq.read_schema(path).names)


def has_flag_column(path: str) -> bool:
    """Whether the lake file ``path`` has the ``flag`` column (files written before it lack it)."""
    return FLAG in file_columns(path)


def market_view_sql(table: str, files: list[str], *, temporary: bool = False) -> str:
    """The ``CREATE OR REPLACE VIEW`` statement exposing the lake files of ``table`` as one relation (a
    column that files written before it existed lack, ``flag`` or ``aggressor``, is null for their rows);
    ``temporary``: a view of this connection only (``TEMP``), which hides the stored one of that name."""
    create = f"CREATE OR REPLACE {'TEMP ' if temporary else ''}VIEW {table}"
    cols = MARKET_COLUMNS[table]
    if not files:
        empty = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in cols)
        return f"{create} AS SELECT {empty} WHERE false"
    held = [file_columns(f) for f in files]
    anywhere = frozenset().union(*held)
    select = ", ".join(
        f"CAST({c} AS {t}) AS {c}" if c in anywhere else f"CAST(NULL AS {t}) AS {c}" for c, t in cols
    )
    listing = "[" + ", ".join(quote_literal(f) for f in files) + "]"
    union = "" if all(h == held[0] for h in held) else ", union_by_name = true"
    return f"{create} AS SELECT {select} FROM read_parquet({listing}{union})"


VIEW_COMMENT = "the lake files of {lake}"
"""The comment of the views ``quotes`` and ``trades``: the lake whose files they list (absolute paths, as
DuckDB needs them), so that a home that moved is told apart (:func:`stale_views`)."""


def _view_comment(home: KappaHome | None) -> str:
    return VIEW_COMMENT.format(lake=home.lake) if home is not None else "no lake: a database without a home"


def lake_files_of(con: duckdb.DuckDBPyConnection, table: str, home: KappaHome | None) -> list[str]:
    """The lake files of ``table`` the manifest lists, by date, as paths of ``home``
    (:meth:`data.home.KappaHome.lake_file`)."""
    rows = con.execute("SELECT path FROM lake_files WHERE table_name = ? ORDER BY date", [table]).fetchall()
    if home is None:
        if rows:
            raise KappaError("a database with lake files needs its home to resolve their paths")
        return []
    return [str(home.lake_file(p)) for (p,) in rows]


def refresh_market_view(con: duckdb.DuckDBPyConnection, table: str, home: KappaHome | None) -> None:
    """Point the view ``table`` at the files the manifest ``lake_files`` lists, in ``home`` (call inside the
    commit that changes the manifest)."""
    con.execute(market_view_sql(table, lake_files_of(con, table, home)))
    con.execute(f"COMMENT ON VIEW {table} IS {quote_literal(_view_comment(home))}")


def stale_views(con: duckdb.DuckDBPyConnection, home: KappaHome | None) -> list[str]:
    """The views of :data:`MARKET_COLUMNS` that do not list the files of ``home``'s lake: built for another
    place (the home was moved or copied since), by an older Kappa, or missing."""
    want = _view_comment(home)
    rows = con.execute(
        "SELECT view_name, comment FROM duckdb_views() WHERE NOT temporary AND view_name IN (SELECT unnest(?))",
        [list(MARKET_COLUMNS)],
    ).fetchall()
    current = {name for name, comment in rows if comment == want}
    return [t for t in MARKET_COLUMNS if t not in current]


def point_views_at(con: duckdb.DuckDBPyConnection, home: KappaHome | None, *, rebuild: bool = False) -> None:
    """Rebuild the stored views ``quotes`` and ``trades`` that do not list ``home``'s files (all of them
    with ``rebuild``, after a migration): every writer does, so a moved or copied home's views follow it."""
    stale = list(MARKET_COLUMNS) if rebuild else stale_views(con, home)
    if not stale:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        for table in stale:
            refresh_market_view(con, table, home)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def shadow_stale_views(con: duckdb.DuckDBPyConnection, home: KappaHome) -> list[str]:
    """On a read-only connection: a ``TEMP`` view over ``home``'s files for each stored view that lists
    another place's (:func:`stale_views`), which hides the stored one from this connection's queries (and
    from the views built on it); returns the tables shadowed. The stored views stay as they are until the
    next writer (:func:`point_views_at`).

    A file the manifest lists that is missing from this home makes its view fail only when read, with
    DuckDB's message naming the file."""
    stale = stale_views(con, home)
    for table in stale:
        files = lake_files_of(con, table, home)
        try:
            con.execute(market_view_sql(table, files, temporary=True))
        except (OSError, pa.ArrowException):  # a file missing or unreadable: the view says which when read
            listing = ", ".join(quote_literal(f) for f in files)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM read_parquet([{listing}])")
    return stale
