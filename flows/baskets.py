"""Plan a basket's schedule (``kappa schedule --basket``) from its files and the calibrations, and store it.

:func:`read_basket` reads the basket file (``symbol, side, shares`` and optionally ``sigma_usd, eta, gamma,
epsilon_usd`` per row), :func:`read_correlation` a square ρ and :func:`read_cross_impact` the cross terms of
H and Γ; :func:`plan_basket` merges each name's given values with its calibration (the rules of a single-name
schedule: :func:`schedule.requests.market_params`, γ through :func:`flows.schedules.calibrated_gamma`), takes
ρ from the file or the ``correlations`` table, and solves :func:`schedule.basket.optimal_basket`;
:func:`save_basket` writes one ``schedules`` schedule per name (all with the basket's ``basket_id``, E and V
the basket's) and the basket's frontier, in one transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from data.home import KappaHome
from kappa.errors import InputError, MissingColumnError, ParameterError
from schedule.basket import Basket, BasketSchedule, basket_frontier, basket_risk_aversions, optimal_basket
from schedule.frontier import DEFAULT_POINTS
from schedule.records import FloatArray, MarketParams
from schedule.requests import ScheduleRequest, digest, market_params

BASKET_COLUMNS = ("symbol", "side", "shares")
PARAMETER_COLUMNS = ("sigma_usd", "eta", "gamma", "epsilon_usd")
"""The optional per-name columns of a basket file (each the :class:`ScheduleRequest` field of that name)."""
CROSS_COLUMNS = ("symbol_a", "symbol_b", "eta", "gamma")


@dataclass(frozen=True, slots=True)
class BasketLine:
    """One name of a basket file: the order and any parameter given (None: take the calibration's)."""

    symbol: str
    side: str
    shares: float
    given: dict[str, float | None]


def _rows(path: Path, required: tuple[str, ...], table: str) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # a BOM (Excel's CSV UTF-8) is no text
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or []]
            raw = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read: {exc}", path=str(path)) from None
    for i, r in enumerate(raw, start=2):  # DictReader keeps a row's fields past the header under the key None
        if None in r:
            raise InputError(f"line {i}: {len(header) + len(r[None])} fields for a header of {len(header)}",
                             path=str(path))  # fmt: skip
    rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k is not None} for r in raw]
    missing = [c for c in required if c not in header]
    if missing:
        raise MissingColumnError(str(path), table, missing)
    return header, rows


