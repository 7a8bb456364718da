"""A request for one order's schedule, the parameters it takes from a calibration row, and the plan built
from them: the pure half of ``kappa schedule`` and of the nightly schedules (no I/O).

A :class:`ScheduleRequest` says what was asked (shares, side, horizon, periods, λ, the model, the strategy,
and any parameter given explicitly); :func:`market_params` merges it with a ``calibrations`` row (an
explicit value always wins); :func:`build_plan` builds the requested schedule, the baselines beside it and,
if asked, the efficient frontier, and names them by a hash of their inputs (:func:`plan_identity`), so a
rerun with the same inputs replaces the same rows. Reading the row, the volume profile and the exchange's
sessions is the caller's (``flows.schedules``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from kappa.errors import ParameterError
from kappa.units import BPS, DEFAULT_CALENDAR
from schedule.almgren_chriss import optimal_schedule
from schedule.baselines import pov_schedule, twap_schedule, vwap_schedule
from schedule.frontier import efficient_frontier, frontier_risk_aversions
from schedule.nonlinear import power_law_schedule
from schedule.records import MarketParams, Order, PowerLaw, Schedule

STRATEGIES = ("optimal", "twap", "vwap", "pov")
MODELS = ("linear", "power")
SIGMA_COLUMNS = {
    "realized": "sigma_usd",
    "garch": "sigma_garch_usd",
    "tsrv": "sigma_tsrv_usd",
    "regime": "regime_sigma_usd",
}
"""The ``calibrations`` column of each σ a request may take (``sigma_source``); ``regime`` is the two-regime
model's one-day-ahead σ (:mod:`calibration.regimes`), NULL unless its ``regime_status`` is ``ok``."""
DEFAULT_PROFILE_DAYS = 20


@dataclass(frozen=True, slots=True)
class ScheduleRequest:
    """What ``kappa schedule`` (or the nightly, for a pending order) asks for; values given explicitly
    override the calibration's. Units: shares, trading days, λ in 1/$, prices in $/share."""

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


def check_request(req: ScheduleRequest) -> None:
    """Refuse a request no schedule can answer before anything is read.

    Raises
    ------
    ParameterError
        An unknown strategy, model or σ source.
    """
    if req.strategy not in STRATEGIES:
        raise ParameterError(
            f"strategy {req.strategy!r} is not one of {', '.join(STRATEGIES)}",
            name="strategy",
            value=req.strategy,
        )
    if req.model not in MODELS:
        raise ParameterError(
            f"model {req.model!r} is neither 'linear' nor 'power'", name="model", value=req.model
        )
    if req.sigma_source not in SIGMA_COLUMNS:
        raise ParameterError(
            f"sigma source {req.sigma_source!r} is not one of {', '.join(SIGMA_COLUMNS)}",
            name="sigma_source", value=req.sigma_source,
        )  # fmt: skip


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
        return BPS * usd / (self.request.shares * p) if p else None


