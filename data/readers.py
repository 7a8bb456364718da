"""Stream input files (CSV and its delimited kin, optionally gzipped, and Parquet) as polars batches.

Column names are matched case-insensitively (DESIGN §2). Delimited text is read as text, so a value that does
not parse is kept verbatim for the quarantine instead of failing the whole file; its delimiter (``,`` ``;``
tab or ``|``) is read off the header line. Memory is bounded by the batch size, whatever the file's size.

Row numbers point into the file: ``row_number`` N of a delimited file is its line N + 1 (the header is line
1, blank lines count as lines), so ``sed -n "$((N + 1))p" FILE`` prints the row; of a Parquet file, the
N-th row. A line whose number of fields is not the header's is not a row the contract can read: it comes
back with its text as a *malformed* row, for the quarantine, instead of failing the file.
:func:`raw_rows` reads the rows of given numbers again as they stand in the file (the line's text, or the
Parquet row's values), for the quarantine's ``raw``.

Text is UTF-8 unless an ``encoding`` is declared (``latin-1``, ``cp1252``, ...; the file is transcoded as it
is read). A record that is not text of that encoding (a Latin-1 name in a UTF-8 file, a flipped byte) or that
holds a NUL byte (or, where the parser finds more lines than there are, a lone carriage return) is not
parsed: it comes back as a malformed row (rule ``invalid_utf8`` or ``malformed_row``)
with its bytes in ``raw`` as :func:`raw_text` writes them, and the rest of the file is read. A quote that
never closes makes its line a malformed row; the lines after it are read as if it were not there. A file of
zero bytes (a gzip stream of none) is *empty*, as a header-only file is: it holds no rows, whatever its
columns would be (see :func:`is_empty`).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from data.contract import TableSpec
from data.validation import ROW
from kappa.errors import InputError, MissingColumnError

CSV_SUFFIXES = (".csv", ".txt", ".tsv", ".psv", ".csv.gz", ".txt.gz", ".tsv.gz", ".psv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
DEFAULT_BATCH_ROWS = 1_000_000
DELIMITERS = (",", "\t", ";", "|")
BYTES_PER_ROW = 64  # a block of delimited text holds about batch_rows rows of this size
_NEWLINE = 10
_RETURN = 13
_QUOTE = 34

MALFORMED_SCHEMA = {ROW: pl.Int64, "raw": pl.String}
TEXT_MALFORMED_SCHEMA = {**MALFORMED_SCHEMA, "rule": pl.String, "detail": pl.String}
"""The malformed records of a delimited file: with the rule they break (``malformed_row``, ``invalid_utf8``)
and why."""
PARQUET_ERRORS: tuple[type[BaseException], ...] = (
    pa.ArrowException, pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError, ValueError,
)  # fmt: skip
"""What reading a damaged Parquet file raises (a panic of polars' reader included)."""


def raw_text(record: bytes) -> str:
    """A record's bytes as the quarantine's ``raw`` holds them: its text where it is UTF-8, each byte that
    is not written ``\\xNN`` (``AAPL\\xe9``, Python's ``backslashreplace``), a NUL byte ``\\x00``."""
    return record.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")


def text_encoding(encoding: str | None) -> str | None:
    """The codec name of a declared ``encoding`` (``None`` for UTF-8, the default, read as it stands); an
    :class:`InputError` if Python knows no such encoding."""
    if encoding is None:
        return None
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise InputError(
            f"unknown encoding {encoding!r} (e.g. utf-8, latin-1, cp1252, utf-16)", rule="encoding"
        ) from None
    return None if name in ("utf-8", "utf-8-sig") else name


def file_format(path: Path) -> str:
    """``csv`` (any delimited text) or ``parquet``, from the file name; else an :class:`InputError`."""
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise InputError(
        f"unsupported file type (expected one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)})",
        path=str(path),
    )


def _normalised(names: list[str], path: Path) -> list[str]:
    lowered = [n.strip().lower() for n in names]
    seen: set[str] = set()
    for n in lowered:
        if n in seen:
            raise InputError(f"column '{n}' appears twice (names are case-insensitive)", path=str(path))
        seen.add(n)
    return lowered


@dataclass(frozen=True, slots=True)
class Dialect:
    """How a delimited file is written: its delimiter and its header's column names (as in the file)."""

    delimiter: str
    names: list[str]


class _Transcoded:
    """A text file of a declared encoding, read as UTF-8 bytes (what the parser reads). A byte the encoding
    does not define comes through as it is, so its record is quarantined as ``invalid_utf8``."""

    def __init__(self, raw: BinaryIO, encoding: str) -> None:
        self.text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")

    def read(self, n: int = -1) -> bytes:
        return self.text.read(n).encode("utf-8", errors="surrogateescape")

    def readline(self) -> bytes:
        return self.text.readline().encode("utf-8", errors="surrogateescape")

    def __enter__(self) -> _Transcoded:
        return self

    def __exit__(self, *exc: object) -> None:
        self.text.close()


def _open_text(path: Path, encoding: str | None = None) -> BinaryIO:
    codec = text_encoding(encoding)
    gz = path.name.lower().endswith(".gz")
    raw: BinaryIO = gzip.open(path, "rb") if gz else path.open("rb")  # type: ignore[assignment]  # noqa: SIM115
    return raw if codec is None else _Transcoded(raw, codec)  # type: ignore[return-value]


def _header(f: BinaryIO, path: Path) -> str | None:
    """The header line's text; ``None`` for an empty stream."""
    try:
        line = f.readline()
    except (OSError, EOFError, UnicodeError) as exc:  # a truncated or corrupt gzip stream
        raise InputError(f"cannot read line 1: {exc}", path=str(path)) from None
    if not line:
        return None
    try:
        return line.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"line 1 (the header) is not UTF-8 text (byte {exc.start + 1}): declare the file's encoding "
            "(--encoding latin-1) or save it as UTF-8",
            path=str(path),
        ) from None


