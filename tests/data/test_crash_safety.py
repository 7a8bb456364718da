"""A load killed with SIGKILL at any point leaves the previous state intact, and a rerun completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data.home import KappaHome
from data.ingest import ingest
from data.load_run import FAULT_ENV
from tests.conftest import DAY, REPO, WriteCsv, snapshot

Q_HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]


def _load_in_subprocess(home: KappaHome, table: str, path: Path, fault: str | None) -> subprocess.Popen[str]:
    code = (
        "import sys; from pathlib import Path; from data.home import KappaHome; from data.ingest import ingest;"
        f"ingest(KappaHome.resolve({str(home.root)!r}), {table!r}, [Path({str(path)!r})])"
    )
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env=env, text=True, stderr=subprocess.PIPE
    )


def _files(write_csv: WriteCsv) -> tuple[Path, Path]:
    old = write_csv(
        "old.csv", [Q_HEADER, *[["AAA", f"{DAY}T10:00:{s:02d}-05:00", 10, 10.02, 1, 1] for s in range(30)]]
    )
    new = write_csv(
        "new.csv",
        [
            Q_HEADER,
            *[["AAA", f"{DAY}T11:00:{s:02d}-05:00", 11, 11.02, 1, 1] for s in range(30)],
            ["AAA", f"{DAY}T11:00:00-05:00", 12, 11, 1, 1],
        ],
    )
    return old, new


@pytest.mark.parametrize("fault", ["after_staging", "before_commit", "inside_commit", "after_commit"])
def test_kill_at_each_step_then_rerun(
    home: KappaHome, tmp_path: Path, write_csv: WriteCsv, fault: str
) -> None:
    old, new = _files(write_csv)
    ingest(home, "quotes", [old])
    before = snapshot(home)
    proc = _load_in_subprocess(home, "quotes", new, fault)
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    after_crash = snapshot(home)
    reference = KappaHome.resolve(tmp_path / "reference")
    ingest(reference, "quotes", [old])
    ingest(reference, "quotes", [new])
    if fault == "after_commit":
        assert after_crash == snapshot(reference)  # committed: the new state, whole
    else:
        assert after_crash == before  # not committed: the previous state, whole
    ingest(home, "quotes", [new])
    assert snapshot(home) == snapshot(reference)


def test_kill_at_an_arbitrary_moment_of_a_long_load(home: KappaHome, tmp_path: Path) -> None:
    rows = ["symbol,ts,bid,ask,bid_size,ask_size"]
    base = 1794841200_000000000  # 2026-11-16 15:00 UTC
    rows += [f"S{i % 50:02d},{base + i * 1000},10.0,10.02,100,100" for i in range(600_000)]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(rows) + "\n")
    small = tmp_path / "small.csv"
    small.write_text(rows[0] + "\n" + rows[1] + "\n")
    ingest(home, "quotes", [small])
    before = snapshot(home)
    proc = _load_in_subprocess(home, "quotes", path, None)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(home.staging.glob("*/quotes/*.parquet")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert snapshot(home) == before
    report = ingest(home, "quotes", [path])
    assert report.rows_loaded == 600_000
    assert snapshot(home)["lake_files"] == [("quotes", before["lake_files"][0][1], 600_000, 50)]
