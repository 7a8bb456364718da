"""The NBBO built from exchange-level quotes: values worked by hand, the state carried across batches and
chunks, ties, and a cross-check against a plain loop over the quotes."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from typing import Any

import polars as pl
import pytest

from data.formats import nbbo
from data.formats.nbbo import INPUT_SCHEMA, OUTPUT_SCHEMA, NBBOBuilder
from kappa.errors import InputError

DAY = dt.date(2026, 11, 16)
T0 = dt.datetime(2026, 11, 16, 14, 30, tzinfo=dt.UTC)


def quote(
    row: int,
    exchange: str,
    bid: float | None,
    bid_size: float | None,
    ask: float | None,
    ask_size: float | None,
    *,
    regular: bool = True,
    symbol: str = "XYZ",
    date: dt.date = DAY,
    micros: int | None = None,
) -> dict[str, Any]:
    ts = T0 + dt.timedelta(microseconds=row if micros is None else micros)
    return dict(symbol=symbol, date=date, ts=ts, exchange=exchange, bid=bid, bid_size=bid_size, ask=ask,
                ask_size=ask_size, regular=regular, row_number=row)  # fmt: skip


def build(rows: list[dict[str, Any]], batch: int | None = None) -> tuple[pl.DataFrame, Counter[str]]:
    """The builder's output over ``rows`` fed ``batch`` rows at a time."""
    frame = pl.DataFrame(rows, schema=INPUT_SCHEMA)
    builder = NBBOBuilder("test")
    out, counts = [], Counter[str]()
    step = batch or max(1, frame.height)
    for start in range(0, frame.height, step):
        got, skipped = builder.add(frame.slice(start, step))
        out.append(got)
        counts.update(skipped)
    return pl.concat(out), counts


# The hand-worked day: three exchanges, then withdrawals, a condition the NBBO leaves out, a quote crossed
# on its own exchange, a crossed and a one-sided market. Sizes are in shares.
HAND = [
    quote(1, "N", 10.00, 200, 10.05, 300),  # N alone: 10.00 x 200 / 10.05 x 300
    quote(2, "P", 10.01, 100, 10.05, 500),  # P betters the bid; the offer is N's and P's: 300 + 500
    quote(3, "Q", 10.01, 400, 10.06, 100),  # Q joins the bid: 100 + 400; its offer is not the best
    quote(4, "Q", 10.01, 400, 10.06, 200),  # Q's offer size moves away from the best: unchanged
    quote(5, "P", 0.0, 0, 10.05, 500),  # P withdraws its bid: the NBB is Q's alone
    quote(6, "P", 10.02, 100, 10.05, 500, regular=False),  # not firm: P withdraws both sides
    quote(7, "N", 10.00, 200, 10.05, 300, regular=False),  # N out too: Q's 10.01 / 10.06 are the NBBO
    quote(8, "Z", 10.10, 100, 10.05, 100),  # crossed on Z itself: withdrawn, nothing changes
    quote(9, "N", 10.07, 100, 10.08, 100),  # N bids 10.07 over Q's 10.06 offer: a crossed market
    quote(10, "Q", None, None, 0.0, 0),  # Q withdraws: N's 10.07 / 10.08 alone
    quote(11, "N", 10.07, 0, 10.08, 100),  # a bid with size 0 is withdrawn: no bid anywhere
    quote(12, "P", 10.05, 300, 10.09, 100, micros=20),  # two quotes at one instant: both rows, in order
    quote(13, "N", 10.06, 100, 10.08, 100, micros=20),
]
HAND_EXPECTED = [
    # row, exchange, bid, bid_size, ask, ask_size
    (1, "N", 10.00, 200, 10.05, 300),
    (2, "P", 10.01, 100, 10.05, 800),
    (3, "Q", 10.01, 500, 10.05, 800),
    (5, "P", 10.01, 400, 10.05, 800),
    (6, "P", 10.01, 400, 10.05, 300),
    (7, "N", 10.01, 400, 10.06, 200),
    (10, "Q", 10.07, 100, 10.08, 100),
    (12, "P", 10.05, 300, 10.08, 100),
    (13, "N", 10.06, 100, 10.08, 100),
]
HAND_SKIPPED = {"nbbo_unchanged": 1, "crossed_quote": 1, "crossed_nbbo": 1, "one_sided_nbbo": 1}


