"""Row rules of the input contract: parse every column, flag the first rule each bad row breaks.

A batch goes in with its raw columns (any dtype) and a 1-based ``row_number``; two frames come out: the
typed rows that pass, and one quarantine row per rejected row with its rule, the offending column and the
raw values as JSON. Nothing is dropped: ``len(clean) + len(rejected) == len(batch)``.

Cross-row rules (duplicate keys, fills against their orders) need more than one batch and live in
:mod:`data.cross_row_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from data.calendar import all_session_bounds, session_date_expr
from data.contract import CANCEL_NEEDS_ONLY, Column, TableSpec
from kappa.units import DEFAULT_CALENDAR, SIDE_SIGN

ROW = "row_number"
SIDES = tuple(SIDE_SIGN)
LIQUIDITY = ("add", "remove")
EXEC_TYPES = {  # FIX ExecType (150) and ExecTransType (20) spellings -> trade, correct, cancel
    **dict.fromkeys(("trade", "new", "fill", "partial_fill", "f", "1", "2", "0"), "trade"),
    **dict.fromkeys(("correct", "correction", "g"), "correct"),
    **dict.fromkeys(("cancel", "bust", "h"), "cancel"),
}

QUARANTINE_SCHEMA = {ROW: pl.Int64, "rule": pl.String, "detail": pl.String, "raw": pl.String}


EXTENDED_HOURS = "extended_hours"
"""A quote or trade of a session date outside its regular session (pre-market, after hours, after an early
close): a real record, not an error, but not a price of the session the models describe. Counted per file in
``skipped_rows``, never quarantined (a day of TAQ holds millions)."""


@dataclass(frozen=True, slots=True)
class ValidatedBatch:
    """The typed rows that passed, the rejected rows (``row_number, rule, detail, raw``) and the rows
    that passed every rule but are not loaded by design, counted per reason (``extended_hours``)."""

    clean: pl.DataFrame
    rejected: pl.DataFrame
    skipped: dict[str, int] = field(default_factory=dict)


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    s = expr.cast(pl.String).str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


BLANKED = "__s"
"""The suffix of the column :func:`validate_batch` adds for each text column: its values stripped of
surrounding spaces, blanks as null (:func:`_blank_to_null`), computed once for the parse and every rule."""


def _blank(name: str, dtype: pl.DataType) -> pl.Expr:
    """Column ``name`` stripped, blanks as null: the batch's column of it for text, else computed here."""
    return pl.col(f"{name}{BLANKED}") if dtype == pl.String else _blank_to_null(pl.col(name))


OFFSET_PATTERN = r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
"""A timestamp's UTC offset at its end: ``Z`` or ``±HH[:MM]``."""
MAX_ABS_VALUE = 1e12
"""No price ($/share), size, quantity, volume or fee of a real instrument comes near this: a value at or above
it is garbage (and would overflow a mid or a notional), quarantined as ``out_of_range``."""
MINUTES_PATTERN = r"[T ]\d{2}:\d{2}(?:[zZ+-]|$)"
"""A time of day written to the minute (``2026-11-20T09:30-05:00``): ISO 8601 allows leaving out seconds."""
THOUSANDS_PATTERN = r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?(?:[eE][+-]?\d+)?$"
"""A number written with ``,`` thousands separators in groups of three (``1,869,001.50``)."""


@dataclass(frozen=True, slots=True)
class TextStyle:
    """What one batch's text columns look like, read once per batch so the common case stays fast: which
    timestamp columns are all integers, which all carry an offset, which numbers hold a ``,``."""

    digits: frozenset[str] = frozenset()
    offsets: frozenset[str] = frozenset()
    commas: frozenset[str] = frozenset()
    minutes: frozenset[str] = frozenset()  # times written to the minute (09:30, no seconds)


