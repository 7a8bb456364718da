"""A seeded, vectorised simulator of the market model of DESIGN §4, with its truth beside the data.

Per symbol the mid follows arithmetic Brownian motion with volatility ``sigma_diffusion_usd`` plus permanent
impact ``gamma`` times every signed share traded by anyone. Quotes sit at mid ± ``epsilon_usd``. Public
trades arrive as a Poisson process with a U-shaped intraday intensity, a random sign and a random size, and
print at the quote (a buy at the ask). Own parent orders trade child slices on an Almgren-Chriss trajectory:
a child of n shares executed over an interval of τ days (from the previous fill; the first from arrival)
fills at mid + side·(ε + η·n/τ) + u, then moves the mid by side·γ·n (Almgren & Chriss 2000, eqs. 1, 2, 6,
7). The fill-price noise u ~ N(0, ``fill_noise_usd``²), independent across fills, stands for what the model
leaves out of a real fill (price improvement, queue position, ticks); at 0 the fills follow the model exactly.
A symbol with ``transient_impact`` γ_T > 0 adds to every signed share's permanent γ a transient impact
γ_T·2^(−t/h) that decays with a half-life of h = ``transient_half_life_min`` (:func:`transient_impact_path`).
Besides each session's own orders, a few parent orders work over several sessions (``SimConfig.spanning_orders``):
their children are laid out in session time, so τ never counts a night or a weekend, and fill on every session.

The volatility that Almgren-Chriss needs is that of the mid absent one's own trading. Public flow is a
compound Poisson process, so over one day

    σ² = σ_diffusion² + γ² · E[number of public trades] · E[size²]

which the truth file records as ``sigma_usd`` beside ``sigma_diffusion_usd``. Time is in trading days
(1 day = the 6.5 h regular session); an early-close session is proportionally shorter.

Long daily histories for GARCH come from :func:`daily_history` (closing prices from a GARCH(1,1) on daily
log returns × 100), without simulating ticks.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from data.calendar import DEFAULT_CALENDAR, exchange_calendar, exchange_timezone, session_bounds
from kappa.units import SESSION_SECONDS

NS = 1_000_000_000
ODD_LOT_PROB = 0.05
U_SHAPE = 2.0  # intensity at the open and close is (1 + U_SHAPE) times the midday intensity
POST_TRADE_QUOTE_NS = 1_000  # the quote after a trade is stamped 1 µs after it
VENUES = ("XNYS", "XNAS", "ARCX", "BATS", "IEXG")
BROKERS = ("Alpha", "Beta", "Gamma")
ALGOS = ("AC", "TWAP", "VWAP")
TRADERS = ("ana", "ben", "chloe", "dev")
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


@dataclass(slots=True)
class SimDay:
    """One simulated session: the four input tables (timestamps UTC ns) and the closing mid per symbol."""

    date: dt.date
    quotes: pl.DataFrame
    trades: pl.DataFrame
    orders: pl.DataFrame
    fills: pl.DataFrame
    close_mid: dict[str, float] = field(default_factory=dict)


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


def ac_plan(
    p: SymbolParams, side: int, qty: float, horizon_s: float, n_child: int, kappa_t: float
) -> tuple[float, np.ndarray]:
    """λ (1/$) and the holdings x_0..x_n of the exact discrete Almgren-Chriss optimum whose κT is ``kappa_t``
    over ``n_child`` periods of the horizon, from :mod:`schedule` (TWAP, λ = 0, when κT = 0 or η̃ ≤ 0)."""
    from schedule import MarketParams, Order, optimal_holdings, risk_aversion_for_kappa, twap_schedule

    horizon_days = horizon_s / SESSION_SECONDS
    order = Order(qty, "buy" if side > 0 else "sell", horizon_days, n_child)
    params = MarketParams(p.sigma_usd, p.gamma, p.eta, p.epsilon_usd)
    eta_tilde = params.eta_tilde(order.tau_days, require_positive=False)
    lam = (
        0.0
        if kappa_t < 1e-9 or eta_tilde <= 0
        else risk_aversion_for_kappa(kappa_t / horizon_days, p.sigma_usd, eta_tilde, order.tau_days)
    )
    if lam == 0.0:
        return lam, twap_schedule(order, params).holdings
    return lam, optimal_holdings(order, params, lam)[1]


def _own_orders(
    rng: np.random.Generator, p: SymbolParams, cfg: SimConfig, day: dt.date, length_s: float, first_id: int
) -> tuple[list[dict[str, object]], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parent orders and their child fills (times s, signed shares, τ days, order index) for one session."""
    n_orders = rng.poisson(cfg.orders_per_symbol_day)
    orders: list[dict[str, object]] = []
    f_t, f_q, f_tau, f_idx = [], [], [], []
    for k in range(n_orders):
        horizon_s = rng.uniform(*cfg.horizon_minutes) * 60.0
        if horizon_s > length_s - 1200:
            horizon_s = (length_s - 1200) * 0.8
        arrival = rng.uniform(600.0, length_s - horizon_s - 300.0)
        side = 1 if rng.uniform() < 0.5 else -1
        qty = float(max(100, round(rng.uniform(*cfg.order_adv_fraction) * p.adv_shares / 100) * 100))
        n_child = int(rng.integers(cfg.children[0], cfg.children[1] + 1))
        kappa_t = float(rng.choice([0.0, rng.uniform(0.2, 4.0)]))
        lam, plan = ac_plan(p, side, qty, horizon_s, n_child, kappa_t)
        hold = np.round(plan)
        child = -np.diff(hold)
        grid = arrival + np.arange(1, n_child + 1) * horizon_s / n_child
        jitter = rng.uniform(-0.35, 0.35, n_child) * horizon_s / n_child
        jitter[-1] = -abs(jitter[-1])
        times = np.maximum.accumulate(grid + jitter)
        times = np.maximum(times, arrival + 1.0)
        keep = child > 0
        if rng.uniform() < cfg.partial_fill_prob:
            keep &= np.arange(n_child) < rng.integers(1, n_child)
        prev = np.concatenate([[arrival], times[:-1]])
        tau_days = (times - prev) / SESSION_SECONDS
        tau_days = np.maximum(tau_days, 1e-6)
        # the interval of a child runs from the previous fill, so skipped children widen the next interval
        t_kept, c_kept = times[keep], child[keep]
        prev_kept = np.concatenate([[arrival], t_kept[:-1]])
        tau_kept = np.maximum((t_kept - prev_kept) / SESSION_SECONDS, 1e-6)
        del tau_days
        orders.append(
            {
                "order_id": f"{day:%Y%m%d}-{p.symbol}-{first_id + k:03d}",
                "symbol": p.symbol,
                "side": "buy" if side > 0 else "sell",
                "quantity": qty,
                "arrival_s": arrival,
                "end_s": arrival + horizon_s,
                "decision_s": max(0.0, arrival - rng.uniform(0.0, 120.0)),
                "broker": str(rng.choice(BROKERS)),
                "algo": "TWAP" if kappa_t < 1e-9 else "AC",
                "trader": str(rng.choice(TRADERS)),
                "risk_aversion": lam,
            }
        )
        f_t.append(t_kept)
        f_q.append(side * c_kept)
        f_tau.append(tau_kept)
        f_idx.append(np.full(len(t_kept), k))
    if not orders:
        e = np.empty(0)
        return orders, e, e, e, e.astype(int)
    return orders, np.concatenate(f_t), np.concatenate(f_q), np.concatenate(f_tau), np.concatenate(f_idx)


