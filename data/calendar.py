"""Trading sessions and holidays from ``exchange_calendars`` (XNYS by default).

A session is identified by its date in the exchange's time zone; its open and close are UTC instants with
nanosecond resolution, so early closes (e.g. the day after Thanksgiving) are honoured.

``exchange_calendars`` is the source of truth; importing it (and pandas) costs about 2 s of CPU, more than a
one-order ``kappa schedule`` does otherwise. Each calendar's sessions (dates, opens, closes) and time zone
are therefore kept in a small JSON file once built (:func:`calendar_cache_dir`), keyed by the calendar, the
installed ``exchange_calendars`` version and the range built; a later process reads them back with the
standard library (a few ms) and builds them anew when the key differs (a new version, a new year's range)
or the file is missing or unreadable. The values are the integers ``exchange_calendars`` gave, so the
answers are the same either way. polars is imported only by the functions that return polars objects.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kappa.errors import NotFoundError
from kappa.units import DEFAULT_CALENDAR, SESSION_NS

if TYPE_CHECKING:
    import exchange_calendars as xcals
    import polars as pl

    from data.home import KappaHome

FIRST_SESSION_YEAR = 2000  # sessions are built from 1 January of this year (or the calendar's first date)
YEARS_AHEAD = 10  # ... to 31 December of this many years after today's (or the calendar's last date)
CACHE_ENV = "KAPPA_CACHE"  # where built sessions are kept (default: $XDG_CACHE_HOME/kappa, ~/.cache/kappa)
CACHE_FORMAT = 1  # bump when the file's layout changes (older files are then rebuilt)


@lru_cache(maxsize=8)
def exchange_calendar(name: str = DEFAULT_CALENDAR) -> xcals.ExchangeCalendar:
    """The ``exchange_calendars`` calendar ``name`` (cached: building one takes ~0.4 s).

    Its sessions run from 2000-01-01 to 31 December ten years after today's year, clipped to the dates
    ``exchange_calendars`` has holidays for (``bound_min`` / ``bound_max``: XBOM and XSHG, say, stop at the
    year their holidays are recorded to). Left to itself ``exchange_calendars`` builds only to a year after
    today, so a schedule starting near that bound ran out of sessions; beyond the built range a request is
    refused in one line naming the last session. Sessions of the future are those of the
    exchange's holiday rules as ``exchange_calendars`` knows them today.

    ``exchange_calendars`` (and pandas) are imported here, not at module load: they take about a second.
    """
    import exchange_calendars as xcals
    import pandas as pd

    first, last = _built_range()
    start, end = pd.Timestamp(first), pd.Timestamp(last)
    # the class's bounds, without building the calendar once more (its factories are not public)
    factory_cls = xcals.calendar_utils._default_calendar_factories.get(xcals.resolve_alias(name))
    if factory_cls is not None:
        low, high = factory_cls.bound_min(), factory_cls.bound_max()
        start = max(start, low) if low is not None else start
        end = min(end, high) if high is not None else end
    return xcals.get_calendar(name, start=start, end=end)


def _built_range() -> tuple[dt.date, dt.date]:
    """The dates :func:`exchange_calendar` asks for: 1 January ``FIRST_SESSION_YEAR`` to 31 December
    ``YEARS_AHEAD`` years after today's year (before the calendar's own bounds clip them)."""
    return dt.date(FIRST_SESSION_YEAR, 1, 1), dt.date(dt.datetime.now(dt.UTC).year + YEARS_AHEAD, 12, 31)


def exchange_timezone(name: str = DEFAULT_CALENDAR) -> str:
    """The IANA time zone of the exchange, e.g. ``America/New_York`` for XNYS."""
    return _sessions(name).timezone


@dataclass(frozen=True, slots=True)
class _Sessions:
    """Every session of a calendar: dates (``datetime64[D]``), opens and closes (UTC epoch ns, int64), and
    the exchange's IANA zone. Read-only arrays."""

    dates: np.ndarray
    opens: np.ndarray
    closes: np.ndarray
    timezone: str


