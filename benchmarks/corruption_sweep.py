"""The seeded sweep of hostile input files: N corruptions (:mod:`benchmarks.corruption`) of a small valid
quotes file, as CSV (plain or gzipped) and Parquet, loaded five a load through :func:`data.ingest.ingest`
into one home that holds earlier rows, each checked as the property test checks it.

Prints the figures the README gives: corruptions tried, their outcomes (loaded, refused in one line), rows
read, loaded, quarantined (per rule) and skipped, contract breaks (tracebacks: an exception other than a
Kappa error; rows lost: a file whose rows read are not loaded + quarantined + skipped, or tables that do not
hold what the load reports) and the files of any break, kept for a look.

    .venv/bin/python -m benchmarks.corruption_sweep --corruptions 2000 --seed 20
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from benchmarks.corruption import corrupt, load_and_check, prepare_home, seeded_draw
from data.home import KappaHome

FILES_PER_LOAD = 5


def reason(message: str, path: Path) -> str:
    """A refusal's reason without its file, numbers, the parser's own words and the advice, to count
    refusals by kind."""
    text = re.sub(r"\d+", "N", message.removeprefix(f"{path}: "))
    if text.startswith("cannot read as Parquet"):
        return "cannot read as Parquet" + (" (a damaged data page)" if "damaged data page" in text else "")
    for cut in (" (byte", "; ", ": declare", " (expected", ": Compressed", ": Error"):
        text = text.split(cut)[0]
    return text[:100]


def sweep(corruptions: int, seed: int, folder: Path) -> dict[str, object]:
    """Run the sweep in ``folder``; its figures (see the module docstring)."""
    rng = random.Random(seed)
    draw = seeded_draw(rng)
    home = KappaHome.resolve(folder / "home")
    prepare_home(home, folder / "previous")
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    breaks: list[str] = []
    tried = 0
    start = time.perf_counter()
    while tried < corruptions:
        paths: list[Path] = []
        seen: set[bytes] = set()
        for _ in range(min(FILES_PER_LOAD, corruptions - tried)):
            bad = corrupt(draw)
            tried += 1
            kinds.update(bad.kinds)
            if bad.data in seen:
                outcomes["same bytes as another file of the load (not loaded twice)"] += 1
                continue
            seen.add(bad.data)
            paths.append(folder / f"{tried:05d}-{bad.name}")
            paths[-1].write_bytes(bad.data)
        try:
            result = load_and_check(home, paths)
        except AssertionError as exc:
            breaks.append(f"contract: {exc} ({', '.join(p.name for p in paths)})")
            outcomes["contract broken"] += len(paths)
            continue
        except Exception as exc:
            breaks.append(f"traceback: {type(exc).__name__}: {exc} ({', '.join(p.name for p in paths)})")
            breaks.append(traceback.format_exc())
            outcomes["traceback"] += len(paths)
            continue
        for path, o in result.items():
            outcomes[o.kind] += 1
            if o.kind == "refused":
                refusals[reason(o.message, path)] += 1
            rules.update(o.rules)
            rows.update(read=o.rows_read, loaded=o.rows_loaded, quarantined=o.rows_quarantined,
                        skipped=o.rows_skipped)  # fmt: skip
            if o.kind == "loaded":
                path.unlink()
    return {
        "corruptions": tried, "seconds": round(time.perf_counter() - start, 1), "outcomes": dict(outcomes),
        "rows": dict(rows), "rows_lost": rows["read"] - rows["loaded"] - rows["quarantined"] - rows["skipped"],
        "quarantined_by_rule": dict(rules.most_common()),
        "refused_by_reason": dict(refusals.most_common()), "kinds": dict(kinds.most_common()),
        "breaks": breaks,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corruptions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="folder to run in and keep (default: a temporary one)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="kappa-corruption-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        figures = sweep(args.corruptions, args.seed, folder)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    for key, value in figures.items():
        if key != "breaks":
            print(f"{key}: {value}")
    print(f"contract breaks: {len(figures['breaks'])}")  # type: ignore[arg-type]
    for b in figures["breaks"]:  # type: ignore[attr-defined]
        print(b)


if __name__ == "__main__":
    main()