@dataclass(slots=True)
class _Carried:
    """Children of spanning orders that fall in one session: time (s since the open), signed shares,
    τ (trading days since the order's previous child, the first since arrival), and their order's id."""

    t: list[float] = field(default_factory=list)
    q: list[float] = field(default_factory=list)
    tau: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def _spanning_orders(
    cfg: SimConfig, lengths_s: list[float], dates: list[dt.date]
) -> tuple[dict[tuple[int, str], list[dict[str, object]]], dict[tuple[int, str], _Carried]]:
    """Plan :attr:`SimConfig.spanning_orders`: per (session index, symbol) the orders arriving and the
    children filling in that session.

    An order arrives at 55-80 % of its first session and ends at 25-50 % of its last; its children trade on
    an Almgren-Chriss trajectory laid out in session time (nights and weekends take none), 6 per session
    spanned, so every session has fills; τ counts session time only (DESIGN §3). Drawn from their own
    random stream, so the rest of the simulation keeps its draws.
    """
    arriving: dict[tuple[int, str], list[dict[str, object]]] = {}
    carried: dict[tuple[int, str], _Carried] = {}
    if cfg.orders_per_symbol_day <= 0:
        return arriving, carried
    rng = np.random.default_rng([cfg.seed, 15])
    starts = np.concatenate([[0.0], np.cumsum(lengths_s)])  # session time (s) at each open
    for p in cfg.symbols:
        for j, (first, n_sessions) in enumerate(cfg.spanning_orders):
            last = first + n_sessions - 1
            if first < 0 or n_sessions < 2 or last >= len(lengths_s):
                continue
            arrival = starts[first] + rng.uniform(0.55, 0.80) * lengths_s[first]
            end = starts[last] + rng.uniform(0.25, 0.50) * lengths_s[last]
            side = 1 if rng.uniform() < 0.5 else -1
            qty = float(max(100, round(rng.uniform(*cfg.order_adv_fraction) * p.adv_shares / 100) * 100))
            n_child = 6 * n_sessions
            kappa_t = float(rng.choice([0.0, rng.uniform(0.2, 4.0)]))
            lam, plan = ac_plan(p, side, qty, end - arrival, n_child, kappa_t)
            child = -np.diff(np.round(plan))
            times = arrival + np.arange(1, n_child + 1) * (end - arrival) / n_child
            tau = np.diff(np.concatenate([[arrival], times])) / SESSION_SECONDS
            order_id = f"{dates[first]:%Y%m%d}-{p.symbol}-M{j}"
            in_first = arrival - starts[first]
            arriving.setdefault((first, p.symbol), []).append(
                {
                    "order_id": order_id, "symbol": p.symbol, "side": "buy" if side > 0 else "sell",
                    "quantity": qty, "arrival_s": in_first, "end_session": last, "end_in_s": end - starts[last],
                    "decision_s": max(0.0, in_first - rng.uniform(0.0, 120.0)),
                    "broker": str(rng.choice(BROKERS)), "algo": "TWAP" if kappa_t < 1e-9 else "AC",
                    "trader": str(rng.choice(TRADERS)), "risk_aversion": lam,
                }
            )  # fmt: skip
            session = np.searchsorted(starts, times, side="right") - 1
            for t, n, ta, k in zip(times, child, tau, session, strict=True):
                if n <= 0:
                    continue
                c = carried.setdefault((int(k), p.symbol), _Carried())
                c.t.append(float(t - starts[k]))
                c.q.append(side * float(n))
                c.tau.append(float(ta))
                c.ids.append(order_id)
    return arriving, carried


