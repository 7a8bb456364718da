"""The home's managed Prefect server (:mod:`flows.server`): started once in the background, recorded in the
home, reused by later commands (flow commands included), restarted when dead (once, by two commands starting
at the same moment), stopped by ``kappa server stop``; stale records and ``PREFECT_API_URL`` respected.

Every command runs in a subprocess as a user types it. A real server start takes half a minute or more on a
loaded machine, so this module starts one, shared by its tests: the replacement, by two commands racing, of a
recorded server killed by SIGKILL (a small stand-in: a local HTTP server answering ``/api/health``). The tests
that need only a recorded process use stand-ins too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from data.home import KappaHome
from flows.server import (
    ServerRecord,
    is_server_process,
    prefect_version,
    read_record,
    record_path,
    use_server,
)
from tests.conftest import DAY, REPO, run_kappa

STARTED = "kappa starts the server on "  # the line the start writes to the log
NO_API = ("PREFECT_API_URL", "PREFECT_UI_API_URL")


def kappa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``kappa`` as typed in a shell without ``PREFECT_API_URL`` (unless ``env`` sets it)."""
    unset = tuple(k for k in NO_API if k not in (env or {}))
    return run_kappa(*args, env=env, unset=unset, timeout=400)


def starts_logged(home: KappaHome) -> list[str]:
    log = home.prefect / "server.log"
    return re.findall(STARTED + r"(\S+)", log.read_text()) if log.exists() else []


def health(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def api(url: str, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def write_record(home: KappaHome, pid: int, port: int, create_time: float) -> ServerRecord:
    home.prefect.mkdir(parents=True, exist_ok=True)
    rec = ServerRecord(pid, port, f"http://127.0.0.1:{port}/api", "2026-11-30T00:00:00+00:00", prefect_version(),
                       create_time)  # fmt: skip
    record_path(home).write_text(json.dumps(rec.__dict__))
    return rec


def printed_pid(res: subprocess.CompletedProcess[str]) -> int:
    assert res.returncode == 0, res.stderr
    (pid,) = re.findall(r"\(pid (\d+)", res.stdout)
    return int(pid)


STAND_IN = """
import http.server, sys, time
time.sleep(float(sys.argv[2]))  # a server still starting: nothing listens yet
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stand_in(home: KappaHome, delay_s: float = 0.0) -> tuple[subprocess.Popen[bytes], ServerRecord]:
    """A recorded stand-in server of ``home`` answering ``/api/health`` after ``delay_s`` seconds."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", STAND_IN, str(port), str(delay_s)], start_new_session=True)
    return proc, write_record(home, proc.pid, port, psutil.Process(proc.pid).create_time())


@pytest.fixture(scope="module")
def raced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KappaHome, ServerRecord, list[str]]]:
    """A home whose recorded server was killed by SIGKILL, then two ``kappa server start`` at the same moment:
    the home, the dead server's record, and the two commands' outputs. The new server is stopped when the
    module ends."""
    home = KappaHome.resolve(tmp_path_factory.mktemp("server") / "home")
    proc, dead = stand_in(home)
    deadline = time.monotonic() + 60
    while not health(dead.url) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert is_server_process(dead) and health(dead.url)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    env = {k: v for k, v in os.environ.items() if k not in NO_API}
    cmd = [sys.executable, "-m", "flows.cli", "server", "start", "--home", str(home.root)]
    try:
        racing = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True) for _ in range(2)]  # fmt: skip
        done = [p.communicate(timeout=400) for p in racing]
        assert all(p.returncode == 0 for p in racing), done
        yield home, dead, [out for out, _ in done]
    finally:
        kappa("server", "stop", "--home", str(home.root))


@pytest.fixture(scope="module")
def managed(raced: tuple[KappaHome, ServerRecord, list[str]]) -> KappaHome:
    """A home with its server running (started by :func:`raced`)."""
    return raced[0]


