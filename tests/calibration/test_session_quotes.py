"""A quote never prevails across a session boundary: opening fills and prints after an overnight gap.

The case: a stock closes at a mid of 100.00 and opens 10 % higher, at 110.00. Four buy orders arrive at the
open; each first fills in the opening auction, before the session's first quote, then six children fill
against the quote at mid + ε + η·n/τ exactly (ε = 0.05 $/share, η = 2e-6 $/share per share/day). Measured
against the previous session's closing quote, the opening fills cost the night's 10 $ gap each: the fit
failed (ε fell back to the quoted half spread, η to Almgren et al. (2005), about 650 times the truth).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from calibration.impact import child_rates, temporary_impact
from calibration.records import MarketWindow
from calibration.sessions import quote_prevails
from calibration.signs import lee_ready_signs, prevailing_mid
from calibration.window import calibrate_window
from data.calendar import TradingClock, session_bounds

DAY1, DAY2 = dt.date(2026, 11, 16), dt.date(2026, 11, 17)
SESSIONS = session_bounds(DAY1, DAY2)
OPEN2 = SESSIONS["open_ts"][1]
EPSILON, ETA, HALF = 0.05, 2e-6, 0.05
SECOND = dt.timedelta(seconds=1)


def _quotes() -> pl.DataFrame:
    """Day 1: mid 100 all day; day 2: mid 110 from one second after the open."""
    open1, close1 = SESSIONS["open_ts"][0], SESSIONS["close_ts"][0]
    rows = [("GAP", DAY1, open1 + k * 60 * SECOND, 100.0 - HALF, 100.0 + HALF) for k in range(390)]
    rows.append(("GAP", DAY1, close1, 100.0 - HALF, 100.0 + HALF))
    rows += [("GAP", DAY2, OPEN2 + (1 + k * 60) * SECOND, 110.0 - HALF, 110.0 + HALF) for k in range(390)]
    return pl.DataFrame(
        rows,
        schema={"symbol": pl.String, "date": pl.Date, "ts": pl.Datetime("ns"), "bid": pl.Float64,
                "ask": pl.Float64},
        orient="row",
    )  # fmt: skip


def _fills() -> pl.DataFrame:
    """Four buy orders arriving at the open: an opening fill at 110.00, 0.2 s after the open (before the
    first quote), then six children at 110 + ε + η·n/τ, τ from the previous fill in 6.5-hour days."""
    rows = []
    for o in range(4):
        arrival = OPEN2
        t = OPEN2 + 0.2 * SECOND
        rows.append((f"O{o}", "GAP", "buy", t, 110.0, 1_000.0, arrival))
        for k in range(6):
            gap_s = 60.0 * (1 + k + o)  # every child at its own pace
            n = 500.0 * (1 + (k + 2 * o) % 4)
            prev, t = t, t + dt.timedelta(seconds=gap_s)
            tau = (t - prev).total_seconds() / 23_400
            rows.append((f"O{o}", "GAP", "buy", t, 110.0 + EPSILON + ETA * n / tau, n, arrival))
    return pl.DataFrame(
        rows,
        schema={"order_id": pl.String, "symbol": pl.String, "side": pl.String, "ts": pl.Datetime("ns"),
                "price": pl.Float64, "quantity": pl.Float64, "arrival_ts": pl.Datetime("ns")},
        orient="row",
    )  # fmt: skip


def test_a_quote_prevails_only_inside_its_own_session() -> None:
    close1 = SESSIONS["close_ts"][0]
    q = pl.Series([close1, close1, OPEN2 + SECOND, None]).cast(pl.Datetime("ns"))
    at = pl.Series([close1, OPEN2 + 0.2 * SECOND, OPEN2 + 2 * SECOND, OPEN2]).cast(pl.Datetime("ns"))
    assert quote_prevails(q, at, SESSIONS).to_list() == [True, False, True, False]


def test_an_opening_fill_has_no_prevailing_mid_and_is_left_out_of_the_fit_and_counted() -> None:
    children = child_rates(_fills(), _quotes(), SESSIONS, TradingClock())
    opening = children.filter(pl.col("ts") < OPEN2 + SECOND)
    assert opening.height == 4 and opening["mid"].null_count() == 4  # not the previous close's 100.00
    fit = temporary_impact(children, 1.0, 1e6)
    assert fit.unquoted == 4 and fit.nobs == 24 and fit.orders == 4
    assert fit.epsilon_usd == pytest.approx(EPSILON, abs=1e-9)
    assert fit.eta == pytest.approx(ETA, rel=1e-9)


def test_the_gap_case_calibrates_epsilon_and_eta_from_the_fills() -> None:
    """Through the whole calibration: ε and η are the fills' exactly, the opening fills counted apart."""
    quotes = _quotes()
    trades = pl.DataFrame(
        schema={"symbol": pl.String, "date": pl.Date, "ts": pl.Datetime("ns"), "price": pl.Float64,
                "size": pl.Float64},
    )  # fmt: skip
    daily = pl.DataFrame(
        {"symbol": ["GAP", "GAP"], "date": [DAY1, DAY2], "close": [100.0, 110.0], "volume": [1e6, 1e6]}
    )
    window = MarketWindow(DAY2, 2, SESSIONS, quotes, trades, _fills(), daily, TradingClock())
    r = calibrate_window(window).row(0, named=True)
    assert r["epsilon_source"] == r["eta_source"] == "fills"
    assert r["epsilon_usd"] == pytest.approx(EPSILON, abs=1e-9)
    assert r["eta"] == pytest.approx(ETA, rel=1e-9)
    assert r["eta_nobs"] == 24 and r["eta_unquoted_fills"] == 4
    assert "epsilon" not in (r["reason"] or "") and "eta" not in (r["reason"] or "")


