"""σ_night from closing and opening mids, by hand."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from calibration.overnight import opens_and_closes, overnight_sigma


def test_overnight_sigma_is_the_root_mean_square_close_to_open_change() -> None:
    # four sessions (Thursday, Friday, Monday, Tuesday: the weekend is one night); closes and opens of the mid
    days = [dt.date(2026, 11, 19), dt.date(2026, 11, 20), dt.date(2026, 11, 23), dt.date(2026, 11, 24)]
    first = [40.0, 40.5, 39.8, 40.4]  # opens
    last = [40.2, 40.2, 40.1, 40.3]  # closes
    rows = []
    for d, o, c in zip(days, first, last, strict=True):
        t0 = dt.datetime(d.year, d.month, d.day, 14, 30)
        rows += [
            ("X", d, t0, o - 0.05, o + 0.05),
            ("X", d, t0 + dt.timedelta(hours=3), 41.0, 41.2),
            ("X", d, t0 + dt.timedelta(hours=6, minutes=30), 99.0, 99.2),  # replaced at the same instant:
            ("X", d, t0 + dt.timedelta(hours=6, minutes=30), c - 0.05, c + 0.05),
        ]  # the last one is in force
    quotes = pl.DataFrame(rows, schema=["symbol", "date", "ts", "bid", "ask"], orient="row")
    out = overnight_sigma(quotes, pl.DataFrame({"date": days})).row(0, named=True)
    d = np.array([40.5 - 40.2, 39.8 - 40.2, 40.4 - 40.1])  # 0.3, −0.4, 0.3
    var = (0.09 + 0.16 + 0.09) / 3
    assert out["sigma_overnight_nobs"] == 3
    assert out["sigma_overnight_usd"] == pytest.approx(math.sqrt(var), rel=1e-12)
    se_var = np.std(d**2, ddof=1) / math.sqrt(3)  # sd of (0.09, 0.16, 0.09) = 0.0404145
    assert se_var == pytest.approx(0.07 / math.sqrt(3) / math.sqrt(3), rel=1e-6)
    assert out["sigma_overnight_se_usd"] == pytest.approx(se_var / (2 * math.sqrt(var)), rel=1e-9)


def test_one_night_is_too_few() -> None:
    quotes = pl.DataFrame({"symbol": ["X", "X"], "date": [dt.date(2026, 11, 19), dt.date(2026, 11, 20)],
                           "ts": [dt.datetime(2026, 11, 19, 20), dt.datetime(2026, 11, 20, 15)],
                           "bid": [10.0, 11.0], "ask": [10.2, 11.2]})  # fmt: skip
    out = overnight_sigma(quotes, quotes.select("date")).row(0, named=True)
    assert out["sigma_overnight_usd"] is None and out["sigma_overnight_nobs"] == 1


@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def testopens_and_closes_are_the_last_quote_of_the_first_and_last_instant(seed: int, shuffled: bool) -> None:
    """The run-based opens and closes equal a group-by's filters, ties (the last in row order) included,
    on rows in lake order and on shuffled rows."""
    rng = np.random.default_rng(seed)
    n = 4_000
    days = [dt.date(2026, 11, 16), dt.date(2026, 11, 17), dt.date(2026, 11, 18)]
    day = rng.integers(0, 3, n)
    minute = rng.integers(0, 40, n)  # few instants: ties at the first and the last one are common
    quotes = pl.DataFrame(
        {
            "symbol": rng.choice(["A", "B", "C", "D"], n),
            "date": [days[d] for d in day],
            "ts": [
                dt.datetime(2026, 11, 16 + int(d), 14, 30) + dt.timedelta(minutes=int(m))
                for d, m in zip(day, minute, strict=True)
            ],
            "bid": rng.uniform(10, 11, n),
        }
    ).with_columns(ask=pl.col("bid") + rng.uniform(0.01, 0.1, n))
    quotes = quotes.sort("symbol", "ts", maintain_order=True) if not shuffled else quotes
    mid = (pl.col("bid") + pl.col("ask")) / 2
    expected = quotes.group_by("symbol", "date").agg(
        mid.filter(pl.col("ts") == pl.col("ts").min()).last().alias("_open"),
        mid.filter(pl.col("ts") == pl.col("ts").max()).last().alias("_close"),
    )
    got = opens_and_closes(quotes)
    assert got.sort("symbol", "date").equals(expected.sort("symbol", "date"))
    assert got.height == 12
