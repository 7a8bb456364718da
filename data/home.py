"""Where Kappa keeps its state: ``KAPPA_HOME`` (default ``./.kappa``).

::

    KAPPA_HOME/
      kappa.duckdb          tables and views (DESIGN §5)
      lake/quotes/date=YYYY-MM-DD/<run_id>.parquet   market data, one file per table and session date
      lake/trades/...
      lake/_staging/<run_id>/   files of a load in progress (removed when it commits or is abandoned)
      reports/  inbox/  prefect/  tmp/
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "KAPPA_HOME"
DEFAULT_HOME = ".kappa"


@dataclass(frozen=True, slots=True)
class KappaHome:
    """The folders and files under one ``KAPPA_HOME``."""

    root: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> KappaHome:
        """``home`` if given, else ``$KAPPA_HOME``, else ``./.kappa``; made absolute."""
        chosen = home if home is not None else os.environ.get(ENV_VAR, DEFAULT_HOME)
        return cls(Path(chosen).expanduser().resolve())

    @property
    def db_path(self) -> Path:
        return self.root / "kappa.duckdb"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

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

    def ensure(self) -> KappaHome:
        """Create the folders (not the database) and return ``self``."""
        for p in (self.root, self.lake, self.staging, self.reports, self.inbox, self.tmp):
            p.mkdir(parents=True, exist_ok=True)
        return self
