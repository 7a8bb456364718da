"""How ``kappa schedule --basket`` shows a basket: JSON for programs, tables for people.

Holdings and trades are each order's shares still to trade (falling from |X_i| to 0 for a buy and a sale
alike, as a single-name schedule prints them); E, its parts, V and √V are the basket's (correlated risk and
cross impact included); κ belongs to the modes of Almgren & Chriss (2000), Appendix A, not to a name.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from flows.baskets import BasketPlan, name_parameters, request_json
from flows.cli.render_plan import MAX_ROWS

if TYPE_CHECKING:
    from flows.demo import DemoBasket

MAX_NAME_COLUMNS = 8


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def basket_json(plan: BasketPlan) -> dict[str, Any]:
    """``kappa schedule --basket --json``: per name its order, parameters, holdings and trades (shares,
    k = 0..N); the basket's E (and parts), V, √V, κ per mode (1/day; null for ∞), ρ used and the notes."""
    s, b = plan.schedule, plan.basket
    names = name_parameters(plan)
    for i, row in enumerate(names):
        row["schedule_id"] = plan.schedule_id(b.symbols[i])
        row["holdings_shares"] = s.holdings[i].tolist()
        row["trade_shares"] = s.trades[i].tolist()
    out: dict[str, Any] = {
        "basket_id": plan.basket_id,
        **request_json(plan.request),
        "tau": b.tau_days,
        "times_days": s.times_days.tolist(),
        "names": names,
        "expected_cost_usd": s.expected_cost_usd,
        "cost_usd": {
            "permanent": s.cost.permanent_usd,
            "fixed": s.cost.fixed_usd,
            "temporary": s.cost.temporary_usd,
        },
        "variance_usd2": s.variance_usd2,
        "std_usd": s.std_usd,
        "utility_usd": s.utility_usd(),
        "kappa_per_day": [_finite(k) for k in s.kappa_per_day],
        "mode_mu_usd_per_day2": s.mode_mu.tolist(),
        "correlation": b.correlation.tolist(),
        "correlation_source": plan.correlation_source,
        "cross_impact": plan.request.cross_eta is not None,
        "notes": list(plan.notes),
    }
    if plan.frontier:
        out["frontier"] = {
            "frontier_id": plan.frontier_id,
            "risk_aversion": [f.risk_aversion for f in plan.frontier],
            "kappa_max_per_day": [_finite(float(max(f.kappa_per_day))) for f in plan.frontier],
            "expected_cost_usd": [f.expected_cost_usd for f in plan.frontier],
            "variance_usd2": [f.variance_usd2 for f in plan.frontier],
        }
    return out


def print_basket(console: Console, plan: BasketPlan) -> None:
    """The basket's summary, each name's parameters, the holdings per name (at most ``MAX_ROWS`` periods and
    ``MAX_NAME_COLUMNS`` names; all in ``--json``) and the frontier."""
    s, b, req = plan.schedule, plan.basket, plan.request
    console.print(
        f"basket {plan.basket_id}: {b.size} name(s) over {b.horizon_days:g} trading day(s) in {b.periods} "
        f"period(s) of τ = {b.tau_days:g} day(s), λ = {req.risk_aversion:g}/$; ρ from {plan.correlation_source}"
        + ("; cross impact given" if req.cross_eta is not None else "")
    )
    pt = Table("symbol", "side", "shares", "σ ($/sh/√day)", "η", "η̃", "γ", "ε ($/sh)", "calibration",
               title="names and the parameters used", title_justify="left")  # fmt: skip
    for r in name_parameters(plan):
        pt.add_row(str(r["symbol"]), str(r["side"]), f"{r['shares']:,.0f}", f"{r['sigma_usd']:.6g}",
                   f"{r['eta']:.4g}", f"{r['eta_tilde']:.4g}", f"{r['gamma']:.4g}", f"{r['epsilon_usd']:.4g}",
                   str(r["as_of"] or "given"))  # fmt: skip
    console.print(pt)
    for note in plan.notes:
        console.print(f"note: {note}", highlight=False)
    kappas = ", ".join("∞" if math.isinf(k) else f"{k:.4g}" for k in s.kappa_per_day)
    c = s.cost
    console.print(
        f"κ per mode (1/day): {kappas}\nE = ${s.expected_cost_usd:,.2f}: permanent ${c.permanent_usd:,.2f}, fixed "
        f"${c.fixed_usd:,.2f}, temporary ${c.temporary_usd:,.2f}; √V = ${s.std_usd:,.2f}; "
        f"E + λV = ${s.utility_usd():,.2f}",
        highlight=False,
    )
    shown_names = list(range(min(b.size, MAX_NAME_COLUMNS)))
    ht = Table("k", "t (days)", *(f"{b.symbols[i]} ({b.sides[i]})" for i in shown_names),
               title="shares still to trade", title_justify="left")  # fmt: skip
    step = max(1, math.ceil(s.times_days.size / MAX_ROWS))
    for k in sorted({*range(0, s.times_days.size, step), s.times_days.size - 1}):
        ht.add_row(str(k), f"{s.times_days[k]:.4g}", *(f"{s.holdings[i, k]:,.0f}" for i in shown_names))
    console.print(ht)
    more = [f"every {step}th period shown"] if step > 1 else []
    more += [f"{b.size - len(shown_names)} more name(s)"] if b.size > len(shown_names) else []
    if more:
        console.print("; ".join(more) + " (--json for all)")
    if plan.frontier:
        ft = Table("λ (1/$)", "κ_max T", "E ($)", "√V ($)", "", title="efficient frontier of the basket",
                   title_justify="left")  # fmt: skip
        for f in plan.frontier:
            mark = "◀ chosen" if f.risk_aversion == req.risk_aversion else ""
            ft.add_row(f"{f.risk_aversion:.4g}", f"{max(f.kappa_per_day) * b.horizon_days:.3g}",
                       f"{f.expected_cost_usd:,.0f}", f"{f.std_usd:,.0f}", mark)  # fmt: skip
        console.print(ft)


