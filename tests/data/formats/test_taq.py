"""NYSE Daily TAQ files: trades, quotes made the NBBO, the SIP's NBBO, the trailer's count, row numbers and
raw text, written here in the Daily TAQ Client Specification's layout."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import polars as pl
import pytest

from data.cleaning import irregular_condition
from data.contract import QUOTES, TRADES, TableSpec
from data.formats import tape, taq
from data.readers import RawBatch
from data.validation import validate_batch
from kappa.errors import InputError

TRADE_HEADER = (
    "Time|Exchange|Symbol|Sale Condition|Trade Volume|Trade Price|Trade Stop Stock Indicator|"
    "Trade Correction Indicator|Sequence Number|Trade Id|Source of Trade|Trade Reporting Facility|"
    "Participant Timestamp|Trade Reporting Facility TRF Timestamp|Trade Through Exempt Indicator"
)
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


def trade(time: str, ex: str, sym: str, cond: str, size: str, price: str, corr: str, seq: str) -> str:
    return f"{time}|{ex}|{sym}|{cond}|{size}|{price}||{corr}|{seq}|5298352502{seq}|C||{time}||0"


def bbo(
    time: str, ex: str, sym: str, bid: str, bsz: str, ask: str, asz: str, cond: str = "R", cancel: str = ""
) -> str:
    return f"{time}|{ex}|{sym}|{bid}|{bsz}|{ask}|{asz}|{cond}|1|0|||{cancel}|C||||||{time}|||"


def nbbo_record(time: str, ex: str, sym: str, bb: str, bbs: str, bo: str, bos: str, cancel: str = "") -> str:
    return (f"{time}|{ex}|{sym}|{bb}|1|{bo}|1|R|1|2|||{cancel}|C|R|{ex}|{bb}|{bbs}||R|{ex}|{bo}|{bos}"
            f"|||||{time}||")  # fmt: skip


def write(folder: Path, name: str, header: str, records: list[str], trailer: str | None = "auto") -> Path:
    """A Daily TAQ file: header, records, the trailer (``auto``: the date in the name and the count of
    non-empty records)."""
    date = name.split("_")[-1].split(".")[0]
    if trailer == "auto":
        trailer = f"END|{date}|{sum(1 for r in records if r)}"
    text = "\n".join([header, *records, *([trailer] if trailer is not None else [])]) + "\n"
    path = folder / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def read(path: Path, spec: TableSpec, batch_rows: int = 1_000) -> list[RawBatch]:
    return list(taq.read_batches(path, spec, batch_rows))


def frame(batches: list[RawBatch]) -> pl.DataFrame:
    return pl.concat([b.frame for b in batches])


# A Monday in November (EST, UTC-5) and one in July (EDT, UTC-4)
TRADES_RECORDS = [
    trade("093000123456789", "N", "BRK B", "@  I", "100", "412.5", "00", "11"),  # a regular odd-lot print
    trade("093000123456789", "P", "BRK B", "@F  ", "300", "412.51", "01", "12"),  # corrected: its data stands
    trade("093001000000000", "P", "BRK B", "@F  ", "300", "412.70", "12", "13"),  # the correction record
    trade("093002000000000", "Q", "BRK B", "@   ", "200", "412.60", "08", "14"),  # later cancelled
    trade("093003000000000", "Q", "BRK B", "@   ", "200", "412.60", "10", "15"),  # the cancel record
    trade("093004000000000", "Q", "BRK B", "@   ", "200", "412.60", "07", "16"),  # later marked erroneous
    trade("093005000000000", "Q", "BRK B", "@   ", "200", "412.60", "11", "17"),  # the error record
    trade("093006000000000", "Q", "BRK B", "@   ", "200", "412.60", "02", "18"),  # symbol correction
    "093007000000000|N|IBM|@|100",  # five fields, not fifteen: malformed
    trade("250000000000000", "N", "IBM", "@   ", "100", "140.00", "00", "20"),  # no such time: malformed
    trade("093008000000000", "N", "IBM", "@   ", "100", "abc", "00", "21"),  # a price that is not: malformed
    trade("093009000000000", "N", "IBM", "@   ", "100", "140.00", "99", "22"),  # no such correction code
    "",  # a blank line: a line, not a record
    trade("160000000000000", "D", "IBM", "@ T ", "50", "140.10", "00", "23"),  # after the close, Form T
    trade("171500000000", "N", "IBM", "@   ", "10", "140.20", "00", "24"),  # 6 decimals (older files)
]


@pytest.mark.parametrize("name", ["EQY_US_ALL_TRADE_20261116", "EQY_US_ALL_TRADE_20261116.gz"])
def test_trades(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, TRADE_HEADER, TRADES_RECORDS)
    assert taq.sniff(path) and taq.tables(path) == ("trades",) and taq.companions(path) == [path]
    batches = read(path, TRADES, batch_rows=1)  # blocks of a few lines
    rows = frame(batches)
    # the tape does not say which side was the aggressor
    assert rows.columns == [*(c for c in TRADES.names if c != "aggressor"), "row_number"]
    assert rows.schema["ts"] == pl.Datetime("ns", "UTC") and rows.schema["price"] == pl.Float64
    assert rows.select(
        "symbol", "price", "size", "exchange", "conditions", "trade_id", "row_number"
    ).rows() == [
        ("BRK.B", 412.5, 100.0, "N", "@  I", "11", 1),
        ("BRK.B", 412.51, 300.0, "P", "@F  ", "12", 2),
        ("IBM", 140.10, 50.0, "D", "@ T ", "23", 14),
        ("IBM", 140.20, 10.0, "N", "@   ", "24", 15),
    ]
    assert rows["ts"].to_list() == [
        dt.datetime(2026, 11, 16, 14, 30, 0, 123456, tzinfo=dt.UTC),  # 09:30 EST = 14:30 UTC (µs shown)
        dt.datetime(2026, 11, 16, 14, 30, 0, 123456, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 16, 21, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 16, 22, 15, tzinfo=dt.UTC),
    ]
    assert rows["ts"].dt.nanosecond()[0] == 123_456_789  # nanoseconds kept
    malformed = pl.concat([b.malformed for b in batches])
    assert malformed["row_number"].to_list() == [9, 10, 11, 12]
    assert malformed["detail"].to_list() == ["not 15 fields", *[tape.UNREADABLE] * 3]
    assert malformed["raw"][0] == "093007000000000|N|IBM|@|100"
    assert malformed["raw"][2] == TRADES_RECORDS[10]
    skipped = sum((pl.Series([b.skipped.get("trade_correction", 0) for b in batches])).to_list())
    assert skipped == 6  # 12, 08, 10, 07, 11, 02
    # every record once: frame + malformed + skipped == the trailer's count
    assert sum(b.rows for b in batches) == 14
    # the raw text of a row, by its number (line N + 1 of the file)
    with gzip.open(path, "rt") if name.endswith(".gz") else path.open() as f:
        lines = f.read().splitlines()
    by_batch = {int(r): b for b in batches for r in b.frame["row_number"]}
    assert by_batch[14].lines is not None and by_batch[14].lines([14]) == [lines[14]]


def test_the_tape_cleaning_reads_the_sale_conditions_as_emitted(tmp_path: Path) -> None:
    rows = frame(read(write(tmp_path, "EQY_US_ALL_TRADE_20261116", TRADE_HEADER, TRADES_RECORDS), TRADES))
    flagged = rows.select(irregular_condition(pl.col("conditions")))["conditions"].to_list()
    assert flagged == [False, False, True, False]  # the Form T print is flagged; @, I and F are not


def test_trades_validate_and_a_summer_day_is_four_hours_behind_utc(tmp_path: Path) -> None:
    records = [trade("093000000000000", "N", "AAPL", "@   ", "100", "190.01", "00", "1")]
    rows = frame(read(write(tmp_path, "EQY_US_ALL_TRADE_20260715", TRADE_HEADER, records), TRADES))
    assert rows["ts"][0] == dt.datetime(2026, 7, 15, 13, 30, tzinfo=dt.UTC)
    checked = validate_batch(rows, TRADES, "XNYS")
    assert checked.rejected.height == 0 and checked.clean["date"][0] == dt.date(2026, 7, 15)


def test_the_trailers_count_is_checked(tmp_path: Path) -> None:
    records = TRADES_RECORDS[:2]
    good = write(tmp_path, "EQY_US_ALL_TRADE_20261116", TRADE_HEADER, records)
    assert sum(b.rows for b in read(good, TRADES)) == 2
    (tmp_path / "x").mkdir()
    short = write(tmp_path / "x", "EQY_US_ALL_TRADE_20261116", TRADE_HEADER, records, "END|20261116|3")
    with pytest.raises(
        InputError, match=r"EQY_US_ALL_TRADE_20261116: the trailer counts 3 records, the file holds 2"
    ):
        read(short, TRADES)
    (tmp_path / "y").mkdir()
    cut = write(tmp_path / "y", "EQY_US_ALL_TRADE_20261116.gz", TRADE_HEADER, records, None)
    with pytest.raises(InputError, match=r"no trailer .* after 2 records: the file is truncated"):
        read(cut, TRADES)
    (tmp_path / "z").mkdir()
    other_day = write(tmp_path / "z", "EQY_US_ALL_TRADE_20261116", TRADE_HEADER, records, "END|20261117|2")
    with pytest.raises(InputError, match=r"trailer's date 20261117 is not the file name's 20261116"):
        read(other_day, TRADES)


def test_an_end_line_that_is_not_last_is_malformed(tmp_path: Path) -> None:
    records = [TRADES_RECORDS[0], "END|20261116|1", TRADES_RECORDS[1]]
    path = write(tmp_path, "EQY_US_ALL_TRADE_20261116", TRADE_HEADER, records, "END|20261116|3")
    batches = read(path, TRADES, batch_rows=1)
    assert pl.concat([b.malformed for b in batches]).rows() == [(2, "END|20261116|1", "not 15 fields")]
    assert sum(b.rows for b in batches) == 3


def test_the_date_comes_from_the_trailer_when_the_name_has_none(tmp_path: Path) -> None:
    path = write(tmp_path, "trades_20261116.gz", TRADE_HEADER, TRADES_RECORDS[:1])
    renamed = path.rename(tmp_path / "trades.txt")  # gzipped, whatever its name says
    assert taq.sniff(renamed) and taq.tables(renamed) == ("trades",)
    rows = frame(read(renamed, TRADES))
    assert rows["ts"][0] == dt.datetime(2026, 11, 16, 14, 30, 0, 123456, tzinfo=dt.UTC)


def test_a_trades_file_holds_no_quotes(tmp_path: Path) -> None:
    path = write(tmp_path, "EQY_US_ALL_TRADE_20261116", TRADE_HEADER, TRADES_RECORDS[:1])
    with pytest.raises(InputError, match="holds no quotes"):
        read(path, QUOTES)
    not_taq = tmp_path / "EQY_US_ALL_TRADE_20261117"
    not_taq.write_text("a|b|c\n1|2|3\n")
    with pytest.raises(InputError, match="not a Daily TAQ file"):
        taq.tables(not_taq)


# Exchange quotes of one day, sizes in round lots; the NBBO worked by hand (shares = lots x 100, BRK A's
# round lot is 1 share in the master file beside the quotes).
BBO_RECORDS = [
    bbo("093000000000000", "N", "BRK A", "650000.00", "2", "650100.00", "1"),
    bbo("093000000000000", "P", "BRK A", "650050.00", "1", "650100.00", "3"),
    bbo("093000000000000", "N", "IBM", "140.00", "2", "140.05", "3"),  # 140.00 x 200 / 140.05 x 300
    bbo("093000100000000", "P", "IBM", "140.01", "1", "140.05", "5"),  # 140.01 x 100 / 140.05 x 800
    bbo("093000100000000", "Q", "IBM", "140.01", "4", "140.06", "1"),  # 140.01 x 500 / 140.05 x 800
    bbo("093000200000000", "Q", "IBM", "140.01", "4", "140.06", "2"),  # unchanged
    bbo("093000300000000", "P", "IBM", "140.02", "1", "140.03", "1", cancel="B"),  # cancelled: no effect
    bbo("093000400000000", "P", "IBM", "0", "0", "140.05", "5"),  # P's bid withdrawn: 140.01 x 400
    bbo("093000500000000", "N", "IBM", "140.00", "2", "140.05", "3", cond="D"),  # N out: 140.05 x 500
    bbo("0930005000000", "Z", "IBM", "140.00", "x", "140.05", "3"),  # a size that is not: malformed
    bbo("093000600000000", "Z", "IBM", "140.10", "1", "140.04", "1", cond="C"),  # not kept, no change
]


def test_exchange_quotes_become_the_nbbo(tmp_path: Path) -> None:
    master = "Symbol|Security_Description|Round_Lot\nBRK A|BERKSHIRE A|1\nIBM|IBM|100\nEND|20261116|2\n"
    (tmp_path / "EQY_US_ALL_REF_MASTER_20261116").write_text(master)
    path = write(tmp_path, "EQY_US_ALL_BBO_20261116.gz", QUOTE_HEADER, BBO_RECORDS)
    assert taq.tables(path) == ("quotes",)
    assert taq.companions(path) == [path, tmp_path / "EQY_US_ALL_REF_MASTER_20261116"]
    expected = [
        ("BRK.A", "N", 650000.0, 2.0, 650100.0, 1.0, 1),
        ("BRK.A", "P", 650050.0, 1.0, 650100.0, 4.0, 2),
        ("IBM", "N", 140.00, 200.0, 140.05, 300.0, 3),
        ("IBM", "P", 140.01, 100.0, 140.05, 800.0, 4),
        ("IBM", "Q", 140.01, 500.0, 140.05, 800.0, 5),
        ("IBM", "P", 140.01, 400.0, 140.05, 800.0, 8),
        ("IBM", "N", 140.01, 400.0, 140.05, 500.0, 9),
    ]
    for batch_rows in (1_000, 1):
        batches = read(path, QUOTES, batch_rows)
        rows = frame(batches)
        cols = ["symbol", "exchange", "bid", "bid_size", "ask", "ask_size", "row_number"]
        assert rows.select(cols).rows() == expected
        assert rows["ts"][2] == dt.datetime(2026, 11, 16, 14, 30, tzinfo=dt.UTC)
        skipped: dict[str, int] = {}
        for b in batches:
            for k, v in b.skipped.items():
                skipped[k] = skipped.get(k, 0) + v
        assert skipped == {"nbbo_unchanged": 1, "cancelled_quote": 1, "quote_condition": 1}
        malformed = pl.concat([b.malformed for b in batches])
        assert malformed.rows() == [(10, BBO_RECORDS[9], tape.UNREADABLE)]
        assert sum(b.rows for b in batches) == len(BBO_RECORDS)
    assert (
        validate_batch(rows.drop("row_number").with_row_index("row_number", 1), QUOTES).rejected.height == 0
    )


def test_quote_sizes_are_round_lots_of_100_without_a_master_file(tmp_path: Path) -> None:
    path = write(tmp_path, "SPLITS_US_ALL_BBO_B_20261116.gz", QUOTE_HEADER, BBO_RECORDS[:2])
    assert taq.sniff(path) and taq.companions(path) == [path]
    rows = frame(read(path, QUOTES))
    assert rows["bid_size"].to_list() == [200.0, 100.0]


def test_quotes_out_of_time_order_are_refused(tmp_path: Path) -> None:
    records = [BBO_RECORDS[3], BBO_RECORDS[2]]
    path = write(tmp_path, "EQY_US_ALL_BBO_20261116", QUOTE_HEADER, records)
    with pytest.raises(InputError, match=r"quotes of IBM go back in time at row 2"):
        read(path, QUOTES)


def test_the_sips_nbbo_file(tmp_path: Path) -> None:
    records = [
        nbbo_record("093000000000000", "N", "IBM", "140.00", "2", "140.05", "3"),
        nbbo_record("093000100000000", "P", "IBM", "140.00", "2", "140.05", "3"),  # the same NBBO
        nbbo_record("093000200000000", "P", "IBM", "140.01", "1", "140.05", "3"),
        nbbo_record("093000300000000", "Q", "IBM", "140.02", "1", "140.03", "1", cancel="B"),  # cancelled
        nbbo_record("093000400000000", "Q", "IBM", "0", "0", "140.05", "3"),  # no bid anywhere
        nbbo_record("093000500000000", "Q", "IBM", "140.06", "1", "140.05", "3"),  # crossed
        nbbo_record("093000600000000", "N", "IBM", "140.01", "1", "140.05", "3"),  # back: a new row
    ]
    path = write(tmp_path, "EQY_US_ALL_NBBO_20261116", NBBO_HEADER, records)
    assert taq.tables(path) == ("quotes",)
    for batch_rows in (1_000, 1):
        batches = read(path, QUOTES, batch_rows)
        rows = frame(batches)
        assert rows.select("exchange", "bid", "bid_size", "ask", "ask_size", "row_number").rows() == [
            ("N", 140.00, 200.0, 140.05, 300.0, 1),
            ("P", 140.01, 100.0, 140.05, 300.0, 3),
            ("N", 140.01, 100.0, 140.05, 300.0, 7),
        ]
        skipped: dict[str, int] = {}
        for b in batches:
            for k, v in b.skipped.items():
                skipped[k] = skipped.get(k, 0) + v
        assert skipped == {"nbbo_unchanged": 1, "cancelled_quote": 1, "one_sided_nbbo": 1, "crossed_nbbo": 1}


def test_an_exchange_quote_out_of_range_is_quarantined_and_never_enters_the_nbbo(tmp_path: Path) -> None:
    """A size no quote holds (1e13 shares) would stand in the NBBO and spoil every row after it, each
    quarantined under another exchange's innocent line: the bad quote is quarantined itself."""
    records = [
        bbo("093000000000000", "Q", "IBM", "140.00", "99999999999", "140.05", "3"),  # 1e13 shares
        bbo("093000000000000", "P", "IBM", "-1.00", "1", "140.05", "3"),  # a negative bid
        bbo("093000100000000", "K", "IBM", "140.01", "1", "140.04", "2"),
    ]
    batches = read(write(tmp_path, "EQY_US_ALL_BBO_20261116", QUOTE_HEADER, records), QUOTES)
    rows = frame(batches).select("exchange", "bid", "bid_size", "ask", "ask_size", "row_number").rows()
    assert rows == [("K", 140.01, 100.0, 140.04, 200.0, 3)]
    assert pl.concat([b.malformed for b in batches]).rows() == [
        (1, records[0], tape.UNREADABLE), (2, records[1], tape.UNREADABLE)
    ]  # fmt: skip


def test_a_record_with_bytes_that_are_not_text_is_quarantined(tmp_path: Path) -> None:
    """Daily TAQ is ASCII: a symbol with a flipped byte or a NUL is a damaged record, never a symbol."""
    records = [
        trade("093000123456789", "N", "IBM", "@   ", "100", "140.00", "00", "1"),
        trade("093000123456789", "N", "A\xff\xfeA", "@   ", "100", "14.00", "00", "2"),
        trade("093000123456789", "N", "AA\x00\x01", "@   ", "100", "14.00", "00", "3"),
    ]
    path = tmp_path / "EQY_US_ALL_TRADE_20261116"
    path.write_bytes(("\n".join([TRADE_HEADER, *records, "END|20261116|3"]) + "\n").encode("latin-1"))
    batches = read(path, TRADES)
    assert frame(batches)["symbol"].to_list() == ["IBM"]
    bad = pl.concat([b.malformed for b in batches])
    assert bad.select("row_number", "detail").rows() == [(2, tape.NOT_TEXT), (3, tape.NOT_TEXT)]
