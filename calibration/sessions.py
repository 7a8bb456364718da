"""Which session an instant falls in, and whether a quote still prevails at a later instant."""

import numpy as np
import polars as pl


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
