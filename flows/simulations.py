"""Simulate the execution of one order's schedules (``kappa simulate``) and store what they came to.

:func:`run_simulation` plans the order as ``kappa schedule`` does (:func:`flows.schedules.plan_schedule`:
the parameters from a calibration or given, the volume profile for VWAP, ADV for POV), then runs the Monte
Carlo of :mod:`schedule.simulation` for each strategy asked; :func:`save_simulation` writes one
``simulations`` row per strategy and the run in one transaction (:func:`data.results.write_simulations`).
The simulation's id is a hash of its inputs, so saving the same simulation again replaces its rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import polars as pl

from data.home import KappaHome
from kappa.errors import ParameterError
from kappa.units import BUCKETS_PER_SESSION
from schedule import Schedule
from schedule.requests import (
    PlanInputs,
    SchedulePlan,
    ScheduleRequest,
    digest,
    plan_identity,
    strategy_schedule,
)
from schedule.simulation import (
    DEFAULT_STEPS_PER_PERIOD,
    STRATEGIES,
    Execution,
    Shock,
    Summary,
    check_shock,
    simulate_execution,
    summarize,
)

DEFAULT_STRATEGIES = ("optimal", "twap", "adaptive")
DEFAULT_PATHS = 10_000


@dataclass(frozen=True, slots=True)
class SimulationSettings:
    """The Monte Carlo's own inputs: the strategies, P paths, the seed, the shock, M sub-steps per period
    and the adaptive rule's trailing window W (periods)."""

    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    paths: int = DEFAULT_PATHS
    seed: int = 0
    shock: Shock | None = None
    steps_per_period: int = DEFAULT_STEPS_PER_PERIOD
    window_periods: int = 1


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """The plan the schedules came from, each strategy's executions and summary (in the order asked), the
    simulation's id and what names it (``identity``, also the run's parameters), and notes for people."""

    plan: SchedulePlan
    settings: SimulationSettings
    executions: list[Execution]
    summaries: list[Summary]
    simulation_id: str
    identity: dict[str, object]
    notes: tuple[str, ...] = field(default_factory=tuple)


def parse_strategies(values: Sequence[str] | None) -> tuple[str, ...]:
    """The strategies of repeated and/or comma-separated ``--strategy`` values (default optimal, twap,
    adaptive), each once, in the order given.

    Raises
    ------
    ParameterError
        A name that is not one of :data:`schedule.simulation.STRATEGIES`.
    """
    names = [n.strip().lower() for v in (values or ()) for n in v.split(",") if n.strip()]
    for n in names:
        if n not in STRATEGIES:
            raise ParameterError(
                f"--strategy {n!r} is not one of {', '.join(STRATEGIES)}", name="--strategy", value=n
            )
    return tuple(dict.fromkeys(names)) or DEFAULT_STRATEGIES


MAX_PATH_PERIODS = 100_000_000
"""The most paths × (N + 1) a simulation holds: about 4 GB of memory (10 million paths of 10 periods measured
4.1 GB) and 100 s; beyond it the command refuses and says how far over it is."""
MAX_DRAWS = 1_000_000_000
"""The most normal draws (paths × N × sub-steps) a simulation makes (about 100 s)."""
MAX_SIM_PERIODS = 2_000
"""The most periods N a simulation runs (a 5-minute grid over 25 sessions): the adaptive strategy's re-plans
cost N per period on every path, so its work grows as N²."""


