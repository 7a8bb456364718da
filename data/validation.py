"""Row rules of the input contract: parse every column, flag the first rule each bad row breaks.

A batch goes in with its raw columns (any dtype) and a 1-based ``row_number``; two frames come out: the
typed rows that pass, and one quarantine row per rejected row with its rule, the offending column and the
raw values as JSON. Nothing is dropped: ``len(clean) + len(rejected) == len(batch)``.

Cross-row rules (duplicate keys, fills against their orders) need more than one batch and live in
:mod:`data.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from data.calendar import DEFAULT_CALENDAR, all_session_bounds, session_date_expr
from data.contract import Column, TableSpec

ROW = "row_number"
SIDES = ("buy", "sell")
LIQUIDITY = ("add", "remove")

QUARANTINE_SCHEMA = {ROW: pl.Int64, "rule": pl.String, "detail": pl.String, "raw": pl.String}


@dataclass(frozen=True, slots=True)
class ValidatedBatch:
    """The typed rows that passed and the rejected rows (``row_number, rule, detail, raw``)."""

    clean: pl.DataFrame
    rejected: pl.DataFrame


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    s = expr.cast(pl.String).str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


def _parse_ts(name: str, dtype: pl.DataType, all_digits: bool = False) -> pl.Expr:
    """ISO-8601 with an offset (``Z`` accepted) or integer ns since the epoch -> UTC ``Datetime('ns')``.

    A string without an offset is ambiguous and does not parse. Tz-naive Parquet timestamps are UTC.
    ``all_digits`` says that every value of the batch is an integer, so the ISO parsers are skipped.
    """
    col = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return col.dt.cast_time_unit("ns")
    if dtype.is_integer():
        return col.cast(pl.Int64).cast(pl.Datetime("ns"))
    s = _blank_to_null(col)
    as_int = s.str.to_integer(strict=False).cast(pl.Datetime("ns"))
    if all_digits:
        return as_int
    iso = (
        s.str.replace(" ", "T", literal=True)
        .str.replace(r"Z$", "+00:00")
        .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="ns")
    )
    iso_compact = s.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="ns")
    as_iso = pl.coalesce(iso, iso_compact).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return pl.when(s.str.contains(r"^-?\d+$")).then(as_int).otherwise(as_iso)


def _parse_float(name: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    num = col.cast(pl.Float64) if dtype.is_numeric() else _blank_to_null(col).cast(pl.Float64, strict=False)
    return pl.when(num.is_finite()).then(num).otherwise(None)


def _parse_date(name: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    if dtype == pl.Date:
        return col
    if isinstance(dtype, pl.Datetime):
        return col.dt.date()
    return _blank_to_null(col).str.to_date("%Y-%m-%d", strict=False)


def _all_digits(values: pl.Series) -> bool:
    return values.dtype == pl.String and bool(values.str.contains(r"^\d+$").all())


def _parse(column: Column, dtype: pl.DataType, batch: pl.DataFrame) -> pl.Expr:
    name = column.name
    if column.kind == "ts":
        return _parse_ts(name, dtype, _all_digits(batch[name]))
    if column.kind == "float":
        return _parse_float(name, dtype)
    if column.kind == "date":
        return _parse_date(name, dtype)
    if column.kind in ("side", "liquidity"):
        return _blank_to_null(pl.col(name)).str.to_lowercase()
    return _blank_to_null(pl.col(name))


_UNPARSEABLE = {
    "ts": "unparseable_timestamp",
    "float": "unparseable_number",
    "date": "unparseable_date",
    "str": "unparseable_value",
    "side": "unknown_side",
    "liquidity": "unknown_liquidity",
}


def _row_rules(spec: TableSpec, schema: pl.Schema) -> list[tuple[str, str, pl.Expr]]:
    """(rule, column, condition on raw ``name`` and parsed ``name__v`` columns), in order of precedence.

    ``schema`` is the raw batch's: a typed raw column (Parquet) is blank only where it is null, which
    spares casting it to text.
    """
    present = [c for c in spec.names if c in schema]
    rules: list[tuple[str, str, pl.Expr]] = []
    for c in spec.columns:
        if c.name not in present:
            continue
        raw, val = pl.col(c.name), pl.col(f"{c.name}__v")
        raw_blank = _blank_to_null(raw).is_null() if schema[c.name] == pl.String else raw.is_null()
        if c.required:
            rules.append(("missing_value", c.name, raw_blank))
        rules.append((_UNPARSEABLE[c.kind], c.name, ~raw_blank & val.is_null()))
    for c in spec.columns:
        if c.name not in present:
            continue
        val = pl.col(f"{c.name}__v")
        if c.sign == "positive":
            rules.append(("non_positive", c.name, val <= 0))
        elif c.sign == "non_negative":
            rules.append(("negative", c.name, val < 0))
        if c.kind == "side":
            rules.append(("unknown_side", c.name, ~val.is_in(SIDES)))
        if c.kind == "liquidity":
            rules.append(("unknown_liquidity", c.name, ~val.is_in(LIQUIDITY)))
    if spec.name == "quotes":
        rules.append(("bid_gt_ask", "bid", pl.col("bid__v") > pl.col("ask__v")))
    if spec.name == "orders":
        rules.append(("end_before_arrival", "end_ts", pl.col("end_ts__v") < pl.col("arrival_ts__v")))
    if spec.name == "daily" and {"high", "low"} <= set(present):
        rules.append(("high_lt_low", "high", pl.col("high__v") < pl.col("low__v")))
    return rules


def _first_rule(rules: list[tuple[str, str, pl.Expr]]) -> tuple[pl.Expr, pl.Expr]:
    if not rules:
        none = pl.lit(None, dtype=pl.String)
        return none, none
    rule_chain: Any
    col_chain: Any
    rule_chain = pl.when(rules[0][2].fill_null(False)).then(pl.lit(rules[0][0]))
    col_chain = pl.when(rules[0][2].fill_null(False)).then(pl.lit(rules[0][1]))
    for rule, col, cond in rules[1:]:
        rule_chain = rule_chain.when(cond.fill_null(False)).then(pl.lit(rule))
        col_chain = col_chain.when(cond.fill_null(False)).then(pl.lit(col))
    return rule_chain.otherwise(None), col_chain.otherwise(None)


def raw_json(columns: list[str]) -> pl.Expr:
    """The raw values of ``columns`` as a JSON object of strings, for the quarantine's ``raw`` column."""
    return pl.struct([pl.col(c).cast(pl.String) for c in columns]).struct.json_encode()


