"""`kappa schedule --basket`: the numbers of schedule.basket, storage, calibrated names and the correlations
table, and one-line refusals of bad files."""

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
from schedule.almgren_chriss import optimal_schedule
from schedule.basket import Basket, optimal_basket
from schedule.records import MarketParams, Order
from tests.conftest import query, run_kappa

PAIR = "symbol,side,shares,sigma_usd,eta,gamma,epsilon_usd\nAAA,buy,1e6,0.95,2.5e-6,2.5e-7,0.0625\n" \
       "BBB,sell,1e6,0.95,2.5e-6,2.5e-7,0.0625\n"  # fmt: skip
RHO = "symbol,BBB,AAA\nAAA,0.8,1\nBBB,1,0.8\n"  # columns in another order than the basket's
GRID = ["--horizon-days", "5", "--periods", "5", "--risk-aversion", "1e-6"]


def _files(tmp_path: Path, **texts: str) -> dict[str, str]:
    paths = {}
    for name, text in texts.items():
        p = tmp_path / f"{name}.csv"
        p.write_text(text)
        paths[name] = str(p)
    return paths


def _invoke(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["schedule", *args])
    return res.exit_code, " ".join(str(res.exception or "").split()) + " " + " ".join(res.output.split())


def test_a_hedged_pair_from_files_is_the_basket_optimum_and_slower_than_alone(tmp_path: Path) -> None:
    f = _files(tmp_path, basket=PAIR, rho=RHO, cross="symbol_a,symbol_b,eta,gamma\nBBB,AAA,5e-7,5e-8\n")
    res = CliRunner().invoke(
        app, ["schedule", "--basket", f["basket"], "--correlation", f["rho"], *GRID, "--json"]
    )
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    rho = np.array([[1, 0.8], [0.8, 1]])
    b = Basket(("AAA", "BBB"), ("buy", "sell"), [1e6, 1e6], 5.0, 5, [0.95, 0.95], rho, [2.5e-6] * 2,
               [2.5e-7] * 2, [0.0625] * 2)  # fmt: skip
    want = optimal_basket(b, 1e-6)
    for i, name in enumerate(body["names"]):
        assert name["symbol"] == b.symbols[i] and name["side"] == b.sides[i]
        np.testing.assert_allclose(name["holdings_shares"], want.holdings[i], rtol=1e-12)
        np.testing.assert_allclose(name["trade_shares"], want.trades[i], rtol=1e-12)
        assert name["sigma_usd"] == 0.95 and name["eta_tilde"] == pytest.approx(2.375e-6)
    assert body["expected_cost_usd"] == pytest.approx(want.expected_cost_usd, rel=1e-12)
    assert body["variance_usd2"] == pytest.approx(want.variance_usd2, rel=1e-12)
    assert body["correlation"] == rho.tolist() and body["correlation_source"] == "file"
    alone = optimal_schedule(Order(1e6, "buy", 5.0, 5), MarketParams(0.95, 2.5e-7, 2.5e-6, 0.0625), 1e-6)
    assert body["names"][0]["trade_shares"][0] < alone.trades[0] - 1e5  # 278,373 vs 458,044 shares
    # the cross impact: H and Γ get the off-diagonal terms, symmetric
    args = [
        "schedule",
        "--basket",
        f["basket"],
        "--correlation",
        f["rho"],
        "--cross-impact",
        f["cross"],
        *GRID,
    ]
    crossed = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    bx = Basket(b.symbols, b.sides, b.shares, 5.0, 5, b.sigma_usd, rho, [[2.5e-6, 5e-7], [5e-7, 2.5e-6]],
                [[2.5e-7, 5e-8], [5e-8, 2.5e-7]], b.epsilon_usd)  # fmt: skip
    assert crossed["expected_cost_usd"] == pytest.approx(
        optimal_basket(bx, 1e-6).expected_cost_usd, rel=1e-12
    )
    assert crossed["cost_usd"]["permanent"] == pytest.approx(0.5 * 2.5e-7 * 2e12 - 5e-8 * 1e12)
    table = CliRunner().invoke(app, args)
    assert (
        table.exit_code == 0
        and "shares still to trade" in table.output
        and "cross impact given" in table.output
    )


