"""The Prefect flows end to end on simulated nights: nightly, reruns, a failing symbol, backfill resume,
Dask, and the served deployment's schedule.

The simulated sessions are delivered as a desk's drop folder would hold them (``flows.demo.arrange_inbox``):
each evening the day's quotes, trades and fills and the next session's orders.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from calibration.window import MarketWindow, calibrate_window
from data.calendar import TradingClock
from data.home import KappaHome
from data.step_inputs import read_window
from flows.demo import arrange_inbox
from simulator import SimConfig, SymbolParams, write_dataset
from tests.conftest import query

SYMS = (
    SymbolParams("AAA", 50.0, 0.9, 4e-7, 2e-6, 0.02, 600_000, quotes_per_day=1_500),
    SymbolParams("BBB", 120.0, 2.5, 1e-6, 5e-6, 0.03, 300_000, quotes_per_day=1_500),
    SymbolParams("CCC", 20.0, 0.4, 2e-7, 1e-6, 0.01, 900_000, quotes_per_day=1_500),
)
START = dt.date(2026, 11, 16)
NIGHTS = [dt.date(2026, 11, 16), dt.date(2026, 11, 17), dt.date(2026, 11, 18)]
LOOKBACK = 3
NY = ZoneInfo("America/New_York")

# what users see: every result table without run ids and creation times
RESULT_QUERIES = {
    "calibrations": "SELECT * EXCLUDE (run_id) FROM calibrations ORDER BY ALL",
    "attribution": "SELECT * EXCLUDE (run_id) FROM attribution ORDER BY ALL",
    "schedules": "SELECT * EXCLUDE (run_id, created_at) FROM schedules ORDER BY ALL",
    "quotes": "SELECT * FROM quotes ORDER BY ALL",
    "orders": "SELECT * EXCLUDE (run_id) FROM orders ORDER BY ALL",
    "fills": "SELECT * EXCLUDE (run_id) FROM fills ORDER BY ALL",
    "quarantine": "SELECT * EXCLUDE (run_id, quarantined_at) FROM quarantine ORDER BY ALL",
}


def differences(
    a: list[tuple[object, ...]], b: list[tuple[object, ...]], rel: float = 0.0
) -> list[tuple[int, int, object, object]]:
    """(row, column, left, right) of every cell that differs, floats by more than ``rel`` relative."""
    if len(a) != len(b):
        return [(-1, -1, len(a), len(b))]

    def same(x: object, y: object) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return math.isclose(x, y, rel_tol=rel, abs_tol=0.0) or x == y
        return x == y

    return [(i, j, x, y) for i, (ra, rb) in enumerate(zip(a, b, strict=True))
            for j, (x, y) in enumerate(zip(ra, rb, strict=True)) if not same(x, y)]  # fmt: skip


def results(home: KappaHome, where: dict[str, str] | None = None) -> dict[str, list[tuple[object, ...]]]:
    out = {}
    for table, sql in RESULT_QUERIES.items():
        if where and table in where:
            sql = sql.replace(" ORDER BY", f" WHERE {where[table]} ORDER BY")
        out[table] = query(home, sql)
    return out


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulated sessions (three nights and tomorrow), written once."""
    root = tmp_path_factory.mktemp("sim")
    cfg = SimConfig(SYMS, START, len(NIGHTS) + 1, orders_per_symbol_day=6, history_days=120, seed=11)
    write_dataset(cfg, root)
    return root


@pytest.fixture
def fresh_home(simulated: Path, tmp_path: Path, prefect_api: str) -> KappaHome:
    """A new Kappa home whose inbox holds the three nights (flows report to the session's server)."""
    home = KappaHome.resolve(tmp_path / "home").ensure()
    dates = [*NIGHTS, dt.date(2026, 11, 19)]
    assert arrange_inbox(home, simulated, dates) == NIGHTS
    return home


