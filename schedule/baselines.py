"""The schedules users compare the optimum against: TWAP, VWAP and POV, costed by the same model.

Each returns a :class:`~schedule.records.Schedule` in periods of the order's τ whose E and V come from the
sums of :mod:`schedule.costs`, so the optimum, the baselines and the realised fills are compared on equal
terms.

Time runs in trading days from the start; a day is one session. A volume profile is the expected fraction
of a session's volume in each of B equal bins of the session (see
:func:`calibration.bars.intraday_volume_profile`); within a bin volume is spread evenly.
"""

from __future__ import annotations

import math

import numpy as np

from kappa.errors import ScheduleError
from schedule.costs import schedule_from_holdings
from schedule.records import FloatArray, MarketParams, Order, Schedule

MAX_POV_PERIODS = 100_000


def twap_schedule(order: Order, params: MarketParams, *, power: bool = False) -> Schedule:
    """Equal trades X/N in each of the N periods (the λ = 0 optimum of the linear model)."""
    n = order.periods
    x = order.shares * (1.0 - np.arange(n + 1, dtype=np.float64) / n)
    x[-1] = 0.0
    return schedule_from_holdings("twap", x, order, params, power=power)


def cumulative_volume_days(
    times_days: FloatArray, profile: FloatArray | None, start_fraction: float
) -> FloatArray:
    """Expected market volume from the start to each time, in days of volume (ADV = 1).

    Parameters
    ----------
    times_days
        Trading days since the start.
    profile
        Fraction of a session's volume in each of B equal bins (sums to 1); None for a flat profile.
    start_fraction
        How far into its session the start is, in [0, 1].

    Notes
    -----
    With U the cumulative profile (linear within a bin) and p = start_fraction + t, the volume is
    ⌊p⌋ + U(p − ⌊p⌋) − U(start_fraction).
    """
    t = np.asarray(times_days, dtype=np.float64)
    if not 0.0 <= start_fraction <= 1.0:
        raise ScheduleError(
            f"start_fraction must be within [0, 1], got {start_fraction}",
            name="start_fraction",
            value=start_fraction,
        )
    if profile is None:
        return t
    prof = np.asarray(profile, dtype=np.float64)
    total = float(prof.sum())
    if prof.size == 0 or np.any(prof < 0) or not math.isfinite(total) or total <= 0:
        raise ScheduleError(
            "a volume profile needs non-negative fractions with a positive sum", name="profile", value=profile
        )
    edges = np.linspace(0.0, 1.0, prof.size + 1)
    cum = np.concatenate(([0.0], np.cumsum(prof / total)))
    pos = start_fraction + t
    whole = np.floor(pos)
    return whole + np.interp(pos - whole, edges, cum) - float(np.interp(start_fraction, edges, cum))


def vwap_schedule(
    order: Order,
    params: MarketParams,
    profile: FloatArray,
    start_fraction: float = 0.0,
    *,
    power: bool = False,
) -> Schedule:
    """Trades in proportion to the expected market volume of each period: x_k = X(1 − C(t_k)/C(T)).

    ``profile`` and ``start_fraction`` as in :func:`cumulative_volume_days`.
    """
    t = order.tau_days * np.arange(order.periods + 1, dtype=np.float64)
    c = cumulative_volume_days(t, profile, start_fraction)
    if c[-1] <= 0:
        raise ScheduleError(
            "the volume profile expects no volume over the horizon; VWAP is undefined",
            name="profile",
            value=profile,
        )
    x = order.shares * (1.0 - c / c[-1])
    x[0], x[-1] = order.shares, 0.0
    return schedule_from_holdings("vwap", x, order, params, power=power)


def pov_schedule(
    order: Order,
    params: MarketParams,
    participation: float,
    adv_shares: float,
    profile: FloatArray | None = None,
    start_fraction: float = 0.0,
    *,
    power: bool = False,
) -> Schedule:
    """Trade ``participation`` × the expected market volume of each period until the order is done.

    The schedule keeps the order's τ but runs for as many periods as it needs, shorter or longer than the
    horizon (the last period trades what is left); ``info`` reports the days it takes. Market volume per
    period is ADV × the profile's share of it (flat without a profile).
    """
    if not (0 < participation <= 1):
        raise ScheduleError(
            f"participation must be in (0, 1], got {participation}", name="participation", value=participation
        )
    if not (math.isfinite(adv_shares) and adv_shares > 0):
        raise ScheduleError(
            f"POV needs a positive ADV (shares/day), got {adv_shares}", name="adv_shares", value=adv_shares
        )
    tau = order.tau_days
    days_needed = order.shares / (participation * adv_shares)
    periods = math.ceil(days_needed / tau * (1 + 1e-12)) + math.ceil(1 / tau) + 1  # + a session of slack
    if periods > MAX_POV_PERIODS:
        raise ScheduleError(
            f"POV at {participation:.2%} of ADV {adv_shares:,.0f} needs {days_needed:,.1f} days "
            f"= more than {MAX_POV_PERIODS:,} periods of τ = {tau:g} days",
            name="participation",
            value=participation,
        )
    t = tau * np.arange(periods + 1, dtype=np.float64)
    done = np.minimum(
        participation * adv_shares * cumulative_volume_days(t, profile, start_fraction), order.shares
    )
    finished = done >= order.shares * (1 - 1e-12)  # not one more period for a rounding error's dust
    last = int(np.argmax(finished)) if finished[-1] else periods
    x = order.shares - done[: last + 1]
    x[0], x[-1] = order.shares, 0.0
    return schedule_from_holdings(
        "pov", x, order, params, power=power,
        info={"participation": participation, "adv_shares": adv_shares, "duration_days": last * tau},
    )  # fmt: skip
