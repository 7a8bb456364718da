"""The one family of errors Kappa raises on purpose; every package may import it.

Every class subclasses a built-in so that ``except ValueError`` (``LookupError``, ``RuntimeError``) keeps
working for callers that do not know Kappa's classes. The CLI turns these into a one-line reason and a
non-zero exit code (2 for bad input, 1 otherwise).

======================  =====================  ==================================================
class                   built-in               raised when
======================  =====================  ==================================================
``KappaError``          ``Exception``          base class; never raised bare
``ParameterError``      ``ValueError``         a parameter's value is refused (keeps name, value)
``ScheduleError``       ``ValueError``         parameters admit no schedule (a ``ParameterError``)
``InputError``          ``ValueError``         a whole input file cannot be loaded
``MissingColumnError``  ``ValueError``         a required column is absent (an ``InputError``)
``NotFoundError``       ``LookupError``        nothing stored for the key asked (symbol, date)
``DatabaseBusyError``   ``RuntimeError``       another process holds the DuckDB file
``DatabaseMissingError`` ``FileNotFoundError`` the home has no database yet
``DiskFullError``       ``OSError``            the disk holding the home is full (``ENOSPC``)
``FlowError``           ``RuntimeError``       a flow run ended in a state other than Completed
======================  =====================  ==================================================
"""

from __future__ import annotations


class KappaError(Exception):
    """Base class of every error Kappa raises on purpose."""


class ParameterError(KappaError, ValueError):
    """A parameter's value is refused: ``name`` is the parameter (``--lookback-days``, ``shares``), ``value``
    the value given; the message says what would be accepted."""

    def __init__(self, message: str, *, name: str | None = None, value: object = None) -> None:
        self.name = name
        self.value = value
        super().__init__(message)


class ScheduleError(ParameterError):
    """Parameters that admit no schedule (a negative λ, a non-positive-definite η̃, more periods than the
    solver allows); the message names the offending values."""


class NotFoundError(KappaError, LookupError):
    """Nothing is stored for the key asked: no calibration for a symbol, no attribution for a date, no
    quotes for a day. ``key`` is what was looked up."""

    def __init__(self, message: str, *, key: object = None) -> None:
        self.key = key
        super().__init__(message)


class FlowError(KappaError, RuntimeError):
    """A flow run (a night of a backfill, a served run) ended in a state other than Completed."""


class InputError(KappaError, ValueError):
    """An input file cannot be loaded at all (as opposed to single bad rows, which are quarantined)."""

    def __init__(self, message: str, *, path: str | None = None, rule: str | None = None) -> None:
        self.path = path
        self.rule = rule
        self.reason = message  # without the path
        super().__init__(f"{path}: {message}" if path else message)


class MissingColumnError(InputError):
    """A required column of the input contract (DESIGN §2) is absent; nothing from the file is loaded."""

    def __init__(self, path: str, table: str, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"missing required column(s) {', '.join(missing)} for table '{table}'; nothing was loaded",
            path=path,
            rule="missing_column",
        )


class DatabaseBusyError(KappaError, RuntimeError):
    """Another process holds the DuckDB file (DuckDB locks the whole file: a writer against everyone, a
    reader against writers).

    ``holder`` describes the process that holds the lock, as DuckDB names it (see
    :func:`data.store.lock_holder`); ``holder_reads`` is True where it holds the file to read (then only
    writes wait for it), False where it writes, None where unknown.
    """

    def __init__(
        self, path: str, waited_s: float, holder: str | None = None, holder_reads: bool | None = None,
        kappa: bool = False,
    ) -> None:  # fmt: skip
        self.db_path = path
        self.holder, self.holder_reads = holder, holder_reads
        who = f" ({holder})" if holder else ""
        if holder_reads:
            what = "a Kappa command" if kappa else "another process"
            message = (
                f"{what}{who} has {path} open for reading, and DuckDB lets no one write while a reader holds "
                f"the file (waited {waited_s:.0f} s): close that connection (a notebook, a BI tool, "
                "duckdb -readonly, kappa sql) and run again"
            )
        elif kappa or holder is None:
            message = (
                f"a Kappa job{who} is writing to {path} (waited {waited_s:.0f} s); "
                "try again when it has finished"
            )
        else:
            message = (
                f"another process{who} is writing to {path} (waited {waited_s:.0f} s); "
                "try again when it has finished"
            )
        super().__init__(message)


class DatabaseMissingError(KappaError, FileNotFoundError):
    """The database has not been created yet."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no Kappa database at {path}; run `kappa ingest` or `kappa demo` first")


class DiskFullError(KappaError, OSError):
    """The disk holding the home is full (``ENOSPC``), met by Kappa's own writes or by DuckDB's (its WAL,
    its temporary files): the message says what was being written and what state the home is left in."""


NO_SPACE = "No space left on device"  # strerror(ENOSPC), as the OS, pyarrow and DuckDB word it


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from, is a full disk: an ``OSError`` with ``ENOSPC``, or
    a library's error (DuckDB's ``IOException``, pyarrow's ``ArrowIOError``) that quotes it."""
    import errno

    seen: set[int] = set()
    chain: BaseException | None = exc
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        if isinstance(chain, DiskFullError) or (isinstance(chain, OSError) and chain.errno == errno.ENOSPC):
            return True
        if NO_SPACE in str(chain):
            return True
        chain = chain.__cause__ or chain.__context__
    return False
