"""Field rules shared by the consolidated-tape formats, NYSE Daily TAQ (:mod:`data.formats.taq`) and WRDS
TAQ extracts (:mod:`data.formats.wrds`): times of day in New York, numbers, symbols with a suffix, quote
conditions and trade corrections.

Trade Correction Indicator (Daily TAQ Client Specification, Daily Trades file; WRDS ``TR_CORR``):

====  =======================================================================  ==========================
code  meaning                                                                  Kappa
====  =======================================================================  ==========================
00    regular trade, not corrected, changed, cancelled or marked as an error   kept
01    original trade later corrected: the record holds its original time and   kept (the print as it
      the *corrected* data                                                     stands after correction)
02    symbol correction; record cancelled                                      skipped
07    original trade later marked as erroneous                                 skipped
08    original trade later cancelled                                           skipped
10    cancel record (follows the 08 record)                                    skipped
11    error record (follows the 07 record)                                     skipped
12    correction record (follows the 01 record): the correction's time and     skipped (its data is the
      the original, *incorrect* data                                           incorrect one)
====  =======================================================================  ==========================

Skipped records are counted as ``trade_correction``. A code outside this table makes the record malformed.
Holden & Jacobsen (2014) keep code 00 alone; keeping 01 as well keeps a corrected print, at its corrected
price and size, instead of losing it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from data.validation import ROW

UNREADABLE = (
    "a field that does not read (a time, a number, a code the specification lacks) or is out of range"
)
"""The ``detail`` of a quarantined record whose fields are all there but one of them does not read (an
unknown Trade Correction Indicator included), or an exchange quote's price or size that no quote holds
(negative, not finite, at least :data:`data.validation.MAX_ABS_VALUE`): such a quote would stand in the NBBO
and spoil every NBBO row after it, so it is quarantined itself."""


NOT_TEXT = "bytes that are not ASCII text (a control character, or not UTF-8/ASCII)"
"""The ``detail`` of a quarantined record holding a byte that no field of a TAQ file holds."""


def out_of_range(*columns: str) -> pl.Expr:
    """Whether any of ``columns`` (prices or sizes) is negative, not finite or at least
    :data:`data.validation.MAX_ABS_VALUE` (a blank is not out of range: it withdraws the side)."""
    from data.validation import MAX_ABS_VALUE

    return pl.any_horizontal(
        ((~pl.col(c).is_finite()) | (pl.col(c) < 0) | (pl.col(c).abs() >= MAX_ABS_VALUE)).fill_null(False)
        for c in columns
    )


NEW_YORK = "America/New_York"
"""The zone of TAQ's times of day (all US equity markets report in New York time)."""
SHARES_PER_ROUND_LOT = 100
NS_PER_DAY = 86_400 * 1_000_000_000
SCALES = {k: 10**k for k in range(10)}  # decimals of the second -> their scale
"""Quote sizes in round lots are multiplied by this (a symbol's own round lot where the file says)."""

KEPT_CORRECTIONS = (0, 1)
SKIPPED_CORRECTIONS = (2, 7, 8, 10, 11, 12)
KNOWN_CORRECTIONS = (*KEPT_CORRECTIONS, *SKIPPED_CORRECTIONS)
TRADE_CORRECTION = "trade_correction"
CANCELLED_QUOTE = "cancelled_quote"
QUOTE_CANCEL = "B"
"""``Quote_Cancel_Correction`` / ``QU_CANCEL`` of a cancelled quote (Holden & Jacobsen's DTAQ program
deletes these)."""


