"""Databento Binary Encoding (DBN): ``.dbn`` and ``.dbn.zst`` files, as quotes and trades.

A DBN file is a metadata header (dataset, schema, symbology) and fixed-size binary records, optionally
Zstandard-compressed (Databento, "DBN encoding" and "Schemas and data formats", databento.com/docs). The
header is decoded by ``databento_dbn.Metadata``; the records are read in blocks as NumPy structured arrays
laid out as ``databento_dbn``'s record classes declare (their ``_dtypes``, which Databento's own Python client
uses the same way), so a block costs a few vectorised passes, not a Python object per record; a record that
is quarantined is decoded again by ``databento_dbn.DBNDecoder`` for its text. Versions 1 to 3 of DBN share the
layouts of the records read here.

Schemas
-------
``trades`` (``TradeMsg``)
    trades.
``tbbo`` (``MBP1Msg``)
    trades, and quotes: the best bid and offer each trade record carries (the book just before the trade).
``mbp-1`` (``MBP1Msg``)
    quotes: level 0 after each book event; trades: the records of action ``T``.
``bbo-1s``, ``bbo-1m`` (``BBOMsg``)
    quotes: the best bid and offer sampled each second or minute.

Other schemas (``mbo``, ``mbp-10``, ``ohlcv-*``, ``definition``, ``statistics``, ...) are refused with an
:class:`InputError` naming the schemas read.

Fields
------
``ts`` is ``ts_event`` (UTC nanoseconds: the matching engine's time of the event; for ``bbo-1s``/``bbo-1m``
the time of the last book update before the sample, so an unchanged book keeps its time). Prices are fixed
point, 1 unit = 1e-9 USD (``FIXED_PRICE_SCALE``); ``UNDEF_PRICE`` is no price. Sizes are shares.
``symbol`` is the instrument's symbol from the metadata's symbology mappings (``instrument_id`` -> the symbol
asked for, on the UTC date of the record's index timestamp ``ts_recv``, as ``databento_dbn``'s
``TsSymbolMap`` resolves it), else from the file's ``SymbolMappingMsg`` records (live data), else empty
(such a row is quarantined as ``missing_value``). ``exchange`` is the venue of the record's publisher, the
ISO 10383 MIC Databento assigns (``XNAS`` for publisher 2, XNAS.ITCH), as ``databento_dbn`` names its
publishers. ``trade_id`` is ``YYYYMMDD:<publisher_id>:<sequence>`` (the UTC date of ``ts_recv``, the venue's
message sequence number): unique per day and venue; two trades of one symbol with one sequence (rare) are
told apart by ``:2``, ``:3``...; empty when the venue gives no sequence (0). ``aggressor`` (only when the
table's contract has that column): ``side`` ``B`` -> ``buy``, ``A`` -> ``sell``, ``N`` -> empty (Databento:
"the side that initiates the event"; for a trade, the aggressor's). ``conditions`` is empty.

Skipped records (``RawBatch.skipped``)
--------------------------------------
``one_sided_book`` (quotes: no bid or no ask, an undefined price or a size of 0), ``book_unchanged``
(quotes: the same bid, ask and sizes as the instrument's previous record), ``book_update`` (trades: a
``mbp-1`` record that is not a trade), ``symbol_mapping`` (a ``SymbolMappingMsg``: read for the symbols),
``system_message`` (``SystemMsg``: heartbeats, subscription acknowledgements), ``error_message``
(``ErrorMsg``) and ``other_record`` (a record of another schema). A record of the file's schema whose length
is not its schema's is malformed.

``row_number`` N is the file's N-th record (1-based, every record counted, whatever its type).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import databento_dbn as dbn
import numpy as np
import polars as pl
import pyarrow as pa

from data.contract import TableSpec
from data.readers import MALFORMED_SCHEMA, RawBatch
from data.validation import ROW
from kappa.errors import InputError

SCHEMA_TABLES: dict[str, tuple[str, ...]] = {
    "trades": ("trades",),
    "tbbo": ("quotes", "trades"),
    "mbp-1": ("quotes", "trades"),
    "bbo-1s": ("quotes",),
    "bbo-1m": ("quotes",),
}
"""The schemas read and the tables each holds rows of."""
RECORD_CLASSES: dict[str, Any] = {
    "trades": dbn.TradeMsg,
    "tbbo": dbn.MBP1Msg,
    "mbp-1": dbn.MBP1Msg,
    "bbo-1s": dbn.BBOMsg,
    "bbo-1m": dbn.BBOMsg,
}
PRICE_SCALE = float(dbn.FIXED_PRICE_SCALE)
UNDEF_PRICE = int(dbn.UNDEF_PRICE)
UNDEF_TIMESTAMP = int(dbn.UNDEF_TIMESTAMP)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DBN_MAGIC = b"DBN"
PREFIX_BYTES = 8  # "DBN", the version, the metadata's length (u32, little endian)
OTHER_RECORDS = {
    int(dbn.RType.SYMBOL_MAPPING): "symbol_mapping",
    int(dbn.RType.SYSTEM): "system_message",
    int(dbn.RType.ERROR): "error_message",
}
MAX_WINDOW = 1 << 16  # records checked at once for a run of the schema's records
_PUBLISHER = re.compile(r"publisher_id=([A-Z0-9]+(?:\.[A-Z0-9]+)*)\.([A-Z0-9]+) \((\d+)\)")

MALFORMED_RECORD = "a record whose length is not its schema's"
"""The ``detail`` of a quarantined record."""


def _is_zstd(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == ZSTD_MAGIC


def _open(path: Path) -> pa.NativeFile:
    """The file's DBN bytes, decompressed as they are read when the file is a Zstandard stream."""
    try:
        return pa.input_stream(str(path), compression="zstd" if _is_zstd(path) else None)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"cannot read: {exc}", path=str(path)) from exc


