"""Vendor files load end to end: the drop folder and `kappa ingest market|desk` find their tables, every
record is loaded, quarantined or counted as skipped, and a second load changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

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
