"""Look-ups on the quotes an attribution can reach equal those on the whole tape (tca.prices.reachable_quotes).

Tapes of two sessions with ties in time and events spread inside and beyond each symbol's quotes; the TWAP
integral restarted at the first kept quote equals the one from the symbol's first quote and a hand sum.
"""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import polars as pl
import pytest

from data.calendar import TradingClock, session_bounds
from tca import attribution, prices

SESSIONS = session_bounds(dt.date(2026, 11, 16), dt.date(2026, 11, 17))
OPEN1, CLOSE1, OPEN2, CLOSE2 = (SESSIONS[c][i] for i in (0, 1) for c in ("open_ts", "close_ts"))
NS = pl.Datetime("ns")


def _tape(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Quotes of three symbols over two sessions (whole minutes, so that times tie), and events of four (one
    without quotes) at instants from before the first open to after the last close."""
    rng = np.random.default_rng(seed)
    n = 3_000
    day = rng.integers(0, 2, n)
    minute = rng.integers(0, 390, n)  # ties: several quotes on one instant
    ts = [
        (OPEN1 if d == 0 else OPEN2) + dt.timedelta(minutes=int(m)) for d, m in zip(day, minute, strict=True)
    ]
    quotes = pl.DataFrame(
        {"symbol": rng.choice(["AAA", "BBB", "CCC"], n), "ts": ts, "bid": rng.uniform(99, 101, n)},
        schema_overrides={"ts": NS},
    ).with_columns(ask=pl.col("bid") + rng.uniform(0.01, 0.05, n))
    m = 40
    at = [OPEN1 + dt.timedelta(seconds=int(s)) for s in rng.integers(-3_600, 110_000, m)]
    events = pl.DataFrame(
        {"symbol": rng.choice(["AAA", "BBB", "CCC", "ZZZ"], m), "at": at, "id": np.arange(m)},
        schema_overrides={"at": NS},
    )
    # the tape's own instants too: look-ups exactly on a quote (strict or not) and on a tie
    on = quotes.sample(20, seed=seed).select("symbol", pl.col("ts").alias("at"))
    events = pl.concat([events, on.with_columns(pl.int_range(m, m + 20).cast(pl.Int64).alias("id"))])
    return quotes, events


def _narrow(events: pl.DataFrame) -> pl.DataFrame:
    """The events of each symbol between its 25th and 75th percentile instants: a window the tape exceeds."""
    q = events.group_by("symbol").agg(
        pl.col("at").quantile(0.25, "nearest").alias("lo"), pl.col("at").quantile(0.75, "nearest").alias("hi")
    )
    return events.join(q, on="symbol").filter(pl.col("at").is_between("lo", "hi")).drop("lo", "hi")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_every_lookup_on_the_reachable_quotes_is_the_one_on_the_whole_tape(seed: int) -> None:
    quotes, all_events = _tape(seed)
    events = _narrow(all_events)
    whole = prices.prepared_quotes(quotes)
    kept = prices.reachable_quotes(quotes, events.select("symbol", pl.col("at").alias("ts")))
    assert 0 < kept.height < whole.height  # the look-ups need less than the tape
    assert prices.reachable_quotes(whole, events.select("symbol", pl.col("at").alias("ts"))).equals(kept)
    for strict in (False, True):
        a = prices.quote_at(events, whole, "at", "q", SESSIONS, strict=strict).sort("id")
        b = prices.quote_at(events, kept, "at", "q", SESSIONS, strict=strict).sort("id")
        assert a.equals(b)
    a = prices.opening_quote(events, whole, "at", "o", SESSIONS).sort("id")
    b = prices.opening_quote(events, kept, "at", "o", SESSIONS).sort("id")
    assert a.equals(b)
    assert a["o_mid"].is_not_null().any() and a["o_mid"].is_null().any()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_twap_over_the_kept_quotes_is_the_whole_tapes_and_the_hand_sum(seed: int) -> None:
    quotes, all_events = _tape(seed)
    events = _narrow(all_events).filter(pl.col("symbol") != "ZZZ")
    pairs = (
        events.join(events.select("symbol", pl.col("at").alias("end")), on="symbol")
        .filter(pl.col("end") > pl.col("at"))
        .with_columns(pl.int_range(pl.len()).alias("pair"))
    )
    clock = TradingClock()
    look = pl.concat([pairs.select("symbol", pl.col(c).alias("ts")) for c in ("at", "end")])
    kept = prices.reachable_quotes(quotes, look)
    whole = prices.time_weighted_mid(pairs, prices.prepared_quotes(quotes), "at", "end", "twap", clock)
    whole = whole.sort("pair")
    got = prices.time_weighted_mid(pairs, kept, "at", "end", "twap", clock).sort("pair")
    assert got["twap"].is_null().to_list() == whole["twap"].is_null().to_list()
    assert got["twap"].fill_null(np.nan).to_list() == pytest.approx(
        whole["twap"].fill_null(np.nan).to_list(), rel=1e-12, nan_ok=True
    )
    # by hand: the mid of the last quote at or before each instant, held for the session time to the next
    q = quotes.with_columns(((pl.col("bid") + pl.col("ask")) / 2).alias("mid")).with_row_index("row")
    q = q.sort("symbol", "ts", "row")
    opens = [(OPEN1, CLOSE1), (OPEN2, CLOSE2)]

    def session_s(a: dt.datetime, b: dt.datetime) -> float:  # session seconds between two instants
        return sum(max(0.0, (min(b, c) - max(a, o)).total_seconds()) for o, c in opens)

    checked = 0
    for r in got.filter(pl.col("twap").is_not_null()).head(15).iter_rows(named=True):
        g = q.filter(pl.col("symbol") == r["symbol"])
        ts, mid = g["ts"].to_list(), g["mid"].to_list()
        cuts = [r["at"]] + [t for t in ts if r["at"] < t < r["end"]] + [r["end"]]
        area = 0.0
        for a, b in itertools.pairwise(cuts):
            held = [m for t, m in zip(ts, mid, strict=True) if t <= a]  # the last in row order among ties
            assert held, "a TWAP starts at a quote"
            area += held[-1] * session_s(a, b)
        assert r["twap"] == pytest.approx(area / session_s(r["at"], r["end"]), rel=1e-11)
        checked += 1
    assert checked > 5


def test_attribution_on_the_reachable_quotes_is_the_attribution_on_the_whole_tape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quotes, _ = _tape(7)
    quotes = quotes.filter(pl.col("symbol") != "CCC")  # CCC's order has no quotes
    rng = np.random.default_rng(7)
    k = 12
    opens, offsets = rng.choice([OPEN1, OPEN2], k), rng.integers(-600, 22_000, k)  # some before an open
    start = [o + dt.timedelta(seconds=int(s)) for o, s in zip(opens, offsets, strict=True)]
    events = pl.DataFrame(
        {"symbol": ["AAA", "BBB"] * 5 + ["CCC", "AAA"], "at": start, "id": np.arange(k)},
        schema_overrides={"at": NS},
    )
    orders = (
        events.select(
            pl.format("O{}", pl.col("id")).alias("order_id"), "symbol",
            pl.when(pl.col("id") % 2 == 0).then(pl.lit("buy")).otherwise(pl.lit("sell")).alias("side"),
            pl.lit(1_000.0).alias("quantity"), pl.col("at").alias("arrival_ts"),
            (pl.col("at") + pl.duration(minutes=90)).alias("end_ts"), pl.lit(100.0).alias("decision_price"),
            pl.lit("B").alias("broker"), pl.lit("VWAP").alias("algo"), pl.lit("T").alias("trader"),
        )
    )  # fmt: skip
    fills = orders.select(
        "order_id", (pl.col("arrival_ts") + pl.duration(minutes=20)).alias("ts")
    ).with_columns(
        pl.format("F{}", pl.int_range(pl.len())).alias("fill_id"), pl.lit(100.05).alias("price"),
        pl.lit(400.0).alias("quantity"), pl.lit(1.0).alias("fee_usd"), pl.lit("XNAS").alias("venue"),
    )  # fmt: skip
    n = 600
    trades = pl.DataFrame(
        {"symbol": rng.choice(["AAA", "BBB"], n),
         "ts": [OPEN1 + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 110_000, n)],
         "price": rng.uniform(99, 101, n), "size": rng.integers(1, 500, n).astype(float)},
        schema_overrides={"ts": NS},
    )  # fmt: skip
    args = dict(
        orders=orders, fills=fills, quotes=quotes, trades=trades, sessions=SESSIONS,
        closes=pl.DataFrame({"symbol": ["AAA", "BBB", "CCC"], "close_mid_usd": [100.0, 100.2, 99.9]}),
        params=pl.DataFrame(
            {"symbol": ["AAA", "BBB"], "calibration_as_of": [dt.date(2026, 11, 13)] * 2, "sigma_usd": [1.2, 0.9],
             "gamma": [1e-7, 2e-7], "eta": [1e-6, 2e-6], "epsilon_usd": [0.01, 0.02]}
        ),
        clock=TradingClock(),
    )  # fmt: skip
    fast = attribution.attribute_orders(**args)  # type: ignore[arg-type]
    monkeypatch.setattr(attribution, "reachable_quotes", lambda q, _: prices.prepared_quotes(q))
    slow = attribution.attribute_orders(**args)  # type: ignore[arg-type]
    twap = ("twap_mid_usd", "slippage_twap_bps")  # sums restarted at the first kept quote: rounding only
    assert fast.drop(twap).equals(slow.drop(twap))
    assert fast["twap_mid_usd"].is_null().equals(slow["twap_mid_usd"].is_null())
    assert fast["twap_mid_usd"].fill_null(np.nan).to_list() == pytest.approx(
        slow["twap_mid_usd"].fill_null(np.nan).to_list(), rel=1e-12, nan_ok=True
    )
    assert fast["twap_mid_usd"].is_not_null().sum() >= 6 and fast["arrival_mid_usd"].is_not_null().sum() >= 6
