"""WRDS TAQ extracts: the consolidated quotes (``cqm``) and trades (``ctm``) of Daily TAQ as WRDS delivers a
query's result, one row per exchange quote or trade, in CSV (any delimiter Kappa's CSV reader knows,
optionally gzipped).

A file is told by its header: ``SYM_ROOT`` and ``TIME_M`` (any case), with ``BID``, ``BIDSIZ``, ``ASK``,
``ASKSIZ`` for quotes or ``PRICE``, ``SIZE`` for trades; other columns are ignored.

Quotes (``DATE, TIME_M, EX, SYM_ROOT, SYM_SUFFIX, BID, BIDSIZ, ASK, ASKSIZ, QU_COND, NATBBO_IND, QU_CANCEL,
QU_SOURCE``) -> table ``quotes``: the NBBO built from the exchanges' quotes (:mod:`data.formats.nbbo`,
conditions ``QU_COND`` A, B, H, O, R, W after Holden & Jacobsen 2014), one row per quote that changes it,
with that quote's ``EX`` as ``exchange``. ``BIDSIZ``/``ASKSIZ`` are round lots of 100 shares (as Holden &
Jacobsen's programs read them). ``QU_CANCEL`` = ``B``: a cancelled quote, skipped as ``cancelled_quote``.
``NATBBO_IND`` and ``QU_SOURCE`` are not used: the NBBO is built from every exchange's quote.

Trades (``DATE, TIME_M, EX, SYM_ROOT, SYM_SUFFIX, TR_SCOND, SIZE, PRICE, TR_CORR, TR_SEQNUM, TR_SOURCE,
TR_RF``) -> table ``trades``: ``price`` = ``PRICE``, ``size`` = ``SIZE`` (shares), ``exchange`` = ``EX``,
``conditions`` = ``TR_SCOND`` as delivered, ``trade_id`` = ``TR_SEQNUM`` (the SIP's sequence number,
unique per symbol and day). ``TR_CORR`` as Daily TAQ's Trade Correction Indicator (:mod:`data.formats.tape`:
00 and 01 kept, 02, 07, 08, 10, 11, 12 skipped as ``trade_correction``).

``symbol`` = ``SYM_ROOT``, with ``.SYM_SUFFIX`` where there is a suffix (``BRK.B``). ``DATE`` is
``YYYYMMDD`` or ``YYYY-MM-DD``, ``TIME_M`` ``HH:MM:SS`` with up to nine decimals, New York time; ``ts`` the
UTC instant. A file may hold several dates: the NBBO's state starts afresh on each symbol's new date. The
quotes need not be sorted by symbol (WRDS sorts by ``SYM_ROOT`` and time, leaving ``BRK.A`` and ``BRK.B``
interleaved), but each symbol's quotes must be in time order.

``row_number`` N is the file's line N + 1, as for Kappa's own CSV (:mod:`data.readers`). A row whose
``DATE``, ``TIME_M`` or a number does not read, or a quote without symbol, date, time or exchange, is
malformed (quarantined with its line).
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl

from data.contract import Column, TableSpec
from data.formats import tape
from data.formats.nbbo import KEPT_CONDITIONS, NBBOBuilder
from data.readers import CSV_SUFFIXES, DEFAULT_BATCH_ROWS, MALFORMED_SCHEMA, RawBatch, dialect
from data.readers import read_batches as read_text
from data.validation import ROW
from kappa.errors import InputError

QUOTE_FIELDS = ("date", "time_m", "ex", "sym_root", "bid", "bidsiz", "ask", "asksiz", "qu_cond")
QUOTE_OPTIONAL = ("sym_suffix", "qu_cancel")
TRADE_FIELDS = ("date", "time_m", "sym_root", "size", "price", "tr_corr")
TRADE_OPTIONAL = ("ex", "sym_suffix", "tr_scond", "tr_seqnum")
TIME_PATTERN = r"^\d{1,2}:\d{2}:\d{2}(\.\d{1,9})?$"
CODES = ("ex", "qu_cond", "qu_cancel")
NUMBERS = ("date", "time_m", "bid", "bidsiz", "ask", "asksiz", "size", "price", "tr_corr", "tr_seqnum")
"""Fields stripped of padding and read again if a row of the batch does not read as it is."""


def _names(path: Path) -> list[str]:
    """The header's column names, lower-cased (an :class:`InputError` if the file cannot be read)."""
    return [n.strip().lower() for n in dialect(path).names]


