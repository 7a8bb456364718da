"""LOBSTER: NASDAQ limit-order-book data for research (lobsterdata.com), as quotes and trades.

LOBSTER delivers, per symbol and day, a *message* file and an *orderbook* file, comma-separated without a
header, named ``SYM_YYYY-MM-DD_<start ms>_<end ms>_message_<L>.csv`` and ``..._orderbook_<L>.csv`` (``L``
levels of the book), often zipped together (the free samples: ``LOBSTER_SampleFile_AMZN_2012-06-21_1.zip``,
which also holds a ReadMe). Source: LOBSTER's "Sample Files Readme" (version of 1 September 2013, in every
sample zip) and its help pages "Event type 6" and "Information on hidden order executions".

Message line *i*: ``time`` (seconds after midnight, New York time, with up to nanosecond decimals),
``type`` (1 submission, 2 partial cancellation, 3 deletion, 4 execution of a visible order, 5 execution of a
hidden order, 6 cross trade, 7 trading halt), ``order id``, ``size`` (shares), ``price`` (USD × 10,000),
``direction`` of the *resting* order (1 buy, -1 sell). Orderbook line *i*: the book after message *i*:
ask price, ask size, bid price, bid size of level 1, then of level 2, ... (an empty level: price
9999999999 on the ask, -9999999999 on the bid, size 0). Only level 1 is read.

Rows
----
``quotes``
    Level 1 after each message that changes it: ``bid``, ``ask`` (price / 10,000), ``bid_size``,
    ``ask_size`` (shares). Skipped: ``one_sided_book`` (the bid or the ask is empty: a dummy price or a
    size of 0) and ``book_unchanged`` (the same level 1 as after the previous message: a hidden execution,
    a change deeper in the book, a halt message, which repeats the book).
``trades``
    The executions: types 4 (visible) and 5 (hidden), at the message's price and size. The aggressor is
    the side opposite the resting order: direction 1 (a resting buy was hit) is a sell, -1 a buy (the
    Readme: "execution of a sell (buy) limit order corresponds to a buyer (seller) initiated trade"); it
    goes to an ``aggressor`` column (``buy``/``sell``) when the table's contract has one. For some periods
    NASDAQ masks the side of hidden orders as buy (LOBSTER's help); the free samples of 2012 carry both.
    ``exchange`` is ``Q`` (NASDAQ, the consolidated tape's code), ``conditions`` empty, ``trade_id``
    ``YYYYMMDD:<start ms>:<line>`` (the date, the start of the period in the file name, the message line:
    unique per symbol even when a day comes in several periods, and it points at the line).
    Skipped: ``order_event`` (types 1-3: the book changes, nothing trades), ``cross`` (type 6: the opening,
    closing or an intraday cross, a pseudo order of negative id that sums executions already in the file
    as types 4 and 5, "redundant" in LOBSTER's words: as a trade it would count the auction's volume twice;
    those executions keep the aggressor their direction gives, though an auction has none) and
    ``trading_halt`` (type 7).

Every line pair is a quote or a skipped record of ``quotes``, and a trade or a skipped record of
``trades``, unless it is malformed (a field that is not a number, a type outside 1-7, a direction other
than ±1, a line without 6 fields or an orderbook line without ``4 L`` fields).

Row numbers and text
--------------------
``row_number`` N is line N of the message file and of the orderbook file (1-based; there is no header), so
``sed -n Np`` prints either. A record's text (the quarantine's ``raw``) is the message line and the
orderbook line joined by `` | ``.

Times are New York local times of the date in the file name, converted to UTC with the zone's rules
(``America/New_York``). The two files are read in step, in blocks (a zip's members are streamed), so memory
is bounded by the batch size; files of different line counts are refused (:class:`InputError`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from data.contract import TableSpec
from data.readers import MALFORMED_SCHEMA, RawBatch
from data.validation import ROW
from kappa.errors import InputError

TIMEZONE = "America/New_York"
EXCHANGE = "Q"
"""NASDAQ's participant code on the consolidated tape (CTA/UTP)."""
EMPTY_ASK = 9_999_999_999
EMPTY_BID = -9_999_999_999
PRICE_SCALE = 10_000.0
MESSAGE_FIELDS = ("time", "type", "order_id", "size", "price", "direction")
BOOK_FIELDS = ("ask", "ask_size", "bid", "bid_size")
EXECUTIONS = (4, 5)
ORDER_EVENTS = (1, 2, 3)
CROSS = 6
HALT = 7
BYTES_PER_LINE = 48  # a first guess of a line's length, for the first read of a file

