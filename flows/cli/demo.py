"""``kappa demo``: simulate a small market, run the nightly flow over it, and show what landed where."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from data.home import KappaHome
from flows.cli.console import out
from flows.cli.options import HomeOption, RunnerOption, WorkersOption
from flows.settings import Runner
from kappa.errors import ParameterError

DEMO_QUERIES = (
    "SELECT date, broker, orders, total_bps, slippage_arrival_bps, z_mean, z_std FROM scorecard_broker "
    "ORDER BY date, broker",
    "SELECT symbol, as_of, sigma_usd, gamma, gamma_status, eta, eta_source, epsilon_usd, status "
    "FROM latest_calibrations",
    "SELECT order_id, symbol, side, shares, count(*) - 1 AS periods, max(expected_cost_usd) AS e_usd, "
    "max(std_usd) AS sd_usd FROM schedules GROUP BY ALL ORDER BY 1",
)


def demo_cmd(
    home: HomeOption = None,
    symbols: Annotated[int, typer.Option(help="Simulated symbols", min=1)] = 5,
    days: Annotated[
        int, typer.Option(help="Nights to run (one more session is simulated: tomorrow)", min=1)
    ] = 5,
    history_days: Annotated[int, typer.Option(help="Sessions of daily history before them", min=0)] = 500,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    task_runner: RunnerOption = Runner.threads,
    workers: WorkersOption = None,
) -> None:
    """Simulate a small market, deliver it to the drop folder night by night and run the nightly flow
    over it (the home's Prefect server, left running for the next commands; the embedded DuckDB); print what
    landed and where.

    Example: kappa demo --home /tmp/kappa-demo --symbols 5 --days 5
    """
    from flows.settings import prefect_environment, quiet_known_errors
    from flows.settings import task_runner as make_runner

    if days < 1 or symbols < 1 or history_days < 0:
        raise ParameterError(
            "--days and --symbols must be at least 1, --history-days at least 0", name="--days", value=days
        )
    kh = KappaHome.resolve(home)
    if kh.db_path.exists() and not (kh.root / "demo" / "truth.json").exists():
        raise ParameterError(
            f"{kh.root} holds data the demo did not make; the demo writes a simulated market into its home: "
            "give it one of its own (--home /tmp/kappa-demo)",
            name="--home", value=kh.root,
        )  # fmt: skip
    api_url = prefect_environment(kh)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the demo prints its own summary
    from flows.demo import run_demo

    quiet_known_errors()
    result = run_demo(
        kh, symbols=symbols, days=days, history_days=history_days, seed=seed,
        task_runner=make_runner(task_runner.value, workers=workers),
    )  # fmt: skip
    _print_demo(kh, result, symbols, show_home=home is not None, api_url=api_url)


def _print_demo(kh: KappaHome, result: object, symbols: int, show_home: bool, api_url: str | None) -> None:
    """The nights, the row counts, the calibration beside the truth, where things are, and queries to try."""
    import shlex

    from rich.table import Table

    from flows.cli.render_frame import print_frame
    from flows.cli.render_night import print_night
    from flows.demo import DemoResult

    assert isinstance(result, DemoResult)
    out.print(
        f"Kappa demo: {symbols} symbols, nightly flow over {len(result.dates)} sessions "
        f"({result.dates[0]} .. {result.dates[-1]}), simulated into {result.data_dir}"
    )
    for night in result.nights:
        print_night(night)
        for w in getattr(night, "warnings", []):
            out.print(f"    warning: {w}", highlight=False, soft_wrap=True)
    t = Table("table", "rows", title="rows in the database", title_justify="left")
    for name, n in result.table_rows.items():
        t.add_row(name, f"{n:,}")
    out.print(t)
    out.print(f"calibrated as of {result.dates[-1]}, beside the simulator's truth:")
    print_frame(out, result.calibration_vs_truth, 50, note="estimate ± standard error beside the truth")
    if result.simulation is not None:
        out.print("a buy through a flash crash (σ × 10 after period 6 of 13), 2,000 simulated paths ($):")
        print_frame(out, result.simulation, 10)
    if result.basket is not None:
        from flows.cli.render_basket import print_demo_basket

        print_demo_basket(out, result.basket)
    out.print(f"database: {kh.db_path}\nlake:     {kh.lake}\ninbox:    {kh.inbox}")
    out.print(f"report:   {result.report}")
    kappa = _kappa_command()
    h = f" --home {shlex.quote(str(kh.root))}" if show_home else ""
    from flows.server import read_record

    if api_url and (server := read_record(kh)) is not None and server.url == api_url:
        out.print(f"prefect:  {server.ui} (the home's server, left running; stop it: {kappa} server stop{h})")
    out.print("try (as printed):")
    for query in DEMO_QUERIES:
        out.print(f"  {kappa} sql{h} {shlex.quote(query)}", highlight=False, soft_wrap=True)


def _kappa_command() -> str:
    """How to call this ``kappa`` from the current folder in a new shell: its path where it lies below the
    folder (``.venv/bin/kappa`` after ``make demo``, whose ``uv run`` puts it on a PATH the user's shell does
    not have), else by name if it is the one on the PATH, else its full path."""
    import shutil

    script = Path(sys.executable).parent / "kappa"
    if not script.exists():
        return f"{sys.executable} -m flows.cli"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        pass
    on_path = shutil.which("kappa")
    return "kappa" if on_path and Path(on_path).resolve() == script.resolve() else str(script)
