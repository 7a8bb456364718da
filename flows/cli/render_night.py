"""How ``kappa nightly``, ``kappa backfill`` and ``kappa demo`` show a night (``flows.nightly.NightlyResult``)."""

from __future__ import annotations

from flows.cli.console import out


def night_warnings(result: object) -> list[str]:
    """The night's warnings, each prefixed with its date."""
    from flows.nightly import NightlyResult

    assert isinstance(result, NightlyResult)
    return [f"{result.date}: {w}" for w in result.warnings]


def print_night(result: object) -> None:
    """What the night loaded, calibrated, attributed and scheduled, the orders it could not schedule and
    why, the notes on the parameters (once per note), and where its report is."""
    from flows.nightly import NightlyResult

    assert isinstance(result, NightlyResult)
    r = result
    cal = ", ".join(f"{k} {v}" for k, v in r.calibration_status.items()) or "none"
    out.print(f"nightly {r.date} (run {r.run_id})")
    out.print(f"  loaded {r.loaded_rows:,} rows, quarantined {r.quarantined_rows:,}")
    out.print(f"  calibrations: {cal}")
    out.print(f"  attribution: {r.attribution}")
    out.print(f"  schedules for the next session: {r.schedules}")
    for order_id, why in r.skipped_orders:
        out.print(f"    {order_id} not scheduled: {why}", highlight=False)
    by_note: dict[str, list[str]] = {}
    for order_id, note in r.schedule_notes:  # a note is about a symbol's calibration: once for its orders
        by_note.setdefault(note, []).append(order_id)
    for note, ids in by_note.items():
        shown = ids[0] + (f" and {len(ids) - 1} more" if len(ids) > 1 else "")
        out.print(f"    {shown}: {note}", highlight=False)
    if r.report:
        out.print(f"  report: {r.report}")
