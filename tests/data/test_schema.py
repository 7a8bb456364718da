"""One definition per table: the migrations end at the registry (kappa.tables), whatever version a database
started from, and the writer refuses a frame whose columns are not its table's."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

from data.home import KappaHome
from data.results import Results, write_results
from data.schema import MIGRATIONS, SchemaMismatchError, check_insert, create_table_sql, migrate
from data.store import start_run, writer
from kappa.tables import ATTRIBUTION, CALIBRATIONS, TABLES
from tests.conftest import WriteCsv

COLUMNS = """SELECT table_name, column_name, data_type, is_nullable, column_default FROM duckdb_columns()
             WHERE NOT internal AND table_name <> 'schema_version' ORDER BY table_name, column_name"""
KEYS = """SELECT table_name, constraint_column_names FROM duckdb_constraints()
          WHERE constraint_type = 'PRIMARY KEY' ORDER BY table_name"""
VIEWS = "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY view_name"


def _schema(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple[object, ...]], ...]:
    """Every column of every table and view (name, type, nullability, default), the keys and the views."""
    return tuple(con.execute(q).fetchall() for q in (COLUMNS, KEYS, VIEWS))


def _at_version(version: int) -> duckdb.DuckDBPyConnection:
    """A database that an old Kappa left at ``version``: the first ``version`` migrations, nothing after."""
    con = duckdb.connect()
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for v, ddl in enumerate(MIGRATIONS[:version], start=1):
        con.execute(ddl)
        con.execute("INSERT INTO schema_version VALUES (?)", [v])
    return con


def test_the_migrations_end_at_the_registry() -> None:
    """Each registered table, migrated, has exactly the registry's columns, types, NOT NULLs, defaults and
    key: the DDL the registry writes and the literal migrations agree."""
    migrated = duckdb.connect()
    migrate(migrated)
    built = duckdb.connect()
    stored = [t for t in TABLES.values() if not t.lake]
    for table in stored:
        built.execute(create_table_sql(table))
    names = [t.name for t in stored]
    q = COLUMNS.replace("WHERE", "WHERE table_name IN (SELECT unnest(?)) AND")
    got, want = migrated.execute(q, [names]).fetchall(), built.execute(q, [names]).fetchall()
    assert {r[:2] for r in got} == {r[:2] for r in want}, "column names differ"
    assert got == want
    keys = KEYS.replace("WHERE", "WHERE table_name IN (SELECT unnest(?)) AND")
    assert migrated.execute(keys, [names]).fetchall() == built.execute(keys, [names]).fetchall()


def test_the_lake_views_have_the_registry_columns() -> None:
    """quotes and trades (views over the lake, empty on a fresh database) list the registry's columns."""
    con = duckdb.connect()
    migrate(con)
    for table in (t for t in TABLES.values() if t.lake):
        got = con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
            [table.name],
        ).fetchall()
        assert got == [(c.name, c.sql) for c in table.columns]


@pytest.mark.parametrize("start", [1, 4, 12])
def test_a_database_migrated_from_an_old_version_ends_as_a_fresh_one(start: int) -> None:
    fresh = duckdb.connect()
    migrate(fresh)
    old = _at_version(start)
    migrate(old)
    assert _schema(old) == _schema(fresh)
    assert {"scorecard_broker", "scorecard_venue", "latest_calibrations"} <= {v for (v,) in _schema(fresh)[2]}


def test_the_renames_keep_the_stored_numbers() -> None:
    """A database of version 12 holds markouts and a GARCH variance; migrated, the same numbers sit under
    their new names (reversion_*, garch_variance_forecast_pct2_per_day) and the views read them."""
    con = _at_version(12)
    con.execute(
        "INSERT INTO attribution (order_id, date, run_id, symbol, side, quantity, filled_shares, status, "
        "model_status, notional_usd, total_usd, markout_1m_bps, markout_5m_bps, markout_30m_bps) "
        "VALUES ('o1', DATE '2026-11-06', 'r', 'AAA', 'buy', 100, 100, 'ok', 'ok', 4000, 2, 1.5, -2.5, 3.5)"
    )
    con.execute(
        "INSERT INTO calibrations (symbol, as_of, run_id, lookback_days, status, garch_variance_forecast) "
        "VALUES ('AAA', DATE '2026-11-06', 'r', 20, 'ok', 2.25)"
    )
    migrate(con)
    assert con.execute(
        "SELECT reversion_1m_bps, reversion_5m_bps, reversion_30m_bps FROM attribution"
    ).fetchall() == [(1.5, -2.5, 3.5)]
    assert con.execute("SELECT garch_variance_forecast_pct2_per_day FROM latest_calibrations").fetchall() == [
        (2.25,)
    ]
    # 2 $ on 4,000 $ of notional is 5 bps, and the view now carries the dollars too
    assert con.execute("SELECT total_usd, total_bps FROM scorecard_day").fetchall() == [(2.0, 5.0)]


def test_the_polars_schemas_come_from_the_registry() -> None:
    from calibration.window import CALIBRATION_SCHEMA
    from tca.attribution import ATTRIBUTION_COLUMNS, WRITER_COLUMNS

    assert list(CALIBRATION_SCHEMA) == [
        c
        for c in CALIBRATIONS.names
        if c not in ("as_of", "run_id", "lookback_days", "window_start", "window_end")
    ]
    assert CALIBRATION_SCHEMA["garch_converged"] == pl.Boolean and CALIBRATION_SCHEMA["n_quotes"] == pl.Int64
    assert set(ATTRIBUTION_COLUMNS) | set(WRITER_COLUMNS) == set(ATTRIBUTION.names)
    assert {"date", "run_id", "horizon_days", "reason", "tracking_error_shares"} <= set(WRITER_COLUMNS)


