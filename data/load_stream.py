"""Streaming a load's files: checked, read in batches, validated on a small thread pool, rejected rows to
the quarantine, clean rows to a sink, each file hashed.
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import polars as pl

from data.contract import TableSpec
from data.delivery import OUTSIDE_DELIVERED_DATE, Delivery, outside_delivered, outside_detail
from data.formats import Source
from data.load_run import Load, Progress, Read, fault_point
from data.quarantine import Quarantine
from data.readers import RawBatch
from data.validation import ROW, ValidatedBatch, validate_batch
from kappa.errors import InputError

VALIDATION_THREADS = 2  # batches validated at once (each on polars' own threads too)


def sha256(paths: list[Path]) -> str:
    """The SHA-256 of the bytes of ``paths``, one after the other (a source of one file: that file's)."""
    h = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def check_files(spec: TableSpec, sources: list[Source]) -> None:
    """Fail before loading anything if a file is missing, of unknown type, or cannot hold rows of ``spec``
    (a required column is missing, or a vendor file holds other tables)."""
    if not sources:
        raise InputError("no input files given")
    for s in sources:
        if not s.path.is_file():
            raise InputError("no such file", path=str(s.path))
        s.check(spec)


def tagged(sink: Callable[[pl.DataFrame], None]) -> Callable[[pl.DataFrame, Path, int], None]:
    """A sink of validated rows tagged with their ``source_file`` and ``file_index`` (the staged and merged
    path needs them for duplicates and the quarantine; rows going straight to the lake do not)."""

    def tag(clean: pl.DataFrame, path: Path, index: int) -> None:
        sink(
            clean.with_columns(
                pl.lit(str(path)).alias("source_file"), pl.lit(index, dtype=pl.Int64).alias("file_index")
            )
        )

    return tag


def untagged(sink: Callable[[pl.DataFrame], None]) -> Callable[[pl.DataFrame, Path, int], None]:
    """A sink of validated rows as they are (rows going straight to the lake need no file tags)."""
    return lambda clean, path, index: sink(clean)


def read_validated(
    load: Load,
    quarantine: Quarantine,
    progress: Progress | None,
    sink: Callable[[pl.DataFrame, Path, int], None],
) -> Read:
    """Stream and validate every file; rejected rows go to ``quarantine`` (with their line as read),
    clean ones to ``sink`` with their file and its index (see :func:`tagged`).

    Batches are validated on a small thread pool (polars releases the GIL) while the next one is read;
    they reach ``quarantine`` and ``sink`` in file order. Each file is hashed right after it is read
    (while it is in the page cache), not under the write lock.
    """
    read = Read()
    spec = load.spec
    with ThreadPoolExecutor(VALIDATION_THREADS, thread_name_prefix="validate") as pool:
        for index, source in enumerate(load.sources):
            path = source.path
            name = str(path)
            read.formats[name] = source.format
            read.rows[name] += 0  # an empty file is read too: it holds no rows
            batches = source.batches(spec, load.batch_rows, load.calendar)
            for raw, result in _validated_in_order(pool, batches, load):
                rejected = result.rejected
                if (
                    rejected.height
                ):  # the line as read; a Parquet row is read again, as it stands, at the commit
                    text = (
                        raw.lines(rejected[ROW].to_numpy())
                        if raw.lines is not None
                        else [None] * rejected.height
                    )
                    rejected = rejected.with_columns(pl.Series("raw", text, dtype=pl.String))
                quarantine.add(rejected.with_columns(pl.lit(name).alias("source_file")))
                quarantine.add(_malformed(raw, name, len(raw.frame.columns) - 1))
                clean = result.clean
                outside = outside_delivered(spec.name, clean, load.delivery(index), load.calendar)
                if outside.any():
                    quarantine.add(
                        _outside(clean.filter(outside), raw, name, spec.name, load.delivery(index))
                    )
                    clean = clean.filter(~outside)
                sink(clean, path, index)
                if "symbol" in clean.columns and clean.height:
                    read.symbols[name].update(clean["symbol"].unique().to_list())
                read.rows[name] += raw.rows
                for reason, n in (*raw.skipped.items(), *result.skipped.items()):
                    read.skipped[name, reason] += n
                if progress:
                    progress(name, raw.rows)
                fault_point("read_batch")
            read.sha256[name] = sha256(source.companions())
    fault_point("validated")
    return read


def _malformed(raw: RawBatch, source_file: str, columns: int) -> pl.DataFrame:
    """Quarantine rows of the records that cannot be read: with the reader's ``rule`` and ``detail`` where
    it gives them (a line that is not UTF-8 text, a vendor format's record whose time or number does not
    read), else ``malformed_row``, a line whose number of fields is not the header's."""
    m = raw.malformed
    detail = pl.col("detail") if "detail" in m.columns else pl.lit(f"not {columns} fields")
    rule = pl.col("rule").fill_null("malformed_row") if "rule" in m.columns else pl.lit("malformed_row")
    return m.select(
        pl.lit(source_file).alias("source_file"), pl.col(ROW), rule.cast(pl.String).alias("rule"),
        detail.cast(pl.String).alias("detail"), pl.col("raw"),
    )  # fmt: skip


def _outside(
    rows: pl.DataFrame, raw: RawBatch, source_file: str, table: str, delivery: Delivery
) -> pl.DataFrame:
    """Quarantine rows of valid rows of a date their file was not delivered for (:mod:`data.delivery`),
    with the line as read (a Parquet row's values are read at the commit)."""
    numbers = rows[ROW].to_numpy()
    text = raw.lines(numbers) if raw.lines is not None else [None] * rows.height
    return rows.select(
        pl.lit(source_file).alias("source_file"), pl.col(ROW), pl.lit(OUTSIDE_DELIVERED_DATE).alias("rule"),
        outside_detail(table, delivery).alias("detail"), pl.Series("raw", text, dtype=pl.String),
        pl.col("symbol"),
    )  # fmt: skip


def _validated_in_order(
    pool: ThreadPoolExecutor, batches: Iterator[RawBatch], load: Load
) -> Iterator[tuple[RawBatch, ValidatedBatch]]:
    """(raw batch, validated batch) in the order of ``batches``, with up to ``VALIDATION_THREADS``
    validating ahead while the next batch is read."""
    pending: deque[tuple[RawBatch, Future[ValidatedBatch]]] = deque()
    for batch in batches:
        job = pool.submit(validate_batch, batch.frame, load.spec, load.calendar, load.timezone)
        pending.append((batch, job))
        if len(pending) > VALIDATION_THREADS:
            raw, future = pending.popleft()
            yield raw, future.result()
    while pending:
        raw, future = pending.popleft()
        yield raw, future.result()


class ShownRows:
    """Passes rows read on to ``progress``, but not twice when a load reads its files again."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.shown: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()

    def __call__(self, path: str, rows: int) -> None:
        self.seen[path] += rows
        new = self.seen[path] - self.shown[path]
        if new > 0 and self.progress:
            self.progress(path, new)
            self.shown[path] += new

    def again(self) -> None:
        """The files are read again from their start."""
        self.seen.clear()
