"""Trading sessions and holidays from ``exchange_calendars`` (XNYS by default).

A session is identified by its date in the exchange's time zone; its open and close are UTC instants with
nanosecond resolution, so early closes (e.g. the day after Thanksgiving) are honoured.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import exchange_calendars as xcals
import polars as pl

DEFAULT_CALENDAR = "XNYS"


@lru_cache(maxsize=8)
def exchange_calendar(name: str = DEFAULT_CALENDAR) -> xcals.ExchangeCalendar:
    """The ``exchange_calendars`` calendar ``name`` (cached: building one takes ~0.3 s)."""
    return xcals.get_calendar(name, start="2000-01-01")


def exchange_timezone(name: str = DEFAULT_CALENDAR) -> str:
    """The IANA time zone of the exchange, e.g. ``America/New_York`` for XNYS."""
    return str(exchange_calendar(name).tz)


def session_bounds(start: dt.date, end: dt.date, name: str = DEFAULT_CALENDAR) -> pl.DataFrame:
    """Sessions between ``start`` and ``end`` inclusive.

    Returns
    -------
    polars.DataFrame
        Columns ``date`` (session date), ``open_ts`` and ``close_ts`` (UTC, ns, tz-naive).
    """
    cal = exchange_calendar(name)
    sched = cal.schedule.loc[str(start) : str(end)]
    return pl.DataFrame(
        {
            "date": [d.date() for d in sched.index],
            "open_ts": [t.value for t in sched["open"]],
            "close_ts": [t.value for t in sched["close"]],
        },
        schema={"date": pl.Date, "open_ts": pl.Int64, "close_ts": pl.Int64},
    ).with_columns(pl.col("open_ts", "close_ts").cast(pl.Datetime("ns")))


def sessions(start: dt.date, end: dt.date, name: str = DEFAULT_CALENDAR) -> list[dt.date]:
    """Session dates between ``start`` and ``end`` inclusive (holidays and weekends skipped)."""
    return session_bounds(start, end, name)["date"].to_list()


def previous_sessions(end: dt.date, count: int, name: str = DEFAULT_CALENDAR) -> list[dt.date]:
    """The ``count`` sessions ending on ``end`` (inclusive if ``end`` is a session), oldest first."""
    cal = exchange_calendar(name)
    end_label = cal.date_to_session(str(end), direction="previous")
    idx = cal.sessions.get_loc(end_label)
    labels = cal.sessions[max(0, idx - count + 1) : idx + 1]
    return [d.date() for d in labels]


def session_date_expr(ts: pl.Expr, name: str = DEFAULT_CALENDAR) -> pl.Expr:
    """The exchange-local calendar date of a UTC tz-naive timestamp expression."""
    return ts.dt.replace_time_zone("UTC").dt.convert_time_zone(exchange_timezone(name)).dt.date()
