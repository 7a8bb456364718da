"""Desk files as desks send them, through `kappa ingest` as a user runs it: offset-free times in a declared
zone, thousands separators, other delimiters, broken lines, busts and corrections of fills, re-deliveries that
shrink a day, and a home that remembers its calendar. Each load either loads what it should or fails loudly
(exit code, run status, counts), and the quarantine keeps the line as read."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import polars as pl
import pytest

from data.home import KappaHome
from data.ingest import ingest
from tests.conftest import DAY, WriteCsv, query, run_kappa

Q_HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]


def _kappa(*args: str, code: int = 0) -> str:
    res = run_kappa(*args)
    assert res.returncode == code, (args, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    return res.stdout + res.stderr


def test_offset_free_times_load_in_the_declared_zone_and_only_there(
    tmp_path: Path, write_csv: WriteCsv
) -> None:
    """TAQ-style local times: refused without a zone (100 % missing_utc_offset, exit 2, a hint), loaded with
    --timezone, and the same rule and result for a tz-naive Parquet file; the home's setting is the default."""
    h = str(tmp_path / "h")
    rows = [["AAA", f"{DAY} 09:30:00.000001", 10, 10.02, 100, 100],  # the open, New York time
            ["AAA", f"{DAY}T15:59:59.999999999", 10, 10.02, 100, 100],  # nanoseconds kept
            ["AAA", f"{DAY}T10:00:00-05:00", 10, 10.02, 100, 100]]  # an offset always wins  # fmt: skip
    naive = write_csv("quotes_naive.csv", [Q_HEADER, *rows])
    out = _kappa("ingest", "quotes", str(naive), "--home", h, code=2)
    assert "2 of 3 rows (66.7 %) quarantined (missing_utc_offset: 2)" in out and "--timezone" in out
    assert query(KappaHome.resolve(h), "SELECT status FROM runs") == [("failed",)]
    assert query(KappaHome.resolve(h), "SELECT count(*) FROM quotes") == [(0,)]
    _kappa("ingest", "quotes", str(naive), "--home", h, "--timezone", "America/New_York")
    got = query(KappaHome.resolve(h), "SELECT epoch_ns(ts) FROM quotes ORDER BY ts")
    open_ns = int(dt.datetime(2026, 11, 16, 14, 30, tzinfo=dt.UTC).timestamp()) * 10**9
    assert got == [(open_ns + 1_000,), (open_ns + 1_800 * 10**9,), (open_ns + 23_400 * 10**9 - 1,)]
    # tz-naive Parquet: the same rule (not silently UTC), the same rows once the zone is declared
    pq = tmp_path / "quotes.parquet"
    pl.DataFrame({"symbol": ["BBB", "BBB"], "ts": [dt.datetime(2026, 11, 16, 9, 30), dt.datetime(2026, 11, 16, 15)],
                  "bid": [5.0, 5.0], "ask": [5.01, 5.01], "bid_size": [1.0, 1.0], "ask_size": [1.0, 1.0]}
                 ).write_parquet(pq)  # fmt: skip
    assert "missing_utc_offset: 2" in _kappa("ingest", "quotes", str(pq), "--home", h, code=2)
    _kappa("config", "timezone", "exchange", "--home", h)  # the home's default: the calendar's zone
    _kappa("ingest", "quotes", str(pq), "--home", h)
    assert query(KappaHome.resolve(h), "SELECT min(ts), max(ts) FROM quotes WHERE symbol = 'BBB'") == [
        (dt.datetime(2026, 11, 16, 14, 30), dt.datetime(2026, 11, 16, 20, 0))
    ]


