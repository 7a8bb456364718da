"""``kappa schedule``: one order's optimal Almgren-Chriss schedule with E, V and the baselines beside it."""

from __future__ import annotations

import datetime as dt
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from data.home import KappaHome
from flows.cli.console import err, out
from flows.cli.options import CalendarOption, HomeOption, home_settings, parse_date
from kappa.errors import ParameterError

if TYPE_CHECKING:
    from schedule.replan import Replan
    from schedule.requests import SchedulePlan
    from schedule.stress import StressRow


class Side(StrEnum):
    buy = "buy"
    sell = "sell"


class Model(StrEnum):
    linear = "linear"
    power = "power"


class Baseline(StrEnum):
    twap = "twap"
    vwap = "vwap"
    pov = "pov"


class SigmaSource(StrEnum):
    realized = "realized"
    garch = "garch"
    tsrv = "tsrv"
    regime = "regime"


def schedule_cmd(
    horizon_days: Annotated[float, typer.Option("--horizon-days", help="T: trading days to finish in")],
    shares: Annotated[float | None, typer.Option("--shares", help="X: shares to buy or sell")] = None,
    side: Annotated[Side | None, typer.Option("--side", help="buy or sell")] = None,
    periods: Annotated[int | None, typer.Option("--periods", help="N: equal periods (τ = T/N)")] = None,
    period_days: Annotated[
        float | None, typer.Option("--period-days", help="τ instead of N (must divide T)")
    ] = None,
    risk_aversion: Annotated[
        float | None, typer.Option("--risk-aversion", help="λ (1/$); 0 gives TWAP")
    ] = None,
    symbol: Annotated[str | None, typer.Option(help="Take parameters from this symbol's calibration")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Calibration on or before this date (default: latest)")
    ] = None,
    sigma: Annotated[float | None, typer.Option(help="σ ($/share/√day)")] = None,
    sigma_overnight: Annotated[
        float | None, typer.Option(help="σ_night ($/share per night crossed; default the calibration's)")
    ] = None,
    gamma: Annotated[float | None, typer.Option(help="γ ($/share per share)")] = None,
    eta: Annotated[float | None, typer.Option(help="η ($/share per share/day)")] = None,
    epsilon: Annotated[float | None, typer.Option(help="ε ($/share)")] = None,
    eta_nl: Annotated[float | None, typer.Option("--eta-nl", help="Power-law η_nl (dimensionless)")] = None,
    beta: Annotated[float | None, typer.Option(help="Power-law exponent β")] = None,
    adv: Annotated[float | None, typer.Option(help="ADV (shares/day), for POV and the power law")] = None,
    sigma_source: Annotated[
        SigmaSource, typer.Option(help="Which calibrated σ: realized, garch, tsrv or regime")
    ] = SigmaSource.realized,
    drift: Annotated[float, typer.Option(help="Expected drift α ($/share/day, + = price rises)")] = 0.0,
    model: Annotated[Model, typer.Option(help="Temporary impact: linear or power")] = Model.linear,
    baseline: Annotated[
        Baseline | None, typer.Option(help="Show this baseline instead of the optimum: twap, vwap, pov")
    ] = None,
    participation: Annotated[float | None, typer.Option(help="POV participation rate, e.g. 0.1")] = None,
    start: Annotated[
        str | None, typer.Option(help="Start: ISO time with offset, or a date (its open); default next open")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
    save: Annotated[bool, typer.Option(help="Write the `schedules` (and `frontiers`) table")] = False,
    frontier: Annotated[bool, typer.Option(help="Also compute the efficient frontier over λ")] = False,
    points: Annotated[int, typer.Option(help="Frontier points")] = 41,
    plot: Annotated[Path | None, typer.Option(help="Draw the frontier to a .png, .svg or .html file")] = None,
    order_id: Annotated[str | None, typer.Option("--order-id", help="Order this schedule is for")] = None,
    price: Annotated[
        float | None,
        typer.Option("--price", help="Reference price ($/share) of costs in bps (default: the close)"),
    ] = None,
    lot_size: Annotated[
        float, typer.Option("--lot-size", help="Round lot (shares) of the printed schedule")
    ] = 100,
    stress: Annotated[
        bool,
        typer.Option(
            "--stress", help="E, √V and the first trade under σ × 0.5, 2, 10, η × 0.5, 2 and γ × 0.5, 2"
        ),
    ] = False,
    replan_at: Annotated[
        int | None,
        typer.Option(
            "--replan-at", help="Re-plan the rest from the end of period K with the --replan-* values"
        ),
    ] = None,
    replan_sigma: Annotated[
        float | None, typer.Option("--replan-sigma", help="σ in force from period K ($/share/√day)")
    ] = None,
    replan_eta: Annotated[
        float | None, typer.Option("--replan-eta", help="η in force from period K ($/share per share/day)")
    ] = None,
    replan_risk_aversion: Annotated[
        float | None, typer.Option("--replan-risk-aversion", help="λ from period K (1/$)")
    ] = None,
    basket: Annotated[
        Path | None,
        typer.Option("--basket", help="CSV symbol, side, shares [, sigma_usd, eta, gamma, epsilon_usd]"),
    ] = None,
    correlation: Annotated[
        Path | None,
        typer.Option("--correlation", help="Basket: square CSV of ρ (default: the correlations table)"),
    ] = None,
    cross_impact: Annotated[
        Path | None, typer.Option("--cross-impact", help="Basket: CSV symbol_a, symbol_b, eta, gamma")
    ] = None,
    calendar: CalendarOption = None,
    home: HomeOption = None,
) -> None:
    """Optimal Almgren-Chriss schedule (exact discrete solution) with E, V and the baselines beside it:
    times in the exchange's zone, holdings in round lots (--lot-size), costs in $ and bps (--price, else the
    calibration's closing mid).

    Example: kappa schedule --shares 1e6 --side sell --horizon-days 5 --periods 5 --risk-aversion 1e-6
    --sigma 0.95 --eta 2.5e-6 --gamma 2.5e-7 --epsilon 0.0625

    A basket (one horizon, correlated names): kappa schedule --basket basket.csv --correlation rho.csv
    --horizon-days 5 --periods 5 --risk-aversion 1e-6
    """
    from flows.schedules import plan_schedule, replanned_plan, save_plan
    from kappa.units import DEFAULT_CALENDAR
    from schedule.requests import ScheduleRequest

    if basket is not None:
        from flows.cli.render_basket import basket_cmd

        single = {"--shares": shares, "--side": side, "--symbol": symbol, "--sigma": sigma, "--gamma": gamma,
                  "--eta": eta, "--epsilon": epsilon, "--baseline": baseline, "--start": start, "--plot": plot,
                  "--stress": stress or None, "--replan-at": replan_at, "--drift": drift or None,
                  "--order-id": order_id, "--participation": participation, "--sigma-overnight": sigma_overnight,
                  "--eta-nl": eta_nl, "--beta": beta, "--adv": adv,
                  "--model": None if model == Model.linear else model}  # fmt: skip
        n = _periods(periods, period_days, horizon_days, price, lot_size)
        basket_cmd(basket, correlation, cross_impact, horizon_days, n, risk_aversion, as_of, json_out, save,
                   frontier, points, home, single, sigma_source.value)  # fmt: skip
        return
    if shares is None or side is None or correlation is not None or cross_impact is not None:
        raise ParameterError("pass --shares X and --side (or --basket FILE; --correlation and --cross-impact "
                             "go with --basket)", name="--shares", value=shares)  # fmt: skip
    kh = KappaHome.resolve(home)
    if symbol or save:
        kh, calendar = home_settings(home, calendar)
    elif calendar is not None:
        from data.calendar import check_calendar

        check_calendar(calendar)  # an unknown code: refused in one line, as with a home
    calendar = calendar or DEFAULT_CALENDAR
    n = _periods(periods, period_days, horizon_days, price, lot_size)
    req = ScheduleRequest(
        shares=shares, side=side.value, horizon_days=horizon_days, periods=n, risk_aversion=risk_aversion,
        symbol=symbol, as_of=parse_date(as_of, "--as-of") if as_of else None, sigma_usd=sigma,
        sigma_overnight_usd=sigma_overnight, gamma=gamma,
        eta=eta, epsilon_usd=epsilon, eta_nl=eta_nl, beta=beta, adv_shares=adv, sigma_source=sigma_source.value,
        drift_usd_per_day=drift, model=model.value, strategy=baseline.value if baseline else "optimal",
        participation=participation, start=parse_start(start, calendar) if start else None,
        frontier=frontier or plot is not None, frontier_points=points, order_id=order_id, calendar=calendar,
        price_usd=price,
    )  # fmt: skip
    given = {"--replan-sigma": replan_sigma, "--replan-eta": replan_eta,
             "--replan-risk-aversion": replan_risk_aversion}  # fmt: skip
    if replan_at is None and any(v is not None for v in given.values()):
        raise ParameterError("--replan-* values need --replan-at K", name="--replan-at", value=None)
    plan = plan_schedule(kh if symbol else None, req)
    replanned = _replan(plan, replan_at, replan_sigma, replan_eta, replan_risk_aversion)
    stressed = _stress(plan) if stress else None
    run_id = save_plan(kh, plan, replanned_plan(plan, replanned) if replanned else None) if save else None
    if plot is not None:
        _draw_frontier(plan, run_id, plot)
    _print(plan, lot_size, json_out, replanned, stressed)
    if run_id:
        saved = plan.schedule_id + (" and its re-plan" if replanned else "")
        (err if json_out else out).print(f"saved {saved} to schedules (run {run_id})")
    if plot is not None:
        (err if json_out else out).print(f"frontier drawn to {plot}")


def _periods(
    periods: int | None, period_days: float | None, horizon_days: float, price: float | None, lot_size: float
) -> int:
    """N from ``--periods`` or ``--period-days`` (they must agree), after the price and lot are checked."""
    from schedule import periods_for

    if price is not None and not price > 0:
        raise ParameterError(f"--price {price} must be a positive $/share", name="--price", value=price)
    if not lot_size > 0:
        raise ParameterError(f"--lot-size {lot_size} must be positive", name="--lot-size", value=lot_size)
    if periods is None and period_days is None:
        raise ParameterError("pass --periods N or --period-days τ", name="--periods", value=None)
    n = periods_for(horizon_days, period_days) if period_days is not None else periods
    if periods is not None and n != periods:
        raise ParameterError(
            f"--periods {periods} and --period-days {period_days} disagree (T/τ = {n})",
            name="--period-days", value=period_days,
        )  # fmt: skip
    assert n is not None
    return n


def _draw_frontier(plan: SchedulePlan, run_id: str | None, plot: Path) -> None:
    """The efficient frontier, with the baselines as points, drawn to ``plot``."""
    import polars as pl

    from flows.schedules import frontier_rows
    from reports.charts import frontier_chart, save_chart

    front = frontier_rows(plan, run_id or "", dt.datetime.now())
    others = pl.DataFrame(
        [{"strategy": s.strategy, "variance_usd2": s.variance_usd2, "expected_cost_usd": s.expected_cost_usd}
         for s in plan.comparison if s.strategy != "optimal"],
        schema={"strategy": pl.String, "variance_usd2": pl.Float64, "expected_cost_usd": pl.Float64},
    )  # fmt: skip
    req = plan.request
    title = (
        f"{req.side} {req.shares:,.0f} {req.symbol or ''} over {req.horizon_days:g} days, N = {req.periods}"
    )
    try:
        save_chart(frontier_chart(front, others, title.replace("  ", " ")), plot)
    except ValueError as exc:
        raise ParameterError(str(exc), name="--plot", value=plot) from None


def _replan(
    plan: SchedulePlan, at: int | None, sigma: float | None, eta: float | None, risk_aversion: float | None
) -> Replan | None:
    """The plan's schedule re-planned from period ``at`` with the values given (the others unchanged)."""
    from dataclasses import replace

    from schedule.replan import replan

    if at is None:
        return None
    if plan.schedule.strategy != "optimal":
        raise ParameterError("--replan-at re-plans the optimal schedule: drop --baseline", name="--replan-at",
                             value=at)  # fmt: skip
    p = plan.schedule.params
    try:
        params = replace(
            p, sigma_usd=p.sigma_usd if sigma is None else sigma, eta=p.eta if eta is None else eta
        )
    except ValueError as exc:  # MarketParams checks its values
        raise ParameterError(str(exc), name="--replan-sigma", value=sigma) from None
    return replan(plan.schedule, at, params, risk_aversion)


def _stress(plan: SchedulePlan) -> list[StressRow]:
    """The plan's optimum under each stress scenario (:mod:`schedule.stress`)."""
    from schedule.stress import stress

    s = plan.schedule
    if s.strategy != "optimal" or s.model != "linear" or s.risk_aversion is None:
        raise ParameterError("--stress varies the linear model's optimal schedule: drop --baseline and --model",
                             name="--stress", value=True)  # fmt: skip
    return stress(s.order, s.params, s.risk_aversion)


def _print(
    plan: SchedulePlan,
    lot_size: float,
    json_out: bool,
    replanned: Replan | None = None,
    stressed: list[StressRow] | None = None,
) -> None:
    if json_out:
        from dataclasses import asdict

        from flows.cli.render_plan import plan_json, replan_json
        from flows.strict_json import json_safe

        body = plan_json(plan, lot_size)
        if replanned is not None:
            body["replan"] = replan_json(replanned)
        if stressed is not None:
            body["stress"] = [asdict(r) for r in stressed]
        sys.stdout.write(json.dumps(json_safe(body), default=str, allow_nan=False) + "\n")
    else:
        from flows.cli.render_plan import print_plan, print_replan, print_stress

        print_plan(out, plan, lot_size)
        if replanned is not None:
            print_replan(out, plan, replanned, lot_size)
        if stressed is not None:
            print_stress(out, plan, stressed)


def parse_start(value: str, calendar: str) -> dt.datetime:
    """An ISO time with an offset, or a date meaning that session's open."""
    from data.calendar import require_session, session_open

    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        pass
    else:
        require_session(day, calendar, "--start")  # a weekend or holiday, or beyond the sessions built
        return session_open(day, calendar)
    try:
        ts = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ParameterError(
            f"--start {value!r} is neither a date nor an ISO time", name="--start", value=value
        ) from None
    if ts.tzinfo is None:
        raise ParameterError(
            f"--start {value!r} has no UTC offset; add one, e.g. 2026-11-24T09:30-05:00",
            name="--start",
            value=value,
        )
    return ts
