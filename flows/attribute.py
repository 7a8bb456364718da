"""The Prefect flow ``attribute`` and its steps: plan in the flow process, attribute batches of symbols anywhere, write.

1. :func:`plan_attribution` (flow process) reads the orders that arrived or traded on the date, their fills,
   the closing mids and the calibration a pre-trade model would have had (the latest *before* the date),
   and cuts them by symbol into :class:`AttributionBatch`es.
2. :func:`attribute_batch` (any worker) reads the batch's quotes and trades from the Parquet lake and runs
   ``tca.attribution.attribute_orders``.
3. The flow's writer task replaces the date's rows of ``attribution`` in one transaction.

A batch that raises is retried symbol by symbol (``flows.batches``); the orders of a symbol that still
fails get a row with ``status`` = ``failed`` and the error as ``reason``. The steps are plain functions; the
tasks below wrap them for the flows (this one, and ``flows.nightly``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl
from prefect import flow, task

from calibration.impact import schedule_gamma
from data.calendar import TradingClock, home_calendar
from data.home import KappaHome
from data.lake.files import reading_lake
from data.load_run import fault_point
from data.results import Results
from data.step_inputs import (
    ATTRIBUTION_QUOTE_COLUMNS,
    ATTRIBUTION_TRADE_COLUMNS,
    read_attribution_inputs,
    read_latest_schedules,
    scan_market,
)
from data.store import recorded_run
from flows.batches import Mapped, chunks, failures, final_state, warning
from flows.night_settings import NightSettings
from flows.runtime import run_name, task_runner_kind, threads
from flows.settings import DEFAULT_BATCH_SYMBOLS
from flows.tasks import IO_TASK, write_results_task
from kappa.units import BPS, DEFAULT_CALENDAR
from reports.tables import cell_text, usd_text
from tca.attribution import ATTRIBUTION_COLUMNS, TRACKING_COLUMNS, attribute_orders
from tca.tracking import track_orders

NO_SCHEDULES = pl.Schema([
    ("order_id", pl.String()), ("schedule_id", pl.String()), ("period", pl.Int32()), ("ts", pl.Datetime("ns")),
    ("holdings_shares", pl.Float64()), ("shares", pl.Float64()),
])  # fmt: skip
"""The columns of the schedules a batch carries (:func:`data.step_inputs.read_latest_schedules`)."""


@dataclass(frozen=True, slots=True)
class AttributionBatch:
    """The orders of ``symbols`` with everything their attribution needs but the market data (lake files):
    ``schedules`` holds the latest saved schedule of each order, its execution is tracked against."""

    date: dt.date
    symbols: tuple[str, ...]
    orders: pl.DataFrame
    fills: pl.DataFrame
    sessions: pl.DataFrame
    closes: pl.DataFrame
    params: pl.DataFrame
    quote_paths: tuple[str, ...]
    trade_paths: tuple[str, ...]
    calendar: str = DEFAULT_CALENDAR
    schedules: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=NO_SCHEDULES))

    def only(self, symbols: tuple[str, ...]) -> AttributionBatch:
        """The same batch restricted to ``symbols``."""
        keep = pl.col("symbol").is_in(list(symbols))
        orders = self.orders.filter(keep)
        ids = pl.col("order_id").is_in(orders["order_id"].implode())
        return replace(
            self,
            symbols=symbols,
            orders=orders,
            fills=self.fills.filter(ids),
            schedules=self.schedules.filter(ids),
            closes=self.closes.filter(keep),
            params=self.params.filter(keep),
        )

    def split(self) -> list[AttributionBatch]:
        """One batch per symbol (to isolate the symbol that made a batch fail)."""
        return [self.only((s,)) for s in self.symbols]


def plan_attribution(
    home: KappaHome,
    date: dt.date,
    *,
    batch_symbols: int = DEFAULT_BATCH_SYMBOLS,
    calendar: str = DEFAULT_CALENDAR,
) -> list[AttributionBatch]:
    """The batches of the attribution of ``date`` (none when no order arrived or traded that day); call it
    inside :func:`data.lake.files.reading_lake`, held until the batches are done (they read lake files).

    The model's γ follows the one rule of schedules (:func:`calibration.impact.schedule_gamma`): a
    wrong-sign estimate is judged as γ = 0, so a negative permanent impact never lowers E. Each order's
    latest saved schedule is read here too (the database is read in this process only), for the tracking.
    """
    inp = read_attribution_inputs(home, date, calendar)
    schedules = read_latest_schedules(home, inp.orders["order_id"].to_list())
    whole = AttributionBatch(
        date, (), inp.orders, inp.fills, inp.sessions, inp.closes, model_params(inp.params),
        tuple(inp.quote_paths), tuple(inp.trade_paths), calendar, schedules.cast(NO_SCHEDULES),
    )  # fmt: skip
    symbols = sorted(set(inp.orders["symbol"].to_list()))
    return [whole.only(group) for group in chunks(symbols, batch_symbols)]


def model_params(calibrations: pl.DataFrame) -> pl.DataFrame:
    """``symbol, calibration_as_of, sigma_usd, gamma, eta, epsilon_usd, sigma_overnight_usd`` with γ as a
    schedule takes it."""
    used = [
        schedule_gamma(g, se, st).gamma
        for g, se, st in calibrations.select("gamma", "gamma_se", "gamma_status").iter_rows()
    ]
    return calibrations.with_columns(pl.Series("gamma", used, dtype=pl.Float64)).drop(
        "gamma_se", "gamma_status"
    )


def attribute_batch(batch: AttributionBatch) -> pl.DataFrame:
    """The ``attribution`` rows of the batch's orders (without ``date`` and ``run_id``), with their tracking
    against their schedules (:func:`tca.tracking.track_orders`)."""
    symbols = list(batch.symbols)
    quotes = scan_market("quotes", list(batch.quote_paths), ATTRIBUTION_QUOTE_COLUMNS, symbols)
    trades = scan_market("trades", list(batch.trade_paths), ATTRIBUTION_TRADE_COLUMNS, symbols)
    clock = TradingClock(batch.calendar)
    rows = attribute_orders(
        batch.orders, batch.fills, quotes, trades, batch.sessions, batch.closes, batch.params, clock,
    )  # fmt: skip
    # the order's window in trading days: the horizon T its schedule in ``schedules`` was planned over
    horizon = clock.elapsed_days(pl.col("arrival_ts"), pl.col("end_ts")).alias("horizon_days")
    day = batch.sessions.filter(pl.col("date") == batch.date).row(0, named=True)
    tracked = track_orders(batch.orders, batch.fills, batch.schedules, day["open_ts"], day["close_ts"], clock)
    out = rows.with_columns(horizon, pl.lit(None, dtype=pl.String).alias("reason")).join(
        tracked, on="order_id", how="left", maintain_order="left"
    )
    fault_point("attribute_batch")
    return out


def failed_rows(batch: AttributionBatch, exc: BaseException) -> pl.DataFrame:
    """A row per order of a batch whose attribution raised: what was filled, ``failed``, and the error."""
    filled = batch.fills.group_by("order_id").agg(pl.col("quantity").sum().alias("filled_shares"))
    return batch.orders.join(filled, on="order_id", how="left").select(
        "order_id", "symbol", "side", "quantity", pl.col("filled_shares").fill_null(0.0),
        "broker", "algo", "trader", "arrival_ts", "end_ts", "decision_price",
        pl.lit("failed").alias("status"), pl.lit("failed").alias("model_status"),
        pl.lit(f"{type(exc).__name__}: {exc}"[:500]).alias("reason"),
    )  # fmt: skip


def join_rows(parts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The batches' rows as one frame ordered by order id (columns a failed batch lacks are null)."""
    columns = (*ATTRIBUTION_COLUMNS, "horizon_days", "reason", *TRACKING_COLUMNS)
    parts = [p for p in parts if p.height]
    if not parts:
        return pl.DataFrame(schema={c: pl.Null for c in columns})
    frame = pl.concat(parts, how="diagonal_relaxed")
    missing = [c for c in columns if c not in frame.columns]  # every batch failed
    return frame.with_columns(pl.lit(None).alias(c) for c in missing).select(*columns).sort("order_id")


