"""The nightly deployment as users run it: ``kappa serve`` serving a run to completion, its UI in a browser,
a clean stop on SIGINT (a terminal's Ctrl-C) and SIGTERM, and ``prefect.yaml`` through a process work pool
and a worker.

Every command is run as a user types it: in a subprocess, from a shell without ``PREFECT_API_URL``, with the
commands ``kappa serve`` prints. The module's commands share one home and its Prefect server (started once by
``kappa server start``, which ``kappa serve`` then finds and reuses; stopped when the module ends).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psutil
import pytest

from data.home import KappaHome
from flows.demo import arrange_inbox
from flows.server import read_record
from simulator import SimConfig, SymbolParams, write_dataset
from tests.conftest import REPO, query

SYMS = (
    SymbolParams("AAA", 50.0, 0.9, 4e-7, 2e-6, 0.02, 600_000, quotes_per_day=1_500),
    SymbolParams("BBB", 120.0, 2.5, 1e-6, 5e-6, 0.03, 300_000, quotes_per_day=1_500),
)
NIGHT = dt.date(2026, 11, 16)
NY = ZoneInfo("America/New_York")
STARTUP_S = 240


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One night and the next session's orders, written once."""
    root = tmp_path_factory.mktemp("sim")
    write_dataset(SimConfig(SYMS, NIGHT, 2, orders_per_symbol_day=4, history_days=120, seed=11), root)
    return root


def _home(simulated: Path, path: Path) -> KappaHome:
    home = KappaHome.resolve(path).ensure()
    assert arrange_inbox(home, simulated, [NIGHT, dt.date(2026, 11, 17)]) == [NIGHT]
    return home


def _user_env(**extra: str) -> dict[str, str]:
    """The environment of a new shell: no Prefect variables of the test session."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **extra}


def _kappa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=REPO, env=env or _user_env(),
                          capture_output=True, text=True, timeout=STARTUP_S)  # fmt: skip


@pytest.fixture(scope="module")
def served(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KappaHome]:
    """The home the module's ``kappa serve`` runs serve, with its Prefect server already started (its
    scheduler looping every second, so that a deployment's runs are scheduled at once)."""
    home = _home(simulated, tmp_path_factory.mktemp("served") / "home")
    try:
        res = _kappa("server", "start", "--home", str(home.root),
                     env=_user_env(PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="1"))  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
        yield home
    finally:
        _kappa("server", "stop", "--home", str(home.root))


def _api(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{url}{path}", data=data, method="POST" if body is not None else "GET",
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _wait_for_run(url: str, run_id: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = _api(url, f"/flow_runs/{run_id}")
        if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return dict(run)
        time.sleep(1)
    raise AssertionError(f"flow run {run_id} did not finish in {timeout_s} s")


class Serving:
    """``kappa serve`` in a session of its own (as a terminal runs it), its output read line by line."""

    def __init__(self, home: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "serve", "--home", str(home), *extra], cwd=REPO,
            env=env or _user_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, False), daemon=True).start()

    def _read(self, stream: Any, into: list[str], queued: bool) -> None:
        for line in stream:
            into.append(line)
            if queued:
                self.lines.put(line)

    def ready(self) -> list[str]:
        """The lines printed up to the ``stop:`` line that ends the start-up message."""
        deadline = time.monotonic() + STARTUP_S
        got: list[str] = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=2)
            except queue.Empty:
                assert self.proc.poll() is None, "".join(self.stderr)[-3000:]
                continue
            got.append(line.rstrip("\n"))
            if line.startswith("stop: "):
                return got
        raise AssertionError("kappa serve did not finish starting: " + "".join(self.stderr)[-3000:])

    def session_processes(self) -> list[psutil.Process]:
        """Processes still alive in the command's session, or in the session of a server it started."""
        out = []
        for p in psutil.process_iter(["pid"]):
            try:
                if os.getsid(p.pid) == self.proc.pid or self.proc.pid in {a.pid for a in p.parents()}:
                    out.append(p)
            except (psutil.NoSuchProcess, ProcessLookupError, PermissionError):
                continue
        return out

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


@pytest.fixture
def serving() -> Iterator[list[Serving]]:
    started: list[Serving] = []
    yield started
    for s in started:
        s.close()


def _printed(lines: list[str], prefix: str) -> str:
    (line,) = [ln for ln in lines if ln.startswith(prefix)]
    return line.split(prefix, 1)[1].strip()


