"""``kappa server start|stop|status``: the home's Prefect server (:mod:`flows.server`), which flow commands
start on first need and reuse."""

from __future__ import annotations

import json
import os
import time
from typing import Annotated

import typer

from flows.cli.console import out
from flows.cli.options import HomeOption

server_app = typer.Typer(
    name="server",
    help="The home's Prefect server, which flow commands start on first need and reuse: start, stop, status.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _uptime(create_time: float) -> str:
    s = max(0, int(time.time() - create_time))
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s"


def _external_note() -> None:
    if url := os.environ.get("PREFECT_API_URL"):
        out.print(f"PREFECT_API_URL is set: flow commands report to {url}, not to the home's server")


@server_app.command("start")
def start_cmd(home: HomeOption = None) -> None:
    """Start the home's Prefect server in the background (or report the one running); flow commands reuse it.

    Its record is KAPPA_HOME/prefect/server.json, its log KAPPA_HOME/prefect/server.log.

    Example: kappa server start --home /tmp/kappa-demo
    """
    from data.home import KappaHome
    from flows.server import ensure_server

    kh = KappaHome.resolve(home)
    record, started = ensure_server(kh)
    out.print(
        f"Prefect server {'started' if started else 'running'}: {record.url} (pid {record.pid}, "
        f"up {_uptime(record.create_time)}; UI {record.ui}; log {kh.prefect / 'server.log'})"
    )
    _external_note()


@server_app.command("stop")
def stop_cmd(home: HomeOption = None) -> None:
    """Stop the home's Prefect server and its processes, and remove its record.

    Example: kappa server stop --home /tmp/kappa-demo
    """
    from data.home import KappaHome
    from flows.server import record_path, stop_server

    kh = KappaHome.resolve(home)
    had_record = record_path(kh).exists()
    record = stop_server(kh)
    if record is not None:
        out.print(f"Prefect server stopped: {record.url} (pid {record.pid})")
    elif had_record:
        out.print("no Prefect server running for this home (its stale record was removed)")
    else:
        out.print("no Prefect server running for this home")


@server_app.command("status")
def status_cmd(
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout")] = False,
) -> None:
    """Report the home's Prefect server: its URL, pid, uptime and health, or "not running".

    Example: kappa server status --json
    """
    from data.home import KappaHome
    from flows.server import log_path, server_status

    kh = KappaHome.resolve(home)
    st = server_status(kh)
    r = st.record
    if as_json:
        doc: dict[str, object] = {
            "running": st.running, "healthy": st.healthy, "alive": st.alive, "url": r.url if r else None,
            "pid": r.pid if r else None, "port": r.port if r else None,
            "started_at": r.started_at if r else None, "prefect_version": r.prefect_version if r else None,
            "uptime_s": round(time.time() - r.create_time, 1) if r and st.alive else None,
            "log": str(log_path(kh)), "prefect_api_url": os.environ.get("PREFECT_API_URL") or None,
        }  # fmt: skip
        out.print(json.dumps(doc), soft_wrap=True)
        return
    if r is None:
        out.print("Prefect server: not running")
    elif not st.alive:
        out.print(f"Prefect server: not running (stale record: pid {r.pid} is gone or another process)")
    else:
        health = "healthy" if st.healthy else "not answering (starting, or hung)"
        out.print(
            f"Prefect server: {r.url} (pid {r.pid}, up {_uptime(r.create_time)}, {health}; "
            f"Prefect {r.prefect_version}; log {log_path(kh)})"
        )
    _external_note()