FILE_NAME = re.compile(
    r"^(?P<symbol>.+?)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_"
    r"(?P<kind>message|orderbook)_(?P<level>\d+)\.csv$",
    re.IGNORECASE,
)
"""LOBSTER's file names (the Readme, "Output Structure")."""
_FIRST_LINE = re.compile(rb"^-?\d+(\.\d*)?,-?\d+")


@dataclass(frozen=True, slots=True)
class Pair:
    """A message file and its orderbook file: on disk (``archive`` None) or members of a zip."""

    symbol: str
    date: dt.date
    level: int
    message: str
    orderbook: str
    archive: Path | None = None
    start_ms: int = 0  # the start of the period the files cover (ms after midnight), from their name

    @contextlib.contextmanager
    def open(self) -> Iterator[tuple[IO[bytes], IO[bytes]]]:
        """Both files, open for reading as byte streams (a zip's members decompressed as they are read)."""
        with contextlib.ExitStack() as stack:
            if self.archive is not None:
                z = stack.enter_context(zipfile.ZipFile(self.archive))
                yield (
                    stack.enter_context(z.open(self.message)),
                    stack.enter_context(z.open(self.orderbook)),
                )
            else:
                yield (
                    stack.enter_context(Path(self.message).open("rb")),
                    stack.enter_context(Path(self.orderbook).open("rb")),
                )


MALFORMED_LINE = (
    "not a LOBSTER message and its book: 6 and 4 x levels numeric fields, a type 1-7, a direction of 1 or -1"
)
"""The ``detail`` of a quarantined line pair."""


def _parts(name: str) -> re.Match[str] | None:
    return FILE_NAME.match(name.rsplit("/", 1)[-1])


def _companion(name: str, kind: str) -> str:
    """The name of the file of ``kind`` (message or orderbook) of the pair that file ``name`` belongs to."""
    head, _, base = name.rpartition("/")
    m = _parts(base)
    assert m is not None
    kind = kind.upper() if m["kind"].isupper() else kind
    new = base[: m.start("kind")] + kind + base[m.end("kind") :]
    return f"{head}/{new}" if head else new


def _pair_in_zip(path: Path) -> Pair:
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"cannot read as a zip: {exc}", path=str(path)) from exc
    messages = [n for n in names if (m := _parts(n)) and m["kind"].lower() == "message"]
    if len(messages) != 1:
        found = f"{len(messages)} message files" if messages else "no LOBSTER message file"
        raise InputError(
            f"a LOBSTER zip holds one message file and its orderbook file; this one holds {found}"
            + (": extract it and load the message files" if messages else ""),
            path=str(path),
        )
    message = messages[0]
    orderbook = _companion(message, "orderbook")
    if orderbook not in names:
        raise InputError(f"the zip has {message} but not its orderbook file {orderbook}", path=str(path))
    return _pair(message, orderbook, path)


def _pair(message: str, orderbook: str, archive: Path | None) -> Pair:
    m = _parts(message)
    assert m is not None
    try:
        date = dt.date.fromisoformat(m["date"])
    except ValueError as exc:
        raise InputError(f"no such date in the file name: {m['date']}", path=message) from exc
    level = int(m["level"])
    if level < 1:
        raise InputError("the file name gives 0 levels of the book", path=message)
    return Pair(m["symbol"], date, level, message, orderbook, archive, int(m["start"]))


