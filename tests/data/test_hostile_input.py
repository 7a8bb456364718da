"""Hostile input files: a bad row is quarantined with its line and bytes, never the file refused for it; a
file that cannot be read at all is refused in one line naming it, the line and the reason; nothing else in
the home changes. Generated corruptions (:mod:`benchmarks.corruption`) of a small valid quotes file, as CSV
and Parquet, go through :func:`data.ingest.ingest` (what ``kappa ingest`` calls) into one home that holds
earlier rows; a larger seeded sweep runs under the ``sweep`` mark (``benchmarks/corruption_sweep.py``)."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from benchmarks.corruption import (
    HEADER,
    base_rows,
    corrupt,
    csv_text,
    load_and_check,
    prepare_home,
)
from benchmarks.corruption_sweep import sweep
from data.home import KappaHome
from data.ingest import ingest
from kappa.errors import InputError
from tests.conftest import query, run_kappa

EXAMPLES = 200


@pytest.fixture(scope="module")
def loaded_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KappaHome, Path]]:
    folder = tmp_path_factory.mktemp("hostile")
    home = KappaHome.resolve(folder / "home")
    prepare_home(home, folder / "previous")
    yield home, folder


NUMBERS = itertools.count()
FILES_PER_LOAD = 5


@settings(
    max_examples=EXAMPLES // FILES_PER_LOAD, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)  # fmt: skip
@given(data=st.data())
def test_corrupted_files_load_what_they_can_or_are_refused_in_one_line(
    loaded_home: tuple[KappaHome, Path], data: st.DataObject
) -> None:
    """Five corrupted files a load (a load per file would cost five times as long): each file's rows are
    accounted for in ``loads`` and the quarantine, a file refused is refused alone (the others load)."""
    home, folder = loaded_home
    paths: list[Path] = []
    seen: set[bytes] = set()
    for _ in range(FILES_PER_LOAD):
        bad = corrupt(lambda n: data.draw(st.integers(0, max(n - 1, 0))))
        if bad.data in seen:  # two copies of one file are refused together, as copies
            continue
        seen.add(bad.data)
        paths.append(folder / f"{next(NUMBERS):04d}-{bad.name}")
        paths[-1].write_bytes(bad.data)
        for kind in bad.kinds:
            event(kind)
    outcomes = load_and_check(home, paths)
    assert outcomes.keys() == set(paths)
    for outcome in outcomes.values():
        event(outcome.kind)


SWEEP_CORRUPTIONS = 2000


@pytest.mark.sweep
def test_the_seeded_sweep_breaks_no_contract(tmp_path: Path) -> None:
    """``benchmarks/corruption_sweep.py`` with its default seed: every corruption loads or is refused in
    one line, no row is lost, no exception other than a Kappa error escapes."""
    figures = sweep(SWEEP_CORRUPTIONS, 20, tmp_path)
    assert figures["breaks"] == [] and figures["rows_lost"] == 0, figures
    assert figures["corruptions"] == SWEEP_CORRUPTIONS


def _csv(path: Path, body: bytes) -> Path:
    path.write_bytes(body)
    return path


def _quarantine(home: KappaHome, path: Path) -> list[tuple[object, ...]]:
    return query(
        home,
        f"SELECT row_number, rule, detail, raw FROM quarantine WHERE source_file = '{path}' ORDER BY row_number",
    )


def test_a_row_that_is_not_utf8_is_quarantined_with_its_bytes_and_the_rest_loads(
    home: KappaHome, tmp_path: Path
) -> None:
    rows = base_rows(6)
    body = csv_text(rows).replace(b"XNAS", "Bourse é".encode("latin-1"), 1)  # row 1 (line 2)
    body = body.replace(b"100.03,", b"100.0\xff,", 1)  # row 4 (line 5): a flipped byte
    path = _csv(tmp_path / "quotes.csv", body)
    report = ingest(home, "quotes", [path])
    assert (report.rows_read, report.rows_loaded, report.quarantined_by_rule) == (6, 4, {"invalid_utf8": 2})
    got = _quarantine(home, path)
    assert [(r[0], r[1]) for r in got] == [(1, "invalid_utf8"), (4, "invalid_utf8")]
    assert got[0][3] == ",".join(rows[0][:-1]) + ",Bourse \\xe9"
    assert got[1][3] == ",".join(rows[3]).replace("100.03", "100.0\\xff")
    at = body.split(b"\n")[4].index(b"\xff") + 1
    assert str(got[1][2]).startswith(f"byte {at} (0xff) is not UTF-8") and "--encoding" in str(got[1][2])


def test_a_declared_encoding_reads_the_file_as_written(home: KappaHome, tmp_path: Path) -> None:
    rows = base_rows(3)
    rows[0][-1] = "Société Générale"
    path = _csv(tmp_path / "quotes.csv", csv_text(rows).decode().encode("latin-1"))
    report = ingest(home, "quotes", [path], encoding="latin-1")
    assert (report.rows_loaded, report.rows_quarantined) == (3, 0)
    assert ("Société Générale",) in query(home, "SELECT DISTINCT exchange FROM quotes")
    home.save_config(encoding="cp1252")  # the home's setting, as the drop folder's loads use it
    again = ingest(home, "quotes", [path])
    assert (again.rows_loaded, again.rows_quarantined) == (3, 0)
    undefined = _csv(tmp_path / "cp_quotes.csv", csv_text(base_rows(3)).replace(b"XNAS", b"X\x81", 1))
    report = ingest(home, "quotes", [undefined])  # 0x81 is no character of cp1252
    assert (report.rows_loaded, report.quarantined_by_rule) == (2, {"invalid_utf8": 1})
    assert _quarantine(home, undefined) == [
        (
            1,
            "invalid_utf8",
            "a byte (0x81) that is no cp1252 text",
            ",".join(base_rows(1)[0][:-1]) + ",X\\x81",
        )
    ]
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        ingest(home, "quotes", [path], encoding="klingon")


def test_malformed_lines_are_quarantined_with_their_line(home: KappaHome, tmp_path: Path) -> None:
    lines = csv_text(base_rows(8)).split(b"\n")
    lines[1] = lines[1].replace(b"XNAS", b"XN\rAS")  # row 1: a lone carriage return
    lines[2] = b"AA\x00PL" + lines[2][4:]  # row 2: a NUL byte
    lines[4] += b",extra"  # row 4: a field too many
    lines[6] = b'"' + lines[6]  # row 6: a quote that never closes
    path = _csv(tmp_path / "quotes.csv", b"\n".join(lines))
    report = ingest(home, "quotes", [path])
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (8, 4, 4)
    got = _quarantine(home, path)
    assert [(r[0], r[1], r[2]) for r in got] == [
        (1, "malformed_row", "a carriage return (\\r) inside the line"),
        (2, "malformed_row", "a NUL byte at byte 3"),
        (4, "malformed_row", f"not {len(HEADER)} fields"),
        (6, "malformed_row", "a quote opens and never closes"),
    ]
    assert got[0][3] == lines[1].decode()
    assert got[1][3] == lines[2].decode().replace("\x00", "\\x00")
    assert got[3][3] == lines[6].decode()


def test_quotes_inside_values_spanning_lines_are_one_malformed_row(home: KappaHome, tmp_path: Path) -> None:
    """A quote inside an unquoted value is text to the parser, but Kappa pairs it with the next one to find
    records: the lines between are read as one record, quarantined whole, and the rest of the file loads."""
    lines = csv_text(base_rows(8)).split(b"\n")
    lines[2] = lines[2].replace(b"T15", b'T"15')  # rows 2 and 5: a quote inside the timestamp
    lines[5] = lines[5].replace(b"T15", b'T"15')
    path = _csv(tmp_path / "quotes.csv", b"\n".join(lines))
    report = ingest(home, "quotes", [path])
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (5, 4, 1)
    assert _quarantine(home, path) == [
        (2, "malformed_row", "a quote inside a value: the lines it spans are read as one",
         b"\n".join(lines[2:6]).decode())
    ]  # fmt: skip


@pytest.mark.parametrize(
    "kind", ["zero bytes", "header only", "empty gzip", "empty parquet", "zero-byte parquet"]
)
def test_an_empty_file_loads_no_rows_with_a_warning(home: KappaHome, tmp_path: Path, kind: str) -> None:
    if kind == "zero bytes":
        path = _csv(tmp_path / "quotes.csv", b"")
    elif kind == "header only":
        path = _csv(tmp_path / "quotes.csv", csv_text([]))
    elif kind == "empty gzip":
        path = _csv(tmp_path / "quotes.csv.gz", gzip.compress(b""))
    elif kind == "empty parquet":
        path = tmp_path / "quotes.parquet"
        pq.write_table(pa.table({c: pa.array([], pa.string()) for c in HEADER}), path)
    else:
        path = _csv(tmp_path / "quotes.parquet", b"")
    report = ingest(home, "quotes", [path])
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (0, 0, 0)
    assert report.warnings == [f"quotes {path.name}: no rows (the file is empty or holds only its header)"]
    assert query(home, "SELECT status FROM runs") == [("warning",)]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"symbol\x00,ts\n", "line 1 (the header) cannot be read: it holds a NUL byte"),
        (
            b"symbol,ts\rAAPL,1\r",
            "line 1 (the header) cannot be read: a carriage return (\\r) alone ends lines",
        ),
        ("sÿmbol,ts\n".encode("latin-1"), "line 1 (the header) is not UTF-8 text (byte 2)"),
        (b"\n" + csv_text(base_rows(2)), "line 1: no header (the first line is empty)"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_in_one_line_naming_it(
    home: KappaHome, tmp_path: Path, body: bytes, reason: str
) -> None:
    path = _csv(tmp_path / "quotes.csv", body)
    with pytest.raises(InputError) as info:
        ingest(home, "quotes", [path])
    assert str(info.value).startswith(f"{path}: {reason}") and "\n" not in str(info.value)


def test_a_damaged_parquet_file_is_refused_in_one_line(home: KappaHome, tmp_path: Path) -> None:
    path = tmp_path / "quotes.parquet"
    pq.write_table(pa.table(dict(zip(HEADER, map(list, zip(*base_rows(4), strict=True)), strict=True))), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as info:
        ingest(home, "quotes", [path])
    assert str(info.value).startswith(f"{path}: cannot read as Parquet") and "\n" not in str(info.value)


def test_the_cli_prints_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = _csv(tmp_path / "quotes.csv", "sÿmbol,ts\n".encode("latin-1"))
    res = run_kappa("ingest", "quotes", str(bad), "--home", str(home))
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"error: {bad}: line 1 (the header) is not UTF-8 text (byte 2): declare the file's encoding "
        "(--encoding latin-1) or save it as UTF-8"
    ]
    latin = _csv(tmp_path / "latin_quotes.csv", csv_text(base_rows(3)).replace(b"XNAS", b"X\xe9", 1))
    res = run_kappa("ingest", "quotes", str(latin), "--home", str(home), "--encoding", "latin-1")
    assert res.returncode == 0 and "loaded 3, quarantined 0" in res.stdout, res
    assert query(KappaHome.resolve(home), f"SELECT count(*) FROM quotes WHERE exchange = 'X{chr(0xE9)}'") == [
        (1,)
    ]


def test_the_home_remembers_a_valid_encoding_only(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    home = tmp_path / "home"
    bad = CliRunner().invoke(app, ["config", "encoding", "klingon", "--home", str(home)])
    assert isinstance(bad.exception, InputError) and "unknown encoding 'klingon'" in str(bad.exception)
    good = CliRunner().invoke(app, ["config", "encoding", "Latin-1", "--home", str(home)])
    assert good.exit_code == 0 and "encoding = Latin-1" in good.stdout
    assert KappaHome.resolve(home).config().encoding == "Latin-1"
