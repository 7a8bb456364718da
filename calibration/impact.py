"""Market impact: Kyle's lambda, the rule by which schedules take γ, temporary η and fixed cost ε, and the
power-law exponent (γ itself, the permanent impact, is estimated in :mod:`calibration.permanent`).

Units (DESIGN §3): γ in $/share per share traded; η in $/share per (share/day) of trading rate; ε in
$/share; a child's rate is n/τ in shares per trading day, τ from the previous fill of the order (the first
from the order's arrival).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from calibration.power_law import power_law_impact
from calibration.records import DEFAULT_THRESHOLDS
from calibration.signs import prevailing_mid
from kappa.clock import Clock

# the defaults of calibration.records.EstimatorThresholds, where they are defined and explained
MIN_BUCKETS = DEFAULT_THRESHOLDS.min_buckets
GAMMA_T_MIN = DEFAULT_THRESHOLDS.gamma_t_min
MIN_FILLS = DEFAULT_THRESHOLDS.min_fills
MIN_ORDERS = DEFAULT_THRESHOLDS.min_orders
ALMGREN_2005_ETA = 0.142
ALMGREN_2005_BETA = 0.6
REFERENCE_PARTICIPATION = 0.1


@dataclass(frozen=True, slots=True)
class ImpactFit:
    """One regression coefficient with its standard error, observations, R² and status."""

    coef: float
    se: float
    nobs: int
    r2: float
    status: str


@dataclass(frozen=True, slots=True)
class TemporaryFit:
    """ε (intercept) and η (slope) of side·(fill − mid) on the child's rate, and the power-law fit."""

    epsilon_usd: float
    epsilon_se_usd: float
    fee_usd_per_share: float
    eta: float
    eta_se: float
    r2: float
    nobs: int
    orders: int
    status: str
    beta: float
    beta_se: float
    eta_nl: float
    eta_nl_se: float
    power_r2: float
    power_nobs: int
    power_status: str
    unquoted: int = 0
    """Fills left out of both fits: no quote of their own session before them (see :func:`child_rates`)."""


def newey_west_lags(n: int) -> int:
    """Newey & West (1994) rule of thumb: ⌊4 (n/100)^(2/9)⌋."""
    return math.floor(4 * (n / 100) ** (2 / 9))


def gamma_status(gamma: float, se: float, t_min: float = GAMMA_T_MIN) -> str:
    """What a fitted γ says: ``wrong_sign``, ``not_significant`` or ``ok``.

    ``wrong_sign`` where γ < 0 (buying would lower the price: noise, not impact); ``not_significant``
    where 0 ≤ γ and t = γ / se < ``t_min`` (default :data:`GAMMA_T_MIN`; or se is not a positive number);
    ``ok`` otherwise.
    """
    if gamma < 0:
        return "wrong_sign"
    if not (math.isfinite(se) and se > 0 and gamma / se >= t_min):
        return "not_significant"
    return "ok"


@dataclass(frozen=True, slots=True)
class ScheduleGamma:
    """The γ a schedule uses for a calibrated estimate, and a note for people where it is not plainly the
    estimate (``None`` where it is)."""

    gamma: float | None
    note: str | None


