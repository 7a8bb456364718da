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
"""

from __future__ import annotations

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


def _open_text(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")  # type: ignore[return-value]


def _header(f: BinaryIO, path: Path) -> str:
    try:
        line = f.readline()
    except (OSError, EOFError) as exc:  # a truncated or corrupt gzip stream
        raise InputError(f"cannot read: {exc}", path=str(path)) from exc
    try:
        return line.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise InputError(
            "the header line is not UTF-8 text: save the file as UTF-8", path=str(path)
        ) from None


def dialect(path: Path) -> Dialect:
    """The delimiter (the one of ``,`` tab ``;`` ``|`` that splits the header into the most columns; a
    ``.tsv`` file prefers tab) and the header's column names."""
    with _open_text(path) as f:
        header = _header(f, path)
    if not header.strip():
        raise InputError("no header line (the first line is empty)", path=str(path))
    order = ("\t", *(d for d in DELIMITERS if d != "\t")) if ".tsv" in path.name.lower() else DELIMITERS
    best = max(order, key=lambda d: (len(next(csv.reader([header], delimiter=d))), -order.index(d)))
    return Dialect(best, [n.strip() for n in next(csv.reader([header], delimiter=best))])


def column_names(path: Path) -> list[str]:
    """The lower-cased column names of a delimited or Parquet file, without reading its rows."""
    if file_format(path) == "parquet":
        try:
            names = pq.ParquetFile(path).schema_arrow.names
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot read as Parquet: {str(exc).splitlines()[0]}", path=str(path)) from exc
    else:
        names = dialect(path).names
    return _normalised(names, path)


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


def check_columns(path: Path, spec: TableSpec, columns: Mapping[str, str] | None = None) -> list[str]:
    """The file's lower-cased column names (renamed by ``columns``, contract column -> file column);
    :class:`MissingColumnError` if a required one is absent."""
    names = mapped_names(column_names(path), columns or {}, path)
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
) -> Iterator[RawBatch]:
    """Yield the rows of ``path`` in batches (see the module docstring for row numbers).

    A missing required column raises :class:`MissingColumnError` before any row is yielded; a file that is
    not text (or not UTF-8), or a broken Parquet file, an :class:`InputError` naming the file.

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
    """
    names = check_columns(path, spec, columns)
    if file_format(path) == "parquet":
        yield from _parquet_batches(path, names, batch_rows)
    else:
        yield from _text_batches(path, names, max(1 << 16, batch_rows * BYTES_PER_ROW))


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
    except (pa.ArrowInvalid, pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(
            f"malformed file after row {offset}: {str(exc).splitlines()[0]}", path=str(path)
        ) from exc


@dataclass(frozen=True, slots=True)
class _Block:
    """Whole records of a delimited file: their bytes, each record's [start, end) without its line break,
    and the file's line number (1 = the header) where each starts. A record is a line, unless a quoted
    value holds a line break: then it spans the lines to the quote's end."""

    data: bytes
    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray
    quoted: bool  # the block holds a quote character

    def texts(self, rows: np.ndarray) -> list[str]:
        """The text of the records of row numbers ``rows`` (row N starts on line N + 1)."""
        at = np.searchsorted(self.lines, np.asarray(rows, dtype=np.int64) + 1)
        return [self.data[self.starts[i] : self.ends[i]].decode("utf-8", errors="replace") for i in at]


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
    """The records after the header in blocks of about ``block_bytes`` (a block ends at a record's end)."""
    carry = b""
    line = first_line
    while True:
        try:
            chunk = f.read(block_bytes)
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot read after line {line - 1}: {exc}", path=str(path)) from exc
        data = carry + chunk
        if not data:
            return
        buf = np.frombuffer(data, dtype=np.uint8)
        breaks, newlines, quotes = _record_breaks(buf)
        if chunk:
            if not breaks.size:
                carry = data
                continue
            cut = int(breaks[-1]) + 1
            data, carry = data[:cut], data[cut:]
            buf = buf[:cut]
            newlines = newlines[: np.searchsorted(newlines, cut)]
        else:
            carry = b""
            if quotes % 2:
                at = line + int(np.searchsorted(newlines, int(breaks[-1]) + 1)) if breaks.size else line
                raise InputError(f"a quote opened on line {at} or after it never closes", path=str(path))
        ends = breaks if data.endswith(b"\n") else np.append(breaks, len(data))
        starts = np.concatenate(([0], breaks[: ends.size - 1] + 1)) if ends.size else ends
        lines = line + np.searchsorted(newlines, starts)  # a record's line: 1 + the line breaks before it
        cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == _RETURN)
        ends = ends - cr
        yield _Block(data, starts.astype(np.int64), ends.astype(np.int64), lines.astype(np.int64), quotes > 0)
        line += newlines.size + (0 if data.endswith(b"\n") else 1) if buf.size else 0
        if not chunk:
            return


