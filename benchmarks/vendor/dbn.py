"""A Databento MBP-1 file for the per-format throughput benchmark: about ``rows`` records, ``.dbn.zst``.

One file of the benchmarks' day as a Databento batch download names and lays it out
(``xnas-itch-YYYYMMDD.mbp-1.dbn.zst``): the metadata header encoded by ``databento_dbn`` (dataset XNAS.ITCH,
schema mbp-1, raw symbols mapped to instrument ids for the day), then ``MBP1Msg`` records of several symbols
interleaved in time order over the regular session (14:30-21:00 UTC, the day being in New York winter time),
in the layout ``databento_dbn`` declares for them: adds, cancels and modifies at the best or deeper (a third
of book events move level 0), trades (``T``, 12 %) with their aggressor side, the best bid walking a cent at a
time, round-lot sizes, the venue's sequence numbers. Zstandard-compressed as it is written, a block at a
time, so memory stays flat however many rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import databento_dbn as db
import numpy as np
import pyarrow as pa

from benchmarks.config import DAY

SYMBOLS = {"AAPL": (38, 190.0), "MSFT": (7152, 375.0), "AMZN": (716, 150.0), "GOOG": (3450, 140.0),
           "NVDA": (6620, 480.0), "TSLA": (9100, 240.0)}  # fmt: skip
"""Symbol -> (instrument id, opening price in USD)."""
WEIGHTS = np.array([0.25, 0.2, 0.18, 0.14, 0.13, 0.1])
PUBLISHER = 2  # XNAS.ITCH.XNAS
TICK = 10_000_000  # one cent in 1e-9 USD
OPEN_UTC = dt.time(14, 30)
SESSION_NS = 23_400 * 1_000_000_000
ACTIONS = np.frombuffer(b"ACMT", dtype="S1")
ACTION_SHARES = (0.5, 0.35, 0.03, 0.12)
BLOCK = 500_000


@dataclass(frozen=True, slots=True)
class _Interval:
    start_date: dt.date
    end_date: dt.date
    symbol: str


@dataclass(frozen=True, slots=True)
class _Mapping:
    raw_symbol: str
    intervals: list[_Interval]


def write(folder: Path, rows: int, seed: int = 0) -> list[Path]:
    """Write the file into ``folder``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"xnas-itch-{DAY:%Y%m%d}.mbp-1.dbn.zst"
    start = int(dt.datetime.combine(DAY, OPEN_UTC, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
    metadata = db.Metadata(
        dataset="XNAS.ITCH", start=start, end=start + SESSION_NS, schema=db.Schema.MBP_1,
        stype_in=db.SType.RAW_SYMBOL, stype_out=db.SType.INSTRUMENT_ID, symbols=list(SYMBOLS),
        mappings=[
            _Mapping(symbol, [_Interval(DAY, DAY + dt.timedelta(days=1), str(iid))])
            for symbol, (iid, _) in SYMBOLS.items()
        ],
    )  # fmt: skip
    dtype = np.dtype(list(db.MBP1Msg._dtypes))
    rng = np.random.default_rng(seed)
    ids = np.array([iid for iid, _ in SYMBOLS.values()], dtype=np.uint32)
    bids = np.array([round(price * 100) for _, price in SYMBOLS.values()], dtype=np.int64)  # in cents
    spreads = np.ones(len(SYMBOLS), dtype=np.int64)
    sizes = np.full((len(SYMBOLS), 2), 500, dtype=np.int64)
    with pa.output_stream(str(path), compression="zstd") as out:
        out.write(metadata.encode())
        for first in range(0, rows, BLOCK):
            k = min(BLOCK, rows - first)
            rec = np.zeros(k, dtype=dtype)
            which = rng.choice(len(SYMBOLS), size=k, p=WEIGHTS)
            action = rng.choice(ACTIONS, size=k, p=ACTION_SHARES)
            moves_book = (action != b"T") & (rng.random(k) < 1 / 3)
            bid = np.empty(k, dtype=np.int64)
            spread = np.empty(k, dtype=np.int64)
            bid_sz = np.empty(k, dtype=np.int64)
            ask_sz = np.empty(k, dtype=np.int64)
            for s in range(len(SYMBOLS)):  # each symbol's book walks on its own records
                at = np.flatnonzero(which == s)
                moving = moves_book[at]
                step = rng.choice((-1, 0, 1), size=at.size, p=(0.2, 0.6, 0.2)) * moving
                bid[at] = bids[s] + np.cumsum(step)
                new_spread = np.minimum(rng.geometric(0.6, size=at.size), 4)
                new_sizes = rng.integers(1, 40, size=(at.size, 2)) * 100
                last = np.maximum.accumulate(np.where(moving, np.arange(at.size), -1))
                kept = last < 0
                idx = np.maximum(last, 0)
                spread[at] = np.where(kept, spreads[s], new_spread[idx])
                bid_sz[at] = np.where(kept, sizes[s, 0], new_sizes[idx, 0])
                ask_sz[at] = np.where(kept, sizes[s, 1], new_sizes[idx, 1])
                if at.size:
                    j = at[-1]
                    bids[s], spreads[s], sizes[s] = bid[j], spread[j], (bid_sz[j], ask_sz[j])
            ts = start + ((first + np.arange(k) + rng.random(k)) * SESSION_NS / max(rows, 1)).astype(np.int64)
            side = rng.choice(np.frombuffer(b"AB", dtype="S1"), size=k)
            ask = bid + spread
            rec["length"] = dtype.itemsize // 4
            rec["rtype"] = int(db.RType.MBP_1)
            rec["publisher_id"] = PUBLISHER
            rec["instrument_id"] = ids[which]
            rec["ts_event"] = ts
            rec["ts_recv"] = ts + rng.integers(2_000, 40_000, size=k)
            rec["ts_in_delta"] = rng.integers(200, 2_000, size=k)
            rec["action"] = action
            rec["side"] = side
            rec["flags"] = db.F_LAST
            at_bid = side == b"B"
            trade = action == b"T"
            # a buy aggressor lifts the ask, a sell hits the bid; an order rests at or behind its best
            rec["price"] = np.where(trade, np.where(at_bid, ask, bid), np.where(at_bid, bid, ask)) * TICK
            rec["size"] = np.where(trade, rng.integers(1, 5, size=k), rng.integers(1, 40, size=k)) * 100
            rec["sequence"] = 1_000 + first + np.arange(k)
            rec["bid_px_00"] = bid * TICK
            rec["ask_px_00"] = ask * TICK
            rec["bid_sz_00"] = bid_sz
            rec["ask_sz_00"] = ask_sz
            rec["bid_ct_00"] = np.maximum(bid_sz // 200, 1)
            rec["ask_ct_00"] = np.maximum(ask_sz // 200, 1)
            out.write(rec.tobytes())
    return [path]
