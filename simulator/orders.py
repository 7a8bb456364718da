"""Own parent orders and their child fills: each session's orders, and the orders that span sessions.

A parent order trades child slices on the Almgren-Chriss trajectory that :mod:`schedule` computes
(Almgren & Chriss 2000, eq. 18, exact in discrete time; TWAP for κT = 0): the simulator draws κT, takes λ
and the holdings from :func:`schedule.risk_aversion_for_kappa` and :func:`schedule.optimal_holdings`, rounds
them to shares, and fills each child at a jittered time. Children of orders spanning sessions are laid out
in session time, so τ never counts a night or a weekend.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from kappa.units import SESSION_SECONDS
from schedule import MarketParams, Order, optimal_holdings, risk_aversion_for_kappa, twap_schedule
from simulator.universe import SimConfig, SymbolParams

BROKERS = ("Alpha", "Beta", "Gamma")
ALGOS = ("AC", "TWAP", "VWAP")
TRADERS = ("ana", "ben", "chloe", "dev")


def ac_plan(
    p: SymbolParams, side: int, qty: float, horizon_s: float, n_child: int, kappa_t: float
) -> tuple[float, np.ndarray]:
    """λ (1/$) and the holdings x_0..x_n of the exact discrete Almgren-Chriss optimum whose κT is ``kappa_t``
    over ``n_child`` periods of the horizon, from :mod:`schedule` (TWAP, λ = 0, when κT = 0 or η̃ ≤ 0)."""
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


@dataclass(frozen=True, slots=True)
class OwnFills:
    """A session's own child fills of one symbol: time (s since the open), signed shares, τ (trading days
    since the order's previous fill, the first since arrival), and the index of its order's id in ``ids``."""

    t: np.ndarray
    q: np.ndarray
    tau: np.ndarray
    idx: np.ndarray
    ids: list[str]

    def with_carried(self, carried: CarriedChildren) -> OwnFills:
        """These fills followed by the children of spanning orders that fill in the same session."""
        return OwnFills(
            np.concatenate([self.t, carried.t]),
            np.concatenate([self.q, carried.q]),
            np.concatenate([self.tau, carried.tau]),
            np.concatenate([self.idx, len(self.ids) + np.arange(len(carried.t))]),
            self.ids + carried.ids,
        )


def session_orders(
    rng: np.random.Generator, p: SymbolParams, cfg: SimConfig, day: dt.date, length_s: float, first_id: int
) -> tuple[list[dict[str, object]], OwnFills]:
    """Parent orders arriving and ending in one session (a Poisson number, ``cfg.orders_per_symbol_day`` on
    average), and their child fills."""
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
        t_kept, c_kept, tau_kept = _filled_children(rng, cfg, plan, arrival, horizon_s)
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
    ids = [str(o["order_id"]) for o in orders]
    if not orders:
        e = np.empty(0)
        return orders, OwnFills(e, e, e, e.astype(int), ids)
    fills = OwnFills(
        np.concatenate(f_t), np.concatenate(f_q), np.concatenate(f_tau), np.concatenate(f_idx), ids
    )
    return orders, fills


def _filled_children(
    rng: np.random.Generator, cfg: SimConfig, plan: np.ndarray, arrival: float, horizon_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The children of holdings ``plan`` that fill: times (s), shares, and τ (trading days) of each.

    Child k trades at the k-th point of an even grid over the horizon, jittered by up to 35 % of a period
    (the last one early, never late); with probability ``cfg.partial_fill_prob`` the order stops after a
    random child. The interval of a child runs from the previous fill, so skipped children widen the next.
    """
    n_child = len(plan) - 1
    child = -np.diff(np.round(plan))
    grid = arrival + np.arange(1, n_child + 1) * horizon_s / n_child
    jitter = rng.uniform(-0.35, 0.35, n_child) * horizon_s / n_child
    jitter[-1] = -abs(jitter[-1])
    times = np.maximum.accumulate(grid + jitter)
    times = np.maximum(times, arrival + 1.0)
    keep = child > 0
    if rng.uniform() < cfg.partial_fill_prob:
        keep &= np.arange(n_child) < rng.integers(1, n_child)
    t_kept, c_kept = times[keep], child[keep]
    prev_kept = np.concatenate([[arrival], t_kept[:-1]])
    return t_kept, c_kept, np.maximum((t_kept - prev_kept) / SESSION_SECONDS, 1e-6)


@dataclass(slots=True)
class CarriedChildren:
    """Children of spanning orders that fall in one session: time (s since the open), signed shares,
    τ (trading days since the order's previous child, the first since arrival), and their order's id."""

    t: list[float] = field(default_factory=list)
    q: list[float] = field(default_factory=list)
    tau: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def spanning_orders(
    cfg: SimConfig, lengths_s: list[float], dates: list[dt.date]
) -> tuple[dict[tuple[int, str], list[dict[str, object]]], dict[tuple[int, str], CarriedChildren]]:
    """Plan :attr:`SimConfig.spanning_orders`: per (session index, symbol) the orders arriving and the
    children filling in that session.

    An order arrives at 55-80 % of its first session and ends at 25-50 % of its last; its children trade on
    an Almgren-Chriss trajectory laid out in session time (nights and weekends take none), 6 per session
    spanned, so every session has fills; τ counts session time only (DESIGN §3). Drawn from their own
    random stream, so the rest of the simulation keeps its draws.
    """
    arriving: dict[tuple[int, str], list[dict[str, object]]] = {}
    carried: dict[tuple[int, str], CarriedChildren] = {}
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
                c = carried.setdefault((int(k), p.symbol), CarriedChildren())
                c.t.append(float(t - starts[k]))
                c.q.append(side * float(n))
                c.tau.append(float(ta))
                c.ids.append(order_id)
    return arriving, carried
