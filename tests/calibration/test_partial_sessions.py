"""A market quoted in only part of its session (a 24/7 crypto pair traded four minutes a day): the buckets in
which nothing happened are not observations of γ or σ, and a day's variance is that of the time it was
quoted. The full-session case (the simulator's, quoted from the open to the close) is pinned by
``test_volatility.py`` and ``test_impact.py``: 78 returns and 78 buckets a day, as before."""

from __future__ import annotations

import pytest

from calibration.bars import bucket_mids, impact_buckets
from calibration.signs import lee_ready_signs
from calibration.window import calibrate_window
from tests.calibration.conftest import quoted_minutes_sigma, quoted_minutes_window

NOON = 12 * 60  # minutes after midnight UTC, the 24/7 calendar's open
TRUE_SIGMA = quoted_minutes_sigma()


def test_a_day_quoted_four_minutes_in_one_bucket_is_one_observation_not_288() -> None:
    # 12:00:30 to 12:04:30 UTC: 288 five-minute buckets a day, one of which holds every quote and trade
    w = quoted_minutes_window(20, NOON + 0.5)
    buckets = impact_buckets(
        bucket_mids(w.quotes, w.sessions), lee_ready_signs(w.trades, w.quotes, w.sessions), w.sessions
    )
    assert buckets.height == 20 and buckets["bucket"].unique().to_list() == [145]
    # its change runs from the day's first quote to the bucket's end: the mid did move, with the flow
    assert (buckets["dmid_usd"] != 0).all() and (buckets["net_signed_shares"] != 0).all()
    r = calibrate_window(w).row(0, named=True)
    # Kyle's λ: 20 observations (not 20 × 288 = 5,760 with λ = 0 ± 0): too few
    assert (r["kyle_lambda_nobs"], r["kyle_lambda"]) == (20, None)
    # γ, the response 30 minutes on, is never observed in a market quoted 4 minutes a day
    assert (r["gamma_nobs"], r["gamma_status"], r["gamma"]) == (0, "insufficient_data", None)
    assert (
        "gamma: 0 observed 5-minute buckets with a quote or a trade and 30 minutes of quoted history before "
        "them, fewer than 30"
    ) in r["reason"]
    # σ: one 4-minute return a day, scaled by the 4 minutes it covers (not by the 24 hours of the session)
    assert (r["sigma_nobs"], r["sigma_days"], r["sigma_status"]) == (20, 20, "ok")
    assert abs(r["sigma_usd"] - TRUE_SIGMA) < 3 * r["sigma_se_usd"]
    assert r["sigma_tsrv_usd"] == pytest.approx(TRUE_SIGMA, rel=0.15)


def test_a_day_quoted_across_a_boundary_gives_gamma_and_sigma_of_the_quoted_time() -> None:
    # 12:03 to 12:07: two buckets a day, each two minutes of quotes and trades
    r = calibrate_window(quoted_minutes_window(40, NOON + 3)).row(0, named=True)
    assert r["kyle_lambda_nobs"] == 80
    assert abs(r["kyle_lambda"] - 2e-5) < 3 * r["kyle_lambda_se"]
    assert (r["gamma_nobs"], r["gamma_status"]) == (0, "insufficient_data")
    assert (r["sigma_nobs"], r["sigma_days"]) == (80, 40)
    assert abs(r["sigma_usd"] - TRUE_SIGMA) < 3 * r["sigma_se_usd"]  # was 0.025: the 24 h in the denominator
    assert r["sigma_tsrv_usd"] == pytest.approx(TRUE_SIGMA, rel=0.15)


def test_a_mid_that_never_moves_under_trades_is_a_degenerate_kyle_lambda_not_zero() -> None:
    r = calibrate_window(quoted_minutes_window(40, NOON + 3, gamma=0.0, sigma_usd=0.0)).row(0, named=True)
    assert (r["kyle_lambda_nobs"], r["kyle_lambda"], r["kyle_lambda_se"]) == (80, None, None)
    assert r["sigma_status"] == "insufficient_data" and r["status"] == "insufficient_data"
