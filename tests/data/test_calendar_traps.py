"""The calendar's traps, with every expected instant worked out from the exchange's published hours (NYSE:
09:30-16:00 New York time, 13:00 on an early close; New York is UTC-4 from the second Sunday of March to the
first Sunday of November, UTC-5 otherwise):

- 2026-03-09, the first session after the spring change (Sunday 03-08): 13:30-20:00 UTC;
- 2026-11-02, the first session after the fall change (Sunday 11-01): 14:30-21:00 UTC;
- 2026-11-26 (Thanksgiving) is a holiday, 2026-11-27 and 2026-12-24 close at 13:00 (18:00 UTC), 2026-12-25
  is a holiday, 2026-11-21 a Saturday;
- 2028-06-01, a Thursday more than a year ahead: 13:30-20:00 UTC (exchange_calendars builds a year ahead
  unless told to go further: ``data.calendar`` builds ten).

Ingest (timestamps to session dates), the flows' date arguments and the schedules' trading clock each give
the right session or clock, or a one-line refusal.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data.calendar import session_clock, sessions
from data.home import KappaHome
from data.ingest import ingest
from flows.cli import app
from kappa.errors import InputError, KappaError
from tests.conftest import WriteCsv, query

UTC = dt.UTC
D = dt.date

# (UTC instant, its session date if it is loaded; else why not: extended_hours or outside_session)
ROWS = [
    ("2026-03-09T13:30:00Z", D(2026, 3, 9)),  # the open, in summer time
    ("2026-03-09T13:29:59Z", "extended_hours"),  # 09:29:59 EDT (14:29:59 would be winter time's open)
    ("2026-03-09T20:00:00Z", D(2026, 3, 9)),  # the close is in the session
    ("2026-03-09T20:00:01Z", "extended_hours"),
    ("2026-03-10T00:30:00Z", "extended_hours"),  # 20:30 EDT on 03-09: UTC's next day, New York's same day
    ("2026-03-06T14:30:00Z", D(2026, 3, 6)),  # the Friday before: still winter time
    ("2026-11-02T14:30:00Z", D(2026, 11, 2)),  # the open, in winter time
    ("2026-11-02T13:30:00Z", "extended_hours"),  # 08:30 EST (it would be summer time's open)
    ("2026-11-02T21:00:00Z", D(2026, 11, 2)),
    ("2026-10-30T20:00:00Z", D(2026, 10, 30)),  # the Friday before: summer time's close
    ("2026-10-30T20:30:00Z", "extended_hours"),
    ("2026-11-27T18:00:00Z", D(2026, 11, 27)),  # an early close: 13:00 EST
    ("2026-11-27T18:00:01Z", "extended_hours"),
    ("2026-12-24T17:59:59Z", D(2026, 12, 24)),
    ("2026-12-24T18:30:00Z", "extended_hours"),
    ("2026-11-26T15:00:00Z", "outside_session"),  # Thanksgiving
    ("2026-12-25T15:00:00Z", "outside_session"),  # Christmas
    ("2026-11-21T15:00:00Z", "outside_session"),  # a Saturday
    ("2028-06-01T13:30:00Z", D(2028, 6, 1)),  # more than a year ahead
    ("2028-06-01T13:00:00Z", "extended_hours"),
]


def test_ingest_gives_each_instant_its_session_or_says_why_not(home: KappaHome, write_csv: WriteCsv) -> None:
    header = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]
    path = write_csv("quotes.csv", [header, *[["AAA", ts, 10, 10.02, 1, 1] for ts, _ in ROWS]])
    report = ingest(home, "quotes", [path])

    loaded = sorted((dt.datetime.fromisoformat(ts).replace(tzinfo=None), day) for ts, day in ROWS
                    if isinstance(day, dt.date))  # fmt: skip
    assert query(home, "SELECT ts, date FROM quotes ORDER BY ts") == loaded
    assert report.skipped_by_reason == {"extended_hours": sum(d == "extended_hours" for _, d in ROWS)}
    quarantined = query(home, "SELECT row_number, rule FROM quarantine ORDER BY row_number")
    assert quarantined == [(i + 1, d) for i, (_, d) in enumerate(ROWS) if d == "outside_session"]


def test_the_trading_clock_across_the_clock_changes_and_early_closes() -> None:
    cases = [
        # Friday 15:00 EST = 20:00 UTC: 1 h left; 5.5 h more on Monday from the summer-time open 13:30 UTC
        (dt.datetime(2026, 3, 6, 20, 0, tzinfo=UTC), 1.0, dt.datetime(2026, 3, 9, 19, 0, tzinfo=UTC)),
        # Friday 15:00 EDT = 19:00 UTC: 1 h left; 5.5 h more on Monday from the winter-time open 14:30 UTC
        (dt.datetime(2026, 10, 30, 19, 0, tzinfo=UTC), 1.0, dt.datetime(2026, 11, 2, 20, 0, tzinfo=UTC)),
        # the early close's open: 3.5 h that Friday, 3 h on Monday 11-30
        (dt.datetime(2026, 11, 27, 14, 30, tzinfo=UTC), 1.0, dt.datetime(2026, 11, 30, 17, 30, tzinfo=UTC)),
        # Christmas Eve's open: 3.5 h, Christmas is a holiday, 3 h on Monday 12-28
        (dt.datetime(2026, 12, 24, 14, 30, tzinfo=UTC), 1.0, dt.datetime(2026, 12, 28, 17, 30, tzinfo=UTC)),
        # Thanksgiving at noon: the next open is Friday's, whose 3.5 h hold half a day (3.25 h)
        (dt.datetime(2026, 11, 26, 17, 0, tzinfo=UTC), 0.5, dt.datetime(2026, 11, 27, 17, 45, tzinfo=UTC)),
        # a Saturday: Monday's open
        (dt.datetime(2026, 11, 21, 15, 0, tzinfo=UTC), 0.0, dt.datetime(2026, 11, 23, 14, 30, tzinfo=UTC)),
        # more than a year ahead: 3.25 h after the summer-time open
        (dt.datetime(2028, 6, 1, 13, 30, tzinfo=UTC), 0.5, dt.datetime(2028, 6, 1, 16, 45, tzinfo=UTC)),
    ]
    for start, days, expected in cases:
        assert session_clock(start, [days])[1] == [expected], (start, days)
    with pytest.raises(InputError, match="run past the last XNYS session"):
        session_clock(dt.datetime(2026, 11, 30, 14, 30, tzinfo=UTC), [10_000.0])


def refusal(*args: str) -> str:
    """The one-line error of a ``kappa`` command that refuses its arguments before any work."""
    res = CliRunner().invoke(app, list(args))
    assert isinstance(res.exception, KappaError), (args, res.output, res.exception)
    message = str(res.exception)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("command", ["nightly --date", "calibrate --as-of", "attribute --date"])
def test_the_flows_date_arguments(tmp_path: Path, command: str) -> None:
    name, option = command.split()
    h = str(tmp_path / "home")
    for holiday in ("2026-11-26", "2026-12-25", "2026-11-21"):
        assert refusal(name, option, holiday, "--home", h).endswith(
            f"{option} {holiday} is not a session of XNYS (a weekend or holiday)"
        )
    ahead = sessions(dt.date.today() + dt.timedelta(days=400), dt.date.today() + dt.timedelta(days=410))[0]
    assert refusal(name, option, str(ahead), "--home", h).startswith(f"{option} {ahead} has not closed yet")
    assert refusal(name, option, "2100-01-06", "--home", h).startswith(
        f"{option} 2100-01-06 is after the sessions"
    )
    if name == "nightly":  # sessions, the clock-change days and an early close: refused for want of quotes
        for session in ("2026-03-09", "2026-11-02", "2026-11-27"):
            assert refusal(name, option, session, "--home", h).startswith(f"no quotes for {session}")
    assert not (tmp_path / "home" / "prefect").exists()  # all before Prefect