def calendar_cache_dir() -> Path | None:
    """Where built sessions are kept: ``$KAPPA_CACHE``, else ``$XDG_CACHE_HOME/kappa``, else
    ``~/.cache/kappa`` (``None`` without a home directory: nothing is kept).

    A user's cache, not a Kappa home's: the sessions depend only on the calendar and the installed
    ``exchange_calendars``, every home shares them, and a command without a home (``kappa schedule
    --sigma ...``) creates none.
    """
    given = os.environ.get(CACHE_ENV)
    if given:
        return Path(given).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "kappa"
    try:
        return Path.home() / ".cache" / "kappa"
    except RuntimeError:  # no HOME and no password entry
        return None


def _cache_key(name: str) -> dict[str, object]:
    from importlib.metadata import version

    first, last = _built_range()
    return {"format": CACHE_FORMAT, "calendar": name, "exchange_calendars": version("exchange_calendars"),
            "start": first.isoformat(), "end": last.isoformat()}  # fmt: skip


def _cache_path(name: str) -> Path | None:
    from urllib.parse import quote

    folder = calendar_cache_dir()
    return folder / "calendars" / f"{quote(name, safe='')}.json" if folder is not None else None


def _sessions_of(dates: np.ndarray, opens: np.ndarray, closes: np.ndarray, timezone: str) -> _Sessions:
    out = _Sessions(dates.astype("datetime64[D]"), opens.astype(np.int64), closes.astype(np.int64), timezone)
    for a in (out.dates, out.opens, out.closes):
        a.setflags(write=False)
    return out


