"""Where Kappa keeps its state: ``KAPPA_HOME`` (default ``./.kappa``).

::

    KAPPA_HOME/
      kappa.toml            the home's settings: its exchange calendar, the time zone of offset-free times
      kappa.duckdb          tables and views (DESIGN §5)
      lake/quotes/date=YYYY-MM-DD/<run_id>.parquet   market data, one file per table and session date
      lake/trades/...
      lake/_staging/<run_id>/   files of a load in progress (removed when it commits or is abandoned)
      lake/.load.lock  lake/.readers.lock   loads one at a time; readers of lake files (data.lake.files)
      reports/  inbox/  prefect/  tmp/

Nothing stored names the home's own location: the manifest ``lake_files`` holds paths relative to ``lake/``
(:meth:`KappaHome.lake_file` resolves them), so a home moved or copied elsewhere (``mv``, ``cp -a``, another
mount point) works as it is.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path, PurePosixPath

ENV_VAR = "KAPPA_HOME"
DEFAULT_HOME = ".kappa"
CONFIG_FILE = "kappa.toml"
UNSAFE_PATH_CHARS = "*?[]\\"
"""Characters a home's path cannot hold: glob patterns (and a separator) to DuckDB and polars."""


@dataclass(frozen=True, slots=True)
class HomeConfig:
    """The settings a home remembers (``KAPPA_HOME/kappa.toml``; unset = the defaults).

    ``calendar``: the ``exchange_calendars`` code whose sessions the home's data are dated in (``XNYS`` by
    default; ``24/7`` for crypto). ``timezone``: the IANA zone of timestamps written without a UTC offset,
    the default of ``--timezone`` (``exchange`` = the calendar's own zone). ``encoding``: the encoding of
    delimited text files (``latin-1``, ``cp1252``, ...), the default of ``--encoding`` and of the nightly's
    drop folder (UTF-8 by default).
    """

    calendar: str | None = None
    timezone: str | None = None
    encoding: str | None = None


@dataclass(frozen=True, slots=True)
class KappaHome:
    """The folders and files under one ``KAPPA_HOME``."""

    root: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> KappaHome:
        """``home`` if given, else ``$KAPPA_HOME``, else ``./.kappa``; made absolute.

        Raises
        ------
        kappa.errors.InputError
            The path holds a character DuckDB or polars would read as a pattern (``*``, ``?``, ``[``, ``]``)
            or as a separator (``\\``): lake files would be read from other folders.
        """
        chosen = home if home is not None else os.environ.get(ENV_VAR, DEFAULT_HOME)
        path = Path(chosen).expanduser().resolve()
        unsafe = sorted(set(str(path)) & set(UNSAFE_PATH_CHARS))
        if unsafe:
            from kappa.errors import InputError

            raise InputError(
                f"a home's path cannot hold {' '.join(unsafe)}: DuckDB and polars read lake files by patterns in "
                "which these characters match other folders; choose another folder",
                path=str(path),
            )
        return cls(path)

    @property
    def db_path(self) -> Path:
        return self.root / "kappa.duckdb"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    def lake_file(self, stored: str) -> Path:
        """The lake file a ``lake_files.path`` names, in this home: ``stored`` is relative to ``lake/``
        (``quotes/date=2026-11-18/<run_id>.parquet``). An absolute path, as databases before schema version
        17 held, names the same file of this home by its part after the last ``/lake/`` (the rule migration
        17 applied to the stored paths), wherever the home was then.

        Raises
        ------
        ValueError
            ``stored`` leaves the lake (``..``) or is absolute without a ``/lake/`` in it.
        """
        if stored.startswith("/"):
            if "/lake/" not in stored:
                raise ValueError(f"lake file path {stored!r} is absolute and not under a lake/ folder")
            stored = stored.rsplit("/lake/", 1)[1]
        rel = PurePosixPath(stored)
        if ".." in rel.parts or not rel.parts:
            raise ValueError(f"lake file path {stored!r} leaves the lake")
        return self.lake.joinpath(*rel.parts)

    def lake_relative(self, path: Path) -> str:
        """What ``lake_files.path`` stores for the file ``path`` of this home's lake: its path relative to
        ``lake/``, with ``/`` (the inverse of :meth:`lake_file`).

        Raises
        ------
        ValueError
            ``path`` is not under this home's lake.
        """
        return path.relative_to(self.lake).as_posix()

    @property
    def staging(self) -> Path:
        return self.lake / "_staging"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def prefect(self) -> Path:
        return self.root / "prefect"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    def config(self) -> HomeConfig:
        """The home's settings (all unset where there is no ``kappa.toml``)."""
        from kappa.errors import InputError

        if not self.config_path.exists():
            return HomeConfig()
        try:
            values = tomllib.loads(self.config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid TOML ({exc})", path=str(self.config_path), rule="config") from None
        known = {f.name for f in fields(HomeConfig)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(
                f"unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})",
                path=str(self.config_path), rule="config",
            )  # fmt: skip
        return HomeConfig(**{k: str(v) for k, v in values.items()})

    def save_config(self, **values: str | None) -> HomeConfig:
        """Set (a value) or unset (``None``) settings, written atomically; returns the new settings."""
        new = replace(self.config(), **values)
        self.root.mkdir(parents=True, exist_ok=True)
        lines = ["# Kappa home settings (kappa config KEY VALUE)"]
        lines += [
            f"{f.name} = {json.dumps(getattr(new, f.name))}"
            for f in fields(HomeConfig)
            if getattr(new, f.name) is not None
        ]
        tmp = self.config_path.with_suffix(".toml.tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(self.config_path)
        return new

    def ensure(self) -> KappaHome:
        """Create the folders (not the database) and return ``self``."""
        for p in (self.root, self.lake, self.staging, self.reports, self.inbox, self.tmp):
            p.mkdir(parents=True, exist_ok=True)
        return self
