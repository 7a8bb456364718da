"""`kappa schedule` end to end: the paper's example from the command line, storage, frontier, errors."""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from calibration.impact import schedule_gamma
from data.home import KappaHome
from data.ingest import ingest
from flows.schedules import plan_schedule
from kappa.errors import KappaError
from schedule.requests import ScheduleRequest
from simulator import SimConfig, SymbolParams, write_dataset
from tests.conftest import query, run_kappa

PAPER = ["--shares", "1e6", "--side", "sell", "--horizon-days", "5", "--periods", "5",
         "--sigma", "0.95", "--eta", "2.5e-6", "--gamma", "2.5e-7", "--epsilon", "0.0625"]  # fmt: skip


def _json(*args: str) -> dict[str, object]:
    res = run_kappa("schedule", *args, "--json")
    assert res.returncode == 0, res.stderr
    out: dict[str, object] = json.loads(res.stdout)
    return out


def test_paper_example_from_the_command_line() -> None:
    zero = _json(*PAPER, "--risk-aversion", "0")
    assert zero["expected_cost_usd"] == pytest.approx(662_500.0) and zero["variance_usd2"] == pytest.approx(
        1.083e12
    )
    assert zero["half_life_days"] is None and zero["kappa"] == 0.0
    s = _json(*PAPER, "--risk-aversion", "1e-6")
    kappa = math.acosh(1 + 0.5 * 1e-6 * 0.95**2 / 2.375e-6)  # eq. 19 with τ = 1
    assert s["kappa"] == pytest.approx(kappa, rel=1e-12) and s["tau"] == 1.0
    x = 1e6 * np.sinh(kappa * (5 - np.arange(6))) / np.sinh(5 * kappa)
    np.testing.assert_allclose(s["holdings"], x, rtol=1e-12, atol=1e-6)
    n = x[:-1] - x[1:]
    e = 0.5 * 2.5e-7 * 1e12 + 0.0625 * 1e6 + 2.375e-6 * np.sum(n**2)
    assert s["expected_cost_usd"] == pytest.approx(e, rel=1e-12)
    assert s["variance_usd2"] == pytest.approx(0.9025 * np.sum(x[1:] ** 2), rel=1e-12)
    assert s["half_life_days"] == pytest.approx(1 / kappa)
    assert s["times_days"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    params = s["parameters"]
    assert isinstance(params, dict) and params["eta_tilde"] == pytest.approx(2.375e-6)
    comparison = {c["strategy"]: c for c in s["comparison"]}  # type: ignore[attr-defined]
    assert comparison["twap"]["expected_cost_usd"] == pytest.approx(662_500.0)


def test_save_is_idempotent_and_frontier_is_stored_and_drawn(home: KappaHome, tmp_path: Path) -> None:
    png = tmp_path / "frontier.png"
    args = [*PAPER, "--risk-aversion", "1e-6", "--home", str(home.root), "--save", "--frontier",
            "--points", "21", "--plot", str(png)]  # fmt: skip
    for _ in range(2):
        res = run_kappa("schedule", *args)
        assert res.returncode == 0, res.stderr
        assert "saved s-" in res.stdout and "◀ chosen" in res.stdout
    rows = query(home, "SELECT period, holdings_shares, trade_shares, kappa_per_day, expected_cost_usd, "
                       "strategy FROM schedules ORDER BY period")  # fmt: skip
    assert len(rows) == 6 and {r[5] for r in rows} == {"optimal"}
    assert rows[0][1] == 1e6 and rows[-1][1] == 0.0 and rows[0][2] == 0.0
    assert sum(r[2] for r in rows) == pytest.approx(1e6)
    front = query(
        home, "SELECT risk_aversion, expected_cost_usd, variance_usd2, selected FROM frontiers ORDER BY point"
    )
    assert len(front) == 22 and front[0][0] == 0.0 and front[0][1] == pytest.approx(662_500.0)
    assert [r[0] for r in front if r[3]] == [1e-6]
    assert query(home, "SELECT count(*), min(status) FROM runs WHERE command = 'schedule'") == [
        (2, "success")
    ]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--eta", "1e-7", "--risk-aversion", "1e-6"], "η̃ = η − γτ/2"),
        (["--period-days", "2", "--risk-aversion", "1e-6"], "not a whole number of periods"),
        (["--start", "2026-11-24T09:30", "--risk-aversion", "1e-6"], "no UTC offset"),
        (["--baseline", "vwap"], "VWAP needs a volume profile"),
        ([], "--risk-aversion"),
        (["--baseline", "pov", "--participation", "0.1"], "--adv"),
        (["--calendar", "XNYZ", "--risk-aversion", "1e-6"], "unknown calendar 'XNYZ'"),
    ],
)
def test_errors_are_one_line(args: list[str], message: str) -> None:
    drop = {"--periods"} if "--period-days" in args else {"--eta"} if "--eta" in args else set()
    base = [v for i, v in enumerate(PAPER) if PAPER[i - (i % 2)] not in drop]
    res = run_kappa("schedule", *base, *args)
    assert res.returncode == 2, res.stdout
    assert message in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> KappaHome:
    from flows.calibrate import calibrate

    root = tmp_path_factory.mktemp("sched")
    syms = (SymbolParams("AAA", 50.0, 0.9, 4e-7, 2e-6, 0.02, 600_000, quotes_per_day=2_000),)
    cfg = SimConfig(syms, dt.date(2026, 11, 9), 5, orders_per_symbol_day=8, history_days=300, seed=5)
    dates = write_dataset(cfg, root / "inbox")
    home = KappaHome.resolve(root / "home")
    ingest(home, "daily", [root / "inbox" / "daily.csv"])
    for table in ("quotes", "trades", "orders", "fills"):
        ingest(home, table, [root / "inbox" / d.isoformat() / f"{table}.csv" for d in dates])
    calibrate(as_of=dates[-1], home=str(home.root))
    return home


