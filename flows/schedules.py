"""Plan a schedule for one order from calibrated or given parameters, and store it.

:func:`plan_schedule` gathers the parameters (a ``calibrations`` row, overridden by any value given), the
symbol's intraday volume profile (from the lake's trades), and the start's place in the exchange's
sessions; it then builds the requested schedule, the baselines beside it and, if asked, the efficient
frontier. :func:`save_plan` writes ``schedules`` (and ``frontiers``) in one transaction; a rerun with the
same inputs replaces the same rows (the ids are hashes of the inputs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from calibration.bars import intraday_volume_profile
from calibration.impact import ScheduleGamma, schedule_gamma
from data.calendar import DEFAULT_CALENDAR
from data.home import KappaHome
from data.store import finish_run, new_run_id, reader, replace_rows, start_run, transaction, writer
from kappa.errors import KappaError
from kappa.units import BUCKETS_PER_SESSION
from schedule import (
    MarketParams,
    Order,
    PowerLaw,
    Schedule,
    ScheduleError,
    efficient_frontier,
    frontier_risk_aversions,
    optimal_schedule,
    pov_schedule,
    power_law_schedule,
    twap_schedule,
    vwap_schedule,
)

STRATEGIES = ("optimal", "twap", "vwap", "pov")
SIGMA_COLUMNS = {"realized": "sigma_usd", "garch": "sigma_garch_usd", "tsrv": "sigma_tsrv_usd"}
DEFAULT_PROFILE_DAYS = 20


@dataclass(frozen=True, slots=True)
class ScheduleRequest:
    """What ``kappa schedule`` was asked for (values given explicitly override the calibration's)."""

    shares: float
    side: str
    horizon_days: float
    periods: int
    risk_aversion: float | None = None
    symbol: str | None = None
    as_of: dt.date | None = None
    sigma_usd: float | None = None
    sigma_overnight_usd: float | None = None
    gamma: float | None = None
    eta: float | None = None
    epsilon_usd: float | None = None
    eta_nl: float | None = None
    beta: float | None = None
    adv_shares: float | None = None
    sigma_source: str = "realized"
    drift_usd_per_day: float = 0.0
    model: str = "linear"
    strategy: str = "optimal"
    participation: float | None = None
    start: dt.datetime | None = None
    frontier: bool = False
    frontier_points: int = 41
    profile_days: int = DEFAULT_PROFILE_DAYS
    order_id: str | None = None
    calendar: str = DEFAULT_CALENDAR
    price_usd: float | None = None  # the reference price of costs in bps (default: the calibration's close)


@dataclass(frozen=True, slots=True)
class SchedulePlan:
    """The schedule asked for, the baselines beside it, the frontier if asked, and where it all came from."""

    request: ScheduleRequest
    schedule: Schedule
    schedule_id: str
    as_of: dt.date | None
    start: dt.datetime | None
    times_utc: list[dt.datetime] | None
    comparison: list[Schedule]
    frontier: list[Schedule] = field(default_factory=list)
    frontier_id: str | None = None
    profile_days: int = 0
    notes: tuple[str, ...] = ()
    """What people should know about the parameters taken from the calibration (e.g. a γ of the wrong sign
    taken as 0, a γ that is not significant), one sentence each; empty where there is nothing to say."""
    reference_price_usd: float | None = None
    """The price costs in bps are of (bps of shares × price): the given price, else the calibration's closing
    mid; ``None`` without either."""

    def bps(self, usd: float) -> float | None:
        """``usd`` in basis points of the order's notional (shares × reference price)."""
        p = self.reference_price_usd
        return 1e4 * usd / (self.request.shares * p) if p else None


def plan_schedule(
    home: KappaHome | None, req: ScheduleRequest, calibration: dict[str, object] | None = None
) -> SchedulePlan:
    """Build the schedule of ``req``.

    For a symbol, the parameters come from ``calibration`` (a ``calibrations`` row) if given, else from the
    latest calibration in ``home`` up to ``req.as_of``; the volume profile (for VWAP) is read from ``home``'s
    lake when there is a home. The plan's ``notes`` say what was made of the calibration's γ (see
    :func:`market_params`).
    """
    if req.strategy not in STRATEGIES:
        raise KappaError(f"strategy {req.strategy!r} is not one of {', '.join(STRATEGIES)}")
    if req.model not in ("linear", "power"):
        raise KappaError(f"model {req.model!r} is neither 'linear' nor 'power'")
    row = calibration if calibration is not None else (_calibration(home, req) if req.symbol else None)
    as_of: dt.date | None = row["as_of"] if row else req.as_of  # type: ignore[assignment]
    params = market_params(req, row)
    start = req.start or (_next_open(as_of, req.calendar) if as_of else None)
    nights = _nights(start, req, req.calendar) if start else ()
    order = Order(req.shares, req.side, req.horizon_days, req.periods, req.drift_usd_per_day, nights)
    fraction = _clock(start, [], req.calendar)[0] if start else 0.0
    profile, profile_days = (None, 0)
    if req.symbol and home is not None and as_of is not None:
        profile, profile_days = _profile(home, req.symbol, as_of, req.profile_days, req.calendar)
    power = req.model == "power"
    lam = req.risk_aversion
    if req.strategy == "optimal" and lam is None:
        raise KappaError("pass --risk-aversion λ (1/$; 0 gives TWAP) for an optimal schedule")

    def build(strategy: str) -> Schedule:
        if strategy == "optimal":
            assert lam is not None
            return (power_law_schedule if power else optimal_schedule)(order, params, lam)
        if strategy == "twap":
            return twap_schedule(order, params, power=power)
        if strategy == "vwap":
            if profile is None:
                raise KappaError(
                    "VWAP needs a volume profile: pass --symbol with trades loaded in the "
                    f"{req.profile_days} sessions up to the as-of date"
                )
            return vwap_schedule(order, params, profile, fraction, power=power)
        if req.participation is None:
            raise KappaError("POV needs --participation (a fraction of market volume, e.g. 0.1)")
        adv = params.power.adv_shares if params.power else req.adv_shares or (row or {}).get("adv_shares")
        if not isinstance(adv, int | float) or not adv > 0:
            raise KappaError("POV needs the ADV: pass --adv (shares/day) or --symbol with a calibration")
        return pov_schedule(order, params, req.participation, float(adv), profile, fraction, power=power)

    main = build(req.strategy)
    others = [s for s in ("optimal", "twap", "vwap", "pov") if s != req.strategy]
    comparison = [main]
    for s in others:
        if (s == "optimal" and lam is None) or (s == "vwap" and profile is None):
            continue
        if s == "pov" and req.participation is None:
            continue
        comparison.append(build(s))
    times = _clock(start, list(main.times_days), req.calendar)[1] if start else None
    frontier: list[Schedule] = []
    if req.frontier:
        lams = frontier_risk_aversions(order, params, req.frontier_points, include=lam)
        frontier = efficient_frontier(order, params, lams, power=power)
    ident = _identity(req, params, as_of, start)
    return SchedulePlan(
        request=req,
        schedule=main,
        schedule_id="s-" + _digest({**ident, "strategy": req.strategy}),
        as_of=as_of,
        start=start,
        times_utc=times,
        comparison=comparison,
        frontier=frontier,
        frontier_id=("f-" + _digest({**ident, "points": req.frontier_points})) if req.frontier else None,
        profile_days=profile_days,
        notes=parameter_notes(req, row) + _night_note(order, params),
        reference_price_usd=req.price_usd or _positive((row or {}).get("mid_close_usd")),
    )


def _positive(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) and v > 0 else None


def parameter_notes(req: ScheduleRequest, row: dict[str, object] | None) -> tuple[str, ...]:
    """The notes of :func:`calibrated_gamma` for the parameters taken from ``row`` (none given explicitly)."""
    gamma = calibrated_gamma(req, row)
    return (gamma.note,) if gamma is not None and gamma.note and gamma.gamma is not None else ()


def calibrated_gamma(req: ScheduleRequest, row: dict[str, object] | None) -> ScheduleGamma | None:
    """The γ a schedule takes from the calibration ``row`` (:func:`calibration.impact.schedule_gamma`), or
    ``None`` where there is no row or ``--gamma`` was given (an explicit value always wins)."""
    if row is None or req.gamma is not None:
        return None

    def number(column: str) -> float | None:
        v = row.get(column)
        return float(v) if isinstance(v, int | float) else None

    status = row.get("gamma_status")
    return schedule_gamma(number("gamma"), number("gamma_se"), str(status) if status is not None else None)


def market_params(req: ScheduleRequest, row: dict[str, object] | None) -> MarketParams:
    """σ, γ, η, ε (and the power law) from the explicit values, else the calibration row.

    γ from a calibration follows :func:`calibration.impact.schedule_gamma`, the one rule of ``kappa
    schedule`` and the nightly schedules: a negative estimate is taken as 0, a positive one as estimated
    (significant or not); :func:`parameter_notes` says so. A calibration without γ needs ``--gamma``.
    """
    cal = row or {}
    sigma_col = SIGMA_COLUMNS.get(req.sigma_source)
    if sigma_col is None:
        raise KappaError(f"sigma source {req.sigma_source!r} is not one of {', '.join(SIGMA_COLUMNS)}")

    def pick(given: float | None, column: str) -> float | None:
        if given is not None:
            return float(given)
        v = cal.get(column)
        return float(v) if isinstance(v, int | float) and math.isfinite(v) else None

    gamma = calibrated_gamma(req, row)
    values = {
        "sigma": pick(req.sigma_usd, sigma_col),
        "gamma": gamma.gamma if gamma is not None else pick(req.gamma, "gamma"),
        "eta": pick(req.eta, "eta"),
        "epsilon": pick(req.epsilon_usd, "epsilon_usd"),
    }
    power = None
    if req.model == "power":
        nl = {
            "eta-nl": pick(req.eta_nl, "eta_nl"),
            "beta": pick(req.beta, "beta"),
            "adv": pick(req.adv_shares, "adv_shares"),
        }
        _require(nl, req, row)
        power = PowerLaw(float(nl["eta-nl"] or 0), float(nl["beta"] or 0), float(nl["adv"] or 0))
        if values["eta"] is None and values["sigma"] is not None:
            # the power model does not use η; it is stored as the power law's average slope h(v)/v at the TWAP rate
            v = req.shares / req.horizon_days
            values["eta"] = power.eta_nl * float(values["sigma"]) * (v / power.adv_shares) ** power.beta / v
    _require(values, req, row)
    return MarketParams(
        float(values["sigma"] or 0), float(values["gamma"] or 0), float(values["eta"] or 0),
        float(values["epsilon"] or 0), power, pick(req.sigma_overnight_usd, "sigma_overnight_usd") or 0.0,
    )  # fmt: skip


def _require(values: dict[str, float | None], req: ScheduleRequest, row: dict[str, object] | None) -> None:
    missing = [k for k, v in values.items() if v is None]
    if not missing:
        return
    flags = ", ".join(f"--{m}" for m in missing)
    if row is None:
        raise KappaError(f"missing {flags}: give --symbol (with a calibration) or every parameter explicitly")
    raise KappaError(
        f"the calibration of {req.symbol} as of {row['as_of']} has no {flags.replace('--', '')} "
        f"(status {row.get('status')}, {row.get('reason') or 'see the calibrations table'}); pass {flags}"
    )


def _calibration(home: KappaHome | None, req: ScheduleRequest) -> dict[str, object]:
    if home is None:
        raise KappaError("--symbol needs a Kappa home with calibrations")
    cond, params = ("AND as_of <= ?", [req.symbol, req.as_of]) if req.as_of else ("", [req.symbol])
    with reader(home) as con:
        frame = con.sql(
            f"SELECT * FROM calibrations WHERE symbol = ? {cond} ORDER BY as_of DESC LIMIT 1", params=params
        ).pl()
    if not frame.height:
        when = f" on or before {req.as_of}" if req.as_of else ""
        raise KappaError(
            f"no calibration of {req.symbol}{when}; run kappa calibrate first or pass the parameters"
        )
    return frame.row(0, named=True)


def _profile(
    home: KappaHome, symbol: str, as_of: dt.date, days: int, calendar: str
) -> tuple[np.ndarray | None, int]:
    from data.reads import read_trades  # imports exchange_calendars: only for a symbol

    sessions, trades = read_trades(home, as_of, days, [symbol], calendar)
    if not trades.height:
        return None, 0
    prof = intraday_volume_profile(trades, sessions, BUCKETS_PER_SESSION)
    if not prof.height or prof["volume_fraction"].sum() <= 0:
        return None, 0
    return prof["volume_fraction"].to_numpy(), int(prof["days"][0])


def _clock(start: dt.datetime, times: list[float], calendar: str) -> tuple[float, list[dt.datetime]]:
    from data.calendar import session_clock  # exchange_calendars takes ~1 s to import: only with a start

    return session_clock(start, times, calendar)


def _nights(start: dt.datetime, req: ScheduleRequest, calendar: str) -> tuple[int, ...]:
    """c_k: the closes followed by a night inside each period of the request's grid from ``start``."""
    from data.calendar import nights_in_intervals

    tau = req.horizon_days / req.periods
    times = _clock(start, [tau * k for k in range(req.periods + 1)], calendar)[1]
    counts = nights_in_intervals(np.array([_ns(t).astype(np.int64) for t in times], dtype=np.int64), calendar)
    return tuple(int(c) for c in counts)


def _night_note(order: Order, params: MarketParams) -> tuple[str, ...]:
    """A note when the schedule waits over nights: what each costs in risk, or that it is not counted."""
    nights = sum(order.nights)
    if not nights:
        return ()
    if params.sigma_overnight_usd > 0:
        return (
            f"the schedule holds shares over {nights} night(s): each adds σ_night²·x² to V "
            f"(σ_night = {params.sigma_overnight_usd:.4g} $/share per night)",
        )
    return (f"the schedule holds shares over {nights} night(s), whose risk V does not count (no σ_night)",)


def _next_open(as_of: dt.date, calendar: str) -> dt.datetime:
    """The open of the first session after ``as_of`` (a schedule planned overnight starts there)."""
    from data.calendar import session_bounds

    nxt = session_bounds(as_of + dt.timedelta(days=1), as_of + dt.timedelta(days=15), calendar).row(
        0, named=True
    )
    return nxt["open_ts"].replace(tzinfo=dt.UTC)


def _identity(
    req: ScheduleRequest, params: MarketParams, as_of: dt.date | None, start: dt.datetime | None
) -> dict[str, object]:
    keep = ("order_id", "symbol", "side", "shares", "horizon_days", "periods", "risk_aversion",
            "drift_usd_per_day", "model", "participation", "profile_days", "calendar")  # fmt: skip
    return {
        **{k: getattr(req, k) for k in keep},
        "as_of": as_of,
        "start": start,
        "params": asdict(params),
    }


def _digest(obj: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _param_columns(s: Schedule) -> dict[str, object]:
    p, pw = s.params, s.params.power
    return {
        "model": s.model, "side": s.order.side, "shares": s.order.shares, "horizon_days": s.order.horizon_days,
        "periods": s.order.periods, "drift_usd_per_day": s.order.drift_usd_per_day, "sigma_usd": p.sigma_usd,
        "gamma": p.gamma, "eta": p.eta, "epsilon_usd": p.epsilon_usd, "eta_nl": pw.eta_nl if pw else None,
        "beta": pw.beta if pw else None, "adv_shares": pw.adv_shares if pw else None,
        "sigma_overnight_usd": p.sigma_overnight_usd,
    }  # fmt: skip


def schedule_rows(plans: Sequence[SchedulePlan], run_id: str, created_at: dt.datetime) -> pl.DataFrame:
    """The ``schedules`` rows of each plan's schedule: one per period k = 0..M (k = 0 trades nothing).

    Built as one frame from columns (many orders' schedules cost one frame, not one each).
    """
    per: dict[str, list[np.ndarray]] = {
        c: [] for c in ("period", "t_days", "ts", "holdings_shares", "trade_shares", "nights")
    }
    const: dict[str, list[object]] = {}
    for plan in plans:
        s = plan.schedule
        n = s.holdings.size
        half_life = s.half_life_days
        per["period"].append(np.arange(n, dtype=np.int32))
        per["t_days"].append(np.asarray(s.times_days, dtype=np.float64))
        per["ts"].append(
            np.array([_ns(t) for t in plan.times_utc], dtype="datetime64[ns]")
            if plan.times_utc
            else np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        )
        per["holdings_shares"].append(np.asarray(s.holdings, dtype=np.float64))
        per["trade_shares"].append(np.concatenate(([0.0], s.trades)))
        per["nights"].append(np.array([0, *(s.order.nights or (0,) * s.trades.size)], dtype=np.int64))
        row = {
            "schedule_id": plan.schedule_id, "run_id": run_id, "created_at": created_at,
            "order_id": plan.request.order_id, "symbol": plan.request.symbol, "as_of": plan.as_of,
            "strategy": s.strategy, **_param_columns(s), "tau_days": s.tau_days,
            "risk_aversion": s.risk_aversion, "participation": s.info.get("participation"),
            "eta_tilde": s.eta_tilde, "kappa_per_day": s.kappa_per_day,
            "half_life_days": half_life if half_life is not None and math.isfinite(half_life) else None,
            "expected_cost_usd": s.expected_cost_usd, "permanent_cost_usd": s.cost.permanent_usd,
            "fixed_cost_usd": s.cost.fixed_usd, "temporary_cost_usd": s.cost.temporary_usd,
            "drift_cost_usd": s.cost.drift_usd, "variance_usd2": s.variance_usd2, "std_usd": s.std_usd,
            "start_ts": plan.start.astimezone(dt.UTC).replace(tzinfo=None) if plan.start else None,
        }  # fmt: skip
        for k, v in row.items():
            const.setdefault(k, []).extend([v] * n)
    if not plans:
        return pl.DataFrame()
    frame = pl.DataFrame({k: np.concatenate(v) for k, v in per.items()}).with_columns(
        pl.col("ts").cast(pl.Datetime("ns"))
    )
    types: dict[str, pl.DataType] = {
        "as_of": pl.Date(),
        "created_at": pl.Datetime("us"),
        "start_ts": pl.Datetime("ns"),
    }
    frame = frame.with_columns(pl.Series(k, v, dtype=types.get(k), strict=False) for k, v in const.items())
    last = ("as_of", "created_at", "start_ts")
    return frame.select(*(c for c in frame.columns if c not in last), *last)


def _ns(t: dt.datetime) -> np.datetime64:
    """A timezone-aware instant as UTC ``datetime64[ns]``."""
    return np.datetime64(t.astimezone(dt.UTC).replace(tzinfo=None), "ns")


def frontier_rows(plan: SchedulePlan, run_id: str, created_at: dt.datetime) -> pl.DataFrame:
    """The ``frontiers`` rows of the plan: one per λ, the plan's own λ marked ``selected``."""
    first = plan.frontier[0]
    const = {"frontier_id": plan.frontier_id, "run_id": run_id, "symbol": plan.request.symbol,
             **_param_columns(first)}  # fmt: skip
    lam = plan.request.risk_aversion
    return pl.DataFrame(
        {
            "point": np.arange(len(plan.frontier), dtype=np.int32),
            "risk_aversion": [s.risk_aversion for s in plan.frontier],
            "kappa_per_day": [s.kappa_per_day for s in plan.frontier],
            "expected_cost_usd": [s.expected_cost_usd for s in plan.frontier],
            "variance_usd2": [s.variance_usd2 for s in plan.frontier],
            "std_usd": [s.std_usd for s in plan.frontier],
            "selected": [lam is not None and s.risk_aversion == lam for s in plan.frontier],
        },
        schema_overrides={"kappa_per_day": pl.Float64},
    ).with_columns(
        *(pl.lit(v).alias(k) for k, v in const.items()),
        pl.lit(plan.as_of, dtype=pl.Date).alias("as_of"),
        pl.lit(created_at, dtype=pl.Datetime("us")).alias("created_at"),
    )


def save_plan(home: KappaHome, plan: SchedulePlan) -> str:
    """Write the plan's schedule (and frontier) in one transaction; returns the run id."""
    run_id = new_run_id("schedule")
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = schedule_rows([plan], run_id, created)
    front = frontier_rows(plan, run_id, created) if plan.frontier else None
    with writer(home) as con, transaction(con):
        start_run(
            con, run_id, "schedule", {**_identity(plan.request, plan.schedule.params, plan.as_of, plan.start)}
        )
        n = replace_rows(con, "schedules", rows, ["schedule_id"])
        if front is not None:
            n += replace_rows(con, "frontiers", front, ["frontier_id"])
        finish_run(
            con,
            run_id,
            n,
            message=f"{plan.schedule_id}" + (f", {plan.frontier_id}" if front is not None else ""),
        )
    return run_id


@dataclass(frozen=True, slots=True)
class OrderSchedules:
    """The optimal schedules of pending orders (``schedules`` rows), the orders that got none, with why,
    and the notes of the plans (``(order_id, note)``, see :attr:`SchedulePlan.notes`)."""

    rows: pl.DataFrame
    skipped: list[tuple[str, str]]
    notes: list[tuple[str, str]] = field(default_factory=list)


def order_schedules(
    orders: pl.DataFrame,
    calibrations: pl.DataFrame,
    run_id: str,
    calendar: str = DEFAULT_CALENDAR,
) -> OrderSchedules:
    """The exact discrete Almgren-Chriss schedule of each order, from its symbol's calibration.

    Each order (``order_id, symbol, side, quantity, arrival_ts, end_ts, risk_aversion``) trades from its
    arrival to its end, the horizon T counted in session time (nights and holidays skipped), in
    N = max(1, round(78·T)) periods of about 5 minutes, at its own λ (``risk_aversion``; 0, i.e. TWAP, where
    it has none), with σ realized, γ, η and ε of its symbol's row in ``calibrations``. γ follows the rule of
    ``kappa schedule`` (:func:`market_params`): a negative estimate is used as γ = 0, which the row's
    ``gamma`` shows, and each plan's notes are returned beside the rows. An order without a usable
    calibration, or whose parameters admit no schedule, is skipped with the reason.
    """
    from data.calendar import session_time_days

    by_symbol = {r["symbol"]: r for r in calibrations.iter_rows(named=True)}
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    plans: list[SchedulePlan] = []
    skipped: list[tuple[str, str]] = []
    notes: list[tuple[str, str]] = []
    for o in orders.sort("order_id").iter_rows(named=True):
        start = o["arrival_ts"].replace(tzinfo=dt.UTC)
        horizon = session_time_days(start, o["end_ts"].replace(tzinfo=dt.UTC), calendar)
        row = by_symbol.get(o["symbol"])
        if row is None:
            skipped.append((o["order_id"], f"no calibration of {o['symbol']}"))
            continue
        if horizon <= 0:
            skipped.append((o["order_id"], "the order's window holds no session time"))
            continue
        lam = o["risk_aversion"] if o["risk_aversion"] is not None else 0.0
        req = ScheduleRequest(
            shares=o["quantity"], side=o["side"], horizon_days=horizon,
            periods=max(1, round(BUCKETS_PER_SESSION * horizon)), risk_aversion=lam, symbol=o["symbol"],
            as_of=row["as_of"], start=start, order_id=o["order_id"], calendar=calendar,
        )  # fmt: skip
        try:
            plan = plan_schedule(None, req, row)
        except (KappaError, ScheduleError) as exc:
            skipped.append((o["order_id"], str(exc)))
            continue
        plans.append(plan)
        notes.extend((o["order_id"], note) for note in plan.notes)
    return OrderSchedules(schedule_rows(plans, run_id, created), skipped, notes)
