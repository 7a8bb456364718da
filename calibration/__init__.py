"""Calibration of the Almgren-Chriss parameters (σ, γ, η, ε, β) from market data and own fills.

Pure functions: polars/numpy in, frozen dataclasses out. Nothing here opens a file or a connection; the
data layer reads the inputs and writes the ``calibrations`` table. Units follow DESIGN §3: time in trading
days (1 day = the 6.5 h regular session), prices in USD per share, sizes in shares.
"""

from typing import Protocol

import numpy as np
import polars as pl

SESSION_SECONDS = 23_400.0
"""Seconds in one trading day (the 6.5 h regular session of XNYS)."""


class Clock(Protocol):
    """Trading time between instants, as the pure packages receive it (``data.calendar.TradingClock`` is
    the one implementation: session time of the exchange calendar, nights, weekends and holidays excluded).
    """

    def elapsed_days(self, start: pl.Expr, end: pl.Expr) -> pl.Expr:
        """Trading days from ``start`` to ``end`` (tz-naive UTC ``Datetime`` expressions)."""
        ...

    def nights_between(self, start: pl.Expr, end: pl.Expr) -> pl.Expr:
        """Closes followed by a night (close to next open) with start ≤ close < end."""
        ...


def time_ordered_runs(frame: pl.DataFrame, by: list[str], ts: str = "ts") -> np.ndarray | None:
    """Where each ``by`` group starts, if every group's rows are contiguous and in non-decreasing ``ts``
    order; ``None`` otherwise.

    Lake files are written in that order (``symbol, ts``, one date a file), so the estimators can skip
    sorting what they read from the lake, and find the groups without hashing; any other frame is sorted.
    One pass over the rows.
    """
    if not frame.height:
        return np.zeros(0, dtype=np.int64)
    new = pl.any_horizontal((pl.col(c) != pl.col(c).shift(1)).fill_null(True) for c in by)
    marks = frame.select(new.alias("new"), (pl.col(ts) >= pl.col(ts).shift(1)).fill_null(True).alias("up"))
    if not marks.select((pl.col("new") | pl.col("up")).all()).item():
        return None
    starts = marks.select(pl.int_range(pl.len()).filter(pl.col("new"))).to_series().to_numpy()
    if frame.select(by).gather(starts).n_unique() != starts.size:  # a group in two runs
        return None
    return starts


def in_time_runs(frame: pl.DataFrame, by: list[str], ts: str = "ts") -> tuple[pl.DataFrame, np.ndarray]:
    """``frame`` with each ``by`` group's rows contiguous and in ``ts`` order, and where each group starts.

    Lake rows are returned as they are (see :func:`time_ordered_runs`); any other frame is sorted by
    ``by`` and ``ts``, stably, so that rows tied in time keep their order and a result that takes "the first
    of a tie" does not depend on how the rows came.
    """
    starts = time_ordered_runs(frame, by, ts)
    if starts is None:
        frame = frame.sort([*by, ts], maintain_order=True)
        starts = time_ordered_runs(frame, by, ts)
        assert starts is not None
    return frame, starts


def sorted_by_symbol_time(frame: pl.DataFrame, ts: str = "ts") -> pl.DataFrame:
    """``frame`` sorted by ``symbol, ts``: as it is when read from one lake file, else sorted (stably)."""
    starts = time_ordered_runs(frame, ["symbol"], ts)
    if starts is not None and frame["symbol"].gather(starts).is_sorted():
        return frame
    return frame.sort("symbol", ts, maintain_order=True)


def quote_prevails(quote_ts: pl.Series, at_ts: pl.Series, sessions: pl.DataFrame) -> pl.Series:
    """Whether a quote stamped ``quote_ts`` is still the prevailing quote at ``at_ts`` (≥ ``quote_ts``, the
    last quote of its symbol at or before it): only if both lie in one session.

    Parameters
    ----------
    quote_ts, at_ts
        Times (UTC), element by element; a null ``quote_ts`` (no quote) gives False.
    sessions
        ``open_ts, close_ts`` of every session the quotes fall in (more do no harm).

    Returns
    -------
    polars.Series
        Boolean: the quote's session [open, close] holds both times. A quote never prevails across a
        session boundary: after the close its session is over, and an event before the next session's
        first quote (an opening fill or print, an order that arrived before the open) has no quote of its
        own session, rather than the previous session's closing one, which the night's move (a gap) has made
        stale. A quote outside every session prevails nowhere.
    """
    q, at = session_of(quote_ts, sessions), session_of(at_ts, sessions)
    return (q == at).fill_null(False)


def session_of(ts: pl.Series, sessions: pl.DataFrame) -> pl.Series:
    """The index (in open order) of the session [open, close] holding each time of ``ts``; null outside
    every session (the night, a weekend, before the first session)."""
    s = sessions.select(
        pl.col("open_ts").dt.epoch("ns").alias("open"), pl.col("close_ts").dt.epoch("ns").alias("close")
    ).sort("open")
    opens, closes = s["open"].to_numpy(), np.append(s["close"].to_numpy(), 0)  # closes[-1]: no session
    t = ts.dt.epoch("ns")
    tn = t.fill_null(0).to_numpy()
    k = np.searchsorted(opens, tn, side="right") - 1
    ok = t.is_not_null().to_numpy() & (k >= 0) & (tn <= closes[k])
    return pl.Series(k, dtype=pl.Int64).scatter(np.flatnonzero(~ok), None)


def session_close(ts: pl.Series, sessions: pl.DataFrame) -> pl.Series:
    """The close (UTC, ns) of the session [open, close] holding each time of ``ts``; null outside every
    session. ``sessions``: ``open_ts, close_ts``."""
    k = session_of(ts, sessions)
    if not sessions.height:
        return pl.Series(ts.name, [None] * ts.len(), dtype=pl.Datetime("ns"))
    closes = sessions.sort("open_ts")["close_ts"].cast(pl.Datetime("ns"))
    return pl.select(pl.when(k.is_not_null()).then(closes.gather(k.fill_null(0)))).to_series().alias(ts.name)