def simulate_symbol_day(
    rng: np.random.Generator,
    p: SymbolParams,
    cfg: SimConfig,
    day: dt.date,
    open_ns: int,
    close_ns: int,
    s_open: float,
    first_order_id: int = 0,
    arriving: list[dict[str, object]] | None = None,
    carried: _Carried | None = None,
    closes_ns: list[int] | None = None,
) -> tuple[
    dict[str, np.ndarray], dict[str, np.ndarray], list[dict[str, object]], dict[str, np.ndarray], float
]:
    """Quotes, trades, orders and fills of one symbol for one session; returns also the closing mid.

    Events are quote updates (``quotes_per_day``, U-shaped), public trades and own child fills. The mid just
    before event i is S_open + σ_d·W(t_i) + γ·Σ_{j<i} signed shares_j; every trade is followed by a quote at
    the new mid. ``arriving`` and ``carried`` are the spanning orders that arrive and the children of
    spanning orders that fill in this session (see :func:`_spanning_orders`; ``closes_ns`` maps their end
    to its session's open). Fills carry their order's id.
    """
    length_s = (close_ns - open_ns) / NS
    frac = length_s / SESSION_SECONDS
    n_q = rng.poisson(p.quotes_per_day * frac)
    n_t = rng.poisson(p.trades_per_day * frac)
    t_q = np.concatenate([[0.0], _u_shaped_times(rng, n_q, length_s)])
    t_t = _u_shaped_times(rng, n_t, length_s)
    sizes = _trade_sizes(rng, p, n_t)
    signs = np.where(rng.uniform(size=n_t) < 0.5, 1.0, -1.0)
    orders, f_t, f_q, f_tau, f_idx = _own_orders(rng, p, cfg, day, length_s, first_order_id)
    f_ids = [str(o["order_id"]) for o in orders]
    for o in arriving or []:
        o = dict(o)
        end_open = (closes_ns or [])[int(o.pop("end_session"))]  # type: ignore[call-overload]
        o["end_ts"] = int(end_open + round(float(o.pop("end_in_s")) * NS))  # type: ignore[arg-type]
        orders.append(o)
    if carried is not None and carried.t:
        f_idx = np.concatenate([f_idx, len(f_ids) + np.arange(len(carried.t))])
        f_ids = f_ids + carried.ids
        f_t = np.concatenate([f_t, carried.t])
        f_q = np.concatenate([f_q, carried.q])
        f_tau = np.concatenate([f_tau, carried.tau])

    # kind: 0 quote update, 1 public trade, 2 own fill; a quote at the open and one at the close
    t_q = np.concatenate([t_q, [length_s]])
    times = np.concatenate([t_q, t_t, f_t])
    kind = np.concatenate([np.zeros(len(t_q), int), np.ones(n_t, int), np.full(len(f_t), 2)])
    signed = np.concatenate([np.zeros(len(t_q)), signs * sizes, f_q])
    ref = np.concatenate([np.arange(len(t_q)), np.arange(n_t), np.arange(len(f_t))])
    order = np.lexsort((kind, times))
    times, kind, signed, ref = times[order], kind[order], signed[order], ref[order]
    # The diffusion is sampled at the quote updates, so the prevailing quote always shows the mid that a
    # trade meets: W jumps by √Δt·Z at each quote update (Δt since the previous one) and is flat between.
    is_q = kind == 0
    q_times = times[is_q]
    dw = np.sqrt(np.diff(np.concatenate([[0.0], q_times])) / SESSION_SECONDS) * rng.standard_normal(
        len(q_times)
    )
    walk_q = np.cumsum(dw) * p.sigma_diffusion_usd
    walk = walk_q[np.cumsum(is_q) - 1]
    impact = p.gamma * np.concatenate([[0.0], np.cumsum(signed)[:-1]])
    if p.transient_impact:
        impact = impact + transient_impact_path(
            times, signed, p.transient_impact, p.transient_half_life_min * 60.0
        )
    mid_pre = s_open + walk + impact
    mid_post = mid_pre + (p.gamma + p.transient_impact) * signed
    close_mid = float(mid_post[-1])

    def to_ns(seconds: np.ndarray) -> np.ndarray:
        return open_ns + np.round(seconds * NS).astype(np.int64)

    is_t, is_f = kind == 1, kind == 2
    traded = ~is_q
    q_ts = np.concatenate([to_ns(times[is_q]), to_ns(times[traded]) + POST_TRADE_QUOTE_NS])
    q_mid = np.concatenate([mid_pre[is_q], mid_post[traded]])
    qo = np.argsort(q_ts, kind="stable")
    nq = len(q_ts)
    quotes = {
        "ts": q_ts[qo],
        "bid": (q_mid - p.epsilon_usd)[qo],
        "ask": (q_mid + p.epsilon_usd)[qo],
        "bid_size": rng.integers(1, 20, nq) * 100.0,
        "ask_size": rng.integers(1, 20, nq) * 100.0,
    }
    fills_rate = np.zeros(len(f_t))
    fill_price = np.zeros(len(f_t))
    fill_ts = np.zeros(len(f_t), dtype=np.int64)
    fill_idx = ref[is_f]
    if len(f_t):
        rate = np.abs(f_q[fill_idx]) / f_tau[fill_idx]
        side = np.sign(f_q[fill_idx])
        fill_price[fill_idx] = mid_pre[is_f] + side * (p.epsilon_usd + p.eta * rate)
        if p.fill_noise_usd > 0:  # drawn only then, so that noise-free data stay as they were
            fill_price += p.fill_noise_usd * rng.standard_normal(len(f_t))
        fill_ts[fill_idx] = to_ns(times[is_f])
        fills_rate[fill_idx] = rate
    pub_price = mid_pre[is_t] + signs[ref[is_t]] * p.epsilon_usd
    trade_ts = to_ns(times[is_t])
    trade_px, trade_sz = pub_price, sizes[ref[is_t]]
    if cfg.own_trades_in_tape and len(f_t):
        trade_ts = np.concatenate([trade_ts, fill_ts])
        trade_px = np.concatenate([trade_px, fill_price])
        trade_sz = np.concatenate([trade_sz, np.abs(f_q)])
    to = np.argsort(trade_ts, kind="stable")
    trades = {"ts": trade_ts[to], "price": trade_px[to], "size": trade_sz[to]}

    # decision prices: the prevailing quoted mid at the decision time
    q_sorted_ts, q_sorted_mid = quotes["ts"], (quotes["bid"] + quotes["ask"]) / 2
    for o in orders:
        i = max(0, int(np.searchsorted(q_sorted_ts, to_ns(np.array([o["decision_s"]]))[0], "right")) - 1)
        o["decision_price"] = float(q_sorted_mid[i])
        for key in ("arrival_s", "end_s", "decision_s"):
            if key in o:
                o[key.replace("_s", "_ts")] = int(to_ns(np.array([o.pop(key)]))[0])
    fills = {
        "order_id": np.asarray(f_ids, dtype=object)[f_idx.astype(int)] if len(f_idx) else np.empty(0, str),
        "ts": fill_ts,
        "price": fill_price,
        "quantity": np.abs(f_q),
        "rate_shares_per_day": fills_rate,
        "fee_usd": np.abs(f_q) * p.fee_usd_per_share,
    }
    return quotes, trades, orders, fills, close_mid


