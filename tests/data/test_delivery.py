"""A load replaces only the date it was delivered for, and no load leaves a fill without its order."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from data.delivery import Delivery, dates_in_name
from data.home import KappaHome
from data.inbox import ingest_inbox
from data.ingest import ingest
from data.load_run import LoadRefusedError
from kappa.errors import InputError
from tests.conftest import WriteCsv, query, run_kappa, snapshot

Q_HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]
O_HEADER = ["order_id", "symbol", "side", "quantity", "arrival_ts", "end_ts"]
F_HEADER = ["fill_id", "order_id", "ts", "price", "quantity"]
D17, D18 = "2026-11-17", "2026-11-18"


def _quote(day: str, time: str, bid: float, offset: str = "-05:00", symbol: str = "AAA") -> list[object]:
    return [symbol, f"{day}T{time}{offset}", bid, round(bid + 0.02, 2), 100, 100]


def _at(day: str, time: str) -> str:
    return f"{day}T{time}-05:00"


def test_a_stray_quote_of_another_date_leaves_that_date_alone(home: KappaHome, write_csv: WriteCsv) -> None:
    ingest(
        home,
        "quotes",
        [write_csv("q17.csv", [Q_HEADER, *[_quote(D17, f"10:0{i}:00", 10 + i) for i in range(4)]])],
    )
    stored_17 = query(home, f"SELECT * FROM quotes WHERE date = '{D17}' ORDER BY ALL")
    stray = _quote(D18, "10:00:00", 12.0, offset="+14:00")  # a wrong offset: 15:00 New York on the 17th
    rows = [
        Q_HEADER,
        _quote(D18, "10:00:00", 11.0),
        _quote(D18, "10:01:00", 11.1),
        _quote(D18, "10:02:00", 11.2),
        stray,
    ]
    new = write_csv("quotes_20261118.csv", rows)
    report = ingest(home, "quotes", [new])
    assert query(home, f"SELECT * FROM quotes WHERE date = '{D17}' ORDER BY ALL") == stored_17
    assert len(stored_17) == 4
    assert query(home, "SELECT CAST(date AS VARCHAR), count(*) FROM quotes GROUP BY 1 ORDER BY 1") == [
        (D17, 4), (D18, 3)]  # fmt: skip
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (4, 3, 1)
    assert report.rows_read == report.rows_loaded + report.rows_quarantined
    assert report.delivered == {str(new): Delivery(dt.date(2026, 11, 18), "file name")}
    ((rule, detail, raw),) = query(home, "SELECT rule, detail, raw FROM quarantine")
    assert rule == "outside_delivered_date"
    assert detail == f"session date {D17} is not the delivered date {D18} (file name)"
    assert raw == new.read_text().splitlines()[-1]
    assert query(home, f"SELECT count(*) FROM replacements WHERE date = '{D17}'") == [(0,)]
    first = snapshot(home)
    ingest(home, "quotes", [new])
    assert snapshot(home) == first


@pytest.mark.parametrize("name", ["orders_20261118.csv", "orders.csv"])
def test_a_multi_day_order_in_the_next_days_file_keeps_that_days_orders_and_fills(
    home: KappaHome, write_csv: WriteCsv, name: str
) -> None:
    _desk(home, write_csv, f2=["F2", "O2", _at(D17, "10:40:00"), 20.0, 60])
    stored_fills = query(home, "SELECT * FROM fills ORDER BY ALL")
    late = write_csv(name, [
        O_HEADER,
        ["O3", "AAA", "buy", 100, _at(D18, "10:00:00"), _at(D18, "15:00:00")],
        ["M", "AAA", "sell", 500, _at(D17, "11:00:00"), _at("2026-11-19", "16:00:00")],  # multi-day
        ["N", "BBB", "buy", 100, _at(D18, "17:30:00"), _at("2026-11-19", "16:00:00")],  # the next session's
        ["S", "AAA", "buy", 100, _at("2026-11-10", "10:00:00"), _at("2026-11-10", "15:00:00")],  # ended before
    ])  # fmt: skip
    report = ingest(home, "orders", [late])
    got = query(home, "SELECT order_id, CAST(date AS VARCHAR) FROM orders ORDER BY 1")
    declared = name != "orders.csv"
    kept = [("M", D17), ("N", "2026-11-19"), ("O1", D17), ("O2", D17), ("O3", D18)]
    assert got == (kept if declared else sorted([*kept, ("S", "2026-11-10")]))
    assert query(home, "SELECT * FROM fills ORDER BY ALL") == stored_fills
    assert report.rows_read == report.rows_loaded + report.rows_quarantined == 4
    assert query(home, "SELECT rule, detail FROM quarantine") == (
        [("outside_delivered_date", f"arrival session 2026-11-10 is not the delivered date {D18} (file name), "
                                    "its next session, nor before it and still working on it")]
        if declared else []
    )  # fmt: skip
    first = snapshot(home)
    ingest(home, "orders", [late])
    assert snapshot(home) == first


def test_drop_folders_with_the_next_sessions_orders_keep_every_order_and_fill(
    home: KappaHome, write_csv: WriteCsv
) -> None:
    """Each evening's folder holds the day's fills and the next session's orders (as the demo delivers
    them): a night's orders file holds none of its own date's orders, which stay, as do their fills."""
    d19 = "2026-11-19"
    write_csv(f"inbox/{D17}/orders-next-session.csv", [
        O_HEADER, ["A", "AAA", "buy", 100, _at(D18, "09:45:00"), _at(D18, "15:00:00")]])  # fmt: skip
    write_csv(f"inbox/{D18}/orders-next-session.csv", [
        O_HEADER, ["B", "AAA", "sell", 100, _at(d19, "09:45:00"), _at(d19, "15:00:00")]])  # fmt: skip
    write_csv(f"inbox/{D18}/fills.csv", [F_HEADER, ["FA", "A", _at(D18, "10:00:00"), 10.0, 100]])
    inbox = home.root.parent / "inbox"
    nights = [ingest_inbox(home, inbox / D17), ingest_inbox(home, inbox / D18)]
    assert [r.rows_quarantined for night in nights for r in night.loads] == [0, 0, 0]
    first = snapshot(home)
    assert [r[0] for r in first["orders"]] == ["A", "B"] and [r[0] for r in first["fills"]] == ["FA"]
    assert query(home, "SELECT order_id, CAST(delivered_date AS VARCHAR) FROM orders ORDER BY 1") == [
        ("A", D17), ("B", D18)]  # fmt: skip
    ingest_inbox(home, inbox / D17)  # a night run again, after the next one: nothing changes
    ingest_inbox(home, inbox / D18)
    assert snapshot(home) == first


def test_date_then_drop_folder_then_file_name_declare_the_delivered_date(
    tmp_path: Path, write_csv: WriteCsv
) -> None:
    rows = [Q_HEADER, *[_quote(day, f"10:0{i}:00", 10 + i) for day in (D17, D18) for i in range(3)]]
    named = write_csv("quotes_20261117.csv", rows)
    dropped = write_csv(f"inbox/{D18}/quotes_20261117.csv", rows)
    cases = [
        (named, None, D17, "file name"),
        (dropped, None, D18, "drop folder"),
        (dropped, dt.date(2026, 11, 17), D17, "--date"),
    ]
    for k, (path, given, day, by) in enumerate(cases):
        home = KappaHome.resolve(tmp_path / f"home{k}")
        report = ingest(home, "quotes", [path], date=given)
        assert report.delivered[str(path)] == Delivery(dt.date.fromisoformat(day), by)
        assert query(home, "SELECT DISTINCT CAST(date AS VARCHAR) FROM quotes") == [(day,)]
        assert (report.rows_loaded, report.quarantined_by_rule) == (3, {"outside_delivered_date": 3})
    folder = ingest_inbox(KappaHome.resolve(tmp_path / "nightly"), dropped.parent)
    assert [r.delivered[str(dropped)] for r in folder.loads] == [
        Delivery(dt.date(2026, 11, 18), "drop folder")
    ]
    undeclared = KappaHome.resolve(tmp_path / "undeclared")
    report = ingest(undeclared, "quotes", [write_csv("quotes.csv", rows)])
    assert (report.rows_loaded, report.delivered[str(tmp_path / "quotes.csv")]) == (6, Delivery())
    with pytest.raises(InputError, match="2026-11-15 is not a session of XNYS"):
        ingest(undeclared, "quotes", [named], date=dt.date(2026, 11, 15))
    sunday = write_csv("quotes_20261115.csv", rows)
    with pytest.raises(
        InputError, match=r"quotes_20261115.csv: the delivered date \(file name\) 2026-11-15 is not"
    ):
        ingest(undeclared, "quotes", [sunday])
    assert dates_in_name("AAPL_2012-06-21_34200000_57600000_message_10.csv") == {dt.date(2012, 6, 21)}
    assert dates_in_name("EQY_US_ALL_NBBO_20261118.gz") == {dt.date(2026, 11, 18)}
    assert dates_in_name("quotes_2026-11-01_2026-11-30.csv") == {dt.date(2026, 11, 1), dt.date(2026, 11, 30)}


def _desk(home: KappaHome, write_csv: WriteCsv, f2: list[object] | None = None) -> None:
    """The 17th's desk: orders O1 (AAA buy) and O2 (BBB sell), fills F1 of O1 and ``f2`` (default: a second
    fill of O1)."""
    ingest(home, "orders", [write_csv("orders_2026-11-17.csv", [
        O_HEADER,
        ["O1", "AAA", "buy", 100, _at(D17, "10:00:00"), _at(D17, "15:00:00")],
        ["O2", "BBB", "sell", 100, _at(D17, "10:30:00"), _at(D17, "15:30:00")],
    ])])  # fmt: skip
    f2 = f2 or ["F2", "O1", _at(D17, "10:20:00"), 10.0, 50]
    ingest(
        home, "fills", [write_csv("fills.csv", [F_HEADER, ["F1", "O1", _at(D17, "10:10:00"), 10.0, 50], f2])]
    )


@pytest.mark.parametrize(
    ("o1", "why"),
    [
        (None, "no longer holds 1 stored order(s) with fills: O1 (fills F1, F2)"),
        (["O1", "AAA", "buy", 80, _at(D17, "10:00:00"), _at(D17, "15:00:00")], "O1 (F2 overfill)"),
        (
            ["O1", "AAA", "buy", 100, _at(D17, "10:00:00"), _at(D17, "10:15:00")],
            "O1 (F2 fill_outside_window)",
        ),
        (["O1", "BBB", "buy", 100, _at(D17, "10:00:00"), _at(D17, "15:00:00")], "O1 AAA buy → BBB buy"),
        (["O1", "AAA", "sell", 100, _at(D17, "10:00:00"), _at(D17, "15:00:00")], "O1 AAA buy → AAA sell"),
    ],
)
def test_an_orders_reload_that_would_orphan_fills_is_refused(
    home: KappaHome, write_csv: WriteCsv, o1: list[object] | None, why: str
) -> None:
    _desk(home, write_csv)
    before = snapshot(home)
    replacements = query(home, "SELECT * FROM replacements ORDER BY ALL")
    o2 = ["O2", "BBB", "sell", 100, _at(D17, "10:30:00"), _at(D17, "15:30:00")]
    again = write_csv("redelivery.csv", [O_HEADER, *([o1] if o1 else []), o2])
    with pytest.raises(LoadRefusedError, match=f"{re.escape(why)}.*nothing was loaded") as refused:
        ingest(home, "orders", [again], date=dt.date(2026, 11, 17))
    assert "\n" not in str(refused.value)
    assert snapshot(home) == before
    assert query(home, "SELECT * FROM replacements ORDER BY ALL") == replacements
    assert query(home, "SELECT status FROM runs ORDER BY started_at DESC LIMIT 1") == [("failed",)]


@pytest.mark.parametrize("content", ["", ",".join(O_HEADER) + "\n"])
def test_an_empty_orders_file_removes_no_stored_order(home: KappaHome, tmp_path: Path, content: str) -> None:
    """A zero-byte or header-only file delivered for a date (a truncated transfer, more often than a day
    without orders) keeps that date's orders, with a warning naming the file."""
    stored = [[f"O{i}", "AAA", "buy", 100, _at(D17, "10:00:00"), _at(D17, "15:00:00")] for i in (1, 2, 3)]
    first = tmp_path / "orders_20261117.csv"
    first.write_text("\n".join(",".join(map(str, r)) for r in [O_HEADER, *stored]) + "\n")
    ingest(home, "orders", [first])
    before = snapshot(home)
    empty = tmp_path / "again" / "orders_20261117.csv"
    empty.parent.mkdir()
    empty.write_text(content)
    report = ingest(home, "orders", [empty])
    assert snapshot(home) == before
    assert any("kept 3 stored order(s)" in w and "holds no rows" in w for w in report.warnings)