def summary(rows: pl.DataFrame) -> str:
    """One line: orders, notional-weighted cost and the model's z statistics."""
    if not rows.height:
        return "no orders"
    costed = rows.filter(pl.col("total_usd").is_not_null())
    notional = float(costed["notional_usd"].to_numpy().sum())
    bps = BPS * float(costed["total_usd"].to_numpy().sum()) / notional if notional else float("nan")
    z = rows["z_score"].drop_nulls().to_numpy()
    zs = (
        f"z mean {z.mean():+.2f}, sd {z.std(ddof=1):.2f} over {z.size}" if z.size > 1 else "z: too few orders"
    )
    failed = rows.filter(pl.col("status") == "failed").height
    working = rows.filter(pl.col("status") == "working").height
    n = f"{rows.height} order{'' if rows.height == 1 else 's'}"
    return (
        f"{n}, {usd_text(notional, 0)} notional, cost {cell_text(bps, 'bps') or 'n/a'} bps; {zs}"
        + (f"; {working} still working (costed when complete)" if working else "")
        + (f"; {failed} failed" if failed else "")
    )


# ---------------------------------------------------------------------------------------------- tasks


@task(name="plan attribution", **IO_TASK)
def plan_attribution_task(
    home: KappaHome, date: dt.date, *, batch_symbols: int, calendar: str
) -> list[AttributionBatch]:
    """:func:`plan_attribution`, in the flow process (it reads the database)."""
    return plan_attribution(home, date, batch_symbols=batch_symbols, calendar=calendar)