def is_empty(path: Path) -> bool:
    """Whether the file holds zero bytes (a gzipped text file: its stream does). An empty file has no
    header, so no columns to check: it loads no rows, as a header-only file does."""
    if file_format(path) == "parquet" or not path.name.lower().endswith(".gz"):
        return path.stat().st_size == 0
    try:
        with gzip.open(path, "rb") as f:
            return not f.read(1)
    except (OSError, EOFError):
        return False  # a damaged stream: reading it says why


def dialect(path: Path, encoding: str | None = None) -> Dialect:
    """The delimiter (the one of ``,`` tab ``;`` ``|`` that splits the header into the most columns; a
    ``.tsv`` file prefers tab) and the header's column names (none for an empty file)."""
    with _open_text(path, encoding) as f:
        header = _header(f, path)
    if header is None:
        return Dialect(",", [])
    if not header.strip():
        raise InputError("line 1: no header (the first line is empty)", path=str(path))
    if "\r" in header or "\x00" in header:
        what = "a carriage return (\\r) alone ends lines" if "\r" in header else "it holds a NUL byte"
        raise InputError(f"line 1 (the header) cannot be read: {what}", path=str(path))
    order = ("\t", *(d for d in DELIMITERS if d != "\t")) if ".tsv" in path.name.lower() else DELIMITERS
    try:
        best = max(order, key=lambda d: (len(next(csv.reader([header], delimiter=d))), -order.index(d)))
        names = next(csv.reader([header], delimiter=best))
    except csv.Error as exc:
        raise InputError(f"line 1 (the header) cannot be read: {exc}", path=str(path)) from None
    return Dialect(best, [n.strip() for n in names])