def transient_impact_path(
    times_s: np.ndarray, signed_shares: np.ndarray, transient: float, half_life_s: float
) -> np.ndarray:
    """The transient part of the mid just before each event: Σ_{j<i} γ_T·q_j·2^(−(t_i − t_j)/h).

    Parameters
    ----------
    times_s
        Event times (seconds of session time, sorted), shape (n,).
    signed_shares
        Signed shares of each event (0 for a quote update), shape (n,).
    transient
        γ_T, $/share per share: the impact of a share at the instant it trades, above the permanent γ.
    half_life_s
        h, seconds.

    Returns
    -------
    numpy.ndarray
        Shape (n,), $/share.

    Notes
    -----
    The impact kernel G(t) = γ + γ_T·2^(−t/h) of a share traded t seconds ago: the permanent impact of
    Almgren & Chriss (2000) plus an exponentially decaying one, the simplest propagator of Bouchaud, Gefen,
    Potters & Wyart (2004) and the resilience of Obizhaeva & Wang (2013). By recursion,
    J_i = (J_{i−1} + γ_T·q_{i−1})·2^(−(t_i − t_{i−1})/h), J_0 = 0. Each session starts without transient
    impact: what is left at the close carries into the next open as if it had become permanent (at most
    the last minutes' flow).
    """
    n = len(times_s)
    out = np.zeros(n)
    decay = np.exp2(-np.diff(times_s) / half_life_s) if n else np.empty(0)
    j = 0.0
    for i in range(1, n):
        j = (j + transient * signed_shares[i - 1]) * decay[i - 1]
        out[i] = j
    return out


