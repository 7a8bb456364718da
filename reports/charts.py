"""Charts rendered offline with altair and vl-convert (PNG, SVG or self-contained HTML).

The efficient frontier of ``kappa schedule``, the simulated cost distributions of ``kappa simulate``, and
the post-trade report's charts: the cost waterfall, realized against expected cost, the histogram of z, and
each large order's filled shares against its schedule's executed path in trading time.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import altair as alt
import polars as pl

from kappa.errors import ParameterError
from kappa.units import bps
from reports.tables import WATERFALL

WIDTH, HEIGHT = 560, 300
ACTUAL, MODEL = "actual fills", "Almgren-Chriss schedule"
SERIES_COLOURS = {ACTUAL: "#d62728", MODEL: "#1f77b4"}


def frontier_chart(
    frontier: pl.DataFrame, baselines: pl.DataFrame | None = None, title: str = ""
) -> alt.LayerChart:
    """The efficient frontier E against V (Almgren & Chriss 2000, Fig. 1), the chosen λ and the baselines.

    Parameters
    ----------
    frontier
        ``variance_usd2, expected_cost_usd, risk_aversion, selected`` per point (the ``frontiers`` table).
    baselines
        ``strategy, variance_usd2, expected_cost_usd`` of schedules to mark beside it (e.g. TWAP, VWAP).
    """
    base = frontier.select("variance_usd2", "expected_cost_usd", "risk_aversion", "selected").to_pandas()
    x = alt.X("variance_usd2:Q", title="variance V ($²)", scale=alt.Scale(zero=True))
    y = alt.Y("expected_cost_usd:Q", title="expected cost E ($)", scale=alt.Scale(zero=False))
    tooltip = ["risk_aversion:Q", "expected_cost_usd:Q", "variance_usd2:Q"]
    line = alt.Chart(base).mark_line(point=alt.OverlayMarkDef(size=18)).encode(x=x, y=y, tooltip=tooltip)
    chosen = (
        alt.Chart(base[base["selected"]])
        .mark_point(size=160, filled=True, color="#d62728")
        .encode(x=x, y=y, tooltip=tooltip)
    )
    layers: list[alt.Chart] = [line, chosen]
    if baselines is not None and baselines.height:
        b = baselines.select("strategy", "variance_usd2", "expected_cost_usd").to_pandas()
        pts = (
            alt.Chart(b)
            .mark_point(size=110, shape="diamond", filled=True)
            .encode(
                x=x,
                y=y,
                color=alt.Color("strategy:N", title="schedule"),
                tooltip=["strategy:N", *tooltip[1:]],
            )
        )
        labels = alt.Chart(b).mark_text(align="left", dx=8, dy=-6).encode(x=x, y=y, text="strategy:N")
        layers += [pts, labels]
    return alt.LayerChart(layer=layers, width=560, height=360, title=title or "efficient frontier")


def padded_domain(values: list[float], pad: float = 0.05, least: float = 1.0) -> list[float]:
    """``[min − m, max + m]`` of the finite ``values`` with m = ``pad`` × their range (``least`` for one value)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return [0.0, 1.0]
    lo, hi = min(finite), max(finite)
    margin = pad * (hi - lo) if hi > lo else max(least, pad * abs(lo))
    return [lo - margin, hi + margin]


def waterfall_chart(summary: dict[str, float | int]) -> alt.LayerChart:
    """Delay → spread → impact → opportunity → fees → total, notional-weighted bps of the day.

    Parameters
    ----------
    summary
        ``<component>_bps`` for the components of :data:`WATERFALL` (NaN counts as 0), as
        ``reports.tca_report.day_summary`` gives them.
    """
    steps, level = [], 0.0
    for c in WATERFALL:
        v = float(summary[f"{c}_bps"])
        v = 0.0 if math.isnan(v) else v
        steps.append({"component": c.capitalize(), "start": level, "end": level + v, "bps": v,
                      "kind": "cost" if v >= 0 else "saving"})  # fmt: skip
        level += v
    steps.append({"component": "Total", "start": 0.0, "end": level, "bps": level, "kind": "total"})
    frame = pl.DataFrame(steps)
    order = [str(s["component"]) for s in steps]
    base = alt.Chart(frame).encode(
        x=alt.X("component:N", sort=order, title=None, axis=alt.Axis(labelAngle=0))
    )
    bars = base.mark_bar(size=48).encode(
        y=alt.Y("start:Q", title="bps of notional"), y2="end:Q",
        color=alt.Color("kind:N", scale=alt.Scale(domain=["cost", "saving", "total"],
                                                  range=["#d62728", "#2ca02c", "#1f77b4"]), legend=None),
        tooltip=["component:N", alt.Tooltip("bps:Q", format=".2f")],
    )  # fmt: skip
    labels = base.mark_text(dy=-8).encode(y="end:Q", text=alt.Text("bps:Q", format=".2f"))
    return alt.LayerChart(layer=[bars, labels], width=WIDTH, height=HEIGHT, title="cost waterfall (bps)")


