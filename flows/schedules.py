"""Plan a schedule for one order from calibrated or given parameters, store it, and schedule the nightly's
pending orders.

:func:`plan_schedule` reads what a request needs (the latest ``calibrations`` row, the symbol's intraday
volume profile from the lake's trades, the start's place in the exchange's sessions) and hands it to the
pure :func:`schedule.requests.build_plan`; :func:`save_plan` writes ``schedules`` (and ``frontiers``) in
one transaction (:func:`data.results.write_schedules`); a rerun with the same inputs replaces the same rows
(the ids are hashes of the inputs). :func:`order_schedules` is the nightly's batch: one optimal schedule per
pending order, from the night's calibrations.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from data.calendar import next_open
from data.home import KappaHome
from kappa.errors import KappaError, NotFoundError, ParameterError
from kappa.units import BUCKETS_PER_SESSION, DEFAULT_CALENDAR
from schedule import Order, Schedule
from schedule.replan import Replan
from schedule.requests import (
    PlanInputs,
    SchedulePlan,
    ScheduleRequest,
    build_plan,
    check_request,
    digest,
    market_params,
    plan_identity,
)

if TYPE_CHECKING:  # polars and the calibration modules load only where a symbol's data are read or rows built
    import polars as pl

    from calibration.impact import ScheduleGamma


def plan_schedule(
    home: KappaHome | None, req: ScheduleRequest, calibration: dict[str, object] | None = None
) -> SchedulePlan:
    """Build the schedule of ``req``.

    For a symbol, the parameters come from ``calibration`` (a ``calibrations`` row) if given, else from the
    latest calibration in ``home`` up to ``req.as_of``; the volume profile (for VWAP) is read from ``home``'s
    lake when there is a home. The plan's ``notes`` say what was made of the calibration's γ (see
    :func:`parameter_notes`).

    Raises
    ------
    ParameterError
        A request no schedule answers (``schedule.requests``), or ``--symbol`` without a home.
    NotFoundError
        No calibration of the symbol (on or before ``req.as_of``).
    """
    check_request(req)
    row = calibration if calibration is not None else (calibration_row(home, req) if req.symbol else None)
    as_of: dt.date | None = row["as_of"] if row else req.as_of  # type: ignore[assignment]
    gamma = calibrated_gamma(req, row)
    params = market_params(req, row, gamma.gamma if gamma is not None else None)
    start = req.start or (
        next_open(as_of, req.calendar) if as_of else None
    )  # planned overnight: the next open
    nights = _nights(start, req, req.calendar) if start else ()
    order = Order(req.shares, req.side, req.horizon_days, req.periods, req.drift_usd_per_day, nights)
    profile, profile_days = (None, 0)
    if req.symbol and home is not None and as_of is not None:
        profile, profile_days = _profile(home, req.symbol, as_of, req.profile_days, req.calendar)
    inputs = PlanInputs(
        order=order, params=params, row=row, as_of=as_of, start=start, profile=profile, profile_days=profile_days,
        session_fraction=_clock(start, [], req.calendar)[0] if start else 0.0, notes=parameter_notes(req, row),
    )  # fmt: skip
    plan = build_plan(req, inputs)
    if start is None:
        return plan
    return replace(plan, times_utc=_clock(start, list(plan.schedule.times_days), req.calendar)[1])


def parameter_notes(req: ScheduleRequest, row: dict[str, object] | None) -> tuple[str, ...]:
    """The notes of :func:`calibrated_gamma` for the parameters taken from ``row`` (none given explicitly)."""
    gamma = calibrated_gamma(req, row)
    return (gamma.note,) if gamma is not None and gamma.note and gamma.gamma is not None else ()


def calibrated_gamma(req: ScheduleRequest, row: dict[str, object] | None) -> ScheduleGamma | None:
    """The γ a schedule takes from the calibration ``row`` (:func:`calibration.impact.schedule_gamma`), or
    ``None`` where there is no row or ``--gamma`` was given (an explicit value always wins)."""
    if row is None or req.gamma is not None:
        return None
    from calibration.impact import schedule_gamma

    def number(column: str) -> float | None:
        v = row.get(column)
        return float(v) if isinstance(v, int | float) else None

    status = row.get("gamma_status")
    return schedule_gamma(number("gamma"), number("gamma_se"), str(status) if status is not None else None)


def calibration_row(
    home: KappaHome | None,
    req: ScheduleRequest,
    *,
    without_home: str = "--symbol needs a Kappa home with calibrations",
    option: str = "--symbol",
    remedy: str = "pass the parameters",
) -> dict[str, object]:
    """The latest calibration of ``req.symbol`` on or before ``req.as_of``.

    Raises
    ------
    ParameterError
        No home to read it from (``without_home``, naming ``option``).
    NotFoundError
        No such calibration (the message ends with ``run kappa calibrate first or`` ``remedy``).
    """
    from data.queries import latest_calibration

    if home is None:
        raise ParameterError(without_home, name=option, value=req.symbol)
    assert req.symbol is not None
    row = latest_calibration(home, req.symbol, req.as_of)
    if row is None:
        when = f" on or before {req.as_of}" if req.as_of else ""
        raise NotFoundError(
            f"no calibration of {req.symbol}{when}; run kappa calibrate first or {remedy}",
            key=(req.symbol, req.as_of),
        )
    return row


def _profile(
    home: KappaHome, symbol: str, as_of: dt.date, days: int, calendar: str
) -> tuple[np.ndarray | None, int]:
    from calibration.bars import intraday_volume_profile
    from data.step_inputs import read_trades

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
    import polars as pl

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
            "basket_id": None,
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
        "basket_id": pl.String(),
    }
    frame = frame.with_columns(pl.Series(k, v, dtype=types.get(k), strict=False) for k, v in const.items())
    last = ("as_of", "created_at", "start_ts")
    return frame.select(*(c for c in frame.columns if c not in last), *last)


def _ns(t: dt.datetime) -> np.datetime64:
    """A timezone-aware instant as UTC ``datetime64[ns]``."""
    return np.datetime64(t.astimezone(dt.UTC).replace(tzinfo=None), "ns")


def frontier_rows(plan: SchedulePlan, run_id: str, created_at: dt.datetime) -> pl.DataFrame:
    """The ``frontiers`` rows of the plan: one per λ, the plan's own λ marked ``selected``."""
    import polars as pl

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
        pl.lit(None, dtype=pl.String).alias("basket_id"),
    )


