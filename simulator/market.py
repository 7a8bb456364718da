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

This module lays a session's events on one tape and draws the mid path, quotes, trades and fills. The
package's other modules hold the universe and its parameters (:mod:`simulator.universe`), the public order
flow (:mod:`simulator.flow`), own orders on :mod:`schedule`'s trajectories (:mod:`simulator.orders`), long
daily histories for GARCH (:mod:`simulator.history`), the truth file
(:mod:`simulator.truth`) and the writer of a dataset (:mod:`simulator.files`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import polars as pl

from data.calendar import session_bounds
from kappa.units import SESSION_SECONDS
from simulator.flow import PublicFlow, public_flow
from simulator.orders import CarriedChildren, OwnFills, session_orders, spanning_orders
from simulator.universe import SimConfig, SymbolParams

NS = 1_000_000_000
POST_TRADE_QUOTE_NS = 1_000  # the quote after a trade is stamped 1 µs after it
VENUES = ("XNYS", "XNAS", "ARCX", "BATS", "IEXG")


@dataclass(slots=True)
class SimDay:
    """One simulated session: the four input tables (timestamps UTC ns) and the closing mid per symbol."""

    date: dt.date
    quotes: pl.DataFrame
    trades: pl.DataFrame
    orders: pl.DataFrame
    fills: pl.DataFrame
    close_mid: dict[str, float] = field(default_factory=dict)


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
    carried: CarriedChildren | None = None,
    closes_ns: list[int] | None = None,
) -> tuple[
    dict[str, np.ndarray], dict[str, np.ndarray], list[dict[str, object]], dict[str, np.ndarray], float
]:
    """Quotes, trades, orders and fills of one symbol for one session; returns also the closing mid.

    Events are quote updates (``quotes_per_day``, U-shaped), public trades and own child fills. The mid just
    before event i is S_open + σ_d·W(t_i) + γ·Σ_{j<i} signed shares_j; every trade is followed by a quote at
    the new mid. ``arriving`` and ``carried`` are the spanning orders that arrive and the children of
    spanning orders that fill in this session (see :func:`simulator.orders.spanning_orders`; ``closes_ns``
    maps their end to its session's open). Fills carry their order's id.
    """
    length_s = (close_ns - open_ns) / NS
    public = public_flow(rng, p, length_s)
    orders, own = session_orders(rng, p, cfg, day, length_s, first_order_id)
    orders += [_spanning_order(o, closes_ns or []) for o in arriving or []]
    own = own.with_carried(carried) if carried is not None and carried.t else own
    tape = _tape(rng, p, s_open, length_s, public, own)

    def to_ns(seconds: np.ndarray) -> np.ndarray:
        return open_ns + np.round(seconds * NS).astype(np.int64)

    quotes = _quotes(rng, p, tape, to_ns)
    fills = _fills(rng, p, tape, own, to_ns)
    trades = _trades(p, cfg, tape, public, own, fills, to_ns)
    _stamp_orders(orders, quotes, to_ns)
    return quotes, trades, orders, fills, float(tape.mid_post[-1])


def _spanning_order(order: dict[str, object], opens_ns: list[int]) -> dict[str, object]:
    """A spanning order arriving this session, its end stamped from its last session's open."""
    o = dict(order)
    end_session, end_in_s = cast(int, o.pop("end_session")), cast(float, o.pop("end_in_s"))
    o["end_ts"] = int(opens_ns[int(end_session)] + round(float(end_in_s) * NS))
    return o


@dataclass(frozen=True, slots=True)
class _Tape:
    """Every event of a session in time order: quote updates (kind 0, one at the open and one at the
    close), public trades (1) and own fills (2), with their signed shares, their index in their own kind
    (``ref``), and the mid just before and just after each."""

    times: np.ndarray
    kind: np.ndarray
    signed: np.ndarray
    ref: np.ndarray
    mid_pre: np.ndarray
    mid_post: np.ndarray


def _tape(
    rng: np.random.Generator,
    p: SymbolParams,
    s_open: float,
    length_s: float,
    public: PublicFlow,
    own: OwnFills,
) -> _Tape:
    """The events in time order and the mid path: ABM sampled at the quote updates, plus permanent (and
    transient) impact of every signed share before the event (Almgren & Chriss 2000, eq. 1)."""
    t_q = np.concatenate([public.t_q, [length_s]])
    n_t = len(public.t_t)
    times = np.concatenate([t_q, public.t_t, own.t])
    kind = np.concatenate([np.zeros(len(t_q), int), np.ones(n_t, int), np.full(len(own.t), 2)])
    signed = np.concatenate([np.zeros(len(t_q)), public.signs * public.sizes, own.q])
    ref = np.concatenate([np.arange(len(t_q)), np.arange(n_t), np.arange(len(own.t))])
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
    return _Tape(times, kind, signed, ref, mid_pre, mid_post)