def test_prevailing_mid_keeps_the_last_of_quotes_tied_in_time() -> None:
    """Quotes at 14:30 9.99/10.01, then two at 14:35:00, 10.09/10.11 and 10.19/10.21: just after 14:35
    the mid is 10.20, the book after both updates of that instant (and 10.10 with their order reversed)."""
    open1 = SESSIONS["open_ts"][0]
    at = open1 + dt.timedelta(minutes=5)
    quotes = pl.DataFrame(
        {
            "symbol": ["T"] * 3,
            "ts": [open1, at, at],
            "bid": [9.99, 10.09, 10.19],
            "ask": [10.01, 10.11, 10.21],
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("ns")))
    event = pl.DataFrame({"symbol": ["T"], "ts": [at + SECOND]}).with_columns(
        pl.col("ts").cast(pl.Datetime("ns"))
    )
    assert prevailing_mid(event, quotes, SESSIONS)["mid"][0] == pytest.approx(10.20)
    swapped = pl.concat([quotes[0], quotes[2], quotes[1]])
    assert prevailing_mid(event, swapped, SESSIONS)["mid"][0] == pytest.approx(10.10)


def test_a_print_before_the_sessions_first_quote_is_signed_by_the_tick_rule_of_its_session() -> None:
    """Yesterday's last print 100.00 under a 100.00 mid; today's opening prints 110.20 then 110.10 before the
    first quote: against yesterday's quote (or yesterday's print) both would be buys (+1). In their own
    session the first has no sign (no quote, no earlier print) and the second is a downtick (−1)."""
    close1 = SESSIONS["close_ts"][0]
    trades = pl.DataFrame(
        {
            "symbol": ["GAP"] * 3,
            "date": [DAY1, DAY2, DAY2],
            "ts": [close1 - SECOND, OPEN2, OPEN2 + 0.4 * SECOND],
            "price": [100.0, 110.2, 110.1],
            "size": [100.0] * 3,
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("ns")))
    signed = lee_ready_signs(trades, _quotes(), SESSIONS).sort("ts")
    assert signed["mid"].to_list() == [pytest.approx(100.0), None, None]
    assert signed["sign"].to_list() == [None, None, -1]


def test_bars_start_each_session_from_its_own_first_quote() -> None:
    """Tuesday's open boundary (before its first quote) takes Tuesday's first mid, 110.00, not Monday's
    closing 100.00: the 10 % gap is no 5-minute return."""
    from calibration.bars import bucket_mids

    mids = bucket_mids(_quotes(), SESSIONS).filter(pl.col("date") == DAY2, pl.col("bucket") <= 1)
    assert mids["mid"].to_list() == [pytest.approx(110.0)] * 2
