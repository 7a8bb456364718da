"""The inputs of the night's steps: what calibration, attribution and schedules read, lake files for market
data and DuckDB for the rest.

Market data is read from the Parquet files the manifest lists (never through the database views), so the
same reads work in worker processes that must not open the database. Paths are read from the manifest only
inside :func:`data.lake.files.reading_lake`, which the reader holds until the files are read (the plans of
a calibration or an attribution: until their batches are done), so that no load deletes them meanwhile.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl

from calibration.records import CalibrationBatch, MarketWindow
from data.calendar import TradingClock, previous_sessions, session_bounds
from data.home import KappaHome
from data.lake.files import reading_held, reading_lake
from data.schema import FLAG, MARKET_COLUMNS, POLARS_TYPES, file_columns
from data.sql import quote_literal
from data.store import reader
from kappa.errors import InputError
from kappa.units import DEFAULT_CALENDAR


def lake_paths(home: KappaHome, table: str, dates: list[dt.date]) -> dict[dt.date, str]:
    """The current lake file of ``table`` for each of ``dates`` that has one, as a path of ``home``.

    Call it inside :func:`data.lake.files.reading_lake`, held until the files are read (by this process or
    the workers it hands the paths to): a load deletes the files it replaced only when no reader holds it.

    Raises
    ------
    RuntimeError
        This process does not hold :func:`data.lake.files.reading_lake` for ``home``.
    """
    if not reading_held(home):
        raise RuntimeError("lake paths are read inside data.lake.files.reading_lake(home), held until read")
    with reader(home) as con:
        rows = con.execute(
            "SELECT date, path FROM lake_files WHERE table_name = ? AND date IN (SELECT unnest(?))",
            [table, dates],
        ).fetchall()
    return {d: str(home.lake_file(p)) for d, p in rows}


def has_lake_file(home: KappaHome, table: str, day: dt.date) -> bool:
    """Whether ``table`` has a lake file for ``day`` (no path given out: no lock needed)."""
    with reader(home) as con:
        row = con.execute(
            "SELECT count(*) FROM lake_files WHERE table_name = ? AND date = ?", [table, day]
        ).fetchone()
    return bool(row and row[0])


EMPTY_SESSIONS = pl.DataFrame(
    schema={"date": pl.Date, "open_ts": pl.Datetime("ns"), "close_ts": pl.Datetime("ns")}
)


def scan_market(table: str, paths: list[str], columns: list[str], symbols: list[str] | None) -> pl.DataFrame:
    """Read ``columns`` of the lake files ``paths`` of ``table``: all symbols for None, else only ``symbols``
    (row groups are pruned). With no file or no row, an empty frame with the columns' types.

    Rows a tape-cleaning rule flags (:mod:`data.cleaning`) are left out: every estimate and benchmark reads
    the market through here."""
    types = dict(MARKET_COLUMNS[table])
    empty = pl.DataFrame(schema={c: POLARS_TYPES[types[c]] for c in columns})
    if not paths or symbols == []:
        return empty
    groups: dict[frozenset[str], list[str]] = {}
    for p in paths:  # files written before a column existed (flag, aggressor) lack it
        groups.setdefault(file_columns(p) & {FLAG, *columns}, []).append(p)
    scans = []
    for held, group in groups.items():
        lf = pl.scan_parquet(group)
        if FLAG in held:  # a file written before flags has none: every row of it counts
            lf = lf.filter(pl.col(FLAG).is_null())
        scans.append(
            lf.select(
                pl.col(c) if c in held else pl.lit(None, dtype=POLARS_TYPES[types[c]]).alias(c)
                for c in columns
            )
        )
    lf = pl.concat(scans) if len(scans) > 1 else scans[0]
    if symbols is not None:
        lf = lf.filter(pl.col("symbol").is_in(symbols))
    out = lf.collect().rechunk()  # one chunk a column: every select realigns misaligned chunks otherwise
    return out if out.height else empty


def quoted_symbols(paths: list[str], symbols: list[str] | None = None) -> list[str]:
    """The distinct symbols of the quote files ``paths`` (of ``symbols`` only, when given).

    DuckDB reads the dictionary-encoded column without building a string per row: about a sixth of the
    time of reading the column into polars (100 M quotes: 0.2 s against 1.2 s).
    """
    if not paths or symbols == []:
        return []
    con = duckdb.connect(":memory:")
    try:
        where = "WHERE symbol IN (SELECT unnest(?))" if symbols is not None else ""
        rows = con.execute(
            f"SELECT DISTINCT symbol FROM read_parquet([{', '.join(quote_literal(p) for p in paths)}]) {where}",
            [symbols] if symbols is not None else [],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def read_window_inputs(
    home: KappaHome,
    as_of: dt.date,
    lookback_days: int,
    garch_days: int,
    symbols: list[str] | None = None,
    calendar: str = DEFAULT_CALENDAR,
) -> CalibrationBatch:
    """The database's part of a calibration as of ``as_of`` and the lake files of its market data: the
    batch of every symbol with quotes in the window or a daily close up to ``as_of`` (of ``symbols`` only,
    when given), to be cut into batches (:meth:`calibration.records.CalibrationBatch.batches`).

    The intraday window is the ``lookback_days`` sessions ending on ``as_of`` (those with quotes loaded);
    the daily history is the last ``garch_days`` + 1 closes up to ``as_of``; fills are those of the window.
    Call it inside :func:`data.lake.files.reading_lake`, held until the batch's files are read.
    """
    dates = previous_sessions(as_of, lookback_days, calendar)
    qpaths = lake_paths(home, "quotes", dates)
    tpaths = lake_paths(home, "trades", dates)
    have = sorted(qpaths)
    sessions = (
        session_bounds(have[0], have[-1], calendar).filter(pl.col("date").is_in(have))
        if have
        else EMPTY_SESSIONS
    )
    of_orders = "AND o.symbol IN (SELECT unnest(?))" if symbols else ""
    of_daily = "AND symbol IN (SELECT unnest(?))" if symbols else ""
    with reader(home) as con:
        start = sessions["open_ts"].min() if sessions.height else None
        end = sessions["close_ts"].max() if sessions.height else None
        fills = con.sql(
            f"""SELECT f.order_id, o.symbol, o.side, f.ts, f.price, f.quantity, coalesce(f.fee_usd, 0) AS fee_usd,
                       o.arrival_ts
                FROM fills f JOIN orders o USING (order_id)
                WHERE f.ts BETWEEN ? AND ? {of_orders} ORDER BY o.symbol, f.order_id, f.ts""",
            params=[start, end, *([symbols] if symbols else [])],
        ).pl()
        daily = con.sql(
            f"""SELECT symbol, date, close, volume FROM daily WHERE date <= ? {of_daily}
                QUALIFY row_number() OVER (PARTITION BY symbol ORDER BY date DESC) <= ?
                ORDER BY symbol, date""",
            params=[as_of, *([symbols] if symbols else []), garch_days + 1],
        ).pl()
    quote_paths = [qpaths[d] for d in have]
    quoted = quoted_symbols(quote_paths, symbols)
    universe = sorted(set(quoted) | set(daily["symbol"].unique().to_list()))
    trade_paths = [tpaths[d] for d in sorted(tpaths)]
    return CalibrationBatch(
        as_of, lookback_days, tuple(universe), sessions, tuple(quote_paths), tuple(trade_paths), fills, daily,
        calendar,
    )  # fmt: skip


def read_market(batch: CalibrationBatch) -> MarketWindow:
    """The window of ``batch`` with the quotes and trades of its symbols read from its lake files."""
    symbols = list(batch.symbols)
    quotes = scan_market("quotes", list(batch.quote_paths), ["symbol", "date", "ts", "bid", "ask"], symbols)
    trades = scan_market(
        "trades", list(batch.trade_paths), ["symbol", "date", "ts", "price", "size", "aggressor"], symbols
    )
    return MarketWindow(
        batch.as_of, batch.lookback_days, batch.sessions, quotes, trades, batch.fills, batch.daily,
        TradingClock(batch.calendar),
    )  # fmt: skip


def read_window(
    home: KappaHome,
    as_of: dt.date,
    lookback_days: int,
    garch_days: int,
    symbols: list[str] | None = None,
    calendar: str = DEFAULT_CALENDAR,
) -> MarketWindow:
    """Everything a calibration as of ``as_of`` needs, market data included (see :func:`read_window_inputs`)."""
    with reading_lake(home):
        return read_market(read_window_inputs(home, as_of, lookback_days, garch_days, symbols, calendar))


def read_trades(
    home: KappaHome, as_of: dt.date, lookback_days: int, symbols: list[str], calendar: str = DEFAULT_CALENDAR
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The sessions (``date, open_ts, close_ts``) and trades (``symbol, date, ts, size``) of ``symbols`` in
    the ``lookback_days`` sessions ending on ``as_of``, from the lake files."""
    dates = previous_sessions(as_of, lookback_days, calendar)
    with reading_lake(home):
        tpaths = lake_paths(home, "trades", dates)
        have = sorted(tpaths)
        if not have:
            return EMPTY_SESSIONS, scan_market("trades", [], ["symbol", "date", "ts", "size"], symbols)
        trades = scan_market("trades", [tpaths[d] for d in have], ["symbol", "date", "ts", "size"], symbols)
    sessions = session_bounds(have[0], have[-1], calendar).filter(pl.col("date").is_in(have))
    return sessions, trades


