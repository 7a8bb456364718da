"""LOBSTER pairs read as quotes and trades, on a pair written here in LOBSTER's layout (its Readme).

The twelve messages of ``MESSAGES`` on 2012-06-21 (New York time = UTC-4) and the book after each, worked by
hand:

====  ==================  =========================  ==========================  ===================
line  message             level 1 after it           quotes                      trades
====  ==================  =========================  ==========================  ===================
1     new buy 100@100.00  no ask                     one_sided_book              order_event
2     new sell 200@100.10 100.00 x100 / 100.10 x200  quote                       order_event
3     new buy 50@99.90    the same                   book_unchanged              order_event
4     exec sell 80@100.10 ask size 120               quote                       80@100.10, buy
5     hidden exec 30      the same                   book_unchanged              30@100.05, sell
6     delete bid 100      99.90 x50 / 100.10 x120    quote                       order_event
7     cancel 20 of bid    bid size 30                quote                       order_event
8-9   halt, resume        the same                   book_unchanged              trading_halt
10    closing cross       the same                   book_unchanged              cross
11    exec buy 30@99.90   no bid                     one_sided_book              30@99.90, sell
12    new buy 10@99.95    99.95 x10 / 100.10 x120    quote                       order_event
====  ==================  =========================  ==========================  ===================
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import polars as pl
import pytest

from data.contract import ORDERS, QUOTES, TRADES, TableSpec
from data.formats import lobster
from data.readers import RawBatch
from data.validation import validate_batch
from kappa.errors import InputError

WITHOUT_AGGRESSOR = TableSpec(
    "trades", tuple(c for c in TRADES.columns if c.name != "aggressor"), key=TRADES.key, market=True
)
STEM = "AAPL_2012-06-21_34200000_57600000"
MESSAGES = [
    ("34200.000000001,1,1,100,1000000,1", "9999999999,0,1000000,100"),
    ("34200.5,1,2,200,1001000,-1", "1001000,200,1000000,100"),
    ("34201.25,1,3,50,999000,1", "1001000,200,1000000,100"),
    ("34202,4,2,80,1001000,-1", "1001000,120,1000000,100"),
    ("34202,5,0,30,1000500,1", "1001000,120,1000000,100"),
    ("34203.123456789,3,1,100,1000000,1", "1001000,120,999000,50"),
    ("34204,2,3,20,999000,1", "1001000,120,999000,30"),
    ("34205,7,0,0,-1,-1", "1001000,120,999000,30"),
    ("34206,7,0,0,1,-1", "1001000,120,999000,30"),
    ("34207,6,-2,500,1000000,1", "1001000,120,999000,30"),
    ("34208,4,3,30,999000,1", "1001000,120,-9999999999,0"),
    ("57599.999999999,1,4,10,999500,1", "1001000,120,999500,10"),
]


def _utc(hms: str) -> dt.datetime:
    """A New York time of 2012-06-21 (EDT, UTC-4) as a UTC instant."""
    t = dt.datetime.strptime(f"2012-06-21 {hms[:15]}", "%Y-%m-%d %H:%M:%S.%f")
    return (t + dt.timedelta(hours=4)).replace(tzinfo=dt.UTC)


QUOTE_ROWS = [  # row, ts (New York), bid, ask, bid_size, ask_size
    (2, "09:30:00.500000", 100.00, 100.10, 100.0, 200.0),
    (4, "09:30:02.000000", 100.00, 100.10, 100.0, 120.0),
    (6, "09:30:03.123456", 99.90, 100.10, 50.0, 120.0),
    (7, "09:30:04.000000", 99.90, 100.10, 30.0, 120.0),
    (12, "15:59:59.999999", 99.95, 100.10, 10.0, 120.0),
]
TRADE_ROWS = [  # row, ts (New York), price, size, aggressor
    (4, "09:30:02.000000", 100.10, 80.0, "buy"),
    (5, "09:30:02.000000", 100.05, 30.0, "sell"),
    (11, "09:30:08.000000", 99.90, 30.0, "sell"),
]
QUOTE_SKIPS = {"one_sided_book": 2, "book_unchanged": 5}
TRADE_SKIPS = {"order_event": 6, "trading_halt": 2, "cross": 1}


def write_pair(
    folder: Path, lines: list[tuple[str, str]] = MESSAGES, stem: str = STEM, level: int = 1, end: str = "\n"
) -> tuple[Path, Path]:
    message = folder / f"{stem}_message_{level}.csv"
    book = folder / f"{stem}_orderbook_{level}.csv"
    message.write_bytes("".join(m + end for m, _ in lines).encode())
    book.write_bytes("".join(b + end for _, b in lines).encode())
    return message, book


def write_zip(folder: Path, lines: list[tuple[str, str]] = MESSAGES) -> Path:
    message, book = write_pair(_mkdir(folder / "src"), lines)
    archive = folder / "LOBSTER_SampleFile_AAPL_2012-06-21_1.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.write(book, book.name)
        z.write(message, message.name)
        z.writestr("LOBSTER_SampleFiles_ReadMe.txt", "LOBSTER | academic data.\n")
    return archive


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def read(
    path: Path, spec: TableSpec, batch_rows: int = 1000
) -> tuple[pl.DataFrame, dict[str, int], list[RawBatch]]:
    batches = list(lobster.read_batches(path, spec, batch_rows))
    frame = pl.concat([b.frame for b in batches])
    skipped: dict[str, int] = {}
    for b in batches:
        for k, v in b.skipped.items():
            skipped[k] = skipped.get(k, 0) + v
    return frame, skipped, batches


def test_quotes_are_level_one_after_each_message_that_changes_it(tmp_path: Path) -> None:
    message, _ = write_pair(tmp_path)
    frame, skipped, batches = read(message, QUOTES)
    assert frame.columns == [*QUOTES.names, "row_number"]
    assert frame.schema["ts"] == pl.Datetime("ns", "UTC")
    expected = [(r, "AAPL", _utc(t), b, a, bs, az, "Q") for r, t, b, a, bs, az in QUOTE_ROWS]
    got = frame.select("row_number", "symbol", pl.col("ts").dt.truncate("1us"), *QUOTES.names[2:]).rows()
    assert got == expected
    assert skipped == QUOTE_SKIPS
    assert sum(b.rows for b in batches) == len(MESSAGES)


def test_nanoseconds_and_new_york_time(tmp_path: Path) -> None:
    message, _ = write_pair(tmp_path)
    ts = read(message, QUOTES)[0].filter(pl.col("row_number") == 6)["ts"].item()
    assert ts == dt.datetime(2012, 6, 21, 13, 30, 3, 123456, tzinfo=dt.UTC)  # 09:30:03 EDT
    ns = read(message, QUOTES)[0].select(pl.col("ts").dt.epoch("ns"))["ts"].to_list()
    assert ns[2] == 1340285403_123456789  # 2012-06-21T13:30:03.123456789Z, to the nanosecond
    assert ns[4] == 1340308799_999999999
    winter, _ = write_pair(_mkdir(tmp_path / "w"), stem="AAPL_2012-01-03_34200000_57600000")
    first = read(winter, QUOTES)[0]["ts"][0]
    assert first == dt.datetime(2012, 1, 3, 14, 30, 0, 500000, tzinfo=dt.UTC)  # EST, UTC-5


def test_a_day_of_a_daylight_saving_switch_follows_the_zone_rules(tmp_path: Path) -> None:
    lines = [
        (f"{t},1,1,100,1000000,1", f"1001000,{100 + i},1000000,100")
        for i, t in enumerate((3600, 9000, 10800))
    ]
    message, _ = write_pair(tmp_path, lines, stem="AAPL_2012-03-11_0_86400000")
    ts = read(message, QUOTES)[0]["ts"].to_list()
    assert ts == [  # 01:00 EST; 02:30 does not exist that night (null: quarantined); 03:00 EDT
        dt.datetime(2012, 3, 11, 6, tzinfo=dt.UTC),
        None,
        dt.datetime(2012, 3, 11, 7, tzinfo=dt.UTC),
    ]


def test_trades_are_executions_with_the_aggressor_opposite_the_resting_order(tmp_path: Path) -> None:
    message, _ = write_pair(tmp_path)
    frame, skipped, _ = read(message, TRADES)
    expected = [
        (r, "AAPL", _utc(t), p, s, "Q", None, f"20120621:34200000:{r}", side)
        for r, t, p, s, side in TRADE_ROWS
    ]
    got = frame.select("row_number", "symbol", pl.col("ts").dt.truncate("1us"), *TRADES.names[2:]).rows()
    assert got == expected
    assert skipped == TRADE_SKIPS
    plain = read(message, WITHOUT_AGGRESSOR)[0]
    assert plain.columns == [
        *WITHOUT_AGGRESSOR.names,
        "row_number",
    ]  # no aggressor unless the contract has it


@pytest.mark.parametrize("batch_rows", [1, 2, 5])
def test_batches_carry_the_book(tmp_path: Path, batch_rows: int) -> None:
    message, _ = write_pair(tmp_path)
    for spec in (QUOTES, TRADES):
        whole, skipped_whole, _ = read(message, spec)
        split, skipped_split, batches = read(message, spec, batch_rows)
        assert split.equals(whole)
        assert skipped_split == skipped_whole
        assert len(batches) == -(-len(MESSAGES) // batch_rows)


def test_a_zip_holding_the_pair_reads_as_the_pair(tmp_path: Path) -> None:
    archive = write_zip(tmp_path)
    message = tmp_path / "src" / f"{STEM}_message_1.csv"
    assert lobster.sniff(archive)
    assert lobster.companions(archive) == [archive]
    assert lobster.tables(archive) == ("quotes", "trades")
    for spec in (QUOTES, TRADES):
        assert read(archive, spec, 5)[0].equals(read(message, spec)[0])
        assert read(archive, spec)[1] == read(message, spec)[1]


def test_either_file_of_a_pair_names_the_pair(tmp_path: Path) -> None:
    message, book = write_pair(tmp_path)
    assert lobster.sniff(message) and lobster.sniff(book)
    assert lobster.companions(message) == lobster.companions(book) == [message, book]
    assert lobster.pair_key(message) == lobster.pair_key(book) == str(message.resolve())
    assert read(book, QUOTES)[0].equals(read(message, QUOTES)[0])


def test_sniff_refuses_other_files(tmp_path: Path) -> None:
    other = tmp_path / "quotes.csv"
    other.write_text("symbol,ts,bid,ask\n")
    named = tmp_path / f"{STEM}_message_1.csv"
    named.write_text("symbol,ts,bid,ask\n")  # a LOBSTER name, not LOBSTER's content
    plain_zip = tmp_path / "data.zip"
    with zipfile.ZipFile(plain_zip, "w") as z:
        z.writestr("quotes.csv", "symbol\n")
    not_zip = tmp_path / "broken.zip"
    not_zip.write_bytes(b"not a zip")
    assert not any(lobster.sniff(p) for p in (other, named, plain_zip, not_zip))


def test_line_counts_that_differ_are_refused(tmp_path: Path) -> None:
    message, book = write_pair(tmp_path)
    book.write_text("".join(b + "\n" for _, b in MESSAGES[:-1]))
    with pytest.raises(InputError, match="12 lines and the orderbook file 11"):
        read(message, QUOTES, 5)
    book.write_text("".join(b + "\n" for _, b in [*MESSAGES, MESSAGES[-1]]))
    with pytest.raises(InputError, match="12 lines and the orderbook file 13"):
        read(message, TRADES)


def test_missing_companion_and_other_tables_are_refused(tmp_path: Path) -> None:
    message, book = write_pair(tmp_path)
    with pytest.raises(InputError, match="holds quotes and trades, not orders"):
        read(message, ORDERS)
    with pytest.raises(InputError, match="no such file"):
        read(tmp_path / "elsewhere" / message.name, QUOTES)
    book.unlink()
    with pytest.raises(InputError, match=r"orderbook file .* is not beside it"):
        read(message, QUOTES)
    two = _mkdir(tmp_path / "two")
    write_pair(two)
    write_pair(two, stem="MSFT_2012-06-21_34200000_57600000")
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in two.iterdir():
            z.write(f, f.name)
    with pytest.raises(InputError, match="holds 2 message files"):
        read(archive, QUOTES)


def test_malformed_lines_are_quarantined_and_the_rest_read(tmp_path: Path) -> None:
    bad = list(MESSAGES)
    bad[2] = ("34201.25,1,3,50,999000", bad[2][1])  # five fields
    bad[4] = ("34202,9,0,30,1000500,1", bad[4][1])  # no type 9
    bad[7] = ("34205,7,0,0,-1,0", bad[7][1])  # direction 0
    bad[8] = ("", "")  # a blank line in both files
    bad[9] = (bad[9][0], "1001000,120,999000")  # an orderbook line of three fields
    bad[11] = ("57599.999999999,1,4,ten,999500,1", bad[11][1])
    message, _ = write_pair(tmp_path, bad)
    malformed_rows = [3, 5, 8, 9, 10, 12]
    for spec in (QUOTES, TRADES):
        batches = list(lobster.read_batches(message, spec, 5))
        malformed = pl.concat([b.malformed for b in batches])
        assert malformed["row_number"].to_list() == malformed_rows
        assert malformed["raw"][0] == "34201.25,1,3,50,999000 | 1001000,200,1000000,100"
        assert malformed["raw"][4] == "34207,6,-2,500,1000000,1 | 1001000,120,999000"
        assert sum(b.rows for b in batches) == len(MESSAGES)
    quotes, skipped, _ = read(message, QUOTES)
    assert quotes["row_number"].to_list() == [2, 4, 6, 7]
    assert skipped == {"one_sided_book": 2}
    trades, skipped, _ = read(message, TRADES)
    assert trades["row_number"].to_list() == [4, 11]
    assert skipped == {"order_event": 4}


def test_lines_gives_the_record_text(tmp_path: Path) -> None:
    message, _ = write_pair(tmp_path, end="\r\n")
    batch = next(iter(lobster.read_batches(message, TRADES, 100)))
    assert batch.lines is not None
    assert batch.lines(batch.frame["row_number"].to_numpy()) == [
        f"{MESSAGES[r - 1][0]} | {MESSAGES[r - 1][1]}" for r, *_ in TRADE_ROWS
    ]
    assert batch.frame["row_number"].to_list() == [4, 5, 11]  # CRLF line ends read as LF


def test_deeper_levels_are_ignored(tmp_path: Path) -> None:
    deeper = [(m, f"{b},1002000,300,998000,40") for m, b in MESSAGES]
    message, _ = write_pair(tmp_path, deeper, level=2)
    one, _ = write_pair(_mkdir(tmp_path / "one"))
    for spec in (QUOTES, TRADES):
        assert read(message, spec)[0].equals(read(one, spec)[0])
    short = [(m, f"{b},1002000,300") for m, b in MESSAGES]  # a level-2 line of six fields
    message, _ = write_pair(_mkdir(tmp_path / "short"), short, level=2)
    assert read(message, QUOTES)[2][0].malformed.height == len(MESSAGES)


def test_the_rows_pass_validation(tmp_path: Path) -> None:
    message, _ = write_pair(tmp_path)
    for spec in (QUOTES, TRADES):
        frame = read(message, spec)[0]
        result = validate_batch(frame, spec, "XNYS")
        assert result.rejected.height == 0
        assert result.clean.height == frame.height
        assert result.clean["date"].unique().to_list() == [dt.date(2012, 6, 21)]
