"""σ_night from closing and opening mids, by hand."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from calibration.overnight import overnight_sigma


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
