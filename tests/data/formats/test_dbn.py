"""Databento DBN files read as quotes and trades, on files written here with ``databento_dbn`` itself
(``Metadata.encode``, the record classes' bytes, ``Transcoder`` for Zstandard), values worked by hand.

2024-01-02 14:30 UTC is 09:30 in New York (EST): the open of a regular session. AAPL is instrument 38,
MSFT 42, on publisher 2 (XNAS.ITCH, venue XNAS).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import databento_dbn as db
import polars as pl
import pytest

from data.contract import QUOTES, TRADES, TableSpec
from data.formats import dbn
from data.readers import RawBatch
from data.validation import validate_batch
from kappa.errors import InputError

WITHOUT_AGGRESSOR = TableSpec(
    "trades", tuple(c for c in TRADES.columns if c.name != "aggressor"), key=TRADES.key, market=True
)
T0 = 1_704_205_800_000_000_000  # 2024-01-02T14:30:00Z
SECOND = 1_000_000_000
DAY1, DAY2, DAY3 = dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)
UNDEF = db.UNDEF_PRICE


@dataclass
class Interval:
    start_date: dt.date
    end_date: dt.date
    symbol: str


@dataclass
class Mapping:
    raw_symbol: str
    intervals: list[Interval]


MAPPINGS = [Mapping("AAPL", [Interval(DAY1, DAY2, "38")]), Mapping("MSFT", [Interval(DAY1, DAY2, "42")])]


def metadata(schema: str, mappings: list[Mapping] = MAPPINGS, **kw: Any) -> db.Metadata:
    args: dict[str, Any] = {
        "dataset": "XNAS.ITCH",
        "start": T0,
        "stype_in": db.SType.RAW_SYMBOL,
        "stype_out": db.SType.INSTRUMENT_ID,
        "schema": db.Schema.from_str(schema),
        "symbols": [m.raw_symbol for m in mappings],
        "mappings": mappings,
        "end": T0 + 86_400 * SECOND,
    }
    return db.Metadata(**(args | kw))


def write(path: Path, md: db.Metadata, records: list[Any], zstd: bool = False) -> Path:
    data = md.encode() + b"".join(r if isinstance(r, bytes) else bytes(r) for r in records)
    if zstd:
        out = io.BytesIO()
        transcoder = db.Transcoder(out, db.Encoding.DBN, db.Compression.ZSTD)
        transcoder.write(data)
        transcoder.finish()
        data = out.getvalue()
    path.write_bytes(data)
    return path


def usd(price: float) -> int:
    return round(price * 1e9)


def trade(
    iid: int, t: int, price: float, size: int, side: str, seq: int, publisher: int = 2, **kw: Any
) -> Any:
    return db.TradeMsg(
        publisher_id=publisher, instrument_id=iid, ts_event=T0 + t * SECOND, price=usd(price), size=size,
        action=db.Action("T"), side=db.Side(side), depth=0, ts_recv=T0 + t * SECOND + 1000, sequence=seq, **kw,
    )  # fmt: skip


def level(bid: float | None, ask: float | None, bid_size: int, ask_size: int) -> Any:
    return db.BidAskPair(
        bid_px=UNDEF if bid is None else usd(bid), ask_px=UNDEF if ask is None else usd(ask),
        bid_sz=bid_size, ask_sz=ask_size, bid_ct=1, ask_ct=1,
    )  # fmt: skip


def mbp1(iid: int, t: int, action: str, side: str, price: float, size: int, book: Any, seq: int) -> Any:
    return db.MBP1Msg(
        publisher_id=2, instrument_id=iid, ts_event=T0 + t * SECOND, price=usd(price), size=size,
        action=db.Action(action), side=db.Side(side), depth=0, ts_recv=T0 + t * SECOND + 1000, sequence=seq,
        levels=book,
    )  # fmt: skip


def bbo(iid: int, t: int, book: Any, rtype: Any = db.RType.BBO_1S) -> Any:
    return db.BBOMsg(
        rtype=int(rtype), publisher_id=2, instrument_id=iid, ts_event=T0 + t * SECOND, price=UNDEF, size=0,
        side=db.Side("N"), ts_recv=T0 + (t + 1) * SECOND, sequence=7, levels=book,
    )  # fmt: skip


def utc(seconds: float, day: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, 2 + day, 14, 30, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)


def read(
    path: Path, spec: TableSpec, batch_rows: int = 1000
) -> tuple[pl.DataFrame, dict[str, int], list[RawBatch]]:
    batches = list(dbn.read_batches(path, spec, batch_rows))
    skipped: dict[str, int] = {}
    for b in batches:
        for k, v in b.skipped.items():
            if v:
                skipped[k] = skipped.get(k, 0) + v
    return pl.concat([b.frame for b in batches]), skipped, batches


TRADES_FILE = [
    trade(38, 1, 185.12, 100, "A", 101),
    trade(42, 2, 375.50, 50, "B", 102),
    trade(38, 3, 185.13, 10, "N", 0),
]


def test_trades_with_prices_symbols_venue_and_aggressor(tmp_path: Path) -> None:
    path = write(tmp_path / "xnas-itch-20240102.trades.dbn", metadata("trades"), TRADES_FILE)
    assert dbn.sniff(path)
    assert dbn.tables(path) == ("trades",)
    assert dbn.companions(path) == [path]
    frame, skipped, _ = read(path, TRADES)
    assert frame.columns == [*TRADES.names, "row_number"]
    assert frame.schema["ts"] == pl.Datetime("ns", "UTC")
    assert frame.drop("row_number").rows() == [
        ("AAPL", utc(1), 185.12, 100.0, "XNAS", None, "20240102:2:101", "sell"),
        ("MSFT", utc(2), 375.50, 50.0, "XNAS", None, "20240102:2:102", "buy"),
        ("AAPL", utc(3), 185.13, 10.0, "XNAS", None, None, None),
    ]
    assert frame["row_number"].to_list() == [1, 2, 3]
    assert skipped == {}
    assert read(path, WITHOUT_AGGRESSOR)[0].columns == [*WITHOUT_AGGRESSOR.names, "row_number"]
    with pytest.raises(InputError, match="holds trades, not quotes"):
        read(path, QUOTES)


def test_zstd_reads_as_plain(tmp_path: Path) -> None:
    plain = write(tmp_path / "t.dbn", metadata("trades"), TRADES_FILE)
    packed = write(tmp_path / "t.dbn.zst", metadata("trades"), TRADES_FILE, zstd=True)
    assert packed.read_bytes()[:4] == dbn.ZSTD_MAGIC
    assert dbn.sniff(packed)
    assert read(packed, TRADES, 2)[0].equals(read(plain, TRADES)[0])


MBP1_FILE = [  # row: quotes / trades
    mbp1(38, 1, "A", "B", 185.10, 100, level(185.10, 185.12, 100, 200), 1),  # 1: quote / book_update
    mbp1(42, 2, "A", "A", 375.50, 30, level(None, 375.50, 0, 30), 2),  # 2: one_sided_book / book_update
    mbp1(38, 3, "A", "B", 185.00, 10, level(185.10, 185.12, 100, 200), 3),  # 3: book_unchanged / book_update
    mbp1(42, 4, "A", "B", 375.40, 10, level(375.40, 375.50, 10, 30), 4),  # 4: quote / book_update
    mbp1(38, 5, "T", "B", 185.12, 50, level(185.10, 185.12, 100, 200), 5),  # 5: book_unchanged / buy 50
    mbp1(38, 5, "C", "A", 185.12, 50, level(185.10, 185.12, 100, 150), 6),  # 6: quote / book_update
    mbp1(42, 6, "T", "A", 375.40, 10, level(375.40, 375.50, 10, 30), 7),  # 7: book_unchanged / sell 10
    mbp1(42, 6, "C", "B", 375.40, 10, level(375.30, 375.50, 5, 30), 8),  # 8: quote / book_update
]


@pytest.mark.parametrize("batch_rows", [1000, 1, 3])
def test_mbp1_quotes_are_level_zero_changes_per_instrument(tmp_path: Path, batch_rows: int) -> None:
    path = write(tmp_path / "m.dbn", metadata("mbp-1"), MBP1_FILE)
    assert dbn.tables(path) == ("quotes", "trades")
    quotes, skipped, batches = read(path, QUOTES, batch_rows)
    assert quotes.rows() == [
        ("AAPL", utc(1), 185.10, 185.12, 100.0, 200.0, "XNAS", 1),
        ("MSFT", utc(4), 375.40, 375.50, 10.0, 30.0, "XNAS", 4),
        ("AAPL", utc(5), 185.10, 185.12, 100.0, 150.0, "XNAS", 6),
        ("MSFT", utc(6), 375.30, 375.50, 5.0, 30.0, "XNAS", 8),
    ]
    assert skipped == {"one_sided_book": 1, "book_unchanged": 3}
    assert sum(b.rows for b in batches) == len(MBP1_FILE)
    trades, skipped, _ = read(path, TRADES, batch_rows)
    assert trades.select("symbol", "price", "size", "trade_id", "aggressor", "row_number").rows() == [
        ("AAPL", 185.12, 50.0, "20240102:2:5", "buy", 5),
        ("MSFT", 375.40, 10.0, "20240102:2:7", "sell", 7),
    ]
    assert skipped == {"book_update": 6}


def test_tbbo_gives_trades_and_the_book_before_each(tmp_path: Path) -> None:
    records = [
        mbp1(38, 1, "T", "A", 185.10, 20, level(185.10, 185.12, 100, 200), 1),
        mbp1(38, 2, "T", "A", 185.10, 30, level(185.10, 185.12, 100, 200), 2),
        mbp1(38, 3, "T", "B", 185.12, 40, level(185.09, 185.12, 300, 200), 3),
    ]
    path = write(tmp_path / "t.dbn", metadata("tbbo"), records)
    assert dbn.tables(path) == ("quotes", "trades")
    quotes, skipped, _ = read(path, QUOTES)
    assert quotes.select("ts", "bid", "ask", "bid_size", "row_number").rows() == [
        (utc(1), 185.10, 185.12, 100.0, 1),
        (utc(3), 185.09, 185.12, 300.0, 3),
    ]
    assert skipped == {"book_unchanged": 1}
    trades, skipped, _ = read(path, TRADES)
    assert trades["aggressor"].to_list() == ["sell", "sell", "buy"]
    assert skipped == {}


@pytest.mark.parametrize("schema", ["bbo-1s", "bbo-1m"])
def test_bbo_samples_are_quotes(tmp_path: Path, schema: str) -> None:
    rtype = db.RType.from_schema(db.Schema.from_str(schema))
    records = [
        bbo(38, 0, level(None, 185.12, 0, 200), rtype),
        bbo(38, 1, level(185.10, 185.12, 100, 200), rtype),
        bbo(38, 1, level(185.10, 185.12, 100, 200), rtype),  # the next sample: no update since
        bbo(38, 3, level(185.11, 185.12, 100, 200), rtype),
    ]
    path = write(tmp_path / "b.dbn", metadata(schema), records)
    assert dbn.tables(path) == ("quotes",)
    quotes, skipped, _ = read(path, QUOTES)
    assert quotes.select("ts", "bid", "row_number").rows() == [(utc(1), 185.10, 2), (utc(3), 185.11, 4)]
    assert skipped == {"one_sided_book": 1, "book_unchanged": 1}
    with pytest.raises(InputError, match="holds quotes, not trades"):
        read(path, TRADES)


@pytest.mark.parametrize("schema", ["mbo", "ohlcv-1m", "mbp-10", "definition"])
def test_other_schemas_are_refused_by_name(tmp_path: Path, schema: str) -> None:
    path = write(tmp_path / "x.dbn", metadata(schema), [])
    assert dbn.sniff(path)
    for call in (lambda: dbn.tables(path), lambda: read(path, TRADES)):
        with pytest.raises(InputError, match=f"schema {schema} is not read; Kappa reads trades, tbbo, mbp-1"):
            call()


def test_symbols_follow_the_mapping_of_each_date(tmp_path: Path) -> None:
    mappings = [
        Mapping("AAPL", [Interval(DAY1, DAY2, "38")]),
        Mapping("NEWCO", [Interval(DAY2, DAY3, "38")]),  # instrument 38 is another symbol the next day
    ]
    records = [
        trade(38, 1, 185.12, 100, "A", 1),
        trade(38, 86_400, 20.0, 5, "B", 1),
        trade(77, 2, 1.0, 1, "B", 3),
    ]
    path = write(tmp_path / "t.dbn", metadata("trades", mappings), records)
    frame = read(path, TRADES)[0]
    assert frame.select("symbol", "trade_id").rows() == [
        ("AAPL", "20240102:2:1"),
        ("NEWCO", "20240103:2:1"),
        (None, "20240102:2:3"),  # no mapping: no symbol, quarantined by validation as missing_value
    ]
    rejected = validate_batch(frame, TRADES, "XNYS").rejected
    assert rejected.select("row_number", "rule", "detail").rows() == [(3, "missing_value", "symbol")]


def test_inverse_mappings_key_by_instrument_id(tmp_path: Path) -> None:
    mappings = [Mapping("38", [Interval(DAY1, DAY2, "AAPL")]), Mapping("42", [Interval(DAY1, DAY2, "MSFT")])]
    md = metadata("trades", mappings, stype_in=db.SType.INSTRUMENT_ID, stype_out=db.SType.RAW_SYMBOL)
    path = write(tmp_path / "t.dbn", md, TRADES_FILE)
    assert read(path, TRADES)[0]["symbol"].to_list() == ["AAPL", "MSFT", "AAPL"]


def test_live_data_symbol_mapping_and_system_records(tmp_path: Path) -> None:
    mapping = db.SymbolMappingMsg(
        publisher_id=2, instrument_id=38, ts_event=T0, stype_in=db.SType.RAW_SYMBOL, stype_in_symbol="AAPL",
        stype_out=db.SType.RAW_SYMBOL, stype_out_symbol="AAPL", start_ts=T0, end_ts=T0 + 86_400 * SECOND,
    )  # fmt: skip
    heartbeat = db.SystemMsg(ts_event=T0 + SECOND, msg="Heartbeat")
    records = [mapping, TRADES_FILE[0], heartbeat, TRADES_FILE[2]]
    path = write(tmp_path / "live.dbn", metadata("trades", []), records)
    for batch_rows in (1000, 1):
        frame, skipped, batches = read(path, TRADES, batch_rows)
        assert frame.select("symbol", "price", "row_number").rows() == [
            ("AAPL", 185.12, 2),
            ("AAPL", 185.13, 4),
        ]
        assert skipped == {"symbol_mapping": 1, "system_message": 1}
        assert sum(b.rows for b in batches) == 4
    batch = next(iter(dbn.read_batches(path, TRADES, 1000)))
    assert batch.lines is not None
    assert "Heartbeat" in batch.lines(pl.Series([3]).to_numpy())[0]


def test_records_with_a_send_timestamp(tmp_path: Path) -> None:
    records = [
        trade(38, 1, 185.12, 100, "A", 101, ts_out=T0 + 5 * SECOND),
        trade(42, 2, 375.5, 50, "B", 102, ts_out=T0),
    ]
    path = write(tmp_path / "t.dbn", metadata("trades", ts_out=True), records)
    frame = read(path, TRADES)[0]
    assert frame.select("symbol", "ts", "price").rows() == [("AAPL", utc(1), 185.12), ("MSFT", utc(2), 375.5)]


def test_dbn_version_1(tmp_path: Path) -> None:
    path = write(tmp_path / "t.dbn", metadata("trades", version=1), TRADES_FILE)
    assert path.read_bytes()[3] == 1
    assert read(path, TRADES)[0]["price"].to_list() == [185.12, 375.5, 185.13]


def test_a_record_of_the_wrong_length_is_malformed_and_a_cut_file_refused(tmp_path: Path) -> None:
    short = bytearray(bytes(TRADES_FILE[1])[:40])
    short[0] = 40 // 4  # a trade record of 40 bytes, not 48
    path = write(tmp_path / "t.dbn", metadata("trades"), [TRADES_FILE[0], bytes(short), TRADES_FILE[2]])
    frame, _, batches = read(path, TRADES)
    assert frame["row_number"].to_list() == [1, 3]
    malformed = pl.concat([b.malformed for b in batches])
    assert malformed["row_number"].to_list() == [2]
    assert malformed["raw"][0].startswith("rtype 0, 40 bytes: 0a00")
    cut = write(tmp_path / "cut.dbn", metadata("trades"), [*TRADES_FILE[:2], bytes(TRADES_FILE[2])[:30]])
    with pytest.raises(InputError, match="ends inside record 3"):
        read(cut, TRADES)


def test_repeated_sequence_numbers_get_distinct_trade_ids(tmp_path: Path) -> None:
    records = [
        trade(38, 1, 185.12, 100, "A", 9),
        trade(38, 1, 185.11, 100, "A", 9),
        trade(42, 1, 375.5, 1, "B", 9),
    ]
    path = write(tmp_path / "t.dbn", metadata("trades"), records)
    assert read(path, TRADES)[0]["trade_id"].to_list() == ["20240102:2:9", "20240102:2:9:2", "20240102:2:9"]


def test_venues_of_publishers(tmp_path: Path) -> None:
    assert dbn.venue(2) == "XNAS"
    assert dbn.venue(39) == "XCHI"  # DBEQ.BASIC.XCHI
    assert dbn.venue(60_000) is None
    records = [
        trade(38, 1, 185.12, 100, "A", 1, publisher=39),
        trade(38, 2, 185.12, 100, "A", 2, publisher=60_000),
    ]
    path = write(tmp_path / "t.dbn", metadata("trades"), records)
    assert read(path, TRADES)[0]["exchange"].to_list() == ["XCHI", None]


def test_lines_are_the_records_as_the_library_prints_them(tmp_path: Path) -> None:
    path = write(tmp_path / "t.dbn", metadata("trades"), TRADES_FILE)
    batch = next(iter(dbn.read_batches(path, TRADES, 1000)))
    assert batch.lines is not None
    text = batch.lines(batch.frame["row_number"].to_numpy()[1:2])[0]
    assert text.startswith("TradeMsg(") and "instrument_id=42" in text and "price=375500000000" in text
    second = list(dbn.read_batches(path, TRADES, 1))[1]  # a batch of its own: row 2
    assert second.lines is not None and second.lines(second.frame["row_number"].to_numpy()) == [text]


def test_sniff(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("symbol,ts\n")
    junk = tmp_path / "j.dbn.zst"
    junk.write_bytes(b"\x28\xb5\x2f\xfd not really zstd")
    empty = tmp_path / "e.dbn"
    empty.write_bytes(b"")
    assert not any(dbn.sniff(p) for p in (csv, junk, empty, tmp_path / "missing.dbn"))
    with pytest.raises(InputError):
        read(junk, TRADES)


def test_the_rows_pass_validation(tmp_path: Path) -> None:
    path = write(tmp_path / "m.dbn.zst", metadata("mbp-1"), MBP1_FILE, zstd=True)
    for spec in (QUOTES, TRADES):
        frame = read(path, spec)[0]
        result = validate_batch(frame, spec, "XNYS")
        assert result.rejected.height == 0
        assert result.clean.height == frame.height
