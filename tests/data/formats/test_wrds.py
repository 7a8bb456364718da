"""WRDS TAQ extracts: quotes made the NBBO, trades with their corrections, dates in both spellings, symbols
with a suffix, several days in one file, row numbers and raw text, written here as WRDS delivers them."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import polars as pl
import pytest

from data.contract import QUOTES, TRADES
from data.formats import tape, wrds
from data.readers import RawBatch
from kappa.errors import InputError

QUOTE_COLUMNS = (
    "DATE,TIME_M,EX,SYM_ROOT,SYM_SUFFIX,BID,BIDSIZ,ASK,ASKSIZ,QU_COND,NATBBO_IND,QU_CANCEL,QU_SOURCE"
)
TRADE_COLUMNS = "DATE,TIME_M,EX,SYM_ROOT,SYM_SUFFIX,TR_SCOND,SIZE,PRICE,TR_CORR,TR_SEQNUM,TR_SOURCE,TR_RF"


def write(path: Path, header: str, lines: list[str]) -> Path:
    text = "\n".join([header, *lines]) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def read(path: Path, spec: object, batch_rows: int = 1_000) -> list[RawBatch]:
    return list(wrds.read_batches(path, spec, batch_rows))  # type: ignore[arg-type]


def skipped(batches: list[RawBatch]) -> dict[str, int]:
    out: dict[str, int] = {}
    for b in batches:
        for k, v in b.skipped.items():
            out[k] = out.get(k, 0) + v
    return out


# Two days; BRK.A and BRK.B interleaved (WRDS sorts by root and time); sizes in round lots of 100.
QUOTE_LINES = [
    "20261116,9:30:00.5,N,BRK,B,412.00,2,412.05,3,R,0,,C",  # 412.00 x 200 / 412.05 x 300
    "20261116,09:30:00.600000000,N,BRK,A,650000,1,650100,1,R,0,,C",  # BRK.A's own NBBO
    "20261116,09:30:00.700000000,P,BRK,B,412.01,1,412.05,5,R,2,,C",  # 412.01 x 100 / 412.05 x 800
    "20261116,09:30:00.800000000,Q,BRK,B,412.02,1,412.04,1,R,2,B,C",  # cancelled: no effect
    "20261116,09:30:00.900000000,Q,BRK,B,412.01,4,412.06,1,R,2,,C",  # 412.01 x 500
    "20261116,09:30:01.000000000,Q,BRK,B,412.01,4,412.06,2,R,0,,C",  # unchanged
    "20261116,09:30:01.100000000,P,BRK,B,412.01,1,412.05,5,C,0,,C",  # closing: P out, 412.01 x 400 / x 300
    "20261116,9:3O:01.2,P,BRK,B,412.01,1,412.05,5,R,0,,C",  # a letter O for a zero: malformed
    "2026-11-17,09:30:00.000000001,Q,BRK,B,413.00,1,413.10,1,R,0,,C",  # a new day: Q alone (N is gone)
    "2026-11-17,09:30:00.000000002,P,IBM,,140.00,1,140.02,1,R,0,,C",
]


@pytest.mark.parametrize("name", ["cqm.csv", "cqm.csv.gz"])
def test_quotes_become_the_nbbo(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, QUOTE_COLUMNS, QUOTE_LINES)
    assert wrds.sniff(path) and wrds.tables(path) == ("quotes",) and wrds.companions(path) == [path]
    for batch_rows in (1_000, 1):
        batches = read(path, QUOTES, batch_rows)
        rows = pl.concat([b.frame for b in batches]).sort("row_number")
        assert rows.select(
            "symbol", "exchange", "bid", "bid_size", "ask", "ask_size", "row_number"
        ).rows() == [
            ("BRK.B", "N", 412.00, 200.0, 412.05, 300.0, 1),
            ("BRK.A", "N", 650000.0, 100.0, 650100.0, 100.0, 2),
            ("BRK.B", "P", 412.01, 100.0, 412.05, 800.0, 3),
            ("BRK.B", "Q", 412.01, 500.0, 412.05, 800.0, 5),
            ("BRK.B", "P", 412.01, 400.0, 412.05, 300.0, 7),
            ("BRK.B", "Q", 413.00, 100.0, 413.10, 100.0, 9),
            ("IBM", "P", 140.00, 100.0, 140.02, 100.0, 10),
        ]
        assert rows["ts"].to_list()[:1] == [dt.datetime(2026, 11, 16, 14, 30, 0, 500000, tzinfo=dt.UTC)]
        assert rows["ts"].dt.nanosecond().to_list()[5] == 1
        assert skipped(batches) == {"cancelled_quote": 1, "nbbo_unchanged": 1}
        malformed = pl.concat([b.malformed for b in batches])
        assert malformed.select("row_number", "raw", "detail").rows() == [
            (8, QUOTE_LINES[7], tape.UNREADABLE)
        ]
        assert sum(b.rows for b in batches) == len(QUOTE_LINES)
        batch = next(b for b in batches if 7 in b.frame["row_number"].to_list())
        assert batch.lines is not None and batch.lines([7]) == [QUOTE_LINES[6]]


TRADE_LINES = [
    "20261116,09:30:00.000000001,N,BRK,B,@  I,100,412.50,00,11,C,",
    "20261116,09:30:00.000000002,P,BRK,B,@F  ,300,412.51,01,12,C,",  # corrected: its data stands
    "20261116,09:30:01.000000000,P,BRK,B,@F  ,300,412.70,12,13,C,",  # the correction record
    "20261116,09:30:02.000000000,D,BRK,B,@   ,200,412.60,8,14,C,N",  # cancelled (TR_CORR as a number)
    "20261116,09:30:03.000000000,D,BRK,B,@   ,200,412.60,10,15,C,N",  # the cancel record
    "20261116,09:30:04,Q,IBM,,@   ,-,140.00,00,16,C,",  # a size that is not a number: malformed
    "2026-11-16,16:00:00.5,Q,IBM,, T  ,50,140.10,00,017,N,",
]


def test_trades(tmp_path: Path) -> None:
    path = write(tmp_path / "ctm.csv", TRADE_COLUMNS, TRADE_LINES)
    assert wrds.sniff(path) and wrds.tables(path) == ("trades",)
    batches = read(path, TRADES)
    rows = pl.concat([b.frame for b in batches])
    # the tape does not say which side was the aggressor
    assert rows.columns == [*(c for c in TRADES.names if c != "aggressor"), "row_number"]
    assert rows.select(
        "symbol", "price", "size", "exchange", "conditions", "trade_id", "row_number"
    ).rows() == [
        ("BRK.B", 412.50, 100.0, "N", "@  I", "11", 1),
        ("BRK.B", 412.51, 300.0, "P", "@F  ", "12", 2),
        ("IBM", 140.10, 50.0, "Q", " T  ", "17", 7),
    ]
    assert rows["ts"][2] == dt.datetime(2026, 11, 16, 21, 0, 0, 500000, tzinfo=dt.UTC)
    assert skipped(batches) == {"trade_correction": 3}
    assert pl.concat([b.malformed for b in batches]).select("row_number", "raw", "detail").rows() == [
        (6, TRADE_LINES[5], tape.UNREADABLE)
    ]
    assert sum(b.rows for b in batches) == len(TRADE_LINES)


def test_an_extract_of_one_table_holds_no_other(tmp_path: Path) -> None:
    path = write(tmp_path / "ctm.csv", TRADE_COLUMNS, TRADE_LINES[:1])
    with pytest.raises(InputError, match="holds no quotes"):
        read(path, QUOTES)
    other = write(tmp_path / "other.csv", "SYM_ROOT,TIME_M,FOO", ["A,09:30:00,1"])
    assert wrds.sniff(other)
    with pytest.raises(InputError, match="not a WRDS TAQ extract"):
        wrds.tables(other)
    assert not wrds.sniff(write(tmp_path / "kappa.csv", "symbol,ts,price,size", []))


def test_quotes_going_back_in_time_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "cqm.csv", QUOTE_COLUMNS, [QUOTE_LINES[2], QUOTE_LINES[0]])
    with pytest.raises(InputError, match=r"quotes of BRK.B go back in time at row 2"):
        read(path, QUOTES)


def test_padded_values_read_as_unpadded(tmp_path: Path) -> None:
    """A vendor that pads its fields: numbers, times and codes read once stripped (the batch is read
    again stripped only when some value does not read as it is)."""
    padded = [
        "20261116, 09:30:00.5 , N ,BRK,B, 412.00 ,2,412.05,3, R ,0,,C",
        "20261116,09:30:00.700000000,P ,BRK,B,412.01, 1,412.05,5,R,2, ,C",
    ]
    rows = pl.concat([b.frame for b in read(write(tmp_path / "cqm.csv", QUOTE_COLUMNS, padded), QUOTES)])
    assert rows.select("symbol", "exchange", "bid", "bid_size", "ask", "ask_size").rows() == [
        ("BRK.B", "N", 412.00, 200.0, 412.05, 300.0),
        ("BRK.B", "P", 412.01, 100.0, 412.05, 800.0),
    ]