def test_save_stores_one_schedule_per_name_and_the_basket_frontier_and_replaces(
    tmp_path: Path, home: KappaHome
) -> None:
    f = _files(tmp_path, basket=PAIR, rho=RHO)
    args = ["--basket", f["basket"], "--correlation", f["rho"], *GRID, "--save", "--frontier", "--points", "11",
            "--home", str(home.root), "--json"]  # fmt: skip
    for _ in range(2):
        code, text = _invoke(*args)
        assert code == 0, text
    body = json.loads(CliRunner().invoke(app, ["schedule", *args]).stdout)
    rows = query(home, "SELECT symbol, basket_id, count(*), min(expected_cost_usd), max(variance_usd2), "
                       "sum(trade_shares), max(holdings_shares), count(DISTINCT schedule_id), any_value(side) "
                       "FROM schedules GROUP BY ALL ORDER BY symbol")  # fmt: skip
    assert [(r[0], r[2], r[7], r[8]) for r in rows] == [("AAA", 6, 1, "buy"), ("BBB", 6, 1, "sell")]
    assert {r[1] for r in rows} == {body["basket_id"]}
    for r in rows:
        assert r[3] == pytest.approx(body["expected_cost_usd"]) and r[4] == pytest.approx(
            body["variance_usd2"]
        )
        assert r[5] == pytest.approx(1e6) and r[6] == 1e6
    front = query(home, "SELECT symbol, side, shares, sigma_usd, basket_id, risk_aversion, expected_cost_usd, "
                        "selected FROM frontiers ORDER BY point")  # fmt: skip
    assert len(front) == 12 and {(r[0], r[1], r[2], r[3], r[4]) for r in front} == {
        (None, "basket", 2e6, None, body["basket_id"])
    }
    assert front[0][5] == 0.0 and [r[5] for r in front if r[7]] == [1e-6]
    assert front[[r[7] for r in front].index(True)][6] == pytest.approx(body["expected_cost_usd"])
    assert query(home, "SELECT count(*), min(status) FROM runs WHERE command = 'schedule'") == [
        (3, "success")
    ]


def _calibrated_home(home: KappaHome, as_of: dt.date, rho: float | None) -> None:
    """Calibrations of AAA, BBB (and CCC) as of ``as_of`` and ρ_AAA,BBB in the correlations table."""
    from data.results import Results, write_results
    from data.store import start_run, writer
    from kappa.tables import CALIBRATIONS

    home.ensure()
    with writer(home) as con:
        start_run(con, "run-cal", "calibrate", {})
    rows = [
        {"symbol": "AAA", "as_of": as_of, "lookback_days": 20, "status": "ok", "sigma_usd": 0.9, "gamma": 3e-7,
         "gamma_se": 1e-8, "gamma_status": "ok", "eta": 2e-6, "epsilon_usd": 0.02, "mid_close_usd": 50.0,
         "sigma_garch_usd": 1.1, "regime_status": "degenerate"},
        {"symbol": "BBB", "as_of": as_of, "lookback_days": 20, "status": "ok", "sigma_usd": 1.2, "gamma": -1e-7,
         "gamma_se": 1e-8, "gamma_status": "wrong_sign", "eta": 3e-6, "epsilon_usd": 0.03, "mid_close_usd": 40.0,
         "sigma_garch_usd": 1.3, "regime_status": "ok", "regime_sigma_usd": 1.4},
        {"symbol": "CCC", "as_of": as_of, "lookback_days": 20, "status": "ok", "sigma_usd": 0.5, "gamma": 1e-7,
         "gamma_se": 1e-8, "gamma_status": "ok", "eta": 1e-6, "epsilon_usd": 0.01, "mid_close_usd": 20.0},
    ]  # fmt: skip
    frame = pl.DataFrame(rows, schema=CALIBRATIONS.polars_schema(omit=("run_id",)))
    write_results(home, "run-cal", Results(calibrations=frame, calibration_as_of=as_of))
    if rho is not None:
        with writer(home) as con:
            con.execute("INSERT INTO correlations (as_of, symbol_a, symbol_b, run_id, rho, nobs) "
                        "VALUES (?, 'AAA', 'BBB', 'run-cal', ?, 390)", [as_of, rho])  # fmt: skip


