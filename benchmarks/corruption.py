"""Corruptions of a small valid quotes file, as CSV (optionally gzipped) or Parquet, and the check that
loading one ends as the contract says: a :class:`data.load_run.LoadReport` or a Kappa error of one line,
every row read loaded, quarantined or skipped, and nothing else in the home changed.

Shared by the property test (``tests/data/test_hostile_input.py``, hypothesis draws the corruptions) and
the seeded sweep (``benchmarks/corruption_sweep.py``, ``random.Random`` draws them).
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from data.home import KappaHome
from data.ingest import ingest
from data.load_run import LoadReport
from data.store import reader
from kappa.errors import KappaError

LOAD_DAY = "2026-11-16"  # a plain XNYS session
PREVIOUS_DAY = "2026-10-01"  # the home's stored quotes (a corruption of LOAD_DAY's rows seldom reaches it)
HEADER = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size", "exchange"]
SYMBOLS = ("AAPL", "MSFT", "XOM")
BASE_ROWS = 12

HOSTILE_VALUES = (
    "1e309", "-1e309", "NaN", "nan", "inf", "-0", "0", "-0.0", "1e-400", "", " ", "2026-02-30T15:00:00Z",
    "2026-11-16T25:00:00Z", "2026-11-16", "9999-12-31T00:00:00Z", 'A"B', '"', "A;B", "A,B", "A|B", "A\tB",
    "'; DROP TABLE quotes; --", "Robert'); DELETE FROM runs; --", "${HOME}", "%s%n", "Ä Société", "日本株",
    "\u200b", "🙂", "\u202e", "A\nB", "A\r\nB", "\\", "NULL", "None", "true", "1,000.5", "1.000,5", "0x10",
)  # fmt: skip
"""Values a field may be set to: overflowing, not-a-number, negative zero, impossible dates, quotes,
delimiters, SQL fragments, control and wide characters, line breaks."""


def base_rows(n: int = BASE_ROWS) -> list[list[str]]:
    """``n`` valid quotes of LOAD_DAY, in session, over three symbols."""
    return [
        [SYMBOLS[i % 3], f"{LOAD_DAY}T15:{i:02d}:00.5Z", f"{100 + i / 100:.2f}", f"{100.05 + i / 100:.2f}", "100",
         str(200 + i), "XNAS"]
        for i in range(n)
    ]  # fmt: skip


def csv_text(rows: list[list[str]], header: list[str] = HEADER, delimiter: str = ",") -> bytes:
    """Rows written by Python's csv module (quoted where a value needs it)."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue().encode()


