"""`kappa simulate` end to end: the JSON is the pure simulation's, --save writes one row per strategy and
re-saving replaces them, the chart is drawn, parameters come from a calibration, and errors are one line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from data.home import KappaHome
from flows.cli import app
from flows.simulations import SimulationSettings, run_simulation
from schedule import optimal_schedule
from schedule.records import Order
from schedule.requests import ScheduleRequest
from schedule.simulation import Shock, simulate_execution, summarize
from tests.conftest import query, run_kappa
from tests.schedule.conftest import PAPER_PARAMS

ARGS = ["simulate", "--shares", "1e6", "--side", "sell", "--horizon-days", "5", "--periods", "10",
        "--risk-aversion", "1e-6", "--sigma", "0.95", "--eta", "2.5e-6", "--gamma", "2.5e-7", "--epsilon",
        "0.0625", "--paths", "400", "--seed", "4"]  # fmt: skip
SHOCK = ["--shock-at-period", "5", "--shock-sigma-multiplier", "10"]


def test_json_gives_each_strategy_as_the_pure_simulation_does() -> None:
    res = CliRunner().invoke(app, [*ARGS, *SHOCK, "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert set(body) == {"simulation_id", "inputs", "notes", "strategies"}
    assert body["simulation_id"].startswith("sim-")
    assert body["inputs"]["paths"] == 400 and body["inputs"]["shock_at_period"] == 5
    assert body["inputs"]["shock_sigma_multiplier"] == 10 and body["inputs"]["symbol"] is None
    got = {s["strategy"]: s for s in body["strategies"]}
    assert list(got) == ["optimal", "twap", "adaptive"]  # the default, in order
    s = optimal_schedule(Order(1e6, "sell", 5.0, 10), PAPER_PARAMS, 1e-6)
    shock = Shock(5, 10.0)
    for name in ("optimal", "adaptive"):
        want = summarize(simulate_execution(s, 400, 4, adaptive=name == "adaptive", shock=shock), 1e-6, shock)
        row = got[name]
        assert row["mean_cost_usd"] == want.mean_cost_usd and row["objective_usd"] == want.objective_usd
        assert row["model_expected_cost_usd"] == pytest.approx(s.expected_cost_usd)
        assert row["holdings_shares"] == pytest.approx(s.holdings.tolist())
    for key in ("mean_cost_se_usd", "std_cost_usd", "cost_q05_usd", "cost_q50_usd", "cost_q95_usd",
                "model_std_usd", "replanned_fraction"):  # fmt: skip
        assert all(isinstance(row[key], float) for row in got.values()), key
    assert (
        got["adaptive"]["replanned_fraction"] == 1.0
        and got["twap"]["shocked_std_usd"] > got["twap"]["model_std_usd"]
    )


def test_save_writes_a_row_per_strategy_and_resaving_replaces_them(home: KappaHome, tmp_path: Path) -> None:
    chart = tmp_path / "costs.svg"
    args = [
        *ARGS,
        *SHOCK,
        "--strategy",
        "optimal",
        "--strategy",
        "adaptive",
        "--save",
        "--home",
        str(home.root),
    ]
    runner = CliRunner()
    for _ in range(2):
        res = runner.invoke(app, [*args, "--chart", str(chart)])
        assert res.exit_code == 0, res.output
        assert "saved sim-" in res.stdout and "adaptive" in res.stdout
    rows = query(home, "SELECT simulation_id, strategy, paths, seed, shock_at_period, shock_sigma_multiplier, "
                       "mean_cost_usd, objective_usd, symbol FROM simulations ORDER BY strategy")  # fmt: skip
    assert [r[1] for r in rows] == ["adaptive", "optimal"] and len({r[0] for r in rows}) == 1
    assert rows[0][2:6] == (400, 4, 5, 10.0) and rows[0][8] is None
    assert rows[0][7] < rows[1][7]  # the adaptive strategy's E + λV is the lower
    assert query(
        home, "SELECT count(*), min(status), max(rows_written) FROM runs WHERE command = 'simulate'"
    ) == [(2, "success", 2)]
    # another seed is another simulation; twap added to the same one keeps the others
    assert runner.invoke(app, [*args, "--seed", "5"]).exit_code == 0
    twap = [*ARGS, *SHOCK, "--strategy", "twap", "--save", "--home", str(home.root)]
    assert runner.invoke(app, twap).exit_code == 0
    assert query(home, "SELECT count(DISTINCT simulation_id), count(*) FROM simulations") == [(2, 5)]
    text = chart.read_text()
    assert text.startswith("<svg") and "implementation shortfall" in text


def test_parameters_from_a_calibration_row_with_vwap_and_pov() -> None:
    row = {"symbol": "KAAAA", "as_of": dt.date(2026, 11, 20), "sigma_usd": 0.9, "gamma": 2.0e-7,
           "gamma_se": 1e-8, "gamma_status": "ok", "eta": 2.5e-6, "epsilon_usd": 0.03, "adv_shares": 2e6,
           "status": "ok"}  # fmt: skip
    req = ScheduleRequest(shares=2e5, side="buy", horizon_days=1.0, periods=13, risk_aversion=1e-6,
                          symbol="KAAAA", participation=0.1)  # fmt: skip
    r = run_simulation(None, req, SimulationSettings(("optimal", "vwap", "pov"), paths=300, seed=1), row)
    assert [s.strategy for s in r.summaries] == ["optimal", "vwap", "pov"]
    p = r.plan.schedule.params
    assert (p.sigma_usd, p.gamma, p.eta, p.epsilon_usd, p.sigma_overnight_usd) == (
        0.9,
        2.0e-7,
        2.5e-6,
        0.03,
        0.0,
    )
    pov = r.executions[2].schedule
    assert pov.info["adv_shares"] == 2e6 and pov.trades.size == 13  # 2e5 at 10 % of 2e6 a day: one day
    vwap, twap = r.executions[1].schedule, optimal_schedule(r.plan.schedule.order, p, 0.0)
    np.testing.assert_allclose(vwap.holdings, twap.holdings, rtol=1e-12, atol=1e-6)  # a flat profile
    assert any("flat volume profile" in n for n in r.notes)
    assert r.simulation_id == run_simulation(None, req, r.settings, row).simulation_id


def test_bad_values_are_one_line_errors() -> None:
    runner = CliRunner()
    for extra, words in (
        (["--paths", "0"], "--paths 0: must be at least 2"),
        (["--shock-at-period", "10", "--shock-sigma-multiplier", "10"], "K must be from 1 to N - 1 = 9"),
        (["--shock-at-period", "0", "--shock-sigma-multiplier", "10"], "K must be from 1 to N - 1 = 9"),
        (["--shock-at-period", "5", "--shock-sigma-multiplier", "0"], "must be a positive number"),
        (["--shock-at-period", "5"], "needs both --shock-at-period K and --shock-sigma-multiplier M"),
        (["--strategy", "optimal,vwapp"], "'vwapp' is not one of optimal, twap, vwap, pov, adaptive"),
        (["--strategy", "pov"], "POV needs --participation"),
        (["--strategy", "pov", "--participation", "0.1"], "POV needs the ADV"),
        (["--chart", "costs.pdf"], "use .png, .svg or .html"),
        (["--seed", "-1"], "--seed -1: must be >= 0"),
        (["--paths", "10000001"], "110,000,011 path-periods, at most 100,000,000"),
        (["--paths", "9000000", "--steps-per-period", "12"], "1,080,000,000 draws, at most 1,000,000,000"),
    ):
        res = runner.invoke(app, [*ARGS, *extra])
        assert res.exit_code != 0 and words in " ".join(str(res.exception or "").split()), (
            extra,
            res.exception,
        )
    res = run_kappa(*[a for a in ARGS if a not in ("--sigma", "0.95")])
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "missing --sigma" in res.stderr


def test_symbol_takes_the_calibrations_parameters_and_the_gamma_rule(home: KappaHome) -> None:
    """``--symbol S --as-of D`` reads S's calibration as ``kappa schedule`` does: σ, η, ε as stored and γ by the
    schedule's rule (a wrong-signed γ is used as 0); the model's E and √V are those of the exact optimum
    under them, and the run names the symbol and the calibration's date."""
    from data.results import Results, write_results
    from data.store import start_run, writer
    from kappa.tables import CALIBRATIONS
    from schedule.records import MarketParams

    day = dt.date(2026, 11, 13)
    home.ensure()
    with writer(home) as con:
        start_run(con, "run-cal", "calibrate", {})
    rows = [
        {"symbol": s, "as_of": day, "lookback_days": 20, "status": "ok", "sigma_usd": 0.9, "gamma": g,
         "gamma_se": 1e-8, "gamma_status": st, "eta": 2e-6, "epsilon_usd": 0.02, "mid_close_usd": 50.0}
        for s, g, st in (("AAA", 3e-7, "ok"), ("BBB", -1e-7, "wrong_sign"))
    ]  # fmt: skip
    frame = pl.DataFrame(rows, schema=CALIBRATIONS.polars_schema(omit=("run_id",)))
    write_results(home, "run-cal", Results(calibrations=frame, calibration_as_of=day))
    for symbol, gamma in (("AAA", 3e-7), ("BBB", 0.0)):
        res = CliRunner().invoke(app, ["simulate", "--symbol", symbol, "--as-of", "2026-11-13", "--shares", "1e5",
                                       "--side", "buy", "--horizon-days", "1", "--periods", "10",
                                       "--risk-aversion", "1e-6", "--paths", "50", "--json",
                                       "--home", str(home.root)])  # fmt: skip
        assert res.exit_code == 0, res.output
        body = json.loads(res.stdout)
        inp = body["inputs"]
        assert (inp["symbol"], inp["as_of"], inp["sigma_usd"], inp["eta"], inp["epsilon_usd"]) == (
            symbol, "2026-11-13", 0.9, 2e-6, 0.02)  # fmt: skip
        assert inp["gamma"] == gamma
        s = optimal_schedule(Order(1e5, "buy", 1.0, 10), MarketParams(0.9, gamma, 2e-6, 0.02), 1e-6)
        opt = next(x for x in body["strategies"] if x["strategy"] == "optimal")
        assert opt["model_expected_cost_usd"] == pytest.approx(s.expected_cost_usd, rel=1e-12)
        assert opt["model_std_usd"] == pytest.approx(s.std_usd, rel=1e-12)