def _read(stream: pa.NativeFile, n: int, path: Path) -> bytes:
    try:
        return bytes(stream.read(n))
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"cannot read (a broken Zstandard stream?): {exc}", path=str(path)) from exc


def sniff(path: Path) -> bool:
    """A DBN file by its first bytes (``DBN`` and a version, once decompressed for a Zstandard stream)."""
    try:
        with _open(path) as stream:
            head = bytes(stream.read(4))
    except (InputError, OSError, pa.ArrowInvalid):
        return False
    return head[:3] == DBN_MAGIC and len(head) == 4 and 1 <= head[3] <= 9


def _metadata(stream: pa.NativeFile, path: Path) -> tuple[dbn.Metadata, int]:
    """The metadata (upgraded to the current version by the library) and the DBN version the file is in."""
    prefix = _read(stream, PREFIX_BYTES, path)
    if len(prefix) < PREFIX_BYTES or prefix[:3] != DBN_MAGIC:
        raise InputError("not a DBN file (it does not start with 'DBN')", path=str(path))
    length = int.from_bytes(prefix[4:8], "little")
    body = _read(stream, length, path)
    if len(body) < length:
        raise InputError("the file ends inside its metadata header", path=str(path))
    try:
        return dbn.Metadata.decode(prefix + body), prefix[3]
    except dbn.DBNError as exc:
        raise InputError(f"cannot decode the DBN metadata: {exc}", path=str(path)) from exc


def metadata(path: Path) -> dbn.Metadata:
    """The file's metadata header (dataset, schema, symbology, version)."""
    with _open(path) as stream:
        return _metadata(stream, path)[0]


def _schema(md: dbn.Metadata, path: Path) -> str:
    schema = md.schema
    name = str(getattr(schema, "value", schema)) if schema is not None else None
    if name not in SCHEMA_TABLES:
        raise InputError(
            f"DBN schema {name or 'none (a stream of mixed schemas)'} is not read; "
            f"Kappa reads {', '.join(SCHEMA_TABLES)}",
            path=str(path),
        )
    return name


