"""The floor of each nightly step: the fastest single-tool version (DuckDB or polars), nothing else.

A floor does the step's essential work on the same inputs and produces the same kind of output, with none
of what makes Kappa a product: no quarantine rows, no runs or manifest, no crash safety, no statuses or
standard errors, no Newey-West, no two-scales estimator. Where DuckDB and polars both do a step well, both
are timed and the faster counts. Market steps run over the same batches of 250 symbols as Kappa's (so
memory stays bounded); only the work is timed, not reading the batch.

- ingest: DuckDB ``COPY`` of the drop folder's Parquet, filtered by the row rules, sorted by symbol and
  time, to one zstd Parquet file per table; orders and fills into DuckDB tables;
- as-of join: each trade's prevailing mid (last quote strictly before) and its quote-rule sign;
- bars and 5-minute realized variance: the last mid of each 5-minute bucket, then Σ r² per symbol;
- regressions: γ (bucket Δmid on net signed volume) and η (fill cost on child rate) as closed-form OLS
  slopes in one ``group_by``;
- GARCH: plain ``arch`` fits and forecasts on a process pool of every core (Kappa adds standard errors,
  the forecast's delta-method error and status checks);
- schedules: the exact discrete closed form for every pending order at once in numpy;
- attribution: one DuckDB query (as-of mids, fill VWAP, interval VWAP, arrival shortfall);
- report: the attribution rows as an HTML table.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from benchmarks.config import BATCH_SYMBOLS, DAY
from benchmarks.datasets import Dataset
from kappa.units import BUCKET_NS, BUCKETS_PER_SESSION


def _session() -> tuple[object, object]:
    from data.calendar import session_bounds

    s = session_bounds(DAY, DAY)
    return s["open_ts"][0], s["close_ts"][0]


def _paths(files: list[Path]) -> str:
    return "[" + ", ".join(f"'{f}'" for f in files) + "]"


def ingest_floor(data: Dataset, out: Path) -> dict[str, float]:
    """Seconds per table; the lake files land in ``out``."""
    open_ts, close_ts = _session()
    con = duckdb.connect(str(out / "floor.duckdb"))
    con.execute(f"SET temp_directory = '{out / 'tmp'}'")
    rules = {
        "quotes": "bid > 0 AND ask > 0 AND bid_size > 0 AND ask_size > 0 AND bid <= ask",
        "trades": "price > 0 AND size > 0",
    }
    t: dict[str, float] = {}
    for table, rule in rules.items():
        t0 = time.perf_counter()
        con.execute(
            f"""COPY (SELECT *, DATE '{DAY}' AS date FROM read_parquet({_paths(data.files(table))})
                WHERE symbol IS NOT NULL AND ts BETWEEN '{open_ts}' AND '{close_ts}' AND {rule}
                ORDER BY symbol, ts) TO '{out / table}.parquet' (FORMAT parquet, COMPRESSION zstd)"""
        )
        t[f"ingest_{table}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    orders = [data.folder / "base" / "orders.parquet", *data.files("orders")]
    con.execute(f"CREATE TABLE orders AS SELECT * FROM read_parquet({_paths(orders)}) WHERE quantity > 0")
    con.execute(
        f"""CREATE TABLE fills AS SELECT * FROM read_parquet({_paths(data.files("fills"))})
            WHERE quantity > 0 AND price > 0 AND order_id IN (SELECT order_id FROM orders)"""
    )
    t["ingest_orders_fills"] = time.perf_counter() - t0
    con.close()
    return t


def _batch(lake: Path, batch: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    def read(table: str, cols: list[str]) -> pl.DataFrame:
        return (
            pl.scan_parquet(lake / f"{table}.parquet")
            .select(cols)
            .filter(pl.col("symbol").is_in(batch))
            .collect()
        )

    return read("quotes", ["symbol", "ts", "bid", "ask"]), read("trades", ["symbol", "ts", "price", "size"])


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _asof_polars(q: pl.DataFrame, t: pl.DataFrame) -> pl.DataFrame:
    mids = q.select("symbol", "ts", ((pl.col("bid") + pl.col("ask")) / 2).alias("mid"))
    j = t.join_asof(mids, on="ts", by="symbol", strategy="backward", allow_exact_matches=False,
                    check_sortedness=False)  # fmt: skip
    return j.with_columns((pl.col("price") - pl.col("mid")).sign().alias("sign"))


def _asof_duckdb(q: pl.DataFrame, t: pl.DataFrame) -> pl.DataFrame:
    con = duckdb.connect()
    con.register("q", q)
    con.register("t", t)
    out = con.sql(
        """SELECT t.*, (q.bid + q.ask) / 2 AS mid, sign(t.price - (q.bid + q.ask) / 2) AS sign
           FROM t ASOF LEFT JOIN q ON t.symbol = q.symbol AND t.ts > q.ts"""
    ).pl()
    con.close()
    return out


def _bars_rv_polars(q: pl.DataFrame, open_ns: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    offset = pl.col("ts").dt.epoch("ns") - open_ns
    bars = (
        q.with_columns(
            pl.when(offset <= 0).then(0).otherwise((offset + BUCKET_NS - 1) // BUCKET_NS).alias("bucket"),
            ((pl.col("bid") + pl.col("ask")) / 2).alias("mid"),
        )
        .group_by("symbol", "bucket")
        .agg(pl.col("mid").last())
        .sort("symbol", "bucket")
    )
    r = (pl.col("mid") / pl.col("mid").shift(1).over("symbol")).log()
    rv = bars.with_columns(r.alias("r")).group_by("symbol").agg((pl.col("r") ** 2).sum().alias("rv"))
    return bars, rv


def _bars_rv_duckdb(q: pl.DataFrame, open_ns: int) -> pl.DataFrame:
    con = duckdb.connect()
    con.register("q", q)
    out = con.sql(
        f"""WITH b AS (
              SELECT symbol, greatest(0, (epoch_ns(ts) - {open_ns} + {BUCKET_NS - 1}) // {BUCKET_NS}) AS bucket,
                     arg_max((bid + ask) / 2, ts) AS mid FROM q GROUP BY ALL),
            r AS (SELECT symbol, bucket, mid, ln(mid / lag(mid) OVER (PARTITION BY symbol ORDER BY bucket)) AS r FROM b)
            SELECT symbol, sum(r * r) AS rv FROM r GROUP BY symbol"""
    ).pl()
    con.close()
    return out


def _slope(x: str, y: str) -> pl.Expr:
    dx, dy = pl.col(x) - pl.col(x).mean(), pl.col(y) - pl.col(y).mean()
    return ((dx * dy).sum() / (dx * dx).sum()).alias("slope")


def _gamma(bars: pl.DataFrame, signed: pl.DataFrame, open_ns: int) -> pl.DataFrame:
    offset = pl.col("ts").dt.epoch("ns") - open_ns
    vol = (
        signed.with_columns(((offset + BUCKET_NS - 1) // BUCKET_NS).clip(1).alias("bucket"))
        .group_by("symbol", "bucket")
        .agg((pl.col("sign") * pl.col("size")).sum().alias("v"))
    )
    ret = bars.with_columns((pl.col("mid") - pl.col("mid").shift(1).over("symbol")).alias("dmid"))
    reg = ret.join(vol, on=["symbol", "bucket"], how="left").with_columns(pl.col("v").fill_null(0.0))
    return reg.drop_nulls("dmid").group_by("symbol").agg(_slope("v", "dmid"))


def _eta(fills: pl.DataFrame, q: pl.DataFrame) -> pl.DataFrame:
    mids = q.select("symbol", "ts", ((pl.col("bid") + pl.col("ask")) / 2).alias("mid"))
    f = fills.sort("symbol", "ts").join_asof(mids, on="ts", by="symbol", strategy="backward",
                                            allow_exact_matches=False, check_sortedness=False)  # fmt: skip
    prev = pl.col("ts").shift(1).over("order_id", order_by="ts").fill_null(pl.col("arrival_ts"))
    f = f.with_columns(
        (pl.col("quantity") / ((pl.col("ts") - prev).dt.total_nanoseconds() / 2.34e13)).alias("rate"),
        (
            pl.when(pl.col("side") == "buy").then(1.0).otherwise(-1.0) * (pl.col("price") - pl.col("mid"))
        ).alias("cost"),
    ).filter(pl.col("rate").is_finite(), pl.col("cost").is_not_null())
    return f.group_by("symbol").agg(_slope("rate", "cost"))


def market_floor(lake: Path) -> dict[str, float]:
    """Reading the batches, the as-of join, bars + realized variance and the regressions, summed over batches."""
    open_ts, _ = _session()
    open_ns = int(pl.Series([open_ts]).cast(pl.Datetime("ns")).dt.epoch("ns")[0])
    con = duckdb.connect(str(lake / "floor.duckdb"), read_only=True)
    symbols = [
        r[0]
        for r in con.sql(f"SELECT DISTINCT symbol FROM '{lake / 'quotes.parquet'}' ORDER BY 1").fetchall()
    ]
    fills = con.sql(
        """SELECT f.order_id, o.symbol, o.side, f.ts, f.price, f.quantity, o.arrival_ts
           FROM fills f JOIN orders o USING (order_id)"""
    ).pl()
    con.close()
    t = dict.fromkeys(
        ("read", "asof_polars", "asof_duckdb", "bars_rv_polars", "bars_rv_duckdb", "regressions"), 0.0
    )
    for i in range(0, len(symbols), BATCH_SYMBOLS):
        s0, (q, tr) = _timed(lambda i=i: _batch(lake, symbols[i : i + BATCH_SYMBOLS]))
        t["read"] += s0
        s1, signed = _timed(lambda q=q, tr=tr: _asof_polars(q, tr))
        s2, _ = _timed(lambda q=q, tr=tr: _asof_duckdb(q, tr))
        s3, (bars, _) = _timed(lambda q=q: _bars_rv_polars(q, open_ns))
        s4, _ = _timed(lambda q=q: _bars_rv_duckdb(q, open_ns))
        batch_fills = fills.filter(pl.col("symbol").is_in(q["symbol"].unique().implode()))
        s5, _ = _timed(
            lambda bars=bars, signed=signed, q=q, f=batch_fills: (_gamma(bars, signed, open_ns), _eta(f, q))
        )
        for k, v in zip(list(t)[1:], (s1, s2, s3, s4, s5), strict=True):
            t[k] += v
    t["asof"] = min(t["asof_polars"], t["asof_duckdb"])
    t["bars_rv"] = min(t["bars_rv_polars"], t["bars_rv_duckdb"])
    return t


def _plain_garch(closes: np.ndarray) -> float:
    """One ``arch`` GARCH(1,1) fit and its one-day-ahead variance: no errors, no checks."""
    from arch import arch_model

    r = 100.0 * np.diff(np.log(closes))
    res = arch_model(r, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(disp="off")
    return float(res.forecast(horizon=1, reindex=False).variance.iloc[-1, 0])


def garch_floor(data: Dataset) -> float:
    """All GARCH fits (plain ``arch``) on a pool of every core, nothing else; seconds (pool start excluded)."""
    daily = pl.read_parquet(data.folder / "base" / "daily.parquet").sort("symbol", "date")
    closes = [g["close"].to_numpy() for _, g in daily.group_by("symbol", maintain_order=True)]
    with ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_plain_garch, closes[:8]))  # workers started and imported before the clock
        t0 = time.perf_counter()
        list(pool.map(_plain_garch, closes, chunksize=8))
        return time.perf_counter() - t0


def schedules_floor(orders: pl.DataFrame) -> float:
    """The exact discrete holdings of every order at once: x_j = X·sinh(κ(T − t_j))/sinh(κT); seconds.

    ``orders``: quantity, horizon_days, sigma_usd, eta, gamma, risk_aversion. κ solves
    (2/τ²)(cosh κτ − 1) = λσ²/η̃ with η̃ = η − γτ/2 (Almgren & Chriss 2000, eq. 19).
    """
    t0 = time.perf_counter()
    h = orders["horizon_days"].to_numpy()
    n = np.maximum(1, np.round(BUCKETS_PER_SESSION * h)).astype(int)
    tau = h / n
    eta_tilde = orders["eta"].to_numpy() - 0.5 * np.maximum(orders["gamma"].to_numpy(), 0.0) * tau
    lam = np.nan_to_num(orders["risk_aversion"].to_numpy())
    kappa = 2 / tau * np.arcsinh(np.sqrt(lam * orders["sigma_usd"].to_numpy() ** 2 / eta_tilde) * tau / 2)
    j = np.arange(n.max() + 1)[None, :]
    t = np.minimum(j, n[:, None]) * tau[:, None]
    k = np.where(kappa > 0, kappa, 1e-12)[:, None]
    x = orders["quantity"].to_numpy()[:, None] * np.sinh(k * (h[:, None] - t)) / np.sinh(k * h[:, None])
    assert x.shape[0] == orders.height
    return time.perf_counter() - t0


def attribution_floor(lake: Path) -> tuple[float, pl.DataFrame]:
    """One DuckDB query: arrival mid (as of), fill VWAP, interval VWAP, arrival shortfall; seconds, rows."""
    con = duckdb.connect(str(lake / "floor.duckdb"), read_only=True)
    q, tr = f"'{lake / 'quotes.parquet'}'", f"'{lake / 'trades.parquet'}'"
    t0 = time.perf_counter()
    rows = con.sql(
        f"""WITH o AS (SELECT * FROM orders WHERE arrival_ts::DATE = DATE '{DAY}'),
            syms AS (SELECT DISTINCT symbol FROM o),
            qm AS (SELECT symbol, ts, (bid + ask) / 2 AS mid FROM read_parquet({q})
                   WHERE symbol IN (SELECT symbol FROM syms)),
            tr AS (SELECT symbol, ts, price, size FROM read_parquet({tr}) WHERE symbol IN (SELECT symbol FROM syms)),
            arr AS (SELECT o.order_id, o.symbol, o.side, o.arrival_ts, o.end_ts, qm.mid AS arrival_mid
                    FROM o ASOF LEFT JOIN qm ON o.symbol = qm.symbol AND o.arrival_ts >= qm.ts),
            f AS (SELECT order_id, sum(price * quantity) / sum(quantity) AS fill_vwap, sum(quantity) AS filled
                  FROM fills WHERE order_id IN (SELECT order_id FROM o) GROUP BY order_id),
            v AS (SELECT a.order_id, sum(tr.price * tr.size) / sum(tr.size) AS interval_vwap FROM arr a
                  JOIN tr ON tr.symbol = a.symbol AND tr.ts BETWEEN a.arrival_ts AND a.end_ts GROUP BY a.order_id)
            SELECT a.*, f.fill_vwap, v.interval_vwap,
                   CASE WHEN side = 'buy' THEN 1 ELSE -1 END * (f.fill_vwap - a.arrival_mid) * f.filled AS shortfall_usd
            FROM arr a LEFT JOIN f USING (order_id) LEFT JOIN v USING (order_id)"""
    ).pl()
    seconds = time.perf_counter() - t0
    con.close()
    return seconds, rows


def report_floor(rows: pl.DataFrame, out: Path) -> float:
    """The attribution rows and their totals as one static HTML page (no charts); seconds."""
    t0 = time.perf_counter()
    total = rows.select(pl.col("shortfall_usd").sum()).item()
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in r) + "</tr>" for r in rows.iter_rows())
    head = "".join(f"<th>{c}</th>" for c in rows.columns)
    (out / "report.html").write_text(
        f"<html><body><p>shortfall {total:,.0f} USD</p><table><tr>{head}</tr>{body}</table></body></html>"
    )
    return time.perf_counter() - t0
