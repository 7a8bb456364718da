"""The pandas baseline of the calibration benchmark: Kappa's maths written the way a pandas TCA tool would.

Every stage reproduces the corresponding function of :mod:`calibration` (same estimators, same bucket
convention, same regressions, so the numbers agree to rounding), but in idiomatic pandas: ``pd.merge_asof``
for prevailing quotes, ``groupby`` + ``last`` for 5-minute bucket mids, and plain Python loops over symbols
calling ``statsmodels`` (γ, η) and ``arch`` (GARCH, serially). Nothing is tuned for speed.

:func:`calibrate_pandas` takes the polars inputs of a calibration window, converts them with ``to_pandas()``
(timed as the ``to_pandas`` stage) and returns a tuple ``(timings, results)``: ``timings`` maps each stage
(``to_pandas``, ``signs``, ``bars``, ``realized``, ``gamma``, ``eta``, ``garch``, ``total``) to its wall
seconds by :func:`time.perf_counter`; ``results`` maps ``signs``, ``mids``, ``realized``, ``gamma``, ``eta``
and ``garch`` to the pandas frame each stage produced. The per-symbol frames have a ``symbol`` column.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import polars as pl
import statsmodels.api as sm
from arch import arch_model

from calibration.records import EstimatorThresholds
from kappa.units import BUCKET_MINUTES, SESSION_SECONDS

BUCKET = pd.Timedelta(minutes=BUCKET_MINUTES)
# the thresholds Kappa's estimators apply by default, so that both do the same work
_THRESHOLDS = EstimatorThresholds()
MIN_BUCKETS = _THRESHOLDS.min_buckets
MIN_FILLS = _THRESHOLDS.min_fills
MIN_ORDERS = _THRESHOLDS.min_orders
GARCH_MIN_RETURNS = _THRESHOLDS.garch_min_returns


def _with_prevailing_mid(events: pd.DataFrame, quotes: pd.DataFrame) -> pd.DataFrame:
    """``events`` sorted by symbol and ts, with ``mid`` of the symbol's last quote strictly before ``ts``."""
    q = quotes[["symbol", "ts"]].assign(mid=(quotes["bid"] + quotes["ask"]) / 2).sort_values("ts")
    out = pd.merge_asof(
        events.sort_values("ts"), q, on="ts", by="symbol", direction="backward", allow_exact_matches=False
    )
    return out.sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)


