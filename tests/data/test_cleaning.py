"""Tape cleaning (data.cleaning): quotes and prints outside the market stay in the lake, flagged, and no
estimate or benchmark reads them."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from data.cleaning import quote_flags, trade_flags
from data.home import KappaHome
from data.ingest import ingest
from tests.conftest import DAY, WriteCsv, query

Q_HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]
OPEN = dt.datetime(2026, 11, 16, 14, 30)  # DAY's open in UTC (09:30 EST)


def _utc(t: dt.datetime) -> str:
    return t.isoformat(timespec="microseconds") + "Z"


def test_quote_rules_by_hand() -> None:
    q = pl.DataFrame(
        {
            "symbol": ["A"] * 9 + ["B"] * 3 + ["C"] * 3,
            # A: median spread 0.02; a stub ask 200 (spread 100.01 > 50 × 0.02), then a one-quote spike of the
            # mid to 100.50 (0.50 > 10 × 0.02 from both neighbours), then a real move that stays (100.30)
            "bid": [99.99, 99.99, 99.99, 99.99, 100.49, 99.99, 99.99, 100.29, 100.29]
            + [10.0, 9.0, 10.5]
            + [5.0] * 3,
            "ask": [100.01, 100.01, 200.0, 100.01, 100.51, 100.01, 100.01, 100.31, 100.31]
            + [10.02, 9.02, 10.52]
            + [5.0] * 3,
        }
    )
    # B: three sparse quotes whose mid wanders by a dollar: the median absolute deviation of the mids
    # (0.50) sets the bar at 5.00, so nothing is flagged; C: locked all day (no positive spread): no rule
    assert (
        quote_flags(q).to_list()
        == [None, None, "wide_spread", None, "mid_jump", None, None, None, None] + [None] * 6
    )
    # 50 × the median spread (0.02) is 1.00: a spread of 1.01 is over it; 0.99 is not, but its mid (10.495)
    # is a spike of 0.485 > 10 × 0.02 from both neighbours
    edge = pl.DataFrame({"symbol": ["A"] * 3, "bid": [10.0, 10.0, 10.0], "ask": [10.02, 11.01, 10.02]})
    assert quote_flags(edge).to_list() == [None, "wide_spread", None]
    assert quote_flags(edge.with_columns(ask=pl.Series([10.02, 10.99, 10.02]))).to_list() == [
        None,
        "mid_jump",
        None,
    ]


def test_trade_rules_by_hand() -> None:
    t0 = dt.datetime(2026, 11, 16, 15)
    s = dt.timedelta(seconds=1)
    quotes = pl.DataFrame(
        {
            "symbol": ["A"] * 4,
            "ts": [t0, t0 + 2 * s, t0 + 2 * s, t0 + 5 * s],
            "bid": [39.99, 39.99, 39.98, 10.0],
            "ask": [40.01, 40.01, 40.02, 200.0],
            "flag": [None, None, None, "wide_spread"],
        },
        schema_overrides={"flag": pl.String},
    )
    trades = pl.DataFrame(
        {
            "symbol": ["A"] * 8,
            "ts": [t0 - s, t0, t0 + s, t0 + s, t0 + 3 * s, t0 + 3 * s, t0 + 4 * s, t0 + 6 * s],
            "price": [30.0, 30.0, 40.029, 40.031, 39.941, 39.939, 40.0, 40.05],
            "conditions": ["@", None, "@ FI", "@", "@", "F", "@ Z", None],
        }
    )
    # before the first quote there is no reference; at its instant, it is the reference;
    # ask + spread of 39.99/40.01 is 40.03: 40.029 inside, 40.031 outside; at +3 s the prevailing quote is the
    # last of the two at +2 s (39.98/40.02, spread 0.04; bid − spread 39.94): 39.941 inside, 39.939 outside;
    # 'Z' (out of sequence) is a condition whatever the price; the flagged stub at +5 s is no reference:
    # 40.05 is judged against 39.98/40.02 (40.06 the limit), not 10/200
    assert trade_flags(trades, quotes).to_list() == [
        None, "outside_quote", None, "outside_quote", None, "outside_quote", "condition", None,
    ]  # fmt: skip


def _quote_rows(mids: np.ndarray, every_s: float) -> list[list[object]]:
    return [
        [
            "AAA",
            _utc(OPEN + dt.timedelta(seconds=i * every_s)),
            round(m - 0.01, 6),
            round(m + 0.01, 6),
            100,
            100,
        ]
        for i, m in enumerate(mids)
    ]


def _sigmas(home: KappaHome) -> tuple[float, float]:
    from data.lake.files import reading_lake
    from flows.calibrate import calibrate_batch, finish_calibration, plan_calibration

    with reading_lake(home):
        plan = plan_calibration(home, dt.date(2026, 11, 16), lookback_days=1)
        rows = finish_calibration(plan, [calibrate_batch(b) for b in plan.batches])
    return rows.select("sigma_usd", "sigma_tsrv_usd").row(0)


def test_a_stub_quote_on_a_boundary_leaves_sigma_unchanged(tmp_path: Path, write_csv: WriteCsv) -> None:
    rng = np.random.default_rng(7)
    n = 2340  # a quote every 10 s over the 6.5-hour session
    mids = 100.0 + np.cumsum(rng.normal(0.0, 0.48 / math.sqrt(n), n))
    rows = _quote_rows(mids, 10.0)
    # the case: a stub (ask 200 with the market at 100) 100 ms before the 15:00 boundary, replaced
    # 250 ms later by the quote that stood before it: the boundary's mid becomes about 150 (σ was 57 $/√day,
    # the two-scales σ 1.12, where the tape without the stub gives 0.515 and 0.502)
    at = 180  # 15:00:00
    stub_ts, back_ts = OPEN + dt.timedelta(seconds=at * 10 - 0.1), OPEN + dt.timedelta(seconds=at * 10 + 0.15)
    stub = ["AAA", _utc(stub_ts), rows[at - 1][2], 200.0, 100, 100]
    back = ["AAA", _utc(back_ts), *rows[at - 1][2:]]
    clean = write_csv("clean.csv", [Q_HEADER, *rows[:at], back, *rows[at + 1 :]])
    dirty = write_csv("dirty.csv", [Q_HEADER, *rows[:at], stub, back, *rows[at + 1 :]])
    homes = {}
    for name, path in (("clean", clean), ("dirty", dirty)):
        homes[name] = KappaHome.resolve(tmp_path / name)
        ingest(homes[name], "quotes", [path])
    truth, got = _sigmas(homes["clean"]), _sigmas(homes["dirty"])
    assert 0.3 < truth[0] < 0.7  # the simulated path's σ, 0.48 $/√day in expectation
    assert got == pytest.approx(truth, rel=1e-12)
    h = homes["dirty"]
    # kept in the lake, flagged, and counted
    assert query(h, "SELECT count(*), count(flag) FROM quotes") == [(n + 1, 1)]
    assert query(h, "SELECT ask, flag FROM quotes WHERE flag IS NOT NULL") == [(200.0, "wide_spread")]
    assert query(h, "SELECT table_name, symbol, rule, rows FROM flagged_rows") == [
        ("quotes", "AAA", "wide_spread", 1)
    ]
    # the daily bar is of the clean mids: its high is the path's, not the stub's 150
    high = max((r[2] + r[3]) / 2 for r in [*rows[:at], back, *rows[at + 1 :]])  # type: ignore[operator]
    assert query(h, "SELECT high FROM daily")[0][0] == pytest.approx(high, abs=1e-9)


def _minute(m: float) -> str:
    return _utc(OPEN + dt.timedelta(minutes=m))


@pytest.mark.parametrize("late_condition", ["Z", ""])
def test_a_late_print_below_the_bid_leaves_the_benchmarks_unchanged(
    home: KappaHome, write_csv: WriteCsv, late_condition: str
) -> None:
    from data.lake.files import reading_lake
    from flows.attribute import attribute_batch, plan_attribution

    q = write_csv(
        "q.csv", [Q_HEADER, *[["AAA", _minute(m), 39.99, 40.01, 100, 100] for m in range(0, 390, 1)]]
    )
    t = write_csv(
        "t.csv",
        [
            ["symbol", "ts", "price", "size", "conditions"],
            ["AAA", _minute(35.5), 40.00, 300, "@"],
            ["AAA", _minute(40.5), 40.00, 100, "@ F"],
            # a late report two dollars below the bid, stamped inside the order's window: flagged by its sale
            # condition (out of sequence) or, without one, by its price (below bid − spread = 39.97)
            ["AAA", _minute(45.5), 37.99, 100, late_condition],
            ["AAA", _minute(60.5), 40.00, 100, "@"],
        ],
    )
    o = write_csv(
        "o.csv",
        [
            ["order_id", "symbol", "side", "quantity", "arrival_ts", "end_ts"],
            ["o1", "AAA", "buy", 200, _minute(30), _minute(60)],
        ],
    )
    f = write_csv(
        "f.csv",
        [["fill_id", "order_id", "ts", "price", "quantity"], ["f1", "o1", _minute(50.25), 40.01, 100]],
    )
    ingest(home, "trades", [t])  # before the quotes: rule T4 has no quote yet; the quotes load flags it
    ingest(home, "quotes", [q])
    ingest(home, "orders", [o])
    ingest(home, "fills", [f])
    rule = "condition" if late_condition else "outside_quote"
    assert query(home, "SELECT price, flag FROM trades WHERE flag IS NOT NULL") == [(37.99, rule)]
    assert query(home, "SELECT table_name, rule, rows FROM flagged_rows") == [("trades", rule, 1)]
    # daily volume counts the market's trades only
    assert query(home, "SELECT volume FROM daily") == [(500.0,)]
    with reading_lake(home):
        batches = plan_attribution(home, dt.date.fromisoformat(DAY))
        row = attribute_batch(batches[0]).row(0, named=True)
    # by hand: over [arrival, end] the market traded 300 + 100 at 40.00 (the late print at 37.99 made it
    # (400 · 40 + 100 · 37.99) / 500 = 39.598); from arrival to the last fill, 400 shares at 40.00
    assert row["interval_vwap_usd"] == pytest.approx(40.0, abs=1e-12)
    assert row["pwp_usd"] == pytest.approx(40.0, abs=1e-12)
    assert row["market_volume_shares"] == 400.0
    assert row["participation_rate"] == pytest.approx(100 / 400, abs=1e-12)


def test_reloading_gives_the_same_flags(home: KappaHome, write_csv: WriteCsv) -> None:
    rows = [["AAA", _minute(m), 9.99, 10.01, 100, 100] for m in range(0, 60)]
    rows[30] = ["AAA", _minute(30), 9.99, 12.0, 100, 100]  # spread 2.01 > 50 × 0.02
    q = write_csv("q.csv", [Q_HEADER, *rows])
    t = write_csv(
        "t.csv", [["symbol", "ts", "price", "size", "conditions"], ["AAA", _minute(10.5), 10.0, 100, "4"]]
    )
    assert ingest(home, "quotes", [q]).flagged_by_rule == {("quotes", "wide_spread"): 1}
    assert ingest(home, "trades", [t]).flagged_by_rule == {("trades", "condition"): 1}
    sql = "SELECT table_name, date, symbol, rule, rows FROM flagged_rows ORDER BY ALL"
    first = query(home, sql), query(home, "SELECT flag FROM quotes UNION ALL SELECT flag FROM trades")
    ingest(home, "quotes", [q])
    ingest(home, "trades", [t])
    assert (
        query(home, sql),
        query(home, "SELECT flag FROM quotes UNION ALL SELECT flag FROM trades"),
    ) == first
    day = dt.date.fromisoformat(DAY)
    assert first[0] == [("quotes", day, "AAA", "wide_spread", 1), ("trades", day, "AAA", "condition", 1)]


@pytest.mark.parametrize("span_days", [1, 20_000])  # the integer keys; times too far apart for them
def test_the_prevailing_quote_is_the_last_clean_quote_of_the_symbol_at_or_before_the_trade(
    span_days: int,
) -> None:
    """Rule T4's prevailing quote against a loop over the quotes, trade by trade: symbols with no quotes,
    quotes of symbols without trades, trades before a symbol's first quote and at a quote's very time,
    several quotes at one time (the last counts) and flagged quotes (skipped)."""
    rng = np.random.default_rng(5)
    t0 = dt.datetime(1990, 1, 1)
    span = span_days * 86_400 * 10**9

    def frame(symbols: list[str], n: int) -> pl.DataFrame:
        ts = rng.integers(0, 50, n) * (span // 50)  # few distinct times: many ties
        f = pl.DataFrame({"symbol": rng.choice(symbols, n), "ns": ts})
        return f.with_columns(
            (pl.lit(t0) + pl.duration(nanoseconds=pl.col("ns"))).dt.cast_time_unit("ns").alias("ts")
        )

    quotes = frame(["AA", "BB", "CC", "ZZ"], 400).sort("symbol", "ts", maintain_order=True)
    quotes = quotes.with_columns(
        pl.Series("bid", rng.uniform(10, 11, quotes.height)),
        pl.Series("flag", rng.choice(np.array([None, None, None, "wide_spread"], dtype=object), quotes.height),
                  dtype=pl.String),
    ).with_columns((pl.col("bid") + 0.01).alias("ask"))  # fmt: skip
    trades = frame(["AA", "BB", "DD", "ZZ"], 300).sort("symbol", "ts", maintain_order=True)
    trades = trades.with_columns(
        pl.Series("price", rng.choice([10.5, 10.5, 10.5, 12.0], trades.height)),
        pl.lit(None, dtype=pl.String).alias("conditions"),
    )
    expected = []
    clean = [r for r in quotes.iter_rows(named=True) if r["flag"] is None]
    for t in trades.iter_rows(named=True):
        before = [q for q in clean if q["symbol"] == t["symbol"] and q["ns"] <= t["ns"]]
        q = before[-1] if before else None  # the last of the latest time, in the quotes' order
        spread = q["ask"] - q["bid"] if q is not None else 0.0
        out = q is not None and (t["price"] > q["ask"] + spread or t["price"] < q["bid"] - spread)
        expected.append("outside_quote" if out else None)
    assert trade_flags(trades, quotes).to_list() == expected
    assert 0 < expected.count("outside_quote") < len(expected)
