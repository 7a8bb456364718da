"""The pandas baseline of :mod:`benchmarks.csv_day`: a CSV day read, checked and calibrated in one process.

Usage::

    python -m benchmarks.csv_day_pandas FOLDER OUT.csv   # prints its stage timings as JSON

What a plain pandas script does with the same files, nothing tuned: ``pd.read_csv`` of every file,
``pd.to_datetime`` of the ISO-8601 timestamps, the row rules as boolean masks (finite positive prices and
sizes, bid ≤ ask, a session date and the regular session, no repeated trade ids, orders with a quantity and an
end after the arrival, fills of known orders; :func:`benchmarks.pandas_way._valid_market`), then the
calibration's stages of :mod:`benchmarks.pandas_baseline`: ``merge_asof`` for the prevailing quote and the
Lee-Ready sign, ``groupby`` 5-minute bars, realized σ, γ by statsmodels OLS (Newey-West) and η by WLS per
symbol, and one ``arch`` GARCH(1,1) fit per symbol on the daily closes (``daily.csv`` and the day's last mid).

Kappa stores what it loads (a Parquet lake, DuckDB tables, a quarantine of every rejected row, the flags of
the tape cleaning); this script keeps everything in memory and stores only the calibration: it flatters
pandas.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import pandas_baseline as pb
from benchmarks.config import DAY
from benchmarks.pandas_way import _sessions, _valid_market


def _utc(text: pd.Series) -> pd.Series:
    """ISO-8601 text with a UTC offset -> tz-naive UTC ``datetime64[ns]``."""
    return pd.to_datetime(text, format="ISO8601", utc=True).dt.tz_convert(None)


def run(folder: Path, out: Path) -> dict[str, float]:
    """Read, check and calibrate the CSV day in ``folder``, the calibration to ``out``; wall seconds per
    stage, and the process's CPU seconds (user + system) as ``<stage>_cpu``."""
    t: dict[str, float] = {}
    last, last_cpu = time.perf_counter(), time.process_time()

    def lap(stage: str) -> None:
        nonlocal last, last_cpu
        now, now_cpu = time.perf_counter(), time.process_time()
        t[stage], t[f"{stage}_cpu"] = now - last, now_cpu - last_cpu
        last, last_cpu = now, now_cpu

    sessions = _sessions([DAY])
    quotes = pd.read_csv(folder / "quotes.csv")
    quotes["ts"] = _utc(quotes["ts"])
    quotes = _valid_market(quotes, "quotes", sessions)
    lap("quotes")
    trades = pd.read_csv(folder / "trades.csv")
    trades["ts"] = _utc(trades["ts"])
    trades = _valid_market(trades, "trades", sessions)
    lap("trades")
    orders = pd.read_csv(folder / "orders.csv")
    for c in ("arrival_ts", "end_ts", "decision_ts"):
        orders[c] = _utc(orders[c])
    orders = orders[
        orders["order_id"].notna() & orders["symbol"].notna() & orders["side"].isin(["buy", "sell"])
        & (orders["quantity"] > 0) & (orders["end_ts"] >= orders["arrival_ts"])
    ].drop_duplicates("order_id")  # fmt: skip
    lap("orders")
    fills = pd.read_csv(folder / "fills.csv")
    fills["ts"] = _utc(fills["ts"])
    fills = fills[
        (fills["quantity"] > 0) & (fills["price"] > 0) & np.isfinite(fills["price"])
        & fills["order_id"].isin(orders["order_id"])
    ].drop_duplicates("fill_id")  # fmt: skip
    fills = fills.merge(orders[["order_id", "symbol", "side", "arrival_ts"]], on="order_id")
    lap("fills")
    daily = pd.read_csv(folder / "daily.csv", parse_dates=["date"])
    daily = daily[daily["symbol"].notna() & np.isfinite(daily["close"]) & (daily["close"] > 0)]
    daily = daily.drop_duplicates(["symbol", "date"])
    lap("daily")
    signed = pb.signs_pandas(trades, quotes)
    lap("signs")
    mids = pb.bucket_mids_pandas(quotes, sessions)
    lap("bars")
    sigma = pb.realized_sigma_pandas(mids)
    lap("realized")
    gamma = pb.gamma_pandas(mids, signed, sessions)
    lap("gamma")
    eta = pb.eta_pandas(fills, quotes)
    lap("eta")
    close = (
        quotes.sort_values("ts").groupby("symbol", as_index=False).last()
        .assign(close=lambda q: (q["bid"] + q["ask"]) / 2)[["symbol", "date", "close"]]
    )  # fmt: skip
    garch = pb.garch_serial(pd.concat([daily[["symbol", "date", "close"]], close]))
    lap("garch")
    result = sigma.merge(gamma, on="symbol", how="outer").merge(eta, on="symbol", how="outer")
    result.merge(garch, on="symbol", how="outer").to_csv(out, index=False)
    lap("write")
    t["rows_quotes"], t["rows_trades"], t["symbols"] = len(quotes), len(trades), len(result)
    return t


def main() -> None:
    t0 = time.perf_counter()
    timings = run(Path(sys.argv[1]), Path(sys.argv[2]))
    timings["total"] = time.perf_counter() - t0
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
