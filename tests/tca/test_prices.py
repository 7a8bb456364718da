"""The keyed as-of join of tca.prices (calibration.asof) equals polars' join_asof by symbol, at the edges too."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from calibration import asof
from tca import prices

T0 = dt.datetime(2026, 11, 16, 14, 30)
SESSIONS = pl.DataFrame({"open_ts": [T0], "close_ts": [dt.datetime(2026, 11, 16, 21)]}).cast(
    pl.Datetime("ns")
)


def _frames(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 400
    quotes = pl.DataFrame(
        {
            "symbol": rng.choice(["AAA", "BBB", "CCC"], n),
            # distinct whole seconds (a tie in time has no prevailing quote), so events land on quotes too
            "ts": [T0 + dt.timedelta(seconds=int(s)) for s in rng.choice(600, n, replace=False)],
            "bid": rng.uniform(9, 10, n),
        }
    ).with_columns(ask=pl.col("bid") + 0.02)
    m = 300
    events = pl.DataFrame(
        {
            "symbol": rng.choice(["AAA", "BBB", "CCC", "ZZZ"], m),  # ZZZ has no quote
            "at": [T0 + dt.timedelta(seconds=int(s)) for s in rng.integers(-60, 700, m)],  # before and after
            "id": np.arange(m),
        }
    )
    return quotes.with_columns(pl.col("ts").cast(pl.Datetime("ns"))), events.with_columns(
        pl.col("at").cast(pl.Datetime("ns"))
    )


def _reference(events: pl.DataFrame, quotes: pl.DataFrame, strict: bool) -> pl.DataFrame:
    q = quotes.select("symbol", "ts", ((pl.col("bid") + pl.col("ask")) / 2).alias("ref")).sort("symbol", "ts")
    return events.sort("symbol", "at").join_asof(
        q,
        left_on="at",
        right_on="ts",
        by="symbol",
        strategy="backward",
        allow_exact_matches=not strict,
        check_sortedness=False,
    )


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quote_at_equals_join_asof_by_symbol(
    seed: int, strict: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    quotes, events = _frames(seed)
    ref = _reference(events, quotes, strict).sort("id")
    got = prices.quote_at(events, quotes, "at", "q", SESSIONS, strict=strict).sort("id")
    assert got["q_mid"].to_list() == pytest.approx(ref["ref"].to_list(), nan_ok=True)
    assert got["q_mid"].is_null().to_list() == ref["ref"].is_null().to_list()
    assert got["q_mid"].is_null().sum() > 0  # ZZZ, and events before their symbol's first quote
    monkeypatch.setattr(asof, "INT64_HEADROOM", 1)  # keys would overflow: the join by symbol
    fallback = prices.quote_at(events, quotes, "at", "q", SESSIONS, strict=strict).sort("id")
    assert fallback["q_mid"].to_list() == got["q_mid"].to_list()
