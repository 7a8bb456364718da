"""A vendor's own CSV layout loads with a column mapping and a time zone, without a converter."""

from __future__ import annotations

import datetime as dt

import pytest

from data.home import KappaHome
from data.ingest import ingest
from flows.cli.ingest import parse_columns
from kappa.errors import InputError, ParameterError
from tests.conftest import WriteCsv, query, run_kappa

MAPPING = {
    "symbol": "SYM",
    "ts": "TIMESTAMP",
    "bid": "BID_PX",
    "ask": "ask_px",
    "bid_size": "BQ",
    "ask_size": "AQ",
}


def test_a_mapped_layout_loads_in_the_declared_zone(home: KappaHome, write_csv: WriteCsv) -> None:
    path = write_csv(
        "vendor_quotes.csv",
        [
            ["SYM", "TIMESTAMP", "BID_PX", "ASK_PX", "BQ", "AQ", "VENUE_NOTE"],
            ["AAA", "2026-11-16 10:00:00.000000001", "10.00", "10.02", "300", "500", "x"],
            ["AAA", "2026-11-16 10:00:01", "bad", "10.02", "300", "500", "y"],  # quarantined as read
        ],
    )
    report = ingest(home, "quotes", [path], columns=MAPPING, timezone="America/New_York", max_quarantined=1.0)
    assert (report.rows_loaded, report.rows_quarantined) == (1, 1)
    # 10:00 in New York on 2026-11-16 (EST, UTC-5) is 15:00 UTC; nanoseconds kept
    assert query(home, "SELECT symbol, epoch_ns(ts), bid, ask, bid_size, ask_size FROM quotes") == [
        (
            "AAA",
            int(dt.datetime(2026, 11, 16, 15, tzinfo=dt.UTC).timestamp()) * 10**9 + 1,
            10.0,
            10.02,
            300.0,
            500.0,
        )
    ]
    assert query(home, "SELECT row_number, rule, raw FROM quarantine") == [
        (2, "unparseable_number", "AAA,2026-11-16 10:00:01,bad,10.02,300,500,y")
    ]
    params = query(home, "SELECT parameters FROM runs WHERE command = 'ingest'")[0][0]
    assert '"columns": {"symbol": "SYM"' in str(params)


def test_a_mapping_that_names_no_column_or_two_of_one_name_is_refused(
    home: KappaHome, write_csv: WriteCsv
) -> None:
    path = write_csv("q.csv", [["SYM", "symbol", "ts", "bid", "ask", "bid_size", "ask_size"]])
    with pytest.raises(InputError, match="no column 'TICKER'"):
        ingest(home, "quotes", [path], columns={"symbol": "TICKER"})
    with pytest.raises(InputError, match="two columns the name symbol"):
        ingest(home, "quotes", [path], columns={"symbol": "SYM"})
    with pytest.raises(InputError, match="not the taq format"):
        ingest(home, "quotes", [path], columns={"symbol": "SYM"}, format="taq")


def test_the_columns_option_parses_pairs_and_refuses_others() -> None:
    assert parse_columns("symbol=SYM, ts = TIMESTAMP,") == {"symbol": "SYM", "ts": "TIMESTAMP"}
    for bad in ("symbol", "symbol=", "=SYM", "symbol=A,symbol=B"):
        with pytest.raises(ParameterError):
            parse_columns(bad)
    res = run_kappa("ingest", "quotes", "absent.csv", "--columns", "symbol")
    assert res.returncode == 2 and "is not COLUMN=FILE_COLUMN" in res.stderr and "Traceback" not in res.stderr