def check_settings(req: ScheduleRequest, settings: SimulationSettings) -> None:
    """Refuse, before anything is read, what no simulation answers.

    Raises
    ------
    ParameterError
        P < 2 paths, M < 1 sub-steps, W < 1, a negative seed, more work than :data:`MAX_PATH_PERIODS`,
        :data:`MAX_DRAWS` or :data:`MAX_SIM_PERIODS` allow, no λ, a shock outside periods 1..N−1 or with
        M ≤ 0, an unknown strategy, or POV without ``--participation``.
    """
    for flag, v, least in (("--paths", settings.paths, 2), ("--steps-per-period", settings.steps_per_period, 1),
                           ("--window-periods", settings.window_periods, 1)):  # fmt: skip
        if v < least:
            raise ParameterError(f"{flag} {v}: must be at least {least}", name=flag, value=v)
    if settings.seed < 0:
        raise ParameterError(f"--seed {settings.seed}: must be >= 0", name="--seed", value=settings.seed)
    n = req.periods
    if n > MAX_SIM_PERIODS:
        raise ParameterError(f"--periods {n}: a simulation runs at most {MAX_SIM_PERIODS:,} periods",
                             name="--periods", value=n)  # fmt: skip
    held, draws = settings.paths * (n + 1), settings.paths * n * settings.steps_per_period
    if held > MAX_PATH_PERIODS or draws > MAX_DRAWS:
        raise ParameterError(
            f"--paths {settings.paths:,} × {n} periods × {settings.steps_per_period} sub-steps is more than one "
            f"run holds ({held:,} path-periods, at most {MAX_PATH_PERIODS:,}; {draws:,} draws, at most "
            f"{MAX_DRAWS:,}): use fewer paths (the standard error falls as 1/√paths) or split the run by --seed",
            name="--paths", value=settings.paths,
        )  # fmt: skip
    if req.risk_aversion is None or not req.risk_aversion >= 0:
        raise ParameterError(
            f"--risk-aversion λ (1/$) must be >= 0, got {req.risk_aversion}", name="--risk-aversion",
            value=req.risk_aversion,
        )  # fmt: skip
    if settings.shock is not None:
        k, m = settings.shock.at_period, settings.shock.sigma_multiplier
        if not 1 <= k <= req.periods - 1:
            raise ParameterError(
                f"--shock-at-period {k}: K must be from 1 to N - 1 = {req.periods - 1}",
                name="--shock-at-period", value=k,
            )  # fmt: skip
        if not (math.isfinite(m) and m > 0):
            raise ParameterError(
                f"--shock-sigma-multiplier {m}: must be a positive number", name="--shock-sigma-multiplier",
                value=m,
            )  # fmt: skip
        check_shock(settings.shock, req.periods)
    parse_strategies(settings.strategies)
    if "pov" in settings.strategies and req.participation is None:
        raise ParameterError(
            "POV needs --participation (a fraction of market volume, e.g. 0.1)", name="--participation",
            value=None,
        )  # fmt: skip


def run_simulation(
    home: KappaHome | None,
    req: ScheduleRequest,
    settings: SimulationSettings,
    calibration: dict[str, object] | None = None,
) -> SimulationResult:
    """Plan ``req`` and simulate each strategy of ``settings``.

    The schedules are those of ``kappa schedule`` for the same request (:func:`flows.schedules.plan_schedule`)
    on the linear model, in trading time: the simulation has no nights, so the plan takes σ_night = 0.
    VWAP without a volume profile (given parameters, or no trades loaded for the symbol) trades on a flat
    profile, i.e. as TWAP, and says so in a note.

    Raises
    ------
    ParameterError
        See :func:`check_settings` and :func:`flows.schedules.plan_schedule` (missing parameters, a symbol
        without a home).
    NotFoundError
        No calibration of the symbol.
    """
    from flows.schedules import plan_schedule

    check_settings(req, settings)
    strategies = parse_strategies(settings.strategies)
    req = replace(
        req, strategy="optimal", model="linear", sigma_overnight_usd=0.0, frontier=False,
        participation=req.participation if "pov" in strategies else None,
    )  # fmt: skip
    plan = plan_schedule(home if req.symbol else None, req, calibration)
    built = {s.strategy: s for s in plan.comparison}
    notes = list(plan.notes)
    if "vwap" in strategies and "vwap" not in built:
        flat = PlanInputs(order=plan.schedule.order, params=plan.schedule.params,
                          profile=np.ones(BUCKETS_PER_SESSION))  # fmt: skip
        built["vwap"] = strategy_schedule("vwap", req, flat)
        notes.append("VWAP on a flat volume profile (no intraday volume profile): the same as TWAP")
    schedules: dict[str, Schedule] = {s: built["optimal" if s == "adaptive" else s] for s in strategies}
    executions = [
        simulate_execution(
            sched,
            settings.paths,
            settings.seed,
            adaptive=name == "adaptive",
            shock=settings.shock,
            steps_per_period=settings.steps_per_period,
            window_periods=settings.window_periods,
            strategy=name,
        )
        for name, sched in schedules.items()
    ]
    lam = float(req.risk_aversion or 0.0)
    summaries = [summarize(e, lam, settings.shock) for e in executions]
    identity = {
        **plan_identity(req, plan.schedule.params, plan.as_of, plan.start),
        "adv_shares": req.adv_shares, "profile_days": plan.profile_days, "paths": settings.paths,
        "seed": settings.seed, "shock": asdict(settings.shock) if settings.shock else None,
        "steps_per_period": settings.steps_per_period, "window_periods": settings.window_periods,
    }  # fmt: skip
    return SimulationResult(
        plan, settings, executions, summaries, "sim-" + digest(identity), identity, tuple(notes)
    )


