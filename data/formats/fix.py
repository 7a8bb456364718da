"""FIX logs: the desk's own orders and fills from the execution reports of its FIX engine's message log.

A FIX log holds one message a line, in FIX's tag=value encoding (FIX Trading Community, *FIX Protocol
4.2*, *4.4* and *5.0 SP2*: Volume 1 for the encoding, BodyLength and CheckSum; Volume 2 for the session
messages; Volume 4 for orders and execution reports). Fields end with SOH (byte 0x01) or, as many engines
print them, another character such as ``|``: the character after the BeginString value (``8=FIX.4.4|``) is
taken as the delimiter, and turned back into SOH before the message is read. A line may carry a prefix
before ``8=FIX``, such as the time at which the engine logged it and `` : `` (QuickFIX's ``messages.log``);
everything before ``8=FIX`` is ignored, and so is anything after the CheckSum field. The log may be gzipped
(streamed). It is read twice for ``fills`` (a first cheap pass finds the fills that later corrections and
cancels name) and once for ``orders``.

Messages are split into fields on SOH (a regular expression over the line); a message holding a
length-prefixed data field (RawData, XmlData, EncodedText...: simplefix's list), whose value may hold SOH,
is read by ``simplefix.FixParser``. simplefix's parser walks a message byte by byte in Python (about 170 µs
a 250-byte message here, 6,000 messages/s) and gives the same fields as the split on every other message
(the tests check it), so the split (about 13 µs) reads those. An empty value (FIX forbids them) counts as
an absent field.

**Integrity.** A message is intact when its first fields are BeginString (8), BodyLength (9) and MsgType
(35), its last is CheckSum (10), BodyLength is the count of bytes after the BodyLength field up to and
including the delimiter before CheckSum, and CheckSum is the sum of the bytes before it modulo 256,
computed on the SOH form (what was on the wire; a log printed with ``|`` carries the wire's checksum), or
on the form as written (a logger that recomputed it after the replacement). A message that is not intact
is *malformed* (quarantined with its line) in the reads whose rows it could feed (orders: NewOrderSingle,
OrderCancelRequest, OrderCancelReplaceRequest, OrderCancelReject, ExecutionReport; fills:
ExecutionReport): its values are not trusted, and it feeds nothing. Session messages and messages of other
types are skipped whatever their state.

**Orders** (``orders``), one row per order, at the line of its first message:

- an order is a NewOrderSingle (35=D), or for an order whose NewOrderSingle is not in the log, its first
  execution report (35=8). ``order_id`` is the order's first ClOrdID (11), its *root*: a cancel/replace
  chain (OrderCancelReplaceRequest 35=G and OrderCancelRequest 35=F carry OrigClOrdID 41 -> a new ClOrdID
  11, and so do the execution reports of the replaced order) resolves to the root, so an order and all its
  fills have one ``order_id``. An execution report without ClOrdID is matched by its OrderID (37).
- ``symbol`` Symbol (55), with SymbolSfx (65) as ``ROOT.SFX``; ``side`` Side (54): 1 Buy and 3 Buy minus
  -> ``buy``; 2 Sell, 4 Sell plus, 5 Sell short, 6 Sell short exempt -> ``sell``; any other code is kept as
  written and quarantined by validation as ``unknown_side``.
- ``quantity`` OrderQty (38): the latest *accepted* quantity: the order's, then that of each replace the
  broker accepted (an execution report with ExecType 5 Replaced, or D Restated; FIX 4.0, without
  ExecType: OrdStatus 5 Replaced), read from the report's OrderQty or else from the replace request of
  that ClOrdID. A replace rejected (OrderCancelReject 35=9, or ExecType 8) changes nothing. ``limit_price``
  Price (44) when OrdType (40) is 2 Limit, 4 Stop limit or B Limit on close, and ``end_ts`` ExpireTime
  (126), follow the accepted replaces the same way.
- ``arrival_ts`` TransactTime (60) of the NewOrderSingle, else its SendingTime (52); of an order first seen
  in an execution report, that report's (the broker's acknowledgement: later than the desk's decision).
- ``end_ts`` ExpireTime (126) when given; else the TransactTime of the execution report that ended the
  order (OrdStatus 2 Filled, 3 Done for day, 4 Canceled, C Expired, or LeavesQty 151 = 0: some brokers
  send the last fill with OrdStatus 1 and LeavesQty 0, and Filled on a later status report; the first such
  report after the last report of a live order; trade cancels and corrections do not move it); else, with
  ``calendar`` given,
  for a day order (TimeInForce 59 = 0 or absent), the close of the first session of the calendar that
  closes at or after the arrival; else blank (quarantined by validation as ``missing_value``).
- ``broker`` TargetCompID (56) of the NewOrderSingle (the counterparty, as sent); of an order first seen in
  an execution report, that report's SenderCompID (49). ``algo`` TargetStrategy (847): 1 ``VWAP``,
  2 ``Participate``, 3 ``Minimize market impact``, any other value as written. ``trader`` the PartyID (448)
  of the party with PartyRole (452) 11 Order Origination Trader, else SenderSubID (50).
- A NewOrderSingle that lacks ClOrdID, Symbol, Side, OrderQty or both times, or whose number or time does
  not parse, is malformed; its order is then read from its first execution report, if the log has one.
  An order whose last OrdStatus is 8 Rejected never worked: its first line is skipped (``rejected_order``).
  ClOrdIDs are unique within a log (FIX: within a trading day): a second NewOrderSingle with a known
  ClOrdID is skipped (``duplicate_message``) when it is a PossDupFlag/PossResend copy, else it is a second
  row of that ``order_id`` (quarantined by the load as ``duplicate_key``).
- A trade cancel or correct of an order not seen before in the log (a fill of an earlier log) does not
  start an order (it counts as ``order_update``).
- Memory: the orders need later messages (replaces, the terminal status), so their rows are emitted after
  the log is read, in the order of their first lines; what is kept meanwhile is a few values per order (and
  per ClOrdID of a replace: under 1 kB an order), never per message. Malformed and skipped lines are handed
  on as the log is read. The text of an order's line, for the quarantine, is read again at its byte offset.

**Fills** (``fills``), from execution reports:

- a fill (``exec_type`` ``trade``): ExecType (150) F Trade; FIX 4.1/4.2: ExecType 1 Partial fill or 2 Fill
  with ExecTransType (20) 0 New (or absent); FIX 4.0 (no ExecType): ExecTransType 0 with LastShares > 0.
  ``fill_id`` ExecID (17), ``order_id`` the root ClOrdID, ``ts`` TransactTime (60, else SendingTime 52),
  ``price`` LastPx (31), ``quantity`` LastQty (32; LastShares in FIX 4.2), ``venue`` LastMkt (30),
  ``liquidity`` LastLiquidityInd (851): 1 Added -> ``add``, 2 Removed -> ``remove``, else blank.
- ``fee_usd`` from Commission (12) by CommType (13): 1 per unit -> Commission × LastQty; 2 percent ->
  Commission / 100 × LastQty × LastPx; 3 absolute -> Commission. FIX 4.4 Volume 4 (CommissionData in the
  ExecutionReport): on a fill it is the value of that fill. Blank without a Commission, with another
  CommType, or with a CommCurrency (479) other than USD.
- a trade correct (ExecType G; FIX 4.2: ExecTransType 2): ``exec_type`` ``correct``, ``fill_id`` the fill it
  corrects (ExecRefID 19, followed back through earlier corrections to the first fill), with the corrected
  LastPx and LastQty. Its ``ts`` is the corrected fill's (a correction changes the price or size, not when
  the trade happened; the report's own TransactTime is when it was corrected), LastMkt and
  LastLiquidityInd default to the fill's, and so does the commission (Commission, CommType, CommCurrency),
  applied to the corrected price and size, when the report has no Commission. When the fill is not in the
  log (an earlier file), the report's own values stand.
- a trade cancel (ExecType H; FIX 4.2: ExecTransType 1): ``exec_type`` ``cancel``, ``fill_id`` the fill it
  cancels (ExecRefID 19, resolved the same way). Kappa applies a load's fills, then its corrections (the
  last standing), then its cancels (README, "Reloads and corrections").
- A report of a fill that lacks ExecID, LastPx, LastQty, both times, or any ClOrdID or OrderID that leads to
  an order, or whose numbers or times do not parse, is malformed; so is a correct or cancel without
  ExecRefID. A PossDupFlag copy of a fill that is in the log is loaded once (the load's ``duplicate_key``
  keeps the first).
- Memory: a batch holds the fills of ``batch_rows`` lines, typed (the last 65,536 as Python values); the
  text of a fill's line, for the quarantine, is read again at its byte offset. Across batches: the chains,
  and the values of the fills that corrections and cancels name.

**Timestamps** are FIX UTCTimestamps (``YYYYMMDD-HH:MM:SS`` with up to 9 decimals, or 12, cut to 9), UTC.

**Row numbers** are line numbers (1-based; every line counts, a blank one too): ``sed -n "${N}p" LOG``
prints row N, and ``lines`` gives its text (:func:`raw_rows` too, for rows rejected after their batch).
Every line is once in ``frame``, ``malformed`` or ``skipped``. ``malformed`` carries a third column,
``detail``: what is wrong with the message (``CheckSum(10) 124, computed 123``, ``no ExecID(17)``,
``LastPx(31) does not parse``).

Skipped reasons: ``not_fix`` (a line without ``8=FIX``: blank, or the engine's own events),
``session_message`` (Heartbeat 0, TestRequest 1, ResendRequest 2, Reject 3, SequenceReset 4, Logout 5,
Logon A), ``other_message`` (any other message type); for ``orders``, ``order_update`` (a message about an
order after its first: replace and cancel requests and rejects, later execution reports),
``rejected_order`` and ``duplicate_message`` (above), ``continued_order`` (the execution reports of a
cancel/replace chain whose first message is in another log: its first report already carries an OrigClOrdID
this log never saw, so it is no new order; its fills carry that OrigClOrdID: the stored order when it is
the order's first ClOrdID, else none, and the load quarantines them as ``unknown_order`` rather than attach
them to an order made up here); for ``fills``,
``order_message`` (NewOrderSingle,
OrderCancelRequest, OrderCancelReplaceRequest, OrderCancelReject) and ``not_a_fill`` (execution reports of
no trade: new, pending, replaced, canceled, rejected, done for day, expired, restated, status).
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import polars as pl
import simplefix
from simplefix.data import RAW_LEN_TAGS

from data.calendar import all_session_bounds
from data.contract import TableSpec
from data.readers import MALFORMED_SCHEMA, RawBatch
from data.validation import ROW
from kappa.errors import InputError

SOH = b"\x01"
SNIFF_BYTES = 1 << 16
SNIFF_LINES = 20
READ_BYTES = 1 << 20
MAX_LINE_BYTES = 1 << 20
"""A line longer than this is not one message: the log is refused (one message a line is expected)."""

SESSION_TYPES = frozenset((b"0", b"1", b"2", b"3", b"4", b"5", b"A"))
ORDER_TYPES = frozenset((b"D", b"F", b"G", b"9"))
EXECUTION_REPORT = b"8"
TERMINAL_STATUS = frozenset((b"2", b"3", b"4", b"C"))
"""OrdStatus (39) of an order that is over: Filled, Done for day, Canceled, Expired."""
REJECTED = b"8"
SIDES = {b"1": "buy", b"3": "buy", b"2": "sell", b"4": "sell", b"5": "sell", b"6": "sell"}
LIMIT_TYPES = frozenset((b"2", b"4", b"B"))
"""OrdType (40) whose Price (44) is a limit: Limit, Stop limit, Limit on close."""
LIQUIDITY = {b"1": "add", b"2": "remove"}
STRATEGIES = {b"1": "VWAP", b"2": "Participate", b"3": "Minimize market impact"}
ORDER_ORIGINATION_TRADER = b"11"
POSS_DUP = (b"43", b"97")

_BEGIN = re.compile(rb"8=(FIXT?\.[0-9A-Za-z.]+)([^0-9A-Za-z.=])")
_DIGITS = frozenset(b"0123456789")
_NOT_TEXT = re.compile(rb"[^\x01\x20-\x7e]")
"""A byte no field of a message without data fields holds: neither SOH nor printable ASCII."""
_FIELD = re.compile(rb"(?<![^\x01])([0-9]+)=([^\x01]*)\x01")  # only where a field starts
_EXEC_REF = re.compile(rb"(?<![0-9])19=")
_DECIMAL = re.compile(rb"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_UTC_TIMESTAMP = re.compile(rb"[0-9]{8}-[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,12})?")
_DATA_LENGTH_TAGS = frozenset(str(t).encode() for t in RAW_LEN_TAGS)
UTC = pl.Datetime("ns", "UTC")


def sniff(path: Path) -> bool:
    """Whether ``path`` is a FIX log: one of its first non-empty lines holds ``8=FIX`` (any name; a ``.gz``
    name is read through gzip)."""
    try:
        with _open(path) as f:
            head = f.read(SNIFF_BYTES)
    except (OSError, EOFError, zlib.error):
        return False
    lines = [line for line in head.split(b"\n") if line.strip()][:SNIFF_LINES]
    return any(_begin(line) is not None for line in lines)


def tables(path: Path) -> tuple[str, ...]:
    """A FIX log holds the desk's orders and fills."""
    return ("orders", "fills")


