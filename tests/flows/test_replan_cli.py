"""`kappa schedule --replan-at K` and `--stress`: the numbers as the pure functions give them, errors in one line."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
from typer.testing import CliRunner

from flows.cli import app
from schedule.almgren_chriss import optimal_schedule
from schedule.replan import replan
from tests.schedule.conftest import PAPER_ORDER, PAPER_PARAMS

ARGS = ["schedule", "--shares", "1e6", "--side", "sell", "--horizon-days", "5", "--periods", "10",
        "--risk-aversion", "1e-6", "--sigma", "0.95", "--eta", "2.5e-6", "--gamma", "2.5e-7", "--epsilon",
        "0.0625"]  # fmt: skip


def test_a_flash_crash_replan_from_the_cli_is_the_exact_replan() -> None:
    res = CliRunner().invoke(app, [*ARGS, "--replan-at", "5", "--replan-sigma", "9.5", "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    order = replace(PAPER_ORDER, periods=10)
    s = optimal_schedule(order, PAPER_PARAMS, 1e-6)
    expected = replan(s, 5, replace(PAPER_PARAMS, sigma_usd=9.5)).holdings
    got = np.array(body["replan"]["holdings_shares"])
    assert got.shape == (11,)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(got[:6], body["holdings"][:6], rtol=0)
    assert body["replan"]["at_period"] == 5 and body["replan"]["sigma_usd"] == 9.5
    assert body["replan"]["eta"] == 2.5e-6 and body["replan"]["risk_aversion"] == 1e-6
    assert body["replan"]["rest"]["kappa"] > body["kappa"]  # ten times the risk: trade faster


def test_replan_options_without_k_past_the_end_or_on_a_baseline_exit_2() -> None:
    runner = CliRunner()
    for extra, words in (
        (["--replan-sigma", "9.5"], "need --replan-at K"),
        (["--replan-at", "10"], "K must be a whole number from 0 to N - 1 = 9"),
        (["--replan-at", "2", "--baseline", "twap"], "re-plans the optimal schedule"),
    ):
        res = runner.invoke(app, [*ARGS, *extra])
        text = " ".join(str(res.exception or "").split()) + " ".join(res.output.split())
        assert res.exit_code != 0 and words in text, (extra, res.output, res.exception)


def test_a_period_past_the_end_is_one_line_and_exit_2_from_the_shell() -> None:
    from tests.conftest import run_kappa

    res = run_kappa(*ARGS, "--replan-at", "10")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "from 0 to N - 1 = 9" in res.stderr


def test_stress_from_the_cli_gives_every_scenario_in_the_json() -> None:
    from schedule.stress import SCENARIOS, stress

    res = CliRunner().invoke(app, [*ARGS, "--stress", "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)["stress"]
    expected = stress(replace(PAPER_ORDER, periods=10), PAPER_PARAMS, 1e-6)
    assert [(r["parameter"], r["multiplier"]) for r in got] == [("base", 1.0), *SCENARIOS]
    for row, want in zip(got, expected, strict=True):
        assert row["first_trade_shares"] == want.first_trade_shares and row["std_usd"] == want.std_usd
    assert got[0]["expected_cost_usd"] == json.loads(res.stdout)["expected_cost_usd"]  # the base is the plan