def _number(text: str, path: Path, line: int, column: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise InputError(f"line {line}: {column} {text!r} is not a number", path=str(path)) from None
    if not math.isfinite(v):
        raise InputError(f"line {line}: {column} {text!r} is not a finite number", path=str(path))
    return v


def read_basket(path: Path) -> list[BasketLine]:
    """The names of a basket file: CSV ``symbol, side, shares`` (+ optional ``sigma_usd, eta, gamma,
    epsilon_usd``, an empty cell meaning: take the calibration's).

    Raises
    ------
    InputError
        A missing column, an empty file, a duplicate symbol, a side other than buy/sell, non-positive shares
        or a cell that is not a number (the line is named).
    """
    header, rows = _rows(path, BASKET_COLUMNS, "basket")
    if not rows:
        raise InputError("the basket file has no names", path=str(path))
    lines: list[BasketLine] = []
    seen: set[str] = set()
    for i, r in enumerate(rows, start=2):
        sym, side = r["symbol"], r["side"].lower()
        if not sym:
            raise InputError(f"line {i}: empty symbol", path=str(path))
        if sym in seen:
            raise InputError(f"line {i}: duplicate symbol {sym}", path=str(path))
        seen.add(sym)
        if side not in ("buy", "sell"):
            raise InputError(f"line {i}: side {r['side']!r} is neither buy nor sell", path=str(path))
        shares = _number(r["shares"], path, i, "shares")
        if not shares > 0:
            raise InputError(f"line {i}: shares {r['shares']} must be positive", path=str(path))
        given = {c: _number(r[c], path, i, c) if r.get(c) else None for c in PARAMETER_COLUMNS if c in header}
        lines.append(BasketLine(sym, side, shares, given))
    return lines


def read_correlation(path: Path, symbols: list[str]) -> FloatArray:
    """ρ (m × m, in the order of ``symbols``) from a square CSV whose header and first column are symbols.

    Raises
    ------
    InputError
        A header or first column that is not the basket's symbols (an unknown, a duplicate or a missing one),
        a row of the wrong length, or a cell that is not a number.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # a BOM (Excel's CSV UTF-8) is no text
            table = [[c.strip() for c in row] for row in csv.reader(f) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read: {exc}", path=str(path)) from None
    if not table:
        raise InputError("the correlation file is empty", path=str(path))
    cols = table[0][1:]
    rows = [r[0] for r in table[1:]]
    for what, names in (("header", cols), ("first column", rows)):
        dupes = sorted({s for s in names if names.count(s) > 1})
        if dupes:
            raise InputError(f"duplicate symbol {dupes[0]} in the {what}", path=str(path))
        unknown = [s for s in names if s not in symbols]
        if unknown:
            raise InputError(f"unknown symbol {unknown[0]} in the {what} (not in the basket)", path=str(path))
        absent = [s for s in symbols if s not in names]
        if absent:
            raise InputError(f"the {what} has no {absent[0]}", path=str(path))
    rho = np.empty((len(symbols), len(symbols)))
    at = {s: k for k, s in enumerate(symbols)}
    for line, r in enumerate(table[1:], start=2):
        if len(r) != len(cols) + 1:
            raise InputError(f"line {line}: {len(r) - 1} values for {len(cols)} symbols", path=str(path))
        for c, text in zip(cols, r[1:], strict=True):
            rho[at[r[0]], at[c]] = _number(text, path, line, c)
    return rho


def read_cross_impact(path: Path, symbols: list[str]) -> tuple[FloatArray, FloatArray]:
    """The cross terms of H and Γ (m × m, zero diagonal, symmetric) from a CSV ``symbol_a, symbol_b, eta,
    gamma`` ($/share per share/day and $/share per share): each line sets H_ab = H_ba and Γ_ab = Γ_ba.

    Raises
    ------
    InputError
        A missing column, an unknown symbol, a pair of a name with itself, a pair given twice, or a cell
        that is not a number.
    """
    _, rows = _rows(path, CROSS_COLUMNS, "cross_impact")
    m = len(symbols)
    eta, gamma = np.zeros((m, m)), np.zeros((m, m))
    at = {s: k for k, s in enumerate(symbols)}
    seen: set[frozenset[str]] = set()
    for line, r in enumerate(rows, start=2):
        a, b = r["symbol_a"], r["symbol_b"]
        for s in (a, b):
            if s not in at:
                raise InputError(f"line {line}: unknown symbol {s!r} (not in the basket)", path=str(path))
        if a == b:
            raise InputError(f"line {line}: {a} with itself: a name's own η and γ belong in the basket file",
                             path=str(path))  # fmt: skip
        pair = frozenset((a, b))
        if pair in seen:
            raise InputError(f"line {line}: duplicate pair {a}, {b}", path=str(path))
        seen.add(pair)
        i, j = at[a], at[b]
        eta[i, j] = eta[j, i] = _number(r["eta"], path, line, "eta")
        gamma[i, j] = gamma[j, i] = _number(r["gamma"], path, line, "gamma")
    return eta, gamma


@dataclass(frozen=True, slots=True)
class BasketRequest:
    """What ``kappa schedule --basket`` asks for: the names, the horizon, λ, where ρ and the cross impact
    come from (``None``: the ``correlations`` table; no cross impact) and which calibrated σ a name without a
    given ``sigma_usd`` takes (``sigma_source``, as ``kappa schedule --sigma-source``)."""

    lines: list[BasketLine]
    horizon_days: float
    periods: int
    risk_aversion: float
    as_of: dt.date | None = None
    correlation: FloatArray | None = None
    cross_eta: FloatArray | None = None
    cross_gamma: FloatArray | None = None
    frontier: bool = False
    frontier_points: int = DEFAULT_POINTS
    sigma_source: str = "realized"


@dataclass(frozen=True, slots=True)
class BasketPlan:
    """The basket's optimum, its frontier if asked, and where each name's parameters came from.

    ``as_of`` maps each name to its calibration's date (None for a name whose values were all given);
    ``correlation_source`` is ``file``, ``correlations as of D`` or ``single name``.
    """

    request: BasketRequest
    basket: Basket
    schedule: BasketSchedule
    basket_id: str
    as_of: dict[str, dt.date | None]
    correlation_source: str
    frontier: list[BasketSchedule] = field(default_factory=list)
    frontier_id: str | None = None
    notes: tuple[str, ...] = ()

    def schedule_id(self, symbol: str) -> str:
        """The ``schedules`` id of one name's schedule in the basket."""
        return "s-" + digest({"basket_id": self.basket_id, "symbol": symbol})


def plan_basket(home: KappaHome | None, req: BasketRequest) -> BasketPlan:
    """The basket's exact optimum (:func:`schedule.basket.optimal_basket`) from the request.

    Each name takes the values given in the basket file and the rest from its latest calibration on or
    before ``req.as_of`` (as a single-name ``kappa schedule --symbol`` does); ρ comes from the request (a
    file) or else the ``correlations`` table as of the calibrations' date (the latest of the names').

    Raises
    ------
    ParameterError
        A name missing a parameter without a home to read it from, a pair without a stored correlation
        (named: pass ``--correlation``), or parameters that admit no schedule (``ScheduleError``).
    NotFoundError
        A name that needs a calibration and has none.
    """
    from flows.schedules import calibrated_gamma, parameter_notes

    lines = req.lines
    symbols = [ln.symbol for ln in lines]
    params: list[MarketParams] = []
    notes: list[str] = []
    as_of: dict[str, dt.date | None] = {}
    for ln in lines:
        g_ = ln.given.get
        sreq = ScheduleRequest(
            shares=ln.shares, side=ln.side, horizon_days=req.horizon_days, periods=req.periods,
            risk_aversion=req.risk_aversion, symbol=ln.symbol, as_of=req.as_of, sigma_usd=g_("sigma_usd"),
            eta=g_("eta"), gamma=g_("gamma"), epsilon_usd=g_("epsilon_usd"), sigma_source=req.sigma_source,
        )  # fmt: skip
        row = _calibration(home, sreq) if any(ln.given.get(c) is None for c in PARAMETER_COLUMNS) else None
        g = calibrated_gamma(sreq, row)
        params.append(market_params(sreq, row, g.gamma if g is not None else None))
        date = row["as_of"] if row else None
        as_of[ln.symbol] = date if isinstance(date, dt.date) else None
        notes.extend(f"{ln.symbol}: {n}" for n in parameter_notes(sreq, row))
    dates = [d for d in as_of.values() if d is not None]
    rho, source = _correlation(home, req, symbols, max(dates) if dates else None)
    eta = np.diag([p.eta for p in params]) + (req.cross_eta if req.cross_eta is not None else 0.0)
    gamma = np.diag([p.gamma for p in params]) + (req.cross_gamma if req.cross_gamma is not None else 0.0)
    basket = Basket(
        tuple(symbols), tuple(ln.side for ln in lines), np.array([ln.shares for ln in lines]),
        req.horizon_days, req.periods, np.array([p.sigma_usd for p in params]), rho, eta, gamma,
        np.array([p.epsilon_usd for p in params]),
    )  # fmt: skip
    schedule = optimal_basket(basket, req.risk_aversion)
    if req.horizon_days > 1:
        notes.append("V counts the session's σ only: a basket's risk over nights is not modelled")
    ident = _identity(req, basket, as_of)
    frontier: list[BasketSchedule] = []
    if req.frontier:
        frontier = basket_frontier(
            basket, basket_risk_aversions(basket, req.frontier_points, req.risk_aversion)
        )
    return BasketPlan(
        req, basket, schedule, "b-" + digest(ident), as_of, source, frontier,
        ("f-" + digest({**ident, "points": req.frontier_points})) if req.frontier else None,
        tuple(notes) + schedule.notes,
    )  # fmt: skip


def _identity(req: BasketRequest, basket: Basket, as_of: dict[str, dt.date | None]) -> dict[str, object]:
    """What names a basket: its orders, horizon, λ, the calibrations' dates and every parameter used."""
    return {
        "symbols": list(basket.symbols), "sides": list(basket.sides), "shares": basket.shares.tolist(),
        "horizon_days": req.horizon_days, "periods": req.periods, "risk_aversion": req.risk_aversion,
        "as_of": {k: v.isoformat() if v else None for k, v in as_of.items()},
        "sigma_usd": basket.sigma_usd.tolist(), "correlation": basket.correlation.tolist(),
        "eta": basket.eta.tolist(), "gamma": basket.gamma.tolist(), "epsilon_usd": basket.epsilon_usd.tolist(),
    }  # fmt: skip


def _calibration(home: KappaHome | None, req: ScheduleRequest) -> dict[str, object]:
    """The name's calibration (:func:`flows.schedules.calibration_row`), its errors worded for a basket."""
    from flows.schedules import calibration_row

    return calibration_row(
        home, req, option="--basket",
        without_home=f"{req.symbol} has no sigma_usd, eta, gamma or epsilon_usd in the basket file and there is "
        "no Kappa home to read its calibration from",
        remedy="give sigma_usd, eta, gamma and epsilon_usd in the basket file",
    )  # fmt: skip


def _correlation(
    home: KappaHome | None, req: BasketRequest, symbols: list[str], calibrated: dt.date | None
) -> tuple[FloatArray, str]:
    """ρ from the request's file, else from the ``correlations`` table as of the calibrations' date (or the
    latest on or before ``--as-of`` when no name was calibrated)."""
    m = len(symbols)
    if req.correlation is not None:
        return req.correlation, "file"
    if m == 1:
        return np.ones((1, 1)), "single name"
    if home is None:
        raise ParameterError("pass --correlation FILE: without a Kappa home there is no correlations table",
                             name="--correlation", value=None)  # fmt: skip
    from data.queries import correlations_among

    rows = correlations_among(home, symbols, calibrated or req.as_of)
    when = rows["as_of"][0] if rows.height else None
    rows = rows.filter(pl.col("rho").is_not_null())  # too few common returns: no ρ, refused below
    if calibrated is not None and when != calibrated:
        rows = rows.clear()
    rho = np.eye(m)
    at = {s: k for k, s in enumerate(symbols)}
    for r in rows.iter_rows(named=True):
        i, j = at[r["symbol_a"]], at[r["symbol_b"]]
        rho[i, j] = rho[j, i] = r["rho"]
    have = {(r["symbol_a"], r["symbol_b"]) for r in rows.iter_rows(named=True)}
    for i, a in enumerate(symbols):
        for b in symbols[i + 1 :]:
            pair = (min(a, b), max(a, b))
            if pair not in have:
                date = calibrated or when or req.as_of
                at_date = f" as of {date}" if date else ""
                raise ParameterError(
                    f"no correlation of {pair[0]} and {pair[1]}{at_date} in the correlations table; pass "
                    "--correlation FILE (a square CSV of ρ with the symbols as header and first column)",
                    name="--correlation", value=pair,
                )  # fmt: skip
    return rho, f"correlations as of {when}"


def _name_columns(plan: BasketPlan, i: int) -> dict[str, object]:
    b, s = plan.basket, plan.schedule
    return {
        "schedule_id": plan.schedule_id(b.symbols[i]), "order_id": None, "symbol": b.symbols[i],
        "as_of": plan.as_of[b.symbols[i]], "strategy": "optimal", "model": "linear", "side": b.sides[i],
        "shares": float(b.shares[i]), "horizon_days": b.horizon_days, "periods": b.periods,
        "tau_days": b.tau_days, "risk_aversion": s.risk_aversion, "drift_usd_per_day": 0.0,
        "participation": None, "sigma_usd": float(b.sigma_usd[i]), "gamma": float(b.gamma[i, i]),
        "eta": float(b.eta[i, i]), "eta_tilde": float(b.eta_tilde[i, i]), "epsilon_usd": float(b.epsilon_usd[i]),
        "eta_nl": None, "beta": None, "adv_shares": None, "sigma_overnight_usd": 0.0, "kappa_per_day": None,
        "half_life_days": None, "expected_cost_usd": s.expected_cost_usd, "permanent_cost_usd": s.cost.permanent_usd,
        "fixed_cost_usd": s.cost.fixed_usd, "temporary_cost_usd": s.cost.temporary_usd,
        "drift_cost_usd": s.cost.drift_usd, "variance_usd2": s.variance_usd2, "std_usd": s.std_usd,
        "start_ts": None, "basket_id": plan.basket_id,
    }  # fmt: skip


SCHEDULE_TYPES: dict[str, pl.DataType] = {
    "as_of": pl.Date(), "created_at": pl.Datetime("us"), "start_ts": pl.Datetime("ns"), "ts": pl.Datetime("ns"),
    "order_id": pl.String(), "participation": pl.Float64(), "eta_nl": pl.Float64(), "beta": pl.Float64(),
    "adv_shares": pl.Float64(), "kappa_per_day": pl.Float64(), "half_life_days": pl.Float64(),
    "period": pl.Int32(), "periods": pl.Int32(), "nights": pl.Int64(),
}  # fmt: skip


def basket_schedule_rows(plan: BasketPlan, run_id: str, created_at: dt.datetime) -> pl.DataFrame:
    """The ``schedules`` rows of the basket: one schedule per name, k = 0..N each, holdings and trades in the
    order's shares, E and V (and E's parts) the basket's, ``kappa_per_day`` NULL (κ belongs to the modes),
    ``basket_id`` set."""
    s = plan.schedule
    n = plan.basket.periods + 1
    rows: list[dict[str, object]] = []
    for i in range(plan.basket.size):
        const = {**_name_columns(plan, i), "run_id": run_id, "created_at": created_at}
        rows.extend(
            {**const, "period": k, "t_days": float(s.times_days[k]), "ts": None, "nights": 0,
             "holdings_shares": float(s.holdings[i, k]), "trade_shares": float(s.trades[i, k - 1]) if k else 0.0}
            for k in range(n)
        )  # fmt: skip
    return pl.DataFrame(rows, schema_overrides=SCHEDULE_TYPES)


def basket_frontier_rows(plan: BasketPlan, run_id: str, created_at: dt.datetime) -> pl.DataFrame:
    """The ``frontiers`` rows of the basket: one per λ, symbol NULL, side ``basket``, shares Σ|X_i|, the
    per-name parameters NULL, ``kappa_per_day`` the fastest mode's κ, ``basket_id`` set."""
    b, lam = plan.basket, plan.request.risk_aversion
    dates = [d for d in plan.as_of.values() if d is not None]
    const = {
        "frontier_id": plan.frontier_id, "run_id": run_id, "created_at": created_at, "symbol": None,
        "as_of": max(dates) if dates else None, "model": "linear", "side": "basket",
        "shares": float(np.sum(b.shares)), "horizon_days": b.horizon_days, "periods": b.periods,
        "drift_usd_per_day": 0.0, "sigma_usd": None, "gamma": None, "eta": None, "epsilon_usd": None,
        "eta_nl": None, "beta": None, "adv_shares": None, "sigma_overnight_usd": None, "basket_id": plan.basket_id,
    }  # fmt: skip
    rows = [
        {**const, "point": k, "risk_aversion": f.risk_aversion, "kappa_per_day": float(np.max(f.kappa_per_day)),
         "expected_cost_usd": f.expected_cost_usd, "variance_usd2": f.variance_usd2, "std_usd": f.std_usd,
         "selected": f.risk_aversion == lam}
        for k, f in enumerate(plan.frontier)
    ]  # fmt: skip
    types = {**SCHEDULE_TYPES, "symbol": pl.String(), "sigma_usd": pl.Float64(), "gamma": pl.Float64(),
             "eta": pl.Float64(), "epsilon_usd": pl.Float64(), "sigma_overnight_usd": pl.Float64()}  # fmt: skip
    return pl.DataFrame(rows, schema_overrides={k: v for k, v in types.items() if k in const or k == "point"})


def save_basket(home: KappaHome, plan: BasketPlan) -> str:
    """Write the basket's schedules (and frontier) in one transaction, replacing the basket's earlier rows;
    returns the run id."""
    from data.results import write_schedules
    from data.store import new_run_id

    run_id = new_run_id("schedule")
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ident = _identity(plan.request, plan.basket, plan.as_of)
    return write_schedules(
        home, run_id, {"basket_id": plan.basket_id, **ident}, basket_schedule_rows(plan, run_id, created),
        basket_frontier_rows(plan, run_id, created) if plan.frontier else None,
        message=plan.basket_id + (f", {plan.frontier_id}" if plan.frontier else ""), key="basket_id",
    )  # fmt: skip


def name_parameters(plan: BasketPlan) -> list[dict[str, object]]:
    """Each name's order and the parameters used (for the JSON and the table)."""
    b = plan.basket
    return [
        {"symbol": s, "side": b.sides[i], "shares": float(b.shares[i]), "as_of": plan.as_of[s],
         "sigma_usd": float(b.sigma_usd[i]), "eta": float(b.eta[i, i]), "gamma": float(b.gamma[i, i]),
         "eta_tilde": float(b.eta_tilde[i, i]), "epsilon_usd": float(b.epsilon_usd[i])}
        for i, s in enumerate(b.symbols)
    ]  # fmt: skip


def request_json(req: BasketRequest) -> dict[str, object]:
    """The request's scalar terms (for the JSON)."""
    d = asdict(req)
    return {k: d[k] for k in ("horizon_days", "periods", "risk_aversion", "as_of", "frontier_points")}
