"""`kappa schedule --replan-at K` and `--stress`: the numbers as the pure functions give them, errors in one line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

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


def test_save_stores_the_replan_beside_the_schedule_and_a_resave_replaces_both(tmp_path: Path) -> None:
    """`--save` with `--replan-at`: the original schedule and the re-plan (strategy `replanned`) land in
    `schedules` in one run; the re-plan's holdings are the exact re-plan, its E, V and κ the rest's from K,
    its parameters those in force from K; saving again leaves the same rows."""
    from data.home import KappaHome
    from tests.conftest import query

    home = KappaHome(tmp_path)
    args = [*ARGS, "--replan-at", "5", "--replan-sigma", "9.5", "--save", "--home", str(tmp_path)]
    for _ in range(2):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
    rows = query(home, "SELECT strategy, count(*), count(DISTINCT run_id), any_value(sigma_usd), "
                 "any_value(expected_cost_usd), any_value(variance_usd2), any_value(kappa_per_day) "
                 "FROM schedules GROUP BY strategy ORDER BY strategy")  # fmt: skip
    order = replace(PAPER_ORDER, periods=10)
    s = optimal_schedule(order, PAPER_PARAMS, 1e-6)
    rp = replan(s, 5, replace(PAPER_PARAMS, sigma_usd=9.5))
    (opt, n1, runs1, sig1, e1, v1, k1), (rp_name, n2, runs2, sig2, e2, v2, k2) = rows
    assert (opt, rp_name, n1, n2, runs1, runs2) == ("optimal", "replanned", 11, 11, 1, 1)
    assert (sig1, sig2) == (0.95, 9.5)
    np.testing.assert_allclose(
        [e1, v1, k1], [s.expected_cost_usd, s.variance_usd2, s.kappa_per_day], rtol=1e-12
    )
    np.testing.assert_allclose(
        [e2, v2, k2], [rp.rest.expected_cost_usd, rp.rest.variance_usd2, rp.rest.kappa_per_day], rtol=1e-12
    )
    got = [r[0] for r in query(home, "SELECT holdings_shares FROM schedules WHERE strategy = 'replanned' "
                                     "ORDER BY period")]  # fmt: skip
    np.testing.assert_allclose(got, rp.holdings, rtol=1e-12)


def test_an_order_is_tracked_against_its_replan_saved_in_the_same_run(tmp_path: Path) -> None:
    """The original and its re-plan share ``created_at``: the latest schedule of the order, which the
    attribution tracks, is the re-plan whatever the order of their ids (several σ give ids both ways)."""
    from data.home import KappaHome
    from data.step_inputs import read_latest_schedules
    from tests.conftest import query

    home = KappaHome(tmp_path)
    for i, sigma in enumerate(("4", "7", "9.5", "12", "20")):
        order = f"O-{i}"
        args = [*ARGS, "--replan-at", "3", "--replan-sigma", sigma, "--order-id", order, "--save",
                "--home", str(tmp_path)]  # fmt: skip
        assert CliRunner().invoke(app, args).exit_code == 0
        replanned = query(home, f"SELECT DISTINCT schedule_id FROM schedules WHERE order_id = '{order}' "
                                "AND strategy = 'replanned'")  # fmt: skip
        latest = read_latest_schedules(home, [order])["schedule_id"].unique().to_list()
        assert latest == [replanned[0][0]]
