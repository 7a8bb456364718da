"""FIX logs (data.formats.fix): a desk's session written by the test with simplefix, read into orders and
fills whose values are worked out by hand from the messages; every line accounted for once, both delimiters,
gzip, FIX 4.2 and 4.0 execution reports, broken messages quarantined with their line."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import simplefix
from polars.testing import assert_frame_equal

from data.contract import FILLS, ORDERS, QUOTES, TableSpec
from data.formats import fix
from data.readers import RawBatch
from data.validation import validate_batch
from kappa.errors import InputError

SOH = b"\x01"
DAY = "20261116"  # a plain Monday session of XNYS: 14:30-21:00 UTC


def t(hms: str) -> str:
    return f"{DAY}-{hms}"


def message(
    msg_type: str, *fields: tuple[int, object], begin: str = "FIX.4.4", incoming: bool = False
) -> bytes:
    """A message encoded by simplefix: the desk (DESK) sends orders to its broker (BRKR), who reports."""
    m = simplefix.FixMessage()
    m.append_pair(8, begin)
    m.append_pair(35, msg_type)
    m.append_pair(49, "BRKR" if incoming else "DESK")
    m.append_pair(56, "DESK" if incoming else "BRKR")
    m.append_pair(34, 1)
    m.append_pair(52, t("14:30:00.000"))
    for tag, value in fields:
        m.append_pair(tag, value)
    return bytes(m.encode())


def report(*fields: tuple[int, object], begin: str = "FIX.4.4") -> bytes:
    return message("8", *fields, begin=begin, incoming=True)


def bad_checksum(line: bytes) -> bytes:
    head, _, _ = line.rstrip(SOH).rpartition(SOH + b"10=")
    good = int(line.rstrip(SOH).rpartition(b"10=")[2])
    return head + SOH + b"10=" + f"{(good + 1) % 256:03d}".encode() + SOH


O1 = [(55, "AAPL"), (54, 1)]
O2 = [(55, "BRK"), (65, "B"), (54, 5)]
LOG: list[tuple[str, bytes]] = [
    ("engine", b"engine started, sessions: DESK->BRKR"),
    ("logon_out", message("A", (98, 0), (108, 30))),
    ("logon_in", message("A", (98, 0), (108, 30), incoming=True)),
    ("o1", message("D", (11, "O1"), *O1, (38, 1000), (40, 2), (44, "190.00"), (59, 0),
                   (60, t("14:35:00.000")), (847, 1), (453, 1), (448, "TRADER1"), (447, "D"), (452, 11))),
    ("o1_new", report((37, "B1"), (11, "O1"), (17, "E1"), (150, 0), (39, 0), *O1, (38, 1000), (40, 2),
                      (44, "190.00"), (60, t("14:35:00.010")))),
    ("e2", report((37, "B1"), (11, "O1"), (17, "E2"), (150, "F"), (39, 1), *O1, (38, 1000), (32, 300),
                  (31, "189.95"), (30, "XNAS"), (12, "0.002"), (13, 1), (851, 2), (60, t("14:36:00.000")))),
    ("o1_replace", message("G", (11, "O1R"), (41, "O1"), *O1, (38, 1500), (40, 2), (44, "190.10"),
                           (60, t("14:37:00.000")))),
    ("o1_pending", report((37, "B1"), (11, "O1R"), (41, "O1"), (17, "E1P"), (150, "E"), (39, "E"), *O1,
                          (38, 1000), (60, t("14:37:00.010")))),
    ("o1_replaced", report((37, "B1"), (11, "O1R"), (41, "O1"), (17, "E1R"), (150, 5), (39, 1), *O1,
                           (38, 1500), (40, 2), (44, "190.10"), (60, t("14:37:00.020")))),
    ("e3", report((37, "B1"), (11, "O1R"), (41, "O1"), (17, "E3"), (150, "F"), (39, 1), *O1, (38, 1500),
                  (32, 500), (31, "190.05"), (30, "ARCX"), (12, "0.05"), (13, 2), (851, 1),
                  (60, t("14:40:00.000000")))),
    ("heartbeat", message("0", incoming=True)),
    ("blank", b""),
    ("e4", report((37, "B1"), (11, "O1R"), (41, "O1"), (17, "E4"), (150, "F"), (39, 2), *O1, (38, 1500),
                  (32, 700), (31, "190.00"), (12, "5.00"), (13, 3), (60, t("14:50:00.123456789")))),
    ("e5_correct", report((37, "B1"), (11, "O1R"), (17, "E5"), (19, "E3"), (150, "G"), (39, 2), *O1,
                          (38, 1500), (32, 500), (31, "190.02"), (60, t("15:30:00.000")))),
    ("e10_correct", report((37, "B1"), (11, "O1R"), (17, "E10"), (19, "E5"), (150, "G"), (39, 2), *O1,
                           (38, 1500), (32, 500), (31, "190.03"), (60, t("15:35:00.000")))),
    ("e6_cancel", report((37, "B1"), (11, "O1R"), (17, "E6"), (19, "E2"), (150, "H"), (39, 1), *O1,
                         (38, 1500), (32, 300), (31, "189.95"), (60, t("15:31:00.000")))),
    ("o2", b"20261116-14:45:00.000 : " + message("D", (11, "O2"), *O2, (38, 200), (40, 1), (59, 0),
                                                  (60, t("14:45:00.000")), (50, "TRADER2"))),
    ("o2_new", b"20261116-14:45:00.020 : " + report((37, "B2"), (11, "O2"), (17, "E20"), (150, 0), (39, 0),
                                                    *O2, (38, 200), (60, t("14:45:00.020")))),
    ("o2_replace", message("G", (11, "O2R"), (41, "O2"), *O2, (38, 300), (40, 1), (60, t("14:46:00.000")))),
    ("o2_replace_rejected", message("9", (11, "O2R"), (41, "O2"), (37, "B2"), (39, 0), (434, 2), (102, 0),
                                    incoming=True)),
    ("e7", report((37, "B2"), (11, "O2"), (17, "E7"), (150, "F"), (39, 1), *O2, (38, 200), (32, 100),
                  (31, "500.25"), (30, "XNYS"), (60, t("14:47:00.000")))),
    ("e9_bad_checksum", bad_checksum(report((37, "B2"), (11, "O2"), (17, "E9"), (150, "F"), (39, 1), *O2,
                                            (38, 200), (32, 50), (31, "500.30"), (60, t("14:48:00.000"))))),
    ("e8_o3", report((37, "B3"), (11, "O3"), (17, "E8"), (150, "F"), (39, 2), (55, "MSFT"), (54, 2),
                     (38, 400), (40, 2), (44, "410.5"), (32, 400), (31, "410.50"), (30, "BATS"), (12, "1.5"),
                     (13, 3), (479, "EUR"), (60, t("14:55:00.000")))),
    ("o4", message("D", (11, "O4"), (55, "TSLA"), (54, 1), (38, 100), (40, 1), (60, t("14:56:00.000")))),
    ("o4_rejected", report((37, "NONE"), (11, "O4"), (17, "E40"), (150, 8), (39, 8), (55, "TSLA"), (54, 1),
                           (38, 100), (58, "unknown account"), (60, t("14:56:00.001")))),
    ("logout", message("5")),
]  # fmt: skip
ROWS = {label: i + 1 for i, (label, _) in enumerate(LOG)}
NS = "ns"


def write(path: Path, delimiter: bytes = SOH) -> Path:
    text = b"\n".join(line.replace(SOH, delimiter) for _, line in LOG) + b"\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(text)
    else:
        path.write_bytes(text)
    return path


def read(path: Path, spec: TableSpec, batch_rows: int = 1000, **kw: str) -> list[RawBatch]:
    return list(fix.read_batches(path, spec, batch_rows, **kw))


def frame(batches: list[RawBatch]) -> pl.DataFrame:
    return pl.concat([b.frame for b in batches])


def utc(hms: str) -> int:
    """An instant of the session day in ns since the epoch (a Python datetime stops at microseconds)."""
    return int(np.datetime64(f"2026-11-16T{hms}", "ns").astype(np.int64))


def expect(rows: list[tuple[object, ...]], like: pl.DataFrame, *instants: str) -> pl.DataFrame:
    """``rows`` in the schema of ``like``, its ``instants`` columns given by :func:`utc`."""
    schema = {c: pl.Int64 if c in instants else t for c, t in like.schema.items()}
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(
        pl.col(c).cast(pl.Datetime(NS)).dt.replace_time_zone("UTC") for c in instants
    )


def ns(column: pl.Series) -> list[int | None]:
    return column.dt.epoch("ns").to_list()


def accounted(batches: list[RawBatch]) -> tuple[set[int], set[int], dict[str, int]]:
    rows = [int(r) for b in batches for r in b.frame["row_number"]]
    bad = [int(r) for b in batches for r in b.malformed["row_number"]]
    skipped: dict[str, int] = {}
    for b in batches:
        for k, v in b.skipped.items():
            skipped[k] = skipped.get(k, 0) + v
    assert len(rows) == len(set(rows)) and len(bad) == len(set(bad)) and not set(rows) & set(bad)
    assert len(rows) + len(bad) + sum(skipped.values()) == len(LOG) == sum(b.rows for b in batches)
    return set(rows), set(bad), skipped


@pytest.fixture(params=["soh", "pipe"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return write(tmp_path / "desk.log", SOH if request.param == "soh" else b"|")


def test_fills_of_the_log_as_worked_by_hand(log: Path) -> None:
    """Fills, a correction of a correction (ts, venue, liquidity and commission of the first fill), a bust,
    each CommType, a commission in EUR, a fill of an order only the drop copy knows."""
    batches = read(log, FILLS)
    got = frame(batches).sort("row_number")
    assert got.schema["ts"] == pl.Datetime(NS, "UTC") and got.schema["price"] == pl.Float64
    expected = expect(
        [
            ("E2", "O1", utc("14:36:00"), 189.95, 300.0, "XNAS", 300 * 0.002, "remove", "trade", ROWS["e2"]),
            ("E3", "O1", utc("14:40:00"), 190.05, 500.0, "ARCX", 0.05 / 100 * 500 * 190.05, "add", "trade",
             ROWS["e3"]),
            ("E4", "O1", utc("14:50:00.123456789"), 190.00, 700.0, None, 5.0, None, "trade", ROWS["e4"]),
            ("E3", "O1", utc("14:40:00"), 190.02, 500.0, "ARCX", 0.05 / 100 * 500 * 190.02, "add", "correct",
             ROWS["e5_correct"]),
            ("E3", "O1", utc("14:40:00"), 190.03, 500.0, "ARCX", 0.05 / 100 * 500 * 190.03, "add", "correct",
             ROWS["e10_correct"]),
            ("E2", "O1", utc("15:31:00"), 189.95, 300.0, None, None, None, "cancel", ROWS["e6_cancel"]),
            ("E7", "O2", utc("14:47:00"), 500.25, 100.0, "XNYS", None, None, "trade", ROWS["e7"]),
            ("E8", "O3", utc("14:55:00"), 410.50, 400.0, "BATS", None, None, "trade", ROWS["e8_o3"]),
        ],
        got,
        "ts",
    )  # fmt: skip
    assert_frame_equal(got, expected)  # fees to a relative 1e-5
    _, bad, skipped = accounted(batches)
    assert bad == {ROWS["e9_bad_checksum"]}
    assert pl.concat(b.malformed for b in batches)["detail"].str.starts_with("CheckSum(10) ").all()
    assert skipped == {
        "not_fix": 2,  # the engine's line, the blank line
        "session_message": 4,  # two logons, a heartbeat, the logout
        "order_message": 6,  # three NewOrderSingles, two replace requests, a cancel reject
        "not_a_fill": 5,  # two new, a pending replace, a replaced, a rejected
    }
    clean = validate_batch(frame(batches), FILLS, "XNYS")
    assert clean.rejected.height == 0 and clean.clean.height == 8


def test_orders_of_the_log_as_worked_by_hand(log: Path) -> None:
    """One row per order at its first line: the replace the broker accepted sets the quantity and limit, the
    rejected one does not; the end is the terminal report's time; a rejected order is skipped; an order
    first seen in a report takes its time and its sender as broker."""
    batches = read(log, ORDERS)
    got = frame(batches).sort("row_number")
    assert got.schema["arrival_ts"] == pl.Datetime(NS, "UTC")
    expected = expect(
        [
            ("O1", "AAPL", "buy", 1500.0, utc("14:35:00"), utc("14:50:00.123456789"), 190.10, "BRKR", "VWAP",
             "TRADER1", ROWS["o1"]),
            ("O2", "BRK.B", "sell", 200.0, utc("14:45:00"), None, None, "BRKR", None, "TRADER2", ROWS["o2"]),
            ("O3", "MSFT", "sell", 400.0, utc("14:55:00"), utc("14:55:00"), 410.5, "BRKR", None, None,
             ROWS["e8_o3"]),
        ],
        got,
        "arrival_ts",
        "end_ts",
    )  # fmt: skip
    assert_frame_equal(got, expected)
    _, bad, skipped = accounted(batches)
    assert bad == {ROWS["e9_bad_checksum"]}
    assert skipped == {
        "not_fix": 2,
        "session_message": 4,
        "order_update": 15,
        "rejected_order": 1,
    }
    checked = validate_batch(frame(batches), ORDERS, "XNYS")
    assert checked.clean["order_id"].to_list() == ["O1", "O3"]
    assert checked.rejected.select("row_number", "rule", "detail").rows() == [
        (ROWS["o2"], "missing_value", "end_ts")
    ]


def test_a_day_order_the_log_leaves_open_ends_at_the_close_with_a_calendar(log: Path) -> None:
    got = frame(read(log, ORDERS, calendar="XNYS")).sort("row_number")
    assert ns(got["end_ts"]) == [utc("14:50:00.123456789"), utc("21:00:00"), utc("14:55:00")]
    assert validate_batch(got, ORDERS, "XNYS").rejected.height == 0


@pytest.mark.parametrize("spec", [ORDERS, FILLS])
def test_small_batches_give_the_same_rows_and_lines_give_the_text(log: Path, spec: TableSpec) -> None:
    whole = frame(read(log, spec)).sort("row_number")
    batches = read(log, spec, batch_rows=3)
    assert frame(batches).sort("row_number").equals(whole)
    accounted(batches)
    text = log.read_bytes().split(b"\n")
    for b in batches:
        if b.frame.height:
            assert b.lines is not None
            numbers = b.frame["row_number"].to_numpy()
            assert b.lines(numbers) == [text[n - 1].decode() for n in numbers]
        for n, raw, _ in b.malformed.iter_rows():
            assert raw == text[n - 1].decode()


def test_gzip_and_names(tmp_path: Path) -> None:
    plain = write(tmp_path / "desk.fix")
    packed = write(tmp_path / "desk.log.gz", b"|")
    for p in (plain, packed, write(tmp_path / "x.txt")):
        assert fix.sniff(p)
    csv = tmp_path / "fills.csv"
    csv.write_text("fill_id,order_id,ts,price,quantity\nF1,O1,2026-11-16T14:30:00Z,10,100\n")
    assert not fix.sniff(csv) and not fix.sniff(tmp_path / "missing.log")
    assert fix.tables(plain) == ("orders", "fills") and fix.companions(plain) == [plain]
    for spec in (ORDERS, FILLS):
        assert frame(read(packed, spec)).equals(frame(read(plain, spec)))


def test_split_gives_simplefix_fields_and_data_fields_go_to_simplefix() -> None:
    """The split read gives the fields simplefix.FixParser gives, for every message of the log; a message
    with a RawData field holding SOH and '=' is read by simplefix."""
    for _, line in LOG:
        msg = fix.parse_line(line)
        if not isinstance(msg, fix.Message):
            continue
        parser = simplefix.FixParser()
        parser.append_buffer(line[line.index(b"8=FIX") :])
        assert msg.pairs == [(bytes(a), bytes(b)) for a, b in parser.get_message().pairs]
    data = message("A", (98, 0), (108, 30), (95, 7), (96, "a\x01b=c|d"))
    parsed = fix.parse_line(data)
    assert isinstance(parsed, fix.Message) and parsed.flaw() is None
    assert parsed.fields[b"96"] == b"a\x01b=c|d" and parsed.fields[b"108"] == b"30"


def test_integrity_body_length_checksum_and_the_written_form() -> None:
    good = report((11, "X"), (17, "E"), (150, "F"))
    assert isinstance(m := fix.parse_line(good), fix.Message) and m.flaw() is None
    assert isinstance(m := fix.parse_line(bad_checksum(good)), fix.Message)
    assert m.flaw() is not None and "CheckSum" in m.flaw()  # type: ignore[operator]
    longer = good.replace(b"\x019=", b"\x019=1", 1)
    assert isinstance(m := fix.parse_line(longer), fix.Message) and "BodyLength" in (m.flaw() or "")
    # a logger that printed '|' and computed the checksum over what it printed
    piped = good.replace(SOH, b"|")
    head = piped[: piped.rindex(b"10=")]
    recomputed = head + f"10={sum(head) % 256:03d}|".encode()
    assert isinstance(m := fix.parse_line(recomputed), fix.Message) and m.flaw() is None
    assert fix.parse_line(b"no message here") is None
    assert fix.parse_line(b"8=FIX.4.4|9=5|35=0|") == "no CheckSum(10) field"
    assert fix.parse_line(b"8=FIX.4.4|9=5|x35=0|10=000|") == "not tag=value fields"


def test_fix42_and_fix40_execution_reports(tmp_path: Path) -> None:
    """ExecTransType 0 New with ExecType 1/2 is a fill; 1 Cancel and 2 Correct name the fill in ExecRefID;
    3 Status is not a fill; FIX 4.0 without ExecType: a New report with LastShares is a fill."""
    v42 = "FIX.4.2"
    lines = [
        message("D", (11, "A"), (55, "IBM"), (54, 2), (38, 500), (40, 1), (60, t("15:00:00")), begin=v42),
        report((37, "1"), (11, "A"), (17, "X1"), (20, 0), (150, 0), (39, 0), (55, "IBM"), (54, 2), (38, 500),
               (32, 0), (31, 0), (60, t("15:00:01")), begin=v42),
        report((37, "1"), (11, "A"), (17, "X2"), (20, 0), (150, 1), (39, 1), (55, "IBM"), (54, 2), (38, 500),
               (32, 200), (31, "150.10"), (60, t("15:01:00")), begin=v42),
        report((37, "1"), (11, "A"), (17, "X3"), (20, 0), (150, 2), (39, 2), (55, "IBM"), (54, 2), (38, 500),
               (32, 300), (31, "150.00"), (60, t("15:02:00")), begin=v42),
        report((37, "1"), (11, "A"), (17, "X4"), (20, 2), (19, "X2"), (150, 1), (39, 2), (55, "IBM"), (54, 2),
               (38, 500), (32, 200), (31, "150.20"), (60, t("15:10:00")), begin=v42),
        report((37, "1"), (11, "A"), (17, "X5"), (20, 1), (19, "X3"), (150, 2), (39, 1), (55, "IBM"), (54, 2),
               (38, 500), (32, 300), (31, "150.00"), (60, t("15:11:00")), begin=v42),
        report((37, "1"), (11, "A"), (17, "X6"), (20, 3), (150, 2), (39, 2), (55, "IBM"), (54, 2), (38, 500),
               (32, 0), (31, 0), (60, t("15:12:00")), begin=v42),
        report((37, "2"), (11, "B"), (17, "Y1"), (20, 0), (39, 0), (55, "GE"), (54, 1), (38, 50), (32, 0),
               (31, 0), (60, t("15:20:00")), begin="FIX.4.0"),
        report((37, "2"), (11, "B"), (17, "Y2"), (20, 0), (39, 2), (55, "GE"), (54, 1), (38, 50), (32, 50),
               (31, "11.5"), (60, t("15:21:00")), begin="FIX.4.0"),
    ]  # fmt: skip
    path = tmp_path / "fix42.log"
    path.write_bytes(b"\n".join(lines))
    fills = frame(read(path, FILLS)).sort("row_number")
    assert fills.select("fill_id", "order_id", "price", "quantity", "exec_type").rows() == [
        ("X2", "A", 150.10, 200.0, "trade"),
        ("X3", "A", 150.00, 300.0, "trade"),
        ("X2", "A", 150.20, 200.0, "correct"),
        ("X3", "A", 150.00, 300.0, "cancel"),
        ("Y2", "B", 11.5, 50.0, "trade"),
    ]
    assert ns(fills["ts"])[2] == utc("15:01:00")  # the corrected fill's time
    orders = frame(read(path, ORDERS)).sort("row_number")
    assert orders.select(
        "order_id", "side", "quantity", *(pl.col(c).dt.epoch("ns") for c in ("arrival_ts", "end_ts"))
    ).rows() == [
        ("A", "sell", 500.0, utc("15:00:00"), utc("15:02:00")),
        ("B", "buy", 50.0, utc("15:20:00"), utc("15:21:00")),
    ]


def test_values_that_do_not_parse_and_missing_tags_are_malformed(tmp_path: Path) -> None:
    lines = [
        message("D", (11, "A"), (55, "IBM"), (54, 7), (38, 500), (40, 1), (60, t("15:00:00")),
                (126, t("20:00:00"))),
        message("D", (11, "B"), (55, "IBM"), (54, 1), (38, "lots"), (40, 1), (60, t("15:00:00"))),
        message("D", (11, "C"), (54, 1), (38, 5), (40, 1), (60, t("15:00:00"))),
        report((37, "1"), (11, "A"), (17, "X1"), (150, "F"), (39, 1), (32, 100), (31, "1.5"),
               (60, "20261116-25:00:00")),
        report((37, "1"), (11, "A"), (17, "X2"), (150, "F"), (39, 1), (32, 100), (31, "n/a"),
               (60, t("15:01:00"))),
        report((37, "1"), (11, "A"), (150, "F"), (39, 1), (32, 100), (31, "1.5"), (60, t("15:01:00"))),
        report((37, "1"), (11, "A"), (17, "X4"), (150, "H"), (39, 1), (60, t("15:01:00"))),
        report((37, "1"), (11, "A"), (17, "X5"), (150, "F"), (39, 1), (32, 10), (31, "1.5"),
               (60, t("15:02:00"))),
    ]  # fmt: skip
    path = tmp_path / "odd.log"
    path.write_bytes(b"\n".join(lines))
    fills = read(path, FILLS, batch_rows=4)
    assert frame(fills)["fill_id"].to_list() == ["X5"]
    assert pl.concat(b.malformed for b in fills).select("row_number", "detail").rows() == [
        (4, "TransactTime(60) does not parse"),
        (5, "LastPx(31) does not parse"),
        (6, "no ExecID(17)"),
        (7, "no ExecRefID(19)"),
    ]
    orders = read(path, ORDERS)
    got = frame(orders)
    assert got.select("order_id", "side").rows() == [("A", "7")]
    assert pl.concat(b.malformed for b in orders).select("row_number", "detail").rows() == [
        (2, "OrderQty(38) does not parse"),
        (3, "no Symbol(55)"),
    ]
    rejected = validate_batch(got, ORDERS, "XNYS").rejected
    assert rejected.select("rule", "detail").row(0) == ("unknown_side", "side")


def test_files_that_cannot_be_read_are_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open"):
        read(tmp_path / "missing.log", FILLS)
    notes = tmp_path / "notes.log"
    notes.write_text("nothing\nof FIX\n")
    with pytest.raises(InputError, match="no FIX message"):
        read(notes, ORDERS)
    with pytest.raises(InputError, match="orders and fills, not quotes"):
        read(notes, QUOTES)
    broken = tmp_path / "broken.log.gz"
    broken.write_bytes(gzip.compress(b"\n".join(line for _, line in LOG))[:-30])
    with pytest.raises(InputError, match="cannot read after line"):
        read(broken, FILLS)


def test_the_benchmark_log_reads_whole(tmp_path: Path) -> None:
    """The benchmark's writer (benchmarks/vendor/fix.py) writes intact messages: none is malformed, each
    line is accounted for, each order's fills stay within its accepted quantity."""
    from benchmarks.vendor.fix import write as write_log

    (path,) = write_log(tmp_path, 3_000, seed=1)
    fills = read(path, FILLS, batch_rows=1_000)
    orders = read(path, ORDERS, batch_rows=1_000)
    for batches in (fills, orders):
        assert sum(b.rows for b in batches) == 3_000
        assert not any(b.malformed.height for b in batches)
    kept = frame(fills).filter(pl.col("exec_type") == "trade")
    totals = (
        kept.group_by("order_id")
        .agg(pl.col("quantity").sum())
        .join(frame(orders).select("order_id", pl.col("quantity").alias("ordered")), on="order_id")
    )
    assert totals.height == kept["order_id"].n_unique() > 10
    assert (totals["quantity"] <= totals["ordered"]).all()


