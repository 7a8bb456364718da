"""The keyed as-of join (calibration.asof) is polars' join_asof by symbol, row for row, ties in order."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from calibration import asof

T0 = dt.datetime(2026, 11, 16, 14, 30)


def _frames(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Quotes and events on whole seconds (ties in time on both sides), events unsorted, one symbol without
    quotes and events before and after every quote."""
    rng = np.random.default_rng(seed)
    n, m = 500, 400
    quotes = pl.DataFrame(
        {
            "symbol": rng.choice(["AAA", "BBB", "CCC"], n),
            "ts": [T0 + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 300, n)],
            "mid": rng.uniform(9, 10, n),
        },
        schema_overrides={"ts": pl.Datetime("ns")},
    ).with_row_index("q")
    events = pl.DataFrame(
        {
            "symbol": rng.choice(["AAA", "BBB", "CCC", "ZZZ"], m),
            "ts": [T0 + dt.timedelta(seconds=int(s)) for s in rng.integers(-20, 320, m)],
            "id": np.arange(m),
        },
        schema_overrides={"ts": pl.Datetime("ns")},
    )
    return quotes, events


@pytest.mark.parametrize("lake_order", [False, True])
@pytest.mark.parametrize("overflow", [False, True])
@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_keyed_join_is_the_join_by_symbol(
    seed: int, strict: bool, overflow: bool, lake_order: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    quotes, events = _frames(seed)
    if lake_order:  # events of quoted symbols, sorted as the lake's: no sort on the way
        events = events.filter(pl.col("symbol") != "ZZZ").sort("symbol", "ts", maintain_order=True)
    if overflow:  # keys would overflow: the join by symbol
        monkeypatch.setattr(asof, "INT64_HEADROOM", 1)
    right = asof.numbered(quotes.rename({"ts": "_qts"}), "_qts")
    got = asof.asof_by_symbol(events, right, "ts", "_qts", {"mid": "mid", "q": "q"}, strict=strict)
    r = (
        quotes.sort("symbol", "ts", maintain_order=True)
        .rename({"ts": "_qts"})
        .select("symbol", "_qts", "mid", "q")
    )
    expected = (
        events.sort("symbol", "ts", maintain_order=True)
        .join_asof(r, left_on="ts", right_on="_qts", by="symbol", strategy="backward",
                   allow_exact_matches=not strict, check_sortedness=False)
        .drop("_qts")
    )  # fmt: skip
    assert got.equals(expected)  # the same quote row (of ties, the last), events tied in time in their order
    assert got["q"].is_null().sum() > 0 and got["q"].is_not_null().sum() > 0