def tables(path: Path) -> tuple[str, ...]:
    """The tables the file's schema holds rows of (see the module docstring)."""
    return SCHEMA_TABLES[_schema(metadata(path), path)]


def companions(path: Path) -> list[Path]:
    """A DBN file is its own source."""
    return [path]


@functools.cache
def venue(publisher_id: int) -> str | None:
    """The MIC of the venue of Databento publisher ``publisher_id`` (``XNAS`` for 2, ``EQUS.MINI.EQUS`` ->
    ``EQUS``), as ``databento_dbn`` names its publishers; None for an id it does not know."""
    record = dbn.TradeMsg(
        publisher_id=publisher_id, instrument_id=0, ts_event=0, price=0, size=0,
        action=dbn.Action("T"), side=dbn.Side("N"), depth=0, ts_recv=0,
    )  # fmt: skip
    m = _PUBLISHER.search(repr(record))
    return m.group(2) if m and int(m.group(3)) == publisher_id else None


@dataclass(frozen=True, slots=True)
class _Layout:
    """How the file's records of its schema are laid out."""

    dtype: np.dtype
    size: int
    rtypes: frozenset[int]


def _layout(schema: str, md: dbn.Metadata) -> _Layout:
    cls = RECORD_CLASSES[schema]
    fields = [(name, kind) for name, kind in cls._dtypes]
    if md.ts_out:
        fields.append(("ts_out", "u8"))
    dtype = np.dtype(fields)
    rtypes = {int(dbn.RType.from_schema(dbn.Schema.from_str(schema)))}
    if schema == "tbbo":
        rtypes.add(int(dbn.RType.TBBO))
    return _Layout(dtype, dtype.itemsize, frozenset(rtypes))


@dataclass(slots=True)
class _Symbols:
    """instrument_id -> symbol: the metadata's intervals of dates, and those of ``SymbolMappingMsg`` records."""

    intervals: pl.DataFrame
    live: dict[int, str] = field(default_factory=dict)


def _symbols(md: dbn.Metadata) -> _Symbols:
    """The metadata's mappings as ``instrument_id, start, end, symbol`` (``end`` excluded), as
    ``databento_dbn``'s ``TsSymbolMap`` reads them: keyed by the symbol asked for when ``stype_out`` is the
    instrument id, by the instrument id when ``stype_in`` is (an inverse mapping)."""
    ids: list[int] = []
    starts, ends, symbols = [], [], []
    stype_in, stype_out = md.stype_in, md.stype_out
    instrument = dbn.SType.INSTRUMENT_ID
    inverse = stype_out != instrument and stype_in == instrument
    if stype_out == instrument or inverse:
        for key, intervals in md.mappings.items():
            for interval in intervals:
                value = interval["symbol"]
                iid, symbol = (key, value) if inverse else (value, key)
                if not value or not str(iid).isdigit():
                    continue
                ids.append(int(iid))
                starts.append(interval["start_date"])
                ends.append(interval["end_date"])
                symbols.append(symbol)
    frame = pl.DataFrame(
        {"instrument_id": ids, "_start": starts, "_end": ends, "symbol": symbols},
        schema={"instrument_id": pl.UInt32, "_start": pl.Date, "_end": pl.Date, "symbol": pl.String},
    )
    return _Symbols(frame)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """The records of one block: those of the schema (their start in ``data``) and the others."""

    data: bytes
    starts: np.ndarray  # of the schema's records
    others: np.ndarray  # of the other records
    end: int  # bytes read into records (the rest is the start of a record)