def test_local_times_in_a_daylight_saving_change_are_named(home: KappaHome, write_csv: WriteCsv) -> None:
    """24/7: 2026-03-08 02:30 does not exist in New York, 2026-11-01 01:30 happens twice."""
    path = write_csv(
        "trades.csv",
        [["symbol", "ts", "price", "size"], ["BTC", "2026-03-08 02:30:00", 1, 1], ["BTC", "2026-11-01 01:30:00", 1, 1],
         *[["BTC", f"2026-11-01 0{h}:00:00", 1, 1] for h in (3, 4, 5, 6)]],
    )  # fmt: skip
    report = ingest(home, "trades", [path], calendar="24/7", timezone="America/New_York")
    assert report.quarantined_by_rule == {"ambiguous_local_time": 1, "nonexistent_local_time": 1}
    assert query(home, "SELECT row_number, rule, raw FROM quarantine ORDER BY 1") == [
        (1, "nonexistent_local_time", "BTC,2026-03-08 02:30:00,1,1"),
        (2, "ambiguous_local_time", "BTC,2026-11-01 01:30:00,1,1"),
    ]


def test_number_formats_delimiters_and_broken_lines(tmp_path: Path) -> None:
    """Thousands separators are read (a file that lost 85 % of its trades to them now loads whole); ; | and
    tab files load like commas; a line with the wrong number of fields is quarantined with its text."""
    h = str(tmp_path / "h")
    t = f"{DAY}T10:00:00-05:00"
    semicolon = tmp_path / "trades_thousands.csv"
    semicolon.write_text(
        "symbol;ts;price;size\n"
        + "".join(f"AAA;{t};1,234.5;{n:,}\n" for n in (100, 2_500, 1_869_001, 7))
        + f"AAA;{t};1.234,5;100\n"  # a decimal comma is not read: unparseable_number
    )
    out = _kappa("ingest", "trades", str(semicolon), "--home", h)
    assert "loaded 4, quarantined 1" in out and "unparseable_number" in out
    assert query(KappaHome.resolve(h), "SELECT sum(size), min(price) FROM trades") == [(1_871_608.0, 1234.5)]
    pipe = tmp_path / "quotes.psv.gz"
    lines = ["SYMBOL|TS|BID|ASK|BID_SIZE|ASK_SIZE", *[f"BBB|{t}|10|10.01|1,000|200" for _ in range(8)],
             f"BBB|{t}|10|10.01|1,000", "", f"BBB|{t}|10|10.01|100|200|extra"]  # fmt: skip
    pipe.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    out = _kappa("ingest", "quotes", str(pipe), "--home", h)
    assert "loaded 8, quarantined 2" in out and "malformed_row" in out
    home = KappaHome.resolve(h)
    assert query(home, "SELECT row_number, rule, raw FROM quarantine WHERE table_name = 'quotes' ORDER BY 1") == [
        (9, "malformed_row", lines[9]), (11, "malformed_row", lines[11])
    ]  # fmt: skip
    assert query(home, "SELECT sum(bid_size) FROM quotes") == [(8_000.0,)]
    tab = tmp_path / "daily.tsv"
    tab.write_text("symbol\tdate\tclose\tvolume\nAAA\t20261113\t1,234.50\t2,000,000\n")
    _kappa("ingest", "daily", str(tab), "--home", h)
    assert query(home, "SELECT date, close, volume FROM daily WHERE date < '2026-11-16'") == [
        (dt.date(2026, 11, 13), 1234.5, 2e6)
    ]


