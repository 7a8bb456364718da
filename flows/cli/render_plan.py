"""How ``kappa schedule`` shows a plan: JSON for programs, tables and a text chart for people.

For people: times in the exchange's own zone (with its abbreviation), holdings and trades in round lots of
``LOT_SHARES`` shares (the exact, fractional schedule is in ``--json`` and in the ``schedules`` table), every
cost in $ and in bps of the order's notional (shares × the reference price: ``--price``, else the
calibration's closing mid), and the notes on the parameters (e.g. a γ of the wrong sign taken as 0).
"""

from __future__ import annotations

import math
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from rich.console import Console
from rich.table import Table

from kappa.units import LOT_SHARES, SESSION_NS
from reports.tables import cell_text, usd_text
from schedule import Schedule
from schedule.replan import Replan
from schedule.requests import SchedulePlan
from schedule.stress import StressRow

_BLOCKS = " ▏▎▍▌▋▊▉█"
CHART_WIDTH = 32
MAX_ROWS = 40


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def schedule_json(s: Schedule) -> dict[str, Any]:
    """One schedule as JSON-able values (infinite half-life → null)."""
    return {
        "strategy": s.strategy,
        "model": s.model,
        "kappa": _finite(s.kappa_per_day),
        "tau": s.tau_days,
        "times_days": s.times_days.tolist(),
        "holdings": s.holdings.tolist(),
        "trades": s.trades.tolist(),
        "expected_cost_usd": s.expected_cost_usd,
        "variance_usd2": s.variance_usd2,
        "std_usd": s.std_usd,
        "half_life_days": _finite(s.half_life_days),
        "cost_usd": {
            "permanent": s.cost.permanent_usd,
            "fixed": s.cost.fixed_usd,
            "temporary": s.cost.temporary_usd,
            "drift": s.cost.drift_usd,
        },
        "info": s.info,
    }


def plan_json(plan: SchedulePlan, lot_shares: float = LOT_SHARES) -> dict[str, Any]:
    """``kappa schedule --json``: the schedule's keys, its parameters, the baselines and the frontier, with
    the times in the exchange's zone, the holdings in round lots, the costs in bps and the notes."""
    s, req = plan.schedule, plan.request
    p = s.params
    parameters = {
        "symbol": req.symbol, "as_of": plan.as_of, "side": req.side, "shares": req.shares,
        "horizon_days": req.horizon_days, "periods": req.periods, "risk_aversion": req.risk_aversion,
        "drift_usd_per_day": req.drift_usd_per_day, "sigma_usd": p.sigma_usd, "gamma": p.gamma, "eta": p.eta,
        "eta_tilde": s.eta_tilde,
        "epsilon_usd": p.epsilon_usd, "sigma_overnight_usd": p.sigma_overnight_usd,
        "nights": list(s.order.nights),
        "sigma_source": req.sigma_source if req.symbol else None,
        "eta_nl": p.power.eta_nl if p.power else None, "beta": p.power.beta if p.power else None,
        "adv_shares": p.power.adv_shares if p.power else None, "participation": req.participation,
        "start": plan.start, "order_id": req.order_id,
    }  # fmt: skip
    zone = _zone(req.calendar)
    rounded = s.rounded_holdings(lot_shares)
    out = {
        "schedule_id": plan.schedule_id,
        **schedule_json(s),
        "times_utc": [t.isoformat() for t in plan.times_utc] if plan.times_utc else None,
        "times_local": [t.astimezone(zone).isoformat() for t in plan.times_utc] if plan.times_utc else None,
        "timezone": str(zone),
        "lot_shares": lot_shares,
        "holdings_lots": rounded.tolist(),
        "trades_lots": (rounded[:-1] - rounded[1:]).tolist(),
        "reference_price_usd": plan.reference_price_usd,
        "expected_cost_bps": plan.bps(s.expected_cost_usd),
        "std_bps": plan.bps(s.std_usd),
        "notes": list(plan.notes),
        "parameters": parameters,
        "comparison": [
            {"strategy": c.strategy, "expected_cost_usd": c.expected_cost_usd, "variance_usd2": c.variance_usd2,
             "std_usd": c.std_usd, "utility_usd": c.utility_usd(req.risk_aversion),
             "expected_cost_bps": plan.bps(c.expected_cost_usd), "std_bps": plan.bps(c.std_usd),
             "duration_days": float(c.times_days[-1])}
            for c in plan.comparison
        ],
    }  # fmt: skip
    if plan.frontier:
        out["frontier"] = {
            "frontier_id": plan.frontier_id,
            "risk_aversion": [f.risk_aversion for f in plan.frontier],
            "kappa": [_finite(f.kappa_per_day) for f in plan.frontier],
            "expected_cost_usd": [f.expected_cost_usd for f in plan.frontier],
            "variance_usd2": [f.variance_usd2 for f in plan.frontier],
        }
    return out