def test_names_without_parameters_take_their_calibration_and_the_stored_correlation(
    tmp_path: Path, home: KappaHome
) -> None:
    day = dt.date(2026, 11, 13)
    _calibrated_home(home, day, 0.6)
    f = _files(tmp_path, basket="symbol,side,shares,eta\nBBB,sell,2e5,\nAAA,buy,3e5,2.5e-6\n",
               three="symbol,side,shares\nAAA,buy,3e5\nBBB,sell,2e5\nCCC,sell,1e5\n")  # fmt: skip
    code, text = _invoke("--basket", f["basket"], *GRID, "--home", str(home.root), "--json")
    assert code == 0, text
    body = json.loads(CliRunner().invoke(app, ["schedule", "--basket", f["basket"], *GRID, "--home",
                                               str(home.root), "--json"]).stdout)  # fmt: skip
    names = {n["symbol"]: n for n in body["names"]}
    assert (
        names["AAA"]["eta"] == 2.5e-6 and names["AAA"]["sigma_usd"] == 0.9 and names["AAA"]["gamma"] == 3e-7
    )
    assert names["BBB"]["gamma"] == 0.0 and names["BBB"]["as_of"] == "2026-11-13"  # wrong sign: γ = 0
    assert any(n.startswith("BBB: ") and "wrong sign" in n for n in body["notes"])
    assert body["correlation"] == [[1.0, 0.6], [0.6, 1.0]] and body["correlation_source"].endswith(
        "2026-11-13"
    )
    b = Basket(("BBB", "AAA"), ("sell", "buy"), [2e5, 3e5], 5.0, 5, [1.2, 0.9], [[1, 0.6], [0.6, 1]],
               [3e-6, 2.5e-6], [0.0, 3e-7], [0.03, 0.02])  # fmt: skip
    assert body["expected_cost_usd"] == pytest.approx(optimal_basket(b, 1e-6).expected_cost_usd, rel=1e-12)
    code, text = _invoke("--basket", f["three"], *GRID, "--home", str(home.root))
    assert code != 0 and "no correlation of AAA and CCC as of 2026-11-13" in text and "--correlation" in text


def test_a_pair_whose_stored_rho_is_null_is_refused(tmp_path: Path, home: KappaHome) -> None:
    """A pair with too few common 5-minute returns has a NULL ρ in ``correlations``: no ρ, as without a row."""
    from data.store import writer

    day = dt.date(2026, 11, 13)
    _calibrated_home(home, day, None)
    with writer(home) as con:
        con.execute("INSERT INTO correlations (as_of, symbol_a, symbol_b, run_id, rho, nobs) "
                    "VALUES (?, 'AAA', 'BBB', 'run-cal', NULL, 12)", [day])  # fmt: skip
    f = _files(tmp_path, basket="symbol,side,shares\nAAA,buy,3e5\nBBB,sell,2e5\n")
    code, text = _invoke("--basket", f["basket"], *GRID, "--home", str(home.root))
    assert code != 0 and "no correlation of AAA and BBB as of 2026-11-13" in text


def test_a_name_without_a_calibration_or_a_home_is_refused(tmp_path: Path, home: KappaHome) -> None:
    f = _files(tmp_path, basket="symbol,side,shares\nAAA,buy,3e5\nZZZ,sell,1e5\n")
    code, text = _invoke("--basket", f["basket"], *GRID, "--home", str(tmp_path / "nohome"))
    assert code != 0 and "ZZZ" not in text and "no Kappa home" in text
    _calibrated_home(home, dt.date(2026, 11, 13), None)
    code, text = _invoke("--basket", f["basket"], *GRID, "--home", str(home.root))
    assert code != 0 and "no calibration of ZZZ" in text


