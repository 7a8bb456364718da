"""Load semantics: idempotent reloads, corrected files replace their date, formats and batching agree,
daily rows derive from intraday data, and every load is recorded."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from data.home import KappaHome
from data.ingest import ingest
from data.load_run import LoadRefusedError
from tests.conftest import DAY, WriteCsv, query, snapshot

Q_HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]


def _quotes(write_csv: WriteCsv, name: str, rows: list[tuple[str, str, float, float]]) -> Path:
    return write_csv(name, [Q_HEADER, *[[s, f"{DAY}T{t}-05:00", b, a, 100, 100] for s, t, b, a in rows]])


def test_loading_the_same_file_twice_changes_nothing(home: KappaHome, write_csv: WriteCsv) -> None:
    q = _quotes(write_csv, "q.csv", [("AAA", "10:00:00", 10.0, 10.02), ("AAA", "10:00:01", 10.01, 10.0)])
    t = write_csv(
        "t.csv", [["symbol", "ts", "price", "size"], ["AAA", f"{DAY}T10:00:00.5-05:00", 10.02, 300]]
    )
    ingest(home, "quotes", [q])
    ingest(home, "trades", [t])
    first = snapshot(home)
    ingest(home, "quotes", [q])
    ingest(home, "trades", [t])
    assert snapshot(home) == first
    assert len(first["quarantine"]) == 1  # the crossed quote, once, not twice
    # the replaced lake files are gone: one file per table and date
    assert len(list((home.lake / "quotes").glob("date=*/*.parquet"))) == 1
    # the quotes file's crossed quote is half of it: a warning each time
    assert query(home, "SELECT status, count(*) FROM runs GROUP BY ALL ORDER BY 1") == [
        ("success", 2),
        ("warning", 2),
    ]


def test_corrected_file_replaces_its_date_and_symbols(home: KappaHome, write_csv: WriteCsv) -> None:
    day1 = _quotes(
        write_csv,
        "day1.csv",
        [
            ("AAA", "10:00:00", 10.0, 10.02),
            ("AAA", "11:00:00", 10.1, 10.12),
            ("BBB", "10:00:00", 20.0, 20.02),
        ],
    )
    other_day = write_csv("day2.csv", [Q_HEADER, ["AAA", "2026-11-17T10:00:00-05:00", 11.0, 11.02, 1, 1]])
    ingest(home, "quotes", [day1, other_day])
    corrected = _quotes(write_csv, "day1_fixed.csv", [("AAA", "10:30:00", 10.5, 10.52)])
    report = ingest(home, "quotes", [corrected])
    assert [str(d) for d in report.dates] == [DAY]
    rows = query(home, "SELECT symbol, CAST(date AS VARCHAR), bid FROM quotes ORDER BY date, symbol, ts")
    assert rows == [("AAA", DAY, 10.5), ("BBB", DAY, 20.0), ("AAA", "2026-11-17", 11.0)]
    # the daily row of the corrected date follows the correction
    assert query(home, f"SELECT close FROM daily WHERE symbol = 'AAA' AND date = '{DAY}'") == [(10.51,)]


def test_orders_merge_by_id_or_replace_their_delivered_date_fills_by_id(
    home: KappaHome, write_csv: WriteCsv
) -> None:
    header = ["order_id", "symbol", "side", "quantity", "arrival_ts", "end_ts"]
    a, e = f"{DAY}T10:00:00-05:00", f"{DAY}T11:00:00-05:00"
    v1 = write_csv(
        "o1.csv",
        [
            header,
            ["o1", "AAA", "buy", 100, a, e],
            ["o2", "AAA", "buy", 100, a, e],
            ["o3", "BBB", "sell", 100, a, e],
        ],
    )
    ingest(home, "orders", [v1], date=dt.date.fromisoformat(DAY))
    v2 = write_csv("o2.csv", [header, ["o1", "AAA", "buy", 200, a, e]])
    ingest(home, "orders", [v2])  # no date declared: merged by order_id
    assert query(home, "SELECT order_id, quantity FROM orders ORDER BY 1") == [
        ("o1", 200.0), ("o2", 100.0), ("o3", 100.0)]  # fmt: skip
    ingest(home, "orders", [v2], date=dt.date.fromisoformat(DAY))  # the date's delivery again: replaces it
    assert query(home, "SELECT order_id, quantity FROM orders ORDER BY 1") == [("o1", 200.0)]
    fh = ["fill_id", "order_id", "ts", "price", "quantity"]
    f1 = write_csv("f1.csv", [fh, ["f1", "o1", f"{DAY}T10:10:00-05:00", 10, 50]])
    f2 = write_csv("f2.csv", [fh, ["f2", "o1", f"{DAY}T10:20:00-05:00", 10, 50]])
    f1b = write_csv("f1b.csv", [fh, ["f1", "o1", f"{DAY}T10:10:00-05:00", 10.5, 60]])
    ingest(home, "fills", [f1])
    ingest(home, "fills", [f2])
    ingest(home, "fills", [f1b])
    assert query(home, "SELECT fill_id, price, quantity FROM fills ORDER BY 1") == [
        ("f1", 10.5, 60.0),
        ("f2", 10.0, 50.0),
    ]


def test_parquet_and_csv_and_batching_agree(home: KappaHome, tmp_path: Path, write_csv: WriteCsv) -> None:
    rows = [
        ("AAA", f"10:{m:02d}:{s:02d}", 10 + m / 100, 10.02 + m / 100)
        for m in range(30)
        for s in range(0, 60, 7)
    ]
    rows.append(("AAA", "10:59:59", 11.0, 10.0))  # crossed
    csv_path = _quotes(write_csv, "q.csv", rows)
    ingest(home, "quotes", [csv_path])
    from_csv = snapshot(home)
    other = KappaHome.resolve(tmp_path / "other")
    pq_path = tmp_path / "q.parquet"
    frame = pl.read_csv(csv_path, infer_schema=False).rename(str.upper)  # names are case-insensitive
    frame = frame.with_columns(pl.col("BID", "ASK").cast(pl.Float64))
    frame.write_parquet(pq_path)
    ingest(other, "quotes", [pq_path], batch_rows=17)
    from_pq = snapshot(other)
    assert from_pq["quotes"] == from_csv["quotes"]
    # the same rows, rules and columns; raw is each file's row as it stands: a line, or the Parquet values
    assert [r[2:-1] for r in from_pq["quarantine"]] == [r[2:-1] for r in from_csv["quarantine"]]
    ((csv_raw,),) = query(home, "SELECT raw FROM quarantine")
    ((pq_raw,),) = query(other, "SELECT raw FROM quarantine")
    assert (
        csv_raw == csv_path.read_text().splitlines()[-1] == "AAA,2026-11-16T10:59:59-05:00,11.0,10.0,100,100"
    )
    assert json.loads(str(pq_raw)) == {"SYMBOL": "AAA", "TS": "2026-11-16T10:59:59-05:00", "BID": "11.0",
                                       "ASK": "10.0", "BID_SIZE": "100", "ASK_SIZE": "100"}  # fmt: skip
    third = KappaHome.resolve(tmp_path / "third")
    ingest(third, "quotes", [csv_path], batch_rows=5)
    assert snapshot(third)["quotes"] == from_csv["quotes"]


def test_daily_rows_from_intraday_days(home: KappaHome, write_csv: WriteCsv) -> None:
    q = _quotes(
        write_csv,
        "q.csv",
        [("AAA", "09:30:00", 10.0, 10.02), ("AAA", "12:00:00", 9.0, 9.02), ("AAA", "15:59:59", 10.5, 10.52)],
    )
    t = write_csv(
        "t.csv",
        [
            ["symbol", "ts", "price", "size"],
            ["AAA", f"{DAY}T10:00:00-05:00", 10.0, 300],
            ["AAA", f"{DAY}T11:00:00-05:00", 10.0, 200],
        ],
    )
    ingest(home, "quotes", [q])
    ingest(home, "trades", [t])
    assert query(home, "SELECT open, high, low, close, volume, source FROM daily") == [
        (10.01, 10.51, 9.01, 10.51, 500.0, "intraday")
    ]
    d = write_csv("d.csv", [["symbol", "date", "close", "volume"], ["AAA", "2026-11-13", 9.5, 1e6]])
    ingest(home, "daily", [d])
    assert query(home, "SELECT CAST(date AS VARCHAR), source FROM daily ORDER BY date") == [
        ("2026-11-13", "file"),
        (DAY, "intraday"),
    ]


def test_runs_and_loads_record_every_load(home: KappaHome, write_csv: WriteCsv) -> None:
    q = _quotes(write_csv, "q.csv", [("AAA", "10:00:00", 10.0, 10.02), ("AAA", "10:00:01", 10.01, 10.0)])
    report = ingest(home, "quotes", [q])
    run = query(
        home,
        f"SELECT command, status, rows_written, rows_quarantined FROM runs WHERE run_id = '{report.run_id}'",
    )
    assert run == [("ingest", "warning", 1, 1)]  # 1 of 2 rows quarantined: above the 1 % of a warning
    load = query(
        home, "SELECT source_file, rows_read, rows_loaded, rows_quarantined, length(sha256) FROM loads"
    )
    assert load == [(str(q), 2, 1, 1, 64)]


def test_a_file_named_twice_loads_once(home: KappaHome, write_csv: WriteCsv) -> None:
    t = write_csv("t.csv", [["symbol", "ts", "price", "size"], ["AAA", f"{DAY}T10:00:00-05:00", 10.0, 100]])
    report = ingest(home, "trades", [t, t])
    assert (report.rows_read, report.rows_loaded) == (1, 1)
    assert query(home, "SELECT volume FROM daily") == [(100.0,)]


def test_concurrent_loads_of_one_date_keep_both(home: KappaHome, write_csv: WriteCsv) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    files = [
        _quotes(
            write_csv,
            f"{s}.csv",
            [(s, f"10:{m:02d}:{sec:02d}", 10.0, 10.02) for m in range(60) for sec in range(60)],
        )
        for s in ("AAA", "BBB", "CCC")
    ]
    code = "import sys; from pathlib import Path; from data.home import KappaHome; from data.ingest import ingest;"
    code += f"ingest(KappaHome.resolve({str(home.root)!r}), 'quotes', [Path(sys.argv[1])])"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(f)], cwd=REPO) for f in files]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    assert query(home, "SELECT symbol, count(*) FROM quotes GROUP BY 1 ORDER BY 1") == [
        ("AAA", 3600), ("BBB", 3600), ("CCC", 3600)]  # fmt: skip
    current = {home.lake_file(p) for (p,) in query(home, "SELECT path FROM lake_files")}
    retired = {home.lake_file(p) for (p,) in query(home, "SELECT path FROM retired_files")}
    # one file for the date; the file the last load replaced waits for the next load (the one before it
    # was deleted at the start of the last)
    assert (len(current), len(retired)) == (1, 1)
    assert set((home.lake / "quotes").glob("date=*/*.parquet")) == current | retired


def test_a_refused_reload_keeps_the_quarantine_of_the_stored_load(
    home: KappaHome, write_csv: WriteCsv
) -> None:
    """A file loaded with one bad row, then replaced by a version mostly bad (refused): the stored rows and
    the stored load's quarantine row stay; the refusal adds its examples, once however often it is retried."""
    good = [("AAA", f"10:00:0{i}", 10.0, 10.02) for i in range(9)]
    path = _quotes(write_csv, "q.csv", [*good, ("AAA", "10:00:09", 10.05, 10.0)])  # one crossed quote
    ingest(home, "quotes", [path])
    stored = query(home, "SELECT count(*) FROM quotes")
    by_status = (
        "SELECT rule, count(*) FROM quarantine JOIN runs USING (run_id) WHERE status {} 'failed' GROUP BY ALL"
    )
    kept, refused = by_status.format("<>"), by_status.format("=")
    assert query(home, kept) == [("bid_gt_ask", 1)]
    _quotes(write_csv, "q.csv", [*good[:2], *[("AAA", f"10:01:0{i}", 10.05, 10.0) for i in range(8)]])
    for _ in range(2):
        with pytest.raises(LoadRefusedError):
            ingest(home, "quotes", [path])
    assert query(home, "SELECT count(*) FROM quotes") == stored
    assert query(home, kept) == [("bid_gt_ask", 1)]
    assert query(home, refused) == [("bid_gt_ask", 8)]  # the last refusal's examples only