def companions(path: Path) -> list[Path]:
    """The log alone."""
    return [path]


def read_batches(
    path: Path, spec: TableSpec, batch_rows: int, calendar: str | None = None
) -> Iterator[RawBatch]:
    """The orders or the fills of a FIX log (see the module docstring), a batch every ``batch_rows`` lines
    (the orders after the log is read).

    Parameters
    ----------
    path
        The log (optionally gzipped).
    spec
        ``orders`` or ``fills``.
    batch_rows
        Lines of the log per batch.
    calendar
        An exchange calendar: a day order that the log does not end gets the close of its session as its
        ``end_ts``. Without it, such an order's ``end_ts`` is blank.
    """
    if spec.name == "fills":
        yield from _fill_batches(path, max(1, batch_rows))
    elif spec.name == "orders":
        yield from _order_batches(path, max(1, batch_rows), calendar)
    else:
        raise InputError(f"a FIX log holds orders and fills, not {spec.name}", path=str(path))


# -- reading lines and messages -------------------------------------------------------------------------


def _open(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset of the line, line without its line break), streamed in blocks."""
    n = 0
    try:
        f = _open(path)
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror or exc}", path=str(path)) from None
    with f:
        carry = b""
        offset = 0
        while True:
            try:
                chunk = f.read(READ_BYTES)
            except (OSError, EOFError, zlib.error) as exc:
                raise InputError(f"cannot read after line {n}: {exc}", path=str(path)) from None
            if not chunk:
                break
            parts = (carry + chunk).split(b"\n")
            carry = parts.pop()
            if len(carry) > MAX_LINE_BYTES:
                raise InputError(
                    f"line {n + len(parts) + 1} is longer than {MAX_LINE_BYTES:,} bytes: "
                    "a FIX log holds one message a line",
                    path=str(path),
                )
            for line in parts:
                n += 1
                yield n, offset, line[:-1] if line.endswith(b"\r") else line
                offset += len(line) + 1
        if carry:
            yield n + 1, offset, carry[:-1] if carry.endswith(b"\r") else carry


def raw_rows(path: Path, rows: np.ndarray | list[int]) -> pl.DataFrame:
    """The lines numbered ``rows`` as they stand in the log (``row_number, raw``), as
    :func:`data.readers.raw_rows` gives them for Kappa's CSV: for the quarantine's ``raw`` of rows rejected
    after their batch was read (duplicate keys, fills against their orders). Numbers the log lacks are left
    out."""
    wanted = set(np.asarray(rows, dtype=np.int64).tolist())
    found: list[tuple[int, str]] = []
    last = max(wanted, default=0)
    if wanted:
        for n, _, line in _lines(path):
            if n in wanted:
                found.append((n, line.decode("utf-8", errors="replace")))
            if n >= last:
                break
    return pl.DataFrame(found, schema=MALFORMED_SCHEMA, orient="row")


def _read_at(path: Path, offsets: np.ndarray) -> list[str]:
    """The text of the lines that start at byte ``offsets`` of the log (read again), in their order."""
    order = np.argsort(offsets, kind="stable")
    texts = [""] * len(offsets)
    with _open(path) as f:
        for i in order:
            f.seek(int(offsets[i]))
            line = f.readline(MAX_LINE_BYTES).rstrip(b"\r\n")
            texts[i] = line.decode("utf-8", errors="replace")
    return texts


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a line: its fields (the first non-empty value of each tag), in order as ``pairs``,
    its wire form (SOH-delimited, from ``8=`` to CheckSum's SOH) and the delimiter the log wrote."""

    fields: dict[bytes, bytes]
    pairs: list[tuple[bytes, bytes]]
    wire: bytes
    delimiter: bytes

    @property
    def type(self) -> bytes | None:
        """MsgType (35)."""
        return self.fields.get(b"35")

    def get(self, tag: bytes) -> bytes | None:
        """The value of ``tag``, ``None`` if absent or empty."""
        return self.fields.get(tag)

    def text(self, tag: bytes) -> str | None:
        """The value of ``tag`` as text."""
        value = self.fields.get(tag)
        return value.decode("utf-8", errors="replace") if value else None

    def flaw(self) -> str | None:
        """Why the message is not intact (header order, BodyLength, CheckSum), ``None`` if it is."""
        pairs = self.pairs
        if len(pairs) < 4 or (pairs[0][0], pairs[1][0], pairs[2][0]) != (b"8", b"9", b"35"):
            return "the first fields are not BeginString(8), BodyLength(9), MsgType(35)"
        tag, declared = pairs[-1]
        if tag != b"10":
            return "the last field is not CheckSum(10)"
        before = len(self.wire) - len(declared) - 4  # the wire ends with 10=xxx and SOH
        length = pairs[1][1]
        body = before - len(pairs[0][1]) - len(length) - 6
        if not (length.isdigit() and int(length) == body):
            return f"BodyLength(9) {length.decode(errors='replace')}, counted {body}"
        total = sum(self.wire[:before])
        soh_form = total % 256
        written = (total + (self.delimiter[0] - 1) * self.wire.count(SOH, 0, before)) % 256
        if not (len(declared) == 3 and declared.isdigit() and int(declared) in (soh_form, written)):
            return f"CheckSum(10) {declared.decode(errors='replace')}, computed {soh_form:03d}"
        return None