def basket_cmd(
    basket: Path,
    correlation: Path | None,
    cross_impact: Path | None,
    horizon_days: float,
    periods: int,
    risk_aversion: float | None,
    as_of: str | None,
    json_out: bool,
    save: bool,
    frontier: bool,
    points: int,
    home: Path | None,
    single: Mapping[str, object],
    sigma_source: str = "realized",
) -> None:
    """``kappa schedule --basket FILE``: read the files, plan (and save) the basket, print it.

    ``single`` holds the single-name options as given (None where not): any of them is refused, as a basket
    takes its names, sides and parameters from its file.
    """
    from data.home import KappaHome
    from flows.baskets import (
        BasketRequest,
        plan_basket,
        read_basket,
        read_correlation,
        read_cross_impact,
        save_basket,
    )
    from flows.cli.console import err, out
    from flows.cli.options import parse_date
    from flows.strict_json import json_safe
    from kappa.errors import ParameterError

    given = [k for k, v in single.items() if v is not None]
    if given:
        raise ParameterError(f"{given[0]} is a single-name option: a basket's names, sides and parameters are in "
                             "its file", name=given[0], value=single[given[0]])  # fmt: skip
    if risk_aversion is None:
        raise ParameterError("pass --risk-aversion λ (1/$; 0 gives TWAP in every name)", name="--risk-aversion",
                             value=None)  # fmt: skip
    lines = read_basket(basket)
    symbols = [ln.symbol for ln in lines]
    cross = read_cross_impact(cross_impact, symbols) if cross_impact is not None else (None, None)
    req = BasketRequest(
        lines, horizon_days, periods, risk_aversion, parse_date(as_of, "--as-of") if as_of else None,
        read_correlation(correlation, symbols) if correlation is not None else None, cross[0], cross[1],
        frontier, points, sigma_source,
    )  # fmt: skip
    kh = KappaHome.resolve(home)
    plan = plan_basket(kh if kh.db_path.exists() else None, req)
    run_id = save_basket(kh, plan) if save else None
    if json_out:
        sys.stdout.write(json.dumps(json_safe(basket_json(plan)), default=str, allow_nan=False) + "\n")
    else:
        print_basket(out, plan)
    if run_id:
        (err if json_out else out).print(f"saved {plan.basket_id} to schedules (run {run_id})")


def print_demo_basket(console: Console, demo: DemoBasket) -> None:
    """``kappa demo``'s basket (its names, E, √V, κ per mode, where ρ came from) and the re-plan of an order
    schedule under a tenfold σ from mid-horizon (the next period's trade and κ before and after)."""
    plan, s = demo.plan, demo.plan.schedule
    b = plan.basket
    what = ", ".join(f"{b.sides[i]} {b.shares[i]:,.0f} {b.symbols[i]}" for i in range(b.size))
    kappas = ", ".join(f"{k:.3g}" for k in s.kappa_per_day)
    console.print(
        f"basket {plan.basket_id} (saved to schedules): {what} over {b.horizon_days:g} day in {b.periods} periods, "
        f"λ = {plan.request.risk_aversion:g}/$; ρ from {plan.correlation_source}; E = ${s.expected_cost_usd:,.0f}, "
        f"√V = ${s.std_usd:,.0f}, κ per mode {kappas}/day; first trades "
        + ", ".join(f"{s.trades[i, 0]:,.0f}" for i in range(b.size)),
        highlight=False,
    )
    r, s0 = demo.replanned, demo.schedule
    if r is None or s0 is None:
        return
    k = r.at_period
    console.print(
        f"re-plan of order {demo.order_id} at period {k} of {s0.order.periods} with σ × 10 "
        f"({s0.params.sigma_usd:.4g} → {r.rest.params.sigma_usd:.4g} $/sh/√day), {r.holdings[k]:,.0f} shares "
        f"left: the next period's trade {s0.trades[k]:,.0f} → {r.rest.trades[0]:,.0f} shares, κ "
        f"{s0.kappa_per_day or 0:.3g} → {r.rest.kappa_per_day or 0:.3g}/day; the rest's √V ${r.rest.std_usd:,.0f}",
        highlight=False,
    )
