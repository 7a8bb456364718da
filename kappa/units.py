"""Units and clock constants, defined once (DESIGN §3).

Time is measured in trading days: one trading day is the regular 6.5-hour session of the exchange calendar
(09:30-16:00 New York on XNYS), nights, weekends and holidays excluded. Bars and schedule periods are 5
minutes of that session time. Prices are USD per share, sizes shares, costs USD (or bps of notional).
Costs carry the side sign: ``side_sign · (price − benchmark)`` is positive when the trader pays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import polars as pl

DEFAULT_CALENDAR: Final = "XNYS"
"""The ``exchange_calendars`` code of a home that names none (``kappa config calendar``), and of a schedule
asked for without one."""

SESSION_SECONDS: Final = 23_400.0
"""Seconds in one trading day: the regular 6.5-hour session."""

SESSION_NS: Final = int(SESSION_SECONDS) * 1_000_000_000
"""Nanoseconds in one trading day (an ``int``, for exact integer arithmetic on epoch times)."""

SESSION_MINUTES: Final = SESSION_SECONDS / 60
"""Minutes of session time in one trading day (390)."""

SESSION_HOURS: Final = SESSION_SECONDS / 3600
"""Hours of session time in one trading day (6.5)."""

BUCKET_MINUTES: Final = 5
"""Length of one bar (calibration bucket) and of one default schedule period, in session minutes."""

BUCKET_NS: Final = BUCKET_MINUTES * 60 * 1_000_000_000
"""Length of one bar in nanoseconds."""

BUCKETS_PER_SESSION: Final = 78
"""5-minute bars in a full session (390 / 5); a half day has fewer (see ``calibration.bars``)."""

BPS: Final = 1e4
"""Basis points per unit: a cost of ``c`` USD on ``notional`` USD is ``BPS · c / notional`` bps."""

SIDE_SIGN: Final = {"buy": 1.0, "sell": -1.0}
"""+1 for a buy, −1 for a sell: costs are ``side_sign · (price − benchmark)``, positive when the trader pays."""

LOT_SHARES: Final = 100
"""A round lot of US equities, in shares."""


def side_sign(side: str = "side") -> pl.Expr:
    """+1.0 for a buy, −1.0 for a sell, from the ``side`` column (a polars expression; see :data:`SIDE_SIGN`)."""
    import polars as pl

    return pl.when(pl.col(side) == "buy").then(1.0).otherwise(-1.0)


def bps(usd: pl.Expr, notional_usd: pl.Expr) -> pl.Expr:
    """``BPS · usd / notional_usd``: a cost in basis points of notional (a polars expression)."""
    return BPS * usd / notional_usd