def schedule_gamma(
    gamma: float | None, se: float | None, status: str | None, t_min: float = GAMMA_T_MIN
) -> ScheduleGamma:
    """The γ ($/share per share) a schedule takes from a calibration's γ, its standard error and status.

    Parameters
    ----------
    gamma, se
        The calibrated γ and its Newey-West standard error (None or NaN where not estimated).
    status
        The calibration's ``gamma_status``; it only words the note where there is no γ.
    t_min
        The t below which a positive γ is not significant (it only words the note).

    Returns
    -------
    ScheduleGamma
        - no γ (``insufficient_data``, ``degenerate``): ``gamma`` None, so a schedule needs an explicit γ;
        - γ < 0 (``wrong_sign``): γ = 0, with a note;
        - 0 ≤ γ with t = γ/se < ``t_min``, or no standard error (``not_significant``): γ as
          estimated, with a note;
        - otherwise γ as estimated, no note.

    Notes
    -----
    In Almgren & Chriss (2000) the permanent impact adds ½γX² to the expected cost whatever the trajectory
    (eq. 20), and enters the optimal trajectory only through η̃ = η − γτ/2 (eq. 18). A negative estimate
    would say that buying lowers the price: it is noise, not impact, and a schedule built on it would
    promise a gain for trading and flatten κ; a schedule takes γ = 0, the smallest impact the model allows.
    A positive estimate that is not significant is still the least-squares estimate; taking 0 instead
    would bias the expected cost down, so it is taken as it is, and said so. The rule is decided from the
    numbers, not the stored status, so that a row written under an older rule is read the same way.
    """
    if gamma is None or not math.isfinite(gamma):
        return ScheduleGamma(None, f"no γ estimate ({status or 'not estimated'})")
    error = se if se is not None and math.isfinite(se) and se > 0 else None
    shown = f"γ = {gamma:.1e}" + (f" ± {error:.1e}" if error is not None else "")
    t = f"t = {gamma / error:.2f}" if error is not None else "no standard error"
    verdict = gamma_status(gamma, error if error is not None else float("nan"), t_min)
    if verdict == "wrong_sign":
        return ScheduleGamma(0.0, f"{shown} ({t}) has the wrong sign: the schedule uses γ = 0")
    if verdict == "not_significant":
        return ScheduleGamma(
            gamma, f"{shown} ({t}) is not significant (t < {t_min}): the schedule uses it as estimated"
        )
    return ScheduleGamma(gamma, None)


def kyle_lambda(
    buckets: pl.DataFrame, min_buckets: int = MIN_BUCKETS, t_min: float = GAMMA_T_MIN
) -> ImpactFit:
    """Kyle's lambda: OLS of each 5-minute bucket's mid change on its net signed volume (one symbol).

    Parameters
    ----------
    buckets
        ``dmid_usd`` ($/share) and ``net_signed_shares`` (shares) per observed bucket, in time order (see
        :func:`calibration.bars.impact_buckets`). The reference implementation: the nightly calibration
        uses :func:`kyle_lambda_by_symbol`, the same numbers for all symbols at once.
    min_buckets, t_min
        The thresholds (:class:`calibration.records.EstimatorThresholds`).

    Returns
    -------
    ImpactFit
        ``status``: ``insufficient_data`` (fewer than ``min_buckets`` buckets), ``degenerate`` (the
        mid change or the signed volume is the same in every bucket, or the residuals vanish: no standard
        error), else that of :func:`gamma_status` at ``t_min``. λ and its error are NaN unless fitted.

    Notes
    -----
    Δmid_k = c + λ·Q_k + u_k with Q_k the net Lee-Ready-signed volume of bucket k: Kyle's (1985) lambda,
    the price response within the bucket of the trades. It holds the impact that reverts within minutes
    as well as the one that stays, so it overstates the permanent γ of Almgren & Chriss (2000, eq. 2):
    with an impact kernel γ + γ_T·2^(−t/h), E[λ] = γ + γ_T·(1 − 2^(−Δ/h))/(ln 2·Δ/h) for a bucket of
    length Δ (0.72·γ_T at Δ = h = 5 minutes); see :func:`calibration.permanent.permanent_impact`.
    Standard errors are Newey-West HAC
    (statsmodels, Bartlett kernel, :func:`newey_west_lags` lags), robust to the serial correlation and
    heteroskedasticity of intraday returns.
    """
    import statsmodels.api as sm

    b = buckets.drop_nulls(["dmid_usd", "net_signed_shares"])
    n = b.height
    x = b["net_signed_shares"].to_numpy()
    y = b["dmid_usd"].to_numpy()
    nan = float("nan")
    if n < min_buckets:
        return ImpactFit(nan, nan, n, nan, "insufficient_data")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return ImpactFit(nan, nan, n, nan, "degenerate")
    res = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit(
        cov_type="HAC", cov_kwds={"maxlags": newey_west_lags(n)}
    )
    coef, se = float(res.params[1]), float(res.bse[1])
    if not (math.isfinite(se) and se > 0):
        return ImpactFit(nan, nan, n, nan, "degenerate")
    return ImpactFit(coef, se, n, float(res.rsquared), gamma_status(coef, se, t_min))