@pytest.mark.parametrize(
    ("basket", "extra", "words"),
    [
        ("symbol,shares\nAAA,1\n", {}, "missing required column(s) side"),
        ("symbol,side,shares\nAAA,buy,1\nAAA,sell,2\n", {}, "line 3: duplicate symbol AAA"),
        ("symbol,side,shares\nAAA,buy,lots\n", {}, "line 2: shares 'lots' is not a number"),
        (PAIR.replace("0.95,2.5e-6", "high,2.5e-6", 1), {}, "sigma_usd 'high' is not a number"),
        ("symbol,side,shares\nAAA,hold,1\n", {}, "side 'hold' is neither buy nor sell"),
        ("symbol,side,shares\nAAA,buy,1,5,6\n", {}, "line 2: 5 fields for a header of 3"),
        (PAIR, {"rho": "symbol,AAA,CCC\nAAA,1,0.8\nCCC,0.8,1\n"}, "unknown symbol CCC in the header"),
        (PAIR, {"rho": "symbol,AAA,BBB\nAAA,1,x\nBBB,0.8,1\n"}, "line 2: BBB 'x' is not a number"),
        (PAIR, {"rho": "symbol,AAA,BBB\nAAA,1,0.8\nBBB,0.7,1\n"}, "correlation is not symmetric"),
        (PAIR, {"rho": "symbol,AAA,BBB\nAAA,1,1.5\nBBB,1.5,1\n"}, "> 1"),
        (PAIR, {"cross": "symbol_a,symbol_b,eta\nAAA,BBB,1e-7\n"}, "missing required column(s) gamma"),
        (PAIR, {"cross": "symbol_a,symbol_b,eta,gamma\nAAA,QQQ,1e-7,0\n"}, "unknown symbol 'QQQ'"),
        (
            PAIR,
            {"cross": "symbol_a,symbol_b,eta,gamma\nAAA,BBB,3e-6,0\n"},
            "H̃ = H − ½τΓ is not positive definite",
        ),
    ],
)
def test_bad_files_are_refused_in_one_line(
    tmp_path: Path, basket: str, extra: dict[str, str], words: str
) -> None:
    f = _files(tmp_path, basket=basket, **extra)
    opts = [*(["--correlation", f["rho"]] if "rho" in f else []), *(["--cross-impact", f["cross"]] if "cross" in f
                                                                   else [])]  # fmt: skip
    if "rho" not in f:
        opts += ["--correlation", _files(tmp_path, rho_default=RHO)["rho_default"]] if "BBB" in basket else []
    code, text = _invoke("--basket", f["basket"], *opts, *GRID, "--home", str(tmp_path / "nohome"))
    assert code != 0 and words in text, text


def test_single_name_options_with_a_basket_exit_2_in_one_line(tmp_path: Path) -> None:
    f = _files(tmp_path, basket=PAIR, rho=RHO)
    res = run_kappa("schedule", "--basket", f["basket"], "--correlation", f["rho"], *GRID, "--sigma", "1")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "--sigma is a single-name option" in res.stderr
    code, text = _invoke("--correlation", f["rho"], *GRID, "--shares", "1e6", "--side", "buy")
    assert code != 0 and "go with --basket" in text
    code, text = _invoke(*GRID, "--sigma", "1")
    assert code != 0 and "pass --shares X and --side" in text


def test_the_sigma_source_picks_each_calibrated_names_sigma_and_a_bom_is_no_text(
    tmp_path: Path, home: KappaHome
) -> None:
    """``--sigma-source garch`` gives every name without a given σ its GARCH σ; ``regime`` is refused in one
    line for a name whose regime fit gave none; a basket file saved with a BOM reads as without."""
    day = dt.date(2026, 11, 13)
    _calibrated_home(home, day, 0.6)
    f = _files(tmp_path, basket="\ufeffsymbol,side,shares\nAAA,buy,3e5\nBBB,sell,2e5\n")
    res = CliRunner().invoke(app, ["schedule", "--basket", f["basket"], *GRID, "--home", str(home.root),
                                   "--sigma-source", "garch", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    names = {n["symbol"]: n for n in json.loads(res.stdout)["names"]}
    assert (names["AAA"]["sigma_usd"], names["BBB"]["sigma_usd"]) == (1.1, 1.3)
    code, text = _invoke("--basket", f["basket"], *GRID, "--home", str(home.root), "--sigma-source", "regime")
    assert code != 0 and "AAA" in text and "degenerate" in text, text