@pytest.fixture(scope="module")
def two_nights(simulated: Path, tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> KappaHome:
    """A home after the nightly flow ran for the first two nights (thread-pool task runner)."""
    from flows.nightly import nightly

    home = KappaHome.resolve(tmp_path_factory.mktemp("nightly") / "home").ensure()
    arrange_inbox(home, simulated, [*NIGHTS, dt.date(2026, 11, 19)])
    for day in NIGHTS[:2]:
        state = nightly(date=day, home=str(home.root), lookback_days=LOOKBACK, return_state=True)
        assert state.is_completed() and state.name == "Completed", state
    return home


# --------------------------------------------------------------------------------- the steps, without Prefect


def test_inbox_files_are_sorted_by_table_and_the_rest_is_reported(tmp_path: Path) -> None:
    from data.inbox import inbox_files

    for name in ("quotes.csv", "Quotes-ARCA.parquet", "orders-next-session.csv", "fills.csv.gz", "notes.txt",
                 "trades.json", "daily.csv", "executions_2026-11-20.csv", "trades_blotter.csv", "NBBO.psv",
                 "orders_and_fills.csv", "taq.csv"):  # fmt: skip
        (tmp_path / name).write_text("x")
    by_table, ignored = inbox_files(tmp_path)
    assert list(by_table) == ["daily", "quotes", "orders", "fills"]  # the load order: fills after orders
    assert [p.name for p in by_table["quotes"]] == ["NBBO.psv", "Quotes-ARCA.parquet", "quotes.csv"]
    # a desk's own executions are fills, never market prints, whatever else the name says
    assert [p.name for p in by_table["fills"]] == [
        "executions_2026-11-20.csv",
        "fills.csv.gz",
        "trades_blotter.csv",
    ]
    assert ignored == [
        "notes.txt: its name names no table",
        "orders_and_fills.csv: its name names orders and fills: rename it",
        "taq.csv: its name names no table",
        "trades.json: not a CSV or Parquet file",
    ]
    assert inbox_files(tmp_path / "missing") == ({}, [])


def test_pending_order_schedules_are_the_first_order_optimum() -> None:
    """A pending order's schedule solves the first-order conditions of E + λV (a dense solve written out
    in the tests, not the closed form), over its window in session time, with its own λ."""
    from flows.schedules import order_schedules
    from schedule import MarketParams, Order
    from tests.schedule.conftest import brute_force_utility, first_order_holdings

    cal = pl.DataFrame({"symbol": ["AAA", "BBB"], "as_of": [dt.date(2026, 11, 25)] * 2,
                        "sigma_usd": [0.9, 2.5], "gamma": [4e-7, -3e-7], "eta": [2e-6, 5e-6],
                        "epsilon_usd": [0.02, 0.03], "status": ["ok", "ok"]})  # fmt: skip
    # AAA: Friday 2026-11-27 (an early close, 13:00) 12:00 to Monday 11:00: 1 h + 1.5 h = 2.5 h of session
    orders = pl.DataFrame({
        "order_id": ["o1", "o2", "o3"], "symbol": ["AAA", "BBB", "ZZZ"], "side": ["buy", "sell", "buy"],
        "quantity": [1e5, 5e4, 1e3],
        "arrival_ts": [dt.datetime(2026, 11, 27, 17), dt.datetime(2026, 11, 27, 14, 30), dt.datetime(2026, 11, 27, 15)],
        "end_ts": [dt.datetime(2026, 11, 30, 16), dt.datetime(2026, 11, 27, 18), dt.datetime(2026, 11, 27, 16)],
        "risk_aversion": [2e-6, None, 1e-6],
    })  # fmt: skip
    out = order_schedules(orders, cal, "run-x")
    assert out.skipped == [("o3", "no calibration of ZZZ")]
    rows = out.rows.sort("order_id", "period")
    o1 = rows.filter(pl.col("order_id") == "o1")
    horizon = 2.5 / 6.5
    assert o1["horizon_days"][0] == pytest.approx(horizon) and o1.height - 1 == round(78 * horizon) == 30
    order = Order(1e5, "buy", horizon, 30)
    params = MarketParams(0.9, 4e-7, 2e-6, 0.02)
    x = first_order_holdings(order, params, 2e-6)
    np.testing.assert_allclose(o1["holdings_shares"].to_numpy(), x, rtol=0, atol=1e-6 * 1e5)
    assert o1["expected_cost_usd"][0] + 2e-6 * o1["variance_usd2"][0] == pytest.approx(
        brute_force_utility(x, order, params, 2e-6), rel=1e-9
    )
    # the clock: first period ends 5 min after arrival, the last at the end (Monday 16:00 UTC)
    assert o1["ts"][1] == dt.datetime(2026, 11, 27, 17, 5) and o1["ts"][-1] == dt.datetime(2026, 11, 30, 16)
    # BBB: no λ given, so TWAP; its negative γ estimate is used as 0, which the row shows
    o2 = rows.filter(pl.col("order_id") == "o2")
    assert o2["risk_aversion"][0] == 0.0 and o2["gamma"][0] == 0.0
    np.testing.assert_allclose(np.diff(o2["holdings_shares"].to_numpy()), -5e4 / (o2.height - 1))


def test_a_night_whose_every_attribution_batch_failed_still_has_a_row_per_order() -> None:
    from flows.attribute import AttributionBatch, failed_rows, join_rows
    from tca.attribution import ATTRIBUTION_COLUMNS, TRACKING_COLUMNS

    orders = pl.DataFrame({"order_id": ["o1", "o2"], "symbol": ["AAA", "AAA"], "side": ["buy", "sell"],
                           "quantity": [100.0, 50.0], "arrival_ts": [dt.datetime(2026, 11, 16, 15)] * 2,
                           "end_ts": [dt.datetime(2026, 11, 16, 20)] * 2, "decision_price": [None, None],
                           "broker": ["b", "b"], "algo": [None, None], "trader": [None, None]})  # fmt: skip
    fills = pl.DataFrame({"order_id": ["o1"], "quantity": [40.0]})
    empty = pl.DataFrame()
    batch = AttributionBatch(NIGHTS[0], ("AAA",), orders, fills, empty, empty, empty, (), ())
    rows = join_rows([failed_rows(batch, ValueError("boom"))])
    assert rows.columns == [*ATTRIBUTION_COLUMNS, "horizon_days", "reason", *TRACKING_COLUMNS]
    assert rows.select(TRACKING_COLUMNS).null_count().row(0) == (2,) * len(TRACKING_COLUMNS)
    assert rows.select("order_id", "filled_shares", "status", "reason").rows() == [
        ("o1", 40.0, "failed", "ValueError: boom"), ("o2", 0.0, "failed", "ValueError: boom")
    ]  # fmt: skip


def test_the_model_judges_orders_with_the_gamma_a_schedule_would_use() -> None:
    """One γ rule: a wrong-sign estimate is judged as 0 (E keeps its permanent part ≥ 0), a positive one as
    estimated, significant or not; no estimate stays none (the calibration is incomplete)."""
    from flows.attribute import model_params

    cal = pl.DataFrame({"symbol": ["A", "B", "C", "D"], "calibration_as_of": [NIGHTS[0]] * 4,
                        "sigma_usd": [1.0] * 4, "gamma": [-3e-6, 3e-6, 1e-7, None],
                        "gamma_se": [8e-6, 1e-7, 1e-6, None],
                        "gamma_status": ["wrong_sign", "ok", "not_significant", "insufficient_data"],
                        "eta": [1e-6] * 4, "epsilon_usd": [0.01] * 4})  # fmt: skip
    used = model_params(cal)
    assert used.columns == ["symbol", "calibration_as_of", "sigma_usd", "gamma", "eta", "epsilon_usd"]
    assert used["gamma"].to_list() == [0.0, 3e-6, 1e-7, None]


# --------------------------------------------------------------------------------- the flows


def test_nightly_writes_every_result_of_the_night(two_nights: KappaHome) -> None:
    h = two_nights
    day = NIGHTS[1]
    runs = query(h, "SELECT status, count(*) FROM runs WHERE command = 'nightly' GROUP BY ALL")
    assert runs == [("success", 2)]
    # calibrations: one row per symbol and night, equal to a calibration of the whole window at once
    cal = pl.DataFrame(query(h, f"SELECT symbol, status FROM calibrations WHERE as_of = '{day}' ORDER BY 1"),
                       orient="row", schema=["symbol", "status"])  # fmt: skip
    # two sessions give γ no significance: partial, and the reason says so
    assert cal["symbol"].to_list() == ["AAA", "BBB", "CCC"] and set(cal["status"]) == {"partial"}
    rows = query(h, f"SELECT gamma, gamma_se, gamma_status, reason FROM calibrations WHERE as_of = '{day}'")
    for gamma, se, status, reason in rows:  # |t| < 1.96: of the wrong sign, or positive and not significant
        assert abs(gamma / se) < 1.96 and status == ("wrong_sign" if gamma < 0 else "not_significant"), rows
        assert str(reason).startswith(f"gamma: {status}, γ = {gamma:.1e} ± {se:.1e}"), rows
    w = read_window(h, day, LOOKBACK, 500)
    whole = calibrate_window(
        MarketWindow(day, LOOKBACK, w.sessions, w.quotes, w.trades, w.fills, w.daily, TradingClock())
    )
    from data.store import reader

    with reader(h) as con:
        stored = con.sql(
            f"SELECT {', '.join(whole.columns)} FROM calibrations WHERE as_of = ? ORDER BY symbol",
            params=[day],
        ).pl()
    assert stored.equals(whole.select(stored.columns))
    # attribution: every order of the day, judged with the calibration of the night before
    n_orders = query(h, f"SELECT count(*) FROM orders WHERE date = '{day}'")[0][0]
    att = query(h, f"SELECT count(*), min(calibration_as_of), max(calibration_as_of), count(z_score) "
                   f"FROM attribution WHERE date = '{day}'")[0]  # fmt: skip
    assert att[0] == n_orders > 0 and att[1] == att[2] == NIGHTS[0] and att[3] > 0
    # schedules: every order of the next session, from tonight's calibration, starting at its arrival
    pending = query(h, "SELECT order_id, arrival_ts FROM orders WHERE date = '2026-11-18' ORDER BY 1")
    sched = query(h, "SELECT order_id, min(ts), any_value(as_of), sum(trade_shares), any_value(shares) "
                     "FROM schedules WHERE order_id LIKE '20261118%' GROUP BY 1 ORDER BY 1")  # fmt: skip
    assert [s[0] for s in sched] == [p[0] for p in pending]
    for (_, arrival), (_, first_ts, as_of, traded, shares) in zip(pending, sched, strict=True):
        assert first_ts == arrival and as_of == day and traded == pytest.approx(shares)
    assert (h.reports / day.isoformat() / "report.html").exists()


def _trading_ns(ns: np.ndarray, sessions: pl.DataFrame) -> np.ndarray:
    """Session nanoseconds before each instant (ns since the epoch): Σ over sessions of the part of
    [open, close] before it."""
    opens = sessions["open_ts"].cast(pl.Datetime("ns")).dt.epoch("ns").to_numpy()
    closes = sessions["close_ts"].cast(pl.Datetime("ns")).dt.epoch("ns").to_numpy()
    return np.clip(np.asarray(ns)[:, None] - opens[None, :], 0, (closes - opens)[None, :]).sum(axis=1)


def test_orders_scheduled_the_night_before_are_tracked_against_their_schedule(two_nights: KappaHome) -> None:
    """The first night schedules the second session's orders; the second night tracks their fills against
    those schedules: S(t) recomputed here by interpolating X − x_k in session time (summed over the
    sessions by hand), F(t) from the stored fills, every instant in integer nanoseconds as stored (the
    simulated fills land a few hundred ns after a period end: they belong to the next period)."""
    from data.calendar import session_bounds

    h, day = two_nights, NIGHTS[1]
    sessions = session_bounds(day - dt.timedelta(days=10), day + dt.timedelta(days=10))
    bounds = sessions.filter(pl.col("date") == day).select(pl.col("open_ts", "close_ts").dt.epoch("ns"))
    open_ns, close_ns = bounds.row(0)
    latest = dict(query(h, "SELECT order_id, schedule_id FROM schedules WHERE order_id IS NOT NULL QUALIFY "
                           "dense_rank() OVER (PARTITION BY order_id "
                           "ORDER BY created_at DESC, schedule_id DESC) = 1"))  # fmt: skip
    rows = query(h, f"SELECT order_id, quantity, filled_shares, schedule_id, scheduled_filled_shares, "
                    f"ahead_of_schedule_shares, tracking_error_shares, tracking_error_pct FROM attribution "
                    f"WHERE date = '{day}' ORDER BY 1")  # fmt: skip
    tracked = [r for r in rows if r[0] in latest]
    assert len(tracked) == query(h, f"SELECT count(*) FROM orders WHERE date = '{day}'")[0][0] > 0
    assert all(all(v is None for v in r[3:]) for r in rows if r[0] not in latest)  # the first day's orders
    errors = []
    for order_id, quantity, filled, schedule_id, scheduled, ahead, te, te_pct in tracked:
        assert schedule_id == latest[order_id]
        period, ts, executed, shares = np.array(
            query(h, f"SELECT period, epoch_ns(ts), shares - holdings_shares, shares FROM schedules "
                     f"WHERE schedule_id = '{schedule_id}' ORDER BY period"), dtype=object,
        ).T  # fmt: skip
        ts = ts.astype(np.int64)
        fills = query(h, f"SELECT epoch_ns(ts), quantity FROM fills WHERE order_id = '{order_id}' "
                         f"AND epoch_ns(ts) <= {close_ns} ORDER BY ts")  # fmt: skip
        fts = np.array([f[0] for f in fills], dtype=np.int64)
        q = np.array([f[1] for f in fills], dtype=float)

        def s(
            at: np.ndarray, ts: np.ndarray = ts, executed: np.ndarray = executed, x: float = shares[0]
        ) -> np.ndarray:
            theta_k = _trading_ns(ts, sessions)
            return np.interp(
                _trading_ns(at, sessions), theta_k, executed.astype(float), left=0.0, right=float(x)
            )

        then = fts[-1] if q.sum() >= quantity else close_ns
        assert filled == pytest.approx(q.sum())
        assert scheduled == pytest.approx(s(np.array([then]))[0], rel=1e-9, abs=1e-6)
        assert ahead == pytest.approx(filled - scheduled, rel=1e-9, abs=1e-6)
        ends = ts[(period >= 1) & (ts >= open_ns) & (ts <= close_ns)]
        filled_by = np.array([q[fts <= e].sum() for e in ends])
        rms = float(np.sqrt(np.mean((filled_by - s(ends)) ** 2)))
        assert ends.size > 0 and te == pytest.approx(rms, rel=1e-9, abs=1e-6)
        assert te_pct == pytest.approx(100 * rms / quantity, rel=1e-9)
        errors.append(te_pct)
    assert 0 < np.median(errors) < 100


def test_nightly_publishes_artifacts(two_nights: KappaHome) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = {}
        for key in ("calibrations", "nightly-summary", "tca-report"):
            arts = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                sort=ArtifactSort.CREATED_DESC,
            )
            assert len(arts) >= 2, key  # a version per night
            found[key] = arts[0]
    summary = str(found["nightly-summary"].data)
    assert "Cost of the day" in summary and "model z" in summary and "| total |" in summary
    report = str(found["tca-report"].data)
    assert found["tca-report"].type == "markdown" and "file://" not in report  # the UI opens no file:// link
    assert f"`{two_nights.reports}/{NIGHTS[1]}/report.html`" in report
    assert "## Costliest orders" in report and "Slippage to interval VWAP (bps)" in report
    assert "sigma_usd" in str(found["calibrations"].data)