@task(name="attribute batch", **IO_TASK)
def attribute_batch_task(batch: AttributionBatch) -> pl.DataFrame:
    """:func:`attribute_batch` on the task runner: reads the lake (hence the I/O retries), then attributes."""
    return attribute_batch(batch)


def submit_attribution(home: KappaHome, date: dt.date, settings: NightSettings) -> Mapped:
    """Plan the attribution of ``date`` with ``settings`` and submit its batches."""
    batches = plan_attribution_task(
        home, date, batch_symbols=settings.batch_symbols, calendar=settings.calendar
    )
    return Mapped.submit(attribute_batch_task, batches, failed_rows)


# ---------------------------------------------------------------------------------------------- flow


@flow(name="attribute", flow_run_name=run_name("attribute"), task_runner=threads())
def attribute(
    date: dt.date,
    home: str | None = None,
    batch_symbols: int = DEFAULT_BATCH_SYMBOLS,
    calendar: str | None = None,
) -> Any:
    """Attribute the orders that arrived or traded on ``date`` into ``attribution`` (rerun = replace).

    Returns the rows written (a ``Warning`` state carrying them if a symbol failed).
    """
    kh = KappaHome.resolve(home)
    settings = NightSettings.checked(
        home=str(kh.root), calendar=home_calendar(kh, calendar), batch_symbols=batch_symbols,
        task_runner=task_runner_kind(),
    )  # fmt: skip
    with recorded_run(kh, "attribute", settings.run_parameters(date=date)) as run_id:
        with reading_lake(kh):  # from the plan's manifest read until its batches have read their files
            parts, failed = submit_attribution(kh, date, settings).collect()
        rows = join_rows(parts)
        write_results_task(
            kh, run_id, Results(attribution=rows, attribution_date=date),
            message=summary(rows), status="warning" if failed else "success",
        )  # fmt: skip
    return final_state(
        rows.with_columns(date=pl.lit(date), run_id=pl.lit(run_id)),
        [warning(f) for f in failures("attribution", failed)],
    )
