"""A day of NYSE Daily TAQ files for the input-format benchmark, written as NYSE delivers them.

:func:`write` writes, for the benchmark day, the quotes file ``EQY_US_ALL_BBO_YYYYMMDD.gz`` (each
exchange's quotes), the trades file ``EQY_US_ALL_TRADE_YYYYMMDD.gz`` and the master file
``EQY_US_ALL_REF_MASTER_YYYYMMDD.gz``; :func:`write_nbbo` the NBBO file ``EQY_US_ALL_NBBO_YYYYMMDD.gz``. In
the fields of the Daily TAQ Client Specification v3.x: pipe-delimited, a header, records sorted by symbol then time, the
trailer ``END|YYYYMMDD|count``. Symbols are written in TAQ's form (``BRK B``); times ``HHMMSSxxxxxxxxx`` in
New York time from 04:00 to 20:00, most of them in the regular session; quote sizes in round lots.

Each symbol's mid price walks in cents (a move every fifty records or so); each of 16 exchanges quotes
around it (one to three ticks away, now and then a withdrawn side, a condition the NBBO leaves out or a
cancel); prints fall at the quotes with CTA/UTP sale conditions (``@``, ``F`` intermarket sweep, ``I``
odd lot, ``T`` extended hours, ...) and now and then a corrected or cancelled print (Trade Correction
Indicator 01 and 12, 08 and 10). Written a symbol at a time in slices of :data:`SLICE_ROWS`, so memory stays
bounded for 100 M records.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl

from benchmarks.config import DAY

SLICE_ROWS = 250_000
EXCHANGES = np.array(list("ABCHIJKLMNPQUVXZ"))
QUOTE_CONDITIONS = np.array(list("RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRROABD"))
SALE_CONDITIONS = np.array(["@   ", "@   ", "@   ", "@ FI", "@  I", "@F  ", "@ TI", "@O X", "@6 X", " F  "])
NS_PER_HOUR = 3_600 * 10**9
MOVE = 0.02  # chance that the mid moves a cent between two records

QUOTE_HEADER = (
    "Time|Exchange|Symbol|Bid_Price|Bid_Size|Offer_Price|Offer_Size|Quote_Condition|Sequence_Number|"
    "National_BBO_Ind|FINRA_BBO_Indicator|FINRA_ADF_MPID_Indicator|Quote_Cancel_Correction|Source_Of_Quote|"
    "Retail_Interest_Indicator|Short_Sale_Restriction_Indicator|LULD_BBO_Indicator|"
    "SIP_Generated_Message_Identifier|National_BBO_LULD_Indicator|Participant_Timestamp|FINRA_ADF_Timestamp|"
    "FINRA_ADF_Market_Participant_Quote_Indicator|Security_Status_Indicator"
)
NBBO_HEADER = (
    "Time|Exchange|Symbol|Bid_Price|Bid_Size|Offer_Price|Offer_Size|Quote_Condition|Sequence_Number|"
    "National_BBO_Ind|FINRA_BBO_Indicator|FINRA_ADF_MPID_Indicator|Quote_Cancel_Correction|Source_Of_Quote|"
    "Best_Bid_Quote_Condition|Best_Bid_Exchange|Best_Bid_Price|Best_Bid_Size|Best_Bid_FINRA_Market_Maker_ID|"
    "Best_Offer_Quote_Condition|Best_Offer_Exchange|Best_Offer_Price|Best_Offer_Size|"
    "Best_Offer_FINRA_Market_Maker_ID|LULD_Indicator|LULD_NBBO_Indicator|SIP_Generated_Message_Identifier|"
    "Participant_Timestamp|FINRA_ADF_Timestamp|Security_Status_Indicator"
)
TRADE_HEADER = (
    "Time|Exchange|Symbol|Sale Condition|Trade Volume|Trade Price|Trade Stop Stock Indicator|"
    "Trade Correction Indicator|Sequence Number|Trade Id|Source of Trade|Trade Reporting Facility|"
    "Participant Timestamp|Trade Reporting Facility TRF Timestamp|Trade Through Exempt Indicator"
)
MASTER_HEADER = (
    "Symbol|Security_Description|CUSIP|Security_Type|SIP_Symbol|Old_Symbol|Test_Symbol_Flag|Listed_Exchange|"
    "Tape|Unit_Of_Trade|Round_Lot|NYSE_Industry_Code|Shares_Outstanding|Halt_Delay_Reason"
)


def symbols(n: int) -> list[str]:
    """``n`` symbols in TAQ's order (sorted), a few of them with a suffix (``BRK B``)."""
    plain = [
        f"{chr(65 + i % 26)}{chr(65 + i // 26 % 26)}{chr(65 + i // 676 % 26)}" for i in range(max(0, n - 2))
    ]
    return sorted({*plain, "BRK A", "BRK B"})


