"""The intraday volume profile against a known U-shaped intensity and a hand-worked early close."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from calibration.bars import intraday_volume_profile
from data.calendar import session_bounds


def _trades(day: dt.date, offsets_s: np.ndarray, sizes: np.ndarray, symbol: str = "AAA") -> pl.DataFrame:
    open_ts = session_bounds(day, day)["open_ts"][0]
    ts = [open_ts + dt.timedelta(seconds=float(s)) for s in offsets_s]
    return pl.DataFrame({"symbol": symbol, "date": day, "ts": ts, "size": sizes}).with_columns(
        pl.col("ts").cast(pl.Datetime("ns"))
    )


def test_profile_recovers_a_u_shaped_intensity() -> None:
    # density ∝ 1 + 3(2u − 1)² on the session: bin b of B holds [F(u)]_{b/B}^{(b+1)/B} / F(1),
    # F(u) = u + (2u − 1)³/2
    rng = np.random.default_rng(3)
    days = session_bounds(dt.date(2026, 11, 2), dt.date(2026, 11, 13))["date"].to_list()
    grid = np.linspace(0, 1, 4001)
    cdf = grid + (2 * grid - 1) ** 3 / 2 + 0.5
    cdf /= cdf[-1]
    frames = []
    for d in days:
        u = np.interp(rng.uniform(size=20_000), cdf, grid)
        frames.append(_trades(d, np.sort(u) * 23_400, rng.integers(1, 10, u.size) * 100.0))
    prof = intraday_volume_profile(pl.concat(frames), session_bounds(days[0], days[-1]), bins=13)
    edges = np.linspace(0, 1, 14)
    f = edges + (2 * edges - 1) ** 3 / 2
    truth = np.diff(f) / (f[-1] - f[0])
    assert prof["days"][0] == len(days) and prof.height == 13
    np.testing.assert_allclose(prof["volume_fraction"].to_numpy(), truth, rtol=0.05)
    assert abs(prof["volume_fraction"].sum() - 1) < 1e-12


def test_profile_bins_an_early_close_by_its_own_length_and_weighs_days_equally() -> None:
    early, full = dt.date(2026, 11, 27), dt.date(2026, 11, 30)  # 3.5-hour and 6.5-hour sessions
    t = pl.concat(
        [
            _trades(
                early, np.array([0.0, 3.5 * 3600]), np.array([100.0, 300.0])
            ),  # open and the close itself
            _trades(full, np.array([60.0, 4 * 3600.0]), np.array([1000.0, 1000.0])),
        ]
    )
    prof = intraday_volume_profile(t, session_bounds(early, full), bins=2)
    # early close: 25 % in the first half, 75 % in the last; full day: 50 % / 50 %; the mean of the days
    np.testing.assert_allclose(prof["volume_fraction"].to_numpy(), [0.375, 0.625])