def market_params(
    req: ScheduleRequest, row: dict[str, object] | None, calibrated_gamma: float | None = None
) -> MarketParams:
    """σ, γ, η, ε (and the power law) from the explicit values, else the calibration ``row``.

    Parameters
    ----------
    req
        The request; each value it gives wins over the row's.
    row
        A ``calibrations`` row (column → value), or ``None``.
    calibrated_gamma
        γ ($/share per share) as a schedule takes the row's estimate (``calibration.impact.schedule_gamma``:
        a negative estimate as 0), used where ``req.gamma`` is not given; ``None`` where there is none.

    Returns
    -------
    MarketParams
        With the power model, η (unused by it) is the power law's average slope h(v)/v at the TWAP rate
        v = X/T.

    Raises
    ------
    ParameterError
        A parameter neither given nor in the row (its flag is named, and the row's status and reason).
    """
    cal = row or {}
    sigma_col = SIGMA_COLUMNS.get(req.sigma_source)
    if sigma_col is None:
        raise ParameterError(
            f"sigma source {req.sigma_source!r} is not one of {', '.join(SIGMA_COLUMNS)}",
            name="sigma_source", value=req.sigma_source,
        )  # fmt: skip

    def pick(given: float | None, column: str) -> float | None:
        if given is not None:
            return float(given)
        v = cal.get(column)
        return float(v) if isinstance(v, int | float) and math.isfinite(v) else None

    if req.sigma_source == "regime" and row is not None and pick(req.sigma_usd, sigma_col) is None:
        raise ParameterError(
            f"the calibration of {req.symbol} as of {row.get('as_of')} has no regime sigma "
            f"(regime_status {row.get('regime_status')}: {str(row.get('regime_message') or 'not fitted')[:160]}); "
            "pass --sigma or another --sigma-source",
            name="--sigma-source", value=req.sigma_source,
        )  # fmt: skip
    values = {
        "sigma": pick(req.sigma_usd, sigma_col),
        "gamma": float(req.gamma) if req.gamma is not None else calibrated_gamma,
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
        raise ParameterError(
            f"missing {flags}: give --symbol (with a calibration) or every parameter explicitly",
            name=f"--{missing[0]}", value=None,
        )  # fmt: skip
    raise ParameterError(
        f"the calibration of {req.symbol} as of {row['as_of']} has no {flags.replace('--', '')} "
        f"(status {row.get('status')}, {row.get('reason') or 'see the calibrations table'}); pass {flags}",
        name=f"--{missing[0]}", value=None,
    )  # fmt: skip


def night_note(order: Order, params: MarketParams) -> tuple[str, ...]:
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


def plan_identity(
    req: ScheduleRequest, params: MarketParams, as_of: dt.date | None, start: dt.datetime | None
) -> dict[str, object]:
    """What names a plan: the request's terms, the calibration date, the start and the parameters used
    (also stored as the ``schedule`` run's parameters)."""
    keep = ("order_id", "symbol", "side", "shares", "horizon_days", "periods", "risk_aversion",
            "drift_usd_per_day", "model", "participation", "profile_days", "calendar")  # fmt: skip
    return {**{k: getattr(req, k) for k in keep}, "as_of": as_of, "start": start, "params": asdict(params)}


def digest(obj: dict[str, object]) -> str:
    """A 16-hex-digit SHA-256 of ``obj`` as sorted JSON: the same inputs give the same id."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """What a plan is built from besides the request: the merged parameters, the order on its grid, and
    what the caller read (the calibration row, the volume profile, the start's place in its session)."""

    order: Order
    params: MarketParams
    row: dict[str, object] | None = None
    as_of: dt.date | None = None
    start: dt.datetime | None = None
    times_utc: list[dt.datetime] | None = None
    profile: np.ndarray | None = None
    profile_days: int = 0
    session_fraction: float = 0.0
    notes: tuple[str, ...] = ()


def strategy_schedule(strategy: str, req: ScheduleRequest, inp: PlanInputs) -> Schedule:
    """The schedule of ``strategy`` (optimal, twap, vwap or pov) for the request.

    Raises
    ------
    ParameterError
        VWAP without a volume profile, POV without a participation rate or an ADV.
    """
    power = req.model == "power"
    order, params = inp.order, inp.params
    if strategy == "optimal":
        assert req.risk_aversion is not None
        return (power_law_schedule if power else optimal_schedule)(order, params, req.risk_aversion)
    if strategy == "twap":
        return twap_schedule(order, params, power=power)
    if strategy == "vwap":
        if inp.profile is None:
            raise ParameterError(
                "VWAP needs a volume profile: pass --symbol with trades loaded in the "
                f"{req.profile_days} sessions up to the as-of date",
                name="--symbol", value=req.symbol,
            )  # fmt: skip
        return vwap_schedule(order, params, inp.profile, inp.session_fraction, power=power)
    if req.participation is None:
        raise ParameterError(
            "POV needs --participation (a fraction of market volume, e.g. 0.1)",
            name="--participation",
            value=None,
        )
    adv = params.power.adv_shares if params.power else req.adv_shares or (inp.row or {}).get("adv_shares")
    if not isinstance(adv, int | float) or not adv > 0:
        raise ParameterError(
            "POV needs the ADV: pass --adv (shares/day) or --symbol with a calibration",
            name="--adv",
            value=adv,
        )
    return pov_schedule(
        order, params, req.participation, float(adv), inp.profile, inp.session_fraction, power=power
    )


def build_plan(req: ScheduleRequest, inp: PlanInputs) -> SchedulePlan:
    """The requested schedule, each baseline that can be built beside it (optimal needs λ, VWAP a profile,
    POV a participation rate) and, with ``req.frontier``, the efficient frontier over λ (Almgren & Chriss
    2000, §3), named by hashes of their inputs.

    Raises
    ------
    ParameterError
        An optimal schedule without λ, or a strategy whose inputs are missing (:func:`strategy_schedule`).
    """
    if req.strategy == "optimal" and req.risk_aversion is None:
        raise ParameterError(
            "pass --risk-aversion λ (1/$; 0 gives TWAP) for an optimal schedule",
            name="--risk-aversion",
            value=None,
        )
    main = strategy_schedule(req.strategy, req, inp)
    comparison = [main]
    for s in STRATEGIES:
        if s == req.strategy or (s == "optimal" and req.risk_aversion is None):
            continue
        if (s == "vwap" and inp.profile is None) or (s == "pov" and req.participation is None):
            continue
        comparison.append(strategy_schedule(s, req, inp))
    frontier: list[Schedule] = []
    if req.frontier:
        lams = frontier_risk_aversions(inp.order, inp.params, req.frontier_points, include=req.risk_aversion)
        frontier = efficient_frontier(inp.order, inp.params, lams, power=req.model == "power")
    ident = plan_identity(req, inp.params, inp.as_of, inp.start)
    return SchedulePlan(
        request=req,
        schedule=main,
        schedule_id="s-" + digest({**ident, "strategy": req.strategy}),
        as_of=inp.as_of,
        start=inp.start,
        times_utc=inp.times_utc,
        comparison=comparison,
        frontier=frontier,
        frontier_id=("f-" + digest({**ident, "points": req.frontier_points})) if req.frontier else None,
        profile_days=inp.profile_days,
        notes=inp.notes + night_note(inp.order, inp.params),
        reference_price_usd=req.price_usd or _positive((inp.row or {}).get("mid_close_usd")),
    )


def _positive(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) and v > 0 else None