def save_plan(home: KappaHome, plan: SchedulePlan, replanned: SchedulePlan | None = None) -> str:
    """Write the plan's schedule (and frontier), and its re-plan if given (:func:`replanned_plan`), in one
    transaction; returns the run id."""
    from data.results import write_schedules
    from data.store import new_run_id

    run_id = new_run_id("schedule")
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    plans = [plan] if replanned is None else [plan, replanned]
    return write_schedules(
        home,
        run_id,
        plan_identity(plan.request, plan.schedule.params, plan.as_of, plan.start),
        schedule_rows(plans, run_id, created),
        frontier_rows(plan, run_id, created) if plan.frontier else None,
        message=", ".join(
            [p.schedule_id for p in plans]
            + ([plan.frontier_id] if plan.frontier_id and plan.frontier else [])
        ),
    )


def replanned_plan(plan: SchedulePlan, rp: Replan) -> SchedulePlan:
    """The plan's order re-planned (:func:`schedule.replan.replan`) as a schedule of its own to save: strategy
    ``replanned``, the N + 1 holdings (the original to period K, the re-solved rest after), the parameters and
    λ in force from K, and the rest's κ, E and V (what is still to pay from period K, under those parameters).

    Its ``schedule_id`` hashes the original's inputs with K and the new parameters, so saving the same
    re-plan again replaces its rows and the original's rows stay beside it.
    """
    from dataclasses import asdict

    from schedule.costs import trades_of

    s, rest = plan.schedule, rp.rest
    schedule = replace(
        s, strategy="replanned", params=rest.params, risk_aversion=rest.risk_aversion,
        holdings=np.asarray(rp.holdings, dtype=np.float64), trades=trades_of(rp.holdings),
        kappa_per_day=rest.kappa_per_day, cost=rest.cost, variance_usd2=rest.variance_usd2,
        info={"replan_at": rp.at_period},
    )  # fmt: skip
    identity = {"of": plan.schedule_id, "at_period": rp.at_period, "params": asdict(rest.params),
                "risk_aversion": rest.risk_aversion}  # fmt: skip
    return replace(
        plan, schedule=schedule, schedule_id="s-" + digest(identity), comparison=[], frontier=[],
        frontier_id=None,
    )  # fmt: skip


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
        except KappaError as exc:  # ParameterError, ScheduleError: no schedule for this order
            skipped.append((o["order_id"], str(exc)))
            continue
        plans.append(plan)
        notes.extend((o["order_id"], note) for note in plan.notes)
    return OrderSchedules(schedule_rows(plans, run_id, created), skipped, notes)