def kyle_lambda_by_symbol(
    buckets: pl.DataFrame, min_buckets: int = MIN_BUCKETS, t_min: float = GAMMA_T_MIN
) -> pl.DataFrame:
    """Kyle's lambda for every symbol at once: group-wise OLS in closed form with Newey-West HAC errors.

    The same estimator as :func:`kyle_lambda` (which calls statsmodels, and against which this is
    tested to machine precision), vectorised across symbols: per symbol, with X_t = (1, Q_t) and OLS
    residuals e_t, u_t = X_t e_t, Γ_l = Σ_t u_t u'_{t−l}, S = Γ_0 + Σ_{l=1..L} (1 − l/(L+1)) (Γ_l + Γ'_l),
    Cov = (X'X)⁻¹ S (X'X)⁻¹ (Newey & West 1987; as statsmodels, without a small-sample factor), with
    L = :func:`newey_west_lags` (n). Buckets are taken in time order (symbol, date, bucket).

    Every sum is taken over sorted values, so a rerun gives the same bits whatever the thread schedule.

    Returns
    -------
    polars.DataFrame
        ``symbol, kyle_lambda, kyle_lambda_se, kyle_lambda_nobs, kyle_lambda_r2, kyle_lambda_status``
        ($/share per share; the statuses at ``min_buckets`` and ``t_min``, and the rows left NULL, as in
        :func:`kyle_lambda`).
    """
    x, y = pl.col("net_signed_shares"), pl.col("dmid_usd")
    b = buckets.drop_nulls(["dmid_usd", "net_signed_shares"]).sort("symbol", "date", "bucket")
    st = b.group_by("symbol").agg(
        pl.len().alias("n"), x.sort().sum().alias("sx"), (x * x).sort().sum().alias("sxx"),
        y.sort().mean().alias("ym"), x.sort().mean().alias("xm"),
        ((x - x.sort().mean()) * (y - y.sort().mean())).sort().sum().alias("cxy"),
        ((x - x.sort().mean()) ** 2).sort().sum().alias("cxx"), ((y - y.sort().mean()) ** 2).sort().sum().alias("cyy"),
        (x.max() - x.min()).alias("x_range"), (y.max() - y.min()).alias("y_range"),
    )  # fmt: skip
    st = st.with_columns((pl.col("cxy") / pl.col("cxx")).alias("gamma")).with_columns(
        (pl.col("ym") - pl.col("gamma") * pl.col("xm")).alias("const"),
        pl.col("n").map_elements(newey_west_lags, return_dtype=pl.Int64).alias("lags"),
    )
    e = y - pl.col("const") - pl.col("gamma") * x
    r = b.join(st.select("symbol", "gamma", "const", "lags"), on="symbol").with_columns(
        e.alias("u0"), (e * x).alias("u1")
    )
    max_lag = int(st.select(pl.col("lags").max()).item()) if st.height else 0
    sums = []
    for lag in range(max_lag + 1):
        w = (1 - lag / (pl.col("lags") + 1)).clip(0.0) if lag else pl.lit(1.0)
        sh = {k: pl.col(k).shift(lag).over("symbol") for k in ("u0", "u1")}
        terms = {
            f"g{lag}_{a}{c}": (w * pl.col(f"u{a}") * sh[f"u{c}"]).sort().sum() for a in "01" for c in "01"
        }
        sums.append(r.group_by("symbol").agg(**terms))
    g = st
    for part in sums:
        g = g.join(part, on="symbol")
    out: list[tuple[object, ...]] = []
    for row in g.sort("symbol").iter_rows(named=True):
        n = row["n"]
        if n < min_buckets:
            out.append((row["symbol"], None, None, n, None, "insufficient_data"))
            continue
        if not row["x_range"] or not row["y_range"]:
            out.append((row["symbol"], None, None, n, None, "degenerate"))
            continue
        s = np.zeros((2, 2))
        for lag in range(max_lag + 1):
            gl = np.array([[row[f"g{lag}_00"], row[f"g{lag}_01"]], [row[f"g{lag}_10"], row[f"g{lag}_11"]]])
            s += gl if lag == 0 else gl + gl.T
        bread = np.linalg.inv(np.array([[n, row["sx"]], [row["sx"], row["sxx"]]]))
        cov = bread @ s @ bread
        resid_ss = row["cyy"] - row["gamma"] * row["cxy"]
        r2 = 1 - resid_ss / row["cyy"] if row["cyy"] else float("nan")
        se = math.sqrt(cov[1, 1]) if cov[1, 1] > 0 else float("nan")
        if not math.isfinite(se):
            out.append((row["symbol"], None, None, n, None, "degenerate"))
            continue
        out.append((row["symbol"], row["gamma"], se, n, r2, gamma_status(row["gamma"], se, t_min)))
    return pl.DataFrame(
        out,
        schema={"symbol": pl.String, "kyle_lambda": pl.Float64, "kyle_lambda_se": pl.Float64,
                "kyle_lambda_nobs": pl.Int64, "kyle_lambda_r2": pl.Float64, "kyle_lambda_status": pl.String},
        orient="row",
    )  # fmt: skip


