"""A day of WRDS TAQ extracts for the input-format benchmark: the consolidated quotes and trades of the
benchmark day as a WRDS query returns them, gzipped CSV with WRDS's column names.

:func:`write` writes ``wrds_cqm_YYYYMMDD.csv.gz`` (``DATE, TIME_M, EX, SYM_ROOT, SYM_SUFFIX, BID, BIDSIZ,
ASK, ASKSIZ, QU_COND, NATBBO_IND, QU_CANCEL, QU_SOURCE``; sizes in round lots) and
``wrds_ctm_YYYYMMDD.csv.gz`` (``DATE, TIME_M, EX, SYM_ROOT, SYM_SUFFIX, TR_SCOND, SIZE, PRICE, TR_CORR,
TR_SEQNUM, TR_SOURCE, TR_RF``), sorted by symbol then time, ``TIME_M`` as ``HH:MM:SS.nnnnnnnnn`` New York
time. The records are those of :mod:`benchmarks.vendor.taq` (same symbols, prices, conditions and
corrections), written a symbol at a time in slices, so memory stays bounded for 100 M rows.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
import polars as pl

from benchmarks.config import DAY
from benchmarks.vendor import taq

QUOTE_COLUMNS = [
    *("DATE", "TIME_M", "EX", "SYM_ROOT", "SYM_SUFFIX", "BID", "BIDSIZ", "ASK", "ASKSIZ"),
    *("QU_COND", "NATBBO_IND", "QU_CANCEL", "QU_SOURCE"),
]
TRADE_COLUMNS = [
    *("DATE", "TIME_M", "EX", "SYM_ROOT", "SYM_SUFFIX", "TR_SCOND", "SIZE", "PRICE", "TR_CORR"),
    *("TR_SEQNUM", "TR_SOURCE", "TR_RF"),
]


def write(folder: Path, rows: int, seed: int = 0) -> list[Path]:
    """Write a day of WRDS extracts holding about ``rows`` rows in all (four in five quotes) into
    ``folder``; their paths (quotes, then trades)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = taq.symbols(max(2, min(5_000, rows // 20_000)))
    rng = np.random.default_rng(seed)
    out = []
    for table, count, make in (("cqm", rows * 4 // 5, _quotes), ("ctm", rows // 5, _trades)):
        path = folder / f"wrds_{table}_{DAY:%Y%m%d}.csv.gz"
        generator = taq.quotes if table == "cqm" else taq.trades
        frames = (make(frame) for frame in taq._slices(names, count, rng, generator))
        _write(path, QUOTE_COLUMNS if table == "cqm" else TRADE_COLUMNS, frames)
        out.append(path)
    return out


def _write(path: Path, columns: list[str], frames: Iterable[pl.DataFrame]) -> None:
    with gzip.open(path, "wb", compresslevel=1) as f:
        out = cast(BinaryIO, f)
        out.write((",".join(columns) + "\n").encode())
        for frame in frames:  # blank fields as WRDS writes them: nothing between the commas
            frame.select(columns).with_columns(pl.col(pl.String).replace("", None)).write_csv(
                out, include_header=False
            )


def _common(frame: pl.DataFrame) -> list[pl.Expr]:
    """DATE, TIME_M (``HH:MM:SS.nnnnnnnnn`` from TAQ's ``HHMMSSnnnnnnnnn``), SYM_ROOT and SYM_SUFFIX."""
    t = pl.col("Time")
    return [
        pl.lit(f"{DAY:%Y%m%d}").alias("DATE"),
        pl.concat_str(
            t.str.slice(0, 2),
            pl.lit(":"),
            t.str.slice(2, 2),
            pl.lit(":"),
            t.str.slice(4, 2),
            pl.lit("."),
            t.str.slice(6),
        ).alias("TIME_M"),
        pl.col("Exchange").alias("EX"),
        pl.col("Symbol").str.split(" ").list.get(0).alias("SYM_ROOT"),
        pl.col("Symbol").str.split(" ").list.get(1, null_on_oob=True).fill_null("").alias("SYM_SUFFIX"),
    ]


def _quotes(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        *_common(frame),
        pl.col("Bid_Price").alias("BID"),
        pl.col("Bid_Size").alias("BIDSIZ"),
        pl.col("Offer_Price").alias("ASK"),
        pl.col("Offer_Size").alias("ASKSIZ"),
        pl.col("Quote_Condition").alias("QU_COND"),
        pl.col("National_BBO_Ind").alias("NATBBO_IND"),
        pl.col("Quote_Cancel_Correction").alias("QU_CANCEL"),
        pl.col("Source_Of_Quote").alias("QU_SOURCE"),
    )


def _trades(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        *_common(frame),
        pl.col("Sale Condition").alias("TR_SCOND"),
        pl.col("Trade Volume").alias("SIZE"),
        pl.col("Trade Price").alias("PRICE"),
        pl.col("Trade Correction Indicator").alias("TR_CORR"),
        pl.col("Sequence Number").alias("TR_SEQNUM"),
        pl.col("Source of Trade").alias("TR_SOURCE"),
        pl.col("Trade Reporting Facility").alias("TR_RF"),
    )