def _values(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return frame.select(["row_number", "exchange", "bid", "bid_size", "ask", "ask_size"]).rows()


@pytest.mark.parametrize("batch", [None, 1, 2, 5])
@pytest.mark.parametrize("chunk", [3, nbbo.CHUNK_ROWS])
def test_nbbo_worked_by_hand(batch: int | None, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nbbo, "CHUNK_ROWS", chunk)  # a batch boundary or a chunk's inside a symbol's day
    got, skipped = build(HAND, batch)
    assert _values(got) == HAND_EXPECTED
    assert dict(skipped) == HAND_SKIPPED
    assert got.height + sum(skipped.values()) == len(HAND)
    assert got.schema == pl.Schema(OUTPUT_SCHEMA)
    # two quotes at one instant: both rows, the last one the state in force
    tied = got.filter(pl.col("ts") == T0 + dt.timedelta(microseconds=20))
    assert tied["row_number"].to_list() == [12, 13]


def test_the_state_starts_afresh_each_symbol_and_date() -> None:
    rows = [
        quote(1, "N", 10.00, 100, 10.02, 100),
        quote(2, "P", 20.00, 100, 20.02, 100, symbol="ZZZ"),  # N's quote of XYZ is not ZZZ's
        quote(3, "Q", 10.01, 100, 10.03, 100, date=DAY + dt.timedelta(days=1)),  # nor the next day's
    ]
    for batch in (None, 1):
        got, skipped = build(rows, batch)
        assert sorted(_values(got)) == [
            (1, "N", 10.00, 100, 10.02, 100),
            (2, "P", 20.00, 100, 20.02, 100),
            (3, "Q", 10.01, 100, 10.03, 100),
        ]
        assert not skipped


def test_symbols_interleaved_in_the_file_keep_their_own_state() -> None:
    """WRDS sorts by root and time: BRK.A and BRK.B come interleaved."""
    rows = [
        quote(1, "N", 600_000.0, 1, 600_100.0, 1, symbol="BRK.A"),
        quote(2, "N", 400.00, 100, 400.02, 100, symbol="BRK.B"),
        quote(3, "P", 600_050.0, 2, 600_100.0, 3, symbol="BRK.A"),
        quote(4, "P", 400.00, 300, 400.03, 100, symbol="BRK.B"),
    ]
    for batch in (None, 1, 3):
        got, _ = build(rows, batch)
        by_symbol = {s: _values(g) for (s,), g in got.group_by("symbol")}
        assert by_symbol["BRK.A"] == [
            (1, "N", 600_000.0, 1, 600_100.0, 1),
            (3, "P", 600_050.0, 2, 600_100.0, 4),
        ]
        assert by_symbol["BRK.B"] == [(2, "N", 400.00, 100, 400.02, 100), (4, "P", 400.00, 400, 400.02, 100)]


@pytest.mark.parametrize("batch", [None, 2])
def test_quotes_going_back_in_time_are_refused(batch: int | None) -> None:
    rows = [quote(1, "N", 10.0, 100, 10.1, 100, micros=10), quote(2, "N", 10.0, 100, 10.2, 100, micros=5),
            quote(3, "N", 10.0, 100, 10.2, 100, micros=5)]  # fmt: skip
    with pytest.raises(InputError, match=r"XYZ go back in time at row 2"):
        build(rows, batch)


def naive_nbbo(rows: list[dict[str, Any]]) -> tuple[list[tuple[Any, ...]], Counter[str]]:
    """The NBBO by a loop over the quotes: a dict of each exchange's quote per symbol and date."""
    books: dict[tuple[str, dt.date], dict[str, tuple[float, float, float, float]]] = {}
    last: dict[tuple[str, dt.date], tuple[float, float, float, float]] = {}  # the last NBBO written
    out, counts = [], Counter[str]()

    def live(price: float | None, size: float | None) -> bool:
        return price is not None and price > 0 and size is not None and size > 0

    for r in rows:
        key = (r["symbol"], r["date"])
        book = books.setdefault(key, {})
        b, bs, a, as_ = r["bid"], r["bid_size"], r["ask"], r["ask_size"]
        own_crossed = b is not None and a is not None and b > 0 and a > 0 and b > a
        firm = r["regular"] and not own_crossed
        book[r["exchange"]] = (
            *((b, bs) if firm and live(b, bs) else (0.0, 0.0)),
            *((a, as_) if firm and live(a, as_) else (math.inf, 0.0)),
        )
        nbb = max(q[0] for q in book.values())
        nbo = min(q[2] for q in book.values())
        state = (nbb, sum(q[1] for q in book.values() if q[0] == nbb), nbo,
                 sum(q[3] for q in book.values() if q[2] == nbo))  # fmt: skip
        two_sided = nbb > 0 and nbo < math.inf
        if two_sided and nbb <= nbo and state != last.get(key):  # a new NBBO: not the last one written
            last[key] = state
            out.append((r["symbol"], r["row_number"], r["exchange"], nbb, state[1], nbo, state[3]))
        elif not two_sided:
            counts["one_sided_nbbo"] += 1
        elif nbb > nbo:
            counts["crossed_nbbo"] += 1
        elif not r["regular"]:
            counts["quote_condition"] += 1
        elif own_crossed:
            counts["crossed_quote"] += 1
        else:
            counts["nbbo_unchanged"] += 1
    return out, counts


def random_quotes(seed: int, n: int = 300) -> list[dict[str, Any]]:
    """``n`` exchange quotes of two symbols over two days, in time order per symbol, with ties, blank and
    zero sides, conditions left out and prices on a few ticks (so that sizes add up at the best)."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for symbol in ("AAA", "BBB"):
        for date in (DAY, DAY + dt.timedelta(days=1)):
            micros = 0
            for _ in range(n // 4):
                micros += rng.choice([0, 0, 1, 3])
                rows.append(quote(
                    len(rows) + 1, rng.choice("NPQZK"),
                    rng.choice([None, 0.0, 9.99, 10.00, 10.01, 10.02]), rng.choice([None, 0, 100, 200, 300]),
                    rng.choice([None, 0.0, 10.00, 10.01, 10.02, 10.03]), rng.choice([0, 100, 200, 500]),
                    regular=rng.random() > 0.1, symbol=symbol, date=date, micros=micros,
                ))  # fmt: skip
    return rows


@pytest.mark.parametrize("seed", [0, 1])
def test_nbbo_matches_a_plain_loop_over_the_quotes(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = random_quotes(seed)
    expected, expected_counts = naive_nbbo(rows)
    monkeypatch.setattr(nbbo, "CHUNK_ROWS", 37)
    for batch in (None, 11):
        got, counts = build(rows, batch)
        cols = ["symbol", "row_number", "exchange", "bid", "bid_size", "ask", "ask_size"]
        assert got.select(cols).rows() == expected
        assert counts == expected_counts
        assert got.height + sum(counts.values()) == len(rows)
    # the file's symbols interleaved (each one's quotes still in time order): the same rows by symbol
    shuffled = sorted(rows, key=lambda r: (r["date"], r["ts"], r["row_number"]))
    got, counts = build(shuffled, batch=50)
    assert sorted(got.select(cols).rows(), key=lambda r: r[1]) == sorted(expected, key=lambda r: r[1])
    assert counts == expected_counts
