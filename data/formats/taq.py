"""NYSE Daily TAQ files: trades, each exchange's quotes (made the NBBO) and the SIP's NBBO.

Files (Daily TAQ Client Specification, v3.x; pipe-delimited, a header line of field names, one record a line,
and a trailer ``END|YYYYMMDD|count``; plain or gzipped), told apart by their header:

``EQY_US_ALL_TRADE_YYYYMMDD``
    Trades -> table ``trades``: ``symbol`` = Symbol (``BRK B`` -> ``BRK.B``), ``ts`` = Time, ``price`` =
    Trade Price, ``size`` = Trade Volume (shares), ``exchange`` = Exchange, ``conditions`` = Sale Condition
    as delivered (four one-letter CTA/UTP codes, blank-padded: ``@  I``, ``@FT ``; :mod:`data.cleaning`
    reads the codes from it), ``trade_id`` = Sequence Number (the SIP's sequence number; a symbol's prints
    are sequenced on one SIP line, so it is unique per symbol and day). Trade Correction Indicator: see
    :mod:`data.formats.tape` (00 and 01 kept; 02, 07, 08, 10, 11, 12 skipped as ``trade_correction``).
``EQY_US_ALL_BBO_YYYYMMDD``, ``SPLITS_US_ALL_BBO_X_YYYYMMDD``
    Each exchange's quotes -> table ``quotes``, the NBBO built from them (:mod:`data.formats.nbbo`:
    conditions A, B, H, O, R, W kept after Holden & Jacobsen 2014, sizes summed over the exchanges at the
    best price), one row per quote that changes it, with that quote's Exchange. A quote whose
    Quote_Cancel_Correction is ``B`` (cancelled) does not act on the NBBO: skipped as ``cancelled_quote``.
``EQY_US_ALL_NBBO_YYYYMMDD``
    The SIP's NBBO -> table ``quotes``: ``bid``/``ask`` = Best_Bid_Price/Best_Offer_Price, sizes =
    Best_Bid_Size/Best_Offer_Size, ``exchange`` = Exchange of the quote that changed the NBBO. Records
    whose NBBO is one-sided, crossed or the same as the record's before are skipped (``one_sided_nbbo``,
    ``crossed_nbbo``, ``nbbo_unchanged``), cancelled ones as ``cancelled_quote``; the quote's condition does
    not matter (the SIP's NBBO already leaves out quotes that are not firm). This file alone is not the
    complete NBBO: a quote that is itself both the best bid and the best offer changes the NBBO in the
    quotes file only (Holden & Jacobsen 2014, footnotes 6 and 24). Load the quotes file for the complete
    NBBO.

Times are ``HHMMSSxxxxxxxxx`` (nanoseconds; older files' 3 or 6 decimals are read as well) after midnight in
New York on the file's date: the date in its name, else the trailer's (read first, a pass over the file).
Quote sizes are in round lots: multiplied by the symbol's Round_Lot from the master file
``EQY_US_ALL_REF_MASTER_YYYYMMDD`` of the same date in the same folder (a companion of the file when
present), else by 100. A gzipped file is known by its first bytes, whatever its name.

The trailer's count is checked against the records read (header and trailer are not records): a file whose
trailer is missing or counts otherwise is refused with an :class:`~kappa.errors.InputError` naming both
counts, after its rows were read (the load fails and nothing of it is stored): a truncated delivery never
loads silently.

``row_number`` N is the file's line N + 1 (the header is line 1; blank lines count as lines and are not
records), so ``sed -n "$((N + 1))p" FILE`` (``zcat FILE | sed ...`` if gzipped) prints the record; an NBBO
row's is that of the exchange quote that caused it. A record whose number of fields is not the header's,
or whose time or a number does not read, or a quote without symbol, time or exchange, is malformed (the
quarantine keeps its text). Blank prices or sizes are left to validation (``missing_value``).
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl

from data.contract import TableSpec
from data.formats import tape
from data.formats.nbbo import (
    CROSSED_NBBO,
    KEPT_CONDITIONS,
    NBBO_UNCHANGED,
    ONE_SIDED_NBBO,
    OUTPUT_SCHEMA,
    KeyOrder,
    NBBOBuilder,
)
from data.readers import DEFAULT_BATCH_ROWS, MALFORMED_SCHEMA, RawBatch
from data.validation import ROW
from kappa.errors import InputError

BYTES_PER_RECORD = 100  # a block of text holds about batch_rows records of this size
NAME = re.compile(
    r"^(EQY_US_ALL_(TRADE|BBO|NBBO)|SPLITS_US_ALL_BBO_[A-Z0-9]+)_(\d{8})(\.gz)?$", re.IGNORECASE
)
DATE_IN_NAME = re.compile(r"(?<!\d)(\d{8})(?!\d)")
TRAILER = re.compile(rb"^END\|(\d{8})\|(\d+)\s*$")
MASTER = "EQY_US_ALL_REF_MASTER_{date}"

FIELDS: dict[str, tuple[str, ...]] = {
    "trades": (
        "time",
        "exchange",
        "symbol",
        "sale_condition",
        "trade_volume",
        "trade_price",
        "trade_correction_indicator",
        "sequence_number",
    ),
    "quotes": (
        "time",
        "exchange",
        "symbol",
        "bid_price",
        "bid_size",
        "offer_price",
        "offer_size",
        "quote_condition",
    ),
    "nbbo": (
        "time",
        "exchange",
        "symbol",
        "best_bid_price",
        "best_bid_size",
        "best_offer_price",
        "best_offer_size",
    ),
}
"""The fields each file must have (header names lower-cased, spaces as ``_``: the trades file's header
writes ``Sale Condition``, the quotes file's ``Bid_Price``)."""
TABLES = {"trades": ("trades",), "quotes": ("quotes",), "nbbo": ("quotes",)}
CODES = ("exchange", "quote_condition", "quote_cancel_correction")
NUMBERS = (
    *("time", "trade_volume", "trade_price", "trade_correction_indicator", "sequence_number", "bid_price"),
    *("bid_size", "offer_price", "offer_size", "best_bid_price", "best_bid_size", "best_offer_price"),
    "best_offer_size",
)
"""Fields stripped of padding and read again if a record of the batch does not read as it is."""


@dataclass(frozen=True, slots=True)
class Layout:
    """A Daily TAQ file as its header and name describe it: which file (``trades``, ``quotes`` or
    ``nbbo``), its field names (normalised) in order, and the trading date."""

    kind: str
    names: tuple[str, ...]
    date: dt.date | None


def _open(path: Path) -> BinaryIO:
    """The file's bytes, gunzipped as they are read if it is gzipped (by its first bytes, whatever its
    name)."""
    with path.open("rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[return-value]


def _header(path: Path) -> str:
    try:
        with _open(path) as f:
            line = f.readline(1 << 16)
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read: {exc}", path=str(path)) from exc
    return line.decode("utf-8", errors="replace").strip("\r\n")


def _names(header: str) -> tuple[str, ...]:
    return tuple(re.sub(r"\s+", "_", n.strip().lower()) for n in header.split("|"))


def _kind(names: tuple[str, ...]) -> str | None:
    for kind in ("nbbo", "trades", "quotes"):  # the NBBO file has the quotes file's fields too
        if set(FIELDS[kind]) <= set(names):
            return kind
    return None


def sniff(path: Path) -> bool:
    """A Daily TAQ file: named as NYSE delivers it, or with a header of TAQ's fields."""
    if NAME.match(path.name):
        return True
    try:
        header = _header(path)
    except InputError:
        return False
    return header.startswith("Time|Exchange|Symbol|") and _kind(_names(header)) is not None


def layout(path: Path) -> Layout:
    """The file's :class:`Layout`; an :class:`InputError` if its header is not one of Daily TAQ's."""
    names = _names(_header(path))
    kind = _kind(names)
    if kind is None:
        expected = "; ".join(f"{k}: {', '.join(f)}" for k, f in FIELDS.items())
        raise InputError(
            f"not a Daily TAQ file: its header lacks the fields of any ({expected})", path=str(path)
        )
    return Layout(kind, names, _date_in_name(path))


def _date_in_name(path: Path) -> dt.date | None:
    for text in reversed(DATE_IN_NAME.findall(path.name)):
        try:
            return dt.datetime.strptime(text, "%Y%m%d").date()
        except ValueError:
            continue
    return None


def tables(path: Path) -> tuple[str, ...]:
    """``("trades",)`` for a trades file, ``("quotes",)`` for a quotes or NBBO file."""
    return TABLES[layout(path).kind]


def redundant(paths: list[Path]) -> dict[Path, str]:
    """Files of ``paths`` not to load, with why: the SIP's NBBO file of a date whose exchange quotes file
    (``EQY_US_ALL_BBO``) is given too, as Kappa builds that day's NBBO from every exchange's quotes (the NBBO
    file leaves out the changes where one exchange holds both sides of the NBBO)."""
    shapes = {}
    for p in paths:
        try:
            if sniff(p):
                shapes[p] = layout(p)
        except InputError:
            continue
    quoted = {s.date for s in shapes.values() if s.kind == "quotes" and s.date is not None}
    return {
        p: "the SIP's NBBO file of a date whose exchange quotes file is loaded: Kappa builds the NBBO from those"
        for p, s in shapes.items()
        if s.kind == "nbbo" and s.date in quoted
    }


def companions(path: Path) -> list[Path]:
    """The file, and for a quotes or NBBO file the master file whose round lots it was read with."""
    master = _master_file(path) if layout(path).kind != "trades" else None
    return [path, master] if master else [path]


def _master_file(path: Path) -> Path | None:
    day = _date_in_name(path)
    if day is None:
        return None
    stem = MASTER.format(date=f"{day:%Y%m%d}")
    for name in (stem, f"{stem}.gz"):
        if (path.parent / name).is_file():
            return path.parent / name
    return None


def round_lots(path: Path) -> dict[str, float]:
    """Shares per round lot by symbol, from the master file beside ``path`` (empty if there is none)."""
    master = _master_file(path)
    if master is None:
        return {}
    try:
        frame = pl.read_csv(
            master,
            separator="|",
            quote_char=None,
            infer_schema=False,
            columns=["Symbol", "Round_Lot"],
            comment_prefix="END|",
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(
            f"cannot read the master file's Symbol and Round_Lot: {exc}", path=str(master)
        ) from exc
    lots = frame.select(
        tape.symbol(pl.col("Symbol")).alias("symbol"),
        pl.col("Round_Lot").str.strip_chars().cast(pl.Float64, strict=False),
    ).filter(pl.col("symbol").is_not_null() & (pl.col("Round_Lot") > 0))
    return dict(lots.iter_rows())


@dataclass(frozen=True, slots=True)
class _Block:
    """Lines of the file after the header: their bytes, each line's [start, end) without its line break and
    its number in the file."""

    data: bytes
    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray

    def texts(self, rows: np.ndarray) -> list[str]:
        """The text of the records of row numbers ``rows`` (row N is line N + 1)."""
        at = np.searchsorted(self.lines, np.asarray(rows, dtype=np.int64) + 1)
        return [self.data[self.starts[i] : self.ends[i]].decode("utf-8", errors="replace") for i in at]


def _blocks(path: Path, block_bytes: int) -> Iterator[_Block]:
    """The lines after the header in blocks of about ``block_bytes`` (a block ends at a line's end)."""
    with _open(path) as f:
        f.readline()
        carry, line = b"", 2
        while True:
            try:
                chunk = f.read(block_bytes)
            except (OSError, EOFError) as exc:  # a truncated or corrupt gzip stream
                raise InputError(f"cannot read after line {line - 1}: {exc}", path=str(path)) from exc
            data = carry + chunk
            if not data:
                return
            if chunk:
                cut = data.rfind(b"\n") + 1
                if not cut:
                    carry = data
                    continue
                data, carry = data[:cut], data[cut:]
            buf = np.frombuffer(data, dtype=np.uint8)
            breaks = np.flatnonzero(buf == 10)
            ends = breaks if data.endswith(b"\n") else np.append(breaks, len(data))
            starts = np.concatenate(([0], breaks[: ends.size - 1] + 1)).astype(np.int64)
            cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
            yield _Block(
                data, starts, (ends - cr).astype(np.int64), line + np.arange(ends.size, dtype=np.int64)
            )
            line += ends.size
            if not chunk:
                return


def _split(
    block: _Block, names: tuple[str, ...], wanted: list[str]
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """The block's records of the header's number of fields as text columns ``wanted`` (and
    ``row_number``), the row numbers of the other non-empty lines (malformed, or the trailer), and of those
    the lines holding a byte that is not ASCII text (TAQ's records are ASCII: a control character or a byte
    above 127 is a damaged record, never a symbol to load)."""
    buf = np.frombuffer(block.data, dtype=np.uint8)
    pipes = np.flatnonzero(buf == 124)
    fields = np.searchsorted(pipes, block.ends) - np.searchsorted(pipes, block.starts) + 1
    odd = np.flatnonzero((buf >= 127) | ((buf < 32) & (buf != 10) & (buf != 13) & (buf != 9)))
    not_text = (np.searchsorted(odd, block.ends) - np.searchsorted(odd, block.starts)) > 0
    empty = block.ends == block.starts
    good = ~empty & (fields == len(names)) & ~not_text
    if good.all():
        payload = block.data
    else:  # the runs of good lines, with their line breaks
        nxt = np.append(block.starts[1:], len(block.data))
        edges = np.flatnonzero(np.diff(np.concatenate(([0], good.view(np.int8), [0]))))
        payload = b"".join(
            block.data[block.starts[a] : nxt[b - 1]] for a, b in zip(edges[::2], edges[1::2], strict=True)
        )
    rows = block.lines[good] - 1
    if not rows.size:
        frame = pl.DataFrame(schema=dict.fromkeys(wanted, pl.String()))
    else:
        frame = pl.read_csv(
            payload,
            has_header=False,
            separator="|",
            quote_char=None,
            columns=[names.index(n) for n in wanted],
            schema=dict.fromkeys(names, pl.String()),
            encoding="utf8-lossy",
        )
    if frame.height != rows.size:
        raise InputError(f"{frame.height} records parsed from {rows.size} lines near line {block.lines[0]}")
    return (
        frame.with_columns(pl.Series(ROW, rows, dtype=pl.Int64)),
        block.lines[~empty & ~good] - 1,
        block.lines[not_text] - 1,
    )


class _Trailer:
    """The ``END|YYYYMMDD|count`` record: the file's last; found among the lines that are not records of
    the header's fields, held back until no record follows it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: tuple[int, str] | None = None  # (row number, text) of the last END line so far
        self.records = 0

    def take(self, block: _Block, other: np.ndarray) -> pl.DataFrame:
        """The malformed records of a block (``row_number, raw``): the lines ``other`` (not records of the
        header's fields) but an END line that ends the block, which is held back, and before them an END
        line held back earlier if records followed it."""
        nonempty = block.lines[block.ends > block.starts]
        last_row = int(nonempty[-1]) - 1 if nonempty.size else -1
        rows, texts = list(other), block.texts(other)
        if self.pending is not None and last_row > self.pending[0]:
            rows.insert(0, self.pending[0])
            texts.insert(0, self.pending[1])
            self.pending = None
        if rows and rows[-1] == last_row and TRAILER.match(texts[-1].encode()):
            self.pending = (rows.pop(), texts.pop())
        self.records += len(rows)
        return pl.DataFrame({ROW: rows, "raw": texts}, schema=MALFORMED_SCHEMA)

    def check(self, date: dt.date | None) -> None:
        """Refuse the file if the trailer is missing, counts otherwise, or dates it otherwise than its name."""
        if self.pending is None:
            raise InputError(
                f"no trailer (END|YYYYMMDD|count) after {self.records} records: the file is truncated",
                path=str(self.path),
            )
        m = TRAILER.match(self.pending[1].encode())
        assert m is not None
        day, count = m.group(1).decode(), int(m.group(2))
        if count != self.records:
            raise InputError(
                f"the trailer counts {count} records, the file holds {self.records}: the file is truncated "
                "or damaged",
                path=str(self.path),
            )
        if date is not None and day != f"{date:%Y%m%d}":
            raise InputError(
                f"the trailer's date {day} is not the file name's {date:%Y%m%d}", path=str(self.path)
            )


def trailer_date(path: Path) -> dt.date:
    """The date of the file's trailer (read through to the end: for a file whose name has no date)."""
    tail = b""
    with _open(path) as f:
        while chunk := f.read(1 << 22):
            tail = (tail + chunk)[-4096:]
    lines = [ln for ln in tail.splitlines() if ln.strip()]
    m = TRAILER.match(lines[-1]) if lines else None
    if m is None:
        raise InputError(
            "no date in the file name and no trailer (END|YYYYMMDD|count) to take it from", path=str(path)
        )
    return dt.datetime.strptime(m.group(1).decode(), "%Y%m%d").date()


def read_batches(
    path: Path, spec: TableSpec, batch_rows: int = DEFAULT_BATCH_ROWS, calendar: str | None = None
) -> Iterator[RawBatch]:
    """The rows of table ``spec`` in a Daily TAQ file, in batches (see the module docstring).

    Parameters
    ----------
    path
        A Daily TAQ trades, quotes or NBBO file, plain or gzipped.
    spec
        ``TRADES`` for a trades file, ``QUOTES`` for a quotes or NBBO file.
    batch_rows
        About this many records are read at a time.

    Raises
    ------
    InputError
        The file is not a Daily TAQ file of ``spec``'s table, cannot be read, is not sorted by symbol then
        time (quotes), or its trailer is missing or does not count the records read.
    """
    shape = layout(path)
    if spec.name not in TABLES[shape.kind]:
        raise InputError(f"a Daily TAQ {shape.kind} file holds no {spec.name}", path=str(path))
    day = shape.date or trailer_date(path)
    kinds: dict[str, Callable[[Path, dt.date], _Rows]] = {"trades": _Trades, "quotes": _Quotes, "nbbo": _Nbbo}
    rows = kinds[shape.kind](path, day)
    trailer = _Trailer(path)
    for block in _blocks(path, max(1 << 16, batch_rows * BYTES_PER_RECORD)):
        text, other, not_text = _split(block, shape.names, rows.wanted(shape.names))
        malformed = trailer.take(block, other)
        why = pl.when(pl.col(ROW).is_in(not_text.tolist())).then(pl.lit(tape.NOT_TEXT))
        malformed = malformed.with_columns(
            why.otherwise(pl.lit(f"not {len(shape.names)} fields")).alias("detail")
        )
        trailer.records += text.height
        frame, unreadable, skipped = rows.read(tape.codes(text, CODES))
        if unreadable.size:
            unread = pl.DataFrame(
                {ROW: unreadable, "raw": block.texts(unreadable)}, schema=MALFORMED_SCHEMA
            ).with_columns(pl.lit(tape.UNREADABLE).alias("detail"))
            malformed = pl.concat([malformed, unread]).sort(ROW)
        yield RawBatch(frame, malformed, block.texts, dict(skipped))
    trailer.check(shape.date)


TRADE_FIELDS = tape.TradeFields(
    price="trade_price", size="trade_volume", exchange="exchange", conditions="sale_condition",
    correction="trade_correction_indicator", sequence="sequence_number",
)  # fmt: skip
"""Where the Daily TAQ trades file holds a print's values."""


class _Rows(ABC):
    """Turns the text records of a Daily TAQ file into rows of its table (one subclass a file kind)."""

    fields: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    def __init__(self, path: Path, day: dt.date) -> None:
        self.path, self.day = path, day

    def wanted(self, names: tuple[str, ...]) -> list[str]:
        """The fields read of a file whose header names ``names`` (the others are not parsed)."""
        return [n for n in names if n in self.fields or n in self.optional]

    @abstractmethod
    def read(self, text: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray, Counter[str]]:
        """Rows of the table, the row numbers of malformed records, and the counts of skipped ones."""

    def _timed(self, text: pl.DataFrame) -> pl.LazyFrame:
        """The records with ``_ts`` from Time (``HHMMSS`` and up to 9 decimals, New York time on the file's
        date) and ``_bad_time``, and ``_symbol`` (``BRK B`` -> ``BRK.B``)."""
        frame = tape.clock(text.lazy(), pl.col("time"))
        return frame.with_columns(
            tape.new_york_instant(pl.lit(tape.epoch_ns(self.day)) + pl.col("_ns")).alias("_ts"),
            tape.runs(tape.symbol, pl.col("symbol")).alias("_symbol"),
        )


class _Trades(_Rows):
    fields = FIELDS["trades"]

    def read(self, text: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray, Counter[str]]:
        return tape.split_trades(tape.parsed(self._parse, text, NUMBERS))

    def _parse(self, text: pl.DataFrame) -> pl.DataFrame:
        return tape.trades(self._timed(text), TRADE_FIELDS)


class _QuoteRows(_Rows):
    """The fields both quote files share: symbol, time, exchange, cancels, and round lots."""

    def __init__(self, path: Path, day: dt.date) -> None:
        super().__init__(path, day)
        self.lots = round_lots(path)

    def _lot(self) -> pl.Expr:
        if not self.lots:
            return pl.lit(float(tape.SHARES_PER_ROUND_LOT))
        default = float(tape.SHARES_PER_ROUND_LOT)
        return pl.col("_symbol").replace_strict(self.lots, default=default, return_dtype=pl.Float64)

    def _quotes(self, text: pl.DataFrame, fields: tuple[str, str, str, str]) -> pl.DataFrame:
        """symbol, date, ts, exchange, bid, bid_size, ask, ask_size (shares; from the fields ``fields``),
        ``regular`` (a kept quote condition), ``_cancelled``, ``row_number`` and ``_bad`` (malformed: a time
        or number that does not read, or no symbol, time or exchange to place the quote)."""
        return tape.parsed(lambda t: self._parse(t, fields), text, NUMBERS)

    def _parse(self, text: pl.DataFrame, fields: tuple[str, str, str, str]) -> pl.DataFrame:
        values = [tape.number(pl.col(f)) for f in fields]
        has = set(text.columns)
        cancel = pl.col("quote_cancel_correction") if "quote_cancel_correction" in has else pl.lit("")
        condition = pl.col("quote_condition") if "quote_condition" in has else pl.lit("")
        bad = pl.any_horizontal(pl.col("_bad_time"), *(b for _, b in values))
        unplaced = pl.col("symbol").is_null() | pl.col("ts").is_null() | pl.col("exchange").is_null()
        return (
            self._timed(text)
            .with_columns(self._lot().alias("_lot"))
            .select(
                pl.col("_symbol").alias("symbol"),
                pl.lit(self.day).alias("date"),
                pl.col("_ts").alias("ts"),
                tape.code(pl.col("exchange")).alias("exchange"),
                values[0][0].alias("bid"),
                (values[1][0] * pl.col("_lot")).alias("bid_size"),
                values[2][0].alias("ask"),
                (values[3][0] * pl.col("_lot")).alias("ask_size"),
                tape.code(condition).is_in(list(KEPT_CONDITIONS)).fill_null(False).alias("regular"),
                (tape.code(cancel) == tape.QUOTE_CANCEL).fill_null(False).alias("_cancelled"),
                pl.col(ROW),
                bad.alias("_bad"),
            )
            .with_columns(
                (pl.col("_bad") | unplaced | tape.out_of_range("bid", "bid_size", "ask", "ask_size")).alias(
                    "_bad"
                )
            )
            .collect()
        )


class _Quotes(_QuoteRows):
    fields = FIELDS["quotes"]
    optional = ("quote_cancel_correction",)

    def __init__(self, path: Path, day: dt.date) -> None:
        super().__init__(path, day)
        self.nbbo = NBBOBuilder(path)

    def read(self, text: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray, Counter[str]]:
        frame = self._quotes(text, ("bid_price", "bid_size", "offer_price", "offer_size"))
        bad = frame.filter("_bad")[ROW].to_numpy()
        cancelled = frame.filter(~pl.col("_bad") & pl.col("_cancelled")).height
        rows, skipped = self.nbbo.add(frame.filter(~pl.col("_bad") & ~pl.col("_cancelled")))
        skipped[tape.CANCELLED_QUOTE] += cancelled
        return rows, bad, +skipped


class _Nbbo(_QuoteRows):
    """The SIP's NBBO file: one row per record whose NBBO is two-sided, uncrossed and not the NBBO of the
    symbol's record before."""

    fields = FIELDS["nbbo"]
    optional = ("quote_cancel_correction",)
    sides = ("bid", "bid_size", "ask", "ask_size")

    def __init__(self, path: Path, day: dt.date) -> None:
        super().__init__(path, day)
        self.order = KeyOrder(path, "NBBO records")
        self.last: dict[str, tuple[float, ...]] = {}  # each symbol's NBBO at its last record so far

    def read(self, text: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray, Counter[str]]:
        fields = ("best_bid_price", "best_bid_size", "best_offer_price", "best_offer_size")
        frame = self._quotes(text, fields)
        bad = frame.filter("_bad")[ROW].to_numpy()
        cancelled = frame.filter(~pl.col("_bad") & pl.col("_cancelled")).height
        kept = self.order.sort(frame.filter(~pl.col("_bad") & ~pl.col("_cancelled")))
        sym = pl.col("symbol")
        start = (sym != sym.shift(1)).fill_null(True)
        nbbo = [pl.col(c).fill_null(0.0) for c in self.sides]
        carried = pl.DataFrame(
            [(k, *v) for k, v in self.last.items()],
            schema={"symbol": pl.String(), **{f"_last_{c}": pl.Float64() for c in self.sides}},
            orient="row",
        )
        previous = [
            pl.when(start).then(pl.col(f"_last_{c}")).otherwise(v.shift(1))
            for c, v in zip(self.sides, nbbo, strict=True)
        ]
        changed = pl.any_horizontal((v != p).fill_null(True) for v, p in zip(nbbo, previous, strict=True))
        two_sided = pl.all_horizontal((pl.col(c) > 0).fill_null(False) for c in self.sides)
        crossed = pl.col("bid") > pl.col("ask")
        reason = (
            pl.when(changed & two_sided & ~crossed)
            .then(pl.lit(None, dtype=pl.String))
            .when(~two_sided)
            .then(pl.lit(ONE_SIDED_NBBO))
            .when(crossed)
            .then(pl.lit(CROSSED_NBBO))
            .otherwise(pl.lit(NBBO_UNCHANGED))
        )
        kept = kept.join(carried, on="symbol", how="left", maintain_order="left").with_columns(
            reason.alias("_reason"), (sym != sym.shift(-1)).fill_null(True).alias("_end")
        )
        for row in kept.filter("_end").select("symbol", *nbbo).iter_rows():
            self.last[row[0]] = row[1:]
        skipped = Counter(dict(kept["_reason"].drop_nulls().value_counts().iter_rows()))
        skipped[tape.CANCELLED_QUOTE] += cancelled
        rows = kept.filter(pl.col("_reason").is_null()).select(*OUTPUT_SCHEMA)
        return rows, bad, +skipped
