"""`splitguard monitor`: what the board sees and does, live, for the installer standing at it.

On a terminal the screen is redrawn in place (plain ANSI, no curses): temperatures, current,
unit and supervisor state with time in state, power cycles, the last events with their reasons,
a banner during lockout, and the last raw lines. Piped or redirected, it prints one readable
line per sample, event and raw line instead. Raw lines (boot ROM, the MicroPython banner,
tracebacks) are shown marked `raw│`, never fatal. Unplug and board resets are survived: the
connection reopens by itself and the view says so. Ctrl-C exits cleanly with status 0.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from splitguard import states

from host_tools import serial_link
from host_tools.protocol import Message, Raw, Reboot, SeqTracker, parse_line, printable
from host_tools.serial_link import Line, Status

RAW_MARK = "raw│ "
EVENTS_SHOWN = 8
RAWS_SHOWN = 4
# Redraw at least this often when nothing arrives, so "time in state" and "last sample … ago"
# keep counting and a silent board is visible as such.
REFRESH_S = 1.0

_CSI = "\x1b["
_BOLD, _DIM, _RESET = _CSI + "1m", _CSI + "2m", _CSI + "0m"
_BANNER = _CSI + "1;97;41m"
_WARN = _CSI + "1;33m"


def duration(seconds: float) -> str:
    """Human time span: "42 s", "4 min 12 s", "2 h 03 min", "3 d 04 h"."""
    s = int(max(0.0, seconds))
    if s < 60:
        return "%d s" % s
    if s < 3600:
        return "%d min %02d s" % (s // 60, s % 60)
    if s < 86400:
        return "%d h %02d min" % (s // 3600, s % 3600 // 60)
    return "%d d %02d h" % (s // 86400, s % 86400 // 3600)


def _temp(value, cause) -> str:
    if value is None:
        return "--.- °C (%s)" % cause if cause else "--.- °C"
    return "%5.1f °C" % value


def _amps(value, cause) -> str:
    if value is None:
        return "-.-- A (%s)" % cause if cause else "-.-- A"
    return "%5.2f A" % value


def _clock(host_t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(host_t))


class View:
    """Everything the monitor shows, updated item by item; rendering is separate and pure."""

    def __init__(self):
        self.link_text = "starting"
        self.connected = False
        self.hello: Message | None = None
        self.sample: Message | None = None
        self.sample_host_t: float | None = None
        self.unit_since: float | None = None
        self.sup_since: float | None = None
        self.since_known = False  # False: states were already on when the monitor started
        self.lockout_reason: str | None = None
        self.events: deque = deque(maxlen=EVENTS_SHOWN)
        self.raws: deque = deque(maxlen=RAWS_SHOWN)
        self.notes: deque = deque(maxlen=3)  # link and sequence news
        self.seq = SeqTracker()
        self.raw_count = 0

    def feed(self, item: Line | Status) -> list[str]:
        """Take one item; return the plain-output lines it deserves."""
        if isinstance(item, Status):
            self.link_text = item.text
            self.connected = item.connected
            self.notes.append((item.host_t, item.text))
            return ["%s link   %s" % (_clock(item.host_t), item.text)]
        t = item.host_t
        parsed = parse_line(item.data)
        if isinstance(parsed, Raw) or item.partial:
            text = printable(parsed.text if isinstance(parsed, Raw) else parsed_text(item.data))
            if not text.strip():
                return []  # boot ROM blank lines: the log keeps them, the screen need not
            if item.partial:
                text += "  (cut off before its end of line)"
            self.raws.append((t, text))
            self.raw_count += 1
            return ["%s %s%s" % (_clock(t), RAW_MARK, text)]
        out = []
        for found in self.seq.feed(parsed):
            self.notes.append((t, found.describe()))
            out.append("%s note   %s" % (_clock(t), found.describe()))
            if isinstance(found, Reboot):
                self.lockout_reason = None if self.sample is None else self.lockout_reason
        out += self._message(t, parsed)
        return out

    def _message(self, t: float, m: Message) -> list[str]:
        kind = m.kind
        if kind == "sample":
            prev = self.sample
            if prev is None:
                self.unit_since = self.sup_since = t
            else:
                if prev.get("unit") != m.get("unit") or prev.get("mode") != m.get("mode"):
                    self.unit_since = t
                    self.since_known = True
                if prev.get("sup") != m.get("sup"):
                    self.sup_since = t
            self.sample, self.sample_host_t = m, t
            if m.get("sup") != states.LOCKOUT:
                self.lockout_reason = None
            return ["%s sample %s" % (_clock(t), self.sample_text(m))]
        if kind == "event":
            name = m.get("event")
            reason = printable(m.get("reason") or "")
            self.events.append((t, name, reason))
            if name == states.EV_LOCKOUT:
                self.lockout_reason = reason
            return ["%s EVENT  %s: %s" % (_clock(t), name, reason)]
        if kind == "hello":
            self.hello = m
            return ["%s hello  %s" % (_clock(t), self.hello_text(m))]
        if kind == "fault":
            text = "%s: %s" % (m.get("where"), printable(str(m.get("error"))))
            self.events.append((t, "FAULT", text))
            return ["%s FAULT  %s" % (_clock(t), text)]
        body = {k: v for k, v in m.data.items() if k not in ("v", "kind", "seq", "t")}
        return ["%s %-6s %s" % (_clock(t), kind, printable(str(body)))]

    @staticmethod
    def hello_text(m: Message) -> str:
        return "firmware %s, board %s, config %s, reset: %s" % (
            m.get("fw"),
            m.get("board"),
            m.get("config"),
            m.get("reset"),
        )

    @staticmethod
    def sample_text(m: Message) -> str:
        f = m.get("faults") or {}
        unit = m.get("unit") or "?"
        if unit == states.RUNNING and m.get("mode"):
            unit += "/" + m.get("mode")
        text = "coil %s  ambient %s  %s  unit %s  supervisor %s  power %s  cycles %s" % (
            _temp(m.get("coil"), f.get("coil")).strip(),
            _temp(m.get("amb"), f.get("ambient")).strip(),
            _amps(m.get("amps"), f.get("ct")).strip(),
            unit,
            m.get("sup") or "?",
            "CUT" if m.get("cut") else "on",
            m.get("cycles"),
        )
        return printable(text)

    def screen(self, now: float, port: str = "") -> list[str]:
        """The full-screen view as lines with ANSI attributes, newest information first."""
        lines = []
        state = "connected" if self.connected else "NOT CONNECTED"
        lines.append(_BOLD + "splitguard monitor" + _RESET + "  %s  (%s)" % (port, state))
        if not self.connected:
            lines.append(_WARN + "  " + printable(self.link_text) + _RESET)
        if self.hello is not None:
            lines.append("  " + printable(self.hello_text(self.hello)))
        lines.append("")
        m = self.sample
        if m is not None and m.get("sup") == states.LOCKOUT:
            lines.append(
                _BANNER + " LOCKOUT: splitguard has stopped power-cycling the unit. " + _RESET
            )
            if self.lockout_reason:
                lines.append(_BANNER + " " + self.lockout_reason + " " + _RESET)
            lines.append(
                "  Call a technician. Clear with the button (hold) or the clear_lockout command."
            )
            lines.append("")
        if m is None:
            lines.append("  waiting for the first sample...")
        else:
            f = m.get("faults") or {}
            ge = "" if self.since_known else "≥ "
            unit = m.get("unit") or "?"
            if m.get("mode") and unit == states.RUNNING:
                unit += " (%s)" % m.get("mode")
            lines.append(
                "  outdoor coil %s      unit        %-18s for %s%s"
                % (_temp(m.get("coil"), f.get("coil")), unit, ge, duration(now - self.unit_since))
            )
            lines.append(
                "  ambient      %s      supervisor  %-18s for %s%s"
                % (
                    _temp(m.get("amb"), f.get("ambient")),
                    m.get("sup") or "?",
                    ge,
                    duration(now - self.sup_since),
                )
            )
            power = "CUT by splitguard" if m.get("cut") else "on"
            lines.append(
                "  current      %s       unit power  %-18s power cycles in 24 h: %s"
                % (_amps(m.get("amps"), f.get("ct")), power, m.get("cycles"))
            )
            if f:
                faults = ", ".join("%s %s" % (k, v) for k, v in sorted(f.items()))
                lines.append(_WARN + "  sensor faults: " + printable(faults) + _RESET)
            age = now - (self.sample_host_t or now)
            s = self.seq
            lines.append(
                _DIM + "  last sample %s ago · seq %d · %d lines · %d gaps (%d missing) · %d raw · "
                "%d restarts"
                % (duration(age), m.seq, s.lines, s.gaps, s.missing, self.raw_count, s.reboots)
                + _RESET
            )
        lines.append("")
        lines.append(_BOLD + "Last events" + _RESET)
        if not self.events:
            lines.append("  none yet")
        for t, name, reason in reversed(self.events):
            lines.append("  %s  %-20s %s" % (_clock(t), name, reason))
        if self.notes:
            lines.append("")
            for t, text in reversed(self.notes):
                lines.append(_DIM + "  %s  %s" % (_clock(t), printable(text)) + _RESET)
        if self.raws:
            lines.append("")
            for t, text in self.raws:
                lines.append(_DIM + "  %s  %s%s" % (_clock(t), RAW_MARK, text) + _RESET)
        return lines


def parsed_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _fit(line: str, width: int) -> str:
    """Cut a line with ANSI attributes to `width` visible characters (no wrapping on screen)."""
    out, seen, i = [], 0, 0
    while i < len(line):
        if line.startswith(_CSI, i):
            j = i + 2
            while j < len(line) and not line[j].isalpha():
                j += 1
            out.append(line[i : j + 1])
            i = j + 1
            continue
        if seen < width:
            out.append(line[i])
            seen += 1
        i += 1
    return "".join(out)


class Monitor:
    """Drives a View from a Connection and writes to `out` (screen when `tty`, else lines)."""

    def __init__(
        self,
        connection: serial_link.Connection,
        out: TextIO,
        tty: bool,
        port: str = "",
        width: Callable[[], int] = lambda: shutil.get_terminal_size().columns,
    ):
        self.connection = connection
        self.out = out
        self.tty = tty
        self.port = port
        self.width = width
        self.view = View()
        self.latencies: list[float] = []  # s from a line's arrival to its output, when measured
        self.measure = False
        self._dirty: list[float] = []  # arrival times of lines not drawn yet
        self._stale = False
        self._drawn = 0.0

    def run(self, stop: Callable[[], bool] = lambda: False) -> None:
        if self.tty:
            self.out.write(_CSI + "?25l" + _CSI + "H" + _CSI + "2J")
        try:
            for item in self.connection.items(stop):
                self.step(item)
        finally:
            partial = self.connection.take_partial()
            if partial is not None:
                self.step(partial)
            if self.tty:
                self.draw()
                self.out.write(_CSI + "?25h")
            self.out.flush()

    def step(self, item: Line | Status | None) -> None:
        if item is not None:
            lines = self.view.feed(item)
            if not self.tty:
                self.out.write("".join(line + "\n" for line in lines))
                self.out.flush()
                self._measured(item)
                return
            self._stale = True
            if isinstance(item, Line):
                self._dirty.append(item.mono)
            return
        # None: the connection has nothing more pending right now.
        if self.tty and (self._stale or time.perf_counter() - self._drawn >= REFRESH_S):
            self.draw()

    def _measured(self, item) -> None:
        if self.measure and isinstance(item, Line):
            self.latencies.append(time.perf_counter() - item.mono)

    def draw(self) -> None:
        width = max(20, self.width())
        lines = self.view.screen(time.time(), self.port)
        text = _CSI + "H" + "".join(_fit(ln, width) + _CSI + "K\n" for ln in lines) + _CSI + "J"
        self.out.write(text)
        self.out.flush()
        done = time.perf_counter()
        if self.measure:
            self.latencies.extend(done - t for t in self._dirty)
        self._dirty.clear()
        self._stale = False
        self._drawn = done


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", default="auto", help="serial port, file:PATH, or auto (default)")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="one line per sample/event even on a terminal (default when piped)",
    )


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    tty = out.isatty() and not args.plain
    connection = serial_link.Connection(serial_link.opener(args.port))
    mon = Monitor(connection, out, tty, port=args.port)
    try:
        mon.run()
    except KeyboardInterrupt:
        if tty:
            out.write(_CSI + "?25h\n")
        out.flush()
        print("splitguard monitor: stopped", file=sys.stderr)
    return 0