def simulation_rows(result: SimulationResult, run_id: str, created_at: dt.datetime) -> pl.DataFrame:
    """The ``simulations`` rows of ``result``: one per strategy."""
    req, p, shock = result.plan.request, result.plan.schedule.params, result.settings.shock
    const = {
        "simulation_id": result.simulation_id, "run_id": run_id, "created_at": created_at,
        "symbol": req.symbol, "as_of": result.plan.as_of, "side": req.side, "shares": req.shares,
        "horizon_days": req.horizon_days, "periods": req.periods, "risk_aversion": req.risk_aversion,
        "sigma_usd": p.sigma_usd, "gamma": p.gamma, "eta": p.eta, "epsilon_usd": p.epsilon_usd,
        "paths": result.settings.paths, "seed": result.settings.seed,
        "shock_at_period": shock.at_period if shock else None,
        "shock_sigma_multiplier": shock.sigma_multiplier if shock else None,
    }  # fmt: skip
    stats = ("model_expected_cost_usd", "model_std_usd", "mean_cost_usd", "mean_cost_se_usd", "std_cost_usd",
             "objective_usd", "cost_q05_usd", "cost_q50_usd", "cost_q95_usd")  # fmt: skip
    rows = [{"strategy": s.strategy, **const, **{k: getattr(s, k) for k in stats}} for s in result.summaries]
    return pl.DataFrame(
        rows,
        schema_overrides={
            "created_at": pl.Datetime("us"),
            "as_of": pl.Date,
            "symbol": pl.String,
            "periods": pl.Int32,
            "paths": pl.Int64,
            "seed": pl.Int64,
            "shock_at_period": pl.Int32,
            "shock_sigma_multiplier": pl.Float64,
        },
    )


def save_simulation(home: KappaHome, result: SimulationResult) -> str:
    """Write the simulation's rows and its run in one transaction; returns the run id."""
    from data.results import write_simulations
    from data.store import new_run_id

    run_id = new_run_id("simulate")
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return write_simulations(
        home, run_id, result.identity, simulation_rows(result, run_id, created), message=result.simulation_id
    )


def simulation_json(result: SimulationResult) -> dict[str, object]:
    """``kappa simulate --json``: the inputs, the notes, and per strategy its summary and the holdings of the
    schedule traded (the adaptive strategy's: the optimum it starts from)."""
    plan, st = result.plan, result.settings
    req, p = plan.request, plan.schedule.params
    inputs = {
        "symbol": req.symbol, "as_of": plan.as_of, "side": req.side, "shares": req.shares,
        "horizon_days": req.horizon_days, "periods": req.periods, "risk_aversion": req.risk_aversion,
        "sigma_usd": p.sigma_usd, "gamma": p.gamma, "eta": p.eta, "eta_tilde": plan.schedule.eta_tilde,
        "epsilon_usd": p.epsilon_usd, "adv_shares": req.adv_shares, "participation": req.participation,
        "paths": st.paths, "seed": st.seed, "steps_per_period": st.steps_per_period,
        "window_periods": st.window_periods,
        "shock_at_period": st.shock.at_period if st.shock else None,
        "shock_sigma_multiplier": st.shock.sigma_multiplier if st.shock else None,
    }  # fmt: skip
    strategies = [
        {**asdict(s), "periods": e.schedule.trades.size, "holdings_shares": e.schedule.holdings.tolist()}
        for s, e in zip(result.summaries, result.executions, strict=True)
    ]
    return {"simulation_id": result.simulation_id, "inputs": inputs, "notes": list(result.notes),
            "strategies": strategies}  # fmt: skip


def cost_frame(result: SimulationResult) -> pl.DataFrame:
    """``strategy, cost_usd``: every path's shortfall of every strategy (for the chart)."""
    return pl.concat(
        [pl.DataFrame({"strategy": [e.strategy] * e.costs_usd.size, "cost_usd": e.costs_usd})
         for e in result.executions]
    )  # fmt: skip