def _text_batches(path: Path, names: list[str], block_bytes: int) -> Iterator[RawBatch]:
    d = dialect(path)
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
    with _open_text(path) as f:
        _header(f, path)
        for block in _blocks(f, block_bytes, 2, path):
            malformed.clear()
            try:
                table = pacsv.read_csv(io.BytesIO(block.data), read_options=read,
                                       parse_options=quoted if block.quoted else parse,
                                       convert_options=convert)  # fmt: skip
            except pa.ArrowInvalid as exc:
                raise InputError(_text_error(block, exc), path=str(path)) from None
            frame = pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            try:
                lines, bad = _row_lines(block, frame.height, malformed, d.delimiter, len(names))
            except ValueError as exc:
                raise InputError(str(exc), path=str(path)) from None
            yield RawBatch(
                frame.with_columns(pl.Series(ROW, lines - 1, dtype=pl.Int64)),
                pl.DataFrame({ROW: bad - 1, "raw": block.texts(bad - 1)}, schema=MALFORMED_SCHEMA)
                if malformed
                else pl.DataFrame(schema=MALFORMED_SCHEMA),
                block.texts,
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
    """The reason a block does not parse, with the first line that is not UTF-8 where that is why."""
    for i, (a, b) in enumerate(zip(block.starts, block.ends, strict=True)):
        try:
            block.data[a:b].decode("utf-8")
        except UnicodeDecodeError:
            return f"line {block.lines[i]} is not UTF-8 text: save the file as UTF-8"
    return f"cannot read as delimited text near line {block.lines[0]}: {str(exc).splitlines()[0]}"


def raw_rows(
    path: Path, rows: Sequence[int] | np.ndarray, batch_rows: int = DEFAULT_BATCH_ROWS
) -> pl.DataFrame:
    """The rows numbered ``rows`` (see the module docstring) as they stand in the file: ``row_number, raw``.

    ``raw`` is the line's text for a delimited file (without its line break) and a JSON object of the row's
    values, as text, for a Parquet file. Numbers the file does not hold are left out.
    """
    wanted = np.unique(np.asarray(rows, dtype=np.int64))
    if not wanted.size:
        return pl.DataFrame(schema=MALFORMED_SCHEMA)
    if file_format(path) == "parquet":
        frame = pl.scan_parquet(path).with_row_index(ROW, offset=1)
        got = frame.filter(pl.col(ROW).is_in(wanted.tolist())).collect()
        cols = [c for c in got.columns if c != ROW]
        return got.select(
            pl.col(ROW).cast(pl.Int64),
            pl.struct([pl.col(c).cast(pl.String) for c in cols]).struct.json_encode().alias("raw"),
        )
    found: list[int] = []
    texts: list[str] = []
    with _open_text(path) as f:
        _header(f, path)
        for block in _blocks(f, max(1 << 16, batch_rows * BYTES_PER_ROW), 2, path):
            numbers = block.lines - 1
            for i in np.flatnonzero(np.isin(numbers, wanted)):
                found.append(int(numbers[i]))
                texts.append(block.data[block.starts[i] : block.ends[i]].decode("utf-8", errors="replace"))
            if numbers.size and numbers[-1] >= wanted[-1]:
                break
    return pl.DataFrame({ROW: found, "raw": texts}, schema=MALFORMED_SCHEMA)
