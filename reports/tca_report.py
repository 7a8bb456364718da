"""The day's post-trade report: one self-contained HTML file (inline SVG charts, no network), PNGs, and the
same key numbers and tables in markdown (the Prefect artifact of the night).

:func:`render_report` takes the ``attribution`` rows of a date, the calibrations they were judged with and
the filled and scheduled paths of the largest orders, and writes ``report.html`` plus ``waterfall.png``,
``cost_vs_model.png``, ``z_histogram.png`` and ``schedules.png`` (for Prefect artifacts) into a folder.
:func:`report_markdown` writes the key numbers, the cost by component, the scorecards, the tracking against
schedules and the costliest orders of the same rows in markdown.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import polars as pl

from reports.charts import (
    cost_vs_model_chart,
    schedules_chart,
    svg_and_png,
    waterfall_chart,
    z_histogram_chart,
)
from reports.tables import (
    CALIBRATION_COLUMNS,
    COMPONENT_COLUMNS,
    COSTLIEST_COLUMNS,
    STATUS_COLUMNS,
    TRACKING_TABLE_COLUMNS,
    WATERFALL,
    Column,
    cost_components,
    costed_rows,
    costliest_orders,
    html_table,
    markdown_table,
    schedule_tracking,
    scorecard_columns,
    status_counts,
    usd_text,
    weighted_bps,
)

COSTLIEST_ORDERS = 15
MARKDOWN_COSTLIEST_ORDERS = 10
TRACKED_ORDERS = 15
"""Orders of the "Execution against schedule" table (the largest by notional; the footer counts them all)."""
SCORECARDS = (("broker", "Broker"), ("algo", "Algo"))
"""The scorecards the report prints: the views ``scorecard_broker`` and ``scorecard_algo`` of the day."""


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """Where the report went."""

    html: Path
    pngs: dict[str, Path]


def day_summary(rows: pl.DataFrame) -> dict[str, float | int]:
    """The numbers at the top of the report.

    Returns
    -------
    dict
        ``orders``, ``filled_orders``, ``notional_usd`` (of the costed orders), ``fill_rate``; per component
        of the waterfall and ``total``: ``<c>_usd`` (Σ $) and ``<c>_bps`` (Σ $ / Σ notional); ``z_n``,
        ``z_mean``, ``z_std``; ``working_orders`` (still open at the close: costed on the day they complete)
        and ``interim_mtm_usd`` (Σ of their open shares' interim mark, unrealized, in no total).
    """
    costed = costed_rows(rows)
    components = (*WATERFALL, "total")
    sums = costed.select(
        pl.col("notional_usd").sum(), *(pl.col(f"{c}_usd").sum() for c in components),
        *(weighted_bps(c) for c in components),
    ).row(0, named=True)  # fmt: skip
    notional = float(sums["notional_usd"])
    quantity = float(rows["quantity"].cast(pl.Float64).sum())
    out: dict[str, float | int] = {
        "orders": rows.height,
        "filled_orders": int((rows["filled_shares"].cast(pl.Float64) > 0).sum()),
        "notional_usd": notional,
        "fill_rate": float(rows["filled_shares"].cast(pl.Float64).sum()) / quantity if quantity else math.nan,
    }
    for c in components:
        out[f"{c}_usd"] = float(sums[f"{c}_usd"])
        out[f"{c}_bps"] = float(sums[f"{c}_bps"])
    working = rows.filter(pl.col("status") == "working")
    out["working_orders"] = working.height
    mtm = working["interim_mtm_usd"].cast(pl.Float64) if "interim_mtm_usd" in rows.columns else None
    out["interim_mtm_usd"] = float(mtm.sum()) if mtm is not None else 0.0
    z = rows["z_score"].cast(pl.Float64).drop_nulls().to_numpy()
    out["z_n"] = int(z.size)
    out["z_mean"] = float(z.mean()) if z.size else math.nan
    out["z_std"] = float(z.std(ddof=1)) if z.size > 1 else math.nan
    return out


def key_numbers(s: dict[str, float | int]) -> list[tuple[str, str]]:
    """``(label, value)`` of the day's headline numbers, printed ("n/a" where there is none)."""

    def num(v: float | int, spec: str) -> str:
        return "n/a" if isinstance(v, float) and math.isnan(v) else format(v, spec)

    return [
        ("Orders", f"{s['orders']:,}"), ("Orders with fills", f"{s['filled_orders']:,}"),
        ("Notional", usd_text(s["notional_usd"], 0)),
        ("Shares filled / ordered", f"{num(100 * s['fill_rate'], '.1f')} %"),
        ("Total cost", usd_text(s["total_usd"])), ("Total cost (bps)", f"{num(s['total_bps'], '.2f')} bps"),
        ("Model z mean ± sd", f"{num(s['z_mean'], '+.2f')} ± {num(s['z_std'], '.2f')} (n = {s['z_n']})"),
    ] + ([("Working at the close (costed when complete)",
           f"{s['working_orders']:,} order{'' if s['working_orders'] == 1 else 's'}, interim mark "
           f"{usd_text(s['interim_mtm_usd'])}")] if s.get("working_orders") else [])  # fmt: skip


CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.kpis{display:flex;flex-wrap:wrap;gap:12px}.kpi{border:1px solid #ddd;border-radius:6px;padding:8px 14px}
.kpi b{display:block;font-size:20px}.table{overflow-x:auto}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px}
.num{text-align:right}.txt{text-align:left}td.txt{white-space:nowrap}th{background:#f4f4f4}
tfoot td{font-weight:600;background:#fafafa}caption{text-align:left;font-weight:600;padding:4px 0}
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}.note{color:#666;font-size:12px}
"""


def render_report(
    date: dt.date,
    rows: pl.DataFrame,
    calibrations: pl.DataFrame,
    paths: pl.DataFrame,
    out_dir: Path,
    scorecards: Mapping[str, pl.DataFrame],
) -> ReportFiles:
    """Write ``report.html`` and the PNGs for ``date`` into ``out_dir`` (replacing earlier ones).

    Parameters
    ----------
    date
        The session reported.
    rows
        Its ``attribution`` rows.
    calibrations
        The calibrations the orders were judged with (``calibrations`` columns and ``calibration_as_of``).
    paths
        Filled and scheduled paths of the largest orders (see :func:`reports.charts.schedules_chart`).
    out_dir
        The folder to write into.
    scorecards
        The day's rows of the views ``scorecard_<by>`` for each ``by`` of :data:`SCORECARDS`: the report
        prints the views, it does not recompute them.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    s = day_summary(rows)
    charts: dict[str, alt.TopLevelMixin] = {
        "waterfall": waterfall_chart(s),
        "cost_vs_model": cost_vs_model_chart(rows),
        "z_histogram": z_histogram_chart(rows),
    }
    if paths.height:
        charts["schedules"] = schedules_chart(paths)
    pngs = {k: out_dir / f"{k}.png" for k in charts}
    svgs = {k: svg_and_png(c, pngs[k]) for k, c in charts.items()}
    kpis = "".join(
        f'<div class="kpi">{html.escape(k)}<b>{html.escape(v)}</b></div>' for k, v in key_numbers(s)
    )
    top, totals = costliest_orders(rows, COSTLIEST_ORDERS)
    tracked, tracked_all = schedule_tracking(rows, TRACKED_ORDERS)
    tracking = (
        html_table(
            tracked, TRACKING_TABLE_COLUMNS, "tracking error by order (largest by notional)", tracked_all
        )
        if tracked.height
        else "<p>no order was tracked against a saved schedule</p>"
    )
    cards = "".join(
        html_table(scorecards[by], scorecard_columns(by, label), f"by {by}") for by, label in SCORECARDS
    )
    cal_columns = [c for c in CALIBRATION_COLUMNS if c.name in calibrations.columns]
    doc = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Kappa post-trade report {date}</title><style>{CSS}</style></head><body>
<h1>Post-trade attribution, {date}</h1>
<div class="kpis">{kpis}</div>
<p class="note">Costs are Perold implementation shortfall, positive = cost, in $ and in bps of quantity ×
decision price (arrival mid where none), notional-weighted. Slippage to a benchmark is side × (fill VWAP −
benchmark) / benchmark, notional-weighted over the orders with fills. z = (C − E)/√V with the Almgren-Chriss
E and V of each order's realised path under the calibration a pre-trade model had (the latest before {date});
for a well-calibrated model z is about N(0, 1).</p>
<h2>Where the cost came from</h2>
<div class="charts">{html_table(cost_components(rows), COMPONENT_COLUMNS, "cost by component")}
{svgs["waterfall"]}{svgs["cost_vs_model"]}</div>
<h2>Is the model calibrated?</h2><div class="charts">{svgs["z_histogram"]}</div>
<h2>Scorecards</h2>{cards}
<h2>Execution against schedule</h2><p class="note">Shares filled against the shares the order's schedule had
executed (its latest saved schedule: the nightly plans each order the evening before it arrives), in trading time
since arrival (session hours of the exchange: nights, weekends and holidays are left out; a dotted line marks a
close). Within a period the schedule trades at a constant rate, so its executed path is linear in trading time
between period ends. Ahead/behind is filled − scheduled at the close (at the last fill for an order complete by
then); the tracking error is the root mean square of filled − scheduled over the schedule's period ends in the
session, in shares and in % of the order's quantity.</p>
<div class="charts">{svgs.get("schedules", "<p>no filled orders</p>")}</div>{tracking}
<h2>Costliest orders</h2>{html_table(top, COSTLIEST_COLUMNS, "by total cost ($)", totals)}
<h2>Calibration used</h2>{html_table(calibrations, cal_columns, "latest calibration before the day")}
<h2>Statuses</h2>{html_table(status_counts(rows), STATUS_COLUMNS, "orders by status")}
</body></html>"""
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(path)
    return ReportFiles(path, pngs)


# The markdown artifact has less room than the page: the costliest orders without the per-order components.
MARKDOWN_COSTLIEST_COLUMNS: list[Column] = [
    c
    for c in COSTLIEST_COLUMNS
    if c.name not in ("broker", "algo", "quantity", "z_score", "reversion_5m_bps", "slippage_arrival_bps")
]


def report_markdown(
    date: dt.date,
    rows: pl.DataFrame,
    html_path: str | Path | None = None,
    *,
    scorecards: Mapping[str, pl.DataFrame],
) -> str:
    """The report of ``date`` in markdown: key numbers, cost by component ($ and bps), the scorecards by
    broker and algo (the views ``scorecard_broker``, ``scorecard_algo`` of the day, as in
    :func:`render_report`) and the costliest orders in $ and bps; ``html_path``, where the full report is,
    as text."""
    s = day_summary(rows)
    top, totals = costliest_orders(rows, MARKDOWN_COSTLIEST_ORDERS)
    lines = [
        f"# Post-trade report {date}",
        "",
        " · ".join(f"**{k}** {v}" for k, v in key_numbers(s)),
        "",
        "## Cost by component",
        "",
        markdown_table(cost_components(rows), COMPONENT_COLUMNS),
    ]
    for by, label in SCORECARDS:
        lines += [
            "",
            f"## Scorecard by {by}",
            "",
            markdown_table(scorecards[by], scorecard_columns(by, label)),
        ]
    tracked, tracked_all = schedule_tracking(rows, MARKDOWN_COSTLIEST_ORDERS)
    if tracked.height:
        lines += [
            "",
            f"## Execution against schedule (top {tracked.height} by notional)",
            "",
            markdown_table(tracked, TRACKING_TABLE_COLUMNS, tracked_all),
        ]
    lines += [
        "",
        f"## Costliest orders (top {top.height} by total cost in $)",
        "",
        markdown_table(top, MARKDOWN_COSTLIEST_COLUMNS, totals),
    ]
    if html_path is not None:
        lines += ["", f"Full report with charts (open the file in a browser): `{html_path}`"]
    return "\n".join(lines)
