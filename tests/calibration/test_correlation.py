"""Correlations of 5-minute returns: a known ρ within Monte Carlo error, pairwise-complete, pairs stored once."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from calibration.bars import bucket_mids
from calibration.correlation import nested_returns, observed_returns, pairwise_correlations, unnested_returns
from data.calendar import session_bounds

RHO = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.0], [-0.3, 0.0, 1.0]])
NAMES = ("CCC", "AAA", "BBB")  # not in order: the pairs come out ordered


def correlated_returns(n_days: int, seed: int, missing: float = 0.0) -> pl.DataFrame:
    """78 buckets a day of returns N(0, Σ) with correlation :data:`RHO` (σ 0.1 %, 0.2 %, 0.3 % per bucket),
    each return missing with probability ``missing``."""
    rng = np.random.default_rng(seed)
    sd = np.array([1e-3, 2e-3, 3e-3])
    z = rng.standard_normal((n_days * 78, 3)) @ np.linalg.cholesky(RHO * np.outer(sd, sd)).T + 5e-4
    keep = rng.random(z.shape) >= missing
    dates = [dt.date(2026, 1, 1) + dt.timedelta(days=k) for k in range(n_days)]
    rows = [(NAMES[j], dates[i // 78], i % 78 + 1, float(z[i, j])) for i in range(z.shape[0]) for j in range(3)
            if keep[i, j]]  # fmt: skip
    return pl.DataFrame(rows, schema={"symbol": pl.String, "date": pl.Date, "bucket": pl.Int32,
                                      "log_return": pl.Float64}, orient="row")  # fmt: skip


def test_known_correlations_within_monte_carlo_error() -> None:
    out = pairwise_correlations(correlated_returns(20, 1))
    assert out["symbol_a"].to_list() == ["AAA", "AAA", "BBB"] and out["symbol_b"].to_list() == [
        "BBB",
        "CCC",
        "CCC",
    ]
    n = 20 * 78
    assert out["nobs"].to_list() == [n, n, n]
    truth = {("AAA", "BBB"): RHO[1, 2], ("AAA", "CCC"): RHO[1, 0], ("BBB", "CCC"): RHO[2, 0]}
    for a, b, rho, _ in out.iter_rows():
        se = (1 - truth[a, b] ** 2) / math.sqrt(n)  # the sample correlation's asymptotic standard error
        assert abs(rho - truth[a, b]) < 4 * se, (a, b, rho)


def test_pairwise_complete_observations_equal_numpy_on_the_common_buckets() -> None:
    returns = correlated_returns(5, 2, missing=0.3)
    out = pairwise_correlations(returns, min_nobs=10)
    wide = returns.pivot(on="symbol", index=["date", "bucket"], values="log_return")
    for a, b, rho, nobs in out.iter_rows():
        both = wide.select(a, b).drop_nulls()
        assert nobs == both.height < 5 * 78
        assert rho == pytest.approx(np.corrcoef(both[a].to_numpy(), both[b].to_numpy())[0, 1], abs=1e-12)
    # below the minimum the pair is kept, with its count, and no ρ
    few = pairwise_correlations(returns, min_nobs=10_000)
    assert few["rho"].null_count() == 3 and few["nobs"].to_list() == out["nobs"].to_list()


def test_blocks_give_the_same_pairs() -> None:
    returns = correlated_returns(3, 3, missing=0.2)
    assert pairwise_correlations(returns, min_nobs=5, block=1).equals(
        pairwise_correlations(returns, min_nobs=5)
    )


def test_a_name_that_never_moves_has_no_rho_and_no_name_no_pair() -> None:
    returns = correlated_returns(2, 4).with_columns(
        pl.when(pl.col("symbol") == "CCC").then(0.0).otherwise(pl.col("log_return")).alias("log_return")
    )
    out = pairwise_correlations(returns, min_nobs=10)
    assert out.filter(pl.col("symbol_b") == "CCC")["rho"].null_count() == 2
    assert out.filter(pl.col("symbol_b") != "CCC")["rho"].null_count() == 0
    assert pairwise_correlations(returns.filter(pl.col("symbol") == "AAA")).height == 0


def test_returns_are_the_observed_buckets_within_sessions_and_travel_nested() -> None:
    sessions = session_bounds(dt.date(2026, 11, 2), dt.date(2026, 11, 3))
    quotes = []
    for day, open_ts, _ in sessions.iter_rows():
        for k, mid in enumerate((100.0, 101.0, 100.5)):  # first quote 1 minute in, then every 5 minutes
            ts = open_ts + dt.timedelta(minutes=1 + 5 * k)
            quotes.append(("AAA", day, ts, mid - 0.01, mid + 0.01))
    q = pl.DataFrame(quotes, schema={"symbol": pl.String, "date": pl.Date, "ts": pl.Datetime("ns"),
                                     "bid": pl.Float64, "ask": pl.Float64}, orient="row")  # fmt: skip
    mids = bucket_mids(q, sessions)
    r = observed_returns(mids)
    # each day: buckets 1..3 (the quoted span runs from 1 to 11 minutes); no return spans the night
    assert r["date"].unique().len() == 2 and r["bucket"].to_list() == [1, 2, 3, 1, 2, 3]
    np.testing.assert_allclose(
        r["log_return"].to_numpy(), np.tile([0.0, math.log(101 / 100), math.log(100.5 / 101)], 2)
    )
    assert unnested_returns(nested_returns(mids)).sort("date", "bucket").equals(r.sort("date", "bucket"))