def test_a_dead_server_is_restarted_once_by_two_commands_starting_at_once(
    raced: tuple[KappaHome, ServerRecord, list[str]],
) -> None:
    """The recorded server was killed (SIGKILL); two ``kappa server start`` at the same moment: one new server,
    recorded in place of the dead one, reported by both (one started it, the other waited and reused it)."""
    home, dead, outputs = raced
    new = read_record(home)
    assert new is not None and new.pid != dead.pid and is_server_process(new) and health(new.url)
    assert [int(re.findall(r"\(pid (\d+)", out)[0]) for out in outputs] == [new.pid, new.pid], outputs
    assert sorted("Prefect server started: " in out for out in outputs) == [False, True], outputs
    assert starts_logged(home) == [new.url]  # one server started


def test_start_records_the_server_and_status_reports_it(managed: KappaHome) -> None:
    rec = read_record(managed)
    assert rec is not None and rec.url == f"http://127.0.0.1:{rec.port}/api"
    p = psutil.Process(rec.pid)
    assert abs(p.create_time() - rec.create_time) < 0.05 and is_server_process(rec)
    assert "prefect" in p.cmdline() and "server" in p.cmdline() and str(rec.port) in p.cmdline()
    assert os.getsid(rec.pid) == rec.pid  # detached: a session of its own
    assert p.environ()["PREFECT_HOME"] == str(managed.prefect)
    assert rec.prefect_version == prefect_version() and health(rec.url)
    assert (managed.prefect / "prefect.db").exists()  # the server's database is the home's
    assert starts_logged(managed) == [rec.url]
    status = kappa("server", "status", "--home", str(managed.root), "--json")
    doc = json.loads(status.stdout)
    assert doc["running"] and doc["healthy"] and (doc["pid"], doc["url"]) == (rec.pid, rec.url)
    assert doc["log"] == str(managed.prefect / "server.log") and doc["uptime_s"] > 0
    text = kappa("server", "status", "--home", str(managed.root)).stdout
    assert f"{rec.url} (pid {rec.pid}" in text and "healthy" in text


def test_later_commands_and_flow_commands_reuse_the_server(managed: KappaHome) -> None:
    """A second ``kappa server start`` reports the running server; a flow command reports its run to it and
    starts nothing."""
    rec = read_record(managed)
    assert rec is not None
    again = kappa("server", "start", "--home", str(managed.root))
    assert printed_pid(again) == rec.pid and f"Prefect server running: {rec.url}" in again.stdout
    # a flow command on the home (it has no data: the calibration finds no symbol, after its flow ran)
    res = kappa("calibrate", "--as-of", DAY, "--lookback-days", "1", "--home", str(managed.root))
    assert res.returncode == 2 and "no symbol has data" in res.stderr, res.stderr
    assert read_record(managed) == rec and starts_logged(managed) == [rec.url]
    runs = api(rec.url, "/flow_runs/filter", {"limit": 10})
    assert [r["state_type"] for r in runs] == ["COMPLETED"], runs


def test_prefect_api_url_wins_and_nothing_is_started(managed: KappaHome, tmp_path: Path) -> None:
    """With ``PREFECT_API_URL`` set, a flow command reports there; its own home gets no server, no record."""
    rec = read_record(managed)
    assert rec is not None
    other = KappaHome.resolve(tmp_path / "other")
    before = len(api(rec.url, "/flow_runs/filter", {"limit": 50}))
    res = kappa("calibrate", "--as-of", DAY, "--lookback-days", "1", "--home", str(other.root),
                env={"PREFECT_API_URL": rec.url})  # fmt: skip
    assert res.returncode == 2 and "no symbol has data" in res.stderr, res.stderr
    assert len(api(rec.url, "/flow_runs/filter", {"limit": 50})) == before + 1
    assert not record_path(other).exists() and not (other.prefect / "server.log").exists()
    status = kappa("server", "status", "--home", str(other.root), env={"PREFECT_API_URL": rec.url})
    assert (
        "not running" in status.stdout
        and f"PREFECT_API_URL is set: flow commands report to {rec.url}" in (status.stdout)
    )


