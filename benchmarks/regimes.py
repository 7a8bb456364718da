"""Benchmark the two-regime volatility model: statsmodels per symbol against the vectorised EM.

Usage::

    python -m benchmarks.regimes                            # 50, 500 and 2,000 symbols × 500 returns
    python -m benchmarks.regimes --symbols 50,500 --statsmodels-sample 20

The series (seeded, so every run fits the same ones) mix what a night meets: a quarter two-regime Markov
chains (σ 1 % and 2.5 % a day, stay probabilities 0.98 and 0.92), a quarter GARCH(1,1) returns, a quarter
Student-t(4) returns and a quarter constant-variance normal returns (no regime: the fits end ``degenerate``).

For each size, CPU seconds (``time.process_time``, this process, one BLAS thread) of

- ``statsmodels``: ``MarkovRegression(k_regimes=2, trend="c", switching_variance=True)`` fitted symbol by
  symbol as the calibration did before the EM (``search_reps=10``, ``em_iter=20``, then BFGS), on the first
  ``--statsmodels-sample`` series of the size (the fits are independent: the total is scaled by
  symbols / sample);
- ``em``: :func:`calibration.regimes.regime_fits` on all the size's series at once, and once per batch of
  :data:`benchmarks.config.BATCH_SYMBOLS` symbols (as ``calibrate_symbols`` calls it).

Results go to stdout and ``benchmarks/results/regimes.json``. Timings are measured here, never asserted.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections import Counter

import numpy as np

from benchmarks.config import BATCH_SYMBOLS, RESULTS

RETURNS = 500


def series(n: int, seed: int = 19) -> list[np.ndarray]:
    """``n`` closes series of ``RETURNS`` + 1 days, the mix of the module docstring, in a fixed order."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            state, sd = 0, np.empty(RETURNS)
            for t in range(RETURNS):
                stay = 0.92 if state else 0.98
                state = state if rng.random() < stay else 1 - state
                sd[t] = 0.025 if state else 0.010
            r = rng.standard_normal(RETURNS) * sd
        elif kind == 1:
            h, r = 2e-4, np.empty(RETURNS)
            for t in range(RETURNS):
                r[t] = rng.standard_normal() * np.sqrt(h)
                h = 1e-5 + 0.08 * r[t] ** 2 + 0.87 * h
        elif kind == 2:
            r = rng.standard_t(4, RETURNS) * 0.01
        else:
            r = rng.standard_normal(RETURNS) * 0.015
        out.append(40.0 * np.exp(np.concatenate(([0.0], np.cumsum(r)))))
    return out


def statsmodels_cpu(closes: list[np.ndarray]) -> float:
    """CPU seconds to fit each of ``closes`` with statsmodels, as the calibration did before the EM."""
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    t0 = time.process_time()
    for c in closes:
        r = 100.0 * np.diff(np.log(c))
        model = MarkovRegression(r, k_regimes=2, trend="c", switching_trend=False, switching_variance=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(cov_type="none", em_iter=20, search_reps=10, rng=0)
    return time.process_time() - t0


def em_cpu(closes: list[np.ndarray], batch: int) -> tuple[float, Counter[str]]:
    """CPU seconds of :func:`calibration.regimes.regime_fits` on ``closes`` in batches of ``batch``, and the
    fits' statuses."""
    from calibration.regimes import regime_fits

    t0 = time.process_time()
    fits = [f for i in range(0, len(closes), batch) for f in regime_fits(closes[i : i + batch])]
    return time.process_time() - t0, Counter(f.status for f in fits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", default="50,500,2000", help="comma-separated sizes")
    parser.add_argument("--statsmodels-sample", type=int, default=50, help="series statsmodels fits a size")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    import statsmodels.api  # noqa: F401  (imported before timing)

    import calibration.regimes  # noqa: F401

    rows = []
    for n in (int(x) for x in args.symbols.split(",")):
        closes = series(n)
        sample = min(n, args.statsmodels_sample)
        sm = statsmodels_cpu(closes[:sample]) * n / sample
        whole, statuses = em_cpu(closes, n)
        batched, _ = em_cpu(closes, BATCH_SYMBOLS)
        rows.append({"symbols": n, "returns": RETURNS, "statsmodels_cpu_s": sm, "statsmodels_sample": sample,
                     "em_night_cpu_s": whole, "em_batches_cpu_s": batched, "batch_symbols": BATCH_SYMBOLS,
                     "statuses": dict(sorted(statuses.items()))})  # fmt: skip
    print("| symbols | statsmodels CPU s (sample) | EM, one call CPU s | EM, batches of", BATCH_SYMBOLS,
          "CPU s | statsmodels / EM (one call) | statuses |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['symbols']:,} | {r['statsmodels_cpu_s']:.1f} ({r['statsmodels_sample']}) | "
              f"{r['em_night_cpu_s']:.2f} | {r['em_batches_cpu_s']:.2f} | "
              f"{r['statsmodels_cpu_s'] / r['em_night_cpu_s']:.0f}× | {r['statuses']} |")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "regimes.json").write_text(
        json.dumps({"rows": rows, "date": time.strftime("%Y-%m-%d")}, indent=1)
    )


if __name__ == "__main__":
    main()