def trimmed(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """``frame`` with the text ``columns`` stripped of padding at either end.

    Files written without padding (Daily TAQ's, WRDS's) are read as they are, which saves a pass over
    every value: a reader first parses a batch unstripped, and strips and parses it again only if some
    value did not read (:func:`parsed`). One-letter codes are stripped whenever a value is longer than one
    letter (:func:`codes`)."""
    return frame.with_columns(pl.col(c).str.strip_chars() for c in columns if c in frame.columns)


def codes(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """``frame`` with the one-letter code ``columns`` (exchange, quote condition, cancel flag) stripped
    where a value is longer than one letter (padded), so a padded code never reads as another."""
    present = [c for c in columns if c in frame.columns]
    if not present or not frame.height:
        return frame
    longest = frame.select(pl.col(c).str.len_bytes().max() for c in present).row(0, named=True)
    return trimmed(frame, tuple(c for c in present if (longest[c] or 0) > 1))


def parsed(
    parse: Callable[[pl.DataFrame], pl.DataFrame], text: pl.DataFrame, columns: tuple[str, ...]
) -> pl.DataFrame:
    """``parse(text)`` (a frame with a boolean ``_bad``: records that do not read), again on ``text``
    with ``columns`` stripped if some record did not read unstripped."""
    frame = parse(text)
    if frame.height and frame["_bad"].any():
        frame = parse(trimmed(text, columns))
    return frame


def blank(text: pl.Expr) -> pl.Expr:
    """Whether a text field is null or empty."""
    return text.is_null() | (text == "")


def number(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """A numeric field: its value (``Float64``; null where blank or not a finite number)
    and whether it is not a number although not blank (a malformed record)."""
    value = text.cast(pl.Float64, strict=False)
    value = pl.when(value.is_finite()).then(value)
    return value, value.is_null() & ~blank(text)


def integer(text: pl.Expr) -> pl.Expr:
    """An integer field (``Int64``), null where blank or not an integer."""
    return text.cast(pl.Int64, strict=False)


def symbol(root: pl.Expr, suffix: pl.Expr | None = None) -> pl.Expr:
    """Kappa's symbol: root and suffix joined by ``.`` (TAQ writes ``BRK B``, WRDS ``BRK`` and ``B``:
    both are ``BRK.B``); null where blank."""
    text = root.str.strip_chars()
    if suffix is not None:
        tail = suffix.str.strip_chars()
        text = (
            pl.when(tail.is_null() | (tail == ""))
            .then(text)
            .otherwise(pl.concat_str(text, pl.lit("."), tail))
        )
    text = text.str.replace_all(" ", ".", literal=True)
    return pl.when(text == "").then(None).otherwise(text)


def runs(function: Callable[..., pl.Expr], *columns: pl.Expr) -> pl.Expr:
    """``function(*columns)`` computed once per run of equal values of ``columns`` and spread over the run:
    a file sorted by symbol repeats a symbol (a date, ...) over thousands of rows, so text work on it is done
    a run at a time."""
    first = pl.int_range(pl.len()) == 0
    start = pl.any_horizontal(first, *(c.ne_missing(c.shift(1)) for c in columns))
    return function(*(c.filter(start) for c in columns)).gather(start.cum_sum() - 1)


def code(text: pl.Expr) -> pl.Expr:
    """A code field (exchange, condition; see :func:`codes`); null where blank."""
    return pl.when(text == "").then(None).otherwise(text)


def epoch_ns(day: dt.date) -> int:
    """Nanoseconds from 1970-01-01 to midnight of ``day`` (a date's local midnight, read as if UTC)."""
    return (day - dt.date(1970, 1, 1)).days * NS_PER_DAY


def new_york_instant(local_ns: pl.Expr) -> pl.Expr:
    """The UTC instant (``Datetime('ns', 'UTC')``) of a New York wall-clock time given as nanoseconds since
    1970-01-01 00:00 on the wall clock (:func:`epoch_ns` of its date plus the time of day).

    Converted with the IANA zone, never a fixed offset, so the days daylight saving starts and ends come
    out right. A time in the hour repeated when it ends is taken the first time; one in the hour skipped
    when it starts is null (neither happens within a trading day, 04:00 to 20:00).
    """
    return (
        local_ns.cast(pl.Datetime("ns"))
        .dt.replace_time_zone(NEW_YORK, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )


def clock(frame: pl.LazyFrame, digits: pl.Expr) -> pl.LazyFrame:
    """``frame`` with ``_ns``, the nanoseconds after midnight of a time of day written ``HHMMSS`` and up to
    nine decimals of the second, all digits (``093000123456789``), and ``_bad_time``: whether it is not one
    (not digits, hours above 23, minutes or seconds above 59). Null text gives null ``_ns``, not bad."""
    frame = frame.with_columns(
        digits.cast(pl.Int64, strict=False).alias("_v"),
        (digits.str.len_bytes().cast(pl.Int64) - 6).alias("_d"),
        digits.str.contains(r"^\d{6,15}$").alias("_digits"),
        digits.is_null().alias("_no_time"),
    ).with_columns(
        pl.col("_d").replace_strict(SCALES, default=None, return_dtype=pl.Int64).alias("_s"),
    )
    v, scale = pl.col("_v"), pl.col("_s")
    frame = frame.with_columns(
        (v // scale).alias("_hms"), ((v % scale) * (1_000_000_000 // scale)).alias("_f")
    )
    hms = pl.col("_hms")
    hh, mm, ss = hms // 10_000, hms // 100 % 100, hms % 100
    bad = ~pl.col("_digits").fill_null(False) | (hh > 23) | (mm > 59) | (ss > 59)
    return frame.with_columns(
        (((hh * 60 + mm) * 60 + ss) * 1_000_000_000 + pl.col("_f")).alias("_ns"),
        (bad.fill_null(True) & ~pl.col("_no_time")).alias("_bad_time"),
    ).drop("_v", "_d", "_digits", "_no_time", "_s", "_hms", "_f")


@dataclass(frozen=True, slots=True)
class TradeFields:
    """Where a TAQ-family trades file holds each value of a print: its field names (lower case)."""

    price: str
    size: str
    exchange: str
    conditions: str
    correction: str
    sequence: str


def trades(timed: pl.LazyFrame, fields: TradeFields) -> pl.DataFrame:
    """The trades of records already timed (``_ts``, ``_bad_time``, ``_symbol``): the contract's columns,
    ``_bad`` (a time, number or Trade Correction Indicator that does not read) and ``_skip`` (a correction
    code of a print that is not the trade as it stands, :data:`SKIPPED_CORRECTIONS`).

    ``trade_id`` is the SIP's sequence number, as an integer where it reads as one (leading zeros and padding
    do not make two prints of one).
    """
    price, bad_price = number(pl.col(fields.price))
    size, bad_size = number(pl.col(fields.size))
    seq = pl.col(fields.sequence)
    correction = pl.col("_correction")
    return (
        timed.with_columns(integer(pl.col(fields.correction)).alias("_correction"))
        .select(
            pl.col("_symbol").alias("symbol"),
            pl.col("_ts").alias("ts"),
            price.alias("price"),
            size.alias("size"),
            code(pl.col(fields.exchange)).alias("exchange"),
            pl.col(fields.conditions).alias("conditions"),
            pl.coalesce(integer(seq).cast(pl.String), pl.when(seq != "").then(seq)).alias("trade_id"),
            pl.col(ROW),
            (
                pl.col("_bad_time")
                | bad_price
                | bad_size
                | ~correction.is_in(KNOWN_CORRECTIONS).fill_null(False)
            ).alias("_bad"),
            correction.is_in(SKIPPED_CORRECTIONS).fill_null(False).alias("_skip"),
        )
        .collect()
    )


def split_trades(frame: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray, Counter[str]]:
    """:func:`trades`' rows split: the rows to load, the row numbers of malformed records, and the count of
    the prints skipped as ``trade_correction``."""
    bad = frame.filter("_bad")[ROW].to_numpy()
    skipped = Counter({TRADE_CORRECTION: frame.filter(~pl.col("_bad") & pl.col("_skip")).height})
    return frame.filter(~pl.col("_bad") & ~pl.col("_skip")).drop("_bad", "_skip"), bad, +skipped
