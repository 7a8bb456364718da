"""The records every schedule is built from: the order, the market's cost parameters, and the result.

Units (DESIGN §3): time in trading days; shares; σ in $/share/√day; γ in $/share per share; η in $/share
per (share/day); ε in $/share; λ in 1/$; the drift α in $/share/day (the expected change of the price,
positive when it is expected to rise, whatever the side).

Holdings are the shares *still to trade* (Almgren & Chriss's x_k): they fall from X to 0 for a buy and a
sell alike, and ``trades`` (n_k = x_{k−1} − x_k) are shares traded in the order's direction. Every cost is
relative to the mid before the first trade and positive when the trader pays, for buys and sells alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kappa.errors import ScheduleError
from kappa.units import SIDE_SIGN

FloatArray = npt.NDArray[np.float64]

MAX_PERIODS = 100_000


@dataclass(frozen=True, slots=True)
class Order:
    """What to trade: ``shares`` X > 0 on ``side`` over ``horizon_days`` T in ``periods`` N equal slices.

    ``drift_usd_per_day`` is the expected price drift α ($/share/day), positive when the price is expected
    to rise. A seller gains from a rising price while holding, a buyer loses, so the drift's cost per
    share held for a day is ``side_sign`` · α.

    ``nights`` (empty, or N counts): c_k, the closes followed by a night inside period k = 1..N (a schedule
    that spans sessions holds x_k over them; each adds σ_night²·x_k² to V, see
    :func:`schedule.costs.path_moments`).
    """

    shares: float
    side: str
    horizon_days: float
    periods: int
    drift_usd_per_day: float = 0.0
    nights: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.side not in SIDE_SIGN:
            raise ScheduleError(
                f"side {self.side!r} is neither 'buy' nor 'sell'", name="side", value=self.side
            )
        if not (math.isfinite(self.shares) and self.shares > 0):
            raise ScheduleError(
                f"shares must be a positive number, got {self.shares}", name="shares", value=self.shares
            )
        if not (math.isfinite(self.horizon_days) and self.horizon_days > 0):
            raise ScheduleError(
                f"horizon_days must be positive, got {self.horizon_days}",
                name="horizon_days",
                value=self.horizon_days,
            )
        if isinstance(self.periods, bool) or int(self.periods) != self.periods or self.periods < 1:
            raise ScheduleError(
                f"periods must be a whole number >= 1, got {self.periods}", name="periods", value=self.periods
            )
        if self.periods > MAX_PERIODS:
            raise ScheduleError(
                f"periods N = {self.periods:,} is more than {MAX_PERIODS:,}: use longer periods",
                name="periods",
                value=self.periods,
            )
        if not math.isfinite(self.drift_usd_per_day):
            raise ScheduleError(
                f"drift must be finite, got {self.drift_usd_per_day}",
                name="drift_usd_per_day",
                value=self.drift_usd_per_day,
            )
        if self.nights and (len(self.nights) != self.periods or min(self.nights) < 0):
            raise ScheduleError(
                f"nights must give a count >= 0 for each of the {self.periods} periods, got {self.nights}",
                name="nights",
                value=self.nights,
            )

    @property
    def tau_days(self) -> float:
        """τ = T/N, the length of one period (trading days)."""
        return self.horizon_days / self.periods

    @property
    def nights_array(self) -> FloatArray | None:
        """c_1..c_N as floats, or None when the schedule crosses no night."""
        return np.asarray(self.nights, dtype=np.float64) if any(self.nights) else None

    @property
    def side_sign(self) -> float:
        """+1 for a buy, −1 for a sell."""
        return SIDE_SIGN[self.side]

    @property
    def drift_cost_usd_per_share_day(self) -> float:
        """μ = side·α: the expected cost of holding one share still to trade for one day."""
        return self.side_sign * self.drift_usd_per_day + 0.0  # never −0.0


def periods_for(horizon_days: float, period_days: float) -> int:
    """N = T/τ, refusing a period length that does not divide the horizon into whole periods."""
    if not (period_days > 0 and horizon_days > 0):
        raise ScheduleError(
            f"horizon {horizon_days} and period {period_days} days must both be positive",
            name="horizon_days" if not horizon_days > 0 else "period_days",
            value=horizon_days if not horizon_days > 0 else period_days,
        )
    n = horizon_days / period_days
    whole = round(n)
    if whole < 1 or abs(n - whole) > 1e-9 * max(1.0, n):
        raise ScheduleError(
            f"the horizon T = {horizon_days} days is not a whole number of periods of τ = {period_days} "
            f"days (T/τ = {n:.6g}); choose τ = T/N for an integer N",
            name="period_days",
            value=period_days,
        )
    return int(whole)


@dataclass(frozen=True, slots=True)
class PowerLaw:
    """Nonlinear temporary impact h(v) = η_nl · σ · |v/ADV|^β ($/share) at a rate v (shares/day).

    Almgren, Thum, Hauptmann & Li (2005), eq. 4, in the units of DESIGN §3 (J = h/mid, σ_frac = σ/mid).
    At β = 1 it is the linear law with η = η_nl·σ/ADV.
    """

    eta_nl: float
    beta: float
    adv_shares: float

    def __post_init__(self) -> None:
        for name in ("eta_nl", "beta", "adv_shares"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ScheduleError(f"power-law {name} must be positive, got {v}", name=name, value=v)

    def period_cost_coefficient(self, sigma_usd: float, tau_days: float) -> float:
        """A = η_nl·σ/(ADV·τ)^β: trading n shares in a period of τ days costs A·|n|^{1+β} ($)."""
        return self.eta_nl * sigma_usd / (self.adv_shares * tau_days) ** self.beta


@dataclass(frozen=True, slots=True)
class MarketParams:
    """The Almgren-Chriss parameters of one symbol: σ, γ, η, ε, the power law where one is used, and the
    overnight σ_night ($/share per night crossed; 0: a schedule inside one session carries no night)."""

    sigma_usd: float
    gamma: float
    eta: float
    epsilon_usd: float
    power: PowerLaw | None = None
    sigma_overnight_usd: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "sigma_usd": self.sigma_usd >= 0,
            "sigma_overnight_usd": self.sigma_overnight_usd >= 0,
            "gamma": self.gamma >= 0,
            "eta": self.eta > 0,
            "epsilon_usd": self.epsilon_usd >= 0,
        }
        for name, ok in checks.items():
            v = getattr(self, name)
            if not (math.isfinite(v) and ok):
                need = "positive" if name == "eta" else "non-negative"
                raise ScheduleError(f"{name} must be a finite {need} number, got {v}", name=name, value=v)

    def eta_tilde(self, tau_days: float, *, require_positive: bool = True) -> float:
        """η̃ = η − γτ/2 (Almgren & Chriss 2000, eq. 17), refused unless positive (if ``require_positive``)."""
        et = self.eta - 0.5 * self.gamma * tau_days
        if require_positive and not et > 0:
            raise ScheduleError(
                f"η̃ = η − γτ/2 = {self.eta:.6g} − {self.gamma:.6g}·{tau_days:.6g}/2 = {et:.6g} is not positive: "
                "the temporary impact η must exceed γτ/2; use more periods (a shorter τ) or check η and γ",
                name="eta_tilde",
                value=et,
            )
        return et


@dataclass(frozen=True, slots=True)
class Cost:
    """Expected cost E of a trajectory, split into its parts (USD, positive = cost).

    ``permanent_usd`` = ½γX²; ``fixed_usd`` = εΣ|n_k|; ``temporary_usd`` = Σ n_k·h(n_k/τ) − ½γΣn_k² (the
    linear case: (η̃/τ)Σn_k²); ``drift_usd`` = μ·τ·Σ_{k=1..N} x_k.
    """

    permanent_usd: float
    fixed_usd: float
    temporary_usd: float
    drift_usd: float

    @property
    def total_usd(self) -> float:
        return self.permanent_usd + self.fixed_usd + self.temporary_usd + self.drift_usd


@dataclass(frozen=True, slots=True)
class Schedule:
    """A trajectory with its expected cost and variance.

    ``times_days`` t_k = kτ (k = 0..M), ``holdings`` x_k (shares still to trade, x_0 = X, x_M = 0),
    ``trades`` n_k (k = 1..M). ``kappa_per_day`` is the exact discrete κ of an optimal linear schedule
    (None otherwise). ``strategy`` is ``optimal``, ``twap``, ``vwap`` or ``pov``; ``model`` ``linear`` or
    ``power``. ``info`` carries what a strategy adds (participation, optimiser iterations).
    """

    strategy: str
    model: str
    order: Order
    params: MarketParams
    risk_aversion: float | None
    tau_days: float
    times_days: FloatArray
    holdings: FloatArray
    trades: FloatArray
    kappa_per_day: float | None
    cost: Cost
    variance_usd2: float
    info: dict[str, float | int | str]

    @property
    def eta_tilde(self) -> float | None:
        """η̃ = η − γτ/2 of a linear-model schedule (None under the power law, which has no η̃)."""
        return (
            self.params.eta_tilde(self.tau_days, require_positive=False) if self.model == "linear" else None
        )

    @property
    def expected_cost_usd(self) -> float:
        return self.cost.total_usd

    @property
    def std_usd(self) -> float:
        return math.sqrt(self.variance_usd2)

    @property
    def half_life_days(self) -> float | None:
        """θ = 1/κ (Almgren & Chriss 2000, §2.3); infinite for TWAP (κ = 0); None when κ is not defined."""
        if self.kappa_per_day is None:
            return None
        return math.inf if self.kappa_per_day == 0 else 1.0 / self.kappa_per_day

    def rounded_holdings(self, lot_shares: float) -> FloatArray:
        """The holdings rounded to round lots of ``lot_shares`` (what an order router can send).

        x̂_0 = X and x̂_M = 0 exactly; in between x̂_k = lot·round(x_k/lot), so the rounded trades
        n̂_k = x̂_{k−1} − x̂_k are whole lots but for the odd lot of X (if X is no whole number of lots, it
        is in the first trade), they sum to X, and no x̂_k is more than half a lot from x_k.
        """
        if lot_shares <= 0:
            raise ScheduleError(
                f"the lot size must be positive, not {lot_shares}", name="lot_shares", value=lot_shares
            )
        x = np.asarray(self.holdings, dtype=np.float64)
        out = np.round(x / lot_shares) * lot_shares
        out[0], out[-1] = x[0], 0.0
        return np.minimum(out, x[0])

    def utility_usd(self, risk_aversion: float | None = None) -> float:
        """E + λV at ``risk_aversion`` (default the schedule's own λ, else 0)."""
        lam = risk_aversion if risk_aversion is not None else (self.risk_aversion or 0.0)
        return self.expected_cost_usd + (lam * self.variance_usd2 if self.variance_usd2 else 0.0)