def _split(data: bytes, layout: _Layout, path: Path, first: int) -> _Chunk:
    """Where the schema's records and the others start in ``data``: runs of records of the schema's length
    and type are checked a window at a time (vectorised); any other record is stepped over by its length."""
    buf = np.frombuffer(data, dtype=np.uint8)
    n, size, words = buf.size, layout.size, layout.size // 4
    rtypes = np.fromiter(layout.rtypes, dtype=np.uint8)
    runs: list[np.ndarray] = []
    others: list[int] = []
    pos, window = 0, MAX_WINDOW
    while pos < n:
        k = min((n - pos) // size, window)
        if k:
            lengths = buf[pos : pos + k * size : size]
            types = buf[pos + 1 : pos + k * size : size]
            good = (lengths == words) & np.isin(types, rtypes)
            j = k if bool(good.all()) else int(np.argmin(good))
            if j:
                runs.append(pos + size * np.arange(j, dtype=np.int64))
                pos += j * size
            if j == k:
                window = min(2 * window, MAX_WINDOW)
                continue
        length = int(buf[pos]) * 4
        if length == 0:
            index = first + sum(r.size for r in runs) + len(others)
            raise InputError(f"record {index} has a length of 0: the file is corrupt", path=str(path))
        if pos + length > n:
            break
        others.append(pos)
        pos += length
        window = 64
    starts = np.concatenate(runs) if runs else np.zeros(0, dtype=np.int64)
    return _Chunk(data, starts, np.asarray(others, dtype=np.int64), pos)


def _decoder(md: dbn.Metadata, version: int) -> dbn.DBNDecoder:
    """A decoder of single records of the file (of its DBN ``version``: the layouts of other records differ)."""
    return dbn.DBNDecoder(has_metadata=False, ts_out=md.ts_out, input_version=version)


@dataclass(slots=True)
class _State:
    """What crosses batches: each instrument's last level 0 (for ``book_unchanged``) and the symbols."""

    symbols: _Symbols
    books: pl.DataFrame | None = None


BOOK = ("bid_px_00", "ask_px_00", "bid_sz_00", "ask_sz_00")


def read_batches(
    path: Path, spec: TableSpec, batch_rows: int, calendar: str | None = None
) -> Iterator[RawBatch]:
    """The file's quotes or trades, about ``batch_rows`` records a batch (see the module docstring).

    Parameters
    ----------
    path
        A ``.dbn`` or ``.dbn.zst`` file of schema ``trades``, ``tbbo``, ``mbp-1``, ``bbo-1s`` or ``bbo-1m``.
    spec
        :data:`data.contract.QUOTES` or :data:`data.contract.TRADES`.
    batch_rows
        Records per batch.

    Raises
    ------
    InputError
        A schema that is not read, a table the schema does not hold, a header or a record that cannot be
        read, a file that ends inside a record.
    """
    with _open(path) as stream:
        md, version = _metadata(stream, path)
        schema = _schema(md, path)
        if spec.name not in SCHEMA_TABLES[schema]:
            raise InputError(
                f"a DBN file of schema {schema} holds {' and '.join(SCHEMA_TABLES[schema])}, not {spec.name}",
                path=str(path),
            )
        layout = _layout(schema, md)
        state = _State(_symbols(md))
        carry = b""
        first = 1
        block = max(1, batch_rows) * layout.size
        while True:
            chunk = _read(stream, block, path)
            data = carry + chunk
            if not data:
                return
            split = _split(data, layout, path, first)
            if not chunk and split.end < len(data):
                raise InputError(f"the file ends inside record {first + split.starts.size + split.others.size}",
                                 path=str(path))  # fmt: skip
            carry = data[split.end :]
            yield _batch(split, first, md, version, schema, layout, spec, state)
            first += split.starts.size + split.others.size
            if not chunk:
                return


def _rows(split: _Chunk, first: int) -> tuple[np.ndarray, np.ndarray]:
    """The row numbers of the schema's records and of the others (both in file order)."""
    rows = first + np.arange(split.starts.size, dtype=np.int64) + np.searchsorted(split.others, split.starts)
    other_rows = (
        first + np.arange(split.others.size, dtype=np.int64) + np.searchsorted(split.starts, split.others)
    )
    return rows, other_rows


def _batch(
    split: _Chunk,
    first: int,
    md: dbn.Metadata,
    version: int,
    schema: str,
    layout: _Layout,
    spec: TableSpec,
    state: _State,
) -> RawBatch:
    rows, other_rows = _rows(split, first)
    buf = np.frombuffer(split.data, dtype=np.uint8)
    records = _records(buf, split.starts, layout)
    skipped: dict[str, int] = {}
    malformed_rows: list[int] = []
    if split.others.size:
        decoder = _Records(md, version)
        for pos, row in zip(split.others.tolist(), other_rows.tolist(), strict=True):
            length, rtype = int(buf[pos]) * 4, int(buf[pos + 1])
            if rtype in layout.rtypes:
                malformed_rows.append(row)
                continue
            reason = OTHER_RECORDS.get(rtype, "other_record")
            skipped[reason] = skipped.get(reason, 0) + 1
            if reason == "symbol_mapping":
                for msg in decoder.decode(split.data[pos : pos + length]):
                    if isinstance(msg, dbn.SymbolMappingMsg) and msg.stype_out_symbol:
                        state.symbols.live[int(msg.instrument_id)] = str(msg.stype_out_symbol)
    frame = _frame(records, rows)
    frame = _with_symbols(frame, state.symbols)
    out, more = (_quotes if spec.name == "quotes" else _trades)(frame, schema, spec, state)
    for reason, count in more.items():
        if count:
            skipped[reason] = skipped.get(reason, 0) + count
    texts = _texts(split, first, md, version)
    bad = np.asarray(malformed_rows, dtype=np.int64)
    malformed = (
        pl.DataFrame({ROW: bad, "raw": texts(bad)}, schema=MALFORMED_SCHEMA)
        if bad.size
        else pl.DataFrame(schema=MALFORMED_SCHEMA)
    ).with_columns(pl.lit(MALFORMED_RECORD).alias("detail"))
    return RawBatch(out, malformed, texts, skipped)


FIELDS = ("publisher_id", "instrument_id", "ts_event", "ts_recv", "price", "size", "sequence", *("bid_px_00",
          "ask_px_00", "bid_sz_00", "ask_sz_00"))  # fmt: skip
CHARACTERS = ("action", "side")


def _frame(records: np.ndarray, rows: np.ndarray) -> pl.DataFrame:
    """The fields read of each record as columns (a character field as its byte: ``ord('T')``)."""
    names = records.dtype.names or ()
    columns = {f: np.ascontiguousarray(records[f]) for f in FIELDS if f in names}
    columns |= {f: np.ascontiguousarray(records[f]).view(np.uint8) for f in CHARACTERS if f in names}
    return pl.DataFrame(columns).with_columns(pl.Series(ROW, rows, dtype=pl.Int64))


def _records(buf: np.ndarray, starts: np.ndarray, layout: _Layout) -> np.ndarray:
    """The schema's records as a structured array (a view of the bytes when they are contiguous)."""
    n = starts.size
    if n == 0:
        return np.zeros(0, dtype=layout.dtype)
    if int(starts[-1] - starts[0]) == (n - 1) * layout.size:
        return buf[int(starts[0]) : int(starts[0]) + n * layout.size].view(layout.dtype)
    gathered = buf[starts[:, None] + np.arange(layout.size, dtype=np.int64)]
    return np.ascontiguousarray(gathered).view(layout.dtype).reshape(n)


class _Records:
    """Single records of the file decoded by ``databento_dbn`` (for their text, and the symbol mappings)."""

    def __init__(self, md: dbn.Metadata, version: int) -> None:
        self.md, self.version = md, version
        self.decoder = _decoder(md, version)

    def decode(self, data: bytes) -> list[Any]:
        """The records of ``data``; none if the library cannot decode them (a record of a wrong length makes
        it panic, and pyo3's ``PanicException`` is a ``BaseException``): the decoder is then made anew."""
        try:
            return list(self.decoder.write_and_decode(data))
        except dbn.DBNError:
            pass
        except BaseException as exc:
            if type(exc).__name__ != "PanicException":
                raise
        self.decoder = _decoder(self.md, self.version)
        return []


def _texts(split: _Chunk, first: int, md: dbn.Metadata, version: int) -> Callable[[np.ndarray], list[str]]:
    """The text of records by row number: the record as ``databento_dbn`` prints it (its ``repr``), or its
    type, length and bytes in hex when the library cannot decode it. Row ``first + i`` is the chunk's
    ``i``-th record (every record is counted), found when first asked."""
    found: list[np.ndarray] = []
    data = split.data

    def texts(wanted: np.ndarray) -> list[str]:
        if not found:
            found.append(np.sort(np.concatenate((split.starts, split.others))))
        starts = found[0]
        decoder = _Records(md, version)
        out = []
        for i in (np.asarray(wanted, dtype=np.int64) - first).tolist():
            if not 0 <= i < starts.size:
                out.append("")
                continue
            pos = int(starts[i])
            raw = data[pos : pos + data[pos] * 4]
            decoded = decoder.decode(raw)
            out.append(
                repr(decoded[0]) if decoded else f"rtype {data[pos + 1]}, {len(raw)} bytes: {raw.hex()}"
            )
        return out

    return texts


def _utc(column: str) -> pl.Expr:
    """A UTC nanosecond timestamp column (u64; ``UNDEF_TIMESTAMP`` is none) as ``Datetime('ns', 'UTC')``."""
    ns = pl.col(column)
    return (
        pl.when(ns != UNDEF_TIMESTAMP)
        .then(ns.cast(pl.Int64, strict=False))
        .cast(pl.Datetime("ns"))
        .dt.replace_time_zone("UTC")
    )


def _price(price: pl.Series) -> pl.Expr:
    """USD of a fixed-point price column (1e-9 USD; ``UNDEF_PRICE`` -> null), correctly rounded (NumPy
    divides; polars multiplies by the reciprocal, which is off by an ulp: 185.12000000000003)."""
    units = price.to_numpy()
    usd = pl.Series(np.where(units == UNDEF_PRICE, np.nan, units / PRICE_SCALE), dtype=pl.Float64)
    return pl.lit(usd.fill_nan(None))


def _with_symbols(frame: pl.DataFrame, symbols: _Symbols) -> pl.DataFrame:
    """``symbol`` and ``_date`` (the UTC date of ``ts_recv``, else of ``ts_event``) of each record."""
    index_ts = pl.when(pl.col("ts_recv") != UNDEF_TIMESTAMP).then("ts_recv").otherwise("ts_event")
    frame = frame.with_columns(
        index_ts.cast(pl.Int64, strict=False).cast(pl.Datetime("ns")).dt.date().alias("_date")
    )
    symbol = pl.lit(None, dtype=pl.String)
    if symbols.intervals.height:
        dates = frame.select(pl.col("_date").unique().drop_nulls())
        daily = (
            symbols.intervals.join(dates, how="cross")
            .filter((pl.col("_start") <= pl.col("_date")) & (pl.col("_date") < pl.col("_end")))
            .unique(["instrument_id", "_date"], keep="last", maintain_order=True)
            .select("instrument_id", "_date", pl.col("symbol").alias("_mapped"))
        )
        frame = frame.join(daily, on=["instrument_id", "_date"], how="left", maintain_order="left")
        symbol = pl.col("_mapped")
    if symbols.live:
        live = pl.DataFrame(
            {"instrument_id": list(symbols.live), "_live": list(symbols.live.values())},
            schema={"instrument_id": pl.UInt32, "_live": pl.String},
        )
        frame = frame.join(live, on="instrument_id", how="left", maintain_order="left")
        symbol = pl.coalesce(symbol, pl.col("_live"))
    return frame.with_columns(symbol.alias("symbol"))


def _exchange(frame: pl.DataFrame) -> pl.Expr:
    ids = frame["publisher_id"].unique().to_list()
    return pl.col("publisher_id").replace_strict(
        {i: venue(i) for i in ids}, default=None, return_dtype=pl.String
    )


def _select(rows: pl.DataFrame, columns: dict[str, pl.Expr], spec: TableSpec) -> pl.DataFrame:
    """The contract's columns of ``spec`` that the format has, in the contract's order, and ``row_number``."""
    return rows.select(*(columns[c].alias(c) for c in spec.names if c in columns), pl.col(ROW))


def _quotes(
    frame: pl.DataFrame, schema: str, spec: TableSpec, state: _State
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Level 0 of each record that changes it, per instrument (the state carried across batches)."""
    book = frame.select("instrument_id", *BOOK).with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64))
    if state.books is not None:
        carried = state.books.join(book.select("instrument_id").unique(), on="instrument_id", how="semi")
        book = pl.concat(
            [carried.with_columns(pl.lit(-1, dtype=pl.Int64).alias("_i")).select(book.columns), book]
        )
    level0 = pl.struct(BOOK)
    changed = level0 != level0.shift(1).over("instrument_id")
    flags = book.with_columns(changed.fill_null(True).alias("_changed")).filter(pl.col("_i") >= 0)
    last = frame.group_by("instrument_id", maintain_order=True).last().select("instrument_id", *BOOK)
    state.books = (
        last
        if state.books is None
        else pl.concat([state.books.join(last, on="instrument_id", how="anti"), last])
    )
    one_sided = (
        (pl.col("bid_px_00") == UNDEF_PRICE) | (pl.col("ask_px_00") == UNDEF_PRICE)
        | (pl.col("bid_sz_00") == 0) | (pl.col("ask_sz_00") == 0)
    )  # fmt: skip
    marked = frame.with_columns(one_sided.alias("_one_sided"), flags["_changed"])
    quotes = marked.filter(~pl.col("_one_sided") & pl.col("_changed"))
    n_one_sided = int(marked["_one_sided"].sum())
    columns = {
        "symbol": pl.col("symbol"),
        "ts": _utc("ts_event"),
        "bid": _price(quotes["bid_px_00"]),
        "ask": _price(quotes["ask_px_00"]),
        "bid_size": pl.col("bid_sz_00").cast(pl.Float64),
        "ask_size": pl.col("ask_sz_00").cast(pl.Float64),
        "exchange": _exchange(quotes),
    }
    skipped = {"one_sided_book": n_one_sided, "book_unchanged": frame.height - n_one_sided - quotes.height}
    return _select(quotes, columns, spec), skipped


def _trades(
    frame: pl.DataFrame, schema: str, spec: TableSpec, state: _State
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Records of action ``T``, with their aggressor's side."""
    trades = frame.filter(pl.col("action") == ord("T"))
    seq = pl.col("sequence")
    trade_id = pl.when(seq != 0).then(
        pl.concat_str(
            pl.col("_date").dt.strftime("%Y%m%d"),
            pl.lit(":"),
            pl.col("publisher_id").cast(pl.String),
            pl.lit(":"),
            seq.cast(pl.String),
        )
    )
    trades = trades.with_columns(trade_id.alias("_trade_id"))
    repeated = pl.col("_trade_id").is_duplicated() & pl.col("_trade_id").is_not_null()
    if trades.select(repeated.any()).item():
        nth = pl.int_range(1, pl.len() + 1).over("instrument_id", "_trade_id")
        trades = trades.with_columns(
            pl.when(nth > 1)
            .then(pl.concat_str(pl.col("_trade_id"), pl.lit(":"), nth.cast(pl.String)))
            .otherwise(pl.col("_trade_id"))
            .alias("_trade_id")
        )
    side = pl.col("side")
    columns = {
        "symbol": pl.col("symbol"),
        "ts": _utc("ts_event"),
        "price": _price(trades["price"]),
        "size": pl.col("size").cast(pl.Float64),
        "exchange": _exchange(trades),
        "conditions": pl.lit(None, dtype=pl.String),
        "trade_id": pl.col("_trade_id"),
        "aggressor": pl.when(side == ord("B"))
        .then(pl.lit("buy"))
        .when(side == ord("A"))
        .then(pl.lit("sell")),
    }
    return _select(trades, columns, spec), {"book_update": frame.height - trades.height}