def child_rates(
    fills: pl.DataFrame, quotes: pl.DataFrame, sessions: pl.DataFrame, clock: Clock
) -> pl.DataFrame:
    """Own fills with their prevailing mid, half spread, τ (days) and rate n/τ (shares/day).

    ``fills`` needs ``order_id, symbol, side, ts, price, quantity, arrival_ts`` (``fee_usd`` optional);
    ``sessions`` the ``open_ts, close_ts`` of the sessions the quotes fall in. The cost per share
    ``cost_usd`` = side·(price − mid) is positive when the trader pays. τ runs from the order's previous
    fill (the first: from its arrival) in trading days of ``clock`` (session time: a child that waited over
    a night is not credited with the night's hours). The mid is that of the last quote strictly before the
    fill in the fill's own session (:func:`calibration.signs.prevailing_mid`): a fill before its session's
    first quote (an opening fill) keeps its row with ``mid`` and ``cost_usd`` null, so that
    :func:`temporary_impact` leaves it out of the fit and counts it, rather than measuring it against the
    previous session's closing quote (the night's gap taken as impact).
    """
    f = fills.sort("order_id", "ts").with_columns(
        pl.col("ts").shift(1).over("order_id").fill_null(pl.col("arrival_ts")).alias("_prev")
    )
    f = f.with_columns(clock.elapsed_days(pl.col("_prev"), pl.col("ts")).alias("tau_days")).drop("_prev")
    f = prevailing_mid(f, quotes, sessions)
    side = pl.when(pl.col("side") == "buy").then(1.0).otherwise(-1.0)
    return f.with_columns(
        (pl.col("quantity") / pl.col("tau_days")).alias("rate_shares_per_day"),
        (side * (pl.col("price") - pl.col("mid"))).alias("cost_usd"),
    ).filter(pl.col("tau_days") > 0)


