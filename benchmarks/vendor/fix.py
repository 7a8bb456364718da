"""A desk's FIX 4.4 message log, as its engine writes it, for the FIX reader's throughput benchmark.

One session (the desk ``DESK`` sending orders to its broker ``BRKR``) over consecutive weekdays from
2026-11-16: each day a Logon each way, Heartbeats every 30 s each way, and orders in New York's regular
session: NewOrderSingle, the broker's New, fills (ExecType F) spread over the order's life with LastMkt,
LastLiquidityInd and a commission (per share, percent or absolute), some replaced (OrderCancelReplaceRequest,
Pending replace, Replaced), some cancelled (OrderCancelRequest, Pending cancel, Canceled), a few fills
corrected (ExecType G) or busted (ExecType H); a Logout each way at the end of the day. Messages are written
in time order, one a line, SOH-delimited, each line prefixed by its log time and `` : `` as QuickFIX's
``messages.log`` does. Written as generated: memory stays small whatever the number of rows.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
FIRST_DAY = dt.date(2026, 11, 16)
ORDERS_PER_DAY = 6_000
HEARTBEAT_S = 30
SOH = "\x01"
# symbol, suffix, price (USD/share)
UNIVERSE = (
    ("AAPL", None, 190.0), ("MSFT", None, 410.0), ("AMZN", None, 180.0), ("GOOG", None, 170.0),
    ("NVDA", None, 490.0), ("JPM", None, 200.0), ("XOM", None, 110.0), ("BRK", "B", 410.0),
    ("KO", None, 60.0), ("TSLA", None, 240.0), ("PFE", None, 28.0), ("F", None, 12.0),
    ("INTC", None, 35.0), ("BAC", None, 37.0), ("WMT", None, 165.0), ("DIS", None, 95.0),
)  # fmt: skip
VENUES = ("XNAS", "XNYS", "ARCX", "BATS", "EDGX", "IEXG", "XBOS", "MEMX")
STRATEGIES = ("1", "2", "3", "1001")


@lru_cache(maxsize=64)
def _date(days: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=days)).strftime("%Y%m%d-")


def _stamp(ns: int) -> str:
    """A FIX UTCTimestamp to the millisecond."""
    ms, _ = divmod(ns, 1_000_000)
    s, ms = divmod(ms, 1000)
    days, s = divmod(s, 86_400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{_date(days)}{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _encode(msg_type: str, fields: list[tuple[int, object]], route: str, seq: int, stamp: str) -> str:
    """A FIX 4.4 message with its BodyLength and CheckSum (FIX 4.4 Volume 1)."""
    body = f"35={msg_type}{SOH}{route}34={seq}{SOH}52={stamp}{SOH}" + "".join(
        [f"{tag}={value}{SOH}" for tag, value in fields]
    )
    text = f"8=FIX.4.4{SOH}9={len(body)}{SOH}{body}"
    return f"{text}10={sum(text.encode()) % 256:03d}{SOH}"


_Event = tuple[int, int, bool, str, list[tuple[int, object]]]
"""A message to write: its time (UTC ns), its order among messages of one time, whether the broker sent it,
its MsgType and its body's fields."""


