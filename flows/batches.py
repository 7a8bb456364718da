"""Batches of symbols mapped over a task, retried symbol by symbol, and what a run's failures make of it.

A batch that fails is retried symbol by symbol (:meth:`Mapped.collect`); a symbol that still fails gets a
``failed`` row with its error (:func:`failures`), the run is recorded with status ``warning`` and the flow
ends in a ``Completed`` state named ``Warning`` that lists the symbols (:func:`final_state`). An I/O error
that outlived its task's retries is no symbol's fault: it fails the flow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Self, TypeVar

import polars as pl
from prefect import unmapped
from prefect.futures import PrefectFuture
from prefect.states import Completed, State

from flows.tasks import IO_ERRORS
from kappa.errors import ParameterError


class Batch(Protocol):
    """What :class:`Mapped` needs of a batch: its symbols, and itself cut into one batch per symbol."""

    @property
    def symbols(self) -> tuple[str, ...]: ...

    def split(self) -> Sequence[Self]: ...


B = TypeVar("B", bound=Batch)


@dataclass(slots=True)
class Mapped:
    """Batches submitted to a task, resolved with :meth:`collect`."""

    task: Any
    failed_rows: Callable[[Any, BaseException], pl.DataFrame]
    batches: list[Any]
    futures: list[PrefectFuture[pl.DataFrame]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def submit(
        cls,
        task_: Any,
        batches: Sequence[B],
        failed_rows: Callable[[B, BaseException], pl.DataFrame],
        **options: Any,
    ) -> Mapped:
        """Map ``task_`` over ``batches``; ``options`` go unmapped to every call."""
        out = cls(task_, failed_rows, list(batches), options=options)
        out.futures = out._map(out.batches)
        return out

    def _map(self, batches: list[Any]) -> list[PrefectFuture[pl.DataFrame]]:
        if not batches:
            return []
        return list(self.task.map(batches, **{k: unmapped(v) for k, v in self.options.items()}))

    def collect(self) -> tuple[list[pl.DataFrame], list[tuple[str, str]]]:
        """The batches' frames and the ``(symbol, error)`` of every symbol that failed on its own.

        A failed batch of several symbols is resubmitted as one task per symbol, so a bad symbol takes
        only itself down. An I/O error that outlived its retries (a lake file gone, a disk full) is no
        symbol's fault: it is raised, and the run fails.
        """
        parts: list[pl.DataFrame] = []
        failures: list[tuple[str, str]] = []
        batches, futures = self.batches, self.futures
        while batches:
            again: list[Any] = []
            for batch, fut in zip(batches, futures, strict=True):
                fut.wait()
                if fut.state.is_completed():
                    parts.append(fut.result())
                    continue
                exc = state_exception(fut.state)
                if isinstance(exc, IO_ERRORS):
                    raise exc
                if len(batch.symbols) > 1:
                    again.extend(batch.split())
                else:
                    parts.append(self.failed_rows(batch, exc))
                    failures.append((batch.symbols[0], f"{type(exc).__name__}: {exc}"))
            batches, futures = again, self._map(again)
        return parts, failures


def state_exception(state: State[Any]) -> BaseException:
    """The error a failed (or crashed) state carries."""
    try:
        out = state.result(raise_on_failure=False)
    except BaseException as exc:  # a crashed run raises even so
        return exc
    return out if isinstance(out, BaseException) else RuntimeError(state.message or state.name or "failed")


def failures(
    step: str, batch_failures: list[tuple[str, str]], rows: pl.DataFrame | None = None
) -> list[tuple[str, str, str]]:
    """``(symbol, step, error)`` of every symbol that failed: its batch task, or its own row (``failed``)."""
    out = {(s, step, e) for s, e in batch_failures}
    seen = {s for s, _ in batch_failures}
    if rows is not None and rows.height:
        out |= {(r["symbol"], step, r["reason"]) for r in rows.filter(pl.col("status") == "failed").to_dicts()
                if r["symbol"] not in seen}  # fmt: skip
    return sorted(out)


def warning(failure: tuple[str, str, str]) -> str:
    """A failure of :func:`failures` as one line, e.g. ``calibration of BBB failed: RuntimeError: ...``."""
    symbol, step, error = failure
    return f"{step} of {symbol} failed: {error}"


def final_state(result: Any, warnings: list[str]) -> Any:
    """The flow's return: the result, or a ``Completed`` state named ``Warning`` carrying it."""
    if not warnings:
        return result
    shown = "; ".join(warnings[:5]) + (f"; and {len(warnings) - 5} more" if len(warnings) > 5 else "")
    return Completed(name="Warning", message=shown, data=result)


def status_counts(rows: pl.DataFrame) -> dict[str, int]:
    """Rows per ``status``, e.g. ``{"ok": 1998, "failed": 2}``."""
    if not rows.height:
        return {}
    return {str(s): int(n) for s, n in rows.group_by("status").len().sort("status").iter_rows()}


def chunks(items: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """``items`` in consecutive groups of at most ``size``."""
    if size < 1:
        raise ParameterError(f"batch size must be at least 1, not {size}", name="batch_symbols", value=size)
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]