def test_a_frame_missing_a_column_or_carrying_an_unknown_one_is_refused() -> None:
    check_insert("attribution", list(reversed(ATTRIBUTION.names)))  # any order is fine
    with pytest.raises(SchemaMismatchError, match=r"lack \['reversion_5m_bps'\]"):
        check_insert("attribution", [c for c in ATTRIBUTION.names if c != "reversion_5m_bps"])
    with pytest.raises(SchemaMismatchError, match=r"unknown \['markout_5m_bps'\]"):
        check_insert("attribution", [*ATTRIBUTION.names, "markout_5m_bps"])


def test_the_writer_refuses_a_frame_with_an_old_column_name_and_writes_nothing(tmp_path: Path) -> None:
    """A calibrations frame still carrying ``garch_variance_forecast`` would, through INSERT ... BY NAME,
    have stored NULL in the new column without a word: the writer stops before the transaction commits."""
    home = KappaHome(tmp_path)
    home.ensure()
    with writer(home) as con:
        start_run(con, "run-1", "calibrate", {})
    schema = CALIBRATIONS.polars_schema(omit=("run_id", "garch_variance_forecast_pct2_per_day"))
    row = {"symbol": "AAA", "as_of": dt.date(2026, 11, 6), "lookback_days": 20, "status": "ok"}
    frame = pl.DataFrame([row], schema=schema).with_columns(garch_variance_forecast=pl.lit(2.25))
    with pytest.raises(SchemaMismatchError, match="garch_variance_forecast_pct2_per_day"):
        write_results(home, "run-1", Results(calibrations=frame, calibration_as_of=dt.date(2026, 11, 6)))
    with writer(home) as con:
        assert con.execute("SELECT count(*) FROM calibrations").fetchall() == [(0,)]
        assert con.execute("SELECT status FROM runs").fetchall() == [("running",)]


def test_the_upsert_refuses_an_order_frame_without_a_column() -> None:
    """Loads and saved schedules go through ``replace_rows``: the same refusal, before any row is deleted."""
    from data.store import replace_rows
    from kappa.tables import ORDERS

    con = duckdb.connect()
    migrate(con)
    row = {"order_id": "o1", "symbol": "AAA", "side": "buy", "quantity": 100.0, "date": dt.date(2026, 11, 6),
           "arrival_ts": dt.datetime(2026, 11, 6, 15), "end_ts": dt.datetime(2026, 11, 6, 16)}  # fmt: skip
    full = pl.DataFrame([row], schema=ORDERS.polars_schema())
    assert replace_rows(con, "orders", full, ["order_id"]) == 1
    with pytest.raises(SchemaMismatchError, match=r"lack \['trader'\]"):
        replace_rows(con, "orders", full.drop("trader").with_columns(quantity=pl.lit(5.0)), ["order_id"])
    assert con.execute("SELECT quantity FROM orders").fetchall() == [(100.0,)]


def test_a_lake_file_written_before_the_aggressor_column_reads_as_null(
    home: KappaHome, write_csv: WriteCsv
) -> None:
    """A home upgraded from version 13: its trades files lack ``aggressor``; the view and the calibration's
    reader give null for their rows, and a new file beside them keeps its own values."""
    import pyarrow.parquet as pq

    from data.ingest import ingest
    from data.step_inputs import scan_market
    from tests.conftest import query

    t = "2026-11-16T10:00:00-05:00"
    old = write_csv("old.csv", [["symbol", "ts", "price", "size"], ["AAA", t, "10", "100"]])
    ingest(home, "trades", [old])
    (path,) = [
        home.lake_file(r[0]) for r in query(home, "SELECT path FROM lake_files WHERE table_name = 'trades'")
    ]
    pq.write_table(pq.read_table(path).drop(["aggressor"]), path)  # as version 13 wrote it
    with writer(home) as con:
        undo_migrations_after(con, 14)
        con.execute("DELETE FROM schema_version WHERE version = 14")
        con.execute("ALTER TABLE loads DROP COLUMN rows_skipped; ALTER TABLE loads DROP COLUMN format")
        con.execute("ALTER TABLE calibrations DROP COLUMN lee_ready_accuracy")
        con.execute("ALTER TABLE calibrations DROP COLUMN lee_ready_nobs; DROP TABLE skipped_rows")
    new = write_csv(
        "new.csv", [["symbol", "ts", "price", "size", "aggressor"], ["BBB", t, "20", "5", "SELL"]]
    )
    ingest(home, "trades", [new])  # migrates to 14, merges BBB into the old file's date
    assert query(home, "SELECT symbol, aggressor FROM trades ORDER BY symbol") == [
        ("AAA", None),
        ("BBB", "sell"),
    ]
    paths = [
        str(home.lake_file(r[0]))
        for r in query(home, "SELECT path FROM lake_files WHERE table_name = 'trades'")
    ]
    got = scan_market("trades", paths, ["symbol", "aggressor"], None).sort("symbol")
    assert got.rows() == [("AAA", None), ("BBB", "sell")]


def undo_migrations_after(con: duckdb.DuckDBPyConnection, version: int) -> None:
    """Take a database back to ``version`` by undoing the later migrations that only add columns and
    tables or relax NOT NULL (their additions are dropped; a relaxed column stays relaxed, which the later
    migration tolerates)."""
    for ddl in reversed(MIGRATIONS[version:]):
        for table, column in re.findall(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", ddl):
            con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        for table in re.findall(r"CREATE TABLE (\w+)", ddl):
            con.execute(f"DROP TABLE {table}")
    con.execute("DELETE FROM schema_version WHERE version > ?", [version])