def sniff(path: Path) -> bool:
    """A delimited text file whose header has ``SYM_ROOT`` and ``TIME_M``."""
    if not path.name.lower().endswith(CSV_SUFFIXES):
        return False
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as f:
            header = f.readline(1 << 16).decode("utf-8-sig", errors="replace").lower()
    except (OSError, EOFError):
        return False
    return "sym_root" in header and "time_m" in header


def _kind(path: Path) -> str:
    names = set(_names(path))
    if set(QUOTE_FIELDS) <= names:
        return "quotes"
    if set(TRADE_FIELDS) <= names:
        return "trades"
    raise InputError(
        "not a WRDS TAQ extract: the header lacks the quote columns "
        f"({', '.join(QUOTE_FIELDS).upper()}) and the trade columns ({', '.join(TRADE_FIELDS).upper()})",
        path=str(path),
    )


def tables(path: Path) -> tuple[str, ...]:
    """``("quotes",)`` or ``("trades",)``, from the header."""
    return (_kind(path),)


def companions(path: Path) -> list[Path]:
    """The file itself."""
    return [path]


def read_batches(
    path: Path, spec: TableSpec, batch_rows: int = DEFAULT_BATCH_ROWS, calendar: str | None = None
) -> Iterator[RawBatch]:
    """The rows of table ``spec`` in a WRDS TAQ extract, in batches (see the module docstring).

    Parameters
    ----------
    path
        A WRDS quotes or trades extract (CSV, optionally gzipped).
    spec
        ``QUOTES`` for a quotes extract, ``TRADES`` for a trades extract.
    batch_rows
        About this many rows are read at a time.

    Raises
    ------
    InputError
        The file is not a WRDS extract of ``spec``'s table, cannot be read, or a symbol's quotes go back
        in time.
    """
    kind = _kind(path)
    if spec.name != kind:
        raise InputError(f"a WRDS {kind} extract holds no {spec.name}", path=str(path))
    fields, optional = (QUOTE_FIELDS, QUOTE_OPTIONAL) if kind == "quotes" else (TRADE_FIELDS, TRADE_OPTIONAL)
    layout = TableSpec(
        f"wrds_{kind}",
        (*(Column(c, "str") for c in fields), *(Column(c, "str", required=False) for c in optional)),
    )
    rows = _Quotes(path) if kind == "quotes" else _Trades()
    for raw in read_text(path, layout, batch_rows):
        text = raw.frame.with_columns(
            [pl.lit(None, dtype=pl.String).alias(c) for c in optional if c not in raw.frame.columns]
        )
        frame, bad, skipped = rows.read(tape.codes(text, CODES))
        malformed = raw.malformed
        if "detail" not in malformed.columns:
            malformed = malformed.with_columns(pl.lit(None, pl.String).alias("detail"))
        if bad.size:
            texts = raw.lines(bad) if raw.lines is not None else [None] * bad.size
            unread = pl.DataFrame({ROW: bad, "raw": texts}, schema=MALFORMED_SCHEMA).with_columns(
                pl.lit(tape.UNREADABLE).alias("detail")
            )
            malformed = pl.concat([malformed, unread], how="diagonal_relaxed").sort(ROW)
        yield RawBatch(frame, malformed, raw.lines, dict(skipped))


