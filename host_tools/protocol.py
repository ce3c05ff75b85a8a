"""Host side of the device protocol: one serial line in, a Message or a Raw marker out.

Device lines are JSON objects with "v" (protocol version), "kind", "seq" and "t" (device ticks
in ms, wrapping at 2**30); firmware/splitguard/report.py writes them and docs/protocol.md is the
contract. Anything else on the wire — boot ROM text, the MicroPython banner, a traceback, a line
cut in half by a reset — is Raw: kept, shown, logged, never an exception. `parse_line` never
raises, whatever the bytes.

SeqTracker watches sequence numbers: a jump forward is a Gap (lines lost), a step back is a
Reboot (the board's counter restarted).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

PROTOCOL_VERSION = 1
KINDS = ("hello", "sample", "event", "fault", "reply", "state")
TICKS_PERIOD = 1 << 30
_TICKS_HALF = TICKS_PERIOD >> 1
# Longer than any line the board writes (a sample is ~250 bytes, an event with its reason ~400);
# a "line" this long is noise without newlines and is cut into raw pieces instead of growing.
MAX_LINE_BYTES = 16384

# Fields the host reads from a kind, and the JSON types each may have. A known field of the
# wrong type makes the whole line Raw: code downstream formats these without further checks.
_NUM = (int, float, type(None))
_STR = (str, type(None))
_FIELDS = {
    "sample": {
        "coil": _NUM,
        "amb": _NUM,
        "amps": _NUM,
        "unit": _STR,
        "mode": _STR,
        "sup": _STR,
        "cut": (bool, type(None)),
        "cycles": (int, type(None)),
        "faults": (dict, type(None)),
    },
    "event": {"event": (str,), "reason": _STR},
    "hello": {"fw": _STR, "board": _STR, "config": (str, int, type(None)), "reset": _STR},
    "fault": {"where": _STR, "error": _STR},
}


@dataclass(frozen=True)
class Message:
    """A valid protocol line. `data` is the whole object as the device sent it."""

    kind: str
    seq: int
    t: int
    data: dict = field(compare=False)

    def get(self, key, default=None):
        return self.data.get(key, default)


@dataclass(frozen=True)
class Raw:
    """A line that is not a protocol line; `why` says what was wrong, for diagnostics."""

    text: str
    why: str = "not JSON"


def decode(line: bytes | str) -> str:
    """Bytes → str without losing anything: undecodable bytes survive as surrogate escapes."""
    if isinstance(line, str):
        return line
    return bytes(line).decode("utf-8", "surrogateescape")


def printable(text: str) -> str:
    """`text` safe for a terminal: bad bytes become U+FFFD, control characters \\xNN escapes."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch == "\t":
            out.append("    ")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append("\\x%02x" % ord(ch) if ord(ch) < 256 else "\\u%04x" % ord(ch))
    return "".join(out)


def _reject_constant(name):
    # JSON has no NaN or Infinity; Python's parser accepts them unless told not to.
    raise ValueError("non-JSON constant %s" % name)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def parse_line(line: bytes | str) -> Message | Raw:
    """One line (with or without its \\r\\n) → Message, or Raw for anything else. Never raises."""
    try:
        text = decode(line).rstrip("\r\n")
        return _parse(text)
    except Exception as exc:  # noqa: BLE001 - the contract is "never raises", whatever the input
        try:
            return Raw(decode(line), "unparseable: %s" % type(exc).__name__)
        except Exception:  # noqa: BLE001
            return Raw(repr(line), "undecodable")