@dataclass(frozen=True, slots=True)
class AttributionInputs:
    """What the attribution of one day needs (see ``tca.attribution.attribute_orders`` for the columns);
    the market data stays in the lake files ``quote_paths`` / ``trade_paths`` until a worker reads it."""

    date: dt.date
    orders: pl.DataFrame
    fills: pl.DataFrame
    sessions: pl.DataFrame
    closes: pl.DataFrame
    params: pl.DataFrame
    quote_paths: list[str]
    trade_paths: list[str]


ATTRIBUTION_QUOTE_COLUMNS = ["symbol", "ts", "bid", "ask"]
ATTRIBUTION_TRADE_COLUMNS = ["symbol", "ts", "price", "size"]


def read_attribution_inputs(
    home: KappaHome, date: dt.date, calendar: str = DEFAULT_CALENDAR
) -> AttributionInputs:
    """The orders that arrived, traded or were working in the session ``date``, their fills up to its close,
    the lake files of the market data from the first arrival to that close, the day's closing mids, and for
    each symbol the latest usable calibration *before* ``date`` (status ``ok`` or ``partial``: what a
    pre-trade model would have had; a night whose calibration ``failed`` or lacked data is passed over).

    Working in the session means: arrived by its close, ends after the previous session's close, and not
    already filled in full by then (an order that completed on an earlier session was attributed then).
    Call it inside :func:`data.lake.files.reading_lake`, held until the lake files are read.
    """
    days = session_bounds(date - dt.timedelta(days=20), date, calendar)
    if not days.height or days["date"][-1] != date:
        raise InputError(f"{date} is not a session of {calendar}")
    open_ts, close_ts = days["open_ts"][-1], days["close_ts"][-1]
    prev_close = days["close_ts"][-2] if days.height > 1 else open_ts
    with reader(home) as con:
        orders = con.sql(
            """WITH today AS (SELECT DISTINCT order_id FROM fills WHERE ts BETWEEN ? AND ?),
                    before AS (SELECT order_id, sum(quantity) AS shares FROM fills WHERE ts <= ? GROUP BY ALL)
               SELECT order_id, symbol, side, quantity, arrival_ts, end_ts, decision_price, broker, algo, trader
               FROM orders LEFT JOIN before USING (order_id)
               WHERE date = ? OR order_id IN (SELECT order_id FROM today)
                  OR (arrival_ts <= ? AND end_ts > ? AND coalesce(before.shares, 0) < quantity)
               ORDER BY order_id""",
            params=[open_ts, close_ts, prev_close, date, close_ts, prev_close],
        ).pl()
        fills = con.sql(
            """SELECT fill_id, order_id, ts, price, quantity, fee_usd, venue FROM fills
               WHERE order_id IN (SELECT unnest(?)) AND ts <= ? ORDER BY order_id, ts""",
            params=[orders["order_id"].to_list(), close_ts],
        ).pl()
        symbols = sorted(set(orders["symbol"].to_list()))
        closes = con.sql(
            "SELECT symbol, close AS close_mid_usd FROM daily WHERE date = ? AND symbol IN (SELECT unnest(?))",
            params=[date, symbols],
        ).pl()
        params = con.sql(
            """SELECT symbol, as_of AS calibration_as_of, sigma_usd, gamma, gamma_se, gamma_status, eta,
                      epsilon_usd, sigma_overnight_usd
               FROM calibrations
               WHERE as_of < ? AND symbol IN (SELECT unnest(?)) AND status IN ('ok', 'partial')
               QUALIFY row_number() OVER (PARTITION BY symbol ORDER BY as_of DESC) = 1""",
            params=[date, symbols],
        ).pl()
    first = min([date, *(ts.date() for ts in orders["arrival_ts"].to_list() if ts is not None)])
    sessions = session_bounds(first, date, calendar)
    dates = sessions["date"].to_list()
    qpaths, tpaths = lake_paths(home, "quotes", dates), lake_paths(home, "trades", dates)
    return AttributionInputs(
        date, orders, fills, sessions, closes, params, list(qpaths.values()), list(tpaths.values())
    )