def cost_vs_model_chart(rows: pl.DataFrame) -> alt.LayerChart:
    """Realized cost C against the model's E per order, with the ±2√V band and C = E (bps of notional).

    Each axis spans its own data (E on x; C and E ± 2√V on y) with a 5 % margin: realized costs spread
    over hundreds of bps while E spans a few, and a shared range would stack the points on one line.
    """
    r = rows.filter(pl.col("z_score").is_not_null()).select(
        "order_id", "symbol",
        bps(pl.col("model_expected_cost_usd"), pl.col("notional_usd")).alias("expected_bps"),
        bps(pl.col("realized_cost_usd"), pl.col("notional_usd")).alias("realized_bps"),
        bps(2 * pl.col("model_std_usd"), pl.col("notional_usd")).alias("two_sd_bps"),
        pl.col("z_score").round(2).alias("z"),
    ).with_columns(
        (pl.col("expected_bps") - pl.col("two_sd_bps")).alias("lo"),
        (pl.col("expected_bps") + pl.col("two_sd_bps")).alias("hi"),
    )  # fmt: skip
    x_dom = padded_domain(r["expected_bps"].to_list())
    y_dom = padded_domain([*r["lo"].to_list(), *r["hi"].to_list(), *r["realized_bps"].to_list()])
    x = alt.X(
        "expected_bps:Q", title="expected cost E (bps)", scale=alt.Scale(domain=x_dom, nice=False),
        axis=alt.Axis(tickCount=8),
    )  # fmt: skip
    y_scale = alt.Scale(domain=y_dom, nice=False)
    y_title = "realized cost C (bps)"
    band = (
        alt.Chart(r)
        .mark_rule(color="#9ecae1", strokeWidth=2, clip=True)
        .encode(x=x, y=alt.Y("lo:Q", scale=y_scale, title=y_title), y2="hi:Q")
    )
    pts = (
        alt.Chart(r)
        .mark_circle(size=28, color="#d62728", clip=True)
        .encode(
            x=x, y=alt.Y("realized_bps:Q", scale=y_scale, title=y_title),
            tooltip=["order_id:N", "symbol:N", alt.Tooltip("expected_bps:Q", title="E (bps)", format=".2f"),
                     alt.Tooltip("realized_bps:Q", title="C (bps)", format=".2f"), "z:Q"],
        )
    )  # fmt: skip
    diag = (
        alt.Chart(pl.DataFrame({"expected_bps": x_dom, "realized_bps": x_dom}))
        .mark_line(color="gray", strokeDash=[4, 4], clip=True)
        .encode(x=x, y=alt.Y("realized_bps:Q", scale=y_scale, title=y_title))
    )
    title = alt.TitleParams(
        "realized vs expected cost, ±2√V",
        subtitle=f"{r.height} orders; blue: E ± 2√V, dashed: C = E",
    )
    return alt.LayerChart(layer=[band, diag, pts], width=WIDTH, height=HEIGHT, title=title)


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
                          title=f"z of {len(z)} orders against N(0, 1) (red)")  # fmt: skip


SESSION_CLOSE = "session close"
PANEL_BREAK = " | "
"""Where a panel's title of :func:`schedules_chart` breaks onto its next line."""


def schedules_chart(paths: pl.DataFrame) -> alt.FacetChart:
    """Execution against schedule: each order's filled shares against its schedule's executed path, in
    trading time.

    Parameters
    ----------
    paths
        ``order_id, panel, series, hours, shares``: ``series`` is :data:`ACTUAL` (F(t), the shares filled: a
        step at each fill), :data:`MODEL` (S(t_k) = X − x_k, the shares the schedule had executed at its
        period ends, joined by straight lines: S is linear in trading time within a period,
        :mod:`tca.tracking`) or :data:`SESSION_CLOSE` (a dotted rule where a session closed: the night is not
        on the axis); ``hours`` counts session time since the order's arrival (6.5 per XNYS day). One panel
        per ``panel`` (its title broken into lines at :data:`PANEL_BREAK`), in the order they come, each with
        its own axes; the series keep their colours in every panel. Fills above the schedule's line are ahead
        of it, below behind.
    """
    panels = list(dict.fromkeys(paths["panel"].to_list()))
    colour = alt.Color(
        "series:N",
        scale=alt.Scale(domain=list(SERIES_COLOURS), range=list(SERIES_COLOURS.values())),
        legend=alt.Legend(title=None, orient="top", symbolType="stroke", symbolStrokeWidth=3),
    )
    x = alt.X("hours:Q", title="trading hours since arrival")
    y = alt.Y("shares:Q", title="shares filled")
    tooltip = [
        alt.Tooltip("order_id:N", title="order"), alt.Tooltip("series:N", title="series"),
        alt.Tooltip("hours:Q", title="trading hours", format=".3f"),
        alt.Tooltip("shares:Q", title="shares filled", format=",.0f"),
    ]  # fmt: skip
    model = (
        alt.Chart()
        .transform_filter(alt.datum.series == MODEL)
        .mark_line(strokeDash=[6, 3], point=alt.OverlayMarkDef(size=10))
        .encode(x=x, y=y, color=colour, tooltip=tooltip)
    )
    actual = (
        alt.Chart()
        .transform_filter(alt.datum.series == ACTUAL)
        .mark_line(interpolate="step-after", point=alt.OverlayMarkDef(size=18))
        .encode(x=x, y=y, color=colour, tooltip=tooltip)
    )
    closes = (
        alt.Chart()
        .transform_filter(alt.datum.series == SESSION_CLOSE)
        .mark_rule(color="#888", strokeDash=[2, 2])
        .encode(x=x, tooltip=[alt.Tooltip("series:N", title="at"), tooltip[2]])
    )
    return (
        alt.layer(model, actual, closes, data=paths.to_pandas())
        .properties(width=250, height=150)
        .facet(
            facet=alt.Facet(
                "panel:N",
                title=None,
                sort=panels,
                header=alt.Header(labelLimit=300, labelExpr=f"split(datum.value, '{PANEL_BREAK}')"),
            ),
            columns=3,
        )
        .resolve_scale(x="independent", y="independent")
        .properties(
            title="shares filled: actual fills vs the Almgren-Chriss schedule (largest orders, trading time)"
        )
    )