def _parse(text: str) -> Message | Raw:
    body = text.strip()
    if not body.startswith("{") or not body.endswith("}"):
        return Raw(text)
    try:
        obj = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return Raw(text)
    if not isinstance(obj, dict):
        return Raw(text)
    v = obj.get("v")
    if not _is_int(v):
        return Raw(text, "JSON without a protocol version")
    if v != PROTOCOL_VERSION:
        return Raw(text, "protocol version %d (this host reads %d)" % (v, PROTOCOL_VERSION))
    kind, seq, t = obj.get("kind"), obj.get("seq"), obj.get("t")
    if kind not in KINDS:
        return Raw(text, "unknown kind %r" % (kind,))
    if not _is_int(seq) or seq < 0:
        return Raw(text, "bad seq %r" % (seq,))
    if not _is_int(t) or not 0 <= t < TICKS_PERIOD:
        return Raw(text, "bad device time %r" % (t,))
    for name, types in _FIELDS.get(kind, {}).items():
        value = obj.get(name)
        if not isinstance(value, types) or (isinstance(value, float) and not math.isfinite(value)):
            return Raw(text, "%s field %r has the wrong type" % (kind, name))
        if name in ("coil", "amb", "amps") and isinstance(value, bool):
            return Raw(text, "%s field %r has the wrong type" % (kind, name))
    if kind == "event" and not obj.get("event"):
        return Raw(text, "event without a name")
    if kind == "sample":
        faults = obj.get("faults") or {}
        for k, cause in faults.items():
            if not isinstance(cause, str):
                return Raw(text, "fault cause for %r is not a string" % k)
    return Message(kind, seq, t, obj)


def ticks_diff(end: int, start: int) -> int:
    """Signed ms from `start` to `end` on the device's 2**30 tick counter."""
    d = (end - start) % TICKS_PERIOD
    return d - TICKS_PERIOD if d >= _TICKS_HALF else d


@dataclass(frozen=True)
class Gap:
    """Lines lost: `missing` sequence numbers from `first` to `last` never arrived."""

    first: int
    last: int

    @property
    def missing(self) -> int:
        return self.last - self.first + 1

    def describe(self) -> str:
        if self.missing == 1:
            return "1 line missing (seq %d)" % self.first
        return "%d lines missing (seq %d..%d)" % (self.missing, self.first, self.last)


@dataclass(frozen=True)
class Reboot:
    """The board restarted: its sequence numbers began again (or it said hello)."""

    reason: str

    def describe(self) -> str:
        return "board restarted: %s" % self.reason


class SeqTracker:
    """Feeds on Messages in arrival order; returns the Gaps and Reboots each one reveals."""

    def __init__(self):
        self.expected: int | None = None
        self.lines = 0
        self.gaps = 0
        self.missing = 0
        self.reboots = 0
        # Until the first non-fault line after a (re)start the board may renumber once: boot
        # faults go out through their own reporter before the application's hello (seq 0 again).
        self._booting = True

    def feed(self, msg: Message) -> list[Gap | Reboot]:
        self.lines += 1
        found: list[Gap | Reboot] = []
        expected = self.expected
        if expected is not None and msg.seq < expected:
            if not (self._booting and msg.kind == "hello" and msg.seq == 0):
                found.append(Reboot(self._why(msg)))
                self.reboots += 1
            self._booting = True
        elif expected is not None and msg.seq > expected:
            gap = Gap(expected, msg.seq - 1)
            self.gaps += 1
            self.missing += gap.missing
            found.append(gap)
        elif msg.kind == "hello" and expected is not None:
            # A hello that continues the numbering is still a restart of the application.
            found.append(Reboot(self._why(msg)))
            self.reboots += 1
        if msg.kind != "fault":
            self._booting = False
        self.expected = msg.seq + 1
        return found

    @staticmethod
    def _why(msg: Message) -> str:
        if msg.kind == "hello":
            return "hello, reset cause %s" % (msg.get("reset") or "unknown")
        return "sequence restarted at %d" % msg.seq


class LineSplitter:
    """Bytes as they come off the wire → complete lines (without the newline), in order."""

    def __init__(self, max_bytes: int = MAX_LINE_BYTES):
        self.max_bytes = max_bytes
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        buf += data
        out = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = bytes(buf[start:nl])
            out.append(line[:-1] if line.endswith(b"\r") else line)
            start = nl + 1
        del buf[:start]
        while len(buf) >= self.max_bytes:
            out.append(bytes(buf[: self.max_bytes]))
            del buf[: self.max_bytes]
        return out

    def pending(self) -> bytes:
        return bytes(self._buf)

    def take_partial(self) -> bytes:
        """The bytes of an unfinished line (e.g. at an unplug), leaving the splitter empty."""
        rest = bytes(self._buf).rstrip(b"\r")
        self._buf.clear()
        return rest