def raw_join(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    """Rows joined with commas as they are: no quoting (a value with a comma or quote breaks its line)."""
    return ("\n".join(",".join(r) for r in [header, *rows]) + "\n").encode()


# ------------------------------------------------------------------------------- the corruptions of text

Draw = Callable[[int], int]
"""``draw(n)``: an integer in [0, n) (hypothesis' or a seeded ``random``'s)."""


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _at_line(data: bytes, draw: Draw, change: Callable[[bytes], bytes]) -> bytes:
    lines = _lines(data)
    i = 1 + draw(len(lines) - 2) if len(lines) > 2 else draw(len(lines))  # a row's line, where there is one
    lines[i] = change(lines[i])
    return b"\n".join(lines)


def _flip(data: bytes, draw: Draw) -> bytes:
    if not data:
        return data
    p = draw(len(data))
    return data[:p] + bytes([data[p] ^ (1 << draw(8))]) + data[p + 1 :]


def _insert(data: bytes, draw: Draw, what: bytes) -> bytes:
    p = draw(len(data) + 1)
    return data[:p] + what + data[p:]


def _value_rows(draw: Draw, quoted: bool) -> bytes:
    rows = base_rows()
    for _ in range(1 + draw(3)):
        rows[draw(len(rows))][draw(len(HEADER))] = HOSTILE_VALUES[draw(len(HOSTILE_VALUES))]
    return csv_text(rows) if quoted else raw_join(rows)


def _columns(draw: Draw) -> bytes:
    rows, header = base_rows(), list(HEADER)
    c = draw(len(header))
    match draw(4):
        case 0:  # a column missing from the header and the rows
            return csv_text([r[:c] + r[c + 1 :] for r in rows], header[:c] + header[c + 1 :])
        case 1:  # an extra column everywhere
            return csv_text([[*r, "x"] for r in rows], [*header, "extra"])
        case 2:  # a column named twice
            return csv_text([[*r, r[c]] for r in rows], [*header, header[c].upper()])
        case _:  # the header's names in another order than the values
            return csv_text(rows, header[::-1])


TEXT_CORRUPTIONS: dict[str, Callable[[bytes, Draw], bytes]] = {
    "byte_flip": lambda d, draw: _flip(d, draw),
    "truncation": lambda d, draw: d[: draw(len(d))],
    "wrong_delimiter": lambda d, draw: d.replace(b",", (b";", b"\t", b"|", b" ")[draw(4)]),
    "delimiter_of_one_line": lambda d, draw: _at_line(d, draw, lambda line: line.replace(b",", b";")),
    "bom": lambda d, draw: b"\xef\xbb\xbf" + d,
    "crlf": lambda d, draw: d.replace(b"\n", b"\r\n"),
    "lone_cr": lambda d, draw: _at_line(d, draw, lambda line: line + b"\r"),
    "cr_line_ends": lambda d, draw: d.replace(b"\n", b"\r"),
    "nul_byte": lambda d, draw: _insert(d, draw, b"\x00"),
    "latin1": lambda d, draw: _at_line(d, draw, lambda line: line.replace(b"XNAS", "Bourse é".encode("latin-1"))),
    "invalid_utf8": lambda d, draw: _insert(d, draw, (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe9")[draw(4)]),
    "quoted_newline": lambda d, draw: _at_line(d, draw, lambda line: line.replace(b"XNAS", b'"XN\nAS"')),
    "unterminated_quote": lambda d, draw: _at_line(d, draw, lambda line: b'"' + line),
    "stray_quote": lambda d, draw: _insert(d, draw, b'"'),
    "duplicated_header": lambda d, draw: _at_line(d, draw, lambda line: line + b"\n" + _lines(d)[0]),
    "blank_lines": lambda d, draw: _at_line(d, draw, lambda line: line + b"\n\n"),
    "extra_field": lambda d, draw: _at_line(d, draw, lambda line: line + b",1"),
    "missing_field": lambda d, draw: _at_line(d, draw, lambda line: line.rpartition(b",")[0]),
    "empty_file": lambda d, draw: b"",
    "header_only": lambda d, draw: _lines(d)[0] + b"\n" * draw(2),
    "value_quoted": lambda d, draw: _value_rows(draw, True),
    "value_unquoted": lambda d, draw: _value_rows(draw, False),
    "columns": lambda d, draw: _columns(draw),
}  # fmt: skip
"""Each takes the valid file's bytes and returns a corrupted copy; they may be stacked."""


# ---------------------------------------------------------------------------- the corruptions of Parquet


def _parquet_table(rows: list[list[str]], header: list[str] = HEADER, typed: bool = True) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    arrays = []
    for name, values in zip(header, cols, strict=True):
        if typed and name in ("bid", "ask", "bid_size", "ask_size"):
            try:
                arrays.append(pa.array([float(v) for v in values], pa.float64()))
                continue
            except ValueError:
                pass
        arrays.append(pa.array(list(values), pa.string()))
    return pa.Table.from_arrays(arrays, names=header)


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _parquet_values(draw: Draw) -> bytes:
    rows = base_rows()
    for _ in range(1 + draw(3)):
        rows[draw(len(rows))][draw(len(HEADER))] = HOSTILE_VALUES[draw(len(HOSTILE_VALUES))]
    return _parquet(_parquet_table(rows, typed=bool(draw(2))))


def _parquet_types(draw: Draw) -> bytes:
    t = _parquet_table(base_rows())
    i = draw(len(HEADER))
    n = t.num_rows
    other = (
        pa.array(range(n), pa.int64()),
        pa.array([i % 2 == 0 for i in range(n)]),
        pa.array([b"\xff\xfe"] * n, pa.binary()),
        pa.array([[1.0, 2.0]] * n),
        pa.array([None] * n, pa.null()),
        pa.array([{"a": 1}] * n),
    )[draw(6)]
    return _parquet(t.set_column(i, HEADER[i], other))


def _parquet_columns(draw: Draw) -> bytes:
    t = _parquet_table(base_rows())
    c = draw(len(HEADER))
    match draw(4):
        case 0:
            return _parquet(t.remove_column(c))
        case 1:
            return _parquet(t.append_column("extra", pa.array(["x"] * t.num_rows)))
        case 2:  # a column named twice (Parquet allows it)
            return _parquet(t.append_column(HEADER[c].upper(), t.column(c)))
        case _:
            return _parquet(t.slice(0, 0))


def _parquet_bytes(d: bytes, draw: Draw) -> bytes:
    match draw(3):
        case 0:
            return _flip(d, draw)
        case 1:
            return d[: draw(len(d))]
        case _:
            p = draw(len(d))
            return d[:p] + bytes(draw(256) for _ in range(1 + draw(16))) + d[p + 16 :]


PARQUET_CORRUPTIONS: dict[str, Callable[[bytes, Draw], bytes]] = {
    "parquet_bytes": _parquet_bytes,
    "parquet_values": lambda d, draw: _parquet_values(draw),
    "parquet_types": lambda d, draw: _parquet_types(draw),
    "parquet_columns": lambda d, draw: _parquet_columns(draw),
    "parquet_zero_bytes": lambda d, draw: b"",
}


@dataclass(frozen=True, slots=True)
class Corrupted:
    """A corrupted file: its name (its suffix says its format), its bytes, and the corruptions applied."""

    name: str
    data: bytes
    kinds: tuple[str, ...]


def corrupt(draw: Draw) -> Corrupted:
    """One corrupted file: text (plain or gzipped; one to three stacked corruptions) or Parquet."""
    if draw(4) == 0:
        kinds = [list(PARQUET_CORRUPTIONS)[draw(len(PARQUET_CORRUPTIONS))]]
        data = PARQUET_CORRUPTIONS[kinds[0]](_parquet(_parquet_table(base_rows())), draw)
        return Corrupted("quotes.parquet", data, tuple(kinds))
    data = csv_text(base_rows())
    kinds = []
    for _ in range(1 + (draw(3) if draw(2) else 0)):
        kind = list(TEXT_CORRUPTIONS)[draw(len(TEXT_CORRUPTIONS))]
        data = TEXT_CORRUPTIONS[kind](data, draw)
        kinds.append(kind)
    if draw(6) == 0:
        data = gzip.compress(data, mtime=0)
        if draw(2):
            data = data[: draw(len(data) + 1)]
            kinds.append("gzip_truncated")
        return Corrupted("quotes.csv.gz", data, tuple(kinds))
    return Corrupted("quotes.csv", data, tuple(kinds))


def seeded_draw(rng: random.Random) -> Draw:
    return lambda n: rng.randrange(n) if n > 0 else 0


# -------------------------------------------------------------------------------------------- the check

INPUT_TABLES = ("trades", "orders", "fills", "daily")
"""The tables a quotes load must leave as they are."""


def prepare_home(home: KappaHome, folder: Path) -> None:
    """The home's previous state: quotes of PREVIOUS_DAY, daily bars and orders."""
    folder.mkdir(parents=True, exist_ok=True)
    old = folder / "previous_quotes.csv"
    old.write_bytes(csv_text([[r[0], r[1].replace(LOAD_DAY, PREVIOUS_DAY), *r[2:]] for r in base_rows(6)]))
    daily = folder / "daily.csv"
    daily.write_bytes(
        csv_text([["AAPL", PREVIOUS_DAY, "100", "1000"]], ["symbol", "date", "close", "volume"])
    )
    orders = folder / "orders.csv"
    orders.write_bytes(
        csv_text(
            [["O1", "AAPL", "buy", "100", f"{LOAD_DAY}T15:00:00Z", f"{LOAD_DAY}T20:00:00Z"]],
            ["order_id", "symbol", "side", "quantity", "arrival_ts", "end_ts"],
        )
    )
    for table, path in (("quotes", old), ("daily", daily), ("orders", orders)):
        ingest(home, table, [path])


def state(home: KappaHome) -> dict[str, object]:
    """What a load may change or must keep: the quotes and daily bars per (date, symbol), the other input
    tables (a quotes load writes the daily bars of the days it loads)."""
    with reader(home) as con:
        out: dict[str, object] = {
            t: con.sql(f"SELECT * EXCLUDE (run_id) FROM {t} ORDER BY ALL").fetchall()
            for t in ("orders", "fills")
        }
        out["trades"] = con.sql("SELECT * FROM trades ORDER BY ALL").fetchall()
        for table, sql in (
            ("quotes", "SELECT ts::DATE, symbol, * FROM quotes ORDER BY ALL"),  # in session: the UTC day
            ("daily", "SELECT date, symbol, * EXCLUDE (run_id) FROM daily ORDER BY ALL"),
        ):
            groups: dict[tuple[object, object], list[tuple[object, ...]]] = {}
            for row in con.sql(sql).fetchall():
                groups.setdefault((row[0], row[1]), []).append(row[2:])
            out[table] = groups
    return out


@dataclass
class Outcome:
    """One file's end: ``loaded`` (its rows read, loaded, quarantined per rule, skipped) or ``refused`` (the
    Kappa error's message)."""

    kind: str
    message: str = ""
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    rules: Counter[str] = field(default_factory=Counter)


def load_and_check(home: KappaHome, paths: list[Path]) -> dict[Path, Outcome]:
    """Load ``paths`` as quotes in one load and check the contract; each file's outcome.

    A file the load refuses (a Kappa error naming it) is checked (one line, the home unchanged) and left
    out, and the others are loaded again. Files are loaded with ``max_quarantined=1``: a file mostly
    quarantined is loaded too (the refusal of such a file is a rule of its own, tested with it).
    Raises AssertionError where the contract is broken, and lets any exception other than a Kappa error
    through (that is the failure the checks look for).
    """
    out: dict[Path, Outcome] = {}
    left = list(paths)
    before = state(home)
    while left:
        try:
            report = ingest(home, "quotes", left, max_quarantined=1.0)
        except KappaError as exc:
            message = str(exc)
            assert message and "\n" not in message and "\r" not in message, repr(message)
            for raw in (
                "Traceback",
                "ArrowInvalid",
                "ArrowTypeError",
                "UnicodeDecodeError",
                "PanicException",
            ):
                assert raw not in message, message
            refused = Path(getattr(exc, "path", None) or "")
            assert refused in left, f"the refusal names no file of the load: {message}"
            assert state(home) == before, f"a refused load changed the home: {message}"
            out[refused] = Outcome("refused", message)
            left.remove(refused)
            continue
        after = state(home)
        out.update(check_report(home, report, left, before, after))
        break
    return out


def check_report(
    home: KappaHome,
    report: LoadReport,
    paths: list[Path],
    before: dict[str, object],
    after: dict[str, object],
) -> dict[Path, Outcome]:
    """Rows read = loaded + quarantined + skipped, in the report and per file in ``loads`` and
    ``quarantine``; the (date, symbol) groups the report does not name as replaced are as they were; no
    other table changed. Each file's outcome."""
    assert report.rows_read == report.rows_loaded + report.rows_quarantined + report.rows_skipped
    out: dict[Path, Outcome] = {}
    with reader(home) as con:
        for path in paths:
            (n_read, n_loaded, n_quarantined, n_skipped), *more = con.execute(
                """SELECT rows_read, rows_loaded, rows_quarantined, rows_skipped FROM loads
                   WHERE run_id = ? AND source_file = ?""",
                [report.run_id, str(path)],
            ).fetchall()
            assert not more
            assert n_read == n_loaded + n_quarantined + n_skipped, path
            rules = con.execute(
                """SELECT rule, count(*) FROM quarantine WHERE source_file = ? AND table_name = 'quotes'
                   AND run_id = ? GROUP BY rule""",
                [str(path), report.run_id],
            ).fetchall()
            assert sum(n for _, n in rules) == n_quarantined, path
            out[path] = Outcome(
                "loaded", "", n_read, n_loaded, n_quarantined, n_skipped, Counter(dict(rules))
            )
    assert sum(o.rows_read for o in out.values()) == report.rows_read
    assert sum(o.rows_loaded for o in out.values()) == report.rows_loaded
    for table in INPUT_TABLES:
        if table != "daily":
            assert after[table] == before[table], f"{table} changed"
    replaced = {(r.date, r.key): r for r in report.replaced}
    for table in ("quotes", "daily"):
        old, new = before[table], after[table]
        assert isinstance(old, dict) and isinstance(new, dict)
        for key in old.keys() | new.keys():
            if key in replaced and table == "quotes":
                assert len(new.get(key, [])) == replaced[key].rows_after, key
                assert len(old.get(key, [])) == replaced[key].rows_before, key
            elif key not in replaced and key in old:  # a (date, symbol) new to the home replaces nothing
                assert new.get(key) == old[key], (
                    f"{table} of {key} changed, but the load did not replace them"
                )
    old_quotes, new_quotes = before["quotes"], after["quotes"]
    assert isinstance(old_quotes, dict) and isinstance(new_quotes, dict)
    added = sum(
        len(rows) for key, rows in new_quotes.items() if key not in replaced and key not in old_quotes
    )
    assert sum(r.rows_after for r in report.replaced) + added == report.rows_loaded
    return out