def test_symbol_takes_the_calibration_and_the_volume_profile(calibrated: KappaHome) -> None:
    home = ["--home", str(calibrated.root)]
    cal = query(calibrated, "SELECT as_of, sigma_usd, gamma, eta, epsilon_usd, sigma_garch_usd, adv_shares "
                            "FROM calibrations WHERE symbol = 'AAA'")[0]  # fmt: skip
    order = ["--symbol", "AAA", "--shares", "2e5", "--side", "buy", "--horizon-days", "1", "--periods", "13"]
    s = _json(*order, "--risk-aversion", "1e-6", "--gamma", "4e-7", *home)
    p = s["parameters"]
    assert isinstance(p, dict)
    assert (p["sigma_usd"], p["eta"], p["epsilon_usd"]) == (cal[1], cal[3], cal[4]) and p["gamma"] == 4e-7
    assert p["as_of"] == str(cal[0]) == "2026-11-13"
    # planned overnight: from the next session's open (Monday 2026-11-16, 14:30 UTC) to its close
    times = s["times_utc"]
    assert (
        isinstance(times, list)
        and times[0].startswith("2026-11-16T14:30")
        and times[-1].startswith("2026-11-16T21:00")
    )
    garch = _json(*order, "--risk-aversion", "1e-6", "--gamma", "4e-7", "--sigma-source", "garch", *home)
    assert garch["parameters"]["sigma_usd"] == cal[5]  # type: ignore[index]
    # VWAP: the profile from the lake's trades (U-shaped in the simulator) front- and back-loads
    v = _json(*order, "--baseline", "vwap", "--gamma", "4e-7", *home)
    trades = np.array(v["trades"])
    assert v["strategy"] == "vwap" and trades.sum() == pytest.approx(2e5)
    assert trades[0] > trades[6] < trades[-1]
    pov = _json(*order, "--baseline", "pov", "--participation", "0.05", "--gamma", "4e-7", *home)
    assert pov["trades"] and sum(pov["trades"]) == pytest.approx(2e5)  # type: ignore[arg-type]
    assert pov["info"]["duration_days"] == pytest.approx(2e5 / (0.05 * cal[6]), abs=1 / 13 + 0.05)  # type: ignore[index]


