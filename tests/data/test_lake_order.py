"""Rows that arrive in lake order go straight to the lake; any other load is staged and merged; both ways
give the same lake files, manifest, daily rows and quarantine."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from data import load_market
from data.home import KappaHome
from data.ingest import ingest
from data.lake.partitions import MergedPartition
from simulator import SimConfig, random_universe, simulate_days
from tests.conftest import query

DAY = dt.date(2026, 11, 16)


@pytest.fixture(scope="module")
def day() -> tuple[pl.DataFrame, pl.DataFrame]:
    (d,) = simulate_days(
        SimConfig(random_universe(4, seed=3, quotes_per_day=600), DAY, 1, orders_per_symbol_day=0)
    )
    return d.quotes, d.trades


def _state(home: KappaHome, table: str) -> dict[str, object]:
    (path,) = query(home, f"SELECT path FROM lake_files WHERE table_name = '{table}'")[0]
    return {
        "file": pl.read_parquet(home.lake_file(str(path))),
        "manifest": query(home, "SELECT table_name, date, row_count, symbols FROM lake_files ORDER BY 1, 2"),
        "daily": query(home, "SELECT * EXCLUDE (run_id) FROM daily ORDER BY symbol, date"),
        "quarantine": query(
            home, "SELECT row_number, rule, detail, raw FROM quarantine ORDER BY source_file, row_number"
        ),
    }


def _no_merge(*args: object, **kwargs: object) -> MergedPartition:
    raise AssertionError("staged and merged, though the rows came in lake order")


def _load(tmp_path: Path, name: str, frames: dict[str, pl.DataFrame], batch_rows: int) -> KappaHome:
    home = KappaHome.resolve(tmp_path / name).ensure()
    for table, frame in frames.items():
        path = tmp_path / f"{name}-{table}.parquet"
        frame.with_columns(pl.col("ts").dt.replace_time_zone("UTC")).write_parquet(path)  # UTC, and says so
        ingest(home, table, [path], batch_rows=batch_rows)
    return home


def test_rows_in_lake_order_go_straight_to_the_lake_and_equal_the_merge(
    tmp_path: Path, day: tuple[pl.DataFrame, pl.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    quotes, trades = day
    assert quotes.height > 2000 and quotes["symbol"].n_unique() == 4
    shuffled = {"quotes": quotes.sample(fraction=1.0, shuffle=True, seed=1), "trades": trades.reverse()}
    staged = _load(tmp_path, "staged", shuffled, batch_rows=500)
    with monkeypatch.context() as m:
        m.setattr(load_market, "merge_partition", _no_merge)
        direct = _load(tmp_path, "direct", {"quotes": quotes, "trades": trades}, batch_rows=500)
    for table in ("quotes", "trades"):
        a, b = _state(direct, table), _state(staged, table)
        assert a["file"].equals(b["file"]), table  # same rows in the same order
        assert a["manifest"] == b["manifest"] and a["daily"] == b["daily"]
    assert query(direct, "SELECT symbols FROM lake_files WHERE table_name = 'quotes'") == [(4,)]


def test_a_repeated_trade_id_in_a_later_batch_falls_back_to_the_merge(
    tmp_path: Path, day: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    _, trades = day
    first = trades.filter(pl.col("symbol") == trades["symbol"][0])
    # a copy of the symbol's first trade, 1 ns after its last: still in lake order, in a later batch
    again = first.head(1).with_columns(
        (pl.lit(first["ts"].max()) + pl.duration(nanoseconds=1)).cast(pl.Datetime("ns")).alias("ts")
    )
    others = trades.filter(pl.col("symbol") != first["symbol"][0])
    direct = _load(tmp_path, "direct", {"trades": pl.concat([first, again, others])}, batch_rows=100)
    # the other symbols first: out of lake order, but the copy still comes after its original
    staged = _load(tmp_path, "staged", {"trades": pl.concat([others, first, again])}, batch_rows=100)
    a, b = _state(direct, "trades"), _state(staged, "trades")
    assert a["file"].equals(b["file"])
    assert [(n, r) for n, r, _, _ in a["quarantine"]] == [(first.height + 1, "duplicate_key")]
    assert [r for _, r, _, _ in b["quarantine"]] == ["duplicate_key"]
    assert a["file"].height == trades.height


def test_a_date_already_in_the_lake_is_merged(tmp_path: Path, day: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    quotes, _ = day
    symbols = sorted(quotes["symbol"].unique())
    home = _load(tmp_path, "home", {"quotes": quotes.filter(pl.col("symbol") != symbols[-1])}, batch_rows=500)
    _load(tmp_path, "home", {"quotes": quotes.filter(pl.col("symbol") == symbols[-1])}, batch_rows=500)
    whole = _load(tmp_path, "whole", {"quotes": quotes}, batch_rows=500)
    assert _state(home, "quotes")["file"].equals(_state(whole, "quotes")["file"])


def test_rows_that_tie_on_symbol_and_time_keep_the_files_order_every_way(
    tmp_path: Path, day: tuple[pl.DataFrame, pl.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within one timestamp the file's order is the order of events: straight to the lake, staged and
    merged, and kept beside a later load's symbols, the rows of an instant stay as the file had them."""
    quotes, _ = day
    # every quote twice at the same instant, the higher bid first: not in the order of the other columns
    tied = pl.concat([quotes.with_columns(pl.col("bid") - 0.001), quotes]).sort(
        "symbol", "ts", "bid", descending=[False, False, True]
    )
    with monkeypatch.context() as m:
        m.setattr(load_market, "merge_partition", _no_merge)
        direct = _load(tmp_path, "direct", {"quotes": tied}, batch_rows=700)
    a = _state(direct, "quotes")["file"]
    assert a.height == 2 * quotes.height
    higher_first = a.group_by("symbol", "ts", maintain_order=True).agg(
        pl.col("bid").first() > pl.col("bid").last()
    )
    assert higher_first["bid"].all()
    # the symbols in reverse (out of lake order: staged and merged), each symbol's rows as before
    by_symbol = tied.with_columns(pl.col("symbol").rank("dense", descending=True).alias("_k")).sort(
        "_k", maintain_order=True
    )
    staged = _load(tmp_path, "staged", {"quotes": by_symbol.drop("_k")}, batch_rows=700)
    assert a.equals(_state(staged, "quotes")["file"])
    # one symbol loaded later into the same date: the others' rows are kept in their order
    last = tied["symbol"].max()
    twice = _load(tmp_path, "twice", {"quotes": tied.filter(pl.col("symbol") != last)}, batch_rows=700)
    _load(tmp_path, "twice", {"quotes": tied.filter(pl.col("symbol") == last)}, batch_rows=700)
    assert a.equals(_state(twice, "quotes")["file"])
    # the day's close is the last quote of the last instant in the file's order
    closes = dict(query(direct, "SELECT symbol, close FROM daily"))
    ends = tied.group_by("symbol").agg(((pl.col("bid") + pl.col("ask")) / 2).last())
    assert closes == pytest.approx(dict(ends.iter_rows()))