def test_a_fill_is_busted_by_a_cancel_and_an_order_replaced_whole(
    tmp_path: Path, write_csv: WriteCsv
) -> None:
    """FIX's trade cancel: the busted fill leaves `fills` for `cancelled_fills` (nothing deleted), the cancel
    file loads twice to the same tables, an unknown fill's cancel is quarantined; --replace-orders makes a
    corrected file the whole truth of its orders."""
    h = str(tmp_path / "h")
    home = KappaHome.resolve(h)
    a, e = f"{DAY}T10:00:00-05:00", f"{DAY}T11:00:00-05:00"
    orders = write_csv("orders.csv", [["order_id", "symbol", "side", "quantity", "arrival_ts", "end_ts"],
                                      ["o1", "AAA", "buy", 1000, a, e], ["o2", "AAA", "sell", 500, a, e]])  # fmt: skip
    _kappa("ingest", "orders", str(orders), "--home", h)
    fh = ["fill_id", "order_id", "ts", "price", "quantity"]
    fills = write_csv("fills.csv", [fh, *[[f"f{i}", "o1", f"{DAY}T10:{10 + i}:00-05:00", 10, 100] for i in range(4)],
                                    ["g1", "o2", f"{DAY}T10:30:00-05:00", 10, 200]])  # fmt: skip
    _kappa("ingest", "fills", str(fills), "--home", h)
    busts = write_csv("executions_busts.csv", [[*fh, "exec_type"], ["f1", "o1", "", "", "", "H"],
                                               ["f2", "o1", "", "", "", "cancel"],
                                               ["f9", "o1", "", "", "", "cancel"]])  # fmt: skip
    for _ in range(2):  # the same cancels twice: the same tables
        out = _kappa("ingest", "fills", str(busts), "--home", h)
        assert "quarantined 1" in out
    assert query(home, "SELECT fill_id FROM fills ORDER BY 1") == [("f0",), ("f3",), ("g1",)]
    assert query(home, "SELECT fill_id, reason, cancel_source_row FROM cancelled_fills ORDER BY 1") == [
        ("f1", "cancel", 1), ("f2", "cancel", 2)
    ]  # fmt: skip
    assert query(home, "SELECT row_number, rule, raw FROM quarantine WHERE table_name = 'fills'") == [
        (3, "unknown_fill", "f9,o1,,,,cancel")
    ]
    # a corrected file of o1 alone, by order: f0 and f3 give way to h1; o2's fill is untouched
    fixed = write_csv("fills_fixed.csv", [fh, ["h1", "o1", f"{DAY}T10:45:00-05:00", 10.5, 300]])
    out = _kappa("ingest", "fills", str(fixed), "--home", h, "--replace-orders")
    assert "replaced fills: 2 → 1 rows (1 order(s))" in out and "cancelled 2 fill(s)" in out
    assert query(home, "SELECT fill_id, order_id FROM fills ORDER BY 1") == [("g1", "o2"), ("h1", "o1")]
    cancelled = query(home, "SELECT fill_id, reason, cancel_source_file, cancel_source_row FROM cancelled_fills "
                            "ORDER BY 1")  # fmt: skip
    assert cancelled == [("f0", "replaced_by_order", str(fixed), 1), ("f1", "cancel", str(busts), 1),
                         ("f2", "cancel", str(busts), 2), ("f3", "replaced_by_order", str(fixed), 1)]  # fmt: skip
    # the first fills file loaded again undoes neither the busts nor the replacement: a correction would
    _kappa("ingest", "fills", str(fills), "--home", h, "--max-quarantined", "1")
    assert query(home, "SELECT fill_id FROM fills WHERE order_id = 'o1' ORDER BY 1") == [("h1",)]
    revived = "SELECT row_number, rule FROM quarantine WHERE source_file LIKE '%/fills.csv' ORDER BY 1"
    assert query(home, revived) == [(n, "cancelled_fill") for n in (1, 2, 3, 4)]
    fix = write_csv(
        "fills_correct.csv", [[*fh, "exec_type"], ["f1", "o1", f"{DAY}T10:11:00-05:00", 10, 100, "G"]]
    )
    _kappa("ingest", "fills", str(fix), "--home", h)
    assert query(home, "SELECT fill_id FROM fills WHERE order_id = 'o1' ORDER BY 1") == [("f1",), ("h1",)]