def _begin(line: bytes) -> re.Match[bytes] | None:
    """BeginString (``8=FIX.4.4``, ``8=FIXT.1.1``) where a line's message starts, and the delimiter after
    it."""
    start = line.find(b"8=FIX")
    while start >= 0:
        if start == 0 or line[start - 1] not in _DIGITS:
            begin = _BEGIN.match(line, start)
            if begin is not None:
                return begin
        start = line.find(b"8=FIX", start + 1)
    return None


def parse_line(line: bytes) -> Message | str | None:
    """The message a line holds; ``None`` for a line without ``8=FIX``; the reason as text for a line
    whose message cannot be read."""
    begin = _begin(line)
    if begin is None:
        return None
    start, delimiter = begin.start(), begin.group(2)
    wire = line[start:].rstrip(b" \t\r\n")
    if delimiter != SOH:
        wire = wire.replace(delimiter, SOH)
    if not wire.endswith(SOH):
        wire += SOH
    checksum = wire.find(b"\x0110=")
    end = wire.find(SOH, checksum + 1) + 1 if checksum >= 0 else 0
    if end == 0:
        return "no CheckSum(10) field"
    more = wire.count(b"8=FIX", end)
    if more:
        return f"{more + 1} messages on one line: a FIX log holds one message a line"
    pairs: list[tuple[bytes, bytes]] = _FIELD.findall(wire, 0, end)
    fields = dict(reversed(pairs))
    if not _DATA_LENGTH_TAGS.isdisjoint(fields):
        return _parse_with_data(wire, delimiter)
    if len(pairs) != wire.count(SOH, 0, end):  # a field matches only where one starts: each one matched
        return "not tag=value fields"
    if _NOT_TEXT.search(wire, 0, end):  # outside data fields, FIX values are ASCII text
        return "bytes that are not ASCII text (a control character, or not UTF-8/ASCII)"
    if b"=\x01" in wire:  # an empty value (FIX forbids them) counts as absent
        fields = {t: v for t, v in fields.items() if v}
    return Message(fields, pairs, wire[:end], delimiter)


