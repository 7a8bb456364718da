"""The report's tables: what each one holds, its human labels and units, and its HTML and markdown forms.

Each table is a polars frame of ``attribution`` columns plus a list of :class:`Column` that names a column,
its label as a reader sees it ("Total cost ($)") and how its values print (shares as whole numbers with
thousands separators, dollars and bps to the cent and hundredth). The HTML report and the Prefect markdown
artifact render the same frames, so both show the same numbers.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kappa.units import bps

if TYPE_CHECKING:  # polars loads with the first table built, not with the formatting (kappa schedule --json)
    import polars as pl

WATERFALL = ("delay", "spread", "impact", "opportunity", "fees")
COMPONENT_LABELS = {
    "delay": "Delay", "spread": "Spread", "impact": "Impact", "opportunity": "Opportunity", "fees": "Fees",
    "total": "Total",
}  # fmt: skip

Kind = Literal["text", "shares", "count", "usd", "usd0", "bps", "number", "sci"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a printed table: the frame's column ``name``, its ``label`` and how it prints."""

    name: str
    label: str
    kind: Kind = "text"

    @property
    def numeric(self) -> bool:
        return self.kind != "text"


def cell_text(value: object, kind: Kind) -> str:
    """``value`` as printed in a column of ``kind`` (empty for a missing value).

    ``shares`` and ``count`` are whole numbers with thousands separators, ``usd`` and ``bps`` two decimals,
    ``usd0`` whole dollars, ``number`` two decimals, ``sci`` three significant digits.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if kind == "text" or not isinstance(value, int | float):
        return str(value)
    v = float(value)
    if kind in ("shares", "count", "usd0"):
        return f"{round(v):,}"
    if kind == "sci":
        return f"{v:.3g}"
    return f"{round(v, 2) + 0.0:,.2f}"  # + 0.0: a value that rounds to zero prints 0.00, not -0.00


def usd_text(value: float, digits: int = 2) -> str:
    """``value`` dollars as printed: ``$1,234.50``, ``-$235.45`` (the sign before the $), never ``-$0.00``."""
    v = round(float(value), digits) + 0.0
    return f"{'-' if v < 0 else ''}${abs(v):,.{digits}f}"


def html_table(
    frame: pl.DataFrame, columns: list[Column], caption: str, footer: pl.DataFrame | None = None
) -> str:
    """An HTML table of ``frame`` with the labels of ``columns``; ``footer`` rows (same columns) in tfoot."""

    def rows(part: pl.DataFrame) -> str:
        out = []
        for row in part.select(c.name for c in columns).iter_rows():
            cells = "".join(
                f'<td class="{"num" if c.numeric else "txt"}">{html.escape(cell_text(v, c.kind))}</td>'
                for c, v in zip(columns, row, strict=True)
            )
            out.append(f"<tr>{cells}</tr>")
        return "".join(out)

    head = "".join(
        f'<th class="{"num" if c.numeric else "txt"}">{html.escape(c.label)}</th>' for c in columns
    )
    foot = f"<tfoot>{rows(footer)}</tfoot>" if footer is not None and footer.height else ""
    return (
        f'<div class="table"><table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows(frame)}</tbody>{foot}</table></div>"
    )


def markdown_table(frame: pl.DataFrame, columns: list[Column], footer: pl.DataFrame | None = None) -> str:
    """A GitHub-flavoured markdown table of ``frame`` (numbers right-aligned), ``footer`` rows in bold."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "| " + " | ".join(esc(c.label) for c in columns) + " |",
        "|" + "|".join("---:" if c.numeric else "---" for c in columns) + "|",
    ]
    parts = [(frame, False), (footer, True)] if footer is not None else [(frame, False)]
    for part, bold in parts:
        for row in part.select(c.name for c in columns).iter_rows():
            texts = [esc(cell_text(v, c.kind)) for c, v in zip(columns, row, strict=True)]
            if bold:
                texts = [f"**{t}**" if t else t for t in texts]
            lines.append("| " + " | ".join(texts) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- frames

COST_COLUMNS = [f"{c}_usd" for c in (*WATERFALL, "total")]
NUMERIC_COLUMNS = (
    "quantity", "filled_shares", "notional_usd", *COST_COLUMNS, "total_bps", "slippage_arrival_bps",
    "slippage_interval_vwap_bps", "z_score",
)  # fmt: skip


def costed_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """The orders with a cost (``total_usd`` not null), numeric columns as float64.

    A night whose every symbol failed has all-null columns of no type; the cast gives them one.
    """
    import polars as pl

    return rows.with_columns(pl.col(c).cast(pl.Float64) for c in NUMERIC_COLUMNS if c in rows.columns).filter(
        pl.col("total_usd").is_not_null()
    )


def weighted_bps(component: str) -> pl.Expr:
    """``<component>_bps`` of a group: Σ ``<component>_usd`` / Σ ``notional_usd`` in bps (the report's one
    notional weighting; NaN for a group without notional)."""
    import polars as pl

    notional = pl.col("notional_usd").sum()
    weighted = bps(pl.col(f"{component}_usd").sum(), notional)
    return pl.when(notional != 0).then(weighted).otherwise(math.nan).alias(f"{component}_bps")


def _weighted_slippage(column: str) -> pl.Expr:
    """Σ notional·slippage / Σ notional over the orders that have one (those without fills have none)."""
    import polars as pl

    has = pl.col(column).is_not_null()
    return (
        (pl.col("notional_usd") * pl.col(column)).filter(has).sum() / pl.col("notional_usd").filter(has).sum()
    ).alias(column)


def cost_aggregates() -> list[pl.Expr]:
    """The totals of a set of orders (the costliest orders' footer): orders, shares, notional, cost ($), the
    notional-weighted components and slippages (bps), weighted as the ``scorecard_*`` views weight them."""
    import polars as pl

    return [
        pl.len().cast(pl.Int64).alias("orders"),
        pl.col("quantity").sum(),
        pl.col("filled_shares").sum(),
        pl.col("notional_usd").sum(),
        pl.col("total_usd").sum(),
        *(weighted_bps(c) for c in (*WATERFALL, "total")),
        _weighted_slippage("slippage_arrival_bps"),
        _weighted_slippage("slippage_interval_vwap_bps"),
    ]


def scorecard_columns(by: str, label: str) -> list[Column]:
    """The printed columns of the view ``scorecard_<by>`` (its names: ``total_bps_median``, ``z_std``)."""
    return [
        Column(by, label),
        Column("orders", "Orders", "count"),
        Column("notional_usd", "Notional ($)", "usd0"),
        Column("slippage_arrival_bps", "Slippage to arrival (bps)", "bps"),
        Column("slippage_interval_vwap_bps", "Slippage to interval VWAP (bps)", "bps"),
        Column("total_usd", "Total cost ($)", "usd"),
        Column("total_bps", "Total (bps)", "bps"),
        *(Column(f"{c}_bps", f"{COMPONENT_LABELS[c]} (bps)", "bps") for c in WATERFALL),
        Column("total_bps_median", "Median total (bps)", "bps"),
        Column("z_mean", "z mean", "number"),
        Column("z_std", "z sd", "number"),
    ]


def cost_components(rows: pl.DataFrame) -> pl.DataFrame:
    """The day's cost by component: ``component``, ``usd`` (Σ) and ``bps`` (Σ usd / Σ notional)."""
    import polars as pl

    names = (*WATERFALL, "total")
    sums = (
        costed_rows(rows)
        .select(*(pl.col(f"{c}_usd").sum() for c in names), *(weighted_bps(c) for c in names))
        .row(0, named=True)
    )
    out = [
        {"component": COMPONENT_LABELS[c], "usd": sums[f"{c}_usd"], "bps": sums[f"{c}_bps"]} for c in names
    ]
    return pl.DataFrame(out, schema={"component": pl.String, "usd": pl.Float64, "bps": pl.Float64})


COMPONENT_COLUMNS = [
    Column("component", "Component"), Column("usd", "Cost ($)", "usd"), Column("bps", "Cost (bps)", "bps")
]  # fmt: skip

COSTLIEST_COLUMNS = [
    Column("order_id", "Order"),
    Column("symbol", "Symbol"),
    Column("side", "Side"),
    Column("quantity", "Quantity (shares)", "shares"),
    Column("filled_shares", "Filled (shares)", "shares"),
    Column("broker", "Broker"),
    Column("algo", "Algo"),
    Column("notional_usd", "Notional ($)", "usd0"),
    Column("total_usd", "Total cost ($)", "usd"),
    Column("total_bps", "Total (bps)", "bps"),
    *(Column(f"{c}_bps", f"{COMPONENT_LABELS[c]} (bps)", "bps") for c in WATERFALL),
    Column("slippage_arrival_bps", "Slippage to arrival (bps)", "bps"),
    Column("slippage_interval_vwap_bps", "Slippage to interval VWAP (bps)", "bps"),
    Column("z_score", "z score", "number"),
    Column("reversion_5m_bps", "Reversion 5 min (bps)", "bps"),
]


def costliest_orders(rows: pl.DataFrame, n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``n`` orders that cost most in $ and, as footer rows, the totals of those and of every costed
    order: Σ shares, Σ notional, Σ cost ($), and notional-weighted bps."""
    import polars as pl

    costed = costed_rows(rows)
    top = costed.sort("total_usd", descending=True).head(n)
    foot = pl.concat(
        [
            part.select(cost_aggregates()).with_columns(pl.lit(label).alias("order_id"))
            for part, label in (
                (top, f"These {top.height} orders"),
                (costed, f"All {costed.height} costed orders"),
            )
        ]
    )
    foot = foot.with_columns(
        pl.lit(None, pl.Float64).alias(c) for c in ("z_score", "reversion_5m_bps")
    ).with_columns(pl.lit(None, pl.String).alias(c) for c in ("symbol", "side", "broker", "algo"))
    return top, foot


def status_counts(rows: pl.DataFrame) -> pl.DataFrame:
    """Orders by attribution status and model status (``orders``)."""
    import polars as pl

    return (
        rows.group_by("status", "model_status")
        .agg(pl.len().cast(pl.Int64).alias("orders"))
        .sort("status", "model_status")
    )


STATUS_COLUMNS = [
    Column("status", "Status"),
    Column("model_status", "Model status"),
    Column("orders", "Orders", "count"),
]

CALIBRATION_COLUMNS = [
    Column("symbol", "Symbol"),
    Column("calibration_as_of", "Calibrated as of"),
    Column("status", "Status"),
    Column("sigma_usd", "σ ($/share/√day)", "sci"),
    Column("sigma_se_usd", "σ s.e.", "sci"),
    Column("gamma", "γ ($/share per share)", "sci"),
    Column("gamma_se", "γ s.e.", "sci"),
    Column("eta", "η ($/share per share/day)", "sci"),
    Column("eta_se", "η s.e.", "sci"),
    Column("eta_source", "η source"),
    Column("epsilon_usd", "ε ($/share)", "sci"),
    Column("epsilon_se_usd", "ε s.e.", "sci"),
]

TRACKING_TABLE_COLUMNS = [
    Column("order_id", "Order"),
    Column("symbol", "Symbol"),
    Column("side", "Side"),
    Column("status", "Status"),
    Column("quantity", "Quantity (shares)", "shares"),
    Column("filled_shares", "Filled (shares)", "shares"),
    Column("scheduled_filled_shares", "Scheduled by then (shares)", "shares"),
    Column("ahead_of_schedule_shares", "Ahead + / behind − (shares)", "shares"),
    Column("tracking_error_shares", "Tracking error (shares)", "shares"),
    Column("tracking_error_pct", "Tracking error (% of order)", "number"),
]


def schedule_tracking(rows: pl.DataFrame, n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``n`` largest orders by notional tracked against a schedule (``scheduled_filled_shares`` not
    null) and, as a footer row, every tracked order: Σ shares and the quantity-weighted tracking error,
    Σ tracking error (shares) / Σ quantity × 100 (over the orders that have one)."""
    import polars as pl

    tracked = rows.filter(pl.col("scheduled_filled_shares").is_not_null())
    top = tracked.sort("notional_usd", descending=True, nulls_last=True).head(n)
    has = pl.col("tracking_error_shares").is_not_null()
    foot = tracked.select(
        pl.lit(f"All {tracked.height} tracked orders (sums; % = Σ tracking error / Σ quantity)").alias("order_id"),
        *(pl.lit(None, pl.String).alias(c) for c in ("symbol", "side", "status")),
        *(pl.col(c).cast(pl.Float64).sum() for c in ("quantity", "filled_shares", "scheduled_filled_shares",
                                                     "ahead_of_schedule_shares", "tracking_error_shares")),
        (100 * pl.col("tracking_error_shares").sum() / pl.col("quantity").filter(has).sum()).alias(
            "tracking_error_pct"
        ),
    )  # fmt: skip
    return top, foot
