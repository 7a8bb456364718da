"""Writing a load's clean rows of a market table: staged per date, or straight to new lake files."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from data.home import KappaHome
from data.lake.files import remove_from_lake
from data.lake.flags import flag_counts
from data.lake.partitions import ROW_GROUP_ROWS, MergedPartition, lake_order, partition_path
from data.schema import FLAG, MARKET_COLUMNS, POLARS_TYPES

Flagger = Callable[[dt.date, pl.DataFrame], pl.Series]
"""The ``flag`` of each row of a batch of one date in lake order (:class:`data.lake.flags.TradeFlagger`)."""


def _by_date(rows: pl.DataFrame) -> list[tuple[dt.date, pl.DataFrame]]:
    """``rows`` split by their ``date`` (in order of appearance; a batch usually holds one date)."""
    if not rows.height:
        return []
    first, last = rows["date"].min(), rows["date"].max()
    if first == last:
        assert isinstance(first, dt.date)
        return [(first, rows)]
    parts = rows.partition_by("date", as_dict=True, maintain_order=True)
    assert all(isinstance(day, dt.date) for (day,) in parts), "a clean row without a session date"
    return [(day, part) for (day,), part in parts.items()]


class StagingWriter:
    """Appends validated batches of one market table to one Parquet file per session date."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._writers: dict[dt.date, pq.ParquetWriter] = {}
        self.rows: dict[dt.date, int] = {}

    def write(self, clean: pl.DataFrame) -> None:
        """Append ``clean`` rows (with ``date``, ``file_index``, ``row_number``) to their dates' files."""
        for day, part in _by_date(clean):
            table = part.to_arrow()
            if day not in self._writers:
                self._writers[day] = pq.ParquetWriter(self.path(day), table.schema, compression="lz4")
                self.rows[day] = 0
            self._writers[day].write_table(table)
            self.rows[day] += part.height

    def path(self, day: dt.date) -> Path:
        return self.folder / f"{day.isoformat()}.parquet"

    def close(self) -> None:
        """Close every file (each, even after one fails: a full disk refuses a footer); raise the first
        error."""
        errors = []
        for w in self._writers.values():
            try:
                w.close()
            except Exception as exc:
                errors.append(exc)
        self._writers.clear()
        if errors:
            raise errors[0]


class OutOfLakeOrder(Exception):
    """The rows of a load cannot go straight to the lake: see :class:`DirectWriter`."""


def _strictly_by_symbol_time(rows: pl.DataFrame) -> bool:
    """Whether (symbol, ts) strictly increases row by row: then the rows are in lake order, whatever the
    other columns hold. Cheaper than sorting rows that come sorted (exchange files do)."""
    symbol, ts = pl.col("symbol"), pl.col("ts")
    up = (symbol > symbol.shift(1)) | ((symbol == symbol.shift(1)) & (ts > ts.shift(1)))
    return bool(rows.select(up.fill_null(True).all()).item())


