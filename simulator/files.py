"""The writer of a simulated dataset: one folder per session in the input contract, plus the truth."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from data.calendar import exchange_timezone
from simulator.history import daily_history
from simulator.market import SimDay, simulate_days
from simulator.truth import truth
from simulator.universe import SimConfig


def _ts_out(frame: pl.DataFrame, ts_format: str, tz: str) -> pl.DataFrame:
    cols = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime)]
    if ts_format == "ns":
        return frame.with_columns(pl.col(cols).cast(pl.Int64))
    return frame.with_columns(
        pl.col(cols)
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(tz)
        .dt.strftime("%Y-%m-%dT%H:%M:%S%.9f%:z")
    )


def write_dataset(
    cfg: SimConfig, out: Path, *, fmt: str = "csv", ts_format: str = "iso", days: list[SimDay] | None = None
) -> list[dt.date]:
    """Simulate ``cfg`` and write it in the input contract, one folder per session, plus the truth.

    Layout (the nightly inbox layout)::

        out/YYYY-MM-DD/{quotes,trades,orders,fills}.{csv|parquet}
        out/daily.{csv|parquet}     history before the first session (if ``history_days``)
        out/truth.json

    ``ts_format`` is ``iso`` (ISO-8601 with the exchange's UTC offset, nanoseconds) or ``ns`` (integers).
    Fills carry an extra column ``rate_shares_per_day``, the child's true trading rate n/τ.
    """
    out.mkdir(parents=True, exist_ok=True)
    tz = exchange_timezone(cfg.calendar)
    days = days if days is not None else simulate_days(cfg)
    for d in days:
        folder = out / d.date.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("quotes", "trades", "orders", "fills"):
            frame = _ts_out(getattr(d, name), ts_format, tz)
            _write(frame, folder / f"{name}.{fmt}", fmt)
    if cfg.history_days and days:
        hist = daily_history(cfg.symbols, days[0].date, cfg.history_days, cfg.seed + 1, cfg.calendar)
        _write(hist, out / f"daily.{fmt}", fmt)
    (out / "truth.json").write_text(json.dumps(truth(cfg), indent=2, default=str))
    return [d.date for d in days]


def _write(frame: pl.DataFrame, path: Path, fmt: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    if fmt == "parquet":
        frame.write_parquet(tmp)
    else:
        frame.write_csv(tmp, float_precision=None)
    tmp.replace(path)
