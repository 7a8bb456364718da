"""The README's examples run as printed: every ```sql block through `kappa sql` (each must return rows) and
the quick start's shell command, on the demo's home plus what a desk adds to it (a busted fill, a
re-delivered file, a saved schedule with its frontier)."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import REPO, run_kappa

README = REPO / "README.md"
DAY = "2026-11-06"


def sql_examples() -> list[str]:
    return [b.strip().rstrip(";") for b in re.findall(r"```sql\n(.*?)```", README.read_text(), flags=re.S)]


def _desk_additions(home: Path, tmp: Path) -> None:
    """An order of a symbol and a session of its own (the Friday before the demo's nights, so the demo's
    reloads and counts never meet it), re-delivered once; a fill of it, then busted; a saved schedule with
    its frontier."""
    a, e = f"{DAY}T10:00:00-05:00", f"{DAY}T11:00:00-05:00"
    orders = tmp / "orders_readme.csv"
    orders.write_text(f"order_id,symbol,side,quantity,arrival_ts,end_ts\nreadme-1,RDME,buy,1000,{a},{e}\n")
    fills = tmp / "fills_readme.csv"
    fills.write_text(f"fill_id,order_id,ts,price,quantity\nreadme-f1,readme-1,{DAY}T10:30:00-05:00,10,100\n")
    bust = tmp / "fills_readme_bust.csv"
    bust.write_text("fill_id,order_id,ts,price,quantity,exec_type\nreadme-f1,readme-1,,,,cancel\n")
    for args in (("ingest", "orders", str(orders)), ("ingest", "orders", str(orders)),
                 ("ingest", "fills", str(fills)), ("ingest", "fills", str(bust)),
                 ("schedule", "--shares", "1e6", "--side", "sell", "--horizon-days", "5", "--periods", "5",
                  "--risk-aversion", "1e-6", "--sigma", "0.95", "--eta", "2.5e-6", "--gamma", "2.5e-7",
                  "--epsilon", "0.0625", "--save", "--frontier", "--points", "5")):  # fmt: skip
        res = run_kappa(*args, "--home", str(home))
        assert res.returncode == 0, (args, res.stderr)


@pytest.mark.slow
def test_every_readme_sql_example_runs_as_printed_and_returns_rows(
    demo: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    home, _ = demo
    _desk_additions(home, tmp_path)
    examples = sql_examples()
    assert len(examples) >= 17
    runner = CliRunner()
    for query in examples:
        for fmt in ("csv", "table"):
            res = runner.invoke(app, ["sql", query, "--home", str(home), "--format", fmt])
            assert res.exit_code == 0, (query, res.output)
        rows = list(
            csv.reader(
                io.StringIO(runner.invoke(app, ["sql", query, "--home", str(home), "-f", "csv"]).output)
            )
        )
        assert len(rows) >= 2, f"no rows: {query}"  # a header and at least one row
    # the quick start's command, typed in a shell at the repository's root with the demo's home
    (line,) = [ln for ln in README.read_text().splitlines() if ln.startswith(".venv/bin/kappa sql")]
    res = subprocess.run(["bash", "-c", line], cwd=REPO, env={"PATH": "/usr/bin:/bin", "KAPPA_HOME": str(home)},
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0 and "10 row(s)" in res.stdout, res.stderr
