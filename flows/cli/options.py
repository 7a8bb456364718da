"""The options several commands take, defined once (typer ``Annotated`` aliases), and their values checked.

A command declares ``home: HomeOption = None``; the option's flag and help text come from here. Dates are
checked against the exchange's sessions before any flow starts (starting Prefect takes seconds).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from data.home import KappaHome
from flows.settings import Runner
from kappa.errors import ParameterError

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Kappa home (database, lake, reports); default $KAPPA_HOME or ./.kappa"),
]
CalendarOption = Annotated[
    str | None,
    typer.Option(
        help="exchange_calendars code, e.g. XNYS or 24/7 (default: the home's, else XNYS; the first one given "
        "is remembered by the home)"
    ),
]
TimezoneOption = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        help="IANA zone of timestamps written without a UTC offset, e.g. America/New_York ('exchange': the "
        "calendar's; default: the home's `kappa config timezone`; none: such rows are quarantined)",
    ),
]
EncodingOption = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        help="Encoding of delimited text files, e.g. latin-1 or cp1252 (default: the home's `kappa config "
        "encoding`, else utf-8); a line that does not decode is quarantined as invalid_utf8",
    ),
]
StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict", help="Exit 3 (not 0) when the command finishes with warnings (also KAPPA_STRICT=1)"
    ),
]
RunnerOption = Annotated[
    Runner,
    typer.Option("--task-runner", help="Where batch tasks run: threads, processes or a Dask cluster"),
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", help="Threads, processes or local Dask workers (default: CPU count)", min=1),
]
DaskOption = Annotated[
    str | None,
    typer.Option(
        "--dask-address", help="Dask scheduler, e.g. tcp://host:8786 (default: start a local cluster)"
    ),
]
BatchOption = Annotated[
    int, typer.Option("--batch-symbols", help="Symbols per calibration/attribution task", min=1)
]
DateOption = Annotated[str, typer.Option("--date", help="Session date, YYYY-MM-DD")]
"""The session a command works on (``attribute``, ``report``); ``nightly`` defaults it, so declares its own."""

LookbackOption = Annotated[int, typer.Option(help="Sessions of intraday data (σ realized, γ, η, ε)", min=1)]
GarchDaysOption = Annotated[int, typer.Option(help="Daily closes for GARCH(1,1)", min=0)]


def home_settings(home: Path | None, calendar: str | None) -> tuple[KappaHome, str]:
    """The home and its calendar (``data.calendar.home_calendar``: remembered, or refused if it differs)."""
    from data.calendar import home_calendar

    kh = KappaHome.resolve(home)
    return kh, home_calendar(kh, calendar)


def parse_date(value: str, option: str) -> dt.date:
    """``value`` as a date (YYYY-MM-DD), or a :class:`ParameterError` naming ``option``."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ParameterError(
            f"{option} {value!r} is not a date (YYYY-MM-DD)", name=option, value=value
        ) from None


def session(value: str, option: str, calendar: str, closed: bool = False) -> dt.date:
    """A session date of ``calendar`` given as ``value`` (checked before any flow starts); with ``closed``,
    one whose close has passed."""
    from data.calendar import require_closed, require_session

    check = require_closed if closed else require_session
    return check(parse_date(value, option), calendar, option)
