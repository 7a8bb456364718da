"""Trading time to wall-clock time across nights, weekends, holidays and early closes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
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


# ------------------------------------------------------------------------------- the sessions kept on disk


@pytest.fixture
def fresh_sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty cache of its own, and no sessions in memory (before and after: later tests rebuild)."""
    import data.calendar as cal

    def clear() -> None:
        for f in (cal._sessions, cal._session_origin, cal.all_session_bounds):
            f.cache_clear()

    monkeypatch.setenv("KAPPA_CACHE", str(tmp_path / "cache"))
    clear()
    yield tmp_path / "cache" / "calendars"
    clear()


def _no_build(name: str) -> None:
    raise AssertionError(f"{name}'s sessions were built, not read from the cache")


def test_kept_sessions_answer_as_exchange_calendars_does(
    fresh_sessions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sessions read back from the cache give exchange_calendars' own answers, asked of it directly: the
    DST changes (2026-03-09, 2026-11-02), the early close after Thanksgiving (2026-11-27: 13:00 ET), the
    holidays (Good Friday 2026-04-03, Thanksgiving, Christmas), the first and last sessions built."""
    import exchange_calendars as xcals
    import pandas as pd

    import data.calendar as cal

    assert cal.exchange_timezone("XNYS") == "America/New_York"  # built from exchange_calendars, and kept
    assert (fresh_sessions / "XNYS.json").is_file()
    cal._sessions.cache_clear()
    monkeypatch.setattr(cal, "_build_sessions", _no_build)  # from here on, answers come from the file

    first, last = dt.date(2000, 1, 1), dt.date(dt.datetime.now(dt.UTC).year + cal.YEARS_AHEAD, 12, 31)
    ref = xcals.get_calendar("XNYS", start=pd.Timestamp(first), end=pd.Timestamp(last))
    assert cal.exchange_timezone("XNYS") == str(ref.tz)
    assert cal.sessions(first, last) == [d.date() for d in ref.sessions]
    days = [dt.date(2026, 3, 9), dt.date(2026, 11, 2), dt.date(2026, 11, 27), dt.date(2026, 11, 25)]
    for day in days:
        label = pd.Timestamp(day)
        assert cal.session_open(day) == ref.session_open(label).to_pydatetime(), day
        close_ns = int(cal.session_bounds(day, day)["close_ts"].cast(int)[0])
        assert close_ns == ref.session_close(label).value, day
    assert cal.session_open(dt.date(2026, 3, 9)) == dt.datetime(2026, 3, 9, 13, 30, tzinfo=dt.UTC)  # EDT
    assert cal.session_open(dt.date(2026, 11, 2)) == dt.datetime(2026, 11, 2, 14, 30, tzinfo=dt.UTC)  # EST
    assert cal.session_bounds(dt.date(2026, 11, 27), dt.date(2026, 11, 27))["close_ts"][0] == dt.datetime(
        2026, 11, 27, 18, 0
    )
    for holiday in (dt.date(2026, 4, 3), dt.date(2026, 11, 26), dt.date(2026, 12, 25)):
        assert not ref.is_session(pd.Timestamp(holiday))
        with pytest.raises(ValueError, match="not a session of XNYS"):
            cal.require_session(holiday)
        nxt = ref.date_to_session(pd.Timestamp(holiday), direction="next")
        assert cal.next_open(holiday) == ref.session_open(nxt).to_pydatetime()
    for end, count in ((dt.date(2026, 11, 29), 5), (dt.date(2026, 3, 9), 3), (dt.date(2000, 1, 3), 4)):
        i = ref.sessions.get_loc(ref.date_to_session(pd.Timestamp(end), direction="previous"))
        want = [d.date() for d in ref.sessions[max(0, i - count + 1) : i + 1]]
        assert cal.previous_sessions(end, count) == want, end
    with pytest.raises(ValueError, match="before the sessions XNYS knows"):
        cal.previous_sessions(
            first, 1
        )  # before the first session (2000-01-03), as exchange_calendars refuses
    assert cal.check_calendar("XNYS") == "XNYS"  # known from the file alone


def test_kept_sessions_are_rebuilt_when_stale_damaged_or_not_kept(
    fresh_sessions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another exchange_calendars version (or range) or a damaged file: built anew and the file rewritten;
    a cache that cannot be written: the same answers, nothing kept."""
    import importlib.metadata

    import data.calendar as cal

    day = dt.date(2026, 11, 27)
    want = cal.session_bounds(day, day).row(0)
    path = fresh_sessions / "XNYS.json"
    kept = json.loads(path.read_text())
    built: list[str] = []
    real_build = cal._build_sessions

    def counted(name: str) -> object:
        built.append(name)
        return real_build(name)

    monkeypatch.setattr(cal, "_build_sessions", counted)
    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda pkg: "0.0-other" if pkg == "exchange_calendars"
                        else real_version(pkg))  # fmt: skip
    cal._sessions.cache_clear()
    assert cal.session_bounds(day, day).row(0) == want and built == ["XNYS"]
    assert json.loads(path.read_text())["key"]["exchange_calendars"] == "0.0-other"
    monkeypatch.setattr(importlib.metadata, "version", real_version)

    path.write_text(path.read_text()[:1000])  # cut short
    cal._sessions.cache_clear()
    assert cal.session_bounds(day, day).row(0) == want and built == ["XNYS", "XNYS"]
    assert json.loads(path.read_text())["key"] == kept["key"]
    cal._sessions.cache_clear()
    assert cal.session_bounds(day, day).row(0) == want and built == ["XNYS", "XNYS"]  # read back

    blocker = fresh_sessions.parent.parent / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("KAPPA_CACHE", str(blocker))
    cal._sessions.cache_clear()
    assert cal.session_bounds(day, day).row(0) == want and built == ["XNYS"] * 3
    assert blocker.is_file()
