"""Charts rendered offline with altair and vl-convert (PNG, SVG or self-contained HTML)."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import polars as pl


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
        raise ValueError(f"cannot draw {path.name}: use .png, .svg or .html")
    return path
