"""The stopwatch the harness passes to a calibration to time it stage by stage."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(slots=True)
class StageClock:
    """Wall seconds per stage, summed over calls (batches).

    Pass :meth:`stage` as the ``stage`` of :func:`flows.calibrate.calibrate_batch` (it times ``read``) and
    :func:`calibration.window.calibrate_symbols` (``garch``: starting the fits, and waiting for those not
    done when the rows are built; ``facts``, ``bars``, ``realized``, ``signs``, ``gamma``, ``eta``: the
    fills' as-of join, then each symbol's ε, η and power-law fits and its row).
    """

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the seconds spent in the ``with`` block to ``seconds[name]``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0
