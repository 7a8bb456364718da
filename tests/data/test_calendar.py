"""Trading time to wall-clock time across nights, weekends, holidays and early closes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from data.calendar import session_clock

UTC = dt.UTC
NY = dt.timezone(dt.timedelta(hours=-5))


def test_session_clock_skips_nights_holidays_and_early_closes() -> None:
    start = dt.datetime(2026, 11, 24, 9, 30, tzinfo=NY)  # Tuesday's open
    fraction, times = session_clock(start, [0.0, 0.5, 1.0, 1.5, 2.5, 3.0])
    assert fraction == 0.0
    assert times == [
        dt.datetime(2026, 11, 24, 14, 30, tzinfo=UTC),
        dt.datetime(2026, 11, 24, 17, 45, tzinfo=UTC),
        dt.datetime(2026, 11, 24, 21, 0, tzinfo=UTC),  # day 1 ends on the close, not the next open
        dt.datetime(2026, 11, 25, 17, 45, tzinfo=UTC),
        # Thursday is Thanksgiving; Friday closes at 13:00 ET and holds 3.5/6.5 of a day
        dt.datetime(2026, 11, 27, 17, 45, tzinfo=UTC),
        dt.datetime(2026, 11, 30, 17, 30, tzinfo=UTC),  # 3 − 2 − 3.5/6.5 = 6/13 day = 3 h into Monday
    ]


def test_session_clock_starts_mid_session_or_at_the_next_open() -> None:
    fraction, times = session_clock(dt.datetime(2026, 11, 24, 12, 45, tzinfo=NY), [0.0, 0.5])
    assert fraction == pytest.approx(0.5)
    assert times[1] == dt.datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    fraction, times = session_clock(dt.datetime(2026, 11, 25, 20, 0, tzinfo=NY), [0.0])  # evening
    assert fraction == 0.0 and times[0] == dt.datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="time zone"):
        session_clock(dt.datetime(2026, 11, 24, 9, 30), [0.0])


def test_a_session_still_trading_has_not_closed() -> None:
    """Friday 2026-11-27 closes early (13:00 ET): at 12:59 the last closed session is Wednesday's, at
    13:00 Friday's; a calibration as of a session still trading is refused naming the last closed one."""
    from data.calendar import require_closed
    from kappa.errors import InputError

    friday = dt.date(2026, 11, 27)
    assert require_closed(friday, now=dt.datetime(2026, 11, 27, 13, 0, tzinfo=NY)) == friday
    with pytest.raises(
        InputError, match="2026-11-27 has not closed yet: the last XNYS session that has is 2026-11-25"
    ):
        require_closed(friday, what="--as-of", now=dt.datetime(2026, 11, 27, 12, 59, tzinfo=NY))


def test_trading_clock_counts_session_time_nights_and_agrees_with_the_scalar_owner() -> None:
    import polars as pl

    from data.calendar import TradingClock, nights_in_intervals, session_time_days

    ny = ZoneInfo("America/New_York")
    pairs = [
        # Thursday 14:00 to Friday 12:00: 2 h + 2.5 h of session, one night
        (dt.datetime(2026, 11, 19, 14, 0, tzinfo=ny), dt.datetime(2026, 11, 20, 12, 0, tzinfo=ny), 4.5, 1),
        # Wednesday 15:00 over Thanksgiving to Friday's early close (13:00) and the weekend to Monday 10:00
        (
            dt.datetime(2026, 11, 25, 15, 0, tzinfo=ny),
            dt.datetime(2026, 11, 30, 10, 0, tzinfo=ny),
            1 + 3.5 + 0.5,
            2,
        ),
        # from an evening to the next morning's open: nothing
        (dt.datetime(2026, 11, 16, 18, 0, tzinfo=ny), dt.datetime(2026, 11, 17, 9, 30, tzinfo=ny), 0.0, 0),
        # a position taken at the close holds over its night; one ending at the close does not
        (dt.datetime(2026, 11, 16, 16, 0, tzinfo=ny), dt.datetime(2026, 11, 17, 9, 45, tzinfo=ny), 0.25, 1),
        (dt.datetime(2026, 11, 16, 15, 0, tzinfo=ny), dt.datetime(2026, 11, 16, 16, 0, tzinfo=ny), 1.0, 0),
    ]
    utc = [
        (a.astimezone(dt.UTC).replace(tzinfo=None), b.astimezone(dt.UTC).replace(tzinfo=None))
        for a, b, *_ in pairs
    ]
    frame = pl.DataFrame(
        {"a": [u[0] for u in utc], "b": [u[1] for u in utc]},
        schema={"a": pl.Datetime("ns"), "b": pl.Datetime("ns")},
    )
    clock = TradingClock()
    out = frame.select(
        clock.elapsed_days(pl.col("a"), pl.col("b")).alias("days"),
        clock.nights_between(pl.col("a"), pl.col("b")).alias("nights"),
    )
    for (start, end, hours, nights), days, got_nights in zip(pairs, out["days"], out["nights"], strict=True):
        assert days * 6.5 == pytest.approx(hours, abs=1e-12)
        assert session_time_days(start, end) == pytest.approx(days, abs=1e-15)
        assert got_nights == nights
        ns = np.array([int(start.timestamp()) * 10**9, int(end.timestamp()) * 10**9])
        assert nights_in_intervals(ns).tolist() == [nights]
