"""What "loading the same files again gives the same tables" covers, as the README words it: every table and
view but the bookkeeping holds the same rows, apart from the columns that name the run that wrote a row and
when; the bookkeeping grows (a run and a ``loads`` row per file, ``replacements`` with equal counts) and the
lake files get new names, the old ones removed."""

from __future__ import annotations

from data.home import KappaHome
from data.ingest import ingest
from data.schema import BOOKKEEPING_TABLES
from tests.conftest import DAY, WriteCsv, query

BOOKKEEPING = BOOKKEEPING_TABLES | {"incomplete_nights"}  # grow with every load, by design
WHO_AND_WHEN = {"run_id", "quarantined_at", "created_at", "path"}  # name the writing run, its time, its files


def every_row(home: KappaHome) -> dict[str, list[tuple[object, ...]]]:
    """Every table and view of the database but the bookkeeping, without the run's own columns, sorted."""
    relations = query(home, "SELECT table_name FROM duckdb_tables() UNION "
                            "SELECT view_name FROM duckdb_views() WHERE NOT internal")  # fmt: skip
    out = {}
    for (name,) in relations:
        if name in BOOKKEEPING:
            continue
        columns = [
            c for (c,) in query(home, f"SELECT column_name FROM (DESCRIBE {name})") if c not in WHO_AND_WHEN
        ]
        out[str(name)] = query(home, f"SELECT {', '.join(columns)} FROM {name} ORDER BY ALL")
    return out


def test_a_reload_changes_only_the_bookkeeping(home: KappaHome, write_csv: WriteCsv) -> None:
    t0 = f"{DAY}T10:00"
    files = {
        "quotes": write_csv("q.csv", [["symbol", "ts", "bid", "ask", "bid_size", "ask_size"],
                                      ["AAA", f"{t0}:00-05:00", 10, 10.02, 1, 1],
                                      ["AAA", f"{t0}:01-05:00", 10.03, 10.01, 1, 1],  # crossed: quarantined
                                      ["AAA", f"{t0}:02-05:00", 10.01, 10.03, 1, 1]]),
        "trades": write_csv("t.csv", [["symbol", "ts", "price", "size"], ["AAA", f"{t0}:01.5-05:00", 10.02, 300]]),
        "orders": write_csv("o.csv", [["order_id", "symbol", "side", "quantity", "arrival_ts", "end_ts"],
                                      ["O1", "AAA", "buy", 100, f"{t0}:00-05:00", f"{DAY}T11:00:00-05:00"]]),
        "fills": write_csv("f.csv", [["fill_id", "order_id", "ts", "price", "quantity"],
                                     ["F1", "O1", f"{t0}:30-05:00", 10.02, 100]]),
    }  # fmt: skip
    for table, path in files.items():
        ingest(home, table, [path])
    first, lake_first = every_row(home), set(home.lake.glob("*/date=*/*.parquet"))
    assert first["quotes"] and first["quarantine"] and first["fills"]  # the check compares something

    for table, path in files.items():
        ingest(home, table, [path])

    assert every_row(home) == first
    assert query(home, "SELECT count(*) FROM runs") == [(8,)]
    assert query(home, "SELECT count(*) FROM loads") == [(8,)]
    assert query(home, "SELECT count(*) FROM replacements WHERE rows_before <> rows_after") == [(0,)]
    lake_again = set(home.lake.glob("*/date=*/*.parquet"))
    assert len(lake_again) == len(lake_first) and not lake_again & lake_first  # new names, old files gone
