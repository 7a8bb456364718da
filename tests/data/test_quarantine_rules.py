"""Every quarantine rule of the input contract, through a real load: bad rows land in `quarantine` with
their file, row number, rule and the line as read; good rows load; nothing is dropped.

The files here are mostly bad rows by design, so they are loaded with ``max_quarantined=1.0`` (a real
load refuses a file whose rows are mostly quarantined: tests/data/test_desk_files.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from data.home import KappaHome
from data.ingest import ingest
from kappa.errors import InputError, MissingColumnError
from tests.conftest import DAY, EARLY_CLOSE_DAY, WriteCsv, query

Q_HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]
T = f"{DAY}T10:00:00-05:00"


def quarantined(home: KappaHome, table: str) -> dict[int, tuple[str, str, str]]:
    rows = query(
        home,
        f"SELECT row_number, rule, detail, raw FROM quarantine WHERE table_name = '{table}' ORDER BY row_number",
    )
    return {int(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in rows}  # type: ignore[arg-type]


def lines(path: Path) -> list[str]:
    """The file's lines: row N is line N + 1 (the header is line 1)."""
    return path.read_text().splitlines()


def test_quote_rules(home: KappaHome, write_csv: WriteCsv) -> None:
    path = write_csv(
        "quotes.csv",
        [
            Q_HEADER,
            ["AAA", T, "10.00", "10.02", "100", "200"],  # 1 good
            ["AAA", T, "0", "10.02", "100", "200"],  # 2 non-positive price
            ["AAA", T, "10.00", "10.02", "-5", "200"],  # 3 non-positive size
            ["AAA", T, "10.03", "10.02", "100", "200"],  # 4 crossed
            ["AAA", "yesterday", "10.00", "10.02", "100", "200"],  # 5 unparseable timestamp
            ["AAA", T, "ten", "10.02", "100", "200"],  # 6 unparseable number
            ["AAA", f"{DAY}T09:29:59.999999999-05:00", "10.00", "10.02", "100", "200"],  # 7 before the open
            ["AAA", "2026-11-26T10:00:00-05:00", "10.00", "10.02", "100", "200"],  # 8 Thanksgiving
            [
                "AAA",
                f"{EARLY_CLOSE_DAY}T13:00:00.000000001-05:00",
                "10.00",
                "10.02",
                "1",
                "1",
            ],  # 9 early close
            ["", T, "10.00", "10.02", "100", "200"],  # 10 missing symbol
            ["AAA", f"{DAY}T10:00:00", "10.00", "10.02", "100", "200"],  # 11 no UTC offset, no zone declared
            ["AAA", "1794841200000000001", "10.00", "10.00", "1", "1"],  # 12 good: ns epoch, locked quote
            ["AAA", T, "nan", "10.02", "100", "200"],  # 13 not a finite number
        ],
    )
    report = ingest(home, "quotes", [path], max_quarantined=1.0)
    # rows 7 and 9 lie on sessions' dates outside their regular hours: skipped, not quarantined
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (13, 2, 9)
    assert report.skipped_by_reason == {"extended_hours": 2}
    assert query(home, "SELECT source_file, reason, rows FROM skipped_rows") == [
        (str(path), "extended_hours", 2)
    ]
    assert query(
        home, "SELECT rows_read, rows_loaded, rows_quarantined, rows_skipped, format FROM loads"
    ) == [(13, 2, 9, 2, "kappa")]
    q = quarantined(home, "quotes")
    assert {k: v[0] for k, v in q.items()} == {
        2: "non_positive",
        3: "non_positive",
        4: "bid_gt_ask",
        5: "unparseable_timestamp",
        6: "unparseable_number",
        8: "outside_session",
        10: "missing_value",
        11: "missing_utc_offset",
        13: "unparseable_number",
    }
    assert q[2][1] == "bid" and q[3][1] == "bid_size"
    assert q[6][2] == f"AAA,{T},ten,10.02,100,200" == lines(path)[6]  # the line as read
    assert all(raw == lines(path)[n] for n, (_, _, raw) in q.items())
    src = query(home, "SELECT DISTINCT source_file FROM quarantine")
    assert src == [(str(path),)]
    # nanoseconds are kept
    ns = query(home, "SELECT epoch_ns(ts) FROM quotes ORDER BY ts")
    assert ns == [(1794841200000000000,), (1794841200000000001,)]
    assert report.quarantined_by_rule["outside_session"] == 1


