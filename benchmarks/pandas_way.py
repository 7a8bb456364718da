"""The nightly written the way a pandas-based TCA tool does it, for the harness's side-by-side comparison.

Same inputs as Kappa (the size's drop folder and daily history), same outputs in substance, idiomatic
pandas and nothing tuned:

- ingest: ``pd.read_parquet`` per file, the row rules as boolean masks, ``sort_values``, append to one
  Parquet file per table (rejected rows are counted, not kept);
- calibration: batches of 250 symbols read with ``pd.read_parquet(filters=...)``, then the stages of
  :mod:`benchmarks.pandas_baseline` (``merge_asof``, ``groupby``/``last`` bars, a statsmodels loop per
  symbol, serial GARCH with ``arch``);
- attribution: ``merge_asof`` for the arrival, end and fill mids, and a loop over orders for the interval
  VWAP; it computes fewer columns than Kappa's (no TWAP, PWP, reversions or model verdict), so it flatters
  pandas;
- schedules: a Python loop over orders, each the exact discrete closed form in numpy.

The report has no pandas version: the harness counts Kappa's report time for it.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import pandas_baseline as pb
from benchmarks.config import BATCH_SYMBOLS, DAY
from benchmarks.datasets import Dataset
from kappa.units import BPS, BUCKETS_PER_SESSION, SESSION_SECONDS


def _sessions(days: list[dt.date]) -> pd.DataFrame:
    from data.calendar import session_bounds

    s = session_bounds(min(days), max(days)).to_pandas()
    return s.astype({"date": "datetime64[ns]", "open_ts": "datetime64[ns]", "close_ts": "datetime64[ns]"})


def _valid_market(df: pd.DataFrame, table: str, sessions: pd.DataFrame) -> pd.DataFrame:
    """The rows that pass the row rules, with their session ``date``."""
    ok = df["symbol"].notna() & df["ts"].notna()
    cols = ["bid", "ask", "bid_size", "ask_size"] if table == "quotes" else ["price", "size"]
    for c in cols:
        ok &= df[c].notna() & np.isfinite(df[c]) & (df[c] > 0)
    if table == "quotes":
        ok &= df["bid"] <= df["ask"]
    df = df[ok]
    local = df["ts"].dt.tz_localize("UTC").dt.tz_convert("America/New_York")
    df = df.assign(date=local.dt.normalize().dt.tz_localize(None))
    df = df.merge(sessions, on="date", how="inner")
    df = df[(df["ts"] >= df["open_ts"]) & (df["ts"] <= df["close_ts"])]
    if table == "trades":
        df = df.drop_duplicates(["symbol", "trade_id"])
    return df.drop(columns=["open_ts", "close_ts"])


def ingest_pandas(data: Dataset, out: Path) -> dict[str, float]:
    """Load the drop folder into ``out``; seconds per table."""
    sessions = _sessions([DAY, DAY + dt.timedelta(days=1)])
    t: dict[str, float] = {}
    for table in ("quotes", "trades"):
        t0 = time.perf_counter()
        writer = None
        for f in data.files(table):
            df = _valid_market(pd.read_parquet(f), table, sessions).sort_values(["symbol", "ts"])
            arrow = pa.Table.from_pandas(df, preserve_index=False)
            writer = writer or pq.ParquetWriter(out / f"{table}.parquet", arrow.schema, compression="zstd")
            writer.write_table(arrow)
        assert writer is not None
        writer.close()
        t[f"ingest_{table}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    orders = pd.concat(
        [
            pd.read_parquet(data.folder / "base" / "orders.parquet"),
            *map(pd.read_parquet, data.files("orders")),
        ]
    )
    orders = orders[(orders["quantity"] > 0) & (orders["end_ts"] >= orders["arrival_ts"])]
    orders = orders.drop_duplicates("order_id", keep="last")
    orders.to_parquet(out / "orders.parquet")
    fills = pd.concat([pd.read_parquet(f) for f in data.files("fills")])
    fills = fills[(fills["quantity"] > 0) & (fills["price"] > 0) & fills["order_id"].isin(orders["order_id"])]
    fills.drop_duplicates("fill_id").to_parquet(out / "fills.parquet")
    t["ingest_orders_fills"] = time.perf_counter() - t0
    return t


def calibrate_pandas(data: Dataset, lake: Path) -> dict[str, float]:
    """The calibration stages over batches of symbols; seconds per stage, summed over batches."""
    sessions = _sessions([DAY])
    orders = pd.read_parquet(lake / "orders.parquet")
    fills = pd.read_parquet(lake / "fills.parquet").merge(
        orders[["order_id", "symbol", "side", "arrival_ts"]], on="order_id"
    )
    daily = pd.read_parquet(data.folder / "base" / "daily.parquet")
    symbols = sorted(daily["symbol"].unique())
    t = dict.fromkeys(("read", "signs", "bars", "realized", "gamma", "eta", "garch"), 0.0)
    for i in range(0, len(symbols), BATCH_SYMBOLS):
        batch = symbols[i : i + BATCH_SYMBOLS]
        t0 = time.perf_counter()
        filters = [("symbol", "in", batch)]
        q = pd.read_parquet(
            lake / "quotes.parquet", columns=["symbol", "date", "ts", "bid", "ask"], filters=filters
        )
        tr = pd.read_parquet(
            lake / "trades.parquet", columns=["symbol", "date", "ts", "price", "size"], filters=filters
        )
        t["read"] += time.perf_counter() - t0
        laps = [time.perf_counter()]
        signed = pb.signs_pandas(tr, q)
        laps.append(time.perf_counter())
        mids = pb.bucket_mids_pandas(q, sessions)
        laps.append(time.perf_counter())
        pb.realized_sigma_pandas(mids)
        laps.append(time.perf_counter())
        pb.gamma_pandas(mids, signed, sessions)
        laps.append(time.perf_counter())
        pb.eta_pandas(fills[fills["symbol"].isin(batch)], q)
        laps.append(time.perf_counter())
        pb.garch_serial(daily[daily["symbol"].isin(batch)])
        laps.append(time.perf_counter())
        for stage, a, b in zip(
            ("signs", "bars", "realized", "gamma", "eta", "garch"), laps, laps[1:], strict=False
        ):
            t[stage] += b - a
    return t


def attribute_pandas(lake: Path) -> float:
    """Arrival and end mids, fill VWAP, interval VWAP and arrival shortfall per order of the day; seconds."""
    t0 = time.perf_counter()
    orders = pd.read_parquet(lake / "orders.parquet")
    orders = orders[orders["arrival_ts"].dt.date == DAY]
    fills = pd.read_parquet(lake / "fills.parquet")
    syms = sorted(orders["symbol"].unique())
    q = pd.read_parquet(
        lake / "quotes.parquet", columns=["symbol", "ts", "bid", "ask"], filters=[("symbol", "in", syms)]
    )
    q = q.assign(mid=(q["bid"] + q["ask"]) / 2)[["symbol", "ts", "mid"]].sort_values("ts")
    tr = pd.read_parquet(
        lake / "trades.parquet", columns=["symbol", "ts", "price", "size"], filters=[("symbol", "in", syms)]
    )
    o = pd.merge_asof(orders.sort_values("arrival_ts"), q.rename(columns={"ts": "arrival_ts", "mid": "arrival_mid"}),
                      on="arrival_ts", by="symbol")  # fmt: skip
    o = pd.merge_asof(o.sort_values("end_ts"), q.rename(columns={"ts": "end_ts", "mid": "end_mid"}),
                      on="end_ts", by="symbol")  # fmt: skip
    f = fills.merge(orders[["order_id", "symbol"]], on="order_id").sort_values("ts")
    f = pd.merge_asof(
        f, q.rename(columns={"mid": "fill_mid"}), on="ts", by="symbol", allow_exact_matches=False
    )
    f["notional"] = f["price"] * f["quantity"]
    per = f.groupby("order_id").agg(filled=("quantity", "sum"), notional=("notional", "sum"))
    o = o.merge(per, left_on="order_id", right_index=True, how="left")
    by_symbol = {s: g for s, g in tr.groupby("symbol")}
    vwaps = []
    for row in o.itertuples():
        g = by_symbol.get(row.symbol)
        if g is None:
            vwaps.append(np.nan)
            continue
        w = g[(g["ts"] >= row.arrival_ts) & (g["ts"] <= row.end_ts)]
        vol = w["size"].sum()
        vwaps.append((w["price"] * w["size"]).sum() / vol if vol > 0 else np.nan)
    o["interval_vwap"] = vwaps
    sign = np.where(o["side"] == "buy", 1.0, -1.0)
    o["fill_vwap"] = o["notional"] / o["filled"]
    o["shortfall_usd"] = sign * (o["fill_vwap"] - o["arrival_mid"]) * o["filled"]
    o["slippage_vwap_bps"] = BPS * sign * (o["fill_vwap"] - o["interval_vwap"]) / o["interval_vwap"]
    return time.perf_counter() - t0


def schedules_pandas(lake: Path, calibrations: pd.DataFrame) -> float:
    """The exact discrete Almgren-Chriss holdings of each pending order, one order at a time; seconds.

    κ from (2/τ²)(cosh κτ − 1) = λσ²/η̃ (Almgren & Chriss 2000, eq. 19), x_j = X·sinh(κ(T − t_j))/sinh(κT).
    """
    t0 = time.perf_counter()
    orders = pd.read_parquet(lake / "orders.parquet")
    orders = orders[orders["arrival_ts"].dt.date > DAY].merge(calibrations, on="symbol")
    out = []
    for o in orders.itertuples():
        horizon = (o.end_ts - o.arrival_ts).total_seconds() / SESSION_SECONDS
        n = max(1, round(BUCKETS_PER_SESSION * horizon))
        tau = horizon / n
        eta_tilde = o.eta - 0.5 * max(o.gamma, 0.0) * tau
        lam = o.risk_aversion if o.risk_aversion == o.risk_aversion else 0.0
        k_tilde = math.sqrt(lam * o.sigma_usd**2 / eta_tilde) if eta_tilde > 0 else 0.0
        kappa = 2.0 / tau * math.asinh(k_tilde * tau / 2.0)
        t = tau * np.arange(n + 1)
        x = (o.quantity * np.sinh(kappa * (horizon - t)) / np.sinh(kappa * horizon) if kappa > 0
             else o.quantity * (horizon - t) / horizon)  # fmt: skip
        out.append(x)
    return time.perf_counter() - t0