def test_a_shrinking_redelivery_is_reported_and_warned(tmp_path: Path, write_csv: WriteCsv) -> None:
    """A corrected quotes file that cuts a stored (date, symbol) from 40 rows to 10 replaces it, says so
    (rows before → after, in `replacements`) and warns: exit 0, or 3 with --strict."""
    h = str(tmp_path / "h")
    aaa = [["AAA", f"{DAY}T10:{m:02d}:00-05:00", 10, 10.02, 1, 1] for m in range(40)]
    full = write_csv("quotes.csv", [Q_HEADER, *aaa, ["BBB", f"{DAY}T10:00:00-05:00", 20, 20.02, 1, 1]])
    _kappa("ingest", "quotes", str(full), "--home", h)
    again = _kappa("ingest", "quotes", str(full), "--home", h)  # the same file: replaced, not shrunk
    assert f"replaced quotes {DAY}: 41 → 41 rows (2 symbol(s))" in again and "warning" not in again
    fewer = [["AAA", f"{DAY}T11:{m:02d}:00-05:00", 10, 10.02, 1, 1] for m in range(10)]
    short = write_csv("quotes_fix.csv", [Q_HEADER, *fewer])
    out = _kappa("ingest", "quotes", str(short), "--home", h, "--strict", code=3)
    assert f"replaced quotes {DAY}: 40 → 10 rows (1 symbol(s))" in out
    assert "shrank 1 stored symbol-day(s) by more than half: AAA 40 → 10" in out
    home = KappaHome.resolve(h)
    assert query(home, "SELECT count(*) FROM quotes") == [(11,)]  # BBB stays
    changed = "SELECT table_name, date, key, rows_before, rows_after FROM replacements WHERE rows_before <> rows_after"
    assert query(home, changed) == [("quotes", dt.date(2026, 11, 16), "AAA", 40, 10)]
    assert query(home, "SELECT status FROM runs ORDER BY started_at") == [
        ("success",),
        ("success",),
        ("warning",),
    ]


def test_a_symbol_that_lost_every_row_warns(tmp_path: Path, write_csv: WriteCsv) -> None:
    h = str(tmp_path / "h")
    rows = [["AAA", f"{DAY}T10:{m:02d}:00-05:00", 10, 10.02, 1, 1] for m in range(50)]
    rows.append(["ZZZ", f"{DAY}T10:00:00-05:00", "n/a", 10.02, 1, 1])
    out = _kappa("ingest", "quotes", str(write_csv("q.csv", [Q_HEADER, *rows])), "--home", h)
    assert "every row of 1 symbol(s) was quarantined: ZZZ" in out


def test_the_home_remembers_its_calendar(tmp_path: Path, write_csv: WriteCsv) -> None:
    """`--calendar 24/7` once: a Sunday trade loads, later commands use 24/7 without being told, a different
    calendar is refused with the way out, and `kappa config` shows and changes it."""
    h = str(tmp_path / "h")
    sunday = write_csv(
        "trades.csv", [["symbol", "ts", "price", "size"], ["BTC", "2026-11-15T12:00:00Z", 9e4, 0.5]]
    )
    _kappa("ingest", "trades", str(sunday), "--home", h, "--calendar", "24/7")
    assert "calendar = 24/7" in _kappa("config", "--home", h)
    _kappa("ingest", "trades", str(sunday), "--home", h)  # no --calendar: the home's
    refused = _kappa("ingest", "trades", str(sunday), "--home", h, "--calendar", "XNYS", code=2)
    assert "this home's calendar is 24/7" in refused
    assert "unknown calendar 'XNYZ'" in _kappa("config", "calendar", "XNYZ", "--home", h, code=2)
    assert "warning" not in _kappa("config", "calendar", "24/7", "--home", h)  # unchanged: nothing to warn of
    assert "name the setting to change" in _kappa("config", "--unset", "--home", h, code=2)
    assert "unknown time zone 'Mars/Olympus'" in _kappa(
        "config", "timezone", "Mars/Olympus", "--home", h, code=2
    )
    assert query(KappaHome.resolve(h), "SELECT date, count(*) FROM trades GROUP BY 1") == [
        (dt.date(2026, 11, 15), 1)
    ]


