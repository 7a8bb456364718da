"""The benchmarks' shared settings: where data and results go, the simulated day, its history, batch size.

Every benchmark module reads these from here (one copy); none of them imports another benchmark's entry
point for a constant.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flows.settings import DEFAULT_BATCH_SYMBOLS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent  # the working directory of the benchmarks' child processes
CACHE = HERE / ".cache"  # generated data and cached homes (``make clean`` removes it)
RESULTS = HERE / "results"  # one JSON per run, committed beside the README's tables
DAY = dt.date(2026, 11, 16)  # the simulated session, a Monday; the next session is Tuesday 17 November
NEXT_DAY = dt.date(2026, 11, 17)
HISTORY_DAYS = 500  # sessions of daily history before DAY (GARCH's window)
BATCH_SYMBOLS = (
    DEFAULT_BATCH_SYMBOLS  # symbols per calibration or attribution batch, as the nightly flow's default
)
FILES_TIMEZONE = "UTC"  # the simulator's Parquet timestamps are tz-naive UTC: the homes declare it