def bar(fraction: float, width: int = CHART_WIDTH) -> str:
    """A horizontal bar of ``fraction`` (clipped to [0, 1]) of ``width`` characters in eighth blocks."""
    eighths = round(min(max(fraction, 0.0), 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (_BLOCKS[part] if part else "")


def _zone(calendar: str) -> ZoneInfo:
    from data.calendar import exchange_timezone

    return ZoneInfo(exchange_timezone(calendar))


def _usd_bps(plan: SchedulePlan, usd: float, digits: int = 2) -> str:
    bps = plan.bps(usd)
    return usd_text(usd, digits) + (f" ({cell_text(bps, 'bps')} bps)" if bps is not None else "")


def print_plan(console: Console, plan: SchedulePlan, lot_shares: float = LOT_SHARES) -> None:
    """Summary, parameters and notes, the holdings table in round lots with exchange-local times and a
    text chart, the baselines and the frontier; costs in $ and bps."""
    _print_summary(console, plan)
    _print_holdings(console, plan, lot_shares)
    _print_comparison(console, plan)


def _print_summary(console: Console, plan: SchedulePlan) -> None:
    """The order, the parameters and where they came from, the notes, κ and the cost E and risk √V."""
    s, req = plan.schedule, plan.request
    p = s.params
    what = f"{req.side} {req.shares:,.0f}" + (f" {req.symbol}" if req.symbol else " shares")
    lam = f", λ = {req.risk_aversion:g}/$" if req.risk_aversion is not None else ""
    console.print(
        f"{s.strategy} schedule ({s.model} impact): {what} over {req.horizon_days:g} trading day(s) "
        f"in {s.trades.size} period(s) of τ = {s.tau_days:g} day(s) ({s.tau_days * SESSION_NS / 60e9:.4g} min){lam}"
    )
    src = f"calibration of {req.symbol} as of {plan.as_of} (σ {req.sigma_source})" if req.symbol else "given"
    power = (
        f", η_nl = {p.power.eta_nl:.4g}, β = {p.power.beta:.3g}, ADV = {p.power.adv_shares:,.0f} sh/day"
        if p.power
        else ""
    )
    console.print(
        f"parameters ({src}): σ = {p.sigma_usd:.6g} $/sh/√day, γ = {p.gamma:.4g} $/sh per sh, "
        + (f"η = {p.eta:.4g} $/sh per sh/day, η̃ = {s.eta_tilde:.4g}, " if s.eta_tilde is not None else "")
        + f"ε = {p.epsilon_usd:.4g} $/sh{power}"
        + (f", drift α = {req.drift_usd_per_day:g} $/sh/day" if req.drift_usd_per_day else "")
    )
    for note in plan.notes:
        console.print(f"note: {note}", highlight=False)
    if s.kappa_per_day is not None:
        hl = s.half_life_days
        console.print(
            f"κ = {s.kappa_per_day:.6g}/day (κT = {s.kappa_per_day * req.horizon_days:.4g}), half-life θ = "
            + (f"{hl:.4g} days" if hl is not None and math.isfinite(hl) else "∞ (TWAP)")
        )
    c = s.cost
    price = plan.reference_price_usd
    notional = (
        f" of ${req.shares * price:,.0f} notional (shares × ${price:,.4g})" if price else " (--price for bps)"
    )
    console.print(
        f"E = {_usd_bps(plan, s.expected_cost_usd)}{notional}: permanent {_usd_bps(plan, c.permanent_usd)}, "
        f"fixed {_usd_bps(plan, c.fixed_usd)}, temporary {_usd_bps(plan, c.temporary_usd)}, drift "
        f"{_usd_bps(plan, c.drift_usd)}; √V = {_usd_bps(plan, s.std_usd)}"
        + (f"; E + λV = ${s.utility_usd(req.risk_aversion):,.2f}" if req.risk_aversion is not None else ""),
        highlight=False,
    )


def _print_holdings(console: Console, plan: SchedulePlan, lot_shares: float) -> None:
    """The holdings table in round lots, with exchange-local times and a text chart (at most ``MAX_ROWS``)."""
    s, req = plan.schedule, plan.request
    zone = _zone(req.calendar)
    lots = s.rounded_holdings(lot_shares)
    t = Table(
        "k", "t (days)", *([f"time ({zone})"] if plan.times_utc else []), "holdings (sh)", "trade (sh)",
        "holdings chart",
    )  # fmt: skip
    step = max(1, math.ceil(s.holdings.size / MAX_ROWS))
    shown = sorted({*range(0, s.holdings.size, step), s.holdings.size - 1})
    for k in shown:
        when = [plan.times_utc[k].astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")] if plan.times_utc else []
        trade = f"{lots[k - 1] - lots[k]:,.0f}" if k else ""
        t.add_row(str(k), f"{s.times_days[k]:.4g}", *when, f"{lots[k]:,.0f}", trade,
                  bar(s.holdings[k] / req.shares))  # fmt: skip
    console.print(t)
    console.print(
        f"holdings and trades in round lots of {lot_shares:g} shares (the exact schedule: --json); "
        + (f"times in {zone}" if plan.times_utc else "no start time: --start or --symbol")
        + (f"; every {step}th period shown (--json for all)" if step > 1 else ""),
        highlight=False,
    )


def _print_comparison(console: Console, plan: SchedulePlan) -> None:
    """The baselines beside the schedule on the same cost model, and the efficient frontier if computed."""
    req = plan.request
    bps = plan.reference_price_usd is not None
    cmp = Table("schedule", "E ($)", *(["E (bps)"] if bps else []), "√V ($)", *(["√V (bps)"] if bps else []),
                "E + λV ($)", "days", title="compared on the same cost model", title_justify="left")  # fmt: skip
    for x in plan.comparison:
        util = f"{x.utility_usd(req.risk_aversion):,.0f}" if req.risk_aversion is not None else ""
        e_bps = [f"{plan.bps(x.expected_cost_usd):,.2f}"] if bps else []
        sd_bps = [f"{plan.bps(x.std_usd):,.2f}"] if bps else []
        cmp.add_row(x.strategy, f"{x.expected_cost_usd:,.0f}", *e_bps, f"{x.std_usd:,.0f}", *sd_bps, util,
                    f"{x.times_days[-1]:.4g}")  # fmt: skip
    console.print(cmp)
    if plan.frontier:
        ft = Table("λ (1/$)", "κT", "E ($)", "√V ($)", "", title="efficient frontier", title_justify="left")
        for f in plan.frontier:
            kt = f"{f.kappa_per_day * req.horizon_days:.3g}" if f.kappa_per_day is not None else ""
            mark = (
                "◀ chosen" if req.risk_aversion is not None and f.risk_aversion == req.risk_aversion else ""
            )
            ft.add_row(f"{f.risk_aversion:.4g}", kt, f"{f.expected_cost_usd:,.0f}", f"{f.std_usd:,.0f}", mark)
        console.print(ft)


def replan_json(r: Replan) -> dict[str, Any]:
    """``kappa schedule --replan-at K --json``'s ``replan``: the N + 1 holdings (the schedule up to K, then the
    rest's optimum), the parameters in force from K, and the rest's own schedule (κ, E, V of x_K shares over
    N − K periods)."""
    p = r.rest.params
    return {
        "at_period": r.at_period,
        "shares_left": float(r.holdings[r.at_period]),
        "sigma_usd": p.sigma_usd,
        "eta": p.eta,
        "gamma": p.gamma,
        "epsilon_usd": p.epsilon_usd,
        "risk_aversion": r.rest.risk_aversion,
        "holdings_shares": r.holdings.tolist(),
        "rest": schedule_json(r.rest),
    }


def print_replan(console: Console, plan: SchedulePlan, r: Replan, lot_shares: float = LOT_SHARES) -> None:
    """The re-planned holdings beside the schedule's, in round lots, with the rest's E and √V."""
    p, rest = r.rest.params, r.rest
    console.print(
        f"re-planned from period {r.at_period} ({r.holdings[r.at_period]:,.0f} shares left): σ {p.sigma_usd:g}, "
        f"η {p.eta:g}, λ {rest.risk_aversion:g}; the rest's E ${rest.expected_cost_usd:,.0f}, √V "
        f"${rest.std_usd:,.0f}, κ {rest.kappa_per_day:.4g}/day",
        highlight=False,
    )
    table = Table("k", "holdings (schedule)", "holdings (re-planned)", title_justify="left")
    before = plan.schedule.rounded_holdings(lot_shares)
    after = np.round(r.holdings / lot_shares) * lot_shares
    after[0], after[-1] = r.holdings[0], 0.0
    for k, (a, b) in enumerate(zip(before, after, strict=True)):
        table.add_row(str(k), f"{a:,.0f}", f"{b:,.0f}")
    console.print(table)


def print_stress(console: Console, plan: SchedulePlan, rows: list[StressRow]) -> None:
    """The stress table: each scenario's κ, E, √V (and in bps) and first trade beside the base case."""
    table = Table("scenario", "value", "κ (1/day)", "E ($)", "√V ($)", "E (bps)", "first trade", "note",
                  title="stress: the optimum at the same λ", title_justify="left")  # fmt: skip
    for r in rows:
        name = "base" if r.parameter == "base" else f"{r.parameter} × {r.multiplier:g}"
        if r.reason:
            table.add_row(name, f"{r.value:.4g}", "", "", "", "", "", r.reason[:80])
            continue
        bps = plan.bps(r.expected_cost_usd)
        table.add_row(
            name, "" if math.isnan(r.value) else f"{r.value:.4g}", f"{r.kappa_per_day:.4g}",
            f"{r.expected_cost_usd:,.0f}", f"{r.std_usd:,.0f}", "" if bps is None else f"{bps:.1f}",
            f"{r.first_trade_shares:,.0f}", "",
        )  # fmt: skip
    console.print(table)