@pytest.mark.parametrize("rows", [2_000])
def test_raw_is_the_line_for_every_rule_even_across_batches(
    home: KappaHome, tmp_path: Path, rows: int
) -> None:
    """Row numbers and raw lines stay right across blocks, blank lines and CRLF endings (many small batches)."""
    lines = ["symbol,ts,bid,ask,bid_size,ask_size"]
    for i in range(rows):
        bid = "x" if i % 97 == 0 else "10"
        lines.append(f"AAA,{DAY}T10:{i // 60 % 60:02d}:{i % 60:02d}-05:00,{bid},10.02,1,1")
        if i % 500 == 7:
            lines.append("")
    path = tmp_path / "q.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    ingest(home, "quotes", [path], batch_rows=300)
    got = query(home, "SELECT row_number, raw FROM quarantine ORDER BY 1")
    assert len(got) == len(range(0, rows, 97))
    assert all(raw == lines[n] for n, raw in got)


def test_a_quoted_value_may_hold_a_line_break_and_an_open_quote_is_named(
    home: KappaHome, tmp_path: Path
) -> None:
    """RFC 4180: a quoted field with a line break is one row (its row number is its first line's), in a
    file of many blocks; a quote that never closes makes its line a malformed row, and the lines after it
    load."""
    t = f"{DAY}T10:00:00-05:00"
    lines = ["symbol,ts,price,size,exchange,conditions,trade_id"]
    for i in range(3000):
        cond = '"late\nreport"' if i % 500 == 3 else ('"a ""quoted"" @"' if i % 700 == 5 else "@")
        lines.append(f"AAA,{t},10.0,{i + 1},XNYS,{cond},{i}")
    lines.append("AAA,oops,1")  # a malformed line after the quoted ones
    path = tmp_path / "trades.csv"
    path.write_text("\n".join(lines) + "\n")
    report = ingest(home, "trades", [path], batch_rows=400)
    assert (report.rows_loaded, report.quarantined_by_rule) == (3000, {"malformed_row": 1})
    got = dict(query(home, "SELECT trade_id, conditions FROM trades WHERE conditions <> '@'"))
    assert got["3"] == "late\nreport" and got["5"] == 'a "quoted" @' and len(got) == 6 + 5
    text = path.read_text().split("\n")
    ((row, raw),) = query(home, "SELECT row_number, raw FROM quarantine")
    assert raw == "AAA,oops,1" == text[row]  # row N is line N + 1, the broken lines counted
    bad = tmp_path / "trades_open.csv"
    bad.write_text(f'symbol,ts,price,size,conditions\nAAA,{t},1,1,@\nAAA,{t},1,1,"open\nAAA,{t},1,1,@\n')
    report = ingest(home, "trades", [bad])
    assert (report.rows_read, report.rows_loaded, report.quarantined_by_rule) == (3, 2, {"malformed_row": 1})
    assert query(home, f"SELECT row_number, detail, raw FROM quarantine WHERE source_file = '{bad}'") == [
        (2, "a quote opens and never closes", f'AAA,{t},1,1,"open')
    ]


def test_an_order_moved_to_another_day_is_a_replacement_and_minutes_are_iso(
    home: KappaHome, write_csv: WriteCsv
) -> None:
    """An order re-delivered under another date leaves its old (date, symbol) one row short: reported.
    ISO 8601 may stop at the minute (09:30-05:00), with or without an offset."""
    header = ["order_id", "symbol", "side", "quantity", "arrival_ts", "end_ts"]
    o1 = ["O1", "AAA", "buy", 100, "2026-11-19T10:00-05:00", "2026-11-19T11:00-05:00"]
    first = write_csv(
        "orders.csv", [header, o1, ["O2", "AAA", "buy", 100, "2026-11-19 10:00", "2026-11-19 11:00"]]
    )
    ingest(home, "orders", [first], timezone="America/New_York")
    moved = write_csv(
        "orders_fix.csv", [header, ["O1", "AAA", "buy", 200, "2026-11-20T10:00Z", "2026-11-20T16:00Z"]]
    )
    report = ingest(home, "orders", [moved])
    assert [(r.date, r.key, r.rows_before, r.rows_after) for r in report.replaced] == [
        (dt.date(2026, 11, 19), "AAA", 2, 1)
    ]
    assert query(home, "SELECT order_id, date, arrival_ts FROM orders ORDER BY 1") == [
        ("O1", dt.date(2026, 11, 20), dt.datetime(2026, 11, 20, 10)),
        ("O2", dt.date(2026, 11, 19), dt.datetime(2026, 11, 19, 15)),
    ]