def simulate_days(cfg: SimConfig) -> list[SimDay]:
    """Simulate every session of ``cfg``; the mid carries over from one close to the next open."""
    rng = np.random.default_rng(cfg.seed)
    sessions = session_bounds(cfg.start, cfg.start + dt.timedelta(days=3 * cfg.days + 10), cfg.calendar)
    sessions = sessions.head(cfg.days)
    opens_ns = sessions["open_ts"].cast(pl.Int64).to_list()
    closes_ns = sessions["close_ts"].cast(pl.Int64).to_list()
    arriving, carried = _spanning_orders(
        cfg, [(c - o) / NS for o, c in zip(opens_ns, closes_ns, strict=True)], sessions["date"].to_list()
    )
    mids = {p.symbol: p.s0 for p in cfg.symbols}
    fills_so_far: dict[str, int] = {}
    out = []
    for i, (day, open_ns, close_ns) in enumerate(zip(sessions["date"], opens_ns, closes_ns, strict=True)):
        q_parts, t_parts, o_rows, f_parts = [], [], [], []
        for p in cfg.symbols:
            q, t, orders, f, close = simulate_symbol_day(
                rng, p, cfg, day, open_ns, close_ns, mids[p.symbol],
                arriving=arriving.get((i, p.symbol)), carried=carried.get((i, p.symbol)), closes_ns=opens_ns,
            )  # fmt: skip
            mids[p.symbol] = close
            q_parts.append(pl.DataFrame(q).with_columns(symbol=pl.lit(p.symbol)))
            t_parts.append(pl.DataFrame(t).with_columns(symbol=pl.lit(p.symbol)))
            o_rows.extend(orders)
            if len(f["ts"]):
                f_parts.append(pl.DataFrame({k: v for k, v in f.items() if k != "order_id"}).with_columns(
                    pl.Series("order_id", f["order_id"], dtype=pl.String)
                ))  # fmt: skip
        out.append(_assemble_day(rng, day, q_parts, t_parts, o_rows, f_parts, dict(mids), fills_so_far))
    return out


def _ts(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Datetime("ns"))