def _parse_with_data(wire: bytes, delimiter: bytes) -> Message | str:
    """A message holding a length-prefixed data field (whose value may hold SOH), read by simplefix."""
    parser = simplefix.FixParser(allow_empty_values=True)
    parser.append_buffer(wire)
    try:
        message = parser.get_message()
    except simplefix.errors.ParsingError as exc:
        return f"not tag=value fields ({type(exc).__name__})"
    except ValueError:
        return "not tag=value fields"
    if message is None:
        return "no CheckSum(10) field"
    pairs = [(bytes(t), bytes(v)) for t, v in message.pairs]
    end = sum(len(t) + len(v) + 2 for t, v in pairs)
    fields = {t: v for t, v in reversed(pairs) if v}
    return Message(fields, pairs, wire[:end], delimiter)


def _is_decimal(value: bytes | None) -> bool:
    return value is not None and _DECIMAL.fullmatch(value) is not None


def _time(message: Message) -> bytes | None:
    """TransactTime (60), else SendingTime (52)."""
    return message.get(b"60") or message.get(b"52")


def _is_timestamp(value: bytes | None) -> bool:
    return value is not None and _UTC_TIMESTAMP.fullmatch(value) is not None


def _utc(column: str) -> pl.Expr:
    """FIX UTCTimestamp text -> ``Datetime('ns', 'UTC')`` (decimals past nanoseconds cut)."""
    return (
        pl.col(column)
        .str.replace(r"(\.[0-9]{9})[0-9]+$", "${1}")
        .str.to_datetime("%Y%m%d-%H:%M:%S%.f", time_unit="ns", time_zone="UTC", strict=False)
    )


@dataclass(slots=True)
class Chains:
    """Which order each ClOrdID belongs to: cancel/replace chains (OrigClOrdID 41 -> ClOrdID 11) resolved to
    the order's first ClOrdID, and OrderIDs (37) to it, for reports without ClOrdID. Only ClOrdIDs that are
    not an order's first are kept, and one OrderID per order."""

    root: dict[bytes, bytes] = field(default_factory=dict)
    by_order_id: dict[bytes, bytes] = field(default_factory=dict)

    def resolve(self, cl_ord_id: bytes) -> bytes:
        return self.root.get(cl_ord_id, cl_ord_id)

    def link(self, message: Message) -> None:
        """Learn a chain link from a message carrying OrigClOrdID and ClOrdID."""
        new, orig = message.get(b"11"), message.get(b"41")
        if new and orig and new != orig and new not in self.root:
            self.root[new] = self.resolve(orig)

    def order_of(self, message: Message) -> bytes | None:
        """The root ClOrdID of an execution report's order (learning its links), ``None`` if unknown."""
        self.link(message)
        cl_ord_id, order_id = message.get(b"11"), message.get(b"37")
        root = self.resolve(cl_ord_id) if cl_ord_id else self.by_order_id.get(order_id or b"")
        if root is not None and order_id is not None and order_id not in self.by_order_id:
            self.by_order_id[order_id] = root
        return root


NO_ORDER = "no ClOrdID(11), and no OrderID(37) of a known order"


def _reason_of_type(msg_type: bytes | None) -> str:
    return "session_message" if msg_type in SESSION_TYPES else "other_message"


MALFORMED = {**MALFORMED_SCHEMA, "detail": pl.String}
"""Malformed lines: ``row_number``, ``raw`` (the line) and ``detail``, what is wrong with its message."""