def test_absurd_values_are_quarantined_not_summed(home: KappaHome, write_csv: WriteCsv) -> None:
    """A bid of 1e308 is finite but no price: it would make the day's mid infinite."""
    t = f"{DAY}T10:00:00-05:00"
    rows = [
        Q_HEADER,
        *[["AAA", t, 10, 10.02, 1, 1]] * 5,
        ["AAA", t, "1e308", "1.5e308", 1, 1],
        ["AAA", t, 10, 10.02, "2e12", 1],
    ]
    ingest(home, "quotes", [write_csv("q.csv", rows)])
    assert query(home, "SELECT row_number, rule, detail FROM quarantine ORDER BY 1") == [
        (6, "out_of_range", "bid"), (7, "out_of_range", "bid_size")
    ]  # fmt: skip
    assert query(home, "SELECT close FROM daily") == [(10.01,)]


def test_corrections_apply_in_order_and_an_overfill_is_caught_whatever_its_time(
    home: KappaHome, write_csv: WriteCsv
) -> None:
    """A FIX log with a fill and its correction (G) in one file stores the correction; an earlier file
    loaded again does not undo it (corrected_fill); a fill delivered late but stamped before the stored
    ones cannot take the order over its quantity."""
    a, e = f"{DAY}T10:00:00-05:00", f"{DAY}T15:00:00-05:00"
    ingest(home, "orders", [write_csv("orders.csv", [["order_id", "symbol", "side", "quantity", "arrival_ts", "end_ts"],
                                                     ["O1", "AAA", "buy", 1000, a, e]])])  # fmt: skip
    fh = ["fill_id", "order_id", "ts", "price", "quantity", "exec_type"]
    log = write_csv("fills_fixlog.csv", [fh, ["F1", "O1", f"{DAY}T11:00:00-05:00", 49.39, 1000, "F"],
                                         ["F1", "O1", f"{DAY}T11:00:00-05:00", 49.40, 500, "G"],
                                         ["F1", "O1", f"{DAY}T11:00:00-05:00", 49.41, 600, "G"]])  # fmt: skip
    report = ingest(home, "fills", [log])
    assert (report.rows_loaded, report.rows_quarantined) == (3, 0)
    assert query(home, "SELECT fill_id, price, quantity, exec_type FROM fills") == [
        ("F1", 49.41, 600.0, "correct")
    ]
    plain = write_csv("fills_first.csv", [fh[:5], ["F1", "O1", f"{DAY}T11:00:00-05:00", 49.39, 1000]])
    report = ingest(home, "fills", [plain], max_quarantined=1.0)
    assert report.quarantined_by_rule == {"corrected_fill": 1}
    assert query(home, "SELECT price, quantity FROM fills") == [(49.41, 600.0)]
    # 600 stored at 11:00; 500 more stamped at 10:30 would make 1,100 of 1,000
    late = write_csv("fills_late.csv", [fh[:5], ["F0", "O1", f"{DAY}T10:30:00-05:00", 49.3, 500]])
    assert ingest(home, "fills", [late], max_quarantined=1.0).quarantined_by_rule == {"overfill": 1}
    assert query(home, "SELECT sum(quantity) FROM fills") == [(600.0,)]