def _bucket(ts: pd.Series, open_ts: pd.Series) -> pd.Series:
    """Index k of the bucket (open + (k−1)·5min, open + k·5min] holding ``ts``; 0 at or before the open."""
    return ((ts - open_ts).dt.ceil(BUCKET) // BUCKET).clip(lower=0).astype("int64")


def signs_pandas(trades: pd.DataFrame, quotes: pd.DataFrame) -> pd.DataFrame:
    """Trades with the prevailing ``mid`` and the Lee-Ready ``sign`` (+1, −1, NaN if undeterminable).

    Quote rule sgn(price − mid); at the mid or without a quote, the tick rule: the sign of the symbol's last
    non-zero price change.
    """
    t = _with_prevailing_mid(trades, quotes)
    change = t.groupby("symbol")["price"].diff()
    tick = np.sign(change).replace(0.0, np.nan).groupby(t["symbol"]).ffill()
    quote = np.select([t["price"] > t["mid"], t["price"] < t["mid"]], [1.0, -1.0], default=np.nan)
    t["sign"] = pd.Series(quote, index=t.index).fillna(tick)
    return t


def bucket_mids_pandas(quotes: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Mid at every 5-minute boundary k = 0..K of every (symbol, session) with quotes, and ``day_fraction``.

    The mid at a boundary is that of the last quote at or before it (the first quote of the session for the
    open); a bucket without a quote carries the previous mid forward.
    """
    q = quotes.merge(sessions, on="date")
    q["bucket"] = _bucket(q["ts"], q["open_ts"])
    q["mid"] = (q["bid"] + q["ask"]) / 2
    last = q.sort_values("ts").groupby(["symbol", "date", "bucket"], as_index=False)["mid"].last()
    length = sessions["close_ts"] - sessions["open_ts"]
    grid = sessions[["date"]].assign(
        day_fraction=length.dt.total_seconds() / SESSION_SECONDS,
        bucket=[list(range(int(k) + 1)) for k in (length.dt.ceil(BUCKET) // BUCKET)],
    )
    grid = grid.explode("bucket").astype({"bucket": "int64"})
    days = q[["symbol", "date"]].drop_duplicates()
    mids = (
        days.merge(grid, on="date")
        .merge(last, on=["symbol", "date", "bucket"], how="left")
        .sort_values(["symbol", "date", "bucket"])
        .reset_index(drop=True)
    )
    mids["mid"] = mids.groupby(["symbol", "date"])["mid"].ffill()
    mids["mid"] = mids.groupby(["symbol", "date"])["mid"].bfill()
    return mids


def _bucket_returns(mids: pd.DataFrame) -> pd.DataFrame:
    """Per bucket k ≥ 1: ``dmid_usd`` = mid_k − mid_{k−1} and ``log_return`` = ln(mid_k / mid_{k−1})."""
    prev = mids.groupby(["symbol", "date"])["mid"].shift(1)
    out = mids.assign(dmid_usd=mids["mid"] - prev, log_return=np.log(mids["mid"] / prev))
    return out[out["bucket"] > 0]


def realized_sigma_pandas(mids: pd.DataFrame) -> pd.DataFrame:
    """σ_usd = √(mean over days of mid_close² · RV / day_fraction), RV the sum of squared 5-minute log returns."""
    rets = _bucket_returns(mids)
    daily = (
        rets.assign(r2=rets["log_return"] ** 2)
        .groupby(["symbol", "date"])
        .agg(rv=("r2", "sum"), day_fraction=("day_fraction", "first"))
    )
    daily["mid_close"] = mids.sort_values("bucket").groupby(["symbol", "date"])["mid"].last()
    daily["var_usd"] = daily["mid_close"] ** 2 * daily["rv"] / daily["day_fraction"]
    sigma = np.sqrt(daily.groupby("symbol")["var_usd"].mean())
    return sigma.rename("sigma_usd").reset_index()


def gamma_pandas(mids: pd.DataFrame, signed_trades: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """γ per symbol: OLS of each bucket's mid change on its net signed volume, Newey-West HAC errors."""
    t = signed_trades.merge(sessions, on="date")
    t["bucket"] = _bucket(t["ts"], t["open_ts"]).clip(lower=1)  # a trade at or before the open: bucket 1
    t["signed"] = t["sign"] * t["size"]
    vol = t.groupby(["symbol", "date", "bucket"], as_index=False)["signed"].sum()
    vol = vol.rename(columns={"signed": "net_signed_shares"})
    b = _bucket_returns(mids).merge(vol, on=["symbol", "date", "bucket"], how="left")
    b["net_signed_shares"] = b["net_signed_shares"].fillna(0.0)
    rows = []
    for symbol, g in b.groupby("symbol", sort=True):
        g = g.dropna(subset=["dmid_usd", "net_signed_shares"])
        n = len(g)
        x = g["net_signed_shares"].to_numpy()
        if n < MIN_BUCKETS or np.ptp(x) == 0:
            rows.append((symbol, np.nan, np.nan))
            continue
        lags = math.floor(4 * (n / 100) ** (2 / 9))
        res = sm.OLS(g["dmid_usd"].to_numpy(), sm.add_constant(x, has_constant="add")).fit(
            cov_type="HAC", cov_kwds={"maxlags": lags}
        )
        rows.append((symbol, res.params[1], res.bse[1]))
    return pd.DataFrame(rows, columns=["symbol", "gamma", "gamma_se"])


def eta_pandas(fills: pd.DataFrame, quotes: pd.DataFrame) -> pd.DataFrame:
    """ε and η per symbol: WLS of side·(price − mid) on the child's rate n/τ, weights = quantity, HC1 errors.

    τ (trading days) runs from the order's previous fill, or from its arrival for the first fill.
    """
    f = fills.sort_values(["order_id", "ts"], kind="stable")
    prev = f.groupby("order_id")["ts"].shift(1).fillna(f["arrival_ts"])
    f = f.assign(tau_days=(f["ts"] - prev).dt.total_seconds() / SESSION_SECONDS)
    f = _with_prevailing_mid(f, quotes)
    side = np.where(f["side"] == "buy", 1.0, -1.0)
    f["rate"] = f["quantity"] / f["tau_days"]
    f["cost"] = side * (f["price"] - f["mid"])
    f = f[(f["tau_days"] > 0) & f["mid"].notna()]
    rows = []
    for symbol, g in f.groupby("symbol", sort=True):
        g = g.dropna(subset=["cost", "rate"])
        if len(g) < MIN_FILLS or g["order_id"].nunique() < MIN_ORDERS or np.ptp(g["rate"].to_numpy()) == 0:
            continue
        x = sm.add_constant(g["rate"].to_numpy(), has_constant="add")
        res = sm.WLS(g["cost"].to_numpy(), x, weights=g["quantity"].to_numpy()).fit(cov_type="HC1")
        rows.append((symbol, res.params[0], res.params[1]))
    return pd.DataFrame(rows, columns=["symbol", "epsilon_usd", "eta"])


def garch_serial(daily: pd.DataFrame) -> pd.DataFrame:
    """One-day-ahead GARCH(1,1) σ ($/share) per symbol from daily closes, one ``arch`` fit after another."""
    rows = []
    for symbol, g in daily.sort_values("date").groupby("symbol", sort=True):
        close = g["close"]
        close = close[np.isfinite(close) & (close > 0)]
        r = 100.0 * np.log(close).diff().dropna().to_numpy()
        if len(r) < GARCH_MIN_RETURNS:
            continue
        model = arch_model(r, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
        res = model.fit(disp="off")
        h = res.forecast(horizon=1, reindex=False).variance.iloc[-1, 0]
        rows.append((symbol, close.iloc[-1] * math.sqrt(h) / 100.0))
    return pd.DataFrame(rows, columns=["symbol", "sigma_garch_usd"])


def calibrate_pandas(
    quotes: pl.DataFrame,
    trades: pl.DataFrame,
    sessions: pl.DataFrame,
    fills: pl.DataFrame,
    daily: pl.DataFrame,
) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Run every stage on one window; return ``(timings, results)`` as described in the module docstring."""
    timings: dict[str, float] = {}
    start = last = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal last
        now = time.perf_counter()
        timings[stage] = now - last
        last = now

    q, t, s, f, d = (x.to_pandas() for x in (quotes, trades, sessions, fills, daily))
    lap("to_pandas")
    results: dict[str, pd.DataFrame] = {"signs": signs_pandas(t, q)}
    lap("signs")
    results["mids"] = bucket_mids_pandas(q, s)
    lap("bars")
    results["realized"] = realized_sigma_pandas(results["mids"])
    lap("realized")
    results["gamma"] = gamma_pandas(results["mids"], results["signs"], s)
    lap("gamma")
    results["eta"] = eta_pandas(f, q)
    lap("eta")
    results["garch"] = garch_serial(d)
    lap("garch")
    timings["total"] = time.perf_counter() - start
    return timings, results