@dataclass(slots=True)
class _Tally:
    """Lines accounted for since the last batch: malformed (line, text, why) and skipped counts."""

    lines: int = 0
    malformed: list[tuple[int, str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def message(self, row: int, line: bytes) -> Message | str:
        """The line's message, else the reason to give for the line: ``not_fix`` for a line without one,
        ``""`` for a message that cannot be read (recorded as malformed here)."""
        message = parse_line(line)
        if message is None:
            return "not_fix"
        if isinstance(message, str):
            self.bad(row, line, message)
            return ""
        return message

    def bad(self, row: int, line: bytes | str, detail: str) -> None:
        text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
        self.malformed.append((row, text, detail))

    def malformed_frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.malformed, schema=MALFORMED, orient="row").sort(ROW)


def _no_message(path: Path) -> InputError:
    return InputError("no FIX message: no line holds 8=FIX", path=str(path))


# -- fills ---------------------------------------------------------------------------------------------

FILL_TEXT = (
    "fill_id", "order_id", "ts", "price", "quantity", "venue", "commission", "comm_type", "comm_currency",
    "liquidity", "exec_type",
)  # fmt: skip
"""The values read from a fill's report, as text, before they are typed."""


def fill_kind(message: Message) -> str | None:
    """``trade``, ``correct`` or ``cancel`` for an execution report of a fill, its correction or its cancel
    (ExecType 150, ExecTransType 20 of FIX 4.0-4.2); ``None`` for any other report."""
    exec_type, trans_type = message.get(b"150"), message.get(b"20")
    if exec_type == b"F":
        return "trade" if trans_type in (None, b"0") else None
    if exec_type == b"G":
        return "correct"
    if exec_type == b"H":
        return "cancel"
    if exec_type in (None, b"1", b"2"):
        if trans_type == b"1":
            return "cancel"
        if trans_type == b"2":
            return "correct"
        if trans_type in (None, b"0") and exec_type is not None:
            return "trade"
        if trans_type == b"0":  # FIX 4.0: a report of a fill has LastShares
            shares = message.get(b"32")
            return "trade" if _is_decimal(shares) and float(shares or 0) > 0 else None
    return None


def _referenced_fills(path: Path) -> set[bytes]:
    """The ExecIDs that trade corrections and cancels of the log name (ExecRefID 19): a first pass that reads
    only the lines holding tag 19."""
    refs: set[bytes] = set()
    for _, _, line in _lines(path):
        if b"19=" not in line or _EXEC_REF.search(line) is None:
            continue
        message = parse_line(line)
        if (
            isinstance(message, Message)
            and message.type == EXECUTION_REPORT
            and fill_kind(message) in ("correct", "cancel")
            and message.flaw() is None
        ):
            ref = message.get(b"19")
            if ref:
                refs.add(ref)
    return refs


CHUNK_FILLS = 1 << 16
"""Fills held as Python values before they are typed into a frame: the rest of a batch is held typed."""
FILL_TYPES: dict[str, pl.DataType] = {
    "fill_id": pl.String(), "order_id": pl.String(), "ts": UTC, "price": pl.Float64(),
    "quantity": pl.Float64(), "venue": pl.String(), "fee_usd": pl.Float64(), "liquidity": pl.String(),
    "exec_type": pl.String(), ROW: pl.Int64(),
}  # fmt: skip
_OFFSET = "_offset"


@dataclass(slots=True)
class _Fills:
    """The fills of one batch: the last few as Python values (with their lines, for the quarantine of a
    value that does not parse), the others typed in frames with the byte offset of their lines."""

    path: Path
    tally: _Tally
    values: list[tuple[bytes | None, ...]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    texts: list[bytes] = field(default_factory=list)
    frames: list[pl.DataFrame] = field(default_factory=list)

    def add(self, row: int, offset: int, line: bytes, values: tuple[bytes | None, ...]) -> None:
        self.values.append(values)
        self.rows.append(row)
        self.offsets.append(offset)
        self.texts.append(line)
        if len(self.rows) >= CHUNK_FILLS:
            self._type()

    def _type(self) -> None:
        """Type the fills held as Python values; one whose time or number does not parse is malformed."""
        if not self.rows:
            return
        raw = pl.DataFrame(
            [
                pl.Series(c, v, dtype=pl.Binary).cast(pl.String, strict=False)
                for c, v in zip(FILL_TEXT, zip(*self.values, strict=True), strict=True)
            ]
            + [pl.Series(ROW, self.rows, dtype=pl.Int64), pl.Series(_OFFSET, self.offsets, dtype=pl.Int64)]
        )
        parsed = {
            "ts": _utc("ts"),
            **{c: pl.col(c).cast(pl.Float64, strict=False) for c in ("price", "quantity", "commission")},
        }
        typed = raw.with_columns(e.alias(c) for c, e in parsed.items())
        unreadable = [(pl.col(c).is_not_null() & e.is_null(), c) for c, e in parsed.items()]
        why = raw.select(_first_true(unreadable, FILL_TAGS)).to_series()
        bad = why.is_not_null()
        currency, comm_type = pl.col("comm_currency"), pl.col("comm_type")
        fee = (
            pl.when(currency.is_not_null() & (currency != "USD"))
            .then(None)
            .when(comm_type == "1")
            .then(pl.col("commission") * pl.col("quantity"))
            .when(comm_type == "2")
            .then(pl.col("commission") / 100 * pl.col("quantity") * pl.col("price"))
            .when(comm_type == "3")
            .then(pl.col("commission"))
        )
        columns = [fee.alias(c) if c == "fee_usd" else pl.col(c) for c in FILL_TYPES]
        self.frames.append(typed.filter(~bad).select(*columns, _OFFSET))
        for i in np.flatnonzero(bad.to_numpy()):
            self.tally.bad(self.rows[i], self.texts[i], f"{why[int(i)]} does not parse")
        self.values, self.rows, self.offsets, self.texts = [], [], [], []

    def batch(self) -> RawBatch:
        """The batch of these fills and the tally's lines."""
        self._type()
        empty = pl.DataFrame(schema={**FILL_TYPES, _OFFSET: pl.Int64()})
        frame = pl.concat(self.frames) if self.frames else empty
        rows, offsets = frame[ROW].to_numpy(), frame[_OFFSET].to_numpy()
        path = self.path

        def lines(wanted: np.ndarray) -> list[str]:
            return _read_at(path, offsets[np.searchsorted(rows, np.asarray(wanted, dtype=np.int64))])

        tally = self.tally
        return RawBatch(frame.drop(_OFFSET), tally.malformed_frame(), lines, dict(tally.skipped))


def _fill_batches(path: Path, batch_rows: int) -> Iterator[RawBatch]:
    refs = _referenced_fills(path)
    reader = _FillReader(refs)
    tally = _Tally()
    fills = _Fills(path, tally)
    seen = False
    for row, offset, line in _lines(path):
        reason = reader.line(row, offset, line, fills, tally)
        seen = seen or reason != "not_fix"
        if reason:
            tally.skipped[reason] += 1
        tally.lines += 1
        if tally.lines >= batch_rows:
            yield fills.batch()
            tally = _Tally()
            fills = _Fills(path, tally)
    if not seen:
        raise _no_message(path)
    if tally.lines:
        yield fills.batch()


def _first_true(conditions: list[tuple[pl.Expr, str]], names: dict[str, str]) -> pl.Expr:
    """The name (``names[column]``) of the first column whose condition holds, null where none does."""
    out: Any = pl.when(conditions[0][0]).then(pl.lit(names[conditions[0][1]]))
    for condition, column in conditions[1:]:
        out = out.when(condition).then(pl.lit(names[column]))
    return out.otherwise(pl.lit(None, dtype=pl.String))


FILL_TAGS = {"ts": "TransactTime(60)", "price": "LastPx(31)", "quantity": "LastQty(32)",
             "commission": "Commission(12)"}  # fmt: skip
ORDER_TAGS = {"arrival_ts": "TransactTime(60)", "end_ts": "ExpireTime(126)", "quantity": "OrderQty(38)",
              "limit_price": "Price(44)"}  # fmt: skip

_TS, _PRICE, _QUANTITY, _VENUE, _COMMISSION, _LIQUIDITY = 2, 3, 4, 5, slice(6, 9), 9
"""Where a fill's values stand in :data:`FILL_TEXT` (the commission: Commission, CommType, CommCurrency)."""
_LIQUIDITY_TEXT = {k: v.encode() for k, v in LIQUIDITY.items()}
_KIND_TEXT = {k: k.encode() for k in ("trade", "correct", "cancel")}


@dataclass(slots=True)
class _FillReader:
    """The state the fills of a log need across lines: the order chains, and of the fills that corrections
    and cancels name (``refs``), their values (carried into a correction that leaves them out), and the
    fill each correction corrects."""

    refs: set[bytes]
    chains: Chains = field(default_factory=Chains)
    originals: dict[bytes, tuple[bytes | None, ...]] = field(default_factory=dict)
    corrected: dict[bytes, bytes] = field(default_factory=dict)

    def line(self, row: int, offset: int, line: bytes, fills: _Fills, tally: _Tally) -> str | None:
        """Read one line into ``fills`` or ``tally``: the skipped reason, ``""`` for a malformed line
        (recorded in ``tally``), ``None`` for a fill."""
        message = tally.message(row, line)
        if isinstance(message, str):
            return message
        msg_type = message.type
        if msg_type in ORDER_TYPES:
            if msg_type in (b"F", b"G") and message.flaw() is None:
                self.chains.link(message)
            return "order_message"
        if msg_type != EXECUTION_REPORT:
            return _reason_of_type(msg_type)
        flaw = message.flaw()
        if flaw is not None:
            tally.bad(row, line, flaw)
            return ""
        order = self.chains.order_of(message)
        kind = fill_kind(message)
        if kind is None:
            return "not_a_fill"
        values = self._values(message, kind, order)
        if isinstance(values, str):
            tally.bad(row, line, values)
            return ""
        fills.add(row, offset, line, values)
        return None

    def _values(self, message: Message, kind: str, order: bytes | None) -> tuple[bytes | None, ...] | str:
        """The fill's values (:data:`FILL_TEXT`), or which field it lacks."""
        get = message.fields.get
        exec_id = get(b"17")
        fill_id = exec_id
        values: list[bytes | None] = [
            None, order, get(b"60") or get(b"52"), get(b"31"), get(b"32"), get(b"30"), get(b"12"), get(b"13"),
            get(b"479"), _LIQUIDITY_TEXT.get(get(b"851") or b""), _KIND_TEXT[kind],
        ]  # fmt: skip
        if kind != "trade":
            ref = get(b"19")
            if ref is None:
                return "no ExecRefID(19)"
            fill_id = self.corrected.get(ref, ref)
            original = self.originals.get(ref)
            if kind == "correct" and original is not None:
                values[_TS] = original[_TS]
                values[_VENUE] = values[_VENUE] or original[_VENUE]
                values[_LIQUIDITY] = values[_LIQUIDITY] or original[_LIQUIDITY]
                if values[_COMMISSION][0] is None:  # the fill's commission, on the corrected price and size
                    values[_COMMISSION] = original[_COMMISSION]
        if order is None:
            return NO_ORDER
        if fill_id is None:
            return "no ExecID(17)"
        values[0] = fill_id
        done = tuple(values)
        if kind != "cancel":
            if values[_TS] is None:
                return "no TransactTime(60) or SendingTime(52)"
            if values[_PRICE] is None or values[_QUANTITY] is None:
                return "no LastPx(31) or LastQty(32)"
            if exec_id is not None and exec_id in self.refs:
                self.originals[exec_id] = done
                if kind == "correct":
                    self.corrected[exec_id] = fill_id
        return done


# -- orders --------------------------------------------------------------------------------------------

ORDER_SCHEMA = {
    "order_id": pl.String,
    "symbol": pl.String,
    "side": pl.String,
    "quantity": pl.String,
    "arrival_ts": pl.String,
    "end_ts": pl.String,
    "limit_price": pl.String,
    "broker": pl.String,
    "algo": pl.String,
    "trader": pl.String,
    "day_order": pl.Boolean,
    ROW: pl.Int64,
    _OFFSET: pl.Int64,
}


@dataclass(frozen=True, slots=True)
class Terms:
    """Terms of an order that a replace may change: OrderQty (38), OrdType (40), Price (44), TimeInForce (59)
    and ExpireTime (126), as written (``None`` where absent)."""

    quantity: bytes | None
    order_type: bytes | None
    price: bytes | None
    time_in_force: bytes | None
    expire: bytes | None

    @classmethod
    def of(cls, message: Message) -> Terms:
        get = message.get
        return cls(get(b"38"), get(b"40"), get(b"44"), get(b"59"), get(b"126"))

    @property
    def limit_price(self) -> bytes | None:
        """Price, when OrdType makes it a limit."""
        return self.price if self.order_type in LIMIT_TYPES else None

    def flaw(self) -> str | None:
        """Which of its numbers or times is not a FIX decimal or UTCTimestamp, ``None`` if they all are."""
        if self.quantity is not None and not _is_decimal(self.quantity):
            return "OrderQty(38) does not parse"
        if self.price is not None and not _is_decimal(self.price):
            return "Price(44) does not parse"
        if self.expire is not None and not _is_timestamp(self.expire):
            return "ExpireTime(126) does not parse"
        return None

    def replaced_by(self, new: Terms) -> Terms:
        """These terms after a replace to ``new``: each term ``new`` gives, the others kept; ExpireTime
        dropped when the replace changes TimeInForce without giving one."""
        time_in_force = new.time_in_force or self.time_in_force
        kept_expire = self.expire if time_in_force == self.time_in_force else None
        return Terms(
            new.quantity or self.quantity,
            new.order_type or self.order_type,
            new.price or self.price,
            time_in_force,
            new.expire or kept_expire,
        )


@dataclass(slots=True)
class Order:
    """What the log says of one order: the line of its first message, its first values, its accepted terms,
    and when it ended (see the module docstring)."""

    row: int
    offset: int
    order_id: bytes
    symbol: str
    side: str
    arrival: bytes
    terms: Terms
    broker: bytes | None
    algo: str | None
    trader: bytes | None
    ended: bytes | None = None
    rejected: bool = False

    def values(self, calendar_end: bool) -> dict[str, object]:
        terms = self.terms
        end = terms.expire or self.ended
        return {
            "order_id": self.order_id.decode("utf-8", errors="replace"),
            "symbol": self.symbol,
            "side": self.side,
            "quantity": _decoded(terms.quantity),
            "arrival_ts": _decoded(self.arrival),
            "end_ts": _decoded(end),
            "limit_price": _decoded(terms.limit_price),
            "broker": _decoded(self.broker),
            "algo": self.algo,
            "trader": _decoded(self.trader),
            "day_order": calendar_end and end is None and terms.time_in_force in (None, b"0"),
            ROW: self.row,
            _OFFSET: self.offset,
        }


def _decoded(value: bytes | None) -> str | None:
    return value.decode("utf-8", errors="replace") if value is not None else None


def _symbol(message: Message) -> str | None:
    symbol, suffix = message.text(b"55"), message.text(b"65")
    return f"{symbol}.{suffix}" if symbol and suffix else symbol


def _trader(message: Message) -> bytes | None:
    """PartyID (448) of the Parties entry whose PartyRole (452) is Order Origination Trader, else
    SenderSubID (50)."""
    party: bytes | None = None
    for tag, value in message.pairs:
        if tag == b"448":
            party = value
        elif tag == b"452" and value == ORDER_ORIGINATION_TRADER and party:
            return party
    return message.get(b"50")


def _new_order(row: int, offset: int, root: bytes, message: Message, broker_tag: bytes) -> Order | str:
    """An order from its first message (a NewOrderSingle, or an execution report), or why it cannot be one:
    a value the order needs is missing or does not parse."""
    symbol, side, arrival, terms = _symbol(message), message.get(b"54"), _time(message), Terms.of(message)
    if symbol is None or side is None or terms.quantity is None or arrival is None:
        needed = (("Symbol(55)", symbol), ("Side(54)", side), ("OrderQty(38)", terms.quantity),
                  ("TransactTime(60) or SendingTime(52)", arrival))  # fmt: skip
        return "no " + ", ".join(name for name, value in needed if value is None)
    flaw = terms.flaw() or (None if _is_timestamp(arrival) else "TransactTime(60) does not parse")
    if flaw is not None:
        return flaw
    strategy = message.get(b"847")
    return Order(
        row=row,
        offset=offset,
        order_id=root,
        symbol=symbol,
        side=SIDES.get(side) or side.decode("utf-8", errors="replace"),
        arrival=arrival,
        terms=terms,
        broker=message.get(broker_tag),
        algo=STRATEGIES.get(strategy) or strategy.decode("utf-8", errors="replace") if strategy else None,
        trader=_trader(message),
    )


@dataclass(slots=True)
class _OrderBook:
    """The orders of the log as it is read, the replace requests awaiting the broker's answer, and the
    chains."""

    orders: dict[bytes, Order] = field(default_factory=dict)
    repeats: list[Order] = field(default_factory=list)
    requested: dict[bytes, Terms] = field(default_factory=dict)
    chains: Chains = field(default_factory=Chains)

    def line(self, row: int, offset: int, line: bytes, tally: _Tally) -> str | None:
        """Read one line: the skipped reason, ``""`` for a malformed line (recorded in ``tally``), ``None``
        for an order's first line."""
        message = tally.message(row, line)
        if isinstance(message, str):
            return message
        msg_type = message.type
        if msg_type not in ORDER_TYPES and msg_type != EXECUTION_REPORT:
            return _reason_of_type(msg_type)
        flaw = message.flaw()
        if flaw is not None:
            tally.bad(row, line, flaw)
            return ""
        if msg_type == b"D":
            return self._new_order_single(row, offset, line, message, tally)
        if msg_type == EXECUTION_REPORT:
            return self._report(row, offset, line, message, tally)
        if msg_type == b"9":
            if message.get(b"434") == b"2":  # CxlRejResponseTo: the replace was rejected
                self.requested.pop(message.get(b"11") or b"", None)
            return "order_update"
        if message.get(b"11") is None or message.get(b"41") is None:
            tally.bad(row, line, "no ClOrdID(11) or OrigClOrdID(41)")
            return ""
        self.chains.link(message)
        if msg_type == b"G":
            terms = Terms.of(message)
            flaw = terms.flaw()
            if flaw is not None:
                tally.bad(row, line, flaw)
                return ""
            self.requested[message.get(b"11") or b""] = terms
        return "order_update"

    def _new_order_single(
        self, row: int, offset: int, line: bytes, message: Message, tally: _Tally
    ) -> str | None:
        cl_ord_id = message.get(b"11")
        order = _new_order(row, offset, cl_ord_id, message, b"56") if cl_ord_id else "no ClOrdID(11)"
        if isinstance(order, str) or cl_ord_id is None:
            tally.bad(row, line, str(order))
            return ""
        if cl_ord_id in self.orders or cl_ord_id in self.chains.root:
            if any(message.get(t) == b"Y" for t in POSS_DUP):
                return "duplicate_message"
            self.repeats.append(order)
            return None
        self.orders[cl_ord_id] = order
        return None

    def _report(self, row: int, offset: int, line: bytes, message: Message, tally: _Tally) -> str | None:
        root = self.chains.order_of(message)
        if root is None:
            tally.bad(row, line, NO_ORDER)
            return ""
        order = self.orders.get(root)
        first = order is None
        kind = fill_kind(message)
        if order is None:
            if kind in ("correct", "cancel"):  # of a fill of an earlier log: not where the order starts
                return "order_update"
            if message.get(b"41") is not None:  # a chain whose start is in another log: not a new order
                return "continued_order"
            new = _new_order(row, offset, root, message, b"49")
            if isinstance(new, str):
                tally.bad(row, line, new)
                return ""
            self.orders[root] = order = new
        exec_type, status = message.get(b"150"), message.get(b"39")
        cl_ord_id = message.get(b"11") or b""
        if exec_type in (b"5", b"D") or (exec_type is None and status == b"5"):  # Replaced, Restated
            reported = Terms.of(message)
            flaw = reported.flaw()
            if flaw is not None:
                tally.bad(row, line, flaw)
                return ""
            requested = self.requested.pop(cl_ord_id, None)
            accepted = requested.replaced_by(reported) if requested is not None else reported
            order.terms = order.terms.replaced_by(accepted)
        elif exec_type == b"8":
            self.requested.pop(cl_ord_id, None)
        if kind not in ("correct", "cancel") and status is not None:
            leaves = message.get(b"151")
            done = status in TERMINAL_STATUS or (
                status != REJECTED and _is_decimal(leaves) and float(leaves or 1) == 0
            )
            if not done:
                order.ended = None
            elif order.ended is None:
                order.ended = _time(message)
            order.rejected = status == REJECTED
        return None if first else "order_update"

    def frames(self, calendar: str | None, batch_rows: int) -> Iterator[tuple[pl.DataFrame, int]]:
        """The orders' rows (text columns, in line order) in frames of ``batch_rows``, each with the count
        of rejected orders it leaves out."""
        every = sorted([*self.orders.values(), *self.repeats], key=lambda o: o.row)
        for start in range(0, max(len(every), 1), batch_rows):
            part = every[start : start + batch_rows]
            kept = [o.values(calendar is not None) for o in part if not o.rejected]
            yield pl.DataFrame(kept, schema=ORDER_SCHEMA, orient="row"), len(part) - len(kept)


def _with_session_close(frame: pl.DataFrame, calendar: str) -> pl.DataFrame:
    """``frame`` with each day order's blank ``end_ts`` set to the close of the first session of
    ``calendar`` that closes at or after its arrival."""
    closes = all_session_bounds(calendar)["close_ts"].cast(pl.Int64).to_numpy()
    arrival = frame["arrival_ts"].dt.replace_time_zone(None).cast(pl.Int64).fill_null(0).to_numpy()
    at = np.searchsorted(closes, arrival, side="left")
    found = at < closes.size
    close = pl.Series("_close", np.where(found, closes[np.minimum(at, closes.size - 1)], 0), dtype=pl.Int64)
    use = pl.col("day_order") & pl.col("end_ts").is_null() & pl.col("arrival_ts").is_not_null()
    return (
        frame.with_columns(
            close.cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"), pl.Series("_found", found)
        )
        .with_columns(
            pl.when(use & pl.col("_found")).then(pl.col("_close")).otherwise(pl.col("end_ts")).alias("end_ts")
        )
        .drop("_close", "_found")
    )


def _order_batches(path: Path, batch_rows: int, calendar: str | None) -> Iterator[RawBatch]:
    book, tally = _OrderBook(), _Tally()
    seen = False
    for row, offset, line in _lines(path):
        reason = book.line(row, offset, line, tally)
        seen = seen or reason != "not_fix"
        if reason:
            tally.skipped[reason] += 1
        tally.lines += 1
        if tally.lines >= batch_rows and (tally.malformed or tally.skipped):
            yield RawBatch(_empty_orders(), tally.malformed_frame(), None, dict(tally.skipped))
            tally = _Tally()
    if not seen:
        raise _no_message(path)
    for raw, rejected in book.frames(calendar, batch_rows):
        if rejected:
            tally.skipped["rejected_order"] += rejected
        quantity = pl.col("quantity").cast(pl.Float64, strict=False)
        limit = pl.col("limit_price").cast(pl.Float64, strict=False)
        typed = raw.with_columns(
            _utc("arrival_ts").alias("arrival_ts"), _utc("end_ts").alias("end_ts"),
            quantity.alias("quantity"), limit.alias("limit_price"),
        )  # fmt: skip
        parsed = {"arrival_ts": _utc("arrival_ts"), "end_ts": _utc("end_ts"), "quantity": quantity,
                  "limit_price": limit}  # fmt: skip
        unreadable = [(pl.col(c).is_not_null() & e.is_null(), c) for c, e in parsed.items()]
        why = raw.select(_first_true(unreadable, ORDER_TAGS)).to_series()
        bad = why.is_not_null()
        if calendar is not None:
            typed = _with_session_close(typed, calendar)
        if bad.any():  # a date the timestamp's pattern admits but the calendar has not (30 February)
            wrong = typed.filter(bad)
            texts = _read_at(path, wrong[_OFFSET].to_numpy())
            for row, text, field_name in zip(wrong[ROW].to_list(), texts, why.filter(bad), strict=True):
                tally.bad(row, text, f"{field_name} does not parse")
        frame = typed.filter(~bad).drop("day_order")
        yield RawBatch(
            frame.drop(_OFFSET), tally.malformed_frame(), _reader(path, frame), dict(tally.skipped)
        )
        tally = _Tally()


def _reader(path: Path, frame: pl.DataFrame) -> Callable[[np.ndarray], list[str]]:
    """``lines`` of a batch of ``frame``'s rows: their lines read again, at their byte offsets."""
    rows, offsets = frame[ROW].to_numpy(), frame[_OFFSET].to_numpy()

    def lines(wanted: np.ndarray) -> list[str]:
        return _read_at(path, offsets[np.searchsorted(rows, np.asarray(wanted, dtype=np.int64))])

    return lines


def _empty_orders() -> pl.DataFrame:
    """No orders (the batches handed on while the log is read), typed as the orders' frames are."""
    typed: dict[str, pl.DataType] = {"quantity": pl.Float64(), "limit_price": pl.Float64()}
    typed |= {"arrival_ts": UTC, "end_ts": UTC}
    return pl.DataFrame(
        schema={c: typed.get(c, t) for c, t in ORDER_SCHEMA.items() if c not in ("day_order", _OFFSET)}
    )