ToNs = Callable[[np.ndarray], np.ndarray]


def _quotes(rng: np.random.Generator, p: SymbolParams, tape: _Tape, to_ns: ToNs) -> dict[str, np.ndarray]:
    """The quotes at mid ± ε: at each quote update, and 1 µs after each trade at the mid it left."""
    is_q = tape.kind == 0
    traded = ~is_q
    q_ts = np.concatenate([to_ns(tape.times[is_q]), to_ns(tape.times[traded]) + POST_TRADE_QUOTE_NS])
    q_mid = np.concatenate([tape.mid_pre[is_q], tape.mid_post[traded]])
    qo = np.argsort(q_ts, kind="stable")
    nq = len(q_ts)
    return {
        "ts": q_ts[qo],
        "bid": (q_mid - p.epsilon_usd)[qo],
        "ask": (q_mid + p.epsilon_usd)[qo],
        "bid_size": rng.integers(1, 20, nq) * 100.0,
        "ask_size": rng.integers(1, 20, nq) * 100.0,
    }


def _fills(
    rng: np.random.Generator, p: SymbolParams, tape: _Tape, own: OwnFills, to_ns: ToNs
) -> dict[str, np.ndarray]:
    """Own fills at mid + side·(ε + η·n/τ) + noise (Almgren & Chriss 2000, eqs. 6-7), with their order's id
    and the child's true rate n/τ."""
    n = len(own.t)
    fills_rate = np.zeros(n)
    fill_price = np.zeros(n)
    fill_ts = np.zeros(n, dtype=np.int64)
    is_f = tape.kind == 2
    fill_idx = tape.ref[is_f]
    if n:
        rate = np.abs(own.q[fill_idx]) / own.tau[fill_idx]
        side = np.sign(own.q[fill_idx])
        fill_price[fill_idx] = tape.mid_pre[is_f] + side * (p.epsilon_usd + p.eta * rate)
        if p.fill_noise_usd > 0:  # drawn only then, so that noise-free data stay as they were
            fill_price += p.fill_noise_usd * rng.standard_normal(n)
        fill_ts[fill_idx] = to_ns(tape.times[is_f])
        fills_rate[fill_idx] = rate
    return {
        "order_id": np.asarray(own.ids, dtype=object)[own.idx.astype(int)]
        if len(own.idx)
        else np.empty(0, str),
        "ts": fill_ts,
        "price": fill_price,
        "quantity": np.abs(own.q),
        "rate_shares_per_day": fills_rate,
        "fee_usd": np.abs(own.q) * p.fee_usd_per_share,
    }


def _trades(
    p: SymbolParams,
    cfg: SimConfig,
    tape: _Tape,
    public: PublicFlow,
    own: OwnFills,
    fills: dict[str, np.ndarray],
    to_ns: ToNs,
) -> dict[str, np.ndarray]:
    """The tape's trades: public trades at the quote (a buy at the ask), and own fills if they print."""
    is_t = tape.kind == 1
    trade_ts = to_ns(tape.times[is_t])
    trade_px = tape.mid_pre[is_t] + public.signs[tape.ref[is_t]] * p.epsilon_usd
    trade_sz = public.sizes[tape.ref[is_t]]
    if cfg.own_trades_in_tape and len(own.t):
        trade_ts = np.concatenate([trade_ts, fills["ts"]])
        trade_px = np.concatenate([trade_px, fills["price"]])
        trade_sz = np.concatenate([trade_sz, np.abs(own.q)])
    to = np.argsort(trade_ts, kind="stable")
    return {"ts": trade_ts[to], "price": trade_px[to], "size": trade_sz[to]}


def _stamp_orders(orders: list[dict[str, object]], quotes: dict[str, np.ndarray], to_ns: ToNs) -> None:
    """Each order's decision price (the prevailing quoted mid at its decision time), and its times in ns."""
    q_sorted_ts, q_sorted_mid = quotes["ts"], (quotes["bid"] + quotes["ask"]) / 2
    for o in orders:
        i = max(0, int(np.searchsorted(q_sorted_ts, to_ns(np.array([o["decision_s"]]))[0], "right")) - 1)
        o["decision_price"] = float(q_sorted_mid[i])
        for key in ("arrival_s", "end_s", "decision_s"):
            if key in o:
                o[key.replace("_s", "_ts")] = int(to_ns(np.array([o.pop(key)]))[0])


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
    arriving, carried = spanning_orders(
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
