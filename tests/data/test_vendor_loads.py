"""Vendor files load end to end: the drop folder and `kappa ingest market|desk` find their tables, every
record is loaded, quarantined or counted as skipped, and a second load changes nothing."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from data.formats import tape
from data.home import KappaHome
from data.inbox import inbox_files, ingest_inbox
from tests.conftest import query, run_kappa, snapshot
from tests.data.formats.test_lobster import MESSAGES, QUOTE_SKIPS, TRADE_SKIPS, write_pair, write_zip


def _skipped(home: KappaHome, table: str) -> dict[str, int]:
    rows = query(home, f"SELECT reason, rows FROM skipped_rows WHERE table_name = '{table}'")
    return {str(r): int(n) for r, n in rows}  # type: ignore[call-overload]


def test_a_lobster_zip_in_the_drop_folder_loads_quotes_and_trades(home: KappaHome, tmp_path: Path) -> None:
    folder = tmp_path / "inbox" / "2012-06-21"
    folder.mkdir(parents=True)
    shutil.move(write_zip(tmp_path / "zip"), folder)
    by_table, ignored = inbox_files(folder)
    assert set(by_table) == {"quotes", "trades"} and not ignored
    got = ingest_inbox(home, folder)
    assert [(r.table, r.rows_read, r.rows_loaded, r.rows_quarantined) for r in got.loads] == [
        ("quotes", len(MESSAGES), 5, 0),
        ("trades", len(MESSAGES), 3, 0),
    ]
    assert _skipped(home, "quotes") == QUOTE_SKIPS and _skipped(home, "trades") == TRADE_SKIPS
    assert query(home, "SELECT DISTINCT format FROM loads") == [("lobster",)]
    assert query(home, "SELECT price, size, aggressor, exchange FROM trades ORDER BY ts, trade_id") == [
        (100.10, 80.0, "buy", "Q"), (100.05, 30.0, "sell", "Q"), (99.90, 30.0, "sell", "Q")
    ]  # fmt: skip
    before = snapshot(home)
    ingest_inbox(home, folder)
    assert snapshot(home) == before


def test_kappa_ingest_market_takes_a_pair_once_and_refuses_other_tables(tmp_path: Path) -> None:
    message, book = write_pair(tmp_path)
    h = str(tmp_path / "h")
    res = run_kappa("ingest", "market", str(message), str(book), "--home", h)
    assert res.returncode == 0, res.stderr
    assert "quotes: read 12 rows from 1 file(s), loaded 5" in res.stdout
    assert "trades: read 12 rows from 1 file(s), loaded 3" in res.stdout
    assert "book_unchanged 5" in res.stdout and "order_event 6" in res.stdout
    res = run_kappa("ingest", "orders", str(message), "--home", h)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "a lobster file of quotes and trades, not orders" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_taq_day_in_the_drop_folder_builds_the_nbbo_and_leaves_the_sips_nbbo_out(
    home: KappaHome, tmp_path: Path
) -> None:
    """BBO + TRADE + NBBO + master of one day: the NBBO is built from the exchanges' quotes, the SIP's NBBO
    file is reported as not loaded (and why), the master file is read with the quotes file."""
    from tests.data.formats.test_taq import (
        BBO_RECORDS,
        NBBO_HEADER,
        QUOTE_HEADER,
        TRADE_HEADER,
        TRADES_RECORDS,
        nbbo_record,
        write,
    )  # fmt: skip

    folder = tmp_path / "inbox" / "2026-11-16"
    folder.mkdir(parents=True)
    master = "Symbol|Security_Description|Round_Lot\nBRK A|BERKSHIRE A|1\nIBM|IBM|100\nEND|20261116|2\n"
    (folder / "EQY_US_ALL_REF_MASTER_20261116").write_text(master)
    write(folder, "EQY_US_ALL_BBO_20261116.gz", QUOTE_HEADER, BBO_RECORDS)
    write(folder, "EQY_US_ALL_TRADE_20261116.gz", TRADE_HEADER, TRADES_RECORDS[:8])  # the well-formed ones
    write(folder, "EQY_US_ALL_NBBO_20261116.gz", NBBO_HEADER,
          [nbbo_record("093000000000000", "N", "IBM", "140.00", "2", "140.05", "3")])  # fmt: skip
    by_table, ignored = inbox_files(folder)
    assert {t: [p.name for p in ps] for t, ps in by_table.items()} == {
        "quotes": ["EQY_US_ALL_BBO_20261116.gz"], "trades": ["EQY_US_ALL_TRADE_20261116.gz"]
    }  # fmt: skip
    assert ignored == [
        "EQY_US_ALL_NBBO_20261116.gz: the SIP's NBBO file of a date whose exchange quotes file is loaded: "
        "Kappa builds the NBBO from those"
    ]
    got = ingest_inbox(home, folder)
    quotes = got.loads[0]
    assert (quotes.table, quotes.rows_read, quotes.rows_loaded, quotes.rows_quarantined) == (
        "quotes",
        11,
        7,
        1,
    )
    assert quotes.skipped_by_reason == {"cancelled_quote": 1, "nbbo_unchanged": 1, "quote_condition": 1}
    # the NBBO as worked by hand in test_taq (BRK A's round lot of 1 share from the master file)
    assert query(home, "SELECT symbol, bid, bid_size, ask, ask_size FROM quotes WHERE symbol = 'BRK.A'") == [
        ("BRK.A", 650000.0, 2.0, 650100.0, 1.0), ("BRK.A", 650050.0, 1.0, 650100.0, 4.0)
    ]  # fmt: skip
    assert query(
        home, "SELECT row_number, rule, detail, raw FROM quarantine WHERE table_name = 'quotes'"
    ) == [(10, "malformed_row", tape.UNREADABLE, BBO_RECORDS[9])]
    trades = got.loads[1]
    assert (trades.rows_read, trades.rows_loaded, trades.skipped_by_reason) == (8, 2, {"trade_correction": 6})
    assert query(home, "SELECT symbol, price, size, exchange, conditions, trade_id FROM trades ORDER BY ALL") == [
        ("BRK.B", 412.5, 100.0, "N", "@  I", "11"), ("BRK.B", 412.51, 300.0, "P", "@F", "12")
    ]  # fmt: skip
    assert query(home, "SELECT DISTINCT format FROM loads ORDER BY 1") == [("taq",)]


def test_kappa_ingest_desk_loads_a_fix_log_and_quarantines_with_the_logs_lines(tmp_path: Path) -> None:
    """Orders then fills from one FIX log; an execution report sent twice is a duplicate fill, rejected after
    its batch, and still carries its line as the log holds it."""
    from tests.data.formats.test_fix import LOG, ROWS, write

    log = write(tmp_path / "desk.log")
    again = dict(LOG)["e7"]
    with log.open("ab") as f:
        f.write(again + b"\n")
    h = tmp_path / "h"
    res = run_kappa("ingest", "desk", str(log), "--home", str(h))
    assert res.returncode == 0, res.stderr
    home = KappaHome.resolve(h)
    assert query(home, "SELECT order_id FROM orders ORDER BY 1") == [("O1",), ("O2",), ("O3",)]
    assert query(home, "SELECT count(*), sum(quantity) FROM fills") == [
        (4, 300.0 + 500 + 700 + 100 + 400 - 300)
    ]
    rows = query(home, "SELECT table_name, rule, row_number, raw FROM quarantine ORDER BY ALL")
    assert [r[:3] for r in rows] == [
        ("fills", "duplicate_key", len(LOG) + 1),  # the report sent again
        ("fills", "malformed_row", ROWS["e9_bad_checksum"]),  # a checksum that does not add up
        ("orders", "malformed_row", ROWS["e9_bad_checksum"]),  # in every table it could feed
    ]
    assert rows[0][3] == again.decode()  # read again from the log at the commit, as it stands


def test_a_copy_under_another_name_a_damaged_zip_and_format_for_a_group_are_one_line_errors(
    tmp_path: Path,
) -> None:
    """A file and its copy in one load would count every row twice: refused. A zip that is damaged says so
    (not 'not a CSV file'), with or without --format; --format applies to a group's files too."""
    message, book = write_pair(tmp_path)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(message, copy / message.name)
    shutil.copy(book, copy / book.name)
    h = str(tmp_path / "h")
    res = run_kappa("ingest", "market", str(message), str(copy / message.name), "--home", h)
    assert res.returncode == 2 and "hold the same bytes: load one of them" in res.stderr, res.stderr
    res = run_kappa("ingest", "quotes", str(message), "--columns", "symbol=SYM", "--home", h)
    assert res.returncode == 2 and "and this is a lobster file" in res.stderr, res.stderr
    damaged = tmp_path / "LOBSTER_SampleFile_AAPL_2012-06-21_1.zip"
    damaged.write_bytes(write_zip(tmp_path / "z").read_bytes()[:300])  # cut inside its first member
    for extra in ((), ("--format", "lobster")):
        res = run_kappa("ingest", "market", str(damaged), "--home", h, *extra)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "CSV or Parquet" not in res.stderr, res.stderr