def _timed(text: pl.DataFrame) -> pl.LazyFrame:
    """The rows with ``_date`` (``DATE``), ``_ts`` (``DATE`` and ``TIME_M`` in New York, as UTC),
    ``_bad_time`` (either does not read) and ``_symbol``."""
    day, t = pl.col("date"), pl.col("time_m")
    padded = pl.when(t.str.slice(1, 1) == ":").then(pl.concat_str(pl.lit("0"), t)).otherwise(t)
    digits = padded.str.replace_all(":", "", literal=True).str.replace_all(".", "", literal=True)
    frame = tape.clock(
        text.lazy().with_columns(
            tape.runs(_date, day).alias("_date"),
            tape.runs(tape.symbol, pl.col("sym_root"), pl.col("sym_suffix")).alias("_symbol"),
            t.str.contains(TIME_PATTERN).fill_null(True).alias("_time_form"),
        ),
        digits,
    )
    local = pl.col("_date").cast(pl.Int64) * tape.NS_PER_DAY + pl.col("_ns")
    bad_date = pl.col("_date").is_null() & ~tape.blank(pl.col("date"))
    return frame.with_columns(
        tape.new_york_instant(local).alias("_ts"),
        (pl.col("_bad_time") | ~pl.col("_time_form") | bad_date).alias("_bad_time"),
    )


def _date(text: pl.Expr) -> pl.Expr:
    """``YYYYMMDD`` or ``YYYY-MM-DD`` as a date (null if neither)."""
    return pl.coalesce(text.str.to_date("%Y%m%d", strict=False), text.str.to_date("%Y-%m-%d", strict=False))


TRADE_VALUES = tape.TradeFields(
    price="price",
    size="size",
    exchange="ex",
    conditions="tr_scond",
    correction="tr_corr",
    sequence="tr_seqnum",
)
"""Where a WRDS trades extract holds a print's values."""


class _Trades:
    def read(self, text: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray, Counter[str]]:
        return tape.split_trades(tape.parsed(self._parse, text, NUMBERS))

    def _parse(self, text: pl.DataFrame) -> pl.DataFrame:
        return tape.trades(_timed(text), TRADE_VALUES)


class _Quotes:
    def __init__(self, path: Path) -> None:
        self.nbbo = NBBOBuilder(path)

    def read(self, text: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray, Counter[str]]:
        frame = tape.parsed(self._parse, text, NUMBERS)
        bad = frame.filter("_bad")[ROW].to_numpy()
        cancelled = frame.filter(~pl.col("_bad") & pl.col("_cancelled")).height
        rows, skipped = self.nbbo.add(frame.filter(~pl.col("_bad") & ~pl.col("_cancelled")))
        skipped[tape.CANCELLED_QUOTE] += cancelled
        return rows, bad, +skipped

    def _parse(self, text: pl.DataFrame) -> pl.DataFrame:
        values = [tape.number(pl.col(c)) for c in ("bid", "bidsiz", "ask", "asksiz")]
        lot = float(tape.SHARES_PER_ROUND_LOT)
        unplaced = pl.any_horizontal(pl.col(c).is_null() for c in ("symbol", "date", "ts", "exchange"))
        return (
            _timed(text)
            .select(
                pl.col("_symbol").alias("symbol"),
                pl.col("_date").alias("date"),
                pl.col("_ts").alias("ts"),
                tape.code(pl.col("ex")).alias("exchange"),
                values[0][0].alias("bid"),
                (values[1][0] * lot).alias("bid_size"),
                values[2][0].alias("ask"),
                (values[3][0] * lot).alias("ask_size"),
                tape.code(pl.col("qu_cond")).is_in(list(KEPT_CONDITIONS)).fill_null(False).alias("regular"),
                (tape.code(pl.col("qu_cancel")) == tape.QUOTE_CANCEL).fill_null(False).alias("_cancelled"),
                pl.col(ROW),
                pl.any_horizontal(pl.col("_bad_time"), *(b for _, b in values)).alias("_bad"),
            )
            .with_columns(
                (pl.col("_bad") | unplaced | tape.out_of_range("bid", "bid_size", "ask", "ask_size")).alias(
                    "_bad"
                )
            )
            .collect()
        )
