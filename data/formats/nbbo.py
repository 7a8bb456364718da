"""The National Best Bid and Offer (NBBO) built from exchange-level quotes, streamed.

Each exchange's last quote is carried forward, per symbol and date; the national best bid (NBB) is the
highest bid of any exchange, the national best offer (NBO) the lowest offer, and the size at each is the sum,
in shares, of the sizes of every exchange quoting that price (Holden & Jacobsen 2014, "total depth"). The
inputs are one row per exchange quote in the order of the file (ties at one time in the order the SIP sent
them); the output is one row per quote that changes the NBBO (either price or either size), at the quote's
time, with the quote's exchange and row number. Each symbol's exchange quotes cross batch boundaries. An
exchange is its code: the FINRA ADF (``D``), whose quotes are its market makers', counts as one.

Rules, after Holden & Jacobsen (2014), "Liquidity measurement problems in fast, competitive markets:
expensive and cheap solutions", *Journal of Finance* 69(4), 1747-1785, and their published SAS programs
(Monthly TAQ, quote filters 1-5):

- Quote conditions: a quote whose condition is one of ``A, B, H, O, R, W`` (slow on the ask, slow on the
  bid, slow on both, opening, regular, slow on both from a set-slow list: the conditions of a firm, tradable
  quote, :data:`KEPT_CONDITIONS`) enters the NBBO. A quote with any other condition (closing, news
  dissemination, non-firm, halted, ...) withdraws both sides of its exchange: it is *not* simply dropped,
  which would leave the exchange's previous quote standing in the NBBO (H&J's filter 1 sets it to extreme
  values for that reason).
- Withdrawals: a bid (offer) that is zero or blank, or whose size is zero or blank, withdraws the
  exchange's bid (offer) alone (H&J's filter 5, "withdrawn quotes": not deleted, for the same reason).
- A quote crossed on its own exchange (bid above offer, both positive) withdraws both sides (H&J's filter
  2). H&J's filter 4 (an exchange's spread above $5) is not applied: it is a fixed dollar amount that does
  not scale with the price; the tape-cleaning rule ``wide_spread`` (:mod:`data.cleaning`) judges the NBBO's
  spread against the day's median instead.

Outcome of each input quote, counted as ``skipped`` when it adds no row (reason names):

``quote_condition``
    its condition is not in :data:`KEPT_CONDITIONS` and withdrawing its exchange left the NBBO unchanged.
``crossed_quote``
    it was crossed on its own exchange and withdrawing it left the NBBO unchanged.
``one_sided_nbbo``
    after it, no exchange bids or none offers: there is no NBBO to emit.
``crossed_nbbo``
    after it, the NBB is above the NBO (a market crossed across exchanges). Holden & Jacobsen leave crossed
    NBBOs out of every measure; the contract's quotes have ``bid <= ask``, and quarantining each such
    instant would fill the quarantine with a normal state of a fragmented market. The NBBO in force before it
    stays the prevailing quote until the next uncrossed one. A locked NBBO (NBB = NBO) is emitted.
``nbbo_unchanged``
    it left the NBBO's prices and sizes as they were.

A quote whose NBBO changed is emitted whatever its condition (a non-firm quote that withdraws the best bid
changes the NBBO). Records that cannot be read at all never reach this module (the format module
quarantines them), so they do not act on an exchange's state.

The input need not be sorted by symbol (WRDS sorts by root, then time, so ``BRK.A`` and ``BRK.B``
interleave): each batch is put in symbol-date order, stably (:class:`KeyOrder`), and its NBBO rows come out
in that order, each symbol-date's in the file's. But each symbol's quotes must go forward in time (date,
then time of day): a quote earlier than the one before it of its symbol raises
:class:`~kappa.errors.InputError` naming its row (an NBBO needs each exchange's previous quote, so such a
file cannot be streamed).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from pathlib import Path

import polars as pl

from data.validation import ROW
from kappa.errors import InputError

KEPT_CONDITIONS: frozenset[str] = frozenset("ABHORW")
"""Quote conditions of a quote that enters the NBBO (Holden & Jacobsen 2014; Daily TAQ Client
Specification, Quote Condition: A slow on ask side, B slow on bid side, H slow on bid and ask, O opening
quote, R regular, W slow quote due to a set-slow list on both sides)."""

CHUNK_ROWS = 131_072
"""Rows computed at once: memory holds four columns per exchange for this many rows (about 70 MB for the
17 US exchanges), whatever the batch size."""

QUOTE_CONDITION = "quote_condition"
CROSSED_QUOTE = "crossed_quote"
ONE_SIDED_NBBO = "one_sided_nbbo"
CROSSED_NBBO = "crossed_nbbo"
NBBO_UNCHANGED = "nbbo_unchanged"
REASONS = (QUOTE_CONDITION, CROSSED_QUOTE, ONE_SIDED_NBBO, CROSSED_NBBO, NBBO_UNCHANGED)

INPUT_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "date": pl.Date(),
    "ts": pl.Datetime("ns", "UTC"),
    "exchange": pl.String(),
    "bid": pl.Float64(),
    "bid_size": pl.Float64(),
    "ask": pl.Float64(),
    "ask_size": pl.Float64(),
    "regular": pl.Boolean(),
    ROW: pl.Int64(),
}
"""An exchange quote: prices in USD/share and sizes in shares (null where the field is blank), ``regular``
whether its condition is one of :data:`KEPT_CONDITIONS`, ``date`` its trading date (the state resets on a
new date)."""

OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ts": pl.Datetime("ns", "UTC"),
    "bid": pl.Float64(),
    "ask": pl.Float64(),
    "bid_size": pl.Float64(),
    "ask_size": pl.Float64(),
    "exchange": pl.String(),
    ROW: pl.Int64(),
}

_INF = math.inf
NBBO_COLUMNS = ("_nbb", "_nbb_size", "_nbo", "_nbo_size")
PSEUDO_SCHEMA: dict[str, pl.DataType] = {
    **{c: INPUT_SCHEMA[c] for c in ("symbol", "date", "ts", "exchange", ROW)},
    **dict.fromkeys(("_b", "_bs", "_a", "_as"), pl.Float64()),
    **dict.fromkeys(("_regular", "_own_crossed", "_pseudo"), pl.Boolean()),
}


Quote = tuple[float, float, float, float]
"""An exchange's quote as carried: bid, bid size, offer, offer size (a withdrawn side: 0 or +inf, size 0)."""


