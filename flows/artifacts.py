"""The Prefect artifacts of a night: the calibrations table, a markdown summary, the TCA report in markdown.

They render in the Prefect UI beside the flow run; the HTML report itself (and its charts) stays in the
home's ``reports`` folder, whose path the artifacts give as text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.strict_json import json_safe
from reports.tables import cell_text, usd_text
from reports.tca_report import day_summary, report_markdown

if TYPE_CHECKING:
    from flows.nightly import NightlyResult

ARTIFACT_CALIBRATION_COLUMNS = (
    "symbol", "status", "sigma_usd", "sigma_garch_usd", "gamma", "gamma_se", "eta", "eta_source",
    "epsilon_usd", "beta", "adv_shares", "reason",
)  # fmt: skip


def publish_calibrations(calibrations: pl.DataFrame) -> None:
    """A table artifact ``calibrations``: one row per symbol."""
    table = [json_safe(r) for r in calibrations.select(ARTIFACT_CALIBRATION_COLUMNS).to_dicts()]
    as_of = calibrations["as_of"][0] if calibrations.height else None
    create_table_artifact(table, key="calibrations", description=f"Calibrations as of {as_of}")


def publish_artifacts(
    result: NightlyResult,
    calibrations: pl.DataFrame,
    attribution: pl.DataFrame,
    scorecards: dict[str, pl.DataFrame],
) -> None:
    """The night's artifacts: the calibrations table, a markdown summary, and the TCA report in markdown.

    The report artifact (``tca-report``) renders in the Prefect UI: the key numbers, the cost by component
    in $ and bps, the scorecards by broker and algo and the costliest orders, with the path of the HTML
    report (and its charts) as text; a browser does not open ``file://`` links from the UI.
    """
    if calibrations.height:
        publish_calibrations(calibrations)
    create_markdown_artifact(nightly_markdown(result, attribution), key="nightly-summary",
                             description=f"Kappa nightly {result.date}")  # fmt: skip
    if result.report:
        create_markdown_artifact(report_markdown(result.date, attribution, result.report, scorecards=scorecards),
                                 key="tca-report",
                                 description=f"Post-trade report of {result.date}")  # fmt: skip


def nightly_markdown(result: NightlyResult, attribution: pl.DataFrame) -> str:
    """The night in markdown: loads, calibrations, the day's cost by component and the model's z."""
    lines = [
        f"# Kappa nightly {result.date}",
        "",
        f"run `{result.run_id}`: {result.loaded_rows:,} rows loaded, {result.quarantined_rows:,} quarantined",
        "",
        "calibrations: " + (", ".join(f"{k} {v}" for k, v in result.calibration_status.items()) or "none"),
        f"schedules for the next session: {result.schedules}"
        + (f" ({len(result.skipped_orders)} order(s) skipped)" if result.skipped_orders else ""),
        "",
    ]
    costed = attribution.filter(pl.col("status") != "failed") if attribution.height else attribution
    if costed.height:
        s = day_summary(costed)
        lines += [
            f"## Cost of the day: {s['orders']} order(s), {usd_text(s['notional_usd'], 0)} notional, "
            f"{usd_text(s['total_usd'])} total cost",
            "",
            "| component | $ | bps (notional-weighted) |",
            "|---|---:|---:|",
            *(f"| {c} | {cell_text(s[f'{c}_usd'], 'usd')} | {cell_text(s[f'{c}_bps'], 'bps')} |"
              for c in ("delay", "spread", "impact", "opportunity", "fees", "total")),
            "",
            f"model z (realized − E)/√V over {s['z_n']} orders: mean {s['z_mean']:+.2f}, sd {s['z_std']:.2f}"
            " (an unbiased model gives 0 and 1)",
        ]  # fmt: skip
    if result.warnings:
        lines += ["", "## Warnings", "", *(f"- {w}" for w in result.warnings)]
    if result.report:
        lines += ["", f"report: `{result.report}`"]
    return "\n".join(lines)
