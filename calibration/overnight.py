"""Overnight risk: the standard deviation of the mid's change from one session's close to the next open.

Almgren & Chriss (2000) count risk in trading time only. A position held across a close also bears the
night's change (news, the opening auction), which session time does not see; Kappa measures it per symbol
and adds σ_night²·x² to V for every close a position x waits over (see :mod:`tca.verdict` and
:func:`schedule.costs.path_moments`).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from calibration.ordering import in_time_runs
from calibration.records import DEFAULT_THRESHOLDS

MIN_NIGHTS = DEFAULT_THRESHOLDS.min_nights
"""Fewer close-to-next-open pairs than this and σ_night is not estimated (null, with its count); the
default of :attr:`calibration.records.EstimatorThresholds.min_nights`."""

OVERNIGHT_SCHEMA = {"symbol": pl.String, "sigma_overnight_usd": pl.Float64, "sigma_overnight_se_usd": pl.Float64,
                    "sigma_overnight_nobs": pl.Int64}  # fmt: skip


def overnight_sigma(
    quotes: pl.DataFrame, sessions: pl.DataFrame, min_nights: int = MIN_NIGHTS
) -> pl.DataFrame:
    """σ_night per symbol from the closing and opening mids of consecutive sessions of the window.

    Parameters
    ----------
    quotes
        ``symbol, date, ts, bid, ask`` of the lookback window.
    sessions
        ``date`` of the window's sessions (consecutive sessions of the calendar that have quotes loaded).
    min_nights
        Fewer nights than this and σ_night is null (with its count).

    Returns
    -------
    polars.DataFrame
        ``symbol, sigma_overnight_usd`` ($/share per night), ``sigma_overnight_se_usd``,
        ``sigma_overnight_nobs`` (the nights observed).

    Notes
    -----
    For each pair of consecutive sessions (i, i+1) in which the symbol was quoted,
    d_i = mid_open(i+1) − mid_close(i) ($/share), with mid_close the mid in force at the session's last
    quote time and mid_open the one at its first (of quotes tied at one instant, the last in row order).
    A weekend or a holiday between the two sessions is one night. σ_night² = mean(d_i²) (no mean is
    removed, as for realized variance); its standard error is sd(d_i²)/√n, and that of σ_night, by the
    delta method, se(σ_night²)/(2σ_night). Null below ``min_nights`` nights.
    """
    if not quotes.height:
        return pl.DataFrame(schema=OVERNIGHT_SCHEMA)
    order = sessions.select("date").unique().sort("date").with_row_index("_i", offset=0)
    day = opens_and_closes(quotes).join(order, on="date")
    nxt = day.select("symbol", (pl.col("_i") - 1).alias("_i"), pl.col("_open").alias("_next_open"))
    pairs = day.join(nxt, on=["symbol", "_i"]).with_columns(
        (pl.col("_next_open") - pl.col("_close")).alias("_d")
    )
    rows: list[tuple[object, float | None, float | None, int]] = []
    for (symbol,), g in sorted(pairs.partition_by("symbol", as_dict=True).items()):
        d2 = g.sort("_i")["_d"].to_numpy() ** 2
        n = d2.size
        if n < min_nights:
            rows.append((symbol, None, None, n))
            continue
        var = float(d2.mean())
        sigma = math.sqrt(var)
        se_var = float(np.std(d2, ddof=1)) / math.sqrt(n)
        rows.append((symbol, sigma, se_var / (2 * sigma) if sigma > 0 else None, n))
    return pl.DataFrame(rows, schema=OVERNIGHT_SCHEMA, orient="row")


def opens_and_closes(quotes: pl.DataFrame) -> pl.DataFrame:
    """``symbol, date, _open, _close``: the mid at each symbol-day's first and last quote time (of quotes
    tied at one instant, the last in row order).

    The symbol-days' rows in time order (:func:`calibration.ordering.in_time_runs`: lake rows as read, others
    sorted stably, so ties keep their row order): the close is a run's last row, the open the last row of
    its first instant. One pass, no grouping by hash.
    """
    frame, starts = in_time_runs(quotes, ["symbol", "date"])
    n = frame.height
    ts = frame["ts"].to_physical().to_numpy()
    changes = np.flatnonzero(ts[1:] != ts[:-1]) + 1  # the rows where a new instant starts
    ends = np.append(starts[1:], n)
    # the open: the row before the first change of instant after the run's start (or the run's last row)
    first_change = np.append(changes, n)[np.searchsorted(changes, starts, side="right")]
    after_first = np.minimum(first_change, ends)

    def mid(rows: np.ndarray) -> pl.Series:
        at = frame.select("bid", "ask").gather(rows)
        return (at["bid"] + at["ask"]) / 2

    return (
        frame.select("symbol", "date")
        .gather(starts)
        .with_columns(mid(after_first - 1).alias("_open"), mid(ends - 1).alias("_close"))
    )