class DirectWriter:
    """Writes validated rows of a market table straight to new lake files, one per session date.

    Each batch is sorted stably by :func:`lake_order`; the stream is in lake order if every batch starts at or after
    where the previous one of its date ended. :meth:`write` raises :class:`OutOfLakeOrder` (then call
    :meth:`abort`) when a batch starts before that, when a date already has a lake file (its other symbols
    would have to be merged), or when a key repeats (the first occurrence in file order must win, which only
    the merge knows). Memory holds one batch. With a ``flagger``, each batch's ``flag`` column is set as it
    is written (rules that judge a row by itself and other tables' rows, not by its own table's other rows).
    """

    def __init__(
        self,
        home: KappaHome,
        table: str,
        run_id: str,
        existing: set[dt.date],
        key: tuple[str, ...],
        flagger: Flagger | None = None,
    ) -> None:
        self.home, self.table, self.run_id, self.existing, self.key = home, table, run_id, existing, key
        self.flagger = flagger
        self._flagged: dict[dt.date, list[pl.DataFrame]] = {}
        types = dict(MARKET_COLUMNS[table])
        self.columns = [c for c, _ in MARKET_COLUMNS[table]]
        self.dtypes = {c: POLARS_TYPES[types[c]] for c in self.columns}
        self.order = lake_order(table)
        self._positions = [self.columns.index(c) for c in self.order]
        self._text_columns = [c for c, t in self.dtypes.items() if t == pl.String]  # dictionary-encoded
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="lake-writer")  # compresses while we validate
        self._pending: Future[None] | None = None
        self._writers: dict[dt.date, pq.ParquetWriter] = {}
        self._last: dict[dt.date, tuple[object, ...]] = {}
        self._rows: dict[dt.date, int] = {}
        self._symbols: dict[dt.date, int] = {}
        self._open_keys: dict[
            dt.date, tuple[object, set[object]]
        ] = {}  # the last symbol's keys: it may go on

    def write(self, clean: pl.DataFrame) -> None:
        """Append validated rows (lake columns and ``date``; extra columns are ignored)."""
        for day, part in _by_date(clean):
            assert isinstance(day, dt.date)
            if day in self.existing:
                raise OutOfLakeOrder(f"{self.table} of {day} already has a lake file")
            part = part.select(
                (pl.col(c) if c in part.columns else pl.lit(None)).cast(t).alias(c)
                for c, t in self.dtypes.items()
            )
            if not _strictly_by_symbol_time(part):  # else it is in lake order already (no two rows tie)
                part = part.sort(self.order, maintain_order=True)  # stable: ties keep the file's order
            first, last = part.row(0), part.row(part.height - 1)
            previous = self._last.get(day)
            if previous is not None and self._order_key(first) < self._order_key(previous):
                raise OutOfLakeOrder(f"{self.table} of {day} is not sorted by {', '.join(self.order)}")
            if self.key:
                self._check_keys(day, part)
            if self.flagger is not None:
                part = part.with_columns(self.flagger(day, part).alias(FLAG))
                self._flagged.setdefault(day, []).append(flag_counts(part))
            table = part.to_arrow()
            if day not in self._writers:
                out = partition_path(self.home, self.table, day, self.run_id)
                out.parent.mkdir(parents=True, exist_ok=True)
                self._writers[day] = pq.ParquetWriter(
                    out, table.schema, compression="zstd", use_dictionary=self._text_columns
                )
                self._rows[day], self._symbols[day] = 0, 0
            self._write(self._writers[day], table)
            self._rows[day] += part.height
            continued = (
                previous is not None and previous[0] == first[0]
            )  # the symbol goes on from the last batch
            self._symbols[day] += part["symbol"].n_unique() - int(continued)
            self._last[day] = last

    def _write(self, writer: pq.ParquetWriter, table: pa.Table) -> None:
        """Write ``table`` on the writer thread, after the previous batch (whose error, if any, raises here)."""
        self._wait()
        self._pending = self._pool.submit(writer.write_table, table, row_group_size=ROW_GROUP_ROWS)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _order_key(self, row: tuple[object, ...]) -> tuple[tuple[bool, object], ...]:
        """A row's lake-order key for comparing two rows in Python: nulls after every value."""
        return tuple((row[i] is None, row[i] if row[i] is not None else 0) for i in self._positions)

    def _check_keys(self, day: dt.date, part: pl.DataFrame) -> None:
        """Refuse a key seen before: in this batch, or for the symbol the previous batch ended with."""
        symbol, rest = self.key[0], self.key[1:]
        assert symbol == "symbol" and len(rest) == 1, self.key
        keyed = part.select(self.key).drop_nulls()
        repeated = keyed.is_duplicated().any()
        open_symbol, open_keys = self._open_keys.get(day, (None, set()))
        if not repeated and open_keys:
            head = keyed.filter(pl.col(symbol) == open_symbol)[rest[0]].to_list()
            repeated = not open_keys.isdisjoint(head)
        if repeated:
            raise OutOfLakeOrder(f"a repeated ({', '.join(self.key)}) in the {self.table} of {day}")
        last_symbol = part[symbol][-1]
        tail = set(keyed.filter(pl.col(symbol) == last_symbol)[rest[0]].to_list())
        self._open_keys[day] = (last_symbol, tail | open_keys if last_symbol == open_symbol else tail)

    def finish(self) -> list[MergedPartition]:
        """Close the files; the new partitions, not yet committed."""
        self._wait()
        self._pool.shutdown()
        out = []
        for day, w in sorted(self._writers.items()):
            w.close()
            path = partition_path(self.home, self.table, day, self.run_id)
            flagged = flag_counts(pl.concat(self._flagged[day])) if self.flagger is not None else None
            out.append(
                MergedPartition(self.table, day, path, self._rows[day], self._symbols[day], pl.DataFrame(),
                                flagged=flagged)
            )  # fmt: skip
        self._writers.clear()
        return out

    def abort(self) -> None:
        """Close and delete what was written."""
        with contextlib.suppress(Exception):  # the files go: the load fails or falls back anyway
            self._wait()
        self._pool.shutdown()
        for day, w in self._writers.items():
            with contextlib.suppress(Exception):  # closing writes the footer: a full disk refuses it
                w.close()
            remove_from_lake(self.home, partition_path(self.home, self.table, day, self.run_id))
        self._writers.clear()