def test_baseline_header_prices_risk_at_the_given_lambda_and_json_is_strict() -> None:
    res = run_kappa("schedule", *PAPER, "--risk-aversion", "1e-6", "--baseline", "twap")
    assert res.returncode == 0, res.stderr
    # TWAP: E = 662,500 and V = 1.083e12, so E + λV = 1,745,500 at λ = 1e-6
    assert "E + λV = $1,745,500.00" in res.stdout
    res = run_kappa("schedule", *PAPER, "--risk-aversion", "inf", "--json")
    assert res.returncode == 0, res.stderr
    assert "Infinity" not in res.stdout and "NaN" not in res.stdout
    s = json.loads(res.stdout)
    assert s["holdings"] == [1e6, 0, 0, 0, 0, 0] and s["kappa"] is None and s["variance_usd2"] == 0.0
    assert s["comparison"][0]["utility_usd"] == pytest.approx(125_000 + 62_500 + 2.375e-6 * 1e12)
    res = run_kappa("schedule", *PAPER, "--risk-aversion", "1e-6", "--frontier", "--points", "1")
    assert res.returncode == 2 and "at least 2 points" in res.stderr
    res = run_kappa("schedule", *PAPER, "--risk-aversion", "1e-6", "--periods", "1000000000")
    assert res.returncode == 2 and "more than 100,000" in res.stderr


# A calibration whose γ came out of the wrong sign (the truth was +7.8e-7), stored as "ok" by an older rule
WRONG_SIGN = {"symbol": "KAAAA", "as_of": dt.date(2026, 11, 20), "sigma_usd": 0.9, "gamma": -3.0e-6,
              "gamma_se": 8.1e-6, "gamma_status": "ok", "eta": 2e-6, "epsilon_usd": 0.02, "status": "ok"}  # fmt: skip
MONDAY_OPEN = dt.datetime(2026, 11, 23, 14, 30, tzinfo=dt.UTC)


def _request(**kw: object) -> ScheduleRequest:
    base: dict[str, Any] = {"shares": 5e4, "side": "buy", "horizon_days": 1.0, "periods": 13,
                            "risk_aversion": 1e-6, "symbol": "KAAAA", "start": MONDAY_OPEN}  # fmt: skip
    return ScheduleRequest(**{**base, **kw})


def test_one_gamma_rule_for_kappa_schedule_and_the_nightly_schedules() -> None:
    from flows.schedules import order_schedules

    plan = plan_schedule(None, _request(), WRONG_SIGN)  # was refused: "pass --gamma"
    assert plan.schedule.params.gamma == 0.0
    assert plan.notes == ("γ = -3.0e-06 ± 8.1e-06 (t = -0.37) has the wrong sign: the schedule uses γ = 0",)
    given = plan_schedule(None, _request(gamma=1e-7), WRONG_SIGN)  # an explicit γ wins, and needs no note
    assert given.schedule.params.gamma == 1e-7 and given.notes == ()
    # the nightly's schedule of the same order: the same γ, the same note
    orders = pl.DataFrame({"order_id": ["o1"], "symbol": ["KAAAA"], "side": ["buy"], "quantity": [5e4],
                           "arrival_ts": [dt.datetime(2026, 11, 23, 14, 30)],
                           "end_ts": [dt.datetime(2026, 11, 23, 21)], "risk_aversion": [1e-6]})  # fmt: skip
    nightly = order_schedules(orders, pl.DataFrame([WRONG_SIGN]), "run-x")
    assert nightly.skipped == [] and nightly.rows["gamma"].unique().to_list() == [0.0]
    assert nightly.notes == [("o1", plan.notes[0])]
    same = plan_schedule(None, _request(periods=78), WRONG_SIGN).schedule  # the nightly's 5-minute periods
    np.testing.assert_allclose(nightly.rows.sort("period")["holdings_shares"], same.holdings, rtol=1e-12)
    # a positive γ that is not significant is used as estimated, and said so
    weak = {**WRONG_SIGN, "gamma": 7.8e-7, "gamma_status": "not_significant"}
    plan = plan_schedule(None, _request(), weak)
    assert plan.schedule.params.gamma == 7.8e-7
    assert plan.notes == (
        "γ = 7.8e-07 ± 8.1e-06 (t = 0.10) is not significant (t < 1.96): the schedule uses it as estimated",
    )
    assert order_schedules(orders, pl.DataFrame([weak]), "run-x").notes == [("o1", plan.notes[0])]
    # a significant γ: no note; no γ at all: refused as before, and the nightly skips the order with why
    assert plan_schedule(None, _request(), {**weak, "gamma_se": 1e-7}).notes == ()
    none = {**WRONG_SIGN, "gamma": None, "gamma_se": None, "gamma_status": "insufficient_data"}
    with pytest.raises(KappaError, match="has no gamma"):
        plan_schedule(None, _request(), none)
    assert "has no gamma" in order_schedules(orders, pl.DataFrame([none]), "run-x").skipped[0][1]


