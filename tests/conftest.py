"""Shared fixtures: a fresh Kappa home per test, small helpers to write input files, and a Prefect server
for the flows (started once per session)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from data.home import KappaHome
from data.store import reader

# Prefect reads its settings when first imported (no module above imports it): give the test session its
# own Prefect home.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="kappa-test-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# the calendars' sessions are kept in a cache of the test session's own (data.calendar.calendar_cache_dir)
os.environ.setdefault("KAPPA_CACHE", tempfile.mkdtemp(prefix="kappa-test-cache-"))

REPO = Path(__file__).resolve().parents[1]

# A plain Monday session of XNYS (14:30-21:00 UTC) and the early close after Thanksgiving 2026.
DAY = "2026-11-16"
EARLY_CLOSE_DAY = "2026-11-27"


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A Prefect server for the whole session (``prefect_test_harness``: a real server process on a
    temporary SQLite database). Its URL is exported as ``PREFECT_API_URL``, so CLI subprocesses and Dask
    workers report to it too."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from flows.server import STARTUP_TIMEOUT_S

    with prefect_test_harness(server_startup_timeout=int(STARTUP_TIMEOUT_S)):
        url = str(PREFECT_API_URL.value())
        before = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            if before is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = before


DEMO_ARGS = ("--symbols", "3", "--days", "2", "--history-days", "60")


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, subprocess.CompletedProcess[str]]]:
    """``kappa demo`` run once, as on a fresh machine (no ``PREFECT_API_URL``: the command starts the home's
    Prefect server, its database under the Kappa home; stopped when the session ends): the home's folder and
    the command's result. Tests that change the home copy nothing back: they only add what they need (the
    demo test reruns the demo, on the same server, and compares)."""
    from flows.server import stop_server

    h = tmp_path_factory.mktemp("demo") / "home"
    try:
        res = run_kappa("demo", "--home", str(h), *DEMO_ARGS, unset=("PREFECT_API_URL", "PREFECT_HOME"))
        assert res.returncode == 0, res.stderr
        yield h, res
    finally:
        stop_server(KappaHome.resolve(h))


@pytest.fixture(scope="session", autouse=True)
def no_server_left(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """When the session ends, stop every Prefect server a command started for a home of the session (a test
    that starts one stops it itself; this makes sure none outlives the suite)."""
    yield
    from flows.server import stop_server

    for record in tmp_path_factory.getbasetemp().glob("*/**/prefect/server.json"):
        stop_server(KappaHome.resolve(record.parent.parent))


@pytest.fixture
def home(tmp_path: Path) -> KappaHome:
    return KappaHome.resolve(tmp_path / "home")


WriteCsv = Callable[[str, Sequence[Sequence[object]]], Path]


@pytest.fixture
def write_csv(tmp_path: Path) -> WriteCsv:
    """``write_csv(name, rows)`` with the header as the first row; returns the path."""

    def _write(name: str, rows: Sequence[Sequence[object]]) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            csv.writer(f).writerows(rows)
        return path

    return _write


def query(home: KappaHome, sql: str) -> list[tuple[object, ...]]:
    with reader(home) as con:
        return con.execute(sql).fetchall()


def snapshot(home: KappaHome) -> dict[str, list[tuple[object, ...]]]:
    """Every input table and the quarantine, sorted, without run ids and load times: what users see."""
    tables = {
        "quotes": "SELECT * FROM quotes ORDER BY ALL",
        "trades": "SELECT * FROM trades ORDER BY ALL",
        "orders": "SELECT * EXCLUDE (run_id) FROM orders ORDER BY ALL",
        "fills": "SELECT * EXCLUDE (run_id) FROM fills ORDER BY ALL",
        "daily": "SELECT * EXCLUDE (run_id) FROM daily ORDER BY ALL",
        "quarantine": "SELECT * EXCLUDE (run_id, quarantined_at) FROM quarantine ORDER BY ALL",
        "lake_files": "SELECT table_name, date, row_count, symbols FROM lake_files ORDER BY ALL",
    }
    if not home.db_path.exists():
        return {k: [] for k in tables}
    return {k: query(home, q) for k, q in tables.items()}


def run_kappa(
    *args: str, env: dict[str, str] | None = None, unset: Sequence[str] = (), timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the ``kappa`` CLI in a subprocess, as a user would (without the variables ``unset``)."""
    full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=full_env,
        timeout=timeout,
    )


# ------------------------------------------------------------------------------------------- the browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def chromium_path() -> str | None:
    """Debian's Chromium (``apt install chromium``), or another Chrome on the PATH."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Browser:
    """Headless Chromium driven by Playwright on a thread of its own.

    Playwright's sync API keeps an event loop running on the thread that starts it, and Prefect, seeing a
    running loop, turns its calls into coroutines; so the browser lives on its own thread and tests hand it
    work with :meth:`run`.
    """

    def __init__(self, path: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1, thread_name_prefix="chromium")
        self._pw: Any = None
        self._chromium: Any = None

        def start() -> None:
            from playwright.sync_api import sync_playwright

            self._pw = sync_playwright().start()
            self._chromium = self._pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)

        self._pool.submit(start).result()

    def run(self, work: Callable[[Any], Any]) -> Any:
        """``work(browser)`` on the browser's thread (a Playwright ``Browser``); returns what it returns."""
        return self._pool.submit(work, self._chromium).result()

    def close(self) -> None:
        def stop() -> None:
            self._chromium.close()
            self._pw.stop()

        self._pool.submit(stop).result()
        self._pool.shutdown()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium (:class:`Browser`). Skipped where there is none, unless ``KAPPA_REQUIRE_BROWSER``
    is set (CI sets it: a browser test must not pass by being skipped there)."""
    path = chromium_path()
    if path is None:
        if os.environ.get("KAPPA_REQUIRE_BROWSER"):
            pytest.fail("KAPPA_REQUIRE_BROWSER is set but there is no Chromium (apt install chromium)")
        pytest.skip("no Chromium on this machine (Debian: apt install chromium)")
    b = Browser(path)
    try:
        yield b
    finally:
        b.close()


LONGEST_FIRST = (
    "tests/flows/test_nightly.py",
    "tests/flows/test_deployment.py",
    "tests/flows/test_cli.py",
    "tests/faults/test_kill_matrix.py",
    "tests/test_readme.py",
    "tests/flows/test_schedule_cli.py",
    "tests/data/test_desk_files.py",
    "tests/flows/test_attribute_report.py",
    "tests/flows/test_calibrate.py",
)
"""The files that start Prefect servers or run the demo (a minute or more each, measured in CI), in the order
`make test` hands them to its two workers (``--dist loadfile --no-loadscope-reorder``): the longest first, so
that no worker is left with a long file while the other has finished."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of :data:`LONGEST_FIRST` first, in that order; every other test after them, as collected."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}

    def key(item: pytest.Item) -> int:
        return rank.get(item.nodeid.split("::", 1)[0], len(LONGEST_FIRST))

    items.sort(key=key)