@dataclass(slots=True)
class _Day:
    """The events of one order, drawn at its arrival."""

    rng: random.Random
    open_ns: int
    close_ns: int

    def order(self, n: int, arrival: int) -> Iterator[tuple[int, bool, str, list[tuple[int, object]]]]:
        rng = self.rng
        symbol, suffix, price = UNIVERSE[rng.randrange(len(UNIVERSE))]
        sym: list[tuple[int, object]] = [(55, symbol), *([(65, suffix)] if suffix else [])]
        side = rng.choice((1, 2, 2, 5))
        quantity = rng.choice((500, 1_000, 2_000, 5_000, 10_000, 20_000))
        limit = round(price * (1 + (0.002 if side == 1 else -0.002)), 2)
        cl = f"D{n:09d}"
        order_id = f"B{n:09d}"
        life = min(int(rng.uniform(5, 120) * 60e9), self.close_ns - arrival)
        terms: list[tuple[int, object]] = [(54, side), (38, quantity), (40, 2), (44, f"{limit:.2f}"), (59, 0)]
        strategy = rng.choice(STRATEGIES)
        yield (
            arrival,
            False,
            "D",
            [(11, cl), *sym, *terms, (60, _stamp(arrival)), (847, strategy), (50, "PM1")],
        )
        exec_n = 0

        def report(ns: int, exec_type: str, status: str, extra: list[tuple[int, object]]) -> tuple:
            nonlocal exec_n
            exec_n += 1
            fields = [(37, order_id), (11, cl), (17, f"{order_id}-{exec_n}"), (150, exec_type), (39, status),
                      *sym, *terms, *extra, (60, _stamp(ns))]  # fmt: skip
            return ns, True, "8", fields

        t = arrival + rng.randrange(2_000_000, 20_000_000)
        yield report(t, "0", "0", [(151, quantity), (14, 0), (6, 0)])
        replace_at = t + int(life * rng.uniform(0.2, 0.6)) if rng.random() < 0.1 else None
        cancel_at = t + int(life * rng.uniform(0.3, 0.9)) if rng.random() < 0.15 else None
        filled, notional = 0, 0.0
        px = price
        comm_type = rng.choices(("1", "2", "3"), (7, 1, 2))[0]
        fills: list[tuple[str, int, float, int]] = []
        while filled < quantity:
            t += rng.randrange(1, max(2, life // 20))
            if replace_at is not None and t >= replace_at:
                new_cl = f"{cl}R"
                quantity += rng.choice((500, 1_000, 2_000))
                terms = [(54, side), (38, quantity), (40, 2), (44, f"{limit:.2f}"), (59, 0)]
                yield t, False, "G", [(11, new_cl), (41, cl), *sym, *terms, (60, _stamp(t))]
                yield report(t + 3_000_000, "E", "E", [(151, quantity - filled), (14, filled), (6, 0)])
                cl_old, cl = cl, new_cl
                yield report(t + 6_000_000, "5", "1" if filled else "0",
                             [(41, cl_old), (151, quantity - filled), (14, filled), (6, 0)])  # fmt: skip
                t += 6_000_000
                replace_at = None
            if cancel_at is not None and t >= cancel_at:
                cancel_cl = f"{cl}C"
                yield t, False, "F", [(11, cancel_cl), (41, cl), *sym, (54, side), (38, quantity),
                                      (60, _stamp(t))]  # fmt: skip
                orig, cl = cl, cancel_cl
                yield report(
                    t + 2_000_000, "6", "6", [(41, orig), (151, quantity - filled), (14, filled), (6, 0)]
                )
                yield report(t + 4_000_000, "4", "4", [(41, orig), (151, 0), (14, filled), (6, 0)])
                break
            if t >= self.close_ns:
                yield report(self.close_ns, "3", "3", [(151, 0), (14, filled), (6, 0)])
                break
            last = min(quantity - filled, rng.choice((100, 100, 100, 200, 300, 500, 1_000)))
            px = round(max(0.01, px + rng.choice((-0.01, 0.0, 0.01))), 2)
            filled += last
            notional += last * px
            venue = rng.choice(VENUES)
            commission: list[tuple[int, object]] = {
                "1": [(12, "0.0020"), (13, 1)],
                "2": [(12, "0.01"), (13, 2)],
                "3": [(12, f"{0.002 * last:.2f}"), (13, 3)],
            }[comm_type]
            status = "2" if filled >= quantity else "1"
            ns, _, _, fields = report(t, "F", status, [(32, last), (31, f"{px:.2f}"), (30, venue),
                                      (851, rng.choice((1, 2))), *commission, (151, quantity - filled),
                                      (14, filled), (6, f"{notional / filled:.4f}")])  # fmt: skip
            fills.append((str(fields[2][1]), last, px, len(fills)))
            yield ns, True, "8", fields
        for exec_id, last, fill_px, _ in fills:
            draw = rng.random()
            if draw < 0.005:
                t += rng.randrange(1_000_000_000, 60_000_000_000)
                yield report(t, "H", "1", [(19, exec_id), (32, last), (31, f"{fill_px:.2f}"), (151, 0),
                                           (14, 0), (6, 0)])  # fmt: skip
            elif draw < 0.01:
                t += rng.randrange(1_000_000_000, 60_000_000_000)
                yield report(t, "G", "2", [(19, exec_id), (32, last), (31, f"{fill_px + 0.01:.2f}"), (151, 0),
                                           (14, 0), (6, 0)])  # fmt: skip


def _session(day: dt.date) -> tuple[int, int]:
    """The regular session of ``day`` (09:30-16:00 New York) in UTC ns."""

    def at(h: int, m: int) -> int:
        local = dt.datetime.combine(day, dt.time(h, m), NEW_YORK)
        return int(local.timestamp()) * 1_000_000_000

    return at(9, 30), at(16, 0)


def _days() -> Iterator[dt.date]:
    day = FIRST_DAY
    while True:
        if day.weekday() < 5:
            yield day
        day += dt.timedelta(days=1)


def _messages(seed: int) -> Iterator[str]:
    """The log's lines, in time order, without end."""
    rng = random.Random(seed)
    seq = {False: 0, True: 0}
    n = 0
    for day in _days():
        open_ns, close_ns = _session(day)
        start, end = open_ns - 600_000_000_000, close_ns + 600_000_000_000
        pending: list[_Event] = []
        count = 0

        def push(
            ns: int,
            incoming: bool,
            msg_type: str,
            fields: list[tuple[int, object]],
            pending: list[_Event] = pending,
        ) -> None:
            nonlocal count
            count += 1
            heapq.heappush(pending, (ns, count, incoming, msg_type, fields))

        push(start, False, "A", [(98, 0), (108, HEARTBEAT_S)])
        push(start + 50_000_000, True, "A", [(98, 0), (108, HEARTBEAT_S)])
        for beat in range(start + HEARTBEAT_S * 1_000_000_000, end, HEARTBEAT_S * 1_000_000_000):
            push(beat, False, "0", [])
            push(beat + 7_000_000, True, "0", [])
        push(end, False, "5", [])
        push(end + 50_000_000, True, "5", [])
        gap = (close_ns - open_ns) // ORDERS_PER_DAY
        sim = _Day(rng, open_ns, close_ns)
        arrival = open_ns
        while arrival < close_ns - 60_000_000_000:
            while pending and pending[0][0] <= arrival:
                yield _line(heapq.heappop(pending), seq)
            n += 1
            for ns, incoming, msg_type, fields in sim.order(n, arrival):
                push(ns, incoming, msg_type, fields)
            arrival += int(rng.expovariate(1.0) * gap) + 1
        while pending:
            yield _line(heapq.heappop(pending), seq)


def _line(event: _Event, seq: dict[bool, int]) -> str:
    ns, _, incoming, msg_type, fields = event
    seq[incoming] += 1
    stamp = _stamp(ns)
    route = f"49=BRKR{SOH}56=DESK{SOH}" if incoming else f"49=DESK{SOH}56=BRKR{SOH}"
    return f"{stamp} : {_encode(msg_type, fields, route, seq[incoming], stamp)}\n"


def write(folder: Path, rows: int, seed: int = 0) -> list[Path]:
    """Write a FIX log of ``rows`` messages (lines) into ``folder``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "FIX.4.4-DESK-BRKR.messages.log"
    with path.open("w", encoding="ascii", newline="") as f:
        for i, line in enumerate(_messages(seed)):
            if i >= rows:
                break
            f.write(line)
    return [path]
