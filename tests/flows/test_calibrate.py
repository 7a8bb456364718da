"""`kappa calibrate` end to end: simulated files -> ingest -> calibrate -> `calibrations`."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from data.calendar import TradingClock
from data.home import KappaHome
from data.ingest import ingest
from simulator import SimConfig, SymbolParams, write_dataset
from tests.conftest import WriteCsv, query, run_kappa

SYMS = (
    SymbolParams("AAA", 50.0, 0.9, 4e-7, 2e-6, 0.02, 600_000, quotes_per_day=2_000),
    SymbolParams("BBB", 120.0, 2.5, 1e-6, 5e-6, 0.03, 300_000, quotes_per_day=2_000),
)
START = dt.date(2026, 11, 9)
DAYS = 8


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> KappaHome:
    root = tmp_path_factory.mktemp("cal")
    cfg = SimConfig(SYMS, START, DAYS, orders_per_symbol_day=8, history_days=300, seed=21)
    dates = write_dataset(cfg, root / "inbox")
    home = KappaHome.resolve(root / "home")
    ingest(home, "daily", [root / "inbox" / "daily.csv"])
    for table in ("quotes", "trades", "orders", "fills"):
        ingest(home, table, [root / "inbox" / d.isoformat() / f"{table}.csv" for d in dates])
    return home


def test_calibrate_cli_writes_one_row_per_symbol_close_to_truth(loaded: KappaHome) -> None:
    as_of = "2026-11-18"  # the 8th session from 2026-11-09
    res = run_kappa("calibrate", "--as-of", as_of, "--lookback-days", str(DAYS), "--home", str(loaded.root))
    assert res.returncode == 0, res.stderr
    assert "AAA" in res.stdout and "BBB" in res.stdout
    rows = query(loaded, f"""SELECT symbol, status, sigma_usd, eta, epsilon_usd, eta_source, garch_status,
                             sigma_days, window_start, window_end, gamma_status, reason FROM calibrations
                             WHERE as_of = '{as_of}' ORDER BY symbol""")  # fmt: skip
    # the printout: units in the headers, each estimate ± its error, and why a row is not ok, in full
    for header in ("σ ($/sh/√day)", "σ (% ann.)", "γ ($/sh per sh)", "η ($/sh per sh/day)", "ε ($/sh)"):
        assert header in res.stdout, header
    for r in rows:
        if r[1] != "ok":
            assert f"  {r[0]} {r[1]}: {r[11]}" in res.stdout, r
    assert [r[0] for r in rows] == ["AAA", "BBB"]
    for r, p in zip(rows, SYMS, strict=True):
        # σ, GARCH, ε and η are fitted; γ, hard to pin down in 8 sessions, is the only possible fallback
        if r[10] == "ok":
            assert r[1] == "ok" and r[11] is None, r
        else:
            assert r[1] == "partial" and r[11].startswith(f"gamma: {r[10]}, ") and ";" not in r[11], r
        assert r[2] == pytest.approx(p.sigma_usd, rel=0.10)
        assert r[3] == pytest.approx(p.eta, rel=0.10)
        assert r[4] == pytest.approx(p.epsilon_usd, rel=0.10)
        assert r[5] == "fills" and r[6] == "ok" and r[7] == DAYS
        assert (str(r[8]), str(r[9])) == (START.isoformat(), as_of)


def test_rerun_replaces_and_latest_view(loaded: KappaHome) -> None:
    from flows.calibrate import calibrate  # the flow `kappa calibrate` runs (its CLI is tested above)

    def run(as_of: str, **kw: object) -> None:
        calibrate(as_of=dt.date.fromisoformat(as_of), home=str(loaded.root), lookback_days=5, **kw)

    pairs = "SELECT * EXCLUDE (run_id) FROM correlations WHERE as_of = '2026-11-18' ORDER BY ALL"
    run("2026-11-18")
    first = query(
        loaded, "SELECT * EXCLUDE (run_id) FROM calibrations WHERE lookback_days = 5 ORDER BY symbol"
    )
    first_pairs = query(loaded, pairs)
    run("2026-11-18")
    again = query(
        loaded, "SELECT * EXCLUDE (run_id) FROM calibrations WHERE lookback_days = 5 ORDER BY symbol"
    )
    # the pair is stored once, in order, with the window and its common 5-minute buckets; a rerun replaces it
    assert query(loaded, pairs) == first_pairs
    ((_, a, b, start, end, rho, nobs),) = first_pairs
    assert (a, b, str(start), str(end)) == ("AAA", "BBB", "2026-11-12", "2026-11-18")
    assert 5 * 70 < nobs <= 5 * 78 and -1 < rho < 1
    diff = [
        (i, a, b)
        for r1, r2 in zip(first, again, strict=True)
        for i, (a, b) in enumerate(zip(r1, r2, strict=True))
        if a != b
    ]
    assert again == first, diff
    assert query(loaded, "SELECT count(*) FROM calibrations WHERE as_of = '2026-11-18'") == [(2,)]
    run("2026-11-17", symbols=["BBB"])
    latest = query(loaded, "SELECT symbol, CAST(as_of AS VARCHAR) FROM latest_calibrations ORDER BY symbol")
    assert latest == [("AAA", "2026-11-18"), ("BBB", "2026-11-18")]
    run = query(
        loaded,
        "SELECT status, rows_written FROM runs WHERE command = 'calibrate' ORDER BY started_at DESC LIMIT 1",
    )
    assert run == [("success", 1)]


def test_a_calibration_row_is_reproduced_from_the_settings_stored_in_its_run(loaded: KappaHome) -> None:
    """``runs.parameters`` holds the whole settings record: read back from the run of a row, it gives the
    row again. The settings are not the defaults, so a reproduction that ignored them would differ (the
    window's first session, σ's days, the GARCH window of 120 returns instead of 300, which the thresholds
    then find too short; η not from fills, more being needed than the window has)."""
    from flows.calibrate import calibrate
    from flows.night_settings import NightSettings, Thresholds

    as_of = dt.date(2026, 11, 16)
    thresholds = Thresholds(garch_min_returns=121, min_fills=10_000)
    calibrate(
        as_of=as_of,
        home=str(loaded.root),
        lookback_days=3,
        garch_days=120,
        batch_symbols=1,
        thresholds=thresholds,
    )
    sql = f"SELECT * EXCLUDE (run_id) FROM calibrations WHERE as_of = '{as_of}' ORDER BY symbol"
    first = query(loaded, sql)
    shown = query(loaded, f"""SELECT garch_status, garch_nobs, garch_message, eta_status, eta_source, reason
                              FROM calibrations WHERE as_of = '{as_of}' ORDER BY symbol""")  # fmt: skip
    for garch_status, nobs, message, eta_status, eta_source, reason in shown:
        # 121 closes are 120 returns, one fewer than the threshold in force
        assert (garch_status, nobs, message) == (
            "fallback_realized:insufficient_data",
            120,
            "120 daily returns < 121",
        )
        assert eta_status == "insufficient_data" and eta_source == "almgren_2005"
        assert "; 10000 from 3 orders needed)" in reason
    ((stored,),) = query(
        loaded,
        f"SELECT DISTINCT r.parameters FROM runs r JOIN calibrations c USING (run_id) WHERE c.as_of = '{as_of}'",
    )
    settings = NightSettings.from_parameters(json.loads(stored))
    assert (settings.lookback_days, settings.garch_days, settings.batch_symbols) == (3, 120, 1)
    assert settings.home == str(loaded.root) and settings.calendar == "XNYS"
    assert settings.thresholds == thresholds
    calibrate(as_of=as_of, **settings.flow_parameters())
    assert query(loaded, sql) == first
    (window,) = {(str(r[0]), str(r[1])) for r in query(
        loaded, f"SELECT window_start, window_end FROM calibrations WHERE as_of = '{as_of}'")}  # fmt: skip
    assert window == ("2026-11-12", "2026-11-16")  # three sessions: Thursday, Friday, Monday


def test_a_symbol_with_only_daily_history_gets_an_insufficient_data_row(
    loaded: KappaHome, write_csv: WriteCsv, tmp_path: Path
) -> None:
    rows = [["symbol", "date", "close", "volume"]]
    rows += [["ZZZ", d.isoformat(), 10 + (i % 7) * 0.1, 1e5] for i, d in enumerate(
        [START - dt.timedelta(days=k) for k in range(1, 200)]) if d.weekday() < 5]  # fmt: skip
    ingest(loaded, "daily", [write_csv("zzz.csv", rows)])
    from flows.calibrate import calibrate

    calibrate(as_of=dt.date(2026, 11, 18), home=str(loaded.root), symbols=["ZZZ"])
    (row,) = query(loaded, "SELECT status, reason, sigma_usd FROM calibrations WHERE symbol = 'ZZZ'")
    assert row[0] == "insufficient_data" and "no quotes" in row[1] and row[2] is None


def test_calibrate_errors_are_one_line(loaded: KappaHome) -> None:
    res = run_kappa("calibrate", "--as-of", "18/11/2026", "--home", str(loaded.root))
    assert res.returncode == 2 and "is not a date" in res.stderr and "Traceback" not in res.stderr
    res = run_kappa("calibrate", "--as-of", "2020-01-03", "--home", str(loaded.root))
    assert res.returncode == 2 and "no symbol has data" in res.stderr
    params = json.loads(
        query(loaded, "SELECT parameters FROM runs WHERE command = 'calibrate' LIMIT 1")[0][0]
    )
    assert set(params) >= {"as_of", "lookback_days", "garch_days", "symbols"}


@pytest.mark.parametrize("as_of", [dt.date(2026, 11, 26), dt.date(2026, 11, 22)])  # Thanksgiving, a Sunday
def test_the_calibrate_flow_refuses_an_as_of_that_is_no_session(loaded: KappaHome, as_of: dt.date) -> None:
    """Called as a flow (a deployment's parameters, the Python API), not only from the CLI: as the nightly,
    before any run is recorded."""
    from flows.calibrate import calibrate
    from kappa.errors import InputError

    runs = query(loaded, "SELECT count(*) FROM runs")
    with pytest.raises(InputError, match=f"as_of {as_of} is not a session of XNYS"):
        calibrate.fn(as_of=as_of, home=str(loaded.root))
    assert query(loaded, "SELECT count(*) FROM runs") == runs


def test_batches_of_one_symbol_give_the_rows_of_one_window(loaded: KappaHome) -> None:
    """The flow's batches (each read from the lake alone, joined by the cross-sectional finish) equal a
    calibration of the whole window at once: batching changes where the work runs, not a number."""
    from calibration.window import MarketWindow, calibrate_window
    from data.lake.files import reading_lake
    from data.step_inputs import read_window
    from flows.calibrate import calibrate_batch, finish_calibration, plan_calibration

    as_of = dt.date(2026, 11, 18)
    with reading_lake(loaded):
        plan = plan_calibration(loaded, as_of, lookback_days=5, batch_symbols=1)
        assert all(len(b.symbols) == 1 for b in plan.batches) and {("AAA",), ("BBB",)} <= {
            b.symbols for b in plan.batches
        }
        batched = finish_calibration(plan, [calibrate_batch(b) for b in plan.batches])
    w = read_window(loaded, as_of, 5, 500)
    whole = calibrate_window(
        MarketWindow(as_of, 5, w.sessions, w.quotes, w.trades, w.fills, w.daily, TradingClock())
    )
    assert batched.drop("window_start", "window_end").equals(whole)
    # with the fallback η of a symbol without fills taken from the other symbols (cross-section)
    no_fills = [replace(b, fills=b.fills.clear()) if b.symbols == ("BBB",) else b for b in plan.batches]
    rows = finish_calibration(plan, [calibrate_batch(b) for b in no_fills]).sort("symbol")
    assert rows.filter(pl.col("symbol").is_in(["AAA", "BBB"]))["eta_source"].to_list() == [
        "fills",
        "cross_section",
    ]


def test_garch_fits_give_the_same_rows_in_process_and_on_the_pool(loaded: KappaHome) -> None:
    """Where the GARCH fits run (the calling process below the pool's threshold, two spawned workers
    above it) changes no bit of a calibration row."""
    from data.lake.files import reading_lake
    from flows.calibrate import calibrate_batch, plan_calibration
    from flows.garch_pool import PARALLEL_GARCH_MIN_SYMBOLS, garch_pool

    with reading_lake(loaded):  # held to the end: the batches below read the plan's files
        plan = plan_calibration(loaded, dt.date(2026, 11, 18), lookback_days=5, batch_symbols=1)
    n = sum(len(b.symbols) for b in plan.batches)
    assert n < PARALLEL_GARCH_MIN_SYMBOLS
    for workers in (1, 2):  # one worker, or too few symbols: no pool
        with garch_pool(n, workers) as in_process:
            assert in_process is None
    local = [calibrate_batch(b) for b in plan.batches]
    with garch_pool(n, 2, min_symbols=n) as pool_map:
        assert pool_map is not None
        pooled = [calibrate_batch(b, pool_map) for b in plan.batches]
    fitted = pl.concat(local, how="diagonal_relaxed")
    assert (fitted["garch_status"] == "ok").sum() >= 2  # GARCH ran, not only its fallbacks
    for a, b in zip(local, pooled, strict=True):
        assert a.equals(b)


def test_a_garch_fallback_is_marked_where_its_number_would_be(loaded: KappaHome) -> None:
    """Too short a daily history for GARCH (50 closes < 100 returns): the σ GARCH column says the realized σ
    stands in, and the reason says why; the row stores the realized σ with a fallback status."""
    res = run_kappa("calibrate", "--as-of", "2026-11-17", "--lookback-days", "7", "--garch-days", "50",
                    "--symbols", "AAA", "--home", str(loaded.root))  # fmt: skip
    assert res.returncode == 0, res.stderr
    ((status, reason, garch, realized, garch_status),) = query(
        loaded, "SELECT status, reason, sigma_garch_usd, sigma_usd, garch_status FROM calibrations "
                "WHERE symbol = 'AAA' AND as_of = '2026-11-17'"
    )  # fmt: skip
    assert garch == realized and garch_status.startswith("fallback_realized:insufficient_data")
    assert status == "partial" and reason.startswith("sigma_garch: realized sigma (GARCH insufficient_data")
    assert "realized (fallback)" in res.stdout and f"  AAA partial: {reason}" in res.stdout


def test_the_regime_sigma_reaches_calibrations_and_a_schedule_takes_it(
    loaded: KappaHome, write_csv: WriteCsv
) -> None:
    """A daily history of two volatility regimes: the calibrate flow stores the fit of its closes, and
    `kappa schedule --sigma-source regime` plans with the stored one-day-ahead σ."""
    import numpy as np

    from calibration.regimes import regime_sigma
    from flows.calibrate import calibrate

    rng = np.random.default_rng(8)
    states = np.cumsum(rng.random(700) < 0.04) % 2  # regimes of about 25 days
    closes = 30.0 * np.exp(np.cumsum(rng.standard_normal(700) * np.where(states == 1, 0.03, 0.01)))
    days = [d for d in (START - dt.timedelta(days=k) for k in range(1, 1200)) if d.weekday() < 5][:700][::-1]
    rows: list[list[object]] = [["symbol", "date", "close", "volume"]]
    rows += [["REG", d.isoformat(), float(c), 1e5] for d, c in zip(days, closes, strict=True)]
    ingest(loaded, "daily", [write_csv("reg.csv", rows)])
    calibrate(as_of=dt.date(2026, 11, 18), home=str(loaded.root), symbols=["REG"])
    fit = regime_sigma(closes[-501:])  # the GARCH window: 500 returns
    ((status, sigma, nobs, p_high),) = query(
        loaded, "SELECT regime_status, regime_sigma_usd, regime_nobs, regime_p_high FROM calibrations "
        "WHERE symbol = 'REG'"
    )  # fmt: skip
    assert fit.status == status == "ok" and nobs == 500
    assert sigma == pytest.approx(fit.sigma_usd, rel=1e-6) and p_high == pytest.approx(fit.p_high, abs=1e-6)
    res = run_kappa("schedule", "--symbol", "REG", "--shares", "1e4", "--side", "sell", "--horizon-days", "1",
                    "--periods", "4", "--risk-aversion", "1e-6", "--eta", "1e-5", "--gamma", "0",
                    "--epsilon", "0.01", "--sigma-source", "regime", "--json", "--home", str(loaded.root))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["parameters"]["sigma_usd"] == sigma
    # no quotes, so no realized σ: that source is refused, naming what to pass
    res = run_kappa("schedule", "--symbol", "REG", "--shares", "1e4", "--side", "sell", "--horizon-days", "1",
                    "--periods", "4", "--risk-aversion", "1e-6", "--eta", "1e-5", "--gamma", "0",
                    "--epsilon", "0.01", "--home", str(loaded.root))  # fmt: skip
    assert res.returncode == 2 and "--sigma" in res.stderr


def test_a_universe_over_the_cap_keeps_the_pairs_of_its_most_traded_names() -> None:
    """n names make n(n − 1)/2 rows: beyond the cap the pairs of the names with the largest ADV are kept
    (ties by symbol, a NULL ADV last), and a universe within it keeps every name."""
    from flows.calibrate import correlated_symbols

    rows = pl.DataFrame({"symbol": ["A", "B", "C", "D", "E"], "adv_shares": [5.0, None, 9.0, 5.0, 1.0]})
    assert correlated_symbols(rows, most=5) == ["A", "B", "C", "D", "E"]
    assert correlated_symbols(rows, most=3) == ["C", "A", "D"]
    assert correlated_symbols(rows, most=4) == ["C", "A", "D", "E"]
