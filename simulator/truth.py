"""The truth beside the data: the parameters every symbol was simulated with, for ``truth.json``."""

from __future__ import annotations

import math
from dataclasses import asdict

from simulator.universe import SimConfig


def truth(cfg: SimConfig) -> dict[str, object]:
    """The parameters the data were generated with, per symbol, plus the configuration (for truth.json)."""
    symbols = {}
    for p in cfg.symbols:
        e1, e2 = p.trade_size_moments
        symbols[p.symbol] = {
            **asdict(p),
            "half_spread_usd": p.epsilon_usd,
            "epsilon_usd": p.epsilon_usd + p.fee_usd_per_share,
            "sigma_usd": p.sigma_usd,
            "sigma_pct_ann": 100 * p.sigma_usd / p.s0 * math.sqrt(252),
            "garch_omega": p.garch_omega,
            "trades_per_day": p.trades_per_day,
            "mean_trade_size": e1,
            "mean_trade_size_sq": e2,
        }
    return {
        "model": "DESIGN §4: ABM mid + permanent impact γ (plus transient γ_T·2^(-t/h)) on all signed flow; "
        "fills at mid + side(ε + η n/τ)",
        "units": {
            "sigma_usd": "$/share/sqrt(day), day = 6.5 h session",
            "gamma": "$/share per share",
            "eta": "$/share per share/day",
            "epsilon_usd": "$/share: half spread + fee per share (DESIGN §3)",
            "half_spread_usd": "$/share: quotes sit at mid ± half spread; fills pay it inside the price",
            "fill_noise_usd": "$/share: standard deviation of the Gaussian noise on each own fill's price",
            "transient_impact": "$/share per share: the decaying part of a share's impact, gamma_T * 2^(-t/h)",
            "transient_half_life_min": "minutes of session time: h, the half-life of the transient impact",
        },
        "seed": cfg.seed,
        "start": cfg.start.isoformat(),
        "days": cfg.days,
        "calendar": cfg.calendar,
        "symbols": symbols,
    }
