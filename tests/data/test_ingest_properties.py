"""Property: every input row is loaded or quarantined, never dropped (DESIGN §2), per file, for small CSV
files of quotes, trades, orders and fills full of hostile values (negative, zero, NaN and text numbers, empty
fields, crossed quotes, repeated keys, bad or offset-free timestamps, times outside the session, unknown
sides, fills of unknown orders, lines with too few or too many fields), through the real load into a fresh
home. The rows of a file are counted as they are written; the database is asked what it holds."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from data.home import KappaHome
from data.ingest import ingest
from tests.conftest import DAY, query

SETTINGS = settings(
    max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

IN_SESSION = [f"{DAY}T10:00:00-05:00", f"{DAY}T10:00:00.25-05:00", f"{DAY}T15:30:00Z", "1794841200000000001"]
BAD_TIMES = [
    f"{DAY}T03:00:00Z",  # before the open
    "2026-11-15T15:00:00Z",  # a Sunday
    "2026-11-26T15:00:00Z",  # Thanksgiving
    f"{DAY}T10:00:00",  # no UTC offset, no zone declared
    "yesterday",
    "",
]
BAD_NUMBERS = ["0", "-1", "NaN", "nan", "inf", "", "ten"]
SIDES, BAD_SIDES = ["buy", "sell", "SELL"], ["short", "b", ""]

# per column: (values a valid row may hold, hostile values); few key values, so that keys repeat
COLUMNS: dict[str, dict[str, tuple[list[str], list[str]]]] = {
    "quotes": {
        "symbol": (["AAA", "BBB"], [""]), "ts": (IN_SESSION, BAD_TIMES),
        "bid": (["10.00", "10.01"], [*BAD_NUMBERS, "10.09"]),  # 10.09: above every ask, a crossed quote
        "ask": (["10.02", "10.05"], [*BAD_NUMBERS, "9.90"]),
        "bid_size": (["100", "1"], BAD_NUMBERS), "ask_size": (["200", "5"], BAD_NUMBERS),
    },
    "trades": {
        "symbol": (["AAA", "BBB"], [""]), "ts": (IN_SESSION, BAD_TIMES),
        "price": (["10.01", "10.03"], BAD_NUMBERS), "size": (["100", "250"], BAD_NUMBERS),
        "trade_id": (["1", "2", "3", ""], []),
    },
    "orders": {
        "order_id": (["O1", "O2", "O3"], [""]), "symbol": (["AAA", "BBB"], [""]), "side": (SIDES, BAD_SIDES),
        "quantity": (["1000", "500"], BAD_NUMBERS), "arrival_ts": (IN_SESSION, BAD_TIMES),
        "end_ts": ([f"{DAY}T15:59:00-05:00"], BAD_TIMES),
    },
    "fills": {
        "fill_id": (["F1", "F2", "F3"], [""]), "order_id": (["O1", "O2"], ["O9", ""]),  # O9: unknown
        "ts": ([f"{DAY}T10:00:00-05:00", f"{DAY}T14:00:00-05:00"], BAD_TIMES),
        "price": (["10.01", "10.03"], BAD_NUMBERS), "quantity": (["100", "300", "600"], BAD_NUMBERS),
    },
}  # fmt: skip


@st.composite
def csv_rows(draw: st.DrawFn, table: str) -> list[list[str]]:
    """1 to 12 data rows of ``table``: valid rows, some with one or two hostile fields, a few with a field
    too many or too few."""
    columns = COLUMNS[table]
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        spoiled = draw(st.sets(st.sampled_from([c for c, (_, bad) in columns.items() if bad]), max_size=2))
        row = [draw(st.sampled_from(bad if c in spoiled else good)) for c, (good, bad) in columns.items()]
        shape = draw(st.sampled_from(["ok"] * 8 + ["short", "long"]))
        rows.append(row[:-1] if shape == "short" else [*row, "extra"] if shape == "long" else row)
    return rows


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


ORDERS = [  # the orders fills may belong to (O9 is unknown)
    ["O1", "AAA", "buy", "1000", f"{DAY}T09:45:00-05:00", f"{DAY}T15:00:00-05:00"],
    ["O2", "BBB", "sell", "500", f"{DAY}T09:45:00-05:00", f"{DAY}T15:00:00-05:00"],
]


def _load_and_account(table: str, files: list[list[list[str]]]) -> None:
    with tempfile.TemporaryDirectory(prefix="kappa-prop-") as tmp:
        folder = Path(tmp)
        home = KappaHome.resolve(folder / "home").ensure()
        if table == "fills":
            orders = _write(folder / "orders.csv", list(COLUMNS["orders"]), ORDERS)
            ingest(home, "orders", [orders])
        paths = [
            _write(folder / f"{table}-{i}.csv", list(COLUMNS[table]), rows) for i, rows in enumerate(files)
        ]
        report = ingest(home, table, paths, max_quarantined=1.0)  # mostly bad rows by design: never refused
        assert report.rows_read == sum(len(rows) for rows in files)
        assert report.rows_loaded + report.rows_quarantined == report.rows_read
        event(f"rows loaded: {'some' if report.rows_loaded else 'none'}; quarantined: "
              f"{'some' if report.rows_quarantined else 'none'}")  # fmt: skip
        run = report.run_id
        for path, rows in zip(paths, files, strict=True):
            (read, loaded, quarantined), *_ = query(
                home, f"SELECT rows_read, rows_loaded, rows_quarantined FROM loads WHERE run_id = '{run}' "
                f"AND source_file = '{path.resolve()}'"
            )  # fmt: skip
            in_quarantine = query(
                home, f"SELECT count(*) FROM quarantine WHERE source_file = '{path.resolve()}'"
            )[0][0]
            assert read == len(rows), path.name  # as written, malformed lines included
            assert loaded + quarantined == len(rows) and in_quarantine == quarantined, path.name
        stored = query(home, f"SELECT count(*) FROM {table}")[0][0]
        assert stored == report.rows_loaded  # a fresh home: what the load says it loaded is there


@SETTINGS
@given(files=st.lists(csv_rows("quotes"), min_size=1, max_size=2))
def test_every_quote_row_is_loaded_or_quarantined(files: list[list[list[str]]]) -> None:
    _load_and_account("quotes", files)


@SETTINGS
@given(files=st.lists(csv_rows("trades"), min_size=1, max_size=2))
def test_every_trade_row_is_loaded_or_quarantined(files: list[list[list[str]]]) -> None:
    _load_and_account("trades", files)


@SETTINGS
@given(files=st.lists(csv_rows("orders"), min_size=1, max_size=2))
def test_every_order_row_is_loaded_or_quarantined(files: list[list[list[str]]]) -> None:
    _load_and_account("orders", files)


@SETTINGS
@given(files=st.lists(csv_rows("fills"), min_size=1, max_size=2))
def test_every_fill_row_is_loaded_or_quarantined(files: list[list[list[str]]]) -> None:
    _load_and_account("fills", files)