def test_schedule_from_a_calibration_states_the_gamma_it_used(calibrated: KappaHome) -> None:
    (gamma, se, status) = query(calibrated, "SELECT gamma, gamma_se, gamma_status FROM calibrations")[0]
    order = ["--symbol", "AAA", "--shares", "2e5", "--side", "buy", "--horizon-days", "1", "--periods", "13"]
    s = _json(*order, "--risk-aversion", "1e-6", "--home", str(calibrated.root))  # no --gamma: not refused
    rule = schedule_gamma(gamma, se, status)
    assert s["parameters"]["gamma"] == rule.gamma  # type: ignore[index]
    plan = plan_schedule(calibrated, _request(symbol="AAA", start=None))
    assert plan.schedule.params.gamma == rule.gamma and plan.notes == ((rule.note,) if rule.note else ())
    assert status != "ok" or plan.notes == ()


def test_the_printout_gives_exchange_times_round_lots_and_costs_in_usd_and_bps() -> None:
    """As a trader reads it: each period's end in New York time (nights skipped), whole lots that sum to the
    order (the odd lot in the first trade), and E and √V in $ and in bps of shares × the given price."""
    args = ["--shares", "100050", "--side", "sell", "--horizon-days", "2", "--periods", "4",
            "--sigma", "0.95", "--eta", "2.5e-6", "--gamma", "2.5e-7", "--epsilon", "0.0625",
            "--risk-aversion", "1e-6", "--start", "2026-11-27T12:00-05:00", "--price", "40"]  # fmt: skip
    s = _json(*args)
    x = np.asarray(s["holdings"])
    lots = np.asarray(s["holdings_lots"])
    assert lots[0] == 100_050 and lots[-1] == 0 and np.all(np.abs(lots[1:] - x[1:]) <= 50)
    trades = np.asarray(s["trades_lots"])
    assert trades.sum() == 100_050 and np.all(trades[1:] % 100 == 0) and trades[0] % 100 == 50
    assert s["expected_cost_bps"] == pytest.approx(1e4 * s["expected_cost_usd"] / (100_050 * 40))
    assert s["std_bps"] == pytest.approx(1e4 * s["std_usd"] / (100_050 * 40))
    # Friday 27 Nov 2026 closes early (13:00): from noon, a period of 0.5 day (195 min) has 60 min on Friday
    # and 135 on Monday from the 09:30 open
    assert s["timezone"] == "America/New_York"
    assert s["times_local"][:3] == ["2026-11-27T12:00:00-05:00", "2026-11-30T11:45:00-05:00",
                                    "2026-11-30T15:00:00-05:00"]  # fmt: skip
    res = run_kappa("schedule", *args)
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert "time (America/New_York)" in text and "Mon 2026-11-30 11:45 EST" in text
    assert f"{lots[1]:,.0f}" in text and f"{trades[0]:,.0f}" in text  # the lots, not fractional shares
    assert f"E = ${s['expected_cost_usd']:,.2f} ({s['expected_cost_bps']:,.2f} bps)" in text
    assert "round lots of 100 shares" in text


def _xnys_built_by_hand(end: dt.date) -> tuple[list[dt.datetime], list[dt.datetime]]:
    """XNYS opens and closes (UTC) to ``end``, asked of exchange_calendars directly with an explicit end."""
    import exchange_calendars as xcals

    sched = xcals.get_calendar("XNYS", start=str(end - dt.timedelta(days=60)), end=str(end)).schedule
    return [t.to_pydatetime() for t in sched["open"]], [t.to_pydatetime() for t in sched["close"]]