def column_names(path: Path, encoding: str | None = None) -> list[str]:
    """The lower-cased column names of a delimited or Parquet file, without reading its rows (none for an
    empty file, :func:`is_empty`)."""
    if is_empty(path):
        return []
    if file_format(path) == "parquet":
        try:
            names = pq.ParquetFile(path).schema_arrow.names
        except PARQUET_ERRORS as exc:
            raise InputError(f"cannot read as Parquet: {_first_line(exc)}", path=str(path)) from None
    else:
        names = dialect(path, encoding).names
    return _normalised(names, path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def mapped_names(names: list[str], columns: Mapping[str, str], path: Path) -> list[str]:
    """The file's lower-cased column ``names`` with each file column that ``columns`` maps (contract column
    -> file column, any case) renamed to its contract name; an :class:`InputError` if a mapped column is
    not in the file, or if a mapping would give two columns one name."""
    if not columns:
        return names
    rename: dict[str, str] = {}
    for target, source in columns.items():
        src = source.strip().lower()
        if src not in names:
            raise InputError(
                f"--columns maps {target}={source}, but the file has no column '{source}' "
                f"(it has {', '.join(names)})",
                path=str(path),
            )
        rename[src] = target.strip().lower()
    out = [rename.get(n, n) for n in names]
    twice = sorted({n for n in out if out.count(n) > 1})
    if twice:
        raise InputError(
            f"--columns gives two columns the name {', '.join(twice)}: map the file's own column away",
            path=str(path),
        )
    return out


def check_columns(
    path: Path, spec: TableSpec, columns: Mapping[str, str] | None = None, encoding: str | None = None
) -> list[str]:
    """The file's lower-cased column names (renamed by ``columns``, contract column -> file column);
    :class:`MissingColumnError` if a required one is absent. An empty file (:func:`is_empty`) has none and
    passes: it holds no rows."""
    if is_empty(path):
        return []
    names = mapped_names(column_names(path, encoding), columns or {}, path)
    missing = [c for c in spec.required if c not in names]
    if missing:
        raise MissingColumnError(str(path), spec.name, missing)
    return names


@dataclass(frozen=True, slots=True)
class RawBatch:
    """Rows of a file as read: ``frame`` (lower-cased columns, values as in the file, and ``row_number``),
    ``malformed`` (``row_number, raw`` and optionally ``detail``, why: lines whose number of fields is not
    the header's, or a vendor's records that cannot be read), for delimited
    text ``lines``, which gives the text of rows of the batch by their numbers, and ``skipped``: rows of the
    file that are not rows of the table by design (a vendor file's extended-hours or cancelled rows, an
    exchange quote that leaves the NBBO unchanged), counted per reason for ``skipped_rows``, never
    quarantined."""

    frame: pl.DataFrame
    malformed: pl.DataFrame
    lines: Callable[[np.ndarray], list[str]] | None = None
    skipped: Mapping[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Rows of the file this batch accounts for: read into ``frame``, malformed or skipped."""
        return self.frame.height + self.malformed.height + sum(self.skipped.values())


def read_batches(
    path: Path,
    spec: TableSpec,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
) -> Iterator[RawBatch]:
    """Yield the rows of ``path`` in batches (see the module docstring for row numbers).

    A missing required column raises :class:`MissingColumnError` before any row is yielded; a file that
    cannot be read as a whole (its header is not text, its gzip stream or Parquet structure is broken), an
    :class:`InputError` naming the file and the line or row. An empty file yields nothing.

    Parameters
    ----------
    path
        A delimited text file (optionally gzipped) or a Parquet file.
    spec
        The table contract the file must satisfy.
    batch_rows
        Rows per Parquet batch; text blocks are sized to hold roughly this many rows.
    columns
        Contract column -> the file's column (any case), for a vendor's own layout
        (``kappa ingest --columns symbol=SYM,ts=TIMESTAMP``).
    encoding
        The text's encoding (``None``: UTF-8); Parquet text is UTF-8 by its format.
    """
    names = check_columns(path, spec, columns, encoding)
    if is_empty(path):
        return
    if file_format(path) == "parquet":
        _readable_types(path, names, spec)
        yield from _parquet_batches(path, names, batch_rows)
    else:
        yield from _text_batches(path, names, max(1 << 16, batch_rows * BYTES_PER_ROW), encoding)


def _readable_types(path: Path, names: list[str], spec: TableSpec) -> None:
    """An :class:`InputError` naming the first column of ``spec`` whose Parquet type holds no value of it
    (a list, a struct, raw bytes): no row of such a file could be read."""
    try:
        schema = pq.read_schema(path)
    except PARQUET_ERRORS as exc:
        raise InputError(f"cannot read as Parquet: {_first_line(exc)}", path=str(path)) from None
    for name, f in zip(names, schema, strict=False):
        t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        if name in spec.names and (
            pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)
            or pa.types.is_fixed_size_binary(t) or pa.types.is_union(t)
        ):  # fmt: skip
            raise InputError(
                f"column '{f.name}' holds {t} values, not text, numbers or times",
                path=str(path),
                rule="column_type",
            )


def _parquet_batches(path: Path, names: list[str], batch_rows: int) -> Iterator[RawBatch]:
    offset = 0
    empty = pl.DataFrame(schema=MALFORMED_SCHEMA)
    try:  # polars' streaming reader: a fifth of pyarrow's CPU per row
        for frame in pl.scan_parquet(path).collect_batches(chunk_size=batch_rows, lazy=True):
            frame.columns = names
            n = frame.height
            yield RawBatch(
                frame.with_columns(pl.int_range(offset + 1, offset + n + 1, dtype=pl.Int64).alias(ROW)), empty
            )
            offset += n
    except PARQUET_ERRORS as exc:
        why = _first_line(exc)
        if isinstance(exc, pl.exceptions.PanicException):  # polars' reader asserts on a damaged data page
            why = f"a damaged data page (polars' reader panicked: {why})"
        raise InputError(f"cannot read as Parquet after row {offset}: {why}", path=str(path)) from None


@dataclass(frozen=True, slots=True)
class _Block:
    """Whole records of a delimited file: their bytes, each record's [start, end) without its line break,
    and the file's line number (1 = the header) where each starts. A record is a line, unless a quoted
    value holds a line break: then it spans the lines to the quote's end. An ``unclosed`` block holds one
    line only, whose quote never closes (a malformed row)."""

    data: bytes
    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray
    quoted: bool  # the block holds a quote character
    unclosed: bool = False

    def texts(self, rows: np.ndarray) -> list[str]:
        """The text of the records of row numbers ``rows`` (row N starts on line N + 1), as
        :func:`raw_text` writes it."""
        at = np.searchsorted(self.lines, np.asarray(rows, dtype=np.int64) + 1)
        return [raw_text(self.data[self.starts[i] : self.ends[i]]) for i in at]


def _record_breaks(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The line breaks that end a record (all of them, but those inside a quoted value: after an odd number
    of quote characters; an escaped quote, written twice, keeps the parity), every line break, and the
    count of quotes. Positions only: no array of the block's size but the two comparisons."""
    newlines = np.flatnonzero(buf == _NEWLINE)
    quotes = np.flatnonzero(buf == _QUOTE)
    if not quotes.size:
        return newlines, newlines, 0
    before = np.searchsorted(quotes, newlines)  # quotes before each line break
    return newlines[before % 2 == 0], newlines, int(quotes.size)


def _blocks(f: BinaryIO, block_bytes: int, first_line: int, path: Path) -> Iterator[_Block]:
    """The records after the header in blocks of about ``block_bytes`` (a block ends at a record's end).

    At the end of the file, a quote that never closed makes the line it opens on an ``unclosed`` block;
    the lines after that line are read again as records, as if the quote were not there.
    """
    carry = b""
    line = first_line
    end = False
    while True:
        chunk = b""
        if not end:
            try:
                chunk = f.read(block_bytes)
            except (OSError, EOFError, UnicodeError) as exc:
                raise InputError(f"cannot read after line {line - 1}: {exc}", path=str(path)) from None
            end = not chunk
        data = carry + chunk
        if not data:
            return
        buf = np.frombuffer(data, dtype=np.uint8)
        breaks, newlines, quotes = _record_breaks(buf)
        unclosed = b""
        if chunk:
            if not breaks.size:
                carry = data
                continue
            cut = int(breaks[-1]) + 1
        elif quotes % 2:  # the line after the last record's end holds the quote that never closes
            cut = int(breaks[-1]) + 1 if breaks.size else 0
            stop = data.find(b"\n", cut) + 1 or len(data)
            unclosed = data[cut:stop]
        else:
            cut = len(data)
        data, carry = data[:cut], data[cut + len(unclosed) :]
        buf = buf[:cut]
        newlines = newlines[: np.searchsorted(newlines, cut)]
        breaks = breaks[: np.searchsorted(breaks, cut)]
        if data:
            ends = breaks if data.endswith(b"\n") else np.append(breaks, len(data))
            starts = np.concatenate(([0], breaks[: ends.size - 1] + 1)) if ends.size else ends
            lines = line + np.searchsorted(newlines, starts)  # a record's line: 1 + the line breaks before it
            cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == _RETURN)
            ends = ends - cr
            yield _Block(
                data, starts.astype(np.int64), ends.astype(np.int64), lines.astype(np.int64), quotes > 0
            )
            line += newlines.size + (0 if data.endswith(b"\n") else 1)
        if unclosed:
            text = unclosed.rstrip(b"\n").removesuffix(b"\r")
            one = np.zeros(1, dtype=np.int64)
            yield _Block(text, one, one + len(text), one + line, True, unclosed=True)
            line += 1
        if end and not carry:
            return


def _unreadable(block: _Block, codec: str | None = None) -> tuple[_Block, list[tuple[int, str, str, str]]]:
    """The block without its records that are not UTF-8 text or that hold a NUL byte (each left as an empty
    line, which the parser skips), and those records as (line, raw, rule, detail).

    On the hot path this is two scans of the block's bytes in C (a NUL byte? ASCII only?), and a decode
    where the block holds other bytes than ASCII; records are looked at one by one only in a block that
    holds a bad one. ``codec``: the declared encoding the block was transcoded from (``None``: UTF-8).
    """
    data = block.data
    nul = data.find(0) >= 0
    if not nul and data.isascii():
        return block, []
    if not nul:
        try:
            data.decode("utf-8")
            return block, []
        except UnicodeDecodeError:
            pass
    buf = np.frombuffer(data, dtype=np.uint8)
    suspects = np.unique(
        np.searchsorted(block.starts, np.flatnonzero((buf == 0) | (buf >= 0x80)), "right") - 1
    )
    bad: list[int] = []
    found: list[tuple[int, str, str, str]] = []
    for i in suspects[suspects >= 0]:
        record = data[block.starts[i] : block.ends[i]]
        if 0 in record:
            rule, detail = "malformed_row", f"a NUL byte at byte {record.index(0) + 1}"
        else:
            try:
                record.decode("utf-8")
                continue
            except UnicodeDecodeError as exc:
                rule = "invalid_utf8"
                detail = (
                    f"byte {exc.start + 1} (0x{record[exc.start]:02x}) is not UTF-8: declare the file's "
                    "encoding (--encoding latin-1)"
                    if codec is None
                    else f"a byte (0x{record[exc.start]:02x}) that is no {codec} text"
                )
        bad.append(int(i))
        found.append((int(block.lines[i]), raw_text(record), rule, detail))
    return (_without(block, bad), found) if bad else (block, [])


def _holding(block: _Block, byte: int) -> list[int]:
    """The records that hold ``byte`` between their start and end: a carriage return (not the one of their
    CRLF line break), where the parser ends a line; a line break, where a quote inside a value made Kappa
    read several lines as one record while the parser, which reads such a quote as text, does not. Looked
    for only where the parser's rows do not match the block's records."""
    at = np.flatnonzero(np.frombuffer(block.data, dtype=np.uint8) == byte)
    i = np.searchsorted(block.starts, at, "right") - 1
    inside = (i >= 0) & (at < block.ends[np.maximum(i, 0)])
    return sorted(set(i[inside].tolist()))


def _without(block: _Block, bad: list[int]) -> _Block:
    """The block with records ``bad`` (sorted) left as empty lines, which the parser skips."""
    data = block.data
    # each bad record's bytes, up to the next record's start, become one line break
    nexts = np.append(block.starts[1:], len(data))
    removed = np.zeros(block.starts.size, dtype=np.int64)
    removed[bad] = nexts[bad] - block.starts[bad] - 1
    shift = np.cumsum(removed) - removed  # bytes removed before each record
    pieces: list[bytes] = []
    at = 0
    for i in bad:
        pieces += [data[at : block.starts[i]], b"\n"]
        at = int(nexts[i])
    pieces.append(data[at:])
    starts = block.starts - shift
    ends = block.ends - shift
    ends[bad] = starts[bad]
    return _Block(b"".join(pieces), starts, ends, block.lines, block.quoted)


def _text_batches(path: Path, names: list[str], block_bytes: int, encoding: str | None) -> Iterator[RawBatch]:
    d = dialect(path, encoding)
    malformed: list[str] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        malformed.append(row.text)
        return "skip"

    parse = pacsv.ParseOptions(delimiter=d.delimiter, invalid_row_handler=on_invalid)
    quoted = pacsv.ParseOptions(
        delimiter=d.delimiter, invalid_row_handler=on_invalid, newlines_in_values=True
    )
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    read = pacsv.ReadOptions(column_names=names, block_size=1 << 22)
    no_rows = pl.DataFrame(schema={**dict.fromkeys(names, pl.String), ROW: pl.Int64})
    fields = f"not {len(names)} fields"
    with _open_text(path, encoding) as f:
        _header(f, path)
        for block in _blocks(f, block_bytes, 2, path):
            if block.unclosed:
                yield RawBatch(
                    no_rows,
                    pl.DataFrame({ROW: block.lines - 1, "raw": block.texts(block.lines - 1),
                                  "rule": ["malformed_row"], "detail": ["a quote opens and never closes"]},
                                 schema=TEXT_MALFORMED_SCHEMA),
                    block.texts,
                )  # fmt: skip
                continue
            original = block
            block, pulled = _unreadable(block, text_encoding(encoding))
            failure = ""
            for attempt in range(3):
                if attempt:  # the parser's rows do not match the block's records: leave some out, read again
                    byte, why = (
                        (_RETURN, "a carriage return (\\r) inside the line")
                        if attempt == 1
                        else (_NEWLINE, "a quote inside a value: the lines it spans are read as one")
                    )
                    odd = _holding(block, byte)
                    if not odd:
                        continue
                    texts = [raw_text(block.data[block.starts[i] : block.ends[i]]) for i in odd]
                    pulled += [
                        (int(block.lines[i]), t, "malformed_row", why)
                        for i, t in zip(odd, texts, strict=True)
                    ]
                    block = _without(block, odd)
                malformed.clear()
                try:
                    table = pacsv.read_csv(io.BytesIO(block.data), read_options=read,
                                           parse_options=quoted if block.quoted else parse,
                                           convert_options=convert)  # fmt: skip
                except pa.ArrowException as exc:
                    raise InputError(_text_error(block, exc), path=str(path)) from None
                frame = pl.from_arrow(table)
                assert isinstance(frame, pl.DataFrame)
                try:
                    lines, bad = _row_lines(block, frame.height, malformed, d.delimiter, len(names))
                    break
                except ValueError as exc:
                    failure = str(exc)
            else:
                raise InputError(failure, path=str(path))
            bad_rows = pl.DataFrame(
                {ROW: bad - 1, "raw": block.texts(bad - 1), "rule": "malformed_row", "detail": fields},
                schema=TEXT_MALFORMED_SCHEMA,
            )
            if pulled:
                at, raws, rules, details = zip(*pulled, strict=True)
                bad_rows = pl.concat([
                    bad_rows,
                    pl.DataFrame({ROW: np.asarray(at) - 1, "raw": raws, "rule": rules, "detail": details},
                                 schema=TEXT_MALFORMED_SCHEMA),
                ]).sort(ROW)  # fmt: skip
            yield RawBatch(
                frame.with_columns(pl.Series(ROW, lines - 1, dtype=pl.Int64)), bad_rows, original.texts
            )


def _row_lines(
    block: _Block, rows: int, malformed: list[str], delimiter: str, columns: int
) -> tuple[np.ndarray, np.ndarray]:
    """The file line of each parsed row, and of each malformed line (in file order).

    The parser skips empty lines and hands malformed ones to a callback by their text (in no particular
    order when it parses in threads); the rows are the remaining lines, in order. A text the parser called
    malformed is malformed wherever it stands, so the malformed lines are those whose text is one of the
    callback's: looked for first among the lines whose count of delimiters is not the header's, then, if
    quoting hides some, among all lines. Linear in the block's lines, however many are malformed.
    """
    lengths = block.ends - block.starts
    line_no = block.lines
    keep = lengths > 0
    bad = np.zeros(0, dtype=np.int64)
    if malformed:
        texts = {t.encode() for t in malformed}
        data, starts, ends = block.data, block.starts, block.ends
        buf = np.frombuffer(data, dtype=np.uint8)
        marks = np.concatenate(([0], np.cumsum(buf == ord(delimiter)))).astype(np.int64)
        fields = marks[ends] - marks[starts] + 1

        def matching(candidates: np.ndarray) -> list[int]:
            return [int(i) for i in candidates if data[starts[i] : ends[i]] in texts]

        found = matching(np.flatnonzero(keep & (fields != columns)))
        if len(found) != len(malformed):
            found = matching(np.flatnonzero(keep))
        if len(found) != len(malformed):
            raise ValueError(f"cannot tell the malformed lines apart near line {block.lines[0]}")
        bad = line_no[found]
        keep[found] = False
    lines = line_no[keep]
    if lines.size != rows:  # line breaks the parser counts but this does not (a lone carriage return)
        raise ValueError(
            f"{rows} rows parsed from {lines.size} lines near line {block.lines[0]}: "
            "end lines with \\n or \\r\\n"
        )
    return lines, bad


def _text_error(block: _Block, exc: Exception) -> str:
    """The reason a block does not parse, naming the line where it starts."""
    return f"cannot read as delimited text near line {block.lines[0]}: {_first_line(exc)}"


def raw_rows(
    path: Path,
    rows: Sequence[int] | np.ndarray,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    encoding: str | None = None,
) -> pl.DataFrame:
    """The rows numbered ``rows`` (see the module docstring) as they stand in the file: ``row_number, raw``.

    ``raw`` is the line's text for a delimited file (without its line break, as :func:`raw_text` writes it)
    and a JSON object of the row's values, as text, for a Parquet file. Numbers the file does not hold are
    left out.
    """
    wanted = np.unique(np.asarray(rows, dtype=np.int64))
    if not wanted.size or is_empty(path):
        return pl.DataFrame(schema=MALFORMED_SCHEMA)
    if file_format(path) == "parquet":
        try:
            frame = pl.scan_parquet(path).with_row_index(ROW, offset=1)
            got = frame.filter(pl.col(ROW).is_in(wanted.tolist())).collect()
        except PARQUET_ERRORS as exc:
            raise InputError(f"cannot read as Parquet: {_first_line(exc)}", path=str(path)) from None
        cols = [c for c in got.columns if c != ROW]
        return got.select(
            pl.col(ROW).cast(pl.Int64),
            pl.struct([pl.col(c).cast(pl.String) for c in cols]).struct.json_encode().alias("raw"),
        )
    found: list[int] = []
    texts: list[str] = []
    with _open_text(path, encoding) as f:
        _header(f, path)
        for block in _blocks(f, max(1 << 16, batch_rows * BYTES_PER_ROW), 2, path):
            numbers = block.lines - 1
            for i in np.flatnonzero(np.isin(numbers, wanted)):
                found.append(int(numbers[i]))
                texts.append(raw_text(block.data[block.starts[i] : block.ends[i]]))
            if numbers.size and numbers[-1] >= wanted[-1]:
                break
    return pl.DataFrame({ROW: found, "raw": texts}, schema=MALFORMED_SCHEMA)