def test_trade_rules_and_duplicate_trade_id(home: KappaHome, write_csv: WriteCsv) -> None:
    path = write_csv(
        "trades.csv",
        [
            ["SYMBOL", "TS", "Price", "Size", "trade_id"],  # names are case-insensitive
            ["AAA", T, "10.01", "100", "t1"],
            ["AAA", T, "10.01", "0", "t2"],
            ["AAA", T, "-1", "100", "t3"],
            ["AAA", T, "10.01", "50", "t1"],  # duplicate key (symbol, trade_id)
            ["BBB", T, "20.01", "50", "t1"],  # same id, other symbol: fine
            ["AAA", T, "10.01", "7", ""],  # odd lot without an id: fine
            ["AAA", f"{DAY}T16:00:00.000000001-05:00", "10.01", "100", "t9"],  # after the close
        ],
    )
    report = ingest(home, "trades", [path], max_quarantined=1.0)
    assert report.rows_loaded == 3
    assert report.skipped_by_reason == {"extended_hours": 1}
    assert {k: v[0] for k, v in quarantined(home, "trades").items()} == {
        2: "non_positive",
        3: "non_positive",
        4: "duplicate_key",
    }


ORDERS = ["order_id", "symbol", "side", "quantity", "arrival_ts", "end_ts"]


def _orders(write_csv: WriteCsv) -> Path:
    return write_csv(
        "orders.csv",
        [
            ORDERS,
            ["o1", "AAA", "buy", "1000", f"{DAY}T10:00:00-05:00", f"{DAY}T11:00:00-05:00"],
            ["o2", "AAA", "SELL", "500", f"{DAY}T10:00:00-05:00", f"{DAY}T11:00:00-05:00"],
            ["o3", "AAA", "short", "500", f"{DAY}T10:00:00-05:00", f"{DAY}T11:00:00-05:00"],
            ["o1", "AAA", "buy", "900", f"{DAY}T10:00:00-05:00", f"{DAY}T11:00:00-05:00"],
            ["o4", "AAA", "buy", "0", f"{DAY}T10:00:00-05:00", f"{DAY}T11:00:00-05:00"],
            ["o5", "AAA", "buy", "100", f"{DAY}T11:00:00-05:00", f"{DAY}T10:00:00-05:00"],
        ],
    )


def test_order_rules(home: KappaHome, write_csv: WriteCsv) -> None:
    report = ingest(home, "orders", [_orders(write_csv)], max_quarantined=1.0)
    assert report.rows_loaded == 2
    assert {k: v[0] for k, v in quarantined(home, "orders").items()} == {
        3: "unknown_side",
        4: "duplicate_key",
        5: "non_positive",
        6: "end_before_arrival",
    }
    assert query(home, "SELECT order_id, side, quantity FROM orders ORDER BY 1") == [
        ("o1", "buy", 1000.0),
        ("o2", "sell", 500.0),
    ]