def test_a_rerun_leaves_identical_tables(two_nights: KappaHome) -> None:
    from flows.nightly import nightly

    before = results(two_nights)
    state = nightly(date=NIGHTS[1], home=str(two_nights.root), lookback_days=LOOKBACK, return_state=True)
    assert state.name == "Completed"
    assert results(two_nights) == before
    assert query(two_nights, "SELECT count(*) FROM runs WHERE command = 'nightly'") == [(3,)]


def test_a_night_applies_and_stores_the_thresholds_it_is_given(fresh_home: KappaHome) -> None:
    """At t ≥ 0 every positive γ is significant; with more fills needed than a night has, η is never fitted
    from fills. The night's run stores the thresholds it was given."""
    import json

    from flows.night_settings import Thresholds
    from flows.nightly import nightly

    th = Thresholds(gamma_t_min=0.0, min_fills=10_000)
    h = str(fresh_home.root)
    state = nightly(date=NIGHTS[0], home=h, lookback_days=LOOKBACK, thresholds=th, return_state=True)
    assert state.is_completed(), state
    rows = query(fresh_home, "SELECT gamma, gamma_status, eta_source, eta_status, reason FROM calibrations")
    assert len(rows) == 3
    for gamma, gamma_status, eta_source, _, _ in rows:
        assert gamma is not None and gamma_status == ("wrong_sign" if gamma < 0 else "ok"), rows
        assert eta_source != "fills", rows
    fitted = [r for r in rows if r[3] is not None]  # symbols with own fills in the window
    assert fitted and all(
        r[3] == "insufficient_data" and "; 10000 from 3 orders needed)" in r[4] for r in fitted
    )
    ((stored,),) = query(fresh_home, "SELECT parameters FROM runs WHERE command = 'nightly'")
    assert json.loads(stored)["thresholds"] == th.model_dump()