def text_style(batch: pl.DataFrame, spec: TableSpec) -> TextStyle:
    """The :class:`TextStyle` of ``batch``'s text columns."""
    ts_cols = [c.name for c in spec.columns if c.kind == "ts" and batch.schema.get(c.name) == pl.String]
    num_cols = [c.name for c in spec.columns if c.kind == "float" and batch.schema.get(c.name) == pl.String]
    if not ts_cols and not num_cols:
        return TextStyle()
    exprs = []
    for c in ts_cols:
        v = pl.col(c).str.strip_chars()
        blank = v == ""
        exprs.append((blank | v.str.contains(r"^-?\d+$")).all().alias(f"d:{c}"))
        exprs.append(
            (blank | v.str.contains(r"^-?\d+$") | v.str.contains(OFFSET_PATTERN)).all().alias(f"o:{c}")
        )
        exprs.append(v.str.contains(MINUTES_PATTERN).any().alias(f"m:{c}"))
    exprs += [pl.col(c).str.contains(",", literal=True).any().alias(f"c:{c}") for c in num_cols]
    flags = batch.select(exprs).row(0, named=True)
    return TextStyle(
        frozenset(c for c in ts_cols if flags[f"d:{c}"]),
        frozenset(c for c in ts_cols if flags[f"o:{c}"]),
        frozenset(c for c in num_cols if flags[f"c:{c}"]),
        frozenset(c for c in ts_cols if flags[f"m:{c}"]),
    )


def _iso_text(s: pl.Expr, name: str, style: TextStyle) -> pl.Expr:
    """ISO-8601 text with ``T`` between date and time, and seconds where the time stops at the minute."""
    text = s.str.replace(" ", "T", literal=True)
    return text.str.replace(r"(T\d{2}:\d{2})([zZ+-]|$)", "${1}:00${2}") if name in style.minutes else text


def _local_ts(name: str, dtype: pl.DataType, style: TextStyle | None = None) -> pl.Expr:
    """The naive (offset-free) local time of a timestamp column, null where it carries no such value."""
    col = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        return (
            col.dt.cast_time_unit("ns") if dtype.time_zone is None else pl.lit(None, dtype=pl.Datetime("ns"))
        )
    if dtype != pl.String:
        return pl.lit(None, dtype=pl.Datetime("ns"))
    text = _iso_text(_blank(name, dtype), name, style or TextStyle())
    return text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="ns")


def _localized(local: pl.Expr, timezone: str, ambiguous: str = "null") -> pl.Expr:
    """A naive local time in ``timezone`` as a UTC instant (null in a daylight-saving gap, and where
    ``ambiguous`` is ``null``, in a daylight-saving overlap)."""
    return (
        local.dt.replace_time_zone(timezone, ambiguous=ambiguous, non_existent="null")  # type: ignore[arg-type]
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
    )


def _parse_ts(name: str, dtype: pl.DataType, style: TextStyle, timezone: str | None) -> pl.Expr:
    """ISO-8601 with an offset (``Z`` accepted), integer ns since the epoch, or a local time without an
    offset in the declared ``timezone`` -> UTC ``Datetime('ns')``.

    Without a declared zone, a time without an offset does not parse (rule ``missing_utc_offset``), be it
    text or a tz-naive Parquet timestamp: the same rule for both.
    """
    col = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            return col.dt.convert_time_zone("UTC").dt.replace_time_zone(None).dt.cast_time_unit("ns")
        naive = col.dt.cast_time_unit("ns")
        return _localized(naive, timezone) if timezone else pl.lit(None, dtype=pl.Datetime("ns"))
    if dtype.is_integer():
        return col.cast(pl.Int64).cast(pl.Datetime("ns"))
    s = _blank(name, dtype)
    as_int = s.str.to_integer(strict=False).cast(pl.Datetime("ns"))
    if name in style.digits:
        return as_int
    text = _iso_text(s, name, style)
    iso = text.str.replace(r"[zZ]$", "+00:00").str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="ns"
    )
    iso_compact = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="ns")
    as_iso = pl.coalesce(iso, iso_compact).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    out = pl.when(s.str.contains(r"^-?\d+$")).then(as_int)
    if name in style.offsets or timezone is None:
        return out.otherwise(as_iso)
    local = _localized(_local_ts(name, dtype, style), timezone)
    return out.when(s.str.contains(OFFSET_PATTERN)).then(as_iso).otherwise(local)


def _parse_float(name: str, dtype: pl.DataType, style: TextStyle) -> pl.Expr:
    col = pl.col(name)
    if dtype.is_numeric():
        num = col.cast(pl.Float64)
    else:
        s = _blank(name, dtype)
        if name in style.commas:
            s = (
                pl.when(s.str.contains(THOUSANDS_PATTERN))
                .then(s.str.replace_all(",", "", literal=True))
                .otherwise(s)
            )
        num = s.cast(pl.Float64, strict=False)
    return pl.when(num.is_finite()).then(num).otherwise(None)