def pair(path: Path) -> Pair:
    """The message/orderbook pair that ``path`` (a message file, an orderbook file or a zip) stands for.

    Raises
    ------
    InputError
        The name is not LOBSTER's, the companion file is missing, or a zip does not hold exactly one pair.
    """
    if path.name.lower().endswith(".zip"):
        return _pair_in_zip(path)
    m = _parts(path.name)
    if m is None:
        raise InputError(
            "not a LOBSTER file name (SYMBOL_YYYY-MM-DD_<start>_<end>_message_<levels>.csv)", path=str(path)
        )
    if not path.is_file():
        raise InputError("no such file", path=str(path))
    kind = m["kind"].lower()
    other = path.with_name(_companion(path.name, "orderbook" if kind == "message" else "message"))
    if not other.is_file():
        raise InputError(f"its {'orderbook' if kind == 'message' else 'message'} file {other.name} is "
                         "not beside it", path=str(path))  # fmt: skip
    message, orderbook = (path, other) if kind == "message" else (other, path)
    return _pair(str(message), str(orderbook), None)


def pair_key(path: Path) -> str:
    """One key per source: the message file's resolved path (for either file of a pair) or the zip's, so
    that a message file and its orderbook file named together load once."""
    p = pair(path)
    return str((p.archive or Path(p.message)).resolve())


def sniff(path: Path) -> bool:
    """A LOBSTER file by its name (message or orderbook, or a zip holding a message file) and, for a csv,
    by its first bytes (numbers separated by commas)."""
    name = path.name.lower()
    if name.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as z:
                return any((m := _parts(n)) and m["kind"].lower() == "message" for n in z.namelist())
        except (zipfile.BadZipFile, OSError):
            return False
    if _parts(path.name) is None:
        return False
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return not head or _FIRST_LINE.match(head) is not None


def tables(path: Path) -> tuple[str, ...]:
    """A LOBSTER pair holds quotes and trades."""
    return ("quotes", "trades")


def companions(path: Path) -> list[Path]:
    """The files whose bytes make the source: the zip, or the message file and its orderbook file."""
    p = pair(path)
    if p.archive is not None:
        return [p.archive]
    return [Path(p.message), Path(p.orderbook)]


class _Lines:
    """A byte stream cut into blocks of whole lines (a last line without a line break counts)."""

    def __init__(self, f: IO[bytes], name: str) -> None:
        self.f, self.name = f, name
        self.parts: list[bytes] = []
        self.count = 0  # line breaks in parts
        self.eof = False
        self.bytes_per_line = float(BYTES_PER_LINE)

    def take(self, n: int) -> bytes:
        """The next ``n`` lines (fewer at the end of the stream), with their line breaks."""
        if n <= 0:
            return b""
        while self.count < n and not self.eof:
            want = max(1 << 16, int((n - self.count) * self.bytes_per_line * 1.05))
            try:
                chunk = self.f.read(want)
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:  # a damaged zip member
                raise InputError(f"cannot read: {exc}", path=self.name) from exc
            if not chunk:
                self.eof = True
                break
            self.parts.append(chunk)
            self.count += chunk.count(b"\n")
        data = b"".join(self.parts)
        if self.count >= n:
            breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
            cut = int(breaks[n - 1]) + 1
            data, rest = data[:cut], data[cut:]
            self.parts, self.count = ([rest] if rest else []), self.count - n
        else:
            self.parts, self.count = [], 0
        if n and data:
            self.bytes_per_line = max(8.0, len(data) / n)
        return data

    def lines_left(self) -> int:
        """Count the rest of the stream's lines (for the error message of a line-count mismatch)."""
        total = 0
        while block := self.take(1 << 20):
            total += _line_count(block)
        return total


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


@dataclass(slots=True)
class _Block:
    """Lines of one file: their bytes, the row number of the first, and (found when first asked) where each
    line starts."""

    data: bytes
    first: int
    _starts: np.ndarray | None = None

    def starts(self) -> np.ndarray:
        if self._starts is None:
            breaks = np.flatnonzero(np.frombuffer(self.data, dtype=np.uint8) == 10)
            starts = np.concatenate(([0], breaks + 1)).astype(np.int64)
            if starts[-1] == len(self.data):
                starts = starts[:-1]
            self._starts = np.append(starts, len(self.data) + (0 if self.data.endswith(b"\n") else 1))
        return self._starts

    def texts(self, rows: np.ndarray) -> list[str]:
        """The lines of row numbers ``rows`` (without their line breaks)."""
        s = self.starts()
        out = []
        for r in np.asarray(rows, dtype=np.int64) - self.first:
            line = self.data[s[r] : s[r + 1] - 1]
            out.append(line.rstrip(b"\r").decode("utf-8", errors="replace"))
        return out

    def strings(self) -> pl.Series:
        """Every line as a string (line breaks stripped), in one vectorised pass."""
        s = self.starts()
        data = self.data if self.data.endswith(b"\n") else self.data + b"\n"
        offsets = s.copy()
        try:
            arr = pa.LargeStringArray.from_buffers(len(s) - 1, pa.py_buffer(offsets), pa.py_buffer(data))
            arr.validate(full=True)
        except pa.ArrowInvalid:  # not UTF-8: the bad bytes become U+FFFD (and the line malformed)
            return _Block(data.decode("utf-8", errors="replace").encode(), self.first).strings()
        series = pl.from_arrow(arr)
        assert isinstance(series, pl.Series)
        return series.str.strip_chars_end("\r\n")


