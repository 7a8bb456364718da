"""The input contract of DESIGN §2: tables, columns, kinds and keys.

One :class:`TableSpec` per input table. Readers and validation are driven by these specs, so a new optional
column is one line here. Units: prices in USD per share, sizes and quantities in shares, fees in USD,
timestamps UTC with nanoseconds, ``risk_aversion`` in 1/USD.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["str", "float", "ts", "date", "side", "liquidity", "exec_type"]
Sign = Literal["any", "positive", "non_negative"]


@dataclass(frozen=True, slots=True)
class Column:
    """One input column: its name, how it is parsed, whether it is required and its sign rule."""

    name: str
    kind: Kind
    required: bool = True
    sign: Sign = "any"


@dataclass(frozen=True, slots=True)
class TableSpec:
    """An input table: its columns, its duplicate key and how a load replaces earlier loads.

    ``market`` tables (quotes, trades) live in the Parquet lake partitioned by session date and are
    checked against the trading session; the others are DuckDB tables.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    market: bool = False

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


QUOTES = TableSpec(
    "quotes",
    (
        Column("symbol", "str"),
        Column("ts", "ts"),
        Column("bid", "float", sign="positive"),
        Column("ask", "float", sign="positive"),
        Column("bid_size", "float", sign="positive"),
        Column("ask_size", "float", sign="positive"),
        Column("exchange", "str", required=False),
    ),
    market=True,
)

TRADES = TableSpec(
    "trades",
    (
        Column("symbol", "str"),
        Column("ts", "ts"),
        Column("price", "float", sign="positive"),
        Column("size", "float", sign="positive"),
        Column("exchange", "str", required=False),
        Column("conditions", "str", required=False),
        Column("trade_id", "str", required=False),
        Column("aggressor", "side", required=False),
    ),
    key=("symbol", "trade_id"),
    market=True,
)

ORDERS = TableSpec(
    "orders",
    (
        Column("order_id", "str"),
        Column("symbol", "str"),
        Column("side", "side"),
        Column("quantity", "float", sign="positive"),
        Column("arrival_ts", "ts"),
        Column("end_ts", "ts"),
        Column("decision_ts", "ts", required=False),
        Column("decision_price", "float", required=False, sign="positive"),
        Column("limit_price", "float", required=False, sign="positive"),
        Column("broker", "str", required=False),
        Column("algo", "str", required=False),
        Column("trader", "str", required=False),
        Column("risk_aversion", "float", required=False, sign="non_negative"),
    ),
    key=("order_id",),
)

FILLS = TableSpec(
    "fills",
    (
        Column("fill_id", "str"),
        Column("order_id", "str"),
        Column("ts", "ts"),
        Column("price", "float", sign="positive"),
        Column("quantity", "float", sign="positive"),
        Column("venue", "str", required=False),
        Column("fee_usd", "float", required=False),
        Column("liquidity", "liquidity", required=False),
        Column("exec_type", "exec_type", required=False),
    ),
    key=("fill_id",),
)
"""Fills: ``exec_type`` (FIX ExecType) says what a row is: a fill (blank, ``trade``, ``new``, ``fill``,
``partial_fill``, ``F``, ``1``, ``2``), a correction of the fill with the same ``fill_id`` (``correct``, ``G``)
or its cancel (``cancel``, ``bust``, ``H``), which needs only ``fill_id`` and ``order_id``."""

CANCEL_NEEDS_ONLY = ("fill_id", "order_id", "exec_type")

DAILY = TableSpec(
    "daily",
    (
        Column("symbol", "str"),
        Column("date", "date"),
        Column("close", "float", sign="positive"),
        Column("volume", "float", sign="non_negative"),
        Column("open", "float", required=False, sign="positive"),
        Column("high", "float", required=False, sign="positive"),
        Column("low", "float", required=False, sign="positive"),
    ),
    key=("symbol", "date"),
)

TABLES: dict[str, TableSpec] = {t.name: t for t in (QUOTES, TRADES, ORDERS, FILLS, DAILY)}
