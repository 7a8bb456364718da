"""Peak memory of a benchmark process and of the processes it starts."""

from __future__ import annotations

import contextlib
import resource
import threading

import psutil


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its child processes waited for so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def own_peak_rss_gib() -> float:
    """This process's peak RSS so far (``ru_maxrss``), GiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


class ChildrenRss:
    """The peak of the summed RSS of this process's descendants (e.g. the GARCH pool's workers), sampled.

    Not ``getrusage(RUSAGE_CHILDREN)``: Linux keeps a child's ``ru_maxrss`` across ``exec``, so a worker
    spawned by fork and exec reports the RSS its parent had at the fork (2.7 GiB at large, where psutil
    sees 0.23 GiB per worker).
    """

    def __init__(self, every_s: float = 0.25) -> None:
        self.every_s, self.peak = every_s, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ChildrenRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        me = psutil.Process()
        while not self._done.wait(self.every_s):
            total = 0
            for c in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += c.memory_info().rss
            self.peak = max(self.peak, total)
