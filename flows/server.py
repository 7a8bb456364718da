"""Kappa's Prefect server: one ``prefect server start`` per home, started in the background on first need and
reused by every later flow command.

A flow command needs a Prefect API. Prefect's own answer without ``PREFECT_API_URL`` is a temporary server
started and stopped by each command, which took 27–33 s of every command on a 2-core machine. Instead,
:func:`ensure_server` keeps one server per Kappa home:

- the first command that needs it starts ``prefect server start`` on a free ``127.0.0.1`` port, detached (in
  a session of its own, so it outlives the command and a terminal's Ctrl-C does not reach it), its database
  and settings under ``KAPPA_HOME/prefect`` (``PREFECT_HOME``), its log (level WARNING) appended to
  ``KAPPA_HOME/prefect/server.log``;
- it is recorded in ``KAPPA_HOME/prefect/server.json`` (pid, port, url, start time, Prefect version and the
  process's create time), written atomically before the server answers, so a command killed while waiting
  (even by SIGKILL) leaves a recorded server, never an unknown one;
- a later command reuses the recorded server when its pid is alive and is that very process (same create
  time: a pid reused by another program is not taken for it), runs the same Prefect version, and
  ``/api/health`` answers; a recorded server still starting is waited for (the rest of its start-up time), one
  that stops answering is given a minute (a loaded machine); a dead, foreign, outdated or hung one is
  replaced (its record too);
- check-or-start runs under an exclusive lock (``fcntl.flock`` on ``KAPPA_HOME/prefect/server.lock``): two
  commands starting at once share one server, the second waiting for the first's start;
- ``kappa server stop`` stops it (:func:`stop_server`), ``kappa server status`` reports it.

``PREFECT_API_URL``, where set, wins: nothing is started or recorded. ``KAPPA_PREFECT_SERVER=ephemeral``
brings back a temporary per-command server (:func:`use_server`), as Prefect's own, but started by Kappa
(:func:`start_temporary`) so that it cannot outlive its command: it is the command's child, killed by the
kernel when the command dies (``PR_SET_PDEATHSIG``, even on ``kill -9``), and stopped at its normal exit.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from data.home import KappaHome
from kappa.errors import FlowError, ParameterError
from kappa.processes import create_time, is_alive

MODE_ENV = "KAPPA_PREFECT_SERVER"  # "managed" (the default) or "ephemeral"
MODES = ("managed", "ephemeral")
STARTUP_TIMEOUT_S = 240.0  # a cold start took 27–33 s on an idle 2-core machine; several times that loaded
SERVER_LOG_LEVEL = "WARNING"
RECORD_NAME, LOG_NAME, LOCK_NAME = "server.json", "server.log", "server.lock"
HEALTH_TIMEOUT_S = 5.0  # one /health request
UNANSWERED_GRACE_S = 60.0  # a running server that stops answering (a loaded machine) is waited for this long

_started: dict[int, subprocess.Popen[bytes]] = {}  # servers this process started: kept to be reaped


@dataclass(frozen=True)
class ServerRecord:
    """A managed server as recorded in ``KAPPA_HOME/prefect/server.json``."""

    pid: int
    port: int
    url: str  # the API's URL, ``http://127.0.0.1:PORT/api``
    started_at: str  # ISO 8601, UTC
    prefect_version: str
    create_time: float  # the process's create time (psutil, seconds since the epoch)

    @property
    def ui(self) -> str:
        return self.url.removesuffix("/api")


@dataclass(frozen=True)
class ServerStatus:
    """What :func:`server_status` finds: the record (None: none), whether its process is that server, and
    whether its API answers."""

    record: ServerRecord | None
    alive: bool
    healthy: bool

    @property
    def running(self) -> bool:
        return self.alive and self.healthy


def record_path(home: KappaHome) -> Path:
    return home.prefect / RECORD_NAME


def log_path(home: KappaHome) -> Path:
    return home.prefect / LOG_NAME


def mode() -> str:
    """``KAPPA_PREFECT_SERVER``: ``managed`` (default) or ``ephemeral``; anything else is refused."""
    value = os.environ.get(MODE_ENV, "").strip().lower() or "managed"
    if value not in MODES:
        raise ParameterError(
            f"{MODE_ENV}={value!r}: expected one of {', '.join(MODES)}", name=MODE_ENV, value=value
        )
    return value


def prefect_version() -> str:
    """The installed Prefect's version (from its metadata: Prefect itself is not imported)."""
    from importlib.metadata import version

    return version("prefect")