def test_a_databento_file_loads_in_the_sessions_of_the_calendar_given(tmp_path: Path) -> None:
    """The same prints under XNYS and under 24/7 (crypto): a print at 23:30 UTC is after New York's close,
    counted as extended hours under XNYS, and a row of the session under 24/7."""
    from data.ingest import ingest
    from tests.data.formats.test_dbn import metadata, trade, write

    late = 9 * 3600  # 14:30 + 9 h = 23:30 UTC
    path = write(tmp_path / "glbx-20240102.trades.dbn", metadata("trades"),
                 [trade(38, 1, 185.12, 100, "A", 101), trade(38, late, 185.50, 10, "B", 102)])  # fmt: skip
    xnys = ingest(KappaHome.resolve(tmp_path / "xnys"), "trades", [path], calendar="XNYS")
    assert (xnys.rows_loaded, xnys.skipped_by_reason) == (1, {"extended_hours": 1})
    crypto = KappaHome.resolve(tmp_path / "crypto")
    allday = ingest(crypto, "trades", [path], calendar="24/7")
    assert (allday.rows_loaded, allday.skipped_by_reason) == (2, {})
    assert query(crypto, "SELECT date, aggressor FROM trades ORDER BY ts") == [
        (dt.date(2024, 1, 2), "sell"), (dt.date(2024, 1, 2), "buy")
    ]  # fmt: skip
