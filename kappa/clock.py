"""The trading clock's interface, as the pure packages receive it.

``data.calendar.TradingClock`` is the one implementation: session time of the exchange calendar, nights,
weekends and holidays excluded, in trading days (:mod:`kappa.units`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import polars as pl


class Clock(Protocol):
    """Trading time between instants."""

    def elapsed_days(self, start: pl.Expr, end: pl.Expr) -> pl.Expr:
        """Trading days from ``start`` to ``end`` (tz-naive UTC ``Datetime`` expressions)."""
        ...

    def nights_between(self, start: pl.Expr, end: pl.Expr) -> pl.Expr:
        """Closes followed by a night (close to next open) with start ≤ close < end."""
        ...