def read_record(home: KappaHome) -> ServerRecord | None:
    """The home's server record, or None when there is none (or it is unreadable: treated as stale)."""
    try:
        raw = json.loads(record_path(home).read_text())
        return ServerRecord(
            pid=int(raw["pid"]), port=int(raw["port"]), url=str(raw["url"]), started_at=str(raw["started_at"]),
            prefect_version=str(raw["prefect_version"]), create_time=float(raw["create_time"]),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_record(home: KappaHome, record: ServerRecord) -> None:
    """Write the record atomically (a temporary file in the same folder, then ``os.replace``)."""
    path = record_path(home)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n")
    os.replace(tmp, path)


def _remove_record(home: KappaHome) -> None:
    record_path(home).unlink(missing_ok=True)


def is_server_process(record: ServerRecord) -> bool:
    """Whether the recorded pid is alive (not a zombie) and is the recorded process (same create time)."""
    return is_alive(record.pid, record.create_time)


def healthy(url: str, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
    """Whether the Prefect API at ``url`` answers ``GET /health`` with 200."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout_s) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def server_status(home: KappaHome) -> ServerStatus:
    """The recorded server of ``home``: is it that process, does it answer (nothing is started)."""
    record = read_record(home)
    if record is None:
        return ServerStatus(None, alive=False, healthy=False)
    alive = is_server_process(record)
    return ServerStatus(record, alive=alive, healthy=alive and healthy(record.url))


@contextlib.contextmanager
def _locked(home: KappaHome) -> Iterator[None]:
    """An exclusive lock on ``KAPPA_HOME/prefect/server.lock`` (released when the process dies, too)."""
    import fcntl

    home.prefect.mkdir(parents=True, exist_ok=True)
    with (home.prefect / LOCK_NAME).open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(home: KappaHome) -> ServerRecord:
    """Start ``prefect server start`` detached on a free port; record it (before it answers).

    Only a few statements lie between the start and the record; a command killed there leaves a server
    without a record, which the next start or stop of the home finds and stops (:func:`_unrecorded`).
    """
    version = prefect_version()
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_UI_API_URL")}
    env.update(
        PREFECT_HOME=str(home.prefect),  # the server's database: the home's
        PREFECT_SERVER_ANALYTICS_ENABLED=env.get("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
        PREFECT_SERVER_LOGGING_LEVEL=SERVER_LOG_LEVEL,
        PREFECT_LOGGING_LEVEL=SERVER_LOG_LEVEL,
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_UI_API_URL=url,  # without it the UI calls port 4200
    )
    with log_path(home).open("ab") as log:
        log.write(f"--- {dt.datetime.now(dt.UTC).isoformat()} kappa starts the server on {url}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            [sys.executable, *SERVER_ARGS, "--host", "127.0.0.1", "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home.prefect,
            start_new_session=True, close_fds=True,
        )  # fmt: skip
    _started[proc.pid] = proc
    created = create_time(proc.pid) or 0.0
    record = ServerRecord(
        pid=proc.pid, port=port, url=url, started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        prefect_version=version, create_time=created,
    )  # fmt: skip
    _write_record(home, record)
    return record


SERVER_ARGS = ["-m", "prefect", "server", "start"]  # how :func:`_start` runs a managed server


def _unrecorded(home: KappaHome, recorded: int | None) -> list[int]:
    """The managed servers of ``home`` other than the ``recorded`` pid: ``prefect server start`` processes
    whose working folder is the home's Prefect folder (where :func:`_start` runs them)."""
    import psutil

    folder = str(home.prefect.resolve())
    out = []
    for p in psutil.process_iter(["cmdline", "cwd"]):
        cmd = p.info["cmdline"] or []
        if cmd[1:5] == SERVER_ARGS and p.info["cwd"] == folder and p.pid != recorded:
            out.append(p.pid)
    return out


def _wait_healthy(record: ServerRecord, timeout_s: float) -> bool:
    """Poll ``/health`` until it answers (True), the process ends, or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if healthy(record.url):
            return True
        proc = _started.get(record.pid)
        if (proc.poll() is not None) if proc else not is_server_process(record):
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def _since_start_s(record: ServerRecord) -> float:
    return time.time() - record.create_time


def ensure_server(home: KappaHome, timeout_s: float = STARTUP_TIMEOUT_S) -> tuple[ServerRecord, bool]:
    """The running managed server of ``home`` and whether this call started it: the recorded one if it is
    alive, that process, of this Prefect version, and answering (waited for while it starts); else a new one
    (see the module docstring).

    Raises :class:`FlowError` naming the log file when the server does not start within ``timeout_s``.
    """
    home.ensure()
    with _locked(home):
        record = read_record(home)
        if record is not None and is_server_process(record):
            if record.prefect_version == prefect_version():
                if healthy(record.url):
                    return record, False
                # still starting (its command killed, or waiting still): the rest of its start-up time; or busy
                # on a loaded machine: a grace period, before it is taken for hung
                wait_s = max(UNANSWERED_GRACE_S, timeout_s - _since_start_s(record))
                if _wait_healthy(record, wait_s):
                    return record, False
            stop_process_tree(record.pid)  # hung, or another Prefect version's
        _remove_record(home)
        for pid in _unrecorded(home, None):  # a command killed between starting one and recording it
            stop_process_tree(pid)
        record = _start(home)
        if _wait_healthy(record, timeout_s):
            return record, True
        stop_process_tree(record.pid)
        _reap(record.pid)
        _remove_record(home)
    raise FlowError(f"the Prefect server did not start: see {log_path(home)}")


def stop_server(home: KappaHome) -> ServerRecord | None:
    """Stop the recorded server of ``home`` and its process tree and remove the record; returns the record of
    the server stopped (None: there was none running; a stale record is removed, its pid left alone). A
    server of the home left without a record (:func:`_start`) is stopped too."""
    if not home.prefect.exists():
        return None
    with _locked(home):
        record = read_record(home)
        stopped = record is not None and is_server_process(record)
        if stopped and record is not None:
            stop_process_tree(record.pid)
            _reap(record.pid)
        for pid in _unrecorded(home, record.pid if stopped and record else None):
            stop_process_tree(pid)
        _remove_record(home)
    return record if stopped else None


def _reap(pid: int) -> None:
    proc = _started.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def use_server(home: KappaHome, *, scheduler: bool = False) -> str:
    """Point this process's Prefect at a server before ``prefect`` is imported; returns its API URL.

    ``PREFECT_API_URL`` if set (nothing started); else the managed server of ``home``
    (:func:`ensure_server`), or with ``KAPPA_PREFECT_SERVER=ephemeral`` a temporary server of this command
    (:func:`start_temporary`); its URL is exported as ``PREFECT_API_URL`` (so the command's task workers and
    subprocesses report to it too). ``scheduler=True`` (``kappa serve``, whose deployment needs a scheduler,
    which the temporary server lacks) takes the managed server even under ``ephemeral``.
    """
    if url := os.environ.get("PREFECT_API_URL"):
        return url
    url = start_temporary(home) if mode() == "ephemeral" and not scheduler else ensure_server(home)[0].url
    os.environ["PREFECT_API_URL"] = url
    return url


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _dies_with_this_process() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGKILL the child when this process dies (Linux's
    ``prctl(PR_SET_PDEATHSIG)``, kept across ``exec``); None where there is no ``prctl``.

    The signal follows the thread that forks: call it from the main thread (a command's ``prepare`` step).
    A child whose parent died before the call took effect ends itself at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not in the child
    parent = os.getpid()

    def tie() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return tie


def start_temporary(home: KappaHome, timeout_s: float = STARTUP_TIMEOUT_S) -> str:
    """Start a temporary Prefect server for this command and return its API URL.

    It is what Prefect starts without ``PREFECT_API_URL`` (uvicorn serving Prefect's app with
    ``PREFECT__SERVER_EPHEMERAL``: no UI, no background services; one process, its work in threads), on a
    free ``127.0.0.1`` port, its database the home's (``PREFECT_HOME``), its output appended to
    ``KAPPA_HOME/prefect/server.log``. Unlike Prefect's it is tied to this command's life: the kernel kills
    it when the command dies (:func:`_dies_with_this_process`; a ``kill -9`` of the command included), it
    runs in a session of its own (a terminal's Ctrl-C reaches the command, which reports its runs before
    the server stops), and it is stopped when the command exits. Nothing is recorded: no other command uses
    it. Raises :class:`FlowError` naming the log when it does not answer within ``timeout_s``.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_UI_API_URL")}
    env.update(PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1", PREFECT__SERVER_FINAL="1")
    # stopped when the command ends, its event writers would log the interruption as errors
    env.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    home.prefect.mkdir(parents=True, exist_ok=True)
    with log_path(home).open("ab") as log:
        log.write(
            f"--- {dt.datetime.now(dt.UTC).isoformat()} kappa starts a temporary server on {url}\n".encode()
        )
        log.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home.prefect,
            start_new_session=True, close_fds=True, preexec_fn=_dies_with_this_process(),
        )  # fmt: skip
    _started[proc.pid] = proc
    atexit.register(_stop_temporary, proc.pid)
    record = ServerRecord(proc.pid, port, url, "", prefect_version(), create_time(proc.pid) or 0.0)
    if _wait_healthy(record, timeout_s):
        return url
    _stop_temporary(proc.pid)
    raise FlowError(f"the temporary Prefect server did not start: see {log_path(home)}")


def _stop_temporary(pid: int) -> None:
    """Stop a temporary server this process started, and its processes (at exit: Prefect's own exit
    handlers, registered after this one, have sent what they had to it by then)."""
    if pid in _started:
        stop_process_tree(pid)
        _reap(pid)


def stop_process_tree(pid: int, grace_s: float = 15.0) -> None:
    """SIGTERM ``pid`` and its descendants, then SIGKILL whatever is left after ``grace_s`` seconds (a
    zombie, dead but not yet reaped by its parent, counts as stopped)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    alive = _wait_stopped(procs, grace_s)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    _wait_stopped(alive, 5.0)


def _wait_stopped(procs: list[Any], timeout_s: float) -> list[Any]:
    """Wait until every process of ``procs`` has ended (children reaped) or is a zombie; returns the rest."""
    import psutil

    deadline = time.monotonic() + timeout_s
    alive = procs
    while alive:
        _, alive = psutil.wait_procs(alive, timeout=0.1)
        alive = [p for p in alive if _running(p)]
        if time.monotonic() > deadline:
            break
    return alive


def _running(p: Any) -> bool:
    import psutil

    try:
        return bool(p.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
