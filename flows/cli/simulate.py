"""``kappa simulate``: a Monte Carlo of a schedule's execution under the Almgren-Chriss price dynamics, per
strategy the realized implementation shortfall beside the model's E and √V."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from data.home import KappaHome
from flows.cli.console import err, out
from flows.cli.options import CalendarOption, HomeOption, home_settings, parse_date
from flows.cli.schedule import Side
from kappa.errors import ParameterError

if TYPE_CHECKING:
    from flows.simulations import SimulationResult


def simulate_cmd(
    shares: Annotated[float, typer.Option("--shares", help="X: shares to buy or sell")],
    side: Annotated[Side, typer.Option("--side", help="buy or sell")],
    horizon_days: Annotated[float, typer.Option("--horizon-days", help="T: trading days to finish in")],
    periods: Annotated[int, typer.Option("--periods", help="N: equal periods (τ = T/N)")],
    risk_aversion: Annotated[
        float, typer.Option("--risk-aversion", help="λ (1/$): the optimum's and E + λV's")
    ],
    symbol: Annotated[str | None, typer.Option(help="Take parameters from this symbol's calibration")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Calibration on or before this date (default: latest)")
    ] = None,
    sigma: Annotated[float | None, typer.Option(help="σ ($/share/√day)")] = None,
    gamma: Annotated[float | None, typer.Option(help="γ ($/share per share)")] = None,
    eta: Annotated[float | None, typer.Option(help="η ($/share per share/day)")] = None,
    epsilon: Annotated[float | None, typer.Option(help="ε ($/share)")] = None,
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            "--strategy",
            help="optimal, twap, vwap, pov or adaptive; repeat or separate by commas (default optimal,twap,"
            "adaptive)",
        ),
    ] = None,
    paths: Annotated[int, typer.Option("--paths", help="Monte Carlo paths P")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random generator")] = 0,
    shock_at_period: Annotated[
        int | None, typer.Option("--shock-at-period", help="K: σ is multiplied from the end of period K on")
    ] = None,
    shock_sigma_multiplier: Annotated[
        float | None, typer.Option("--shock-sigma-multiplier", help="M: the shock's σ multiplier, e.g. 10")
    ] = None,
    steps_per_period: Annotated[
        int, typer.Option("--steps-per-period", help="Mids observed per period (the adaptive σ estimate)")
    ] = 10,
    window_periods: Annotated[
        int, typer.Option("--window-periods", help="Trailing window of the adaptive σ estimate, in periods")
    ] = 1,
    adv: Annotated[
        float | None, typer.Option(help="ADV (shares/day) for POV (default the calibration's)")
    ] = None,
    participation: Annotated[float | None, typer.Option(help="POV participation rate, e.g. 0.1")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Draw the cost distributions to a .png, .svg or .html file")
    ] = None,
    save: Annotated[bool, typer.Option(help="Write one row per strategy to the `simulations` table")] = False,
    calendar: CalendarOption = None,
    home: HomeOption = None,
) -> None:
    """Monte Carlo of the order's execution under the Almgren-Chriss dynamics (arithmetic Brownian mid,
    permanent and temporary impact, the half spread), per strategy: the mean implementation shortfall (± its
    standard error), its standard deviation, E + λV realized and the 5/50/95 % quantiles, beside the model's
    E and √V.

    Example: kappa simulate --shares 1e6 --side sell --horizon-days 5 --periods 10 --risk-aversion 1e-6
    --sigma 0.95 --eta 2.5e-6 --gamma 2.5e-7 --epsilon 0.0625 --shock-at-period 5 --shock-sigma-multiplier 10
    """
    from flows.simulations import SimulationSettings, parse_strategies, run_simulation, save_simulation
    from kappa.units import DEFAULT_CALENDAR
    from schedule.requests import ScheduleRequest
    from schedule.simulation import Shock

    if (shock_at_period is None) != (shock_sigma_multiplier is None):
        raise ParameterError(
            "a shock needs both --shock-at-period K and --shock-sigma-multiplier M",
            name="--shock-at-period" if shock_at_period is None else "--shock-sigma-multiplier", value=None,
        )  # fmt: skip
    if chart is not None and chart.suffix.lower() not in (".png", ".svg", ".html", ".htm"):
        raise ParameterError(
            f"--chart {chart.name}: use .png, .svg or .html", name="--chart", value=str(chart)
        )
    kh = KappaHome.resolve(home)
    if symbol or save:
        kh, calendar = home_settings(home, calendar)
    calendar = calendar or DEFAULT_CALENDAR
    settings = SimulationSettings(
        strategies=parse_strategies(strategy), paths=paths, seed=seed,
        shock=Shock(shock_at_period, shock_sigma_multiplier)
        if shock_at_period is not None and shock_sigma_multiplier is not None else None,
        steps_per_period=steps_per_period, window_periods=window_periods,
    )  # fmt: skip
    req = ScheduleRequest(
        shares=shares, side=side.value, horizon_days=horizon_days, periods=periods, risk_aversion=risk_aversion,
        symbol=symbol, as_of=parse_date(as_of, "--as-of") if as_of else None, sigma_usd=sigma, gamma=gamma,
        eta=eta, epsilon_usd=epsilon, adv_shares=adv, participation=participation, calendar=calendar,
    )  # fmt: skip
    result = run_simulation(kh if symbol else None, req, settings)
    run_id = save_simulation(kh, result) if save else None
    if chart is not None:
        _draw(result, chart)
    if json_out:
        from flows.simulations import simulation_json
        from flows.strict_json import json_safe

        sys.stdout.write(json.dumps(json_safe(simulation_json(result)), default=str, allow_nan=False) + "\n")
    else:
        print_simulation(result)
    side_console = err if json_out else out
    if run_id:
        side_console.print(f"saved {result.simulation_id} to simulations (run {run_id})")
    if chart is not None:
        side_console.print(f"cost distributions drawn to {chart}")


def _draw(result: SimulationResult, path: Path) -> None:
    from flows.simulations import cost_frame
    from reports.charts import cost_distribution_chart, save_chart

    req = result.plan.request
    shock = result.settings.shock
    title = (
        f"{req.side} {req.shares:,.0f} {req.symbol or ''} over {req.horizon_days:g} days, N = {req.periods}, "
        f"{result.settings.paths:,} paths" + (f", σ × {shock.sigma_multiplier:g} after period {shock.at_period}"
                                               if shock else "")
    )  # fmt: skip
    save_chart(cost_distribution_chart(cost_frame(result), " ".join(title.split())), path)


def print_simulation(result: SimulationResult) -> None:
    """The inputs on one line, a row per strategy (model E and √V beside the realized numbers), the notes."""
    from rich.table import Table

    req, p, st = result.plan.request, result.plan.schedule.params, result.settings
    shock = (
        f"; σ × {st.shock.sigma_multiplier:g} from the end of period {st.shock.at_period}" if st.shock else ""
    )
    out.print(
        f"{req.side} {req.shares:,.0f}{' ' + req.symbol if req.symbol else ''} over {req.horizon_days:g} days in "
        f"{req.periods} periods, "
        f"λ {req.risk_aversion:g}; σ {p.sigma_usd:.4g}, γ {p.gamma:.4g}, η {p.eta:.4g}, ε {p.epsilon_usd:.4g}; "
        f"{st.paths:,} paths, seed {st.seed}{shock}",
    )
    table = Table("strategy", "model E", "model √V", "mean IS", "± se", "std IS", "E + λV realized", "5 %", "50 %",
                  "95 %", "re-planned", title=f"implementation shortfall ($, + = cost): {result.simulation_id}",
                  title_justify="left")  # fmt: skip
    for s in result.summaries:
        table.add_row(
            s.strategy, f"{s.model_expected_cost_usd:,.0f}", f"{s.model_std_usd:,.0f}", f"{s.mean_cost_usd:,.0f}",
            f"{s.mean_cost_se_usd:,.0f}", f"{s.std_cost_usd:,.0f}", f"{s.objective_usd:,.0f}",
            f"{s.cost_q05_usd:,.0f}", f"{s.cost_q50_usd:,.0f}", f"{s.cost_q95_usd:,.0f}",
            f"{s.replanned_fraction:.0%}" if s.strategy == "adaptive" else "",
        )  # fmt: skip
    out.print(table)
    for note in result.notes:
        out.print(f"note: {note}")
