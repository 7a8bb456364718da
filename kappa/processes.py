"""Which process is which: a pid and its create time name one process, even after the pid is reused."""

from __future__ import annotations

CREATE_TIME_TOLERANCE_S = 0.05  # psutil's create time is read from /proc in clock ticks (10 ms)


def create_time(pid: int) -> float | None:
    """The create time of process ``pid`` (seconds since the epoch, psutil's), or None if it is gone."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def is_alive(pid: int, created: float) -> bool:
    """Whether process ``pid`` is alive (not a zombie) and is the one created at ``created`` (not a later
    process that reused the pid)."""
    import psutil

    try:
        p = psutil.Process(pid)
        return (
            abs(p.create_time() - created) <= CREATE_TIME_TOLERANCE_S and p.status() != psutil.STATUS_ZOMBIE
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