def _parse_date(name: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    if dtype == pl.Date:
        return col
    if isinstance(dtype, pl.Datetime):
        return col.dt.date()
    s = _blank(name, dtype)
    return pl.coalesce(s.str.to_date("%Y-%m-%d", strict=False), s.str.to_date("%Y%m%d", strict=False))


def _parse(column: Column, dtype: pl.DataType, style: TextStyle, timezone: str | None) -> pl.Expr:
    name = column.name
    if column.kind == "ts":
        return _parse_ts(name, dtype, style, timezone)
    if column.kind == "float":
        return _parse_float(name, dtype, style)
    if column.kind == "date":
        return _parse_date(name, dtype)
    if column.kind in ("side", "liquidity"):
        return _blank(name, dtype).str.to_lowercase()
    if column.kind == "exec_type":
        text = _blank(name, dtype).str.to_lowercase()
        return (
            pl.when(text.is_null())
            .then(pl.lit("trade"))
            .otherwise(text.replace_strict(EXEC_TYPES, default=None))
        )
    return _blank(name, dtype)


_UNPARSEABLE = {
    "ts": "unparseable_timestamp",
    "float": "unparseable_number",
    "date": "unparseable_date",
    "str": "unparseable_value",
    "side": "unknown_side",
    "liquidity": "unknown_liquidity",
    "exec_type": "unknown_exec_type",
}


def _row_rules(
    spec: TableSpec, schema: pl.Schema, style: TextStyle, timezone: str | None
) -> list[tuple[str, str, pl.Expr]]:
    """(rule, column, condition on raw ``name`` and parsed ``name__v`` columns), in order of precedence.

    ``schema`` is the raw batch's: a typed raw column (Parquet) is blank only where it is null, which
    spares casting it to text. A timestamp that fails to parse because it is a local time is told apart
    from one that does not parse at all: ``missing_utc_offset`` (no offset, and no time zone declared),
    ``nonexistent_local_time`` (in the declared zone's spring-forward gap) or ``ambiguous_local_time``
    (in its fall-back overlap, which happens twice).
    """
    present = [c for c in spec.names if c in schema]
    rules: list[tuple[str, str, pl.Expr]] = []
    for c in spec.columns:
        if c.name not in present:
            continue
        raw, val = pl.col(c.name), pl.col(f"{c.name}__v")
        raw_blank = _blank(c.name, schema[c.name]).is_null() if schema[c.name] == pl.String else raw.is_null()
        if c.required:
            rules.append(("missing_value", c.name, raw_blank))
        failed = ~raw_blank & val.is_null()
        if c.kind == "ts" and c.name not in style.offsets:
            local = _local_ts(c.name, schema[c.name], style)
            if timezone is None:
                rules.append(("missing_utc_offset", c.name, failed & local.is_not_null()))
            else:
                gap = _localized(local, timezone, ambiguous="earliest").is_null()
                rules.append(("nonexistent_local_time", c.name, failed & local.is_not_null() & gap))
                rules.append(("ambiguous_local_time", c.name, failed & local.is_not_null()))
        rules.append((_UNPARSEABLE[c.kind], c.name, failed))
    for c in spec.columns:
        if c.name not in present:
            continue
        val = pl.col(f"{c.name}__v")
        if c.kind == "float":
            rules.append(("out_of_range", c.name, val.abs() >= MAX_ABS_VALUE))
        if c.sign == "positive":
            rules.append(("non_positive", c.name, val <= 0))
        elif c.sign == "non_negative":
            rules.append(("negative", c.name, val < 0))
        if c.kind == "side":
            rules.append(("unknown_side", c.name, ~val.is_in(SIDES)))
        if c.kind == "liquidity":
            rules.append(("unknown_liquidity", c.name, ~val.is_in(LIQUIDITY)))
    if (
        spec.name == "fills" and "exec_type" in present
    ):  # a cancel names a fill: its other values may be blank
        cancel = pl.col("exec_type__v") == "cancel"
        rules = [
            (r, c, cond if c in CANCEL_NEEDS_ONLY else cond & ~cancel.fill_null(False))
            for r, c, cond in rules
        ]
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


def _integer_first(text: pl.Series) -> bool:
    """Whether the first value is an integer (nanoseconds since the epoch: not worth an ISO read)."""
    first = text.head(1).to_list()
    return bool(first) and isinstance(first[0], str) and first[0].strip().lstrip("-").isdigit()


ISO_OFFSET_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?[+-]\d{2}:\d{2}$"
"""The common way to write a timestamp in a file: ISO-8601 with ``T``, seconds, at most nanoseconds and a
``±HH:MM`` offset."""


def _iso_instants(text: pl.Series) -> pl.Series | None:
    """UTC instants of text timestamps all written as :data:`ISO_OFFSET_PATTERN`, by Arrow's ISO-8601 cast
    (a tenth of the CPU of a polars format parse); ``None`` if one value is not a real instant (a 30
    February, an hour 24)."""
    try:
        instants = pl.from_arrow(pc.cast(text.to_arrow(), pa.timestamp("ns", "UTC")))
    except pa.ArrowInvalid:
        return None
    assert isinstance(instants, pl.Series)
    return instants.alias(text.name)


def typed_text(batch: pl.DataFrame, spec: TableSpec) -> tuple[pl.DataFrame, frozenset[str]]:
    """``batch`` with each text column of numbers or timestamps whose every value reads at once (a number
    polars reads, or a timestamp written as :data:`ISO_OFFSET_PATTERN`) replaced by its typed values; and
    the names of those columns.

    A file's text is almost always clean: one typed read per column spares the text rules (blanks, stray
    spaces, thousands separators, integer or offset-less timestamps) their passes over every value. A
    column where one value does not read keeps its text and goes through every rule, so the rows that pass,
    the rules a row breaks and the values stored are the same either way: a value that reads at once is
    read to the same number or instant by the text rules (they only strip spaces, drop separators and try
    other layouts before the same parse).
    """
    numbers = [c.name for c in spec.columns if c.kind == "float" and batch.schema.get(c.name) == pl.String]
    times = [
        c.name
        for c in spec.columns
        if c.kind == "ts" and batch.schema.get(c.name) == pl.String and not _integer_first(batch[c.name])
    ]
    if not batch.height or not (numbers or times):
        return batch, frozenset()
    checks = batch.select(  # the numbers, and whether every timestamp has the common layout
        *(pl.col(n).cast(pl.Float64, strict=False) for n in numbers),
        *(pl.col(n).str.contains(ISO_OFFSET_PATTERN).fill_null(False).all().alias(f"iso:{n}") for n in times),
    )
    typed = [checks[n] for n in numbers if checks[n].null_count() == 0]
    for n in times:
        instants = _iso_instants(batch[n]) if checks[f"iso:{n}"][0] else None
        if instants is not None:
            typed.append(instants)
    if not typed:
        return batch, frozenset()
    return batch.with_columns(typed), frozenset(s.name for s in typed)


def first_workable_session(arrival: pl.Expr, calendar: str = DEFAULT_CALENDAR) -> pl.Expr:
    """The date of an order: the first session it can be worked in, the first whose close is after its
    arrival (an order that arrives on a weekend or holiday, or at or after a close, belongs to the next
    session; one before an open, to that session). Null for an arrival before the calendar's first session
    or after its last close."""
    every = all_session_bounds(calendar)
    n = every.height
    at = pl.lit(every["close_ts"]).search_sorted(arrival, side="right")
    known = arrival.is_not_null() & (at < n) & ((at > 0) | (arrival >= every["open_ts"][0]))
    return pl.when(known).then(pl.lit(every["date"]).gather(at.clip(0, n - 1)))


def validate_batch(
    batch: pl.DataFrame, spec: TableSpec, calendar: str = DEFAULT_CALENDAR, timezone: str | None = None
) -> ValidatedBatch:
    """Parse and check one batch of rows of ``spec``.

    Parameters
    ----------
    batch
        Raw rows with lower-case column names and a 1-based ``row_number`` column.
    spec
        The table's contract.
    calendar
        The exchange calendar whose sessions bound market data (quotes and trades).
    timezone
        The IANA time zone of timestamps written without a UTC offset (text, or tz-naive Parquet); ``None``:
        such a timestamp is quarantined as ``missing_utc_offset``. An offset in the value always wins.

    Returns
    -------
    ValidatedBatch
        ``clean`` has the contract's columns (absent optional columns as nulls) typed, plus ``date`` for
        market data (the session date) and orders (:func:`first_workable_session` of the arrival);
        ``rejected`` has ``row_number, rule, detail, raw`` and, where the table has one, the row's
        ``symbol`` as written; ``skipped`` counts the market rows of a session date outside its regular
        session (``extended_hours``): neither loaded nor quarantined.
    """
    raw_cols = [c for c in batch.columns if c != ROW]
    present = [c for c in spec.names if c in batch.columns]
    text = batch
    batch, typed = typed_text(batch, spec)
    style = text_style(batch, spec)
    parsed = (
        batch.lazy()
        .with_columns(
            _blank_to_null(pl.col(c)).alias(f"{c}{BLANKED}") for c in present if batch.schema[c] == pl.String
        )
        .with_columns(
            [_parse(spec.column(c), batch.schema[c], style, timezone).alias(f"{c}__v") for c in present]
        )
    )
    rules = _row_rules(spec, batch.schema, style, timezone)
    extended = pl.lit(False)
    if spec.market:
        parsed = parsed.with_columns(session_date_expr(pl.col("ts__v"), calendar).alias("date__v"))
        every = all_session_bounds(calendar).lazy()  # a few thousand rows: cheaper than finding the dates
        # the rows keep the file's order: within one timestamp it is the order of events
        parsed = parsed.join(every, left_on="date__v", right_on="date", how="left", maintain_order="left")
        ts = pl.col("ts__v")
        no_session = pl.col("open_ts").is_null()
        rules.append(("outside_session", "ts", ts.is_not_null() & no_session))
        extended = ts.is_not_null() & ~no_session & ((ts < pl.col("open_ts")) | (ts > pl.col("close_ts")))
    elif spec.name == "orders":
        arrival = pl.col("arrival_ts__v")
        parsed = parsed.with_columns(first_workable_session(arrival, calendar).alias("date__v"))
        rules.append(("outside_session", "arrival_ts", arrival.is_not_null() & pl.col("date__v").is_null()))
    rule, detail = _first_rule(rules)
    broken = pl.any_horizontal(cond.fill_null(False) for _, _, cond in rules) if rules else pl.lit(False)
    parsed = parsed.with_columns(
        broken.alias("_broken"), (~broken & extended.fill_null(False)).alias("_skip")
    )
    # the first rule each row breaks, found on the few rows that break one
    rejected = (
        parsed.filter(pl.col("_broken"))
        .with_columns(rule.alias("_rule"), detail.alias("_detail"))
        .select(
            pl.col(ROW).cast(pl.Int64),
            pl.col("_rule").alias("rule"),
            pl.col("_detail").alias("detail"),
            *([] if typed else [raw_json(raw_cols).alias("raw")]),
            *([pl.col("symbol").cast(pl.String)] if "symbol" in batch.columns else []),
        )
    )
    out_cols = [
        (pl.col(f"{c.name}__v") if c.name in present else pl.lit(None)).cast(_dtype(c)).alias(c.name)
        for c in spec.columns
    ]
    if spec.market or spec.name == "orders":
        out_cols.append(pl.col("date__v").alias("date"))
    out_cols.append(pl.col(ROW).cast(pl.Int64))
    good, bad, skip, broken_rows = pl.collect_all(
        [
            parsed.filter(~pl.col("_broken") & ~pl.col("_skip")).select(out_cols),
            rejected,
            parsed.select(pl.col("_skip").sum().alias("n")),
            parsed.select("_broken") if typed else pl.LazyFrame(),
        ]
    )
    if typed:  # the raw values as the file has them: from the text, on the rejected rows only
        raw = text.filter(broken_rows["_broken"]).select(raw_json(raw_cols).alias("raw"))
        bad.insert_column(3, raw["raw"])
    extended_rows = int(skip["n"][0] or 0)
    return ValidatedBatch(good, bad, {EXTENDED_HOURS: extended_rows} if extended_rows else {})


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
