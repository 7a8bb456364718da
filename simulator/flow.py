"""The public order flow of a session: quote update times and public trades (times, sizes, signs).

Quote updates and trades arrive as Poisson processes with a U-shaped intraday intensity; a trade's size is
an odd lot with probability ``ODD_LOT_PROB``, else a geometric number of round lots, and its sign is a fair
coin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kappa.units import SESSION_SECONDS
from simulator.universe import ODD_LOT_PROB, SymbolParams

U_SHAPE = 2.0  # intensity at the open and close is (1 + U_SHAPE) times the midday intensity


@dataclass(frozen=True, slots=True)
class PublicFlow:
    """A session's quote update times and public trades (times s since the open, sizes, ±1 signs)."""

    t_q: np.ndarray
    t_t: np.ndarray
    sizes: np.ndarray
    signs: np.ndarray


def public_flow(rng: np.random.Generator, p: SymbolParams, length_s: float) -> PublicFlow:
    """Quote updates (one at the open) and public trades of a session of ``length_s`` seconds."""
    frac = length_s / SESSION_SECONDS
    n_q = rng.poisson(p.quotes_per_day * frac)
    n_t = rng.poisson(p.trades_per_day * frac)
    t_q = np.concatenate([[0.0], _u_shaped_times(rng, n_q, length_s)])
    t_t = _u_shaped_times(rng, n_t, length_s)
    sizes = _trade_sizes(rng, p, n_t)
    signs = np.where(rng.uniform(size=n_t) < 0.5, 1.0, -1.0)
    return PublicFlow(t_q, t_t, sizes, signs)


def _u_shaped_times(rng: np.random.Generator, n: int, length_s: float) -> np.ndarray:
    """``n`` sorted times in [0, length_s) with density ∝ 1 + U_SHAPE·(2u − 1)² on the full session."""
    u_grid = np.linspace(0.0, 1.0, 2049)
    dens = 1.0 + U_SHAPE * (2 * u_grid - 1) ** 2
    cdf = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) / 2)])
    cdf /= cdf[-1]
    frac = length_s / SESSION_SECONDS
    # a shortened session keeps the morning part of the profile
    u = np.interp(rng.uniform(0.0, np.interp(frac, u_grid, cdf), n), cdf, u_grid)
    return np.sort(u * SESSION_SECONDS)


def _trade_sizes(rng: np.random.Generator, p: SymbolParams, n: int) -> np.ndarray:
    lots = rng.geometric(1.0 / p.mean_trade_lots, n) * 100.0
    odd = rng.integers(1, 100, n).astype(float)
    return np.where(rng.uniform(size=n) < ODD_LOT_PROB, odd, lots)