def temporary_impact(
    children: pl.DataFrame,
    sigma_usd: float,
    adv_shares: float,
    min_fills: int = MIN_FILLS,
    min_orders: int = MIN_ORDERS,
) -> TemporaryFit:
    """ε and η from one symbol's own fills, and the Almgren et al. (2005) power law beside them.

    Parameters
    ----------
    children
        Output of :func:`child_rates` for one symbol. Fills without a prevailing quote of their session
        (``cost_usd`` null) are left out of the fits and counted in ``TemporaryFit.unquoted``.
    sigma_usd
        σ of the symbol ($/share/√day), to express the power law in units of σ.
    adv_shares
        Average daily volume (shares).
    min_fills, min_orders
        Fewer quoted fills, or fills from fewer orders, and nothing is fitted (``insufficient_data``, as
        where every fill has one trading rate); ``min_fills`` is also the power law's minimum
        (:class:`calibration.records.EstimatorThresholds`).

    Notes
    -----
    Linear: side·(p − mid) = ε_p + η·n/τ + u (Almgren & Chriss 2000, eq. 7), weighted least squares with
    weights = child quantity, heteroskedasticity-robust (HC1) standard errors. The fixed cost of DESIGN §3
    is ε = ε_p + fees per share (Σ fee_usd / Σ quantity; fees are charged outside the price).
    Power law: J = (side·(p − mid) − s)/mid = η_nl · σ_frac · |v/ADV|^β with σ_frac = σ_usd/mid (Almgren,
    Thum, Hauptmann & Li 2005, eq. 4), fitted in levels on every fill by weighted nonlinear least squares
    (:func:`calibration.power_law.power_law_impact`, weights = quantity as for η). The fixed part s is the
    prevailing quoted half spread of each fill (measured, not fitted: a linear intercept would absorb the
    curvature the power law is there to measure), or the linear ε where no quote is known.
    """
    import statsmodels.api as sm

    unquoted = children["cost_usd"].null_count()
    c = children.drop_nulls(["cost_usd", "rate_shares_per_day"])
    n, orders = c.height, c["order_id"].n_unique()
    nan = float("nan")
    if n < min_fills or orders < min_orders or np.ptp(c["rate_shares_per_day"].to_numpy()) == 0:
        return TemporaryFit(nan, nan, fee_per_share(children), nan, nan, nan, n, orders, "insufficient_data",
                            nan, nan, nan, nan, nan, 0, "insufficient_data", unquoted)  # fmt: skip
    x, y, w = (c[k].to_numpy() for k in ("rate_shares_per_day", "cost_usd", "quantity"))
    lin = sm.WLS(y, sm.add_constant(x, has_constant="add"), weights=w).fit(cov_type="HC1")
    eps, eta = float(lin.params[0]), float(lin.params[1])
    fixed = c["half_spread"].fill_null(eps).to_numpy() if "half_spread" in c.columns else np.full(n, eps)
    pw = power_law_impact(y - fixed, x, w, sigma_usd, adv_shares, min_fills)
    power = (pw.beta, pw.beta_se, pw.eta_nl, pw.eta_nl_se, pw.r2, pw.nobs, pw.status)
    fee = fee_per_share(children)
    status = "ok" if eta > 0 and eps >= 0 else "implausible_sign"
    return TemporaryFit(
        eps + fee,
        float(lin.bse[0]),
        fee,
        eta,
        float(lin.bse[1]),
        float(lin.rsquared),
        n,
        orders,
        status,
        *power,
        unquoted,
    )


def fee_per_share(children: pl.DataFrame) -> float:
    """Σ fee_usd / Σ quantity of ``children`` ($/share); 0 where no fee is recorded."""
    if "fee_usd" not in children.columns or not children.height:
        return 0.0
    qty = float(children["quantity"].sum())
    return float(children["fee_usd"].fill_null(0.0).sum()) / qty if qty > 0 else 0.0


def eta_fallback(sigma_usd: float, adv_shares: float, scale: float | None = None) -> tuple[float, str]:
    """η where a symbol has too few fills: a cross-sectional scale, else Almgren et al. (2005).

    ``scale`` is the cross-sectional median of η·ADV/σ over the symbols whose fills were fitted (η scales
    like σ/ADV). Without one, the Almgren et al. (2005, eq. 4) law J = 0.142·σ·(v/ADV)^0.6 is linearised
    at a participation of 10 % of ADV per day: η = 0.142·σ_usd·0.1^(0.6−1)/ADV.
    """
    if scale is not None and math.isfinite(scale):
        return scale * sigma_usd / adv_shares, "cross_section"
    eta = ALMGREN_2005_ETA * sigma_usd * REFERENCE_PARTICIPATION ** (ALMGREN_2005_BETA - 1) / adv_shares
    return eta, "almgren_2005"
