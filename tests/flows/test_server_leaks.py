"""No Prefect server outlives what it was started for: under ``KAPPA_PREFECT_SERVER=ephemeral`` a flow command's
temporary server is tied to the command's life (a ``kill -9`` of the command's pid alone, as an OOM kill or a
supervisor signalling one process, leaves no server process behind), and a home's managed server left
without a record (its command killed between starting and recording it) is found and stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from data.home import KappaHome
from flows.server import stop_server
from tests.conftest import REPO

GONE_WITHIN_S = (
    60.0  # a generous bound for "gone": the kernel's SIGKILL is immediate, a loaded machine is not
)

COMMAND = """
import sys
from pathlib import Path
from data.home import KappaHome
from flows.server import stop_server
from flows.cli.flow_runs import prepare_prefect
from flows.settings import Runner

prepare_prefect(KappaHome.resolve(Path(sys.argv[1])), Runner.threads, None)  # as every flow command does
from prefect import flow

@flow
def waits(seconds: float) -> None:
    print("running", flush=True)
    import time
    time.sleep(seconds)

waits(float(sys.argv[2]))
"""


def command(home: KappaHome, seconds: float) -> subprocess.Popen[str]:
    """A flow command (the CLI's preparation, then a Prefect flow that waits ``seconds``) in ephemeral mode,
    as typed in a shell without ``PREFECT_API_URL``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PREFECT_API_URL", "PREFECT_UI_API_URL", "PREFECT_HOME")
    }
    env["KAPPA_PREFECT_SERVER"] = "ephemeral"
    return subprocess.Popen(
        [sys.executable, "-c", COMMAND, str(home.root), str(seconds)],
        cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def server_tree(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    """Once the flow runs (its flow run was created through the server): every process under the command
    (the server and whatever it started), after checking that one of them is the answering server."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "running", (line, proc.stderr.read() if proc.stderr else "")
    tree = psutil.Process(proc.pid).children(recursive=True)
    ports = [p.cmdline()[p.cmdline().index("--port") + 1] for p in tree if "--port" in p.cmdline()]
    assert len(ports) == 1, [p.cmdline() for p in tree]
    with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/api/health", timeout=10) as r:
        assert r.status == 200
    return tree


def wait_gone(procs: list[psutil.Process]) -> list[psutil.Process]:
    deadline = time.monotonic() + GONE_WITHIN_S
    alive = procs
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.2)
    return alive


def test_a_killed_command_leaves_no_server(tmp_path: Path) -> None:
    home = KappaHome.resolve(tmp_path / "home")
    proc = command(home, 600.0)
    tree: list[psutil.Process] = []
    try:
        tree = server_tree(proc)
        os.kill(proc.pid, signal.SIGKILL)  # the command's pid only, not its group
        assert proc.wait(60) == -signal.SIGKILL
        left = wait_gone(tree)
        assert not left, [(p.pid, p.cmdline()) for p in left]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()


FAKE_PREFECT = (
    "import time\ntime.sleep(300)\n"  # stands for ``prefect`` in ``python -m prefect server start``
)


def fake_managed_server(home: KappaHome, fake: Path) -> subprocess.Popen[bytes]:
    """A process that looks like a managed server of ``home`` to the process table (``python -m prefect
    server start`` in ``KAPPA_HOME/prefect``) without being one (a real start takes half a minute)."""
    (fake / "prefect").mkdir(parents=True, exist_ok=True)
    (fake / "prefect" / "__main__.py").write_text(FAKE_PREFECT)
    (fake / "prefect" / "__init__.py").write_text("")
    home.prefect.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", "9"],
        cwd=home.prefect, env={**os.environ, "PYTHONPATH": str(fake)}, start_new_session=True,
    )  # fmt: skip


def test_a_managed_server_left_without_a_record_is_stopped(tmp_path: Path) -> None:
    home, other = KappaHome.resolve(tmp_path / "home"), KappaHome.resolve(tmp_path / "other")
    stray, others = (
        fake_managed_server(home, tmp_path / "fake"),
        fake_managed_server(other, tmp_path / "fake"),
    )
    try:
        assert stop_server(home) is None  # there was no recorded server
        assert stray.wait(30) is not None
        assert others.poll() is None  # another home's server is left alone
    finally:
        for p in (stray, others):
            p.kill()
            p.wait()