LATEST_SCHEDULES = """
    SELECT order_id, schedule_id, period, ts, holdings_shares, shares FROM schedules
    WHERE order_id IN (SELECT unnest(?))
    QUALIFY dense_rank() OVER (
        PARTITION BY order_id ORDER BY created_at DESC, strategy = 'replanned' DESC, schedule_id DESC
    ) = 1
    ORDER BY order_id, period
"""
"""Each order's latest saved schedule: the last saved, and of one run (a schedule saved with its re-plan,
``kappa schedule --replan-at K --save``) the re-plan, the later decision; the id breaks any other tie."""


def read_latest_schedules(home: KappaHome, order_ids: list[str]) -> pl.DataFrame:
    """The latest schedule saved for each of ``order_ids`` (by ``created_at``, then ``schedule_id``; any
    strategy): ``order_id, schedule_id, period, ts, holdings_shares, shares`` by order and period, the
    schedule each order's execution is tracked against (``tca.tracking``)."""
    with reader(home) as con:
        return con.sql(LATEST_SCHEDULES, params=[order_ids]).pl()


def read_pending_orders(home: KappaHome, date: dt.date, calendar: str = DEFAULT_CALENDAR) -> pl.DataFrame:
    """The next session's pending orders: those arriving after the close of ``date`` and by the close of
    the session after it (``order_id, symbol, side, quantity, arrival_ts, end_ts, risk_aversion``)."""
    days = session_bounds(date, date + dt.timedelta(days=15), calendar)
    if days.height < 2 or days["date"][0] != date:
        raise InputError(f"{date} is not a session of {calendar}")
    with reader(home) as con:
        return con.sql(
            """SELECT order_id, symbol, side, quantity, arrival_ts, end_ts, risk_aversion FROM orders
               WHERE arrival_ts > ? AND arrival_ts <= ? ORDER BY order_id""",
            params=[days["close_ts"][0], days["close_ts"][1]],
        ).pl()