def _typed_fast(
    data: bytes, names: tuple[str, ...], width: int, floats: tuple[str, ...], n: int
) -> pl.DataFrame | None:
    """The block's first ``len(names)`` fields of each line as numbers, if every line has ``width`` fields
    that parse (the common case, one pass of Arrow's CSV reader); else None."""
    invalid: list[object] = []

    def on_invalid(row: object) -> str:
        invalid.append(row)
        return "skip"

    columns = [*names, *(f"_{i}" for i in range(len(names), width))]
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=columns, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(quote_char=False, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.float64() if c in floats else pa.int64() for c in names},
                include_columns=list(names),
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if invalid or table.num_rows != n:
        return None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _typed_slow(
    lines: pl.Series, names: tuple[str, ...], width: int, floats: tuple[str, ...]
) -> pl.DataFrame:
    """The first ``len(names)`` fields of each line as numbers (null where a field does not parse) and
    ``_fields_ok``: whether the line has ``width`` fields."""
    k = len(names)
    frame = pl.DataFrame({"_line": lines})
    split = (
        pl.col("_line").str.splitn(",", k + 1) if width > k else pl.col("_line").str.split_exact(",", k - 1)
    )
    return frame.select(
        split.alias("_s"),
        (pl.col("_line").str.count_matches(",", literal=True) == width - 1).alias("_fields_ok"),
    ).select(
        *(
            pl.col("_s")
            .struct.field(f"field_{i}")
            .str.strip_chars()
            .cast(pl.Float64 if name in floats else pl.Int64, strict=False)
            .alias(name)
            for i, name in enumerate(names)
        ),
        "_fields_ok",
    )


def _parse(
    block: _Block, names: tuple[str, ...], width: int, floats: tuple[str, ...], n: int
) -> pl.DataFrame:
    """The first fields of ``n`` lines as numbers, and ``_ok``: the line has ``width`` fields that parse."""
    fast = _typed_fast(block.data, names, width, floats, n)
    if fast is not None:
        return fast.with_columns(pl.lit(True).alias("_ok"))
    slow = _typed_slow(block.strings(), names, width, floats)
    ok = pl.col("_fields_ok") & pl.all_horizontal(pl.col(c).is_not_null() for c in names)
    return slow.with_columns(ok.alias("_ok")).drop("_fields_ok")


def _records(p: Pair, message: _Block, book: _Block, n: int) -> pl.DataFrame:
    """The block's records: row number, the message's and level 1's fields, and ``_ok``."""
    m = _parse(message, MESSAGE_FIELDS, len(MESSAGE_FIELDS), ("time",), n)
    b = _parse(book, BOOK_FIELDS, 4 * p.level, (), n)
    frame = pl.concat([m.rename({"_ok": "_m_ok"}), b], how="horizontal")
    valid = (
        pl.col("_m_ok")
        & pl.col("_ok")
        & pl.col("time").is_finite()
        & (pl.col("time") >= 0)
        & pl.col("type").is_between(1, 7)
        & pl.col("direction").is_in([-1, 1])
    )
    return frame.select(
        pl.int_range(message.first, message.first + n, dtype=pl.Int64).alias(ROW),
        *MESSAGE_FIELDS,
        *BOOK_FIELDS,
        valid.fill_null(False).alias("_ok"),
    )


DAY_NS = 86_400 * 1_000_000_000


