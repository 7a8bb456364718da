"""Why FIX messages are split by a regular expression: simplefix's parser against Kappa's, per message.

Usage::

    python -m benchmarks.fix_parser --messages 200000

Both parse the same messages of a log from ``benchmarks/vendor/fix.py`` (execution reports, orders, session
messages) into their fields; ``simplefix.FixParser`` walks each byte in Python. Kappa's reader
(:func:`data.formats.fix.parse_line`) also checks BodyLength and CheckSum, which the simplefix timing leaves
out, so the comparison favours simplefix. Messages with a length-prefixed data field still go to simplefix.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    import simplefix

    from benchmarks.vendor.fix import write
    from data.formats.fix import parse_line

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (path,) = write(Path(tmp), args.messages)
        lines = [ln.replace(b"|", b"\x01") for ln in path.read_bytes().splitlines()]
    start = time.perf_counter()
    for line in lines:
        parse_line(line)
    kappa_s = time.perf_counter() - start
    start = time.perf_counter()
    fix = simplefix.FixParser(allow_empty_values=True)
    for line in lines:
        fix.append_buffer(line[line.find(b"8=FIX") :])
        fix.get_message()
    simplefix_s = time.perf_counter() - start
    n = len(lines)
    print("| parser | messages | s | messages/s |")
    print("|---|---:|---:|---:|")
    print(
        f"| data.formats.fix.parse_line (checks BodyLength, CheckSum) | {n:,} | {kappa_s:.2f} | {n / kappa_s:,.0f} |"
    )
    print(f"| simplefix.FixParser | {n:,} | {simplefix_s:.2f} | {n / simplefix_s:,.0f} |")


if __name__ == "__main__":
    main()