class KeyOrder:
    """Puts batch after batch of a file's rows in symbol-date order, checking that each symbol's rows go
    forward in date and time.

    A file need not be sorted by symbol: each batch is sorted by symbol and date, stably, so the rows of a
    symbol-date keep the file's order (ties at one time too). Each symbol's rows, in the file's order, must
    not go back in time (date, then time of day), within a batch or from one batch to the next: an
    :class:`InputError` names the first row that does.

    Parameters
    ----------
    path
        The file (named in the error).
    what
        What the rows are, for the error (``quotes``).
    """

    def __init__(self, path: Path | str, what: str = "quotes") -> None:
        self.path, self.what = str(path), what
        self.last: dict[str, tuple[dt.date, dt.datetime]] = {}  # each symbol's last date and time

    def sort(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows`` (the file's next rows, in its order, with ``symbol, date, ts, row_number``) sorted by
        symbol and date, stably."""
        if not rows.height:
            return rows
        sym, day, ts = pl.col("symbol"), pl.col("date"), pl.col("ts")
        new = ((sym != sym.shift(1)) | (day != day.shift(1))).fill_null(True)
        if rows.select(new.sum()).item() != rows.select(pl.struct("symbol", "date").n_unique()).item():
            rows = rows.sort("symbol", "date", maintain_order=True)
        new_symbol = (sym != sym.shift(1)).fill_null(True)
        back = rows.filter(
            ~new_symbol & ((day < day.shift(1)) | ((day == day.shift(1)) & (ts < ts.shift(1))))
        )
        if back.height:  # the first in the file's order
            self._back(back.sort(ROW).row(0, named=True))
        ends = rows.filter(pl.col("symbol") != pl.col("symbol").shift(-1).fill_null(""))
        for first in rows.filter(new_symbol).select("symbol", "date", "ts", ROW).iter_rows(named=True):
            before = self.last.get(first["symbol"])
            if before is not None and (first["date"], first["ts"]) < before:
                self._back(first)
        for symbol, date, time in ends.select("symbol", "date", "ts").iter_rows():
            self.last[symbol] = (date, time)
        return rows

    def _back(self, row: dict[str, object]) -> None:
        raise InputError(
            f"{self.what} of {row['symbol']} go back in time at row {row[ROW]} ({row['date']} {row['ts']}): "
            f"each symbol's {self.what} must be in time order",
            path=self.path,
        )


class NBBOBuilder:
    """Builds the NBBO of one file's exchange quotes, batch after batch.

    Parameters
    ----------
    path
        The file the quotes come from (named in the error raised for quotes out of time order).

    Notes
    -----
    Carried from batch to batch: each symbol's exchange quotes on its latest date (withdrawn ones left
    out) and the last NBBO written for it, so memory grows with the symbols of the file, not its rows.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._order = KeyOrder(path)
        self._state: dict[str, tuple[dt.date, dict[str, Quote]]] = {}
        self._emitted: dict[str, tuple[dt.date, Quote]] = {}  # each symbol's last NBBO written, and its date

    def add(self, quotes: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        """The NBBO rows caused by the next exchange quotes of the file, and the count of the others.

        Parameters
        ----------
        quotes
            The next exchange quotes in file order, with the columns of :data:`INPUT_SCHEMA`.

        Returns
        -------
        tuple[pl.DataFrame, Counter[str]]
            The NBBO rows (:data:`OUTPUT_SCHEMA`: ``bid`` the NBB, ``ask`` the NBO, sizes in shares summed
            over the exchanges at each, ``exchange`` and ``row_number`` of the quote that caused the row),
            by symbol and date, each symbol-date's in the file's order; and, per reason of the module
            docstring, the number of quotes that caused none. ``len(frame) + sum(counts) == len(quotes)``.
        """
        quotes = self._order.sort(quotes.select([pl.col(c).cast(t) for c, t in INPUT_SCHEMA.items()]))
        frames: list[pl.DataFrame] = []
        skipped: Counter[str] = Counter()
        for start in range(0, quotes.height, CHUNK_ROWS):
            frame, counts = self._chunk(quotes.slice(start, CHUNK_ROWS))
            frames.append(frame)
            skipped.update(counts)
        out = pl.concat(frames) if frames else pl.DataFrame(schema=OUTPUT_SCHEMA)
        return out, skipped

    def _chunk(self, quotes: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        """The NBBO rows and skip counts of at most :data:`CHUNK_ROWS` quotes; updates the carried state.

        ``quotes`` are sorted by symbol and date. The state carried from the rows before enters as one
        pseudo-quote per exchange in front of each symbol-date's rows (the exchange's quote as it stands),
        so they see every exchange's quote and the NBBO before them; pseudo-quotes are neither emitted nor
        counted.
        """
        bid, bid_size, ask, ask_size = pl.col("bid"), pl.col("bid_size"), pl.col("ask"), pl.col("ask_size")
        regular = pl.col("regular").fill_null(False)
        own_crossed = ((bid > 0) & (ask > 0) & (bid > ask)).fill_null(False)
        usable = regular & ~own_crossed
        has_bid = (usable & (bid > 0) & (bid_size > 0)).fill_null(False)
        has_ask = (usable & (ask > 0) & (ask_size > 0)).fill_null(False)
        frame = quotes.select(
            "symbol",
            "date",
            "ts",
            "exchange",
            ROW,
            pl.when(has_bid).then(bid).otherwise(0.0).alias("_b"),
            pl.when(has_bid).then(bid_size).otherwise(0.0).alias("_bs"),
            pl.when(has_ask).then(ask).otherwise(_INF).alias("_a"),
            pl.when(has_ask).then(ask_size).otherwise(0.0).alias("_as"),
            regular.alias("_regular"),
            own_crossed.alias("_own_crossed"),
            pl.lit(False).alias("_pseudo"),
        )
        pseudo = self._pseudo_quotes(frame)
        if pseudo.height:  # each symbol-date's carried quotes go first
            frame = (
                pl.concat([pseudo, frame.with_row_index("_seq", offset=1)], how="diagonal")
                .sort("symbol", "date", "_seq", maintain_order=True)
                .drop("_seq")
            )
        exchanges = frame["exchange"].unique().sort().to_list()
        code = {x: i for i, x in enumerate(exchanges)}
        sym, day = pl.col("symbol"), pl.col("date")
        start = ((sym != sym.shift(1)) | (day != day.shift(1))).fill_null(True)
        lazy = frame.lazy().with_columns(
            pl.col("exchange").replace_strict(code, return_dtype=pl.Int16).alias("_x"), start.alias("_start")
        )
        per_exchange = [
            pl.when(pl.col("_x") == i)
            .then(pl.col(name))
            .when(pl.col("_start"))
            .then(pl.lit(empty))  # a symbol-date starts with no quote from any exchange
            .otherwise(None)
            .forward_fill()
            .alias(f"{name}{i}")
            for i in range(len(exchanges))
            for name, empty in (("_b", 0.0), ("_bs", 0.0), ("_a", _INF), ("_as", 0.0))
        ]
        nbb = pl.max_horizontal(pl.col(f"_b{i}") for i in range(len(exchanges)))
        nbo = pl.min_horizontal(pl.col(f"_a{i}") for i in range(len(exchanges)))
        lazy = (
            lazy.with_columns(per_exchange)
            .with_columns(nbb.alias("_nbb"), nbo.alias("_nbo"))
            .with_columns(
                pl.sum_horizontal(
                    pl.when(pl.col(f"_b{i}") == pl.col("_nbb")).then(pl.col(f"_bs{i}")).otherwise(0.0)
                    for i in range(len(exchanges))
                ).alias("_nbb_size"),
                pl.sum_horizontal(
                    pl.when(pl.col(f"_a{i}") == pl.col("_nbo")).then(pl.col(f"_as{i}")).otherwise(0.0)
                    for i in range(len(exchanges))
                ).alias("_nbo_size"),
            )
        )
        two_sided = (pl.col("_nbb") > 0) & (pl.col("_nbo") < _INF)
        crossed = pl.col("_nbb") > pl.col("_nbo")
        valid = two_sided & ~crossed
        # changed against the last NBBO in force (the last valid one of the symbol-date before this row): a
        # crossed or one-sided stretch writes nothing, and the NBBO after it is written only if it differs
        group = pl.col("_start").cum_sum().alias("_group")
        # pseudo-quotes' own NBBOs are partial states: they stand for the last NBBO written before the chunk
        seed = [
            pl.col(f"_seed{c}") if f"_seed{c}" in frame.columns else pl.lit(None, pl.Float64)
            for c in NBBO_COLUMNS
        ]
        previous = [
            pl.when(pl.col("_pseudo"))
            .then(seed[i])
            .when(valid)
            .then(pl.col(c))
            .forward_fill()
            .shift(1)
            .over("_group")
            .alias(f"_prev{c}")
            for i, c in enumerate(NBBO_COLUMNS)
        ]
        changed = pl.any_horizontal((pl.col(c) != pl.col(f"_prev{c}")).fill_null(True) for c in NBBO_COLUMNS)
        reason = (
            pl.when(valid & changed)
            .then(pl.lit(None, dtype=pl.String))
            .when(~two_sided)
            .then(pl.lit(ONE_SIDED_NBBO))
            .when(crossed)
            .then(pl.lit(CROSSED_NBBO))
            .when(~pl.col("_regular"))
            .then(pl.lit(QUOTE_CONDITION))
            .when(pl.col("_own_crossed"))
            .then(pl.lit(CROSSED_QUOTE))
            .otherwise(pl.lit(NBBO_UNCHANGED))
        )
        end = ((sym != sym.shift(-1)) | (day != day.shift(-1))).fill_null(True)
        done = (
            lazy.with_columns(group)
            .with_columns(previous)
            .with_columns(reason.alias("_reason"), end.alias("_end"))
            .collect()
        )
        self._keep_state(done, exchanges)
        written = done.filter(pl.col("_reason").is_null() & ~pl.col("_pseudo"))
        for symbol, day, *nbbo in (
            written.group_by("symbol", maintain_order=True)
            .last()
            .select("symbol", "date", *NBBO_COLUMNS)
            .iter_rows()
        ):
            self._emitted[symbol] = (day, (nbbo[0], nbbo[1], nbbo[2], nbbo[3]))
        done = done.select("symbol", "ts", *NBBO_COLUMNS, "exchange", ROW, "_reason", "_pseudo").filter(
            ~pl.col("_pseudo")
        )
        counts = Counter(dict(done["_reason"].drop_nulls().value_counts().iter_rows()))
        rows = done.filter(pl.col("_reason").is_null()).select(
            "symbol",
            "ts",
            pl.col("_nbb").alias("bid"),
            pl.col("_nbo").alias("ask"),
            pl.col("_nbb_size").alias("bid_size"),
            pl.col("_nbo_size").alias("ask_size"),
            "exchange",
            ROW,
        )
        return rows, counts

    def _pseudo_quotes(self, frame: pl.DataFrame) -> pl.DataFrame:
        """One pseudo-quote per exchange quoting, as carried, each symbol-date of ``frame`` that earlier
        rows left quotes of (see :meth:`_chunk`), with ``_seq`` 0 (before the chunk's rows)."""
        rows: dict[str, list[object]] = {c: [] for c in PSEUDO_SCHEMA}
        sym, day = pl.col("symbol"), pl.col("date")
        start = ((sym != sym.shift(1)) | (day != day.shift(1))).fill_null(True)
        for symbol, date, ts in frame.filter(start).select("symbol", "date", "ts").iter_rows():
            carried = self._state.get(symbol)
            if carried is None or carried[0] != date:
                continue
            for exchange, quote in carried[1].items():
                for c, v in zip(
                    PSEUDO_SCHEMA,
                    (symbol, date, ts, exchange, 0, *quote, True, False, True),
                    strict=True,
                ):
                    rows[c].append(v)
        pseudo = pl.DataFrame(rows, schema=PSEUDO_SCHEMA).with_columns(
            pl.lit(0, dtype=pl.UInt32).alias("_seq")
        )
        written = [(sym, day, *q) for sym, (day, q) in self._emitted.items()]
        last = pl.DataFrame(
            written,
            schema={
                "symbol": pl.String,
                "_seed_date": pl.Date,
                **{f"_seed{c}": pl.Float64 for c in NBBO_COLUMNS},
            },
            orient="row",
        )
        pseudo = pseudo.join(last, on="symbol", how="left", maintain_order="left")
        same_day = pl.col("_seed_date") == pl.col("date")
        return pseudo.with_columns(
            pl.when(same_day).then(pl.col(f"_seed{c}")).alias(f"_seed{c}") for c in NBBO_COLUMNS
        ).drop("_seed_date")

    def _keep_state(self, done: pl.DataFrame, exchanges: list[str]) -> None:
        """Keep each symbol-date's exchange quotes after its last row of the chunk (withdrawn ones left
        out), for the rows after."""
        for row in done.filter(pl.col("_end")).iter_rows(named=True):
            quotes: dict[str, Quote] = {}
            for i, x in enumerate(exchanges):
                q = (row[f"_b{i}"], row[f"_bs{i}"], row[f"_a{i}"], row[f"_as{i}"])
                if q[0] > 0 or q[2] < _INF:
                    quotes[x] = q
            self._state[row["symbol"]] = (row["date"], quotes)
