"""The ``daily`` rows of a date follow its stored quotes and trades whichever is loaded first, and when the
quotes are replaced: the quotes' per-symbol summary kept beside their lake file never goes stale, and a
trades load reads it instead of the quotes' rows."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

import data.lake.daily as lake_daily
from data.home import KappaHome
from data.ingest import ingest
from tests.conftest import DAY, WriteCsv, query

Q_HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]
T_HEADER = ["symbol", "ts", "price", "size"]


def _quotes(write_csv: WriteCsv, name: str, shift: float) -> Path:
    """Quotes of AAA and BBB; AAA's 10:30 quote spikes out and back (flagged ``mid_jump``)."""
    rows = []
    for i, (hh, mm) in enumerate([(9, 45), (10, 0), (10, 15), (10, 30), (10, 45), (11, 0), (11, 15)]):
        bid = 10.0 + shift + 0.01 * i + (50.0 if (hh, mm) == (10, 30) else 0.0)
        rows.append(["AAA", f"{DAY}T{hh:02d}:{mm:02d}:00-05:00", bid, bid + 0.02, 100, 100])
    for i in range(4):
        bid = 20.0 + 2 * shift - 0.05 * i
        rows.append(["BBB", f"{DAY}T{10 + i:02d}:05:00-05:00", bid, bid + 0.04, 200, 200])
    return write_csv(name, [Q_HEADER, *rows])


def _trades(write_csv: WriteCsv) -> Path:
    """Trades of AAA, BBB and CCC (no quotes: its close is its last price); BBB's 12:06 print lies far above
    its quote (flagged ``outside_quote``)."""
    rows = [
        ["AAA", f"{DAY}T10:00:30-05:00", 10.02, 300],
        ["AAA", f"{DAY}T11:00:30-05:00", 10.06, 500],
        ["BBB", f"{DAY}T10:06:00-05:00", 20.01, 100],
        ["BBB", f"{DAY}T12:06:00-05:00", 29.0, 700],
        ["CCC", f"{DAY}T10:10:00-05:00", 5.0, 50],
        ["CCC", f"{DAY}T14:10:00-05:00", 5.5, 70],
    ]
    return write_csv("t.csv", [T_HEADER, *rows])


def _expected(home: KappaHome) -> list[tuple[object, ...]]:
    """The ``daily`` rows of DAY derived here from the stored lake rows that no rule flags."""
    q = pl.DataFrame(
        query(home, "SELECT symbol, ts, (bid + ask) / 2 FROM quotes WHERE flag IS NULL ORDER BY symbol, ts"),
        schema=["symbol", "ts", "mid"],
        orient="row",
    )
    t = pl.DataFrame(
        query(home, "SELECT symbol, ts, price, size FROM trades WHERE flag IS NULL ORDER BY symbol, ts"),
        schema=["symbol", "ts", "price", "size"],
        orient="row",
    )
    out = []
    for symbol in sorted(set(q["symbol"]) | set(t["symbol"])):
        mids = q.filter(pl.col("symbol") == symbol)["mid"]
        prints = t.filter(pl.col("symbol") == symbol)
        if mids.len():
            o, h, lo, c = mids[0], mids.max(), mids.min(), mids[-1]
        else:
            o, h, lo, c = None, None, None, prints["price"][-1]
        out.append((symbol, o, h, lo, c, float(prints["size"].sum())))
    return out


def _daily(home: KappaHome) -> list[tuple[object, ...]]:
    return query(
        home, f"SELECT symbol, open, high, low, close, volume FROM daily WHERE date = '{DAY}' ORDER BY symbol"
    )


def _same(got: list[tuple[object, ...]], want: list[tuple[object, ...]]) -> None:
    assert [g[0] for g in got] == [w[0] for w in want]
    for g, w in zip(got, want, strict=True):
        for a, b in zip(g[1:], w[1:], strict=True):
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=0, abs_tol=1e-12), (g, w)  # type: ignore[arg-type]