def _kappa_in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    """``kappa *args`` through the CLI's entry point in this process (its error handling included)."""
    from flows.cli import main

    monkeypatch.setattr(sys, "argv", ["kappa", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    got = capsys.readouterr()
    return code, got.out, got.err


def test_a_schedule_near_or_past_the_calendar_end_is_planned_or_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # exchange_calendars builds sessions to a year after today unless told otherwise: a 10-day schedule
    # starting a week before that bound died with "OverflowError: date value out of range" after seconds.
    today = dt.datetime.now(dt.UTC).date()
    old_bound = today.replace(year=today.year + 1) if (today.month, today.day) != (2, 29) else today
    opens, closes = _xnys_built_by_hand(old_bound + dt.timedelta(days=40))
    i = next(k for k, o in enumerate(opens) if o.date() >= old_bound - dt.timedelta(days=7))
    need = 10 * 23_400.0  # ten trading days of session seconds, walked through the sessions by hand
    k = i
    while (closes[k] - opens[k]).total_seconds() < need:
        need -= (closes[k] - opens[k]).total_seconds()
        k += 1
    end = opens[k] + dt.timedelta(seconds=need)
    base = [*PAPER[:4], "--horizon-days", "10", "--periods", "1", *PAPER[8:], "--risk-aversion", "1e-6"]
    code, stdout, stderr = _kappa_in_process(capsys, monkeypatch, "schedule", *base, "--json",
                                             "--start", opens[i].date().isoformat())  # fmt: skip
    assert code == 0, stderr
    times = json.loads(stdout)["times_utc"]
    assert isinstance(times, list)
    assert dt.datetime.fromisoformat(times[0]) == opens[i] and dt.datetime.fromisoformat(times[-1]) == end
    # past the sessions Kappa builds (ten years ahead): one line naming the last session
    last = dt.date(today.year + 10, 12, 31)
    opens, _ = _xnys_built_by_hand(last)
    last_session = opens[-1].date()
    code, _, stderr = _kappa_in_process(
        capsys, monkeypatch, "schedule", *base, "--start", opens[-3].date().isoformat()
    )
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert f"run past the last XNYS session, {last_session}" in stderr and "Traceback" not in stderr


def test_a_schedule_over_a_weekend_counts_the_night_in_v_and_plans_around_it() -> None:
    """From Friday 27 Nov 2026 noon (an early close at 13:00) over 2 days in 4 periods of 3.25 h: the first
    (to Monday 11:45) holds x_1 over the weekend, the third (Monday 15:00 to Tuesday 11:45) x_3 over Monday
    night; V adds σ_night²·x_k² for each, and the optimum of E + λV (its first-order conditions, solved here
    densely by hand) sells more before them."""
    args = ["--shares", "1e5", "--side", "sell", "--horizon-days", "2", "--periods", "4",
            "--sigma", "0.95", "--eta", "2.5e-6", "--gamma", "2.5e-7", "--epsilon", "0.0625",
            "--risk-aversion", "1e-6", "--start", "2026-11-27T12:00-05:00"]  # fmt: skip
    s = _json(*args, "--sigma-overnight", "1.5")
    base = _json(*args)
    assert s["parameters"]["nights"] == [1, 0, 1, 0]  # type: ignore[index]
    tau, lam, et = 0.5, 1e-6, 2.5e-6 - 0.5 * 2.5e-7 * 0.5
    w = np.array([0.95**2 * tau + 1.5**2, 0.95**2 * tau, 0.95**2 * tau + 1.5**2])  # x_1, x_3 wait a night
    a = np.diag(2 + lam * w * tau / et) - np.eye(3, k=1) - np.eye(3, k=-1)
    x = np.linalg.solve(a, np.array([1e5, 0.0, 0.0]))
    np.testing.assert_allclose(s["holdings"][1:-1], x, rtol=1e-10)
    assert s["variance_usd2"] == pytest.approx(float(np.sum(w * x**2)), rel=1e-12)
    assert s["holdings"][1] < base["holdings"][1]  # type: ignore[index]
    assert any("2 night(s)" in note for note in s["notes"])  # type: ignore[union-attr]
    assert any("does not count (no σ_night)" in note for note in base["notes"])  # type: ignore[union-attr]


def test_a_null_regime_sigma_is_refused_in_one_line_naming_the_symbol_and_its_status(
    calibrated: KappaHome,
) -> None:
    """The fixture's 300 closes follow one GARCH(1,1): the regime fit finds no second regime."""
    ((status, regime),) = query(calibrated, "SELECT regime_status, regime_sigma_usd FROM calibrations")
    assert status == "degenerate" and regime is None
    res = run_kappa("schedule", "--symbol", "AAA", "--shares", "2e5", "--side", "buy", "--horizon-days", "1",
                    "--periods", "13", "--risk-aversion", "1e-6", "--gamma", "4e-7", "--sigma-source", "regime",
                    "--home", str(calibrated.root))  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "AAA" in res.stderr and "no regime sigma (regime_status degenerate" in res.stderr