def _assemble_day(
    rng: np.random.Generator,
    day: dt.date,
    q_parts: list[pl.DataFrame],
    t_parts: list[pl.DataFrame],
    o_rows: list[dict[str, object]],
    f_parts: list[pl.DataFrame],
    closes: dict[str, float],
    fills_so_far: dict[str, int] | None = None,
) -> SimDay:
    quotes = pl.concat(q_parts).select("symbol", _ts("ts"), "bid", "ask", "bid_size", "ask_size")
    trades = pl.concat(t_parts)
    trades = trades.select(
        "symbol",
        _ts("ts"),
        "price",
        "size",
        pl.Series("exchange", rng.choice(VENUES, trades.height)),
        pl.format("{}-{}", pl.lit(f"{day:%Y%m%d}"), pl.int_range(pl.len())).alias("trade_id"),
    )
    order_cols = [
        "order_id",
        "symbol",
        "side",
        "quantity",
        "arrival_ts",
        "end_ts",
        "decision_ts",
        "decision_price",
        "broker",
        "algo",
        "trader",
        "risk_aversion",
    ]
    if o_rows:
        orders = pl.DataFrame(o_rows).select(order_cols)
        orders = orders.with_columns(_ts("arrival_ts"), _ts("end_ts"), _ts("decision_ts"))
    else:
        orders = pl.DataFrame(schema={c: pl.String for c in order_cols})
    if f_parts:
        # a fill's number counts on from the fills of its order on earlier sessions (unique fill ids)
        done = fills_so_far if fills_so_far is not None else {}
        fills = pl.concat(f_parts).sort("order_id", "ts")
        first = pl.col("order_id").replace_strict(done, default=0, return_dtype=pl.Int64)
        fills = fills.select(
            (
                pl.col("order_id") + "-" + (first + pl.int_range(pl.len()).over("order_id")).cast(pl.String)
            ).alias("fill_id"),
            "order_id",
            _ts("ts"),
            "price",
            "quantity",
            pl.Series("venue", rng.choice(VENUES, fills.height)),
            "fee_usd",
            pl.lit("remove").alias("liquidity"),
            "rate_shares_per_day",
        )
        if fills_so_far is not None:
            for oid, n in fills.group_by("order_id").len().iter_rows():
                fills_so_far[oid] = fills_so_far.get(oid, 0) + n
    else:
        fills = pl.DataFrame(schema={"fill_id": pl.String, "order_id": pl.String})
    return SimDay(day, quotes, trades, orders, fills, closes)


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


def _ts_out(frame: pl.DataFrame, ts_format: str, tz: str) -> pl.DataFrame:
    cols = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime)]
    if ts_format == "ns":
        return frame.with_columns(pl.col(cols).cast(pl.Int64))
    return frame.with_columns(
        pl.col(cols)
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(tz)
        .dt.strftime("%Y-%m-%dT%H:%M:%S%.9f%:z")
    )


def write_dataset(
    cfg: SimConfig, out: Path, *, fmt: str = "csv", ts_format: str = "iso", days: list[SimDay] | None = None
) -> list[dt.date]:
    """Simulate ``cfg`` and write it in the input contract, one folder per session, plus the truth.

    Layout (the nightly inbox layout)::

        out/YYYY-MM-DD/{quotes,trades,orders,fills}.{csv|parquet}
        out/daily.{csv|parquet}     history before the first session (if ``history_days``)
        out/truth.json

    ``ts_format`` is ``iso`` (ISO-8601 with the exchange's UTC offset, nanoseconds) or ``ns`` (integers).
    Fills carry an extra column ``rate_shares_per_day``, the child's true trading rate n/τ.
    """
    out.mkdir(parents=True, exist_ok=True)
    tz = exchange_timezone(cfg.calendar)
    days = days if days is not None else simulate_days(cfg)
    for d in days:
        folder = out / d.date.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("quotes", "trades", "orders", "fills"):
            frame = _ts_out(getattr(d, name), ts_format, tz)
            _write(frame, folder / f"{name}.{fmt}", fmt)
    if cfg.history_days and days:
        hist = daily_history(cfg.symbols, days[0].date, cfg.history_days, cfg.seed + 1, cfg.calendar)
        _write(hist, out / f"daily.{fmt}", fmt)
    (out / "truth.json").write_text(json.dumps(truth(cfg), indent=2, default=str))
    return [d.date for d in days]


def _write(frame: pl.DataFrame, path: Path, fmt: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    if fmt == "parquet":
        frame.write_parquet(tmp)
    else:
        frame.write_csv(tmp, float_precision=None)
    tmp.replace(path)