def validate_batch(batch: pl.DataFrame, spec: TableSpec, calendar: str = DEFAULT_CALENDAR) -> ValidatedBatch:
    """Parse and check one batch of rows of ``spec``.

    Parameters
    ----------
    batch
        Raw rows with lower-case column names and a 1-based ``row_number`` column.
    spec
        The table's contract.
    calendar
        The exchange calendar whose sessions bound market data (quotes and trades).

    Returns
    -------
    ValidatedBatch
        ``clean`` has the contract's columns (absent optional columns as nulls) typed, plus ``date`` (the
        session date) for market data and orders; ``rejected`` has ``row_number, rule, detail, raw``.
    """
    raw_cols = [c for c in batch.columns if c != ROW]
    present = [c for c in spec.names if c in batch.columns]
    parsed = batch.lazy().with_columns(
        [_parse(spec.column(c), batch.schema[c], batch).alias(f"{c}__v") for c in present]
    )
    rules = _row_rules(spec, batch.schema)
    if spec.market:
        parsed = parsed.with_columns(session_date_expr(pl.col("ts__v"), calendar).alias("date__v"))
        every = all_session_bounds(calendar).lazy()  # a few thousand rows: cheaper than finding the dates
        parsed = parsed.join(every, left_on="date__v", right_on="date", how="left")
        ts = pl.col("ts__v")
        outside = pl.col("open_ts").is_null() | (ts < pl.col("open_ts")) | (ts > pl.col("close_ts"))
        rules.append(("outside_session", "ts", ts.is_not_null() & outside))
    elif spec.name == "orders":
        parsed = parsed.with_columns(session_date_expr(pl.col("arrival_ts__v"), calendar).alias("date__v"))
    rule, detail = _first_rule(rules)
    broken = pl.any_horizontal(cond.fill_null(False) for _, _, cond in rules) if rules else pl.lit(False)
    parsed = parsed.with_columns(broken.alias("_broken"))
    # the first rule each row breaks, found on the few rows that break one
    rejected = (
        parsed.filter(pl.col("_broken"))
        .with_columns(rule.alias("_rule"), detail.alias("_detail"))
        .select(
            pl.col(ROW).cast(pl.Int64),
            pl.col("_rule").alias("rule"),
            pl.col("_detail").alias("detail"),
            raw_json(raw_cols).alias("raw"),
        )
    )
    out_cols = [
        (pl.col(f"{c.name}__v") if c.name in present else pl.lit(None)).cast(_dtype(c)).alias(c.name)
        for c in spec.columns
    ]
    if spec.market or spec.name == "orders":
        out_cols.append(pl.col("date__v").alias("date"))
    out_cols.append(pl.col(ROW).cast(pl.Int64))
    good, bad = pl.collect_all([parsed.filter(~pl.col("_broken")).select(out_cols), rejected])
    return ValidatedBatch(good, bad)


def _dtype(c: Column) -> pl.DataType:
    return {
        "ts": pl.Datetime("ns"),
        "float": pl.Float64(),
        "date": pl.Date(),
    }.get(c.kind, pl.String())


def clean_schema(spec: TableSpec) -> dict[str, pl.DataType]:
    """The polars schema of the clean rows of ``spec`` (see :func:`validate_batch`)."""
    schema = {c.name: _dtype(c) for c in spec.columns}
    if spec.market or spec.name == "orders":
        schema["date"] = pl.Date()
    schema[ROW] = pl.Int64()
    return schema
