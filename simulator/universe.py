"""The simulated universe: each symbol's true parameters, what to simulate, and a random universe.

:class:`SymbolParams` holds the Almgren-Chriss parameters a symbol's data are drawn with (and derives the σ
that public flow adds to the diffusion); :class:`SimConfig` says which symbols, sessions and own orders to
simulate; :func:`random_universe` draws a reproducible universe of plausible US equities.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from kappa.units import DEFAULT_CALENDAR

ODD_LOT_PROB = 0.05
FILL_NOISE_HALF_SPREADS = 1.0
"""Standard deviation of the fill-price noise of :func:`random_universe`'s symbols, in half spreads."""


@dataclass(frozen=True, slots=True)
class SymbolParams:
    """True parameters of one simulated symbol (units of DESIGN §3).

    ``gamma`` $/share per share; ``eta`` $/share per (share/day); ``epsilon_usd`` the half spread $/share;
    ``sigma_diffusion_usd`` $/share/√day; ``garch_*`` for daily log returns in percent;
    ``fill_noise_usd`` the standard deviation ($/share) of the Gaussian noise added to each own fill's
    price (0: fills exactly at mid + side·(ε + η·n/τ)). ``transient_impact`` ($/share per share) and
    ``transient_half_life_min`` (minutes of session time): the part of each signed share's impact that
    decays, γ_T·2^(−t/h) (0: permanent impact only, see :func:`transient_impact_path`).
    """

    symbol: str
    s0: float
    sigma_diffusion_usd: float
    gamma: float
    eta: float
    epsilon_usd: float
    adv_shares: float
    mean_trade_lots: float = 2.0
    quotes_per_day: float = 3_000.0
    fee_usd_per_share: float = 0.0
    garch_alpha: float = 0.08
    garch_beta: float = 0.88
    fill_noise_usd: float = 0.0
    transient_impact: float = 0.0
    transient_half_life_min: float = 5.0

    @property
    def trade_size_moments(self) -> tuple[float, float]:
        """E[size] and E[size²] in shares and shares² of a public trade.

        Sizes are odd lots uniform on 1..99 with probability ``ODD_LOT_PROB``, else 100 × a geometric number
        of lots with mean ``mean_trade_lots`` (E[K²] = (2 − q)/q² with q = 1/mean).
        """
        q = 1.0 / self.mean_trade_lots
        odd_m1, odd_m2 = 50.0, (99 + 1) * (2 * 99 + 1) / 6.0
        lot_m1, lot_m2 = 100.0 / q, 1e4 * (2 - q) / q**2
        p = ODD_LOT_PROB
        return p * odd_m1 + (1 - p) * lot_m1, p * odd_m2 + (1 - p) * lot_m2

    @property
    def trades_per_day(self) -> float:
        """Expected public trades per full session: ADV / E[size]."""
        return self.adv_shares / self.trade_size_moments[0]

    @property
    def sigma_usd(self) -> float:
        """σ of the mid absent own trading, $/share/√day: √(σ_diffusion² + γ² · E[N] · E[size²])."""
        return math.sqrt(
            self.sigma_diffusion_usd**2 + self.gamma**2 * self.trades_per_day * self.trade_size_moments[1]
        )

    @property
    def garch_omega(self) -> float:
        """ω so that the GARCH unconditional variance is (100 · σ / S0)² (% log return per day)."""
        return (100.0 * self.sigma_usd / self.s0) ** 2 * (1.0 - self.garch_alpha - self.garch_beta)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What to simulate: a universe, a range of sessions, own orders, and a daily history."""

    symbols: tuple[SymbolParams, ...]
    start: dt.date
    days: int
    orders_per_symbol_day: float = 4.0
    history_days: int = 0
    seed: int = 7
    calendar: str = DEFAULT_CALENDAR
    own_trades_in_tape: bool = True
    partial_fill_prob: float = 0.15
    children: tuple[int, int] = (6, 20)
    horizon_minutes: tuple[float, float] = (30.0, 150.0)
    order_adv_fraction: tuple[float, float] = (0.002, 0.02)
    spanning_orders: tuple[tuple[int, int], ...] = ((1, 2), (2, 3), (3, 2))
    """Parent orders working over several sessions, per symbol: (index of the session of arrival, sessions
    spanned); each kept only if it ends within the simulated sessions, none without own orders
    (``orders_per_symbol_day`` = 0). Started on a Thursday, the first crosses a weekend."""


def random_universe(
    n: int,
    seed: int = 7,
    quotes_per_day: float = 3_000.0,
    adv_scale: float = 1.0,
    fill_noise_half_spreads: float = FILL_NOISE_HALF_SPREADS,
) -> tuple[SymbolParams, ...]:
    """``n`` symbols with different S0, σ, γ, η, ε and volume, drawn reproducibly from ``seed``.

    σ is 15-60 % annualised; γ·ADV is 0.3-1.0 σ (a day's volume moves the price by about a σ); η is set so
    that trading at 10 % of ADV costs 5-30 bps of temporary impact; ε is a 1-5 bps half spread. Own fills'
    prices carry a noise of ``fill_noise_half_spreads`` half spreads (standard deviation; 0 for fills
    exactly on the model), so that the fills regression has the standard errors of real fills.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        s0 = float(np.exp(rng.uniform(np.log(15), np.log(250))))
        sigma_total_pct = rng.uniform(0.15, 0.60) / math.sqrt(252)
        adv = float(np.exp(rng.uniform(np.log(3e5), np.log(3e6)))) * adv_scale
        gamma = rng.uniform(0.3, 1.0) * sigma_total_pct * s0 / adv
        eta = rng.uniform(5e-4, 3e-3) * s0 / (0.1 * adv)
        eps = max(0.005, s0 * rng.uniform(1e-4, 5e-4))
        lots = rng.uniform(1.5, 4.0)
        # choose the diffusion so that the total σ (with public impact) hits the drawn level
        probe = SymbolParams(f"S{i:04d}", s0, 0.0, gamma, eta, eps, adv, lots, quotes_per_day)
        impact_var = probe.sigma_usd**2
        # GARCH persistence α + β in [0.90, 0.97]: stationary, and a 500-day sample shows its variance
        persistence, alpha = float(rng.uniform(0.90, 0.97)), float(rng.uniform(0.04, 0.10))
        sigma_d = math.sqrt(max((sigma_total_pct * s0) ** 2 - impact_var, 0.25 * (sigma_total_pct * s0) ** 2))
        out.append(
            SymbolParams(
                symbol=_ticker(i),
                s0=round(s0, 2),
                sigma_diffusion_usd=sigma_d,
                gamma=gamma,
                eta=eta,
                epsilon_usd=round(eps, 4),
                adv_shares=round(adv),
                mean_trade_lots=lots,
                quotes_per_day=quotes_per_day,
                garch_alpha=alpha,
                garch_beta=persistence - alpha,
                fill_noise_usd=fill_noise_half_spreads * round(eps, 4),
            )
        )
    return tuple(out)


def _ticker(i: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    s = ""
    k = i
    for _ in range(4):
        s = letters[k % 26] + s
        k //= 26
    return "K" + s