def write(folder: Path, rows: int, seed: int = 0) -> list[Path]:
    """Write a day of Daily TAQ files holding about ``rows`` records in all (four in five exchange quotes,
    one in five trades) into ``folder``: the quotes and trades files' paths (the master file is written
    beside them, a companion of the quotes file). :func:`write_nbbo` writes the day's NBBO file."""
    day, names, rng = _day(folder, rows, seed)
    out = []
    for name, header, count, frame in (
        ("BBO", QUOTE_HEADER, rows * 4 // 5, quotes),
        ("TRADE", TRADE_HEADER, rows // 5, trades),
    ):
        path = folder / f"EQY_US_ALL_{name}_{day}.gz"
        _write(path, header, day, _slices(names, count, rng, frame))
        out.append(path)
    return out


def write_nbbo(folder: Path, rows: int, seed: int = 0) -> Path:
    """Write the NBBO file of a day of about ``rows`` records (and its master file) into ``folder``."""
    day, names, rng = _day(folder, rows, seed)
    path = folder / f"EQY_US_ALL_NBBO_{day}.gz"
    _write(path, NBBO_HEADER, day, _slices(names, rows, rng, nbbo))
    return path


def _day(folder: Path, rows: int, seed: int) -> tuple[str, list[str], np.random.Generator]:
    """The day (``YYYYMMDD``), its symbols (the master file written) and the random generator."""
    folder.mkdir(parents=True, exist_ok=True)
    day = f"{DAY:%Y%m%d}"
    names = symbols(max(2, min(5_000, rows // 20_000)))
    _write(folder / f"EQY_US_ALL_REF_MASTER_{day}.gz", MASTER_HEADER, day, [_master(names)])
    return day, names, np.random.default_rng(seed)


def _write(path: Path, header: str, day: str, frames: Iterable[pl.DataFrame]) -> int:
    """Write ``header``, the records of ``frames`` (an iterable of text frames) and the trailer."""
    count = 0
    with gzip.open(path, "wb", compresslevel=1) as f:
        out: BinaryIO = f  # type: ignore[assignment]
        out.write(header.encode() + b"\n")
        for frame in frames:
            frame.write_csv(out, separator="|", include_header=False, quote_style="never")
            count += frame.height
        out.write(f"END|{day}|{count}\n".encode())
    return count


def _master(names: list[str]) -> pl.DataFrame:
    n = len(names)
    return pl.DataFrame(
        {
            "Symbol": names,
            "Security_Description": [f"{s} COMMON STOCK" for s in names],
            "CUSIP": [f"{i:09d}" for i in range(n)],
            "Security_Type": ["A"] * n,
            "SIP_Symbol": [s.replace(" ", ".") for s in names],
            "Old_Symbol": [""] * n,
            "Test_Symbol_Flag": ["N"] * n,
            "Listed_Exchange": ["N"] * n,
            "Tape": ["A"] * n,
            "Unit_Of_Trade": ["1" if s == "BRK A" else "100" for s in names],
            "Round_Lot": ["1" if s == "BRK A" else "100" for s in names],
            "NYSE_Industry_Code": [""] * n,
            "Shares_Outstanding": ["1000000000"] * n,
            "Halt_Delay_Reason": [""] * n,
        }
    )


Generator = Callable[[str, int, np.random.Generator, np.ndarray, np.ndarray], pl.DataFrame]


def _slices(
    names: list[str], total: int, rng: np.random.Generator, make: Generator
) -> Iterator[pl.DataFrame]:
    """Each symbol's records (about ``total`` in all, uneven across symbols) in slices of at most
    :data:`SLICE_ROWS`, in time order."""
    weights = rng.pareto(1.5, len(names)) + 1.0
    counts = np.floor(weights / weights.sum() * total).astype(np.int64)
    counts[: total - int(counts.sum())] += 1
    for name, n in zip(names, counts, strict=True):
        times = _times(int(n), rng)
        mid = 20.0 + 480.0 * rng.random() if name != "BRK A" else 650_000.0
        for start in range(0, int(n), SLICE_ROWS):
            t = times[start : start + SLICE_ROWS]
            steps = rng.choice([-0.01, 0.0, 0.01], t.size, p=[MOVE / 2, 1 - MOVE, MOVE / 2])
            walk = np.round(mid + np.cumsum(steps), 2)
            mid = float(walk[-1]) if walk.size else mid
            yield make(name, start, rng, t, walk)


def _times(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sorted New York times of day (ns), 04:00 to 20:00, nine in ten in the regular session."""
    regular = rng.random(n) < 0.9
    t = np.where(
        regular,
        rng.integers(int(9.5 * NS_PER_HOUR), 16 * NS_PER_HOUR, n),
        rng.integers(4 * NS_PER_HOUR, 20 * NS_PER_HOUR, n),
    )
    t.sort()
    return t


def _clock(ns: np.ndarray) -> pl.Series:
    """``HHMMSSxxxxxxxxx``."""
    seconds, frac = np.divmod(ns, 10**9)
    hh, rest = np.divmod(seconds, 3600)
    mm, ss = np.divmod(rest, 60)
    value = ((hh * 100 + mm) * 100 + ss) * 10**9 + frac
    return pl.Series(value).cast(pl.String).str.zfill(15)


def _price(x: np.ndarray) -> pl.Series:
    return pl.Series(np.round(x, 2)).round(2).cast(pl.String)


def quotes(name: str, start: int, rng: np.random.Generator, t: np.ndarray, mid: np.ndarray) -> pl.DataFrame:
    n = t.size
    bid = mid - 0.01 * rng.integers(1, 4, n)
    ask = mid + 0.01 * rng.integers(1, 4, n)
    bid_size = rng.integers(1, 30, n).astype(np.int64)
    ask_size = rng.integers(1, 30, n).astype(np.int64)
    withdrawn = rng.random(n) < 0.01
    bid_size = np.where(withdrawn, 0, bid_size)
    cancel = np.where(rng.random(n) < 0.0005, "B", "")
    return pl.DataFrame(
        {
            "Time": _clock(t),
            "Exchange": EXCHANGES[rng.integers(0, EXCHANGES.size, n)],
            "Symbol": [name] * n,
            "Bid_Price": _price(np.where(withdrawn, 0.0, bid)),
            "Bid_Size": bid_size,
            "Offer_Price": _price(ask),
            "Offer_Size": ask_size,
            "Quote_Condition": QUOTE_CONDITIONS[rng.integers(0, QUOTE_CONDITIONS.size, n)],
            "Sequence_Number": np.arange(start + 1, start + n + 1) * 7,
            "National_BBO_Ind": ["0"] * n,
            "FINRA_BBO_Indicator": [""] * n,
            "FINRA_ADF_MPID_Indicator": [""] * n,
            "Quote_Cancel_Correction": cancel,
            "Source_Of_Quote": ["C"] * n,
            "Retail_Interest_Indicator": [""] * n,
            "Short_Sale_Restriction_Indicator": [""] * n,
            "LULD_BBO_Indicator": [""] * n,
            "SIP_Generated_Message_Identifier": [""] * n,
            "National_BBO_LULD_Indicator": [""] * n,
            "Participant_Timestamp": _clock(np.maximum(t - 150_000, 0)),
            "FINRA_ADF_Timestamp": [""] * n,
            "FINRA_ADF_Market_Participant_Quote_Indicator": [""] * n,
            "Security_Status_Indicator": [""] * n,
        }
    )


def nbbo(name: str, start: int, rng: np.random.Generator, t: np.ndarray, mid: np.ndarray) -> pl.DataFrame:
    n = t.size
    quote = quotes(name, start, rng, t, mid)
    best_bid = mid - 0.01 * (rng.random(n) < 0.5)
    best_ask = best_bid + 0.01 * rng.integers(1, 3, n)
    blank = [""] * n
    best = {
        "Best_Bid_Quote_Condition": ["R"] * n,
        "Best_Bid_Exchange": EXCHANGES[rng.integers(0, EXCHANGES.size, n)],
        "Best_Bid_Price": _price(best_bid),
        "Best_Bid_Size": rng.integers(1, 60, n),
        "Best_Bid_FINRA_Market_Maker_ID": blank,
        "Best_Offer_Quote_Condition": ["R"] * n,
        "Best_Offer_Exchange": EXCHANGES[rng.integers(0, EXCHANGES.size, n)],
        "Best_Offer_Price": _price(best_ask),
        "Best_Offer_Size": rng.integers(1, 60, n),
        "Best_Offer_FINRA_Market_Maker_ID": blank,
        "LULD_Indicator": blank,
        "LULD_NBBO_Indicator": blank,
    }
    return pl.concat(
        [
            quote.select(quote.columns[:14]),
            pl.DataFrame(best),
            quote.select(
                "SIP_Generated_Message_Identifier",
                "Participant_Timestamp",
                "FINRA_ADF_Timestamp",
                "Security_Status_Indicator",
            ),
        ],
        how="horizontal",
    )


def trades(name: str, start: int, rng: np.random.Generator, t: np.ndarray, mid: np.ndarray) -> pl.DataFrame:
    n = t.size
    side = rng.choice([-0.01, 0.01], n)
    size = np.where(rng.random(n) < 0.4, rng.integers(1, 100, n), rng.integers(1, 20, n) * 100)
    correction = np.where(rng.random(n) < 0.001, rng.choice(["01", "12", "08", "10"], n), "00")
    extended = (t < int(9.5 * NS_PER_HOUR)) | (t > 16 * NS_PER_HOUR)
    conditions = np.where(extended, "@ T ", SALE_CONDITIONS[rng.integers(0, SALE_CONDITIONS.size, n)])
    return pl.DataFrame(
        {
            "Time": _clock(t),
            "Exchange": EXCHANGES[rng.integers(0, EXCHANGES.size, n)],
            "Symbol": [name] * n,
            "Sale Condition": conditions,
            "Trade Volume": size,
            "Trade Price": _price(mid + side / 2),
            "Trade Stop Stock Indicator": [""] * n,
            "Trade Correction Indicator": correction,
            "Sequence Number": np.arange(start + 1, start + n + 1) * 3,
            "Trade Id": np.arange(start + 1, start + n + 1) + 52_983_525_000_000,
            "Source of Trade": ["C"] * n,
            "Trade Reporting Facility": [""] * n,
            "Participant Timestamp": _clock(np.maximum(t - 200_000, 0)),
            "Trade Reporting Facility TRF Timestamp": [""] * n,
            "Trade Through Exempt Indicator": ["0"] * n,
        }
    )
