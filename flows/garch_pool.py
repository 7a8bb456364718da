"""Where a calibration's GARCH fits run: in the calling process, or on a pool of spawned processes.

A GARCH fit (:func:`calibration.window.garch_fit`) is a Python-level optimisation that holds the GIL, so
batches on threads fit one symbol at a time; a process pool fits them in parallel while the batches'
polars work runs on the threads. A pool pays for itself only past some number of fits: each of its
workers is a fresh interpreter that imports the calibration stack (NumPy, SciPy, polars, ``arch``) before
its first fit. This module imports neither Prefect nor any flow, so that a worker, which imports it to run
:func:`single_threaded_blas`, imports only what the fits need.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING

from threadpoolctl import threadpool_limits

if TYPE_CHECKING:
    import numpy as np

    from calibration.volatility import GarchFit
    from calibration.window import MapFn

PARALLEL_GARCH_MIN_SYMBOLS = 200
"""The fewest symbols whose GARCH fits go to a process pool; fewer are fitted in the calling process.

Measured on the 2-vCPU machine (2026-11-30; n fits of the small benchmark's 500-session closes in a fresh
process, CPU seconds of the process and its workers, medians of 3 runs at n = 50, 100, 200, 300, 400; see
``benchmarks/README.md``, "The small night (target 5)"): in the calling process 0.72 + 0.0109 n s (``arch``'s import,
then 10.9 ms a fit); on a pool of two workers 2.4 + 0.0113 n s (each worker 1.2 s before its first fit: a
spawned interpreter importing NumPy, SciPy, polars, ``arch`` and :mod:`calibration.window`). On an idle
machine the two workers' wall time is about 1.2 + 0.0057 n s against 0.72 + 0.0109 n s, so the pool is
ahead from n ≈ 90, and it always costs 1.7 s of CPU more, which the night's other work (the batches'
polars stages, attribution) needs on two cores; on the machine under load (load average 4–9) the calling
process was as fast or faster at every n up to 400. Hence 200: a small night (50 names) fits in the
process, a medium one (500) on the pool.
"""


def single_threaded_blas() -> None:
    """Run every BLAS this process has loaded, or will use for a calibration, on one thread.

    SciPy bundles its own OpenBLAS beside NumPy's and loads it on first use: it is imported first, so
    the limit reaches both. A fit gives the same numbers wherever it runs only with the same BLAS thread
    count (the GARCH optimum moves in its 7th digit with it).
    """
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS)

    threadpool_limits(limits=1, user_api="blas")


@contextmanager
def garch_pool(
    symbols: int, workers: int, min_symbols: int = PARALLEL_GARCH_MIN_SYMBOLS
) -> Iterator[MapFn | None]:
    """A process pool's ``map`` for the GARCH fits of ``symbols`` symbols, or ``None`` (fit them in the
    calling process, with the builtin ``map``).

    ``None`` with a single worker or below ``min_symbols`` symbols (:data:`PARALLEL_GARCH_MIN_SYMBOLS`:
    the pool would not pay for its start-up). The workers are spawned (polars may deadlock in a forked
    child) and run BLAS on one thread (:func:`single_threaded_blas`), as :func:`flows.calibrate.calibrate_batch`
    sets the calling process's, so a fit gives the same numbers on the pool and off it.
    """
    if workers <= 1 or symbols < min_symbols:
        yield None
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=single_threaded_blas) as pool:
        yield partial(_pool_map, pool)


def _pool_map(
    pool: ProcessPoolExecutor, fn: Callable[[np.ndarray], GarchFit], xs: Iterable[np.ndarray]
) -> Iterator[GarchFit]:
    return pool.map(fn, xs, chunksize=8)