def test_trades_flagged_as_written_equal_the_trades_flagged_after_the_merge(
    tmp_path: Path, day: tuple[pl.DataFrame, pl.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trades going straight to the lake are flagged batch by batch as they are written; staged and merged,
    the written file is flagged afterwards: both give the same flags, counts and ``daily`` rows, with batches
    that split a symbol's trades and a date whose quotes are stored (rule T4) or not."""
    quotes, trades = day
    n = trades.height
    codes = pl.Series([None, "@", "F", "@ FT", None, "Z", None, "I"])  # Z and T mark irregular prints
    odd = pl.int_range(n) % 37 == 5  # every 37th print far above its quote
    trades = trades.with_columns(
        pl.when(odd).then(pl.col("price") * 1.5).otherwise(pl.col("price")).alias("price"),
        pl.lit(codes).gather(pl.int_range(n) % codes.len()).alias("conditions"),
    )
    shuffled = trades.reverse()
    for with_quotes in (True, False):
        frames = {"quotes": quotes} if with_quotes else {}
        tag = "q" if with_quotes else "noq"
        staged = _load(tmp_path, f"staged-{tag}", {**frames, "trades": shuffled}, batch_rows=300)
        with monkeypatch.context() as m:
            m.setattr(load_market, "merge_partition", _no_merge)
            direct = _load(tmp_path, f"direct-{tag}", {**frames, "trades": trades}, batch_rows=300)
        a, b = _state(direct, "trades"), _state(staged, "trades")
        assert a["file"].equals(b["file"]) and a["daily"] == b["daily"]
        flagged = "SELECT table_name, symbol, rule, rows FROM flagged_rows ORDER BY ALL"
        assert query(direct, flagged) == query(staged, flagged)
        rules = dict(a["file"].group_by("flag").len().drop_nulls().iter_rows())  # type: ignore[union-attr]
        assert rules["condition"] == trades["conditions"].str.contains("[ZT]").sum()
        assert (rules.get("outside_quote", 0) > 0) == with_quotes