def test_a_failing_symbol_is_recorded_and_the_night_ends_in_a_warning(
    fresh_home: KappaHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.attribute
    import flows.calibrate
    from flows.nightly import nightly

    real_cal, real_att = flows.calibrate.calibrate_symbols, flows.attribute.attribute_orders

    def cal_fails_on_bbb(window: MarketWindow, *args: Any, **kwargs: Any) -> pl.DataFrame:
        if "BBB" in window.daily["symbol"].to_list():
            raise RuntimeError("injected calibration failure")
        return real_cal(window, *args, **kwargs)

    def att_fails_on_bbb(orders: pl.DataFrame, *args: Any) -> pl.DataFrame:
        if "BBB" in orders["symbol"].to_list():
            raise ZeroDivisionError("injected attribution failure")
        return real_att(orders, *args)

    monkeypatch.setattr(flows.calibrate, "calibrate_symbols", cal_fails_on_bbb)
    monkeypatch.setattr(flows.attribute, "attribute_orders", att_fails_on_bbb)
    state = nightly(date=NIGHTS[0], home=str(fresh_home.root), lookback_days=LOOKBACK, return_state=True)
    assert state.is_completed() and state.name == "Warning"
    assert "calibration of BBB failed: RuntimeError: injected calibration failure" in state.message
    result = state.result()
    assert result.failed_symbols == [
        ("BBB", "calibration", "RuntimeError: injected calibration failure"),
        ("BBB", "attribution", "ZeroDivisionError: injected attribution failure"),
    ]
    h = fresh_home
    rows = query(h, "SELECT symbol, status, reason FROM calibrations ORDER BY 1")
    assert [r[:2] for r in rows] == [("AAA", "partial"), ("BBB", "failed"), ("CCC", "partial")]
    assert rows[1][2] == "RuntimeError: injected calibration failure"
    assert all(str(r[2]).startswith("gamma: not_significant") for r in (rows[0], rows[2]))
    att = query(
        h, "SELECT symbol, status, model_status, reason, count(*) FROM attribution GROUP BY ALL ORDER BY 1"
    )
    n_bbb = query(h, f"SELECT count(*) FROM orders WHERE symbol = 'BBB' AND date = '{NIGHTS[0]}'")[0][0]
    assert ("BBB", "failed", "failed", "ZeroDivisionError: injected attribution failure", n_bbb) in att
    assert all(r[1] == "ok" for r in att if r[0] != "BBB")
    assert query(h, "SELECT status FROM runs WHERE command = 'nightly'") == [("warning",)]


def test_backfill_resumes_after_a_failure_without_redoing_finished_nights(
    fresh_home: KappaHome, two_nights: KappaHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.nightly as fn
    from flows.backfill import backfill

    real_report = fn.report_task
    at_report: list[object] = []

    @fn.task(name="render report")
    def report_fails_on_second_night(home: KappaHome, day: dt.date, calendar: str = "XNYS") -> object:
        at_report.append(
            query(home, "SELECT status FROM runs WHERE command = 'nightly' ORDER BY started_at DESC LIMIT 1")[
                0
            ][0]
        )
        if day == NIGHTS[1]:
            raise OSError("injected: the report disk is full")
        return real_report.fn(home, day, calendar=calendar)

    h = str(fresh_home.root)
    monkeypatch.setattr(fn, "report_task", report_fails_on_second_night)
    state = backfill(start=NIGHTS[0], end=NIGHTS[-1], home=h, lookback_days=LOOKBACK, return_state=True)
    assert state.is_failed() and f"nightly {NIGHTS[1]} ended Failed" in state.message
    status = query(fresh_home, "SELECT json_extract_string(parameters, '$.date'), status FROM runs "
                               "WHERE command = 'nightly' ORDER BY started_at")  # fmt: skip
    assert status == [(str(NIGHTS[0]), "success"), (str(NIGHTS[1]), "failed")]
    assert at_report == [
        "running",
        "running",
    ]  # the rows are written, the night is not done without its report
    monkeypatch.setattr(fn, "report_task", real_report)
    done = backfill(start=NIGHTS[0], end=NIGHTS[-1], home=h, lookback_days=LOOKBACK)
    assert [r.date for r in done] == NIGHTS[1:]
    status = query(fresh_home, "SELECT json_extract_string(parameters, '$.date'), status FROM runs "
                               "WHERE command = 'nightly' ORDER BY started_at")  # fmt: skip
    assert status == [(str(NIGHTS[0]), "success"), (str(NIGHTS[1]), "failed"),
                      (str(NIGHTS[1]), "success"), (str(NIGHTS[2]), "success")]  # fmt: skip
    # the resumed nights equal nights run straight through
    first_two = {"calibrations": "as_of <= '2026-11-17'", "attribution": "date <= '2026-11-17'",
                 "schedules": "as_of <= '2026-11-17'"}  # fmt: skip
    mine, straight = results(fresh_home, first_two), results(two_nights, first_two)
    for table in ("calibrations", "attribution", "schedules"):
        assert mine[table] == straight[table], table


def test_the_night_on_a_dask_cluster_equals_the_thread_pool_run(
    fresh_home: KappaHome, two_nights: KappaHome
) -> None:
    """Two worker processes of a real ``LocalCluster``, reporting to the session's Prefect server.

    Every number equals the thread-pool run's, bit for bit (each batch runs BLAS on one thread).
    """
    from distributed import LocalCluster
    from prefect_dask import DaskTaskRunner

    from flows.nightly import nightly

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        runner = DaskTaskRunner(address=cluster.scheduler_address)
        state = nightly.with_options(task_runner=runner)(
            date=NIGHTS[0], home=str(fresh_home.root), lookback_days=LOOKBACK, batch_symbols=1, return_state=True
        )  # fmt: skip
        assert state.name == "Completed", state
        workers = set(cluster.scheduler_info["workers"])
    assert len(workers) == 2
    night_one = {"calibrations": f"as_of = '{NIGHTS[0]}'", "attribution": f"date = '{NIGHTS[0]}'",
                 "schedules": f"as_of = '{NIGHTS[0]}'"}  # fmt: skip
    mine, threads = results(fresh_home, night_one), results(two_nights, night_one)
    for table in ("calibrations", "attribution", "schedules"):
        diff = differences(mine[table], threads[table])
        assert mine[table] and not diff, (table, diff[:5])


def test_the_preview_of_a_cron_with_both_day_fields_is_what_prefect_schedules() -> None:
    from flows.deploy import cron_day_fields_warning, nightly_deployment, upcoming_nights

    # "*/2" in the day of month and "1-5" in the day of week: Prefect (croniter, day_or=True) fires on days
    # matching either, by hand from Friday 2026-12-11: Fri 11 (odd, weekday), Sun 13 (odd), Mon 14 .. Thu 17
    # (weekdays); Sat 12 is even. Debian's rule (both), which the preview followed, gave Fri 11, Tue 15,
    # Thu 17, Mon 21, Wed 23.
    cron = "30 18 */2 * 1-5"
    (sched,) = nightly_deployment(KappaHome.resolve(Path("unused")), cron=cron).schedules
    assert sched.schedule.day_or is True  # the deployment keeps Prefect's default: the preview must follow it
    nights = upcoming_nights(
        cron, "America/New_York", count=6, after=dt.datetime(2026, 12, 11, 12, tzinfo=NY)
    )
    assert [w for w, _ in nights] == [
        dt.datetime(2026, 12, d, 18, 30, tzinfo=NY) for d in (11, 13, 14, 15, 16, 17)
    ]
    assert [s for _, s in nights] == [dt.date(2026, 12, 11), None] + [
        dt.date(2026, 12, d) for d in (14, 15, 16, 17)
    ]
    warning = cron_day_fields_warning(cron)
    assert warning is not None and "either" in warning and "*/2" in warning and "1-5" in warning
    assert cron_day_fields_warning("30 18 * * 1-5") is None and cron_day_fields_warning("0 6 1 * *") is None


def test_the_served_deployment_runs_weekday_evenings_and_skips_holidays(
    tmp_path: Path, prefect_api: str
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow
    from prefect.states import Scheduled

    from flows.deploy import nightly_deployment, upcoming_nights
    from flows.nightly import nightly

    home = KappaHome.resolve(tmp_path / "home")
    dep = nightly_deployment(home)
    (sched,) = dep.schedules
    assert sched.schedule.cron == "30 18 * * 1-5" and sched.schedule.timezone == "America/New_York"
    assert dep.parameters == {"home": str(home.root), "calendar": "XNYS"}  # date: the session just closed
    # Thanksgiving week 2026: Thursday 26 is a holiday, Friday 27 an early close
    nights = upcoming_nights(
        "30 18 * * 1-5", "America/New_York", after=dt.datetime(2026, 11, 23, 12, tzinfo=NY)
    )
    assert [(w.date(), s) for w, s in nights] == [
        (dt.date(2026, 11, 23), dt.date(2026, 11, 23)),
        (dt.date(2026, 11, 24), dt.date(2026, 11, 24)),
        (dt.date(2026, 11, 25), dt.date(2026, 11, 25)),
        (dt.date(2026, 11, 26), None),
        (dt.date(2026, 11, 27), dt.date(2026, 11, 27)),
    ]
    # a desk in London runs the night at 06:00 the morning after, Tuesday to Saturday: every session is taken,
    # Friday's on Saturday morning (the day that closed it is not the day the run fires)
    london = upcoming_nights("0 6 * * 2-6", "Europe/London", after=dt.datetime(2026, 11, 30, 12, tzinfo=NY))
    assert [s for _, s in london] == [dt.date(2026, 11, d) for d in (30,)] + [
        dt.date(2026, 12, d) for d in (1, 2, 3, 4)
    ]
    # a run the schedule fired on a holiday evening (Labor Day, a Monday) takes the last session that closed,
    # Friday's; that night is done already, so the run ends Skipped (a past evening: the engine waits for a
    # run's scheduled time)
    from data.store import finish_run, start_run, writer

    with writer(home) as con:
        start_run(con, "nightly-done", "nightly", {"date": "2026-09-04"})
        finish_run(con, "nightly-done", 0)
    holiday = dt.datetime(2026, 9, 7, 18, 30, tzinfo=NY)
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(nightly, parameters={"home": str(home.root)},
                                     state=Scheduled(scheduled_time=holiday))  # fmt: skip
    state = run_flow(nightly, flow_run=run, parameters={"home": str(home.root)}, return_type="state")
    assert state.name == "Skipped" and state.message == (
        "the last XNYS session closed by 2026-09-07, 2026-09-04, is already done (rerun it with date set)"
    )
    assert query(home, "SELECT count(*) FROM runs") == [(1,)]


def test_the_date_defaults_to_the_last_session_that_has_closed() -> None:
    from data.calendar import latest_closed_session

    at: Callable[..., dt.date] = lambda *a: latest_closed_session(dt.datetime(*a, tzinfo=NY))  # noqa: E731
    assert at(2026, 11, 20, 18, 30) == dt.date(2026, 11, 20)  # a Friday evening
    assert at(2026, 11, 20, 12, 0) == dt.date(2026, 11, 19)  # before the close: the previous session
    assert at(2026, 11, 27, 13, 30) == dt.date(2026, 11, 27)  # after an early close (13:00)
    assert at(2026, 11, 21, 18, 30) == dt.date(2026, 11, 20)  # a Saturday: Friday's
    assert at(2026, 11, 26, 18, 30) == dt.date(2026, 11, 25)  # Thanksgiving: Wednesday's


def test_prefect_yaml_declares_the_same_deployment() -> None:
    import yaml

    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "prefect.yaml").read_text())
    (dep,) = [d for d in spec["deployments"] if d["name"] == "nightly"]
    assert dep["entrypoint"] == "flows.nightly.nightly"  # a module path: no script on sys.path[0]
    (sched,) = dep["schedules"]
    assert (sched["cron"], sched["timezone"]) == ("30 18 * * 1-5", "America/New_York")
    assert dep["parameters"]["calendar"] == "XNYS" and "date" not in dep["parameters"]


def test_nightly_cli_errors_are_one_line_and_come_before_prefect(tmp_path: Path) -> None:
    """Dates and missing quotes are refused before Prefect starts (no Prefect home is even made); without
    --date the night is the last session that has closed (on a weekend, Friday's), not a skip."""
    from data.calendar import latest_closed_session, sessions
    from tests.conftest import run_kappa

    h = tmp_path / "h"
    res = run_kappa("nightly", "--date", "2026-11-21", "--home", str(h))
    assert res.returncode == 2 and "is not a session of XNYS" in res.stderr and "Traceback" not in res.stderr
    res = run_kappa("nightly", "--date", "2026-11-20", "--home", str(h))
    assert res.returncode == 2 and "no quotes for 2026-11-20" in res.stderr and "Traceback" not in res.stderr
    res = run_kappa("nightly", "--home", str(h))
    day = latest_closed_session(dt.datetime.now(dt.UTC))
    assert f"session {day} (the last one that has closed)" in res.stdout
    assert res.returncode == 2 and f"no quotes for {day}" in res.stderr
    res = run_kappa("backfill", "--start", "2026-11-20", "--end", "2026-11-19", "--home", str(h))
    assert res.returncode == 2 and "is before" in res.stderr
    res = run_kappa("backfill", "--start", "2026-11-21", "--end", "2026-11-22", "--home", str(h))
    assert res.returncode == 2 and "no XNYS session between" in res.stderr
    res = run_kappa(
        "calibrate", "--as-of", "2100-01-06", "--home", str(h)
    )  # a Wednesday, beyond the sessions
    assert res.returncode == 2 and "--as-of 2100-01-06 is after the sessions XNYS knows" in res.stderr
    ahead = sessions(day + dt.timedelta(days=1), day + dt.timedelta(days=10))[0]  # still trading, or to come
    res = run_kappa("calibrate", "--as-of", str(ahead), "--home", str(h))
    assert res.returncode == 2 and f"--as-of {ahead} has not closed yet" in res.stderr
    res = run_kappa("attribute", "--date", "2026-11-22", "--home", str(h))  # a Sunday
    assert (
        res.returncode == 2
        and "--date 2026-11-22 is not a session of XNYS (a weekend or holiday)" in res.stderr
    )
    assert not (h / "prefect").exists()


def test_a_failed_backfill_ends_in_one_line(fresh_home: KappaHome) -> None:
    """A night of the backfill fails (its quotes never came): the command says so in one line (the night's
    own error, no traceback) and exits 2; the run of that night is recorded as failed."""
    from tests.conftest import run_kappa

    (fresh_home.inbox / NIGHTS[0].isoformat() / "quotes.csv").unlink()
    res = run_kappa("backfill", "--start", str(NIGHTS[0]), "--end", str(NIGHTS[1]), "--home", str(fresh_home.root),
                    "--lookback-days", str(LOOKBACK))  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-3000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last == (f"error: nightly {NIGHTS[0]} ended Failed: no quotes for {NIGHTS[0]}: put the day's files "
                    f"in {fresh_home.inbox / NIGHTS[0].isoformat()} (or load them first); rerun the backfill "
                    "to resume")  # fmt: skip
    assert query(fresh_home, "SELECT status FROM runs WHERE command = 'nightly'") == [("failed",)]


def test_a_night_whose_load_is_refused_fails_in_one_line(fresh_home: KappaHome) -> None:
    """A drop folder whose quotes carry no UTC offset (and no zone is declared): the load is refused, the
    night fails with the load's reason and the way out, exit 2, nothing after it but Prefect's own log."""
    from tests.conftest import run_kappa

    quotes = fresh_home.inbox / NIGHTS[0].isoformat() / "quotes.csv"
    pl.read_csv(quotes, infer_schema=False).with_columns(pl.col("ts").str.slice(0, 29)).write_csv(quotes)
    res = run_kappa("nightly", "--date", str(NIGHTS[0]), "--home", str(fresh_home.root))
    assert res.returncode == 2 and "Traceback" not in res.stderr and "nanobind" not in res.stderr
    (line,) = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert "quarantined (missing_utc_offset:" in line and "--timezone" in line
    runs = query(fresh_home, "SELECT command, status FROM runs WHERE status = 'failed' ORDER BY 1")
    assert runs == [("ingest", "failed"), ("nightly", "failed")]


def test_an_io_failure_fails_the_night_instead_of_every_symbol(
    fresh_home: KappaHome, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A lake file gone is no symbol's fault: the batches' I/O retries run out, the night fails with the
    error, and the previous rows stay; nothing is marked ``failed`` symbol by symbol."""
    import flows.attribute
    import flows.calibrate
    import flows.nightly as fn

    h = str(fresh_home.root)
    assert fn.nightly(date=NIGHTS[0], home=h, lookback_days=LOOKBACK, return_state=True).name == "Completed"
    before = results(fresh_home)
    sql = f"SELECT path FROM lake_files WHERE table_name = 'trades' AND date = '{NIGHTS[0]}'"
    gone = fresh_home.lake_file(str(query(fresh_home, sql)[0][0]))
    gone.unlink()  # the batches read trades; planning reads only the quotes
    for module, name in (
        (flows.calibrate, "calibrate_batch_task"),
        (flows.attribute, "attribute_batch_task"),
    ):
        monkeypatch.setattr(module, name, getattr(module, name).with_options(retry_delay_seconds=0))
    empty = tmp_path / "empty-inbox"
    empty.mkdir()
    state = fn.nightly(date=NIGHTS[0], home=h, inbox=str(empty), lookback_days=LOOKBACK, return_state=True)
    assert state.is_failed() and gone.name in str(state.message), state.message
    assert results(fresh_home) == before
    assert query(fresh_home, "SELECT status FROM runs WHERE command = 'nightly' ORDER BY started_at") == [
        ("success",), ("failed",)
    ]  # fmt: skip


def test_attribution_is_judged_with_the_latest_usable_calibration(fresh_home: KappaHome) -> None:
    """A symbol whose calibration failed on the night before is judged with its last good one."""
    from data.lake.files import reading_lake
    from data.step_inputs import read_attribution_inputs
    from data.store import writer
    from flows.backfill import backfill

    backfill(start=NIGHTS[0], end=NIGHTS[1], home=str(fresh_home.root), lookback_days=LOOKBACK)
    with writer(fresh_home) as con:
        con.execute(f"UPDATE calibrations SET status = 'failed', sigma_usd = NULL WHERE symbol = 'AAA' "
                    f"AND as_of = '{NIGHTS[1]}'")  # fmt: skip
    with reading_lake(fresh_home):
        params = read_attribution_inputs(fresh_home, NIGHTS[2]).params.sort("symbol")
    assert params.select("symbol", "calibration_as_of").rows() == [
        ("AAA", NIGHTS[0]), ("BBB", NIGHTS[1]), ("CCC", NIGHTS[1])
    ]  # fmt: skip
    assert params["sigma_usd"].null_count() == 0
