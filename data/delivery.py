"""The delivered date of a load's file: what a delivery replaces, and the rows it cannot hold.

A file is delivered for one session date, declared (first that applies):

1. ``--date`` (:func:`data.ingest.ingest`'s ``date``; the nightly passes its night),
2. the drop folder it lies in: a folder named ``YYYY-MM-DD`` inside a folder named ``inbox``
   (``KAPPA_HOME/inbox/YYYY-MM-DD/``, :mod:`data.inbox`),
3. the one date its name holds, written ``YYYY-MM-DD`` or ``YYYYMMDD`` as vendors name files
   (``EQY_US_ALL_NBBO_20261118``, ``AAPL_2026-11-18_34200000_57600000_message_10.csv``); a name with two
   different dates (a range) declares none,

else none is declared and every date the file holds is delivered. A declared date must be a session of the
calendar.

The rule :data:`OUTSIDE_DELIVERED_DATE` applies to a file with a declared date ``D``: a quote or trade whose
session date is not ``D``, and an order neither of ``D``, nor of the next session (arrived after ``D``'s
close: the next session's pending orders), nor arrived earlier and still working on ``D`` (its ``end_ts``
after ``D``'s open: a multi-day order), is quarantined with it and replaces nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from data.calendar import require_session, session_bounds

OUTSIDE_DELIVERED_DATE = "outside_delivered_date"
DATED_TABLES = ("quotes", "trades", "orders")
"""The tables whose rows a delivered date bounds (fills are keyed by ``fill_id``, daily bars by symbol and
date: a file of them may hold any dates)."""
_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_COMPACT = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")
_YEARS = (1990, 2200)  # a name's eight digits outside these years are no date (a sequence number)


def dates_in_name(name: str) -> set[dt.date]:
    """The real dates a file name holds, written ``YYYY-MM-DD`` or ``YYYYMMDD`` (digits not part of a
    longer number)."""
    out: set[dt.date] = set()
    for pattern in (_ISO, _COMPACT):
        for y, m, d in pattern.findall(name):
            try:
                day = dt.date(int(y), int(m), int(d))
            except ValueError:
                continue
            if _YEARS[0] <= day.year <= _YEARS[1]:
                out.add(day)
    return out


def _iso_date(text: str) -> dt.date | None:
    if not _ISO.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A file's delivered session date (``None``: not declared, every date it holds) and what declared it
    (``--date``, ``drop folder``, ``file name``; empty when none did)."""

    date: dt.date | None = None
    by: str = ""

    def __str__(self) -> str:
        return f"{self.date} ({self.by})" if self.date else "every date it holds (none declared)"


def delivery_of(path: Path, given: dt.date | None = None) -> Delivery:
    """The :class:`Delivery` of ``path`` (see the module docstring); not yet checked against a calendar."""
    if given is not None:
        return Delivery(given, "--date")
    folder = path.parent
    day = _iso_date(folder.name)
    if day is not None and folder.parent.name == "inbox":
        return Delivery(day, "drop folder")
    named = dates_in_name(path.name)
    if len(named) == 1:
        return Delivery(named.pop(), "file name")
    return Delivery()


def check_delivery(delivery: Delivery, path: Path, calendar: str) -> Delivery:
    """``delivery`` if its date is a session of ``calendar`` (or none is declared), else an
    :class:`~kappa.errors.InputError` naming the file, the date and what declared it."""
    if delivery.date is not None:
        from kappa.errors import InputError

        try:
            require_session(delivery.date, calendar, f"the delivered date ({delivery.by})")
        except InputError as exc:
            raise InputError(f"{exc.reason}: declare the file's date with --date", path=str(path)) from None
    return delivery


def outside_delivered(table: str, clean: pl.DataFrame, delivery: Delivery, calendar: str) -> pl.Series:
    """Which of ``clean`` (validated rows of ``table``, with ``date``) a file delivered for
    ``delivery.date`` cannot hold (the module docstring): a boolean per row, all false when no date is
    declared or ``table`` has no delivered date."""
    day = delivery.date
    if day is None or table not in DATED_TABLES or not clean.height:
        return pl.Series("outside", [False] * clean.height, dtype=pl.Boolean)
    if table != "orders":
        return clean.select((pl.col("date") != day).fill_null(True).alias("outside")).to_series()
    days = session_bounds(day, day + dt.timedelta(days=15), calendar)
    open_ts = days["open_ts"][0]
    following = pl.col("date") == days["date"][1] if days.height > 1 else pl.lit(False)
    working = (pl.col("date") < day) & (pl.col("end_ts") > open_ts)
    held = (pl.col("date") == day) | following | working
    return clean.select((~held).fill_null(True).alias("outside")).to_series()


def outside_detail(table: str, delivery: Delivery) -> pl.Expr:
    """The quarantine ``detail`` of a row :func:`outside_delivered` flags: the row's date and the delivered
    one."""
    what = "arrival session" if table == "orders" else "session date"
    tail = f" is not the delivered date {delivery}" + (
        ", its next session, nor before it and still working on it" if table == "orders" else ""
    )
    return pl.concat_str(pl.lit(f"{what} "), pl.col("date").dt.to_string("%Y-%m-%d"), pl.lit(tail))
