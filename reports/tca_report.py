"""The day's post-trade report: one self-contained HTML file (inline SVG charts, no network) and PNGs.

:func:`render_report` takes the ``attribution`` rows of a date, the calibrations they were judged with and
the holdings paths of the largest orders, and writes ``report.html`` plus ``waterfall.png``,
``cost_vs_model.png``, ``z_histogram.png`` and ``schedules.png`` (for Prefect artifacts) into a folder.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import polars as pl

from reports.charts import save_chart

WATERFALL = ("delay", "spread", "impact", "opportunity", "fees")
WIDTH, HEIGHT = 560, 300


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """Where the report went."""

    html: Path
    pngs: dict[str, Path]


def day_summary(rows: pl.DataFrame) -> dict[str, float | int]:
    """The numbers at the top of the report: counts, notional, notional-weighted costs (bps), z statistics."""
    costed = rows.filter(pl.col("total_usd").is_not_null())
    notional = float(costed["notional_usd"].to_numpy().sum())
    quantity = float(rows["quantity"].to_numpy().sum())
    out: dict[str, float | int] = {
        "orders": rows.height,
        "filled_orders": int((rows["filled_shares"] > 0).sum()),
        "notional_usd": notional,
        "fill_rate": float(rows["filled_shares"].to_numpy().sum()) / quantity if quantity else math.nan,
    }
    for c in (*WATERFALL, "total"):
        out[f"{c}_bps"] = (
            1e4 * float(costed[f"{c}_usd"].to_numpy().sum()) / notional if notional else math.nan
        )
    z = rows["z_score"].drop_nulls().to_numpy()
    out["z_n"] = int(z.size)
    out["z_mean"] = float(z.mean()) if z.size else math.nan
    out["z_std"] = float(z.std(ddof=1)) if z.size > 1 else math.nan
    return out


def waterfall_chart(summary: dict[str, float | int]) -> alt.LayerChart:
    """Delay → spread → impact → opportunity → fees → total, notional-weighted bps of the day."""
    steps, level = [], 0.0
    for c in WATERFALL:
        v = float(summary[f"{c}_bps"])
        v = 0.0 if math.isnan(v) else v
        steps.append(
            {
                "component": c,
                "start": level,
                "end": level + v,
                "bps": v,
                "kind": "cost" if v >= 0 else "saving",
            }
        )
        level += v
    steps.append({"component": "total", "start": 0.0, "end": level, "bps": level, "kind": "total"})
    frame = pl.DataFrame(steps)
    order = [str(s["component"]) for s in steps]
    base = alt.Chart(frame).encode(x=alt.X("component:N", sort=order, title=None))
    bars = base.mark_bar(size=48).encode(
        y=alt.Y("start:Q", title="bps of notional"), y2="end:Q",
        color=alt.Color("kind:N", scale=alt.Scale(domain=["cost", "saving", "total"],
                                                  range=["#d62728", "#2ca02c", "#1f77b4"]), legend=None),
        tooltip=["component:N", alt.Tooltip("bps:Q", format=".2f")],
    )  # fmt: skip
    labels = base.mark_text(dy=-8).encode(y="end:Q", text=alt.Text("bps:Q", format=".2f"))
    return alt.LayerChart(layer=[bars, labels], width=WIDTH, height=HEIGHT, title="cost waterfall (bps)")


def cost_vs_model_chart(rows: pl.DataFrame) -> alt.LayerChart:
    """Realized cost C against the model's E per order, with the ±2√V band (bps of notional)."""
    r = rows.filter(pl.col("z_score").is_not_null()).select(
        "order_id", "symbol",
        (1e4 * pl.col("model_expected_cost_usd") / pl.col("notional_usd")).alias("expected_bps"),
        (1e4 * pl.col("realized_cost_usd") / pl.col("notional_usd")).alias("realized_bps"),
        (2e4 * pl.col("model_std_usd") / pl.col("notional_usd")).alias("two_sd_bps"),
        pl.col("z_score").round(2).alias("z"),
    ).with_columns(
        (pl.col("expected_bps") - pl.col("two_sd_bps")).alias("lo"),
        (pl.col("expected_bps") + pl.col("two_sd_bps")).alias("hi"),
    )  # fmt: skip
    x = alt.X("expected_bps:Q", title="expected cost E (bps)")
    band = alt.Chart(r).mark_rule(color="#9ecae1", strokeWidth=2).encode(x=x, y="lo:Q", y2="hi:Q")
    pts = (
        alt.Chart(r)
        .mark_circle(size=28, color="#d62728")
        .encode(
            x=x, y=alt.Y("realized_bps:Q", title="realized cost C (bps)"), tooltip=["order_id", "symbol", "z"]
        )
    )
    lim = [float(r["lo"].to_numpy().min()), float(r["hi"].to_numpy().max())] if r.height else [0.0, 1.0]
    diag = (
        alt.Chart(pl.DataFrame({"expected_bps": lim, "realized_bps": lim}))
        .mark_line(color="gray", strokeDash=[4, 4])
        .encode(x=x, y="realized_bps:Q")
    )
    return alt.LayerChart(layer=[band, diag, pts], width=WIDTH, height=HEIGHT,
                          title="realized vs expected cost, ±2√V")  # fmt: skip