def test_use_server_returns_prefect_api_url_without_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    home = KappaHome.resolve(tmp_path / "h")
    assert use_server(home) == "http://127.0.0.1:9/api" and not record_path(home).exists()
    monkeypatch.setenv("KAPPA_PREFECT_SERVER", "ephemeral")  # not even a temporary one
    assert use_server(home) == "http://127.0.0.1:9/api" and not home.prefect.exists()


def test_stop_stops_the_server_and_removes_its_record(managed: KappaHome) -> None:
    rec = read_record(managed)
    assert rec is not None
    res = kappa("server", "stop", "--home", str(managed.root))
    assert res.returncode == 0 and f"Prefect server stopped: {rec.url} (pid {rec.pid})" in res.stdout
    assert not psutil.pid_exists(rec.pid) or psutil.Process(rec.pid).status() == psutil.STATUS_ZOMBIE
    assert not health(rec.url) and not record_path(managed).exists()
    again = kappa("server", "stop", "--home", str(managed.root))
    assert again.returncode == 0 and "no Prefect server running for this home" in again.stdout
    assert "not running" in kappa("server", "status", "--home", str(managed.root)).stdout


def test_a_stale_record_of_a_reused_or_gone_pid_is_never_taken_for_the_server(tmp_path: Path) -> None:
    """A record whose pid now belongs to another process (another create time), or to none: status says not
    running, stop removes the record and leaves that process alone."""
    home = KappaHome.resolve(tmp_path / "h")
    other = subprocess.Popen(["sleep", "120"])
    try:
        write_record(home, other.pid, 9, psutil.Process(other.pid).create_time() - 100)
        status = kappa("server", "status", "--home", str(home.root), "--json")
        doc = json.loads(status.stdout)
        assert (doc["running"], doc["alive"], doc["pid"]) == (False, False, other.pid)
        res = kappa("server", "stop", "--home", str(home.root))
        assert "stale record was removed" in res.stdout and not record_path(home).exists()
        assert other.poll() is None  # not killed
    finally:
        other.kill()
        other.wait()
    gone = subprocess.Popen(["true"])
    gone.wait()
    write_record(home, gone.pid, 9, time.time())
    assert "not running (stale record" in kappa("server", "status", "--home", str(home.root)).stdout


def test_a_recorded_server_still_starting_is_waited_for_not_replaced(tmp_path: Path) -> None:
    """What a command killed (even by SIGKILL) while its server started leaves: a recorded server not yet
    answering. The next command waits for it and reuses it; ``kappa server stop`` stops it."""
    home = KappaHome.resolve(tmp_path / "h")
    proc, rec = stand_in(home, delay_s=3)
    try:
        res = kappa("server", "start", "--home", str(home.root))
        assert printed_pid(res) == rec.pid and "Prefect server running" in res.stdout, res.stdout
        assert read_record(home) == rec and starts_logged(home) == []
        stop = kappa("server", "stop", "--home", str(home.root))
        assert f"stopped: {rec.url} (pid {rec.pid})" in stop.stdout
        assert proc.wait(10) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_server_that_cannot_start_is_one_line_naming_its_log(tmp_path: Path) -> None:
    home = KappaHome.resolve(tmp_path / "h")
    res = kappa(
        "server", "start", "--home", str(home.root), env={"PREFECT_SERVER_API_KEEPALIVE_TIMEOUT": "x"}
    )
    log = home.prefect / "server.log"
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == f"error: the Prefect server did not start: see {log}"
    assert "keepalive_timeout" in log.read_text() and not record_path(home).exists()


def test_an_unknown_server_mode_is_refused_in_one_line(tmp_path: Path) -> None:
    res = kappa(
        "calibrate", "--as-of", DAY, "--home", str(tmp_path / "h"), env={"KAPPA_PREFECT_SERVER": "cloud"}
    )
    assert res.returncode == 2
    assert res.stderr.strip() == "error: KAPPA_PREFECT_SERVER='cloud': expected one of managed, ephemeral"