def _read_cache(name: str) -> _Sessions | None:
    """The sessions kept for ``name`` if the file's key is today's (:func:`_cache_key`), else ``None``."""
    path = _cache_path(name)
    try:
        if path is None or not path.is_file():
            return None
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get("key") != _cache_key(name):
            return None
        dates = np.array(body["dates"], dtype=np.int64)
        opens, closes = np.array(body["opens"], dtype=np.int64), np.array(body["closes"], dtype=np.int64)
        if not dates.size or not dates.shape == opens.shape == closes.shape:
            return None
        return _sessions_of(dates, opens, closes, str(body["timezone"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # unreadable or damaged: build anew
        return None


def _write_cache(name: str, built: _Sessions) -> None:
    """Keep ``built`` for later processes (written to a temporary file, then renamed: a reader never sees
    half a file); a cache that cannot be written is skipped."""
    path = _cache_path(name)
    if path is None:
        return
    body = {
        "key": _cache_key(name),
        "timezone": built.timezone,
        "dates": built.dates.astype(np.int64).tolist(),  # days since 1970-01-01
        "opens": built.opens.tolist(),  # ns since the epoch, UTC
        "closes": built.closes.tolist(),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(body, separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)
    except OSError:  # not writable (a read-only home, a file in the way): answer without keeping them
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _build_sessions(name: str) -> _Sessions:
    """Every session of :func:`exchange_calendar` ``name``, from ``exchange_calendars``."""
    cal = exchange_calendar(name)
    sched = cal.schedule
    return _sessions_of(
        sched.index.values.astype("datetime64[D]"),
        sched["open"].values.astype("datetime64[ns]").astype(np.int64),
        sched["close"].values.astype("datetime64[ns]").astype(np.int64),
        str(cal.tz),
    )


@lru_cache(maxsize=8)
def _sessions(name: str) -> _Sessions:
    """The sessions of ``name``: kept ones when their key matches, else built (and kept)."""
    kept = _read_cache(name)
    if kept is not None:
        return kept
    built = _build_sessions(name)
    _write_cache(name, built)
    return built


def _schedule(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every session of the calendar: dates (``datetime64[D]``), opens and closes (UTC epoch ns, int64)."""
    s = _sessions(name)
    return s.dates, s.opens, s.closes


def _between(start: dt.date, end: dt.date, name: str) -> slice:
    dates = _schedule(name)[0]
    lo = int(np.searchsorted(dates, np.datetime64(start, "D"), side="left"))
    hi = int(np.searchsorted(dates, np.datetime64(end, "D"), side="right"))
    return slice(lo, max(lo, hi))


def session_bounds(start: dt.date, end: dt.date, name: str = DEFAULT_CALENDAR) -> pl.DataFrame:
    """Sessions between ``start`` and ``end`` inclusive.

    Returns
    -------
    polars.DataFrame
        Columns ``date`` (session date), ``open_ts`` and ``close_ts`` (UTC, ns, tz-naive).
    """
    import polars as pl

    dates, opens, closes = _schedule(name)
    part = _between(start, end, name)
    return pl.DataFrame(
        {"date": dates[part], "open_ts": opens[part], "close_ts": closes[part]},
        schema={"date": pl.Date, "open_ts": pl.Int64, "close_ts": pl.Int64},
    ).with_columns(pl.col("open_ts", "close_ts").cast(pl.Datetime("ns")))


@lru_cache(maxsize=8)
def all_session_bounds(name: str = DEFAULT_CALENDAR) -> pl.DataFrame:
    """Every session of the calendar (``session_bounds`` columns; cached, do not modify)."""
    dates = _schedule(name)[0]
    return session_bounds(dates[0].item(), dates[-1].item(), name)


def require_session(day: dt.date, name: str = DEFAULT_CALENDAR, what: str = "") -> dt.date:
    """``day`` if it is a session of the calendar, else an :class:`~kappa.errors.InputError` that says why:
    a weekend or holiday, or a date beyond the sessions built (:func:`exchange_calendar`)."""
    from kappa.errors import InputError

    dates = _schedule(name)[0]
    first, last = dates[0].item(), dates[-1].item()
    label = f"{what} {day}".strip()
    if not first <= day <= last:
        where = "before" if day < first else "after"
        raise InputError(f"{label} is {where} the sessions {name} knows ({first} .. {last})")
    part = _between(day, day, name)
    if part.stop <= part.start:
        raise InputError(f"{label} is not a session of {name} (a weekend or holiday)")
    return day


def require_closed(
    day: dt.date, name: str = DEFAULT_CALENDAR, what: str = "", now: dt.datetime | None = None
) -> dt.date:
    """``day`` if it is a session that has closed by ``now`` (default: the clock), else an
    :class:`~kappa.errors.InputError` naming the last one that has: a calibration or a night as of a session
    still trading (or to come) would stamp a partial day as that session's close."""
    from kappa.errors import InputError

    require_session(day, name, what)
    last = latest_closed_session(now or dt.datetime.now(dt.UTC), name)
    if day > last:
        label = f"{what} {day}".strip()
        raise InputError(f"{label} has not closed yet: the last {name} session that has is {last}")
    return day


def sessions(start: dt.date, end: dt.date, name: str = DEFAULT_CALENDAR) -> list[dt.date]:
    """Session dates between ``start`` and ``end`` inclusive (holidays and weekends skipped)."""
    return [d.item() for d in _schedule(name)[0][_between(start, end, name)]]


def session_open(day: dt.date, name: str = DEFAULT_CALENDAR) -> dt.datetime:
    """The UTC open of session ``day`` (check it is one with :func:`require_session`)."""
    opens = _schedule(name)[1]
    part = _between(day, day, name)
    if part.stop <= part.start:
        raise NotFoundError(f"{day} is not a session of {name}", key=day)
    return _EPOCH + dt.timedelta(microseconds=int(opens[part.start]) // 1000)


def next_open(after: dt.date, name: str = DEFAULT_CALENDAR) -> dt.datetime:
    """The UTC open of the first session after the date ``after``."""
    dates, opens, _ = _schedule(name)
    i = int(np.searchsorted(dates, np.datetime64(after, "D"), side="right"))
    if i >= len(dates):
        from kappa.errors import InputError

        raise InputError(f"no {name} session after {after} (the last one built is {dates[-1]})")
    return _EPOCH + dt.timedelta(microseconds=int(opens[i]) // 1000)


def previous_sessions(end: dt.date, count: int, name: str = DEFAULT_CALENDAR) -> list[dt.date]:
    """The ``count`` sessions ending on ``end`` (inclusive if ``end`` is a session), oldest first.

    Raises
    ------
    InputError
        ``end`` precedes the first session or follows the last one built (:func:`exchange_calendar`).
    """
    dates = _schedule(name)[0]
    first, last = dates[0].item(), dates[-1].item()
    if not first <= end <= last:
        from kappa.errors import InputError

        where = "before" if end < first else "after"
        raise InputError(f"{end} is {where} the sessions {name} knows ({first} .. {last})")
    i = int(np.searchsorted(dates, np.datetime64(end, "D"), side="right"))
    return [d.item() for d in dates[max(0, i - count) : i]]


def session_date_expr(ts: pl.Expr, name: str = DEFAULT_CALENDAR) -> pl.Expr:
    """The exchange-local calendar date of a UTC tz-naive timestamp expression."""
    return ts.dt.replace_time_zone("UTC").dt.convert_time_zone(exchange_timezone(name)).dt.date()


def session_clock(
    start: dt.datetime, times_days: list[float], name: str = DEFAULT_CALENDAR
) -> tuple[float, list[dt.datetime]]:
    """Wall-clock instants of trading times, counting only the exchange's sessions.

    Parameters
    ----------
    start
        The start (timezone-aware; a start outside a session moves to the next open).
    times_days
        Trading days after the start, one day = 6.5 hours of session (an early close holds less).

    Returns
    -------
    (float, list[datetime.datetime])
        How far into its session the start is (0 at the open, 1 at the close), and the UTC instant of each
        time (a time that falls on a session's close stays on that close).
    """
    if start.tzinfo is None:
        raise ValueError("start must carry a time zone")
    start_ns = _to_ns(start)
    horizon = max(times_days, default=0.0)
    begin_date = (start.astimezone(dt.UTC) - dt.timedelta(days=1)).date()
    span = int(min(horizon, 1e5) * 2) + 14
    all_dates, all_opens, all_closes = _schedule(name)
    last = all_dates[-1].item()
    while True:
        reaches_last = span >= (last - begin_date).days  # (no date arithmetic past the calendar: year 9999)
        part = _between(begin_date, last if reaches_last else begin_date + dt.timedelta(days=span), name)
        opens, closes = all_opens[part], all_closes[part]
        first = int((closes > start_ns).argmax()) if (closes > start_ns).any() else len(closes)
        avail = closes[first:] - opens[first:]
        if first < len(closes):
            begin = max(start_ns, int(opens[first]))
            avail[0] = closes[first] - begin
        if first < len(closes) and avail.sum() >= horizon * SESSION_NS:
            break
        if reaches_last:  # every session is in, and still short
            from kappa.errors import InputError

            raise InputError(
                f"{horizon:g} trading days from {start.isoformat()} run past the last {name} session, {last} "
                f"(sessions are built to {YEARS_AHEAD} years ahead, or as far as exchange_calendars records "
                f"{name}'s holidays)"
            )
        span *= 2
    fraction = float((begin - opens[first]) / (closes[first] - opens[first]))
    starts = opens[first:].copy()
    starts[0] = begin
    cum = avail.cumsum()
    targets = np.round(np.asarray(times_days, dtype=np.float64) * SESSION_NS).astype(np.int64)
    i = np.searchsorted(
        cum, targets, side="left"
    )  # the session holding each time: sessions before it end < t
    before = np.where(i > 0, cum[np.maximum(i - 1, 0)], 0)
    ns = starts[i] + targets - before
    return fraction, [_EPOCH + dt.timedelta(microseconds=int(x) // 1000) for x in ns]


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _to_ns(ts: dt.datetime) -> int:
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def session_time_days(start: dt.datetime, end: dt.datetime, name: str = DEFAULT_CALENDAR) -> float:
    """Trading time between two instants, in days of DESIGN §3: session seconds in ``[start, end]`` / 23,400.

    Nights, weekends and holidays count nothing; an early close counts only its shorter session. The
    inverse of :func:`session_clock` for an instant inside a session; the scalar form of
    :class:`TradingClock` (the same arithmetic: :func:`session_ns_since_origin`).
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must carry a time zone")
    if end <= start:
        return 0.0
    both = session_ns_since_origin(np.array([_to_ns(start), _to_ns(end)], dtype=np.int64), name)
    return float(both[1] - both[0]) / SESSION_NS


@lru_cache(maxsize=8)
def _session_origin(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Opens, closes, session ns before each session (cumulative) and the closes followed by a night.

    A close counts as a night when the next session opens strictly after it (a 24/7 calendar's sessions
    abut: no nights).
    """
    _, opens, closes = _schedule(name)
    length = closes - opens
    before = np.concatenate(([0], np.cumsum(length)[:-1])).astype(np.int64)
    nights = closes[np.concatenate((opens[1:] > closes[:-1], [True]))]
    for a in (before, nights):
        a.setflags(write=False)
    return opens, closes, before, nights


def session_ns_since_origin(utc_ns: np.ndarray, name: str = DEFAULT_CALENDAR) -> np.ndarray:
    """Session nanoseconds from the calendar's first open to each UTC instant (ns since the epoch).

    A monotone map of wall-clock time to trading time: constant over nights, weekends and holidays, rising
    one for one inside a session; the difference of two values is the session time between the instants.
    """
    opens, closes, before, _ = _session_origin(name)
    i = np.searchsorted(opens, utc_ns, side="right") - 1
    j = np.maximum(i, 0)
    inside = np.clip(utc_ns - opens[j], 0, closes[j] - opens[j])
    return np.where(i >= 0, before[j] + inside, 0).astype(np.int64)


def nights_in_intervals(instants_ns: np.ndarray, name: str = DEFAULT_CALENDAR) -> np.ndarray:
    """For consecutive UTC instants t_0 ≤ t_1 ≤ … (ns since the epoch), the closes followed by a night c
    with t_{k−1} ≤ c < t_k, k = 1..: shape (len − 1,). The numpy form of
    :meth:`TradingClock.nights_between`."""
    below = np.searchsorted(_session_origin(name)[3], np.asarray(instants_ns, dtype=np.int64), side="left")
    return np.diff(below).clip(0)


@dataclass(frozen=True, slots=True)
class TradingClock:
    """Trading time of an exchange calendar as polars expressions: the one clock of DESIGN §3.

    Every τ, rate, horizon and time-weighted benchmark counts session time: nights, weekends, holidays and
    the hours after an early close count nothing, and one trading day is 23,400 s of session time (the
    6.5-hour regular session of XNYS; the unit is the same for every calendar, so a 24/7 calendar's
    24-hour session counts 86,400 / 23,400 ≈ 3.69 days, and it has no nights). Instants are tz-naive UTC
    ``Datetime`` expressions (as stored); nulls stay null.

    Parameters
    ----------
    calendar
        An ``exchange_calendars`` code, e.g. ``XNYS``.
    """

    calendar: str = DEFAULT_CALENDAR

    def session_ns(self, ts: pl.Expr) -> pl.Expr:
        """Int64 session nanoseconds from the calendar's first open to ``ts``: :func:`session_ns_since_origin`
        applied to the column (one binary search per row)."""
        import polars as pl

        name = self.calendar

        def batch(epoch_ns: pl.Series) -> pl.Series:
            values = session_ns_since_origin(epoch_ns.fill_null(0).to_numpy(), name)
            return pl.Series(values, dtype=pl.Int64).scatter(epoch_ns.is_null().arg_true(), None)

        return (
            ts.cast(pl.Datetime("ns"))
            .dt.epoch("ns")
            .map_batches(batch, return_dtype=pl.Int64, is_elementwise=True)
        )

    def elapsed_days(self, start: pl.Expr, end: pl.Expr) -> pl.Expr:
        """Trading days from ``start`` to ``end`` (Float64; negative when ``end`` precedes ``start``)."""
        import polars as pl

        return (self.session_ns(end) - self.session_ns(start)).cast(pl.Float64) / SESSION_NS

    def nights_between(self, start: pl.Expr, end: pl.Expr) -> pl.Expr:
        """Closes followed by a night that a position held from ``start`` to ``end`` crosses: the closes c
        with start ≤ c < end (a position taken at a close holds over its night; one ending at a close
        does not). A weekend or a holiday is one night: close to next open."""
        import polars as pl

        nights = pl.lit(pl.Series(_session_origin(self.calendar)[3]))

        def before(ts: pl.Expr) -> pl.Expr:
            return nights.search_sorted(ts.cast(pl.Datetime("ns")).dt.epoch("ns"), side="left").cast(pl.Int64)

        return pl.when(start.is_not_null() & end.is_not_null()).then((before(end) - before(start)).clip(0))


def latest_closed_session(moment: dt.datetime, name: str = DEFAULT_CALENDAR) -> dt.date:
    """The last session whose close is at or before ``moment``: on a Sunday, Friday's; on a weekday before
    the close, the previous session's; after an early close, that day's."""
    if moment.tzinfo is None:
        raise ValueError("moment must carry a time zone")
    dates, _, closes = _schedule(name)
    i = int(np.searchsorted(closes, _to_ns(moment), side="right")) - 1
    if i < 0:
        raise NotFoundError(f"no {name} session closed by {moment}", key=moment)
    return dates[i].item()


def exchange_zone(name: str = DEFAULT_CALENDAR) -> dt.tzinfo:
    """The exchange's time zone as a ``tzinfo`` (see :func:`exchange_timezone`)."""
    from zoneinfo import ZoneInfo

    return ZoneInfo(exchange_timezone(name))


# ---------------------------------------------------------------------------------------------- a home's


def check_calendar(name: str) -> str:
    """``name`` if ``exchange_calendars`` knows it, else an :class:`~kappa.errors.InputError` that says so
    (sessions kept for ``name`` by this version of ``exchange_calendars`` answer without importing it)."""
    if _read_cache(name) is not None:
        return name
    import exchange_calendars as xcals

    from kappa.errors import InputError

    if name not in xcals.get_calendar_names(include_aliases=True):
        close = sorted(
            n for n in xcals.get_calendar_names(include_aliases=True) if n[:2].upper() == name[:2].upper()
        )
        raise InputError(
            f"unknown calendar {name!r} (exchange_calendars codes, e.g. XNYS, XLON, 24/7"
            + (f"; close: {', '.join(close[:6])}" if close else "")
            + ")"
        )
    return name


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone, else an :class:`~kappa.errors.InputError`."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from kappa.errors import InputError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone {name!r} (an IANA name, e.g. America/New_York, UTC)") from None
    return name


def home_calendar(home: KappaHome, given: str | None = None) -> str:
    """The calendar a command on ``home`` uses: ``given``, else the one the home remembers, else XNYS.

    A home's data are dated in one calendar's sessions, so the first calendar given is remembered
    (``kappa.toml``) and a different one later is refused: change it with ``kappa config calendar``.
    """
    from kappa.errors import InputError

    remembered = home.config().calendar
    if given is None:
        return remembered or DEFAULT_CALENDAR
    check_calendar(given)
    if remembered is None:
        home.save_config(calendar=given)
    elif remembered != given:
        raise InputError(
            f"this home's calendar is {remembered} ({home.config_path}), not {given}: its data are dated in "
            f"{remembered} sessions; drop --calendar, or use another home (kappa config calendar {given} "
            "changes it)"
        )
    return given


def home_timezone(home: KappaHome, given: str | None, calendar: str) -> str | None:
    """The IANA zone of timestamps written without a UTC offset: ``given``, else the home's setting, else
    none (such timestamps are quarantined as ``missing_utc_offset``). ``exchange`` is the calendar's zone."""
    name = given or home.config().timezone
    if name is None:
        return None
    return exchange_timezone(calendar) if name == "exchange" else check_timezone(name)