def test_fill_rules(home: KappaHome, write_csv: WriteCsv) -> None:
    ingest(home, "orders", [_orders(write_csv)], max_quarantined=1.0)
    fills = write_csv(
        "fills.csv",
        [
            ["fill_id", "order_id", "ts", "price", "quantity", "liquidity"],
            ["f1", "o1", f"{DAY}T10:10:00-05:00", "10.02", "600", "remove"],  # good
            ["f2", "o1", f"{DAY}T10:20:00-05:00", "10.03", "300", "add"],  # good: 900 of 1000
            ["f3", "o1", f"{DAY}T10:30:00-05:00", "10.03", "200", ""],  # overfill: 1100 > 1000
            ["f4", "zz", f"{DAY}T10:30:00-05:00", "10.03", "200", ""],  # unknown order
            ["f5", "o2", f"{DAY}T11:00:00.000000001-05:00", "10.03", "100", ""],  # after end_ts
            ["f6", "o2", f"{DAY}T09:59:59-05:00", "10.03", "100", ""],  # before arrival
            ["f1", "o2", f"{DAY}T10:30:00-05:00", "10.03", "100", ""],  # duplicate fill_id
            ["f7", "o2", f"{DAY}T10:30:00-05:00", "10.03", "100", "maker"],  # unknown liquidity
            ["f8", "o2", f"{DAY}T10:31:00-05:00", "10.03", "100", ""],  # good
        ],
    )
    report = ingest(home, "fills", [fills], max_quarantined=1.0)
    assert report.rows_loaded == 3
    # cross-row rules too keep the line as read (not the values as converted)
    assert {n: raw for n, (_, _, raw) in quarantined(home, "fills").items()} == {
        n: lines(fills)[n] for n in (3, 4, 5, 6, 7, 8)
    }
    assert {k: v[0] for k, v in quarantined(home, "fills").items()} == {
        3: "overfill",
        4: "unknown_order",
        5: "fill_outside_window",
        6: "fill_outside_window",
        7: "duplicate_key",
        8: "unknown_liquidity",
    }
    # a later file that overfills together with what is stored is caught too
    more = write_csv(
        "fills2.csv",
        [
            ["fill_id", "order_id", "ts", "price", "quantity"],
            ["f9", "o1", f"{DAY}T10:40:00-05:00", "10.03", "100"],  # 1000 of 1000: fine
            ["f10", "o1", f"{DAY}T10:41:00-05:00", "10.03", "1"],  # 1001: overfill
        ],
    )
    report = ingest(home, "fills", [more], max_quarantined=1.0)
    assert report.rows_loaded == 1 and report.quarantined_by_rule == {"overfill": 1}
    assert query(home, "SELECT sum(quantity) FROM fills WHERE order_id = 'o1'") == [(1000.0,)]


def test_daily_rules(home: KappaHome, write_csv: WriteCsv) -> None:
    path = write_csv(
        "daily.csv",
        [
            ["symbol", "date", "close", "volume"],
            ["AAA", "2026-11-13", "10.5", "1000000"],
            ["AAA", "2026-11-13", "10.6", "1000000"],
            ["AAA", "13/11/2026", "10.6", "1000000"],
            ["AAA", "2026-11-12", "-1", "1000000"],
            ["AAA", "2026-11-11", "10", "-5"],
        ],
    )
    ingest(home, "daily", [path], max_quarantined=1.0)
    assert {k: v[0] for k, v in quarantined(home, "daily").items()} == {
        2: "duplicate_key",
        3: "unparseable_date",
        4: "non_positive",
        5: "negative",
    }


def test_missing_required_column_loads_nothing(home: KappaHome, write_csv: WriteCsv) -> None:
    good = write_csv("good.csv", [Q_HEADER, ["AAA", T, "10.00", "10.02", "100", "200"]])
    bad = write_csv("bad.csv", [["symbol", "ts", "bid", "ask"], ["AAA", T, "10.00", "10.02"]])
    with pytest.raises(MissingColumnError) as info:
        ingest(home, "quotes", [good, bad])
    assert "bid_size" in str(info.value) and "ask_size" in str(info.value) and "bad.csv" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert not home.db_path.exists(), "nothing may be loaded when a file lacks a required column"


def test_unreadable_inputs_are_clear_errors(home: KappaHome, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        ingest(home, "quotes", [tmp_path / "nope.csv"])
    other = tmp_path / "data.xlsx"
    other.write_text("x")
    with pytest.raises(InputError, match="unsupported file type"):
        ingest(home, "quotes", [other])
    with pytest.raises(InputError, match="unknown table"):
        ingest(home, "ticks", [other])


def test_a_quarantined_correction_does_not_hide_the_stored_fill_from_the_overfill_rule(
    home: KappaHome, write_csv: WriteCsv
) -> None:
    ingest(home, "orders", [_orders(write_csv)], max_quarantined=1.0)  # o2: sell 500
    header = ["fill_id", "order_id", "ts", "price", "quantity"]
    ingest(home, "fills", [write_csv("a.csv", [header, ["g1", "o2", f"{DAY}T10:10:00-05:00", 10, 500]])])
    report = ingest(
        home,
        "fills",
        [write_csv("b.csv", [header, ["g1", "o2", f"{DAY}T12:00:00-05:00", 10, 500],  # outside: quarantined
                             ["g2", "o2", f"{DAY}T10:20:00-05:00", 10, 500]])],  # would double the order
        max_quarantined=1.0,
    )  # fmt: skip
    assert report.quarantined_by_rule == {"fill_outside_window": 1, "overfill": 1}
    assert query(home, "SELECT fill_id, quantity FROM fills WHERE order_id = 'o2'") == [("g1", 500.0)]
