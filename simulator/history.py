"""Long daily histories for GARCH: closing prices from a GARCH(1,1) on daily log returns, without ticks."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

from data.calendar import exchange_calendar
from kappa.units import DEFAULT_CALENDAR
from simulator.universe import SymbolParams


def daily_history(
    symbols: tuple[SymbolParams, ...],
    end_before: dt.date,
    days: int,
    seed: int = 11,
    calendar: str = DEFAULT_CALENDAR,
) -> pl.DataFrame:
    """``days`` sessions of daily closes and volumes ending the session before ``end_before``.

    Log returns × 100 follow GARCH(1,1) with constant mean 0 and normal errors,
    r_t = √h_t·z_t, h_t = ω + α·r²_{t−1} + β·h_{t−1} (Bollerslev 1986), started at the unconditional
    variance; prices are scaled so that the last close equals S0, where the intraday simulation starts.
    """
    cal = exchange_calendar(calendar)
    last = cal.date_to_session(str(end_before), direction="next")
    idx = cal.sessions.get_loc(last)
    dates = [d.date() for d in cal.sessions[max(0, idx - days) : idx]]
    rng = np.random.default_rng(seed)
    frames = []
    for p in symbols:
        r = garch_path(rng, p.garch_omega, p.garch_alpha, p.garch_beta, len(dates))
        logp = np.cumsum(r / 100.0)
        close = p.s0 * np.exp(logp - logp[-1])
        vol = np.round(p.adv_shares * rng.lognormal(-0.045, 0.3, len(dates)))
        frames.append(pl.DataFrame({"symbol": p.symbol, "date": dates, "close": close, "volume": vol}))
    return pl.concat(frames)


def garch_path(rng: np.random.Generator, omega: float, alpha: float, beta: float, n: int) -> np.ndarray:
    """A GARCH(1,1) path r_1..r_n (percent) with normal innovations, started at the unconditional variance."""
    h = omega / (1 - alpha - beta)
    z = rng.standard_normal(n)
    r = np.empty(n)
    for t in range(n):
        r[t] = math.sqrt(h) * z[t]
        h = omega + alpha * r[t] ** 2 + beta * h
    return r