def test_an_order_ends_with_its_last_fill_when_leaves_qty_is_zero(tmp_path: Path) -> None:
    """A broker that reports the completing fill with OrdStatus 1 and LeavesQty 0, and Filled on a later
    status report: the order ends at the fill."""
    lines = [
        message("D", (11, "A"), (55, "IBM"), (54, 1), (38, 100), (40, 1), (60, t("15:00:00"))),
        report((37, "1"), (11, "A"), (17, "X1"), (150, "F"), (39, 1), (151, 0), (32, 100), (31, "150"),
               (60, t("15:01:00"))),
        report((37, "1"), (11, "A"), (17, "X2"), (150, "I"), (39, 2), (151, 0), (60, t("15:01:05"))),
    ]  # fmt: skip
    path = tmp_path / "leaves.log"
    path.write_bytes(b"\n".join(lines))
    assert ns(frame(read(path, ORDERS))["end_ts"]) == [utc("15:01:00")]


def test_raw_rows_gives_the_lines_by_number(log: Path) -> None:
    got = fix.raw_rows(log, [ROWS["o2"], ROWS["e7"], 999])
    text = log.read_bytes().split(b"\n")
    assert got.rows() == [(n, text[n - 1].decode()) for n in (ROWS["o2"], ROWS["e7"])]