def cost_distribution_chart(costs: pl.DataFrame, title: str = "", bins: int = 60) -> alt.LayerChart:
    """The distribution of the simulated implementation shortfall per strategy (``kappa simulate``).

    Parameters
    ----------
    costs
        ``strategy, cost_usd``: one row per path and strategy ($, positive = cost).
    title
        The chart's title.
    bins
        Equal bins over the range of every strategy's costs (the same bins for all, so the curves compare).

    Returns
    -------
    altair.LayerChart
        The share of paths in each bin as a step line per strategy, and a dashed rule at each strategy's
        mean. The paths are binned here (numpy), so the chart carries ``bins`` points per strategy, not P.
    """
    import numpy as np

    values = costs["cost_usd"].to_numpy()
    lo, hi = float(values.min()), float(values.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    rows, means = [], []
    names = list(dict.fromkeys(costs["strategy"].to_list()))
    for name in names:
        c = costs.filter(pl.col("strategy") == name)["cost_usd"].to_numpy()
        counts, _ = np.histogram(c, bins=edges)
        rows += [{"strategy": name, "cost_usd": float(0.5 * (a + b)), "share": float(n) / c.size}
                 for a, b, n in zip(edges[:-1], edges[1:], counts, strict=True)]  # fmt: skip
        means.append({"strategy": name, "mean_usd": float(c.mean())})
    colour = alt.Color("strategy:N", title="strategy", sort=names)
    x = alt.X("cost_usd:Q", title="implementation shortfall ($, + = cost)")
    lines = (
        alt.Chart(pl.DataFrame(rows).to_pandas())
        .mark_line(interpolate="step")
        .encode(
            x=x,
            y=alt.Y("share:Q", title="share of paths", axis=alt.Axis(format="%")),
            color=colour,
            tooltip=[
                "strategy:N",
                alt.Tooltip("cost_usd:Q", format=",.0f"),
                alt.Tooltip("share:Q", format=".2%"),
            ],
        )
    )
    rules = (
        alt.Chart(pl.DataFrame(means).to_pandas())
        .mark_rule(strokeDash=[6, 3])
        .encode(
            x=alt.X("mean_usd:Q"),
            color=colour,
            tooltip=["strategy:N", alt.Tooltip("mean_usd:Q", title="mean ($)", format=",.0f")],
        )
    )
    return alt.LayerChart(layer=[lines, rules], width=WIDTH, height=HEIGHT,
                          title=title or "simulated implementation shortfall")  # fmt: skip


def svg_and_png(chart: alt.TopLevelMixin, png: Path, scale: float = 2.0) -> str:
    """The SVG text of ``chart``, with its PNG (``scale`` × its size) written to ``png``, from one Vega-Lite
    compile and layout.

    The PNG is rasterised from that SVG (``vl_convert.svg_to_png``), which is how ``vegalite_to_png`` makes
    it: the bytes are those :func:`save_chart` writes, without a second spec, compile and layout (the
    report of the small benchmark night: its four PNGs in 0.28 s instead of 0.88 s, the whole report
    1.85 s of CPU instead of 1.99 s).
    """
    import vl_convert as vlc

    svg = str(vlc.vegalite_to_svg(chart.to_json()))
    png.parent.mkdir(parents=True, exist_ok=True)
    png.write_bytes(vlc.svg_to_png(svg, scale=scale))
    return svg


def save_chart(chart: alt.TopLevelMixin, path: Path, scale: float = 2.0) -> Path:
    """Write ``chart`` to ``path`` as PNG, SVG or HTML (by its suffix), with no network access."""
    import vl_convert as vlc

    spec = chart.to_json()
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        path.write_bytes(vlc.vegalite_to_png(spec, scale=scale))
    elif suffix == ".svg":
        path.write_text(vlc.vegalite_to_svg(spec))
    elif suffix in (".html", ".htm"):
        path.write_text(vlc.vegalite_to_html(spec, bundle=True))
    else:
        raise ParameterError(
            f"cannot draw {path.name}: use .png, .svg or .html", name="path", value=str(path)
        )
    return path
