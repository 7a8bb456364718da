"""LOBSTER level-1 pairs for the per-format throughput benchmark: about ``rows`` messages in all.

One message file and one orderbook file per symbol of the benchmarks' day, named and laid out as LOBSTER
writes them (:mod:`data.formats.lobster`): the regular session (34200000-57600000 ms), events in time order
with the mix of LOBSTER's AMZN sample of 2012-06-21 (48 % submissions, 32 % deletions, 16 % visible and 4 %
hidden executions, a few partial cancellations), the best bid on a one-cent grid walking a tick at a time,
spreads of 1-5 ticks, round-lot sizes; a hidden execution leaves the book as it was. Written a block at a
time, so memory stays flat however many rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.config import DAY

SYMBOLS = {"AAPL": 190.0, "MSFT": 375.0, "AMZN": 150.0, "GOOG": 140.0, "NVDA": 480.0}
"""Symbols and their opening prices (USD)."""
WEIGHTS = (0.3, 0.25, 0.2, 0.15, 0.1)
TYPES = (1, 2, 3, 4, 5)
TYPE_SHARES = (0.48, 0.003, 0.317, 0.157, 0.043)
TICK = 100  # one cent in LOBSTER's units (USD x 10,000)
OPEN_S, CLOSE_S = 34_200.0, 57_600.0
BLOCK = 500_000


def write(folder: Path, rows: int, seed: int = 0) -> list[Path]:
    """Write the pairs into ``folder``; returns the message files (each finds its orderbook file beside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    counts = np.floor(np.asarray(WEIGHTS) * rows).astype(int)
    counts[0] += rows - counts.sum()
    stem = f"{DAY.isoformat()}_34200000_57600000"
    out = []
    for (symbol, price), n in zip(SYMBOLS.items(), counts, strict=True):
        message = folder / f"{symbol}_{stem}_message_1.csv"
        book = folder / f"{symbol}_{stem}_orderbook_1.csv"
        _write_pair(message, book, int(n), round(price * 10_000 / TICK), rng)
        out.append(message)
    return out


def _write_pair(message: Path, book: Path, n: int, bid_ticks: int, rng: np.random.Generator) -> None:
    state = np.array([bid_ticks, 2, 300, 500], dtype=np.int64)  # bid (ticks), spread (ticks), sizes
    order_id = 1_000_000
    with message.open("wb") as m, book.open("wb") as b:
        for start in range(0, n, BLOCK):
            k = min(BLOCK, n - start)
            time = OPEN_S + (CLOSE_S - OPEN_S) * (start + np.arange(k) + rng.random(k)) / max(n, 1)
            kind = rng.choice(TYPES, size=k, p=TYPE_SHARES)
            hidden = kind == 5
            moves = rng.choice((-1, 0, 1), size=k, p=(0.06, 0.88, 0.06)) * ~hidden
            bid = state[0] + np.cumsum(moves)
            spread = np.where(hidden, 0, np.minimum(rng.geometric(0.55, size=k), 5))
            bid_size = rng.integers(1, 30, size=k) * 100
            ask_size = rng.integers(1, 30, size=k) * 100
            # a hidden execution repeats the book before it: carry the last visible row forward
            last = np.maximum.accumulate(np.where(hidden, -1, np.arange(k)))
            carried = last < 0
            idx = np.maximum(last, 0)
            spread = np.where(carried, state[1], spread[idx])
            bid_size = np.where(carried, state[2], bid_size[idx])
            ask_size = np.where(carried, state[3], ask_size[idx])
            bid = np.where(carried, state[0], bid[idx])
            ask = bid + spread
            direction = rng.choice((-1, 1), size=k)
            price = np.where(direction == 1, bid, ask) * TICK
            price = np.where(hidden, (bid * TICK + ask * TICK) // 2, price)
            size = np.where(kind >= 4, rng.integers(1, 5, size=k) * 100, rng.integers(1, 30, size=k) * 100)
            ids = np.where(hidden, 0, order_id + np.arange(k))
            order_id += k
            pl.DataFrame(
                {"time": time, "type": kind, "id": ids, "size": size, "price": price, "direction": direction}
            ).write_csv(m, include_header=False, float_precision=9)
            pl.DataFrame(
                {"ask": ask * TICK, "ask_size": ask_size, "bid": bid * TICK, "bid_size": bid_size}
            ).write_csv(b, include_header=False)
            state = np.array([bid[-1], spread[-1], bid_size[-1], ask_size[-1]], dtype=np.int64)