def _server_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _optional_browser(request: pytest.FixtureRequest) -> Any:
    """The ``browser`` fixture, or None where there is no Chromium (and none is required)."""
    try:
        return request.getfixturevalue("browser")
    except pytest.skip.Exception:
        return None


@pytest.mark.slow
def test_a_served_run_completes_shows_in_the_ui_and_ctrl_c_stops_everything(
    served: KappaHome, tmp_path: Path, serving: list[Serving], request: pytest.FixtureRequest
) -> None:
    """``kappa serve`` on the home's Prefect server; the printed ``prefect deployment run`` command, typed in
    a new shell, starts a run that completes and writes the night; the UI shows the deployment and the run;
    Ctrl-C stops the command and every process of its own within seconds, and the home's server keeps
    running for the home's next commands."""
    home = served
    s = Serving(home.root)
    serving.append(s)
    lines = s.ready()
    url = _printed(lines, "Prefect server: ")
    ui = _printed(lines, "UI: ")
    assert ui == url.removesuffix("/api") + "/deployments"
    (run_cmd,) = [ln.strip() for ln in lines if " deployment run " in ln]
    assert run_cmd.startswith(f"PREFECT_API_URL={url} ") and "nightly/kappa-nightly" in run_cmd
    # as printed (only the date chosen), from another directory, in a shell without Prefect's variables
    typed = re.sub(r"--param date=\S+", f"--param date={NIGHT}", run_cmd)
    res = subprocess.run(["bash", "-c", typed], cwd=tmp_path, env=_user_env(), capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    (run_id,) = re.findall(r"UUID: ([0-9a-f-]{36})", res.stdout)
    run = _wait_for_run(url, run_id)
    assert (run["state_type"], run["state_name"]) == ("COMPLETED", "Completed"), "".join(s.stderr)[-4000:]
    assert run["name"] == f"nightly {NIGHT}"
    # the served run wrote the night: a calibration per symbol, the day's orders attributed, tomorrow's scheduled
    assert query(home, f"SELECT count(*) FROM calibrations WHERE as_of = '{NIGHT}'") == [(2,)]
    n_orders = query(home, f"SELECT count(*) FROM orders WHERE date = '{NIGHT}'")[0][0]
    assert n_orders > 0 and query(home, "SELECT count(*) FROM attribution") == [(n_orders,)]
    assert query(home, "SELECT count(DISTINCT order_id) > 0 FROM schedules") == [(True,)]
    assert query(home, "SELECT command, status FROM runs WHERE command = 'nightly'") == [
        ("nightly", "success")
    ]

    browser = _optional_browser(request)
    if browser is not None:

        def deployment_page(chromium: Any) -> str:
            page = chromium.new_page(viewport={"width": 1400, "height": 1000})
            try:
                page.goto(ui)
                page.get_by_text("kappa-nightly").first.wait_for(timeout=60_000)
                page.get_by_text("kappa-nightly").first.click()  # the deployment's page lists its runs
                page.get_by_text(f"nightly {NIGHT}").first.wait_for(timeout=60_000)
                return str(page.inner_text("body"))
            finally:
                page.close()

        body = browser.run(deployment_page)
        assert "Completed" in body and "flows.nightly.nightly" in body  # the run, and the entrypoint

    # a second run of the night, stopped while it runs: it must end Crashed, not stay Running forever
    res = subprocess.run(["bash", "-c", typed], cwd=tmp_path, env=_user_env(), capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    (second,) = re.findall(r"UUID: ([0-9a-f-]{36})", res.stdout)
    deadline = time.monotonic() + 120
    while _api(url, f"/flow_runs/{second}")["state_type"] != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
    t0 = time.monotonic()
    os.killpg(s.proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole foreground group
    assert s.proc.wait(30) == 0, "".join(s.stderr)[-3000:]
    assert time.monotonic() - t0 < 20
    assert "stopped (SIGINT)" in "".join(s.stdout)
    assert not s.session_processes()
    record = read_record(home)
    assert record is not None and record.url == url and _server_up(url)  # the home's server, still up
    assert "kappa server stop" in "".join(s.stdout)
    with sqlite3.connect(home.prefect / "prefect.db") as db:  # the server's own record of the runs
        states = dict(db.execute("SELECT id, state_type FROM flow_run").fetchall())
    assert states[run_id] == "COMPLETED" and states[second] == "CRASHED", states


@pytest.mark.slow
def test_kappa_serve_schedules_weekday_evenings_and_stops_on_sigterm(
    served: KappaHome, serving: list[Serving]
) -> None:
    """Without ``PREFECT_API_URL``, ``kappa serve`` serves on the home's Prefect server (Prefect's temporary
    server runs no scheduler); its scheduler creates the deployment's runs at 18:30 New York, Monday to
    Friday. SIGTERM to the command alone (a supervisor's stop) stops it within seconds."""
    home = served.root
    s = Serving(home)
    serving.append(s)
    printed = s.ready()
    url = _printed(printed, "Prefect server: ")
    runs: list[dict[str, Any]] = []
    deadline = time.monotonic() + 120
    while len(runs) < 3 and time.monotonic() < deadline:
        time.sleep(2)
        runs = _api(url, "/flow_runs/filter", {"limit": 50, "sort": "EXPECTED_START_TIME_ASC",
                                               "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}})  # fmt: skip
    assert len(runs) >= 3  # the scheduler keeps at least the next three runs
    # the evenings the command printed are the runs Prefect's scheduler created, in order
    preview = [
        m.group(1) for line in printed if (m := re.match(r"\s+\w{3} (\d{4}-\d\d-\d\d \d\d:\d\d) \w+: ", line))
    ]
    scheduled = sorted(dt.datetime.fromisoformat(r["expected_start_time"]).astimezone(NY) for r in runs)
    k = min(len(preview), len(scheduled))
    assert k >= 3 and preview[:k] == [f"{w:%Y-%m-%d %H:%M}" for w in scheduled[:k]], (printed, scheduled)
    for run in runs:
        when = dt.datetime.fromisoformat(run["expected_start_time"]).astimezone(NY)
        assert (when.hour, when.minute) == (18, 30) and when.weekday() < 5, when
        assert run["state_type"] == "SCHEDULED"
        assert run["parameters"] == {"home": str(KappaHome.resolve(home).root), "calendar": "XNYS"}
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(30) == 0, "".join(s.stderr)[-3000:]
    assert time.monotonic() - t0 < 20
    assert "stopped (SIGTERM)" in "".join(s.stdout)
    assert not s.session_processes() and _server_up(url)
    assert (home / "prefect" / "server.log").exists()


@pytest.mark.slow
def test_prefect_yaml_deploys_to_a_process_work_pool_and_a_worker_runs_the_night(
    simulated: Path, tmp_path: Path, served: KappaHome
) -> None:
    """The production path of ``prefect.yaml``: a process work pool, ``prefect deploy --name nightly`` from
    the repository, a run of the deployment, and ``prefect worker start`` executing it to completion (on a
    Prefect server of its own: here, the module's)."""
    from flows.deploy import prefect_command

    server = read_record(served)
    assert server is not None
    prefect_api = server.url
    home = _home(simulated, tmp_path / "home")
    env = _user_env(PREFECT_API_URL=prefect_api, KAPPA_HOME=str(home.root), KAPPA_REPO=str(REPO))
    prefect = prefect_command()

    def run(*args: str, timeout: float = 180) -> str:
        res = subprocess.run([*prefect, *args], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=timeout)  # fmt: skip
        assert res.returncode == 0, (args, res.stdout[-3000:], res.stderr[-3000:])
        return res.stdout

    run("work-pool", "create", "kappa", "--type", "process", "--overwrite")
    run("--no-prompt", "deploy", "--name", "nightly")
    out = run("deployment", "run", "nightly/nightly", "--param", f"date={NIGHT}")
    (run_id,) = re.findall(r"UUID: ([0-9a-f-]{36})", out)
    worker = subprocess.run([*prefect, "worker", "start", "--pool", "kappa", "--run-once"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]
    done = _wait_for_run(prefect_api, run_id, timeout_s=60)
    assert done["state_name"] == "Completed", worker.stdout[-3000:] + worker.stderr[-3000:]
    assert query(home, f"SELECT count(*) FROM calibrations WHERE as_of = '{NIGHT}'") == [(2,)]
    assert query(home, "SELECT status FROM runs WHERE command = 'nightly'") == [("success",)]
    dep = _api(prefect_api, f"/deployments/{done['deployment_id']}")
    assert dep["entrypoint"] == "flows.nightly.nightly" and dep["parameters"]["home"] == str(home.root)