def test_a_valid_orders_reload_revalidates_the_fills_and_reports_what_it_replaced(
    home: KappaHome, write_csv: WriteCsv
) -> None:
    _desk(home, write_csv)
    fills = query(home, "SELECT * FROM fills ORDER BY ALL")
    again = write_csv(
        "redelivery.csv", [O_HEADER, ["O1", "AAA", "buy", 150, _at(D17, "10:05:00"), _at(D17, "15:30:00")]]
    )
    report = ingest(home, "orders", [again], date=dt.date(2026, 11, 17))
    assert query(home, "SELECT order_id, quantity FROM orders") == [("O1", 150.0)]  # O2 had no fills: removed
    assert query(home, "SELECT * FROM fills ORDER BY ALL") == fills
    assert [(str(r.date), r.key, r.rows_before, r.rows_after) for r in report.replaced] == [
        (D17, "AAA", 1, 1), (D17, "BBB", 1, 0)]  # fmt: skip
    assert query(home, f"SELECT key, rows_before, rows_after FROM replacements WHERE run_id = '{report.run_id}' "
                       "ORDER BY key") == [("AAA", 1, 1), ("BBB", 1, 0)]  # fmt: skip
    assert report.rows_read == report.rows_loaded == 1
    f3, f4 = ["F3", "O1", _at(D17, "10:02:00"), 10.0, 10], ["F4", "O1", _at(D17, "10:30:00"), 10.0, 10]
    late = write_csv("late-fills.csv", [F_HEADER, f3, f4])
    ingest(home, "fills", [late])  # F3 before the new arrival: the fills load applies the same window
    assert query(home, "SELECT fill_id FROM fills ORDER BY 1") == [("F1",), ("F2",), ("F4",)]
    assert query(home, "SELECT rule, row_number FROM quarantine") == [("fill_outside_window", 1)]