@pytest.mark.parametrize("order", ["quotes first", "trades first"])
def test_daily_is_the_same_whichever_table_loads_first(
    home: KappaHome, write_csv: WriteCsv, order: str
) -> None:
    q, t = _quotes(write_csv, "q.csv", 0.0), _trades(write_csv)
    for table, path in [("quotes", q), ("trades", t)][:: 1 if order == "quotes first" else -1]:
        ingest(home, table, [path])
    assert query(home, "SELECT count(*) FROM quotes WHERE flag = 'mid_jump'") == [(1,)]
    assert query(home, "SELECT count(*) FROM trades WHERE flag = 'outside_quote'") == [(1,)]
    _same(_daily(home), _expected(home))


def test_daily_follows_replaced_quotes_and_trades_read_their_summary(
    home: KappaHome, write_csv: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(home, "quotes", [_quotes(write_csv, "q.csv", 0.0)])
    ingest(home, "trades", [_trades(write_csv)])
    before = _daily(home)
    ingest(home, "quotes", [_quotes(write_csv, "q2.csv", 1.0)])  # replaces AAA and BBB of the date
    after = _daily(home)
    assert after != before
    _same(after, _expected(home))
    ((current,),) = query(home, "SELECT path FROM lake_files WHERE table_name = 'quotes'")
    summary = lake_daily.summary_path(home.lake_file(current))
    assert summary in (home.lake / "quotes").glob("date=*/*.daily")

    def no_quote_reads(*args: object) -> pl.DataFrame:
        raise AssertionError("a trades load read the quotes' rows for the daily rows")

    monkeypatch.setattr(lake_daily, "_quote_summary", no_quote_reads)
    ingest(home, "trades", [_trades(write_csv)])  # against the replaced quotes' summary
    _same(_daily(home), after)
    # the replaced file's summary went with it (retired by the quotes load, deleted by the next)
    assert list((home.lake / "quotes").glob("date=*/*.daily")) == [summary]


def test_quotes_without_a_summary_are_summed_from_their_rows(home: KappaHome, write_csv: WriteCsv) -> None:
    """A quotes file an older Kappa wrote has no summary beside it: the trades load sums its rows."""
    ingest(home, "quotes", [_quotes(write_csv, "q.csv", 0.0)])
    for f in (home.lake / "quotes").glob("date=*/*.daily"):
        f.unlink()
    ingest(home, "trades", [_trades(write_csv)])
    _same(_daily(home), _expected(home))


def test_the_summary_of_rows_in_memory_equals_the_summary_of_their_file(tmp_path: Path) -> None:
    """:func:`data.lake.daily.summary_of_rows` (quotes flagged in memory) and the summary read off the lake
    file holding the same rows agree, ties on a time and flagged first and last rows included."""
    t0 = pl.datetime(2026, 11, 16, 15, time_unit="ns")
    rows = pl.DataFrame(
        {
            "symbol": ["AAA"] * 5 + ["BBB"] * 4 + ["CCC"],
            "ts": [0, 0, 1, 2, 2, 0, 1, 1, 3, 0],
            "bid": [10.25, 10.1, 10.2, 10.4, 10.3, 20.0, 20.5, 20.25, 19.0, 5.0],
            "ask": [10.25, 10.3, 10.4, 10.6, 10.5, 20.1, 20.6, 20.35, 19.2, 5.1],
            "flag": [
                None,
                None,
                "mid_jump",
                None,
                None,
                "wide_spread",
                None,
                None,
                "wide_spread",
                "wide_spread",
            ],
        }
    ).with_columns((t0 + pl.duration(seconds=pl.col("ts"))).alias("ts"))
    path = tmp_path / "q.parquet"
    rows.write_parquet(path)
    home = KappaHome.resolve(tmp_path / "home").ensure()
    from_file = lake_daily._quote_summary(home, str(path))
    in_memory = lake_daily.summary_of_rows(rows.drop("ts"))
    assert in_memory.equals(from_file)
    # AAA: the first row of the first instant opens, the last of the last closes; CCC is all flagged
    expected = [("AAA", 10.25, 10.5, 10.2, 10.4), ("BBB", 20.55, 20.55, 20.3, 20.3)]
    assert [r[0] for r in in_memory.rows()] == [r[0] for r in expected]
    assert [r[1:] for r in in_memory.rows()] == [pytest.approx(r[1:]) for r in expected]