def _local_to_utc(local: pl.Expr) -> pl.Expr:
    """A naive New York time as a UTC instant, by the zone's rules (null in a spring-forward gap)."""
    return local.dt.replace_time_zone(
        TIMEZONE, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")


@functools.cache
def _day_offset_ns(date: dt.date) -> int | None:
    """New York's UTC offset (ns) all day long on ``date`` (from the zone's rules at its first and last
    instant), or None on a day whose offset changes (a daylight-saving switch)."""
    start = dt.datetime(date.year, date.month, date.day)
    bounds = pl.DataFrame({"t": [start, start + dt.timedelta(days=1, microseconds=-1)]})
    utc = bounds.select(_local_to_utc(pl.col("t").cast(pl.Datetime("ns"))).dt.replace_time_zone(None))["t"]
    offsets = {int((utc[i] - bounds["t"][i]).total_seconds() * 1e9) for i in range(2)}
    return offsets.pop() if len(offsets) == 1 else None


def _ts(date: dt.date) -> pl.Expr:
    """The UTC instant of ``time`` (seconds after midnight, New York time, on ``date``): the day's offset
    added when the zone keeps one offset all day and the time lies within the day (one addition instead of
    a time-zone lookup per row), else each row converted by the zone's rules."""
    midnight = int(dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
    ns = (pl.col("time") * 1e9).round().cast(pl.Int64)
    local = pl.lit(midnight, dtype=pl.Int64) + ns
    by_rules = _local_to_utc(local.cast(pl.Datetime("ns")))
    offset = _day_offset_ns(date)
    if offset is None:
        return by_rules
    shifted = (local + offset).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")
    return pl.when((ns >= 0) & (ns < DAY_NS)).then(shifted).otherwise(by_rules)


@dataclass(slots=True)
class _Book:
    """Level 1 after the last valid record read so far (carried from batch to batch)."""

    last: tuple[int, int, int, int] | None = None


def _quotes(
    p: Pair, records: pl.DataFrame, spec: TableSpec, book: _Book
) -> tuple[pl.DataFrame, dict[str, int]]:
    valid = records.filter(pl.col("_ok"))
    prev = book.last
    changed = pl.any_horizontal(
        pl.col(c) != pl.col(c).shift(1, fill_value=None if prev is None else prev[i])
        for i, c in enumerate(BOOK_FIELDS)
    ).fill_null(True)
    one_sided = (
        (pl.col("ask") >= EMPTY_ASK) | (pl.col("bid") <= EMPTY_BID) | (pl.col("ask_size") <= 0)
        | (pl.col("bid_size") <= 0)
    )  # fmt: skip
    marked = valid.with_columns(one_sided.alias("_one_sided"), changed.alias("_changed"))
    if valid.height:
        book.last = tuple(int(v) for v in valid.select(BOOK_FIELDS).row(-1))  # type: ignore[assignment]
    quotes = marked.filter(~pl.col("_one_sided") & pl.col("_changed"))
    n_one_sided = int(marked["_one_sided"].sum())
    skipped = {"one_sided_book": n_one_sided, "book_unchanged": valid.height - n_one_sided - quotes.height}
    columns = {
        "symbol": pl.lit(p.symbol, dtype=pl.String),
        "ts": _ts(p.date),
        "bid": _dollars(quotes["bid"]),
        "ask": _dollars(quotes["ask"]),
        "bid_size": pl.col("bid_size").cast(pl.Float64),
        "ask_size": pl.col("ask_size").cast(pl.Float64),
        "exchange": pl.lit(EXCHANGE, dtype=pl.String),
    }
    return _select(quotes, columns, spec), {k: v for k, v in skipped.items() if v}


def _trades(p: Pair, records: pl.DataFrame, spec: TableSpec) -> tuple[pl.DataFrame, dict[str, int]]:
    valid = records.filter(pl.col("_ok"))
    kind = valid.group_by("type").len()
    counts = dict(zip(kind["type"].to_list(), kind["len"].to_list(), strict=True))
    skipped = {
        "order_event": sum(counts.get(t, 0) for t in ORDER_EVENTS),
        "cross": counts.get(CROSS, 0),
        "trading_halt": counts.get(HALT, 0),
    }
    trades = valid.filter(pl.col("type").is_in(EXECUTIONS))
    columns = {
        "symbol": pl.lit(p.symbol, dtype=pl.String),
        "ts": _ts(p.date),
        "price": _dollars(trades["price"]),
        "size": pl.col("size").cast(pl.Float64),
        "exchange": pl.lit(EXCHANGE, dtype=pl.String),
        "conditions": pl.lit(None, dtype=pl.String),
        "trade_id": pl.concat_str(pl.lit(f"{p.date:%Y%m%d}:{p.start_ms}:"), pl.col(ROW).cast(pl.String)),
        "aggressor": pl.when(pl.col("direction") == 1).then(pl.lit("sell")).otherwise(pl.lit("buy")),
    }
    return _select(trades, columns, spec), {k: v for k, v in skipped.items() if v}


def _dollars(price: pl.Series) -> pl.Expr:
    """USD of a price column in units of 1/10,000 USD, correctly rounded (``100.1`` for 1001000: NumPy divides;
    polars multiplies by the reciprocal, which gives 100.10000000000001)."""
    return pl.lit(pl.Series(price.to_numpy() / PRICE_SCALE, dtype=pl.Float64))


def _select(rows: pl.DataFrame, columns: dict[str, pl.Expr], spec: TableSpec) -> pl.DataFrame:
    """The contract's columns of ``spec`` that the format has, in the contract's order, and ``row_number``."""
    return rows.select(*(columns[c].alias(c) for c in spec.names if c in columns), pl.col(ROW))


def read_batches(
    path: Path, spec: TableSpec, batch_rows: int, calendar: str | None = None
) -> Iterator[RawBatch]:
    """The pair's quotes or trades, ``batch_rows`` message lines a batch (see the module docstring).

    Parameters
    ----------
    path
        A message file (its orderbook file beside it), an orderbook file (its message file beside it), or a
        zip holding one pair.
    spec
        :data:`data.contract.QUOTES` or :data:`data.contract.TRADES`.
    batch_rows
        Message lines per batch.

    Raises
    ------
    InputError
        Another table, a missing companion file, a file that cannot be read, or files whose numbers of
        lines differ.
    """
    if spec.name not in tables(path):
        raise InputError(f"a LOBSTER pair holds quotes and trades, not {spec.name}", path=str(path))
    p = pair(path)
    book = _Book()
    with p.open() as (message_file, book_file):
        messages, books = _Lines(message_file, p.message), _Lines(book_file, p.orderbook)
        first = 1
        while True:
            data = messages.take(batch_rows)
            if not data:
                break
            n = _line_count(data)
            book_data = books.take(n)
            if _line_count(book_data) != n:
                _mismatch(p, first - 1 + n + messages.lines_left(), first - 1 + _line_count(book_data))
            message, level1 = _Block(data, first), _Block(book_data, first)
            records = _records(p, message, level1, n)
            yield _batch(p, records, spec, book, message, level1)
            first += n
        if rest := books.lines_left():
            _mismatch(p, first - 1, first - 1 + rest)


def _batch(
    p: Pair, records: pl.DataFrame, spec: TableSpec, book: _Book, message: _Block, level1: _Block
) -> RawBatch:
    frame, skipped = _quotes(p, records, spec, book) if spec.name == "quotes" else _trades(p, records, spec)
    bad = records.filter(~pl.col("_ok"))[ROW].to_numpy()
    texts = _texts(message, level1)
    malformed = (
        pl.DataFrame({ROW: bad, "raw": texts(bad)}, schema=MALFORMED_SCHEMA)
        if bad.size
        else pl.DataFrame(schema=MALFORMED_SCHEMA)
    ).with_columns(pl.lit(MALFORMED_LINE).alias("detail"))
    return RawBatch(frame, malformed, texts, skipped)


def _texts(message: _Block, level1: _Block) -> Callable[[np.ndarray], list[str]]:
    def texts(rows: np.ndarray) -> list[str]:
        return [f"{m} | {b}" for m, b in zip(message.texts(rows), level1.texts(rows), strict=True)]

    return texts


def _mismatch(p: Pair, messages: int, books: int) -> None:
    where = str(p.archive) if p.archive else p.message
    raise InputError(
        f"the message file has {messages:,} lines and the orderbook file {books:,}: the orderbook's line N "
        "is the book after message N, so both must have as many lines",
        path=where,
    )