def test_an_order_is_dated_to_the_first_session_it_can_be_worked_in(
    home: KappaHome, write_csv: WriteCsv
) -> None:
    end = _at("2026-12-01", "16:00:00")
    arrivals = {
        "sunday": ("2026-11-15T12:00:00-05:00", "2026-11-16"),
        "before_open": ("2026-11-17T08:00:00-05:00", D17),
        "at_close": ("2026-11-16T16:00:00-05:00", D17),
        "after_close": ("2026-11-16T16:30:00-05:00", D17),
        "thanksgiving": ("2026-11-26T10:00:00-05:00", "2026-11-27"),
        "early_close": ("2026-11-27T13:30:00-05:00", "2026-11-30"),
        "in_session": ("2026-11-18T10:00:00-05:00", D18),
    }
    rows = [[k, "AAA", "buy", 100, ts, end] for k, (ts, _) in arrivals.items()]
    rows.append(["beyond", "AAA", "buy", 100, "2090-01-03T10:00:00-05:00", "2090-01-04T10:00:00-05:00"])
    ingest(home, "orders", [write_csv("o.csv", [O_HEADER, *rows])])
    got = dict(query(home, "SELECT order_id, CAST(date AS VARCHAR) FROM orders"))
    assert got == {k: day for k, (_, day) in arrivals.items()}
    assert query(home, "SELECT rule, detail FROM quarantine") == [("outside_session", "arrival_ts")]


def test_kappa_ingest_date_declares_it_and_a_refusal_is_one_line(
    home: KappaHome, write_csv: WriteCsv
) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    _desk(home, write_csv)
    o2 = ["O2", "BBB", "sell", 100, _at(D17, "10:30:00"), _at(D17, "15:30:00")]
    again = write_csv("redelivery.csv", [O_HEADER, o2])
    res = run_kappa("ingest", "orders", str(again), "--date", D17, "--home", str(home.root))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "O1 (fills F1, F2)" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = CliRunner().invoke(
        app, ["ingest", "orders", str(again), "--date", "2026-11-15", "--home", str(home.root)]
    )
    assert isinstance(res.exception, InputError) and "2026-11-15 is not a session" in str(res.exception)
