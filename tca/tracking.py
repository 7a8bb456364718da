"""Execution against schedule: an order's filled path beside its saved Almgren-Chriss schedule, in trading time.

A schedule stored in ``schedules`` gives, for k = 0..M, the end t_k of period k as an instant (``ts``) and the
holdings x_k still to trade (``holdings_shares``, magnitudes: x_0 = X, x_M = 0). Within a period the
Almgren-Chriss trader sells (or buys) at the constant rate n_k/τ (Almgren & Chriss 2000, §1: "the average rate
of trading during the time interval t_{k−1} to t_k"), so the holdings are linear in *trading* time θ between
period ends, and the shares the schedule has executed by an instant t are

    S(t) = X − x(t),  x(t) = x_{k−1} + (x_k − x_{k−1}) · (θ(t) − θ_{k−1}) / (θ_k − θ_{k−1})  for θ_{k−1} ≤ θ(t) ≤ θ_k,

with S = 0 before t_0 and S = X after t_M. θ is the session time of the exchange (the one trading clock of the
attribution, :class:`kappa.clock.Clock`): a night, a weekend or a holiday executes nothing. The filled path
is F(t) = Σ of the order's fills with ts ≤ t (a fill exactly at a period end counts in that period).

For an order attributed on a session (one ``attribution`` row per order × session, :func:`track_orders`):

* ``scheduled_filled_shares`` = S(t*), the instant t* being the order's completion (its last fill, when it
  has filled its quantity by the session's close) and otherwise the session's close: where a working order
  stands at the end of the day, or how early a complete one finished.
* ``ahead_of_schedule_shares`` = F(t*) − S(t*) (F(t*) is the row's ``filled_shares``): > 0 ahead of the
  schedule, < 0 behind it.
* ``tracking_error_shares`` = √(mean_k (F(t_k) − S(t_k))²) over the period ends k ≥ 1 with
  open ≤ t_k ≤ close of the session (each period end counts on the one session it falls in; NULL when none
  does), and ``tracking_error_pct`` = it / the order's quantity × 100.

An order without a schedule, or whose schedule has no start (``ts`` NULL: planned without one), gets NULL
numbers; the second keeps its ``schedule_id``.

Everything is vectorised over orders: as-of joins by order on trading time and on instants, no loop.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from kappa.clock import Clock

_NS = pl.Datetime("ns")


def schedule_path(schedules: pl.DataFrame, clock: Clock) -> pl.DataFrame:
    """Each timed schedule's executed shares at its period ends, on the trading clock.

    Parameters
    ----------
    schedules
        ``order_id, schedule_id, period, ts, holdings_shares, shares``: rows k = 0..M of one schedule per
        order (``ts`` tz-naive UTC; a schedule with a NULL ``ts`` has no start and is left out).
    clock
        The trading clock (``data.calendar.TradingClock``).

    Returns
    -------
    polars.DataFrame
        ``order_id, schedule_id, period, ts, theta, executed, theta_next, executed_next, shares`` sorted by
        order and period: ``theta`` trading days since the schedule's start t_0, ``executed`` = X − x_k
        (shares), and the next period end's (NULL after the last).

    Raises
    ------
    ValueError
        If an order has rows of more than one schedule.
    """
    s = schedules.select(
        "order_id", "schedule_id", pl.col("period").cast(pl.Int64), pl.col("ts").cast(_NS),
        pl.col("holdings_shares").cast(pl.Float64), pl.col("shares").cast(pl.Float64),
    ).filter(pl.col("order_id").is_not_null())  # fmt: skip
    if s.group_by("order_id").agg(pl.col("schedule_id").n_unique().alias("n")).filter(pl.col("n") > 1).height:
        raise ValueError("track one schedule per order: pass the latest schedule of each order only")
    s = s.filter(pl.col("ts").is_not_null().all().over("order_id")).sort("order_id", "period")
    s = s.with_columns(pl.col("ts").first().over("order_id").alias("_t0"))
    s = s.with_columns(
        clock.elapsed_days(pl.col("_t0"), pl.col("ts")).alias("theta"),
        (pl.col("shares") - pl.col("holdings_shares")).alias("executed"),
    )
    return s.with_columns(
        pl.col("theta").shift(-1).over("order_id").alias("theta_next"),
        pl.col("executed").shift(-1).over("order_id").alias("executed_next"),
    ).select("order_id", "schedule_id", "period", "ts", "_t0", "theta", "executed", "theta_next",
             "executed_next", "shares")  # fmt: skip


def scheduled_shares(
    events: pl.DataFrame, at: str, path: pl.DataFrame, clock: Clock, name: str
) -> pl.DataFrame:
    """``events`` with ``name`` = S(``at``): the shares the order's schedule had executed by that instant.

    Parameters
    ----------
    events
        ``order_id`` and the instant column ``at`` (tz-naive UTC), any number of rows per order.
    at
        The instant's column.
    path
        :func:`schedule_path` of the orders' schedules.
    clock
        The trading clock the path was built with.
    name
        The output column (shares; NULL for an order without a timed schedule or a NULL instant).

    Notes
    -----
    Linear in trading time between period ends (constant rate within a period, Almgren & Chriss 2000, §1),
    0 before the start, X after the last period end. One as-of join by order on θ, no loop.
    """
    starts = path.group_by("order_id").agg(pl.col("_t0").first(), pl.col("shares").first().alias("_X"))
    e = events.with_row_index("_row").join(starts, on="order_id", how="left")
    e = e.with_columns(clock.elapsed_days(pl.col("_t0"), pl.col(at).cast(_NS)).alias("_theta"))
    right = path.select("order_id", "theta", "executed", "theta_next", "executed_next").sort(
        "order_id", "theta"
    )
    j = (
        e.filter(pl.col("_theta").is_not_null())
        .sort("order_id", "_theta")
        .join_asof(
            right,
            left_on="_theta",
            right_on="theta",
            by="order_id",
            strategy="backward",
            check_sortedness=False,
        )
    )
    span = pl.col("theta_next") - pl.col("theta")
    interpolated = (
        pl.col("executed")
        + (pl.col("executed_next") - pl.col("executed")) * (pl.col("_theta") - pl.col("theta")) / span
    )
    value = (
        pl.when(pl.col("theta").is_null())  # before the start
        .then(0.0)
        .when(pl.col("theta_next").is_null())  # at or after the last period end
        .then(pl.col("_X"))
        .when(span <= 0)
        .then(pl.col("executed_next"))
        .otherwise(interpolated)
        .alias(name)
    )
    j = j.select("_row", value)
    return e.join(j, on="_row", how="left").sort("_row").drop("_row", "_t0", "_X", "_theta")


def filled_path(fills: pl.DataFrame) -> pl.DataFrame:
    """F(t): ``order_id, ts, filled`` = the order's cumulative filled shares after each distinct fill time
    (fills at one instant summed), by order and time."""
    return (
        fills.select("order_id", pl.col("ts").cast(_NS), pl.col("quantity").cast(pl.Float64))
        .group_by("order_id", "ts")
        .agg(pl.col("quantity").sum())
        .sort("order_id", "ts")
        .with_columns(pl.col("quantity").cum_sum().over("order_id").alias("filled"))
        .drop("quantity")
    )


def filled_shares(events: pl.DataFrame, at: str, fills: pl.DataFrame, name: str) -> pl.DataFrame:
    """``events`` with ``name`` = F(``at``), the shares the order had filled with ts ≤ ``at`` (0 before its
    first fill; NULL for a NULL instant)."""
    f = filled_path(fills).rename({"ts": "_fts"})
    e = events.with_row_index("_row").with_columns(pl.col(at).cast(_NS).alias("_at"))
    j = (
        e.filter(pl.col("_at").is_not_null())
        .sort("order_id", "_at")
        .join_asof(
            f, left_on="_at", right_on="_fts", by="order_id", strategy="backward", check_sortedness=False
        )
        .select("_row", pl.col("filled").fill_null(0.0).alias(name))
    )
    return e.join(j, on="_row", how="left").sort("_row").drop("_row", "_at")


def track_orders(
    orders: pl.DataFrame,
    fills: pl.DataFrame,
    schedules: pl.DataFrame,
    open_ts: dt.datetime,
    close_ts: dt.datetime,
    clock: Clock,
) -> pl.DataFrame:
    """The tracking columns of ``attribution`` for the orders attributed on one session.

    Parameters
    ----------
    orders
        ``order_id, quantity`` (shares) of the orders attributed on the session.
    fills
        ``order_id, ts, quantity`` of their fills (magnitudes; those after ``close_ts`` are ignored).
    schedules
        ``order_id, schedule_id, period, ts, holdings_shares, shares``: the schedule each order is tracked
        against (its latest saved one), one per order at most.
    open_ts, close_ts
        The session's open and close (tz-naive UTC).
    clock
        The trading clock of the attribution (``data.calendar.TradingClock``).

    Returns
    -------
    polars.DataFrame
        ``order_id`` and :data:`tca.attribution.TRACKING_COLUMNS` per order of ``orders``, in its order:
        ``schedule_id``, ``scheduled_filled_shares`` S(t*), ``ahead_of_schedule_shares`` F(t*) − S(t*) and
        ``tracking_error_shares`` (shares), ``tracking_error_pct`` (% of the quantity); see the module's
        definitions. NULL numbers without a timed schedule; NULL tracking error without a period end in the
        session.

    Raises
    ------
    ValueError
        If an order has rows of more than one schedule.
    """
    close = pl.lit(close_ts).cast(_NS)
    fills = fills.with_columns(pl.col("ts").cast(_NS)).filter(pl.col("ts") <= close)
    path = schedule_path(schedules, clock)
    ids = (
        schedules.filter(pl.col("order_id").is_not_null())
        .group_by("order_id")
        .agg(pl.col("schedule_id").first())
    )
    per = fills.group_by("order_id").agg(
        pl.col("quantity").cast(pl.Float64).sum().alias("_filled"), pl.col("ts").max().alias("_last")
    )
    o = orders.select("order_id", pl.col("quantity").cast(pl.Float64)).with_row_index("_i")
    o = o.join(per, on="order_id", how="left")
    complete = pl.col("_filled").fill_null(0.0) >= pl.col("quantity")
    o = o.with_columns(pl.when(complete).then(pl.col("_last")).otherwise(close).alias("_then"))
    o = filled_shares(o, "_then", fills, "_F")
    o = scheduled_shares(o, "_then", path, clock, "scheduled_filled_shares")
    ends = path.filter(
        (pl.col("period") >= 1) & pl.col("ts").is_between(pl.lit(open_ts).cast(_NS), close)
    ).select("order_id", "ts", "executed")
    ends = filled_shares(ends.join(o.select("order_id"), on="order_id"), "ts", fills, "_F")
    rms = ends.group_by("order_id").agg(
        ((pl.col("_F") - pl.col("executed")) ** 2).mean().sqrt().alias("tracking_error_shares")
    )
    o = o.join(ids, on="order_id", how="left").join(rms, on="order_id", how="left").sort("_i")
    return o.select(
        "order_id", "schedule_id", "scheduled_filled_shares",
        (pl.col("_F") - pl.col("scheduled_filled_shares")).alias("ahead_of_schedule_shares"),
        "tracking_error_shares",
        (pl.col("tracking_error_shares") / pl.col("quantity") * 100.0).alias("tracking_error_pct"),
    )  # fmt: skip