def test_two_messages_on_a_line_and_bytes_that_are_not_text_are_quarantined_not_lost(tmp_path: Path) -> None:
    """A line holding two messages (or a log with no line breaks at all) is quarantined whole with why:
    never read as its first message alone; a Symbol with a byte that is not ASCII text likewise."""
    fill = report((37, "B1"), (11, "O1"), (17, "E1"), (150, "F"), (39, 1), *O1, (38, 1000), (32, 300),
                  (31, "189.95"), (60, t("14:36:00.000")))  # fmt: skip
    new = report((37, "B1"), (11, "O1"), (17, "E0"), (150, 0), (39, 0), *O1, (38, 1000), (60, t("14:35:00")))
    garbled = report((37, "B1"), (11, "O1"), (17, "E2"), (150, "F"), (39, 1), (55, b"AA\xffPL"), (54, 1),
                     (38, 1000), (32, 100), (31, "190.00"), (60, t("14:37:00.000")))  # fmt: skip
    log = tmp_path / "desk.log"
    log.write_bytes(new + fill + b"\n" + garbled + b"\n")
    batches = read(log, FILLS)
    assert frame(batches).height == 0
    bad = pl.concat(b.malformed for b in batches)
    assert bad.select("row_number", "detail").rows() == [
        (1, "2 messages on one line: a FIX log holds one message a line"),
        (2, "bytes that are not ASCII text (a control character, or not UTF-8/ASCII)"),
    ]


def test_a_chain_whose_start_is_in_another_log_is_not_made_a_new_order(tmp_path: Path) -> None:
    """The next day's log of a replaced order: its reports carry ClOrdID O1R and OrigClOrdID O1, which this
    log never saw. No order is made up for it (it would replace the stored O1's day); its fill keeps the
    chain's id, which the load then finds no order for (unknown_order), loudly."""
    log = tmp_path / "next.log"
    fill = report((37, "B1"), (11, "O1R"), (41, "O1"), (17, "E70"), (150, "F"), (39, 1), *O1, (38, 1500),
                  (32, 100), (31, "190.00"), (60, t("14:36:00.000")))  # fmt: skip
    log.write_bytes(fill + b"\n")
    orders = read(log, ORDERS)
    assert frame(orders).height == 0
    assert sum((Counter(b.skipped) for b in orders), Counter()) == Counter({"continued_order": 1})
    fills = frame(read(log, FILLS))
    assert fills.select("fill_id", "order_id").rows() == [("E70", "O1")]
