"""Events that share a timestamp: the file's order is the event order, through `kappa ingest`, the lake and
every as-of join; the last state at an instant is the one in force.

Quotes at 14:30 9.99/10.01, then two at 14:35:00: 10.09/10.11 and 10.19/10.21. After 14:35:00 the book is
the second update's: mid 10.20 (not 10.10). The same rows with the two tied updates swapped give 10.10, so
it is the order in the file that counts, not the prices.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from calibration.bars import bucket_mids
from calibration.signs import lee_ready_signs, prevailing_mid
from data.calendar import TradingClock, session_bounds
from data.home import KappaHome
from data.ingest import ingest
from tca.prices import quote_at, time_weighted_mid
from tests.conftest import DAY, WriteCsv, query, run_kappa

HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]
T1435 = dt.datetime(2026, 11, 16, 14, 35)
SESSIONS = session_bounds(dt.date(2026, 11, 16), dt.date(2026, 11, 16))
MID = {"AAA": 10.20, "BBB": 10.10}  # BBB: the two updates of 14:35 in the other order


def _rows(symbol: str) -> list[list[object]]:
    tied = [[f"{DAY}T14:35:00Z", 10.09, 10.11], [f"{DAY}T14:35:00Z", 10.19, 10.21]]
    if symbol == "BBB":
        tied.reverse()
    return [[symbol, ts, bid, ask, 100, 100] for ts, bid, ask in [[f"{DAY}T14:30:00Z", 9.99, 10.01], *tied]]


# AAA first: straight to the lake, through the CLI as a user runs it; BBB first: staged and merged
@pytest.mark.parametrize("first", ["AAA", "BBB"])
def test_the_last_quote_of_an_instant_is_the_state_everywhere(
    tmp_path: Path, write_csv: WriteCsv, first: str
) -> None:
    symbols = ["AAA", "BBB"] if first == "AAA" else ["BBB", "AAA"]
    quotes_csv = write_csv("quotes.csv", [HEADER, *(r for s in symbols for r in _rows(s))])
    trades_csv = write_csv(
        "trades.csv",
        [["symbol", "ts", "price", "size"], *([s, f"{DAY}T14:35:01Z", 10.15, 100] for s in symbols)],
    )
    home = str(tmp_path / "h")
    k = KappaHome.resolve(Path(home))
    for table, path in (("quotes", quotes_csv), ("trades", trades_csv)):
        if first == "AAA":
            res = run_kappa("ingest", table, str(path), "--home", home)
            assert res.returncode == 0, res.stderr
        else:
            ingest(k.ensure(), table, [path])
    ((qpath,),) = query(k, "SELECT path FROM lake_files WHERE table_name = 'quotes'")
    ((tpath,),) = query(k, "SELECT path FROM lake_files WHERE table_name = 'trades'")
    quotes, trades = pl.read_parquet(k.lake_file(str(qpath))), pl.read_parquet(k.lake_file(str(tpath)))

    # calibration: the 14:35 boundary's mid; the prevailing mid of a trade at 14:35:01 and its sign
    bars = bucket_mids(quotes, SESSIONS).filter(pl.col("bucket") == 1)
    assert dict(bars.select("symbol", "mid").iter_rows()) == pytest.approx(MID)
    signed = lee_ready_signs(trades, quotes, SESSIONS)
    assert dict(signed.select("symbol", "mid").iter_rows()) == pytest.approx(MID)
    assert dict(signed.select("symbol", "sign").iter_rows()) == {"AAA": -1, "BBB": 1}  # 10.15 vs the mid
    after = pl.DataFrame(
        {"symbol": ["AAA", "BBB"], "ts": [T1435 + dt.timedelta(seconds=1)] * 2}
    ).with_columns(pl.col("ts").cast(pl.Datetime("ns")))
    assert dict(prevailing_mid(after, quotes, SESSIONS).select("symbol", "mid").iter_rows()) == pytest.approx(
        MID
    )
    # attribution: the quote at 14:35:00 itself (an arrival), and a TWAP over 14:35 .. 14:36
    at = after.with_columns(pl.lit(T1435).cast(pl.Datetime("ns")).alias("ts"))
    got = quote_at(at, quotes, "ts", "q", SESSIONS).select("symbol", "q_mid")
    assert dict(got.iter_rows()) == pytest.approx(MID)
    window = at.with_columns((pl.col("ts") + dt.timedelta(minutes=1)).alias("end"))
    twap = time_weighted_mid(window, quotes, "ts", "end", "twap", TradingClock()).select("symbol", "twap")
    assert dict(twap.iter_rows()) == pytest.approx(MID)
    # the day's close (the last quote of the day): the last of the tie
    assert dict(query(k, "SELECT symbol, close FROM daily")) == pytest.approx(MID)
