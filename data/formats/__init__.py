"""Input formats as desks receive them: Kappa's own CSV/Parquet layout and the vendors' formats.

Every format module turns its files into the rows of Kappa's input tables (:mod:`data.contract`), in
batches of bounded size, and hands them to the same validation, quarantine and load as Kappa's own CSV
(:mod:`data.load_stream`). A format module ``data.formats.<name>`` defines:

``sniff(path) -> bool``
    Whether the file is in this format, from its name and its first bytes only (cheap).
``tables(path) -> tuple[str, ...]``
    The input tables the file holds rows of (a TAQ trades file: ``("trades",)``; a LOBSTER pair:
    ``("quotes", "trades")``; a FIX log: ``("orders", "fills")``).
``read_batches(path, spec, batch_rows, calendar) -> Iterator[RawBatch]``
    The file's rows of table ``spec`` as :class:`data.readers.RawBatch`: ``frame`` holds the contract's
    columns of ``spec`` (names as in the contract; text, or typed: a UTC instant as
    ``Datetime('ns', 'UTC')``, a price as ``Float64`` USD/share, a size as ``Float64`` shares) and
    ``row_number`` (where the row stands in the file, as the module documents); ``malformed`` the records
    that cannot be read (``row_number, raw`` and optionally ``detail``, why, and ``rule``, the quarantine
    rule where it is not ``malformed_row``: ``invalid_utf8``); ``lines`` gives the text of records by row number (the
    quarantine's ``raw``); ``skipped`` counts, per reason, the records that are not rows of the table by
    design (another table's records, cancelled prints, quotes that leave the NBBO unchanged). Every record
    of the file is accounted for once: in ``frame``, in ``malformed`` or in ``skipped``. ``calendar`` is
    the load's exchange calendar, for a format whose rows need a session (a FIX day order's end).
``companions(path) -> list[Path]``
    The files whose bytes make the source (hashed for ``loads.sha256``): the path itself, or with a
    LOBSTER message file its orderbook file.
``redundant(paths) -> dict[Path, str]`` (optional)
    Files of ``paths`` not to load beside the others, with why (a TAQ NBBO file beside the exchange quotes of
    its date, from which Kappa builds the NBBO).
``raw_rows(path, rows) -> pl.DataFrame`` (optional)
    The records numbered ``rows`` as they stand in the file (``row_number, raw``), for the quarantine's
    ``raw`` of rows rejected after their batch (a duplicate key, a fill against its order); without it,
    :meth:`Source.raw_rows` reads the file's batches again and takes their ``lines``.

Formats: ``kappa`` (the contract's own columns, CSV or Parquet, :mod:`data.readers`, with an optional column
mapping), ``taq`` (NYSE Daily TAQ), ``wrds`` (WRDS TAQ extracts), ``lobster``, ``dbn`` (Databento) and
``fix`` (FIX execution-report logs).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import polars as pl

from data.contract import TABLES, TableSpec
from data.readers import (
    DEFAULT_BATCH_ROWS,
    MALFORMED_SCHEMA,
    RawBatch,
    check_columns,
    file_format,
    raw_rows,
    read_batches,
)
from data.validation import ROW
from kappa.errors import InputError
from kappa.units import DEFAULT_CALENDAR

VENDOR_FORMATS = ("taq", "wrds", "lobster", "dbn", "fix")
"""Vendor formats, in the order :func:`detect` tries them."""
FORMATS = ("kappa", *VENDOR_FORMATS)
VENDOR_SUFFIXES = {
    ".zip": "a zip holding a LOBSTER message and orderbook pair",
    ".dbn": "Databento DBN",
    ".dbn.zst": "Databento DBN",
}
"""Suffixes only a vendor's files carry: such a file that no format knows is damaged, not Kappa's CSV."""


def module(name: str) -> ModuleType:
    """The module of vendor format ``name``."""
    if name not in VENDOR_FORMATS:
        raise InputError(f"unknown format '{name}' (expected one of {', '.join(FORMATS)})")
    return importlib.import_module(f"data.formats.{name}")


@dataclass(frozen=True, slots=True)
class Source:
    """One input as delivered: its path, its format and, for the ``kappa`` format, a column mapping
    (contract column -> the file's column, case-insensitive) and its text's encoding (``None``: UTF-8)."""

    path: Path
    format: str = "kappa"
    columns: Mapping[str, str] = field(default_factory=dict)
    encoding: str | None = None

    def tables(self) -> tuple[str, ...]:
        """The input tables this source holds rows of (``kappa``: any one, the one it is loaded as)."""
        if self.format == "kappa":
            return ("quotes", "trades", "orders", "fills", "daily")
        return tuple(module(self.format).tables(self.path))

    def check(self, spec: TableSpec) -> None:
        """Fail before any row is read if the source cannot hold rows of ``spec``."""
        if self.format == "kappa":
            check_columns(self.path, spec, self.columns, self.encoding)
            return
        held = self.tables()
        if spec.name not in held:
            raise InputError(
                f"a {self.format} file of {' and '.join(held)}, not {spec.name}", path=str(self.path)
            )

    def batches(
        self, spec: TableSpec, batch_rows: int, calendar: str = DEFAULT_CALENDAR
    ) -> Iterator[RawBatch]:
        """The source's rows of ``spec`` in batches (see the module docstring)."""
        if self.format == "kappa":
            return read_batches(self.path, spec, batch_rows, self.columns, self.encoding)
        return module(self.format).read_batches(self.path, spec, batch_rows, calendar)

    def raw_rows(self, rows: Sequence[int] | np.ndarray) -> pl.DataFrame:
        """The records numbered ``rows`` as they stand in the source (``row_number, raw``); numbers it does
        not hold are left out (see the module docstring)."""
        if self.format == "kappa":
            return raw_rows(self.path, rows, encoding=self.encoding)
        fmt = module(self.format)
        if hasattr(fmt, "raw_rows"):
            return fmt.raw_rows(self.path, rows)
        wanted = np.unique(np.asarray(rows, dtype=np.int64))
        spec = TABLES[self.tables()[0]]
        found: list[pl.DataFrame] = []
        for batch in fmt.read_batches(self.path, spec, DEFAULT_BATCH_ROWS, DEFAULT_CALENDAR):
            numbers = pl.concat([batch.frame[ROW], batch.malformed[ROW]])
            if not numbers.len() or batch.lines is None:
                continue
            inside = wanted[(wanted >= numbers.min()) & (wanted <= numbers.max())]
            if inside.size:
                found.append(pl.DataFrame({ROW: inside, "raw": batch.lines(inside)}, schema=MALFORMED_SCHEMA))
        return pl.concat([pl.DataFrame(schema=MALFORMED_SCHEMA), *found])

    def companions(self) -> list[Path]:
        """The files whose bytes make this source, hashed together for ``loads.sha256``."""
        if self.format == "kappa":
            return [self.path]
        return list(module(self.format).companions(self.path))


def detect(path: Path, format: str | None = None) -> str:
    """The format of ``path``: ``format`` if given, else the first vendor format whose ``sniff`` knows the
    file, else ``kappa`` (CSV or Parquet by its suffix; anything else is an :class:`InputError`)."""
    if format is not None:
        if format not in FORMATS:
            raise InputError(f"unknown format '{format}' (expected one of {', '.join(FORMATS)})")
        return format
    for name in VENDOR_FORMATS:
        if module(name).sniff(path):
            return name
    lower = path.name.lower()
    for suffix, what in VENDOR_SUFFIXES.items():
        if lower.endswith(suffix):
            raise InputError(f"cannot read as {what} (damaged or truncated?); --format names a format outright",
                             path=str(path))  # fmt: skip
    file_format(path)  # raises for a suffix that is neither CSV nor Parquet
    return "kappa"


def redundant(paths: list[Path]) -> dict[Path, str]:
    """The files of ``paths`` that a format says not to load beside the others, with why (each format's
    ``redundant``, where it has one)."""
    out: dict[Path, str] = {}
    for name in VENDOR_FORMATS:
        fmt = module(name)
        if hasattr(fmt, "redundant"):
            out.update(fmt.redundant(paths))
    return out
