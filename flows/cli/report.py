"""``kappa report``: render a date's post-trade report (one HTML file and PNG charts)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.console import out
from flows.cli.options import DateOption, HomeOption, home_settings, session
from kappa.errors import ParameterError


def report_cmd(
    date: DateOption,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder (default KAPPA_HOME/reports/DATE)")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Render the date's post-trade report: one self-contained HTML file and PNG charts.

    Example: kappa report --date 2026-11-20 --out /tmp/tca
    """
    from flows.report import report

    kh, cal = home_settings(home, None)
    day = session(date, "--date", cal)
    if out_dir is not None:
        _require_writable_folder(out_dir)
    files = report(kh, day, out_dir, calendar=cal)
    out.print(f"report: {files.html}")
    for name, path in files.pngs.items():
        out.print(f"  {name}: {path}")


def _require_writable_folder(out_dir: Path) -> None:
    """Make ``--out`` if it does not exist; refuse a file, a folder that cannot be made, or a read-only one."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError(f"--out {out_dir} is a file, not a folder", name="--out", value=out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(
            f"--out {out_dir}: cannot make that folder ({exc.strerror})", name="--out", value=out_dir
        ) from None
    if not os.access(out_dir, os.W_OK):
        raise ParameterError(f"--out {out_dir}: the folder is not writable", name="--out", value=out_dir)