def z_histogram_chart(rows: pl.DataFrame) -> alt.LayerChart:
    """Histogram of z against the N(0, 1) counts expected in the same bins."""
    z = rows["z_score"].drop_nulls().to_list()
    edges = [-4.0 + 0.5 * i for i in range(17)]
    phi = [0.5 * (1 + math.erf(e / math.sqrt(2))) for e in edges]
    counts = [sum(1 for v in z if lo <= v < hi) for lo, hi in itertools.pairwise(edges)]
    frame = pl.DataFrame({
        "lo": edges[:-1], "hi": edges[1:], "mid": [e + 0.25 for e in edges[:-1]], "orders": counts,
        "normal": [len(z) * (b - a) for a, b in itertools.pairwise(phi)],
    })  # fmt: skip
    bars = (
        alt.Chart(frame)
        .mark_bar(color="#1f77b4", opacity=0.8)
        .encode(
            x=alt.X("lo:Q", title="z = (C − E)/√V", bin="binned"),
            x2="hi:Q",
            y=alt.Y("orders:Q", title="orders"),
        )
    )
    curve = alt.Chart(frame).mark_line(color="#d62728", point=True).encode(x="mid:Q", y="normal:Q")
    return alt.LayerChart(layer=[bars, curve], width=WIDTH, height=HEIGHT,
                          title=f"z of {len(z)} orders against N(0, 1)")  # fmt: skip


def schedules_chart(paths: pl.DataFrame) -> alt.Chart:
    """Shares still to trade over time: each order's fills against its Almgren-Chriss schedule."""
    return (
        alt.Chart(paths)
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("minutes:Q", title="minutes since arrival"),
            y=alt.Y("remaining_shares:Q", title="shares still to trade"),
            color=alt.Color("series:N", title=None),
            strokeDash=alt.StrokeDash("series:N", legend=None),
        )
        .properties(width=250, height=150)
        .facet(facet=alt.Facet("order_id:N", title=None), columns=3)
        .properties(title="schedule vs actual holdings (largest orders)")
    )


def _svg(chart: alt.TopLevelMixin) -> str:
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(chart.to_json()))


def _table(frame: pl.DataFrame, caption: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.iter_rows():
        cells = []
        for v in row:
            if isinstance(v, float):
                text = "" if math.isnan(v) else (f"{v:,.2f}" if abs(v) >= 0.01 or v == 0 else f"{v:.3g}")
            else:
                text = "" if v is None else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{''.join(body)}</table>"


def scorecard(rows: pl.DataFrame, by: str) -> pl.DataFrame:
    """Per ``by``: orders, notional, notional-weighted cost components (bps), median total, z mean/sd."""
    costed = rows.filter(pl.col("total_usd").is_not_null())
    return (
        costed.group_by(by)
        .agg(
            pl.len().alias("orders"),
            pl.col("notional_usd").sum().alias("notional_usd"),
            *(
                (1e4 * pl.col(f"{c}_usd").sum() / pl.col("notional_usd").sum()).alias(f"{c}_bps")
                for c in (*WATERFALL, "total")
            ),
            pl.col("total_bps").median().alias("median_bps"),
            pl.col("z_score").mean().alias("z_mean"),
            pl.col("z_score").std().alias("z_sd"),
        )
        .sort(by)
    )


CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1280px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.kpis{display:flex;flex-wrap:wrap;gap:12px}.kpi{border:1px solid #ddd;border-radius:6px;padding:8px 14px}
.kpi b{display:block;font-size:20px}table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}caption{text-align:left;
font-weight:600;padding:4px 0}.charts{display:flex;flex-wrap:wrap;gap:16px}.note{color:#666;font-size:12px}
"""


def render_report(
    date: dt.date,
    rows: pl.DataFrame,
    calibrations: pl.DataFrame,
    paths: pl.DataFrame,
    out_dir: Path,
) -> ReportFiles:
    """Write ``report.html`` and the PNGs for ``date`` into ``out_dir`` (replacing earlier ones)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    s = day_summary(rows)
    charts: dict[str, alt.TopLevelMixin] = {
        "waterfall": waterfall_chart(s),
        "cost_vs_model": cost_vs_model_chart(rows),
        "z_histogram": z_histogram_chart(rows),
    }
    if paths.height:
        charts["schedules"] = schedules_chart(paths)
    svgs = {k: _svg(c) for k, c in charts.items()}
    pngs = {k: save_chart(c, out_dir / f"{k}.png") for k, c in charts.items()}
    kpi = [
        ("orders", f"{s['orders']:,}"), ("filled", f"{s['filled_orders']:,}"),
        ("notional", f"${s['notional_usd']:,.0f}"), ("fill rate", f"{100 * s['fill_rate']:.1f} %"),
        ("cost", f"{s['total_bps']:.2f} bps"),
        ("z mean ± sd", f"{s['z_mean']:+.2f} ± {s['z_std']:.2f} (n = {s['z_n']})"),
    ]  # fmt: skip
    statuses = rows.group_by("status", "model_status").len().sort("status", "model_status")
    worst = rows.filter(pl.col("total_bps").is_not_null()).sort("total_usd", descending=True).head(15).select(
        "order_id", "symbol", "side", "quantity", "filled_shares", "broker", "algo", "total_bps", "delay_bps",
        "spread_bps", "impact_bps", "opportunity_bps", "fees_bps", "slippage_interval_vwap_bps", "z_score",
        "markout_5m_bps",
    )  # fmt: skip
    cal_cols = [c for c in ("symbol", "calibration_as_of", "status", "sigma_usd", "sigma_se_usd", "gamma",
                            "gamma_se", "eta", "eta_se", "eta_source", "epsilon_usd", "epsilon_se_usd")
                if c in calibrations.columns]  # fmt: skip
    doc = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Kappa post-trade report {date}</title><style>{CSS}</style></head><body>
<h1>Post-trade attribution, {date}</h1>
<div class="kpis">{"".join(f'<div class="kpi">{html.escape(k)}<b>{html.escape(v)}</b></div>' for k, v in kpi)}</div>
<p class="note">Costs are Perold implementation shortfall, positive = cost, in bps of quantity × decision price
(arrival mid where none), notional-weighted. z = (C − E)/√V with the Almgren-Chriss E and V of each order's
realised path under the calibration a pre-trade model had (the latest before {date}); for a well-calibrated
model z is about N(0, 1).</p>
<h2>Where the cost came from</h2><div class="charts">{svgs["waterfall"]}{svgs["cost_vs_model"]}</div>
<h2>Is the model calibrated?</h2><div class="charts">{svgs["z_histogram"]}</div>
<h2>Scorecards</h2>{_table(scorecard(rows, "broker"), "by broker")}{_table(scorecard(rows, "algo"), "by algo")}
<h2>Schedule vs actual</h2><div class="charts">{svgs.get("schedules", "<p>no filled orders</p>")}</div>
<h2>Costliest orders</h2>{_table(worst, "by total cost, USD")}
<h2>Calibration used</h2>{_table(calibrations.select(cal_cols), "latest calibration before the day")}
<h2>Statuses</h2>{_table(statuses, "orders by status")}
</body></html>"""
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(path)
    return ReportFiles(path, pngs)
