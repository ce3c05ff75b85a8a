"""`splitguard log`: every line from the board into JSON-lines files, nothing dropped.

Each device object is written as it came, plus "host_t" (epoch seconds when the host received
it). Everything else becomes a host line, told apart by having no "v":
  {"host_t", "kind": "raw", "text", ["partial": true]}   boot ROM text, banners, cut lines
  {"host_t", "kind": "gap", "first", "last", "missing"}   sequence numbers that never arrived
  {"host_t", "kind": "reboot", "reason"}                 the board restarted
  {"host_t", "kind": "link", "text", "connected"}        port opened, lost, reopened
Every line is flushed as it is written (a crash of the host program loses nothing already
received); files are fsynced when they rotate and at exit.

`splitguard log export LOG... -o trace.csv` turns logs into the trace CSV that replay reads.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator

from host_tools import serial_link
from host_tools.errors import CliError
from host_tools.protocol import Gap, Message, Raw, Reboot, SeqTracker, parse_line, ticks_diff
from host_tools.serial_link import Line, Status
from host_tools.trace import TRACE_COLUMNS

TRACE_HEADER = TRACE_COLUMNS  # the trace CSV contract (docs/trace-format.md)
_DUMPS = json.JSONEncoder(separators=(",", ":")).encode
# Device ticks are unambiguous only within half their 2**30 ms period; beyond that between two
# samples (the logger was off for days) the host clock is the better judge of elapsed time.
_TICKS_TRUST_S = (1 << 29) / 1000.0 * 0.9


def parse_rotate(text: str) -> float | None:
    """ "daily" → None; "SIZE_MB" (e.g. "10", "0.5") → bytes."""
    if text == "daily":
        return None
    try:
        mb = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "--rotate wants 'daily' or a size in MB, not %r" % text
        ) from None
    if not mb > 0:
        raise argparse.ArgumentTypeError("--rotate size must be more than 0 MB")
    return mb * 1e6


class LogWriter:
    """JSON-lines files in `directory`, rotated daily (local date) or at `max_bytes`."""

    def __init__(self, directory: str, max_bytes: float | None = None):
        self.directory = directory
        self.max_bytes = max_bytes
        self.path: str | None = None
        self.paths: list[str] = []
        self._f = None
        self._day = None
        self._size = 0
        os.makedirs(directory, exist_ok=True)

    def write(self, obj: dict) -> str | None:
        """Write one object as one line; returns the new file's path when it rotated."""
        line = (_DUMPS(obj) + "\n").encode("utf-8", "surrogateescape")
        host_t = obj["host_t"]
        rotated = None
        day = time.localtime(host_t)[:3]
        if self._f is None:
            rotated = self._open(host_t)
        elif self._due(day, len(line)):
            self._close()
            rotated = self._open(host_t)
        self._f.write(line)
        self._f.flush()
        self._size += len(line)
        return rotated

    def _due(self, day: tuple, size: int) -> bool:
        if self.max_bytes is None:
            return day != self._day
        return self._size + size > self.max_bytes

    def _open(self, host_t: float) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(host_t))
        n = 0
        while True:
            name = "splitguard-%s%s.jsonl" % (stamp, "" if n == 0 else "-%d" % n)
            path = os.path.join(self.directory, name)
            try:
                self._f = open(path, "xb")  # noqa: SIM115 - kept open across writes; "x": never overwrite
                break
            except FileExistsError:
                n += 1
        self.path = path
        self.paths.append(path)
        self._day = time.localtime(host_t)[:3]
        self._size = 0
        return path

    def _close(self) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            self._f = None

    def close(self) -> None:
        self._close()


class Logger:
    """Turns Connection items into log lines and reports trouble as it happens."""

    def __init__(self, writer: LogWriter, report: Callable[[str], None]):
        self.writer = writer
        self.report = report
        self.seq = SeqTracker()
        self.raw = 0
        self.written = 0

    def handle(self, item: Line | Status | None) -> None:
        if item is None:
            return
        if isinstance(item, Status):
            self._write(
                {
                    "host_t": item.host_t,
                    "kind": "link",
                    "text": item.text,
                    "connected": item.connected,
                }
            )
            self.report(item.text)
            return
        parsed = parse_line(item.data)
        if isinstance(parsed, Raw) or item.partial:
            rec = {"host_t": item.host_t, "kind": "raw", "text": parsed_text(item.data)}
            if item.partial:
                rec["partial"] = True
            self.raw += 1
            self._write(rec)
            return
        for found in self.seq.feed(parsed):
            if isinstance(found, Gap):
                rec = {"host_t": item.host_t, "kind": "gap", "first": found.first}
                rec.update(last=found.last, missing=found.missing)
            else:
                rec = {"host_t": item.host_t, "kind": "reboot", "reason": found.reason}
            self._write(rec)
            self.report(found.describe())
        rec = {"host_t": item.host_t}
        rec.update(parsed.data)
        self._write(rec)

    def _write(self, rec: dict) -> None:
        rotated = self.writer.write(rec)
        self.written += 1
        if rotated:
            self.report("logging to %s" % rotated)

    def summary(self) -> str:
        s = self.seq
        return (
            "%d lines written (%d from the board, %d raw); %d gaps, %d lines missing; %d reboots"
            % (
                self.written,
                s.lines,
                self.raw,
                s.gaps,
                s.missing,
                s.reboots,
            )
        )


def parsed_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def log_to(
    connection: serial_link.Connection,
    logger: Logger,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Run until `stop` says so, the source ends, or Ctrl-C; the half line in flight is kept."""
    try:
        for item in connection.items(stop):
            logger.handle(item)
    finally:
        logger.handle(connection.take_partial())
        logger.writer.close()


# --- export to the trace CSV -------------------------------------------------------------------


def read_log(paths: Iterable[str]) -> Iterator[dict]:
    """Objects from JSON-lines logs (files, or folders of them in name order); bad lines skipped."""
    for path in expand_paths(paths):
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            for text in f:
                try:
                    obj = json.loads(text)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    yield obj


def expand_paths(paths: Iterable[str]) -> list[str]:
    out = []
    for p in paths:
        if os.path.isdir(p):
            out += sorted(
                os.path.join(p, n) for n in os.listdir(p) if n.endswith((".jsonl", ".json"))
            )
        elif os.path.exists(p):
            out.append(p)
        else:
            raise CliError("%s: no such file or folder" % p)
    return out


def device_messages(objs: Iterable[dict]) -> Iterator[tuple[float | None, Message]]:
    """(host_t, Message) for every valid device line in a log; host lines are skipped."""
    for obj in objs:
        if "v" not in obj:
            continue
        host_t = obj.get("host_t")
        parsed = parse_line(_DUMPS({k: v for k, v in obj.items() if k != "host_t"}))
        if isinstance(parsed, Message):
            yield (host_t if isinstance(host_t, (int, float)) else None), parsed


def trace_rows(messages: Iterable[tuple[float | None, Message]]) -> Iterator[list[str]]:
    """Trace CSV rows (without the header) from device messages in arrival order.

    t_s runs on across reboots and tick wraps: within one boot it follows the device clock;
    across a reboot it advances by the host's receive-time difference.
    """
    seq = SeqTracker()
    prev_t = prev_host = None
    t_s = 0.0
    rebooted = False
    for host_t, msg in messages:
        for found in seq.feed(msg):
            if isinstance(found, Reboot):
                rebooted = True
        if msg.kind != "sample":
            continue
        if prev_t is not None:
            host_dt = None
            if host_t is not None and prev_host is not None:
                host_dt = max(0.0, host_t - prev_host)
            dev_dt = ticks_diff(msg.t, prev_t) / 1000.0
            if rebooted or dev_dt < 0 or (host_dt is not None and host_dt > _TICKS_TRUST_S):
                dt = host_dt if host_dt is not None else 0.0
            else:
                dt = dev_dt
            t_s += dt
        faults = msg.get("faults") or {}
        yield [
            "%.3f" % t_s,
            _cell(msg.get("coil")),
            _cell(msg.get("amb")),
            _cell(msg.get("amps")),
            faults.get("coil", ""),
            faults.get("ambient", ""),
            faults.get("ct", ""),
            "1" if msg.get("cut") else "0",
            "1" if rebooted else "0",
        ]
        rebooted = False
        prev_t, prev_host = msg.t, host_t


def _cell(x) -> str:
    return "" if x is None else repr(x)


def export(paths: Iterable[str], out_path: str) -> int:
    """Write the trace CSV; returns the number of sample rows."""
    n = 0
    with open(out_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(TRACE_HEADER)
        for row in trace_rows(device_messages(read_log(paths))):
            w.writerow(row)
            n += 1
    return n


# --- command line ------------------------------------------------------------------------------


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", default="auto", help="serial port, file:PATH, or auto (default)")
    parser.add_argument("-o", "--out", metavar="DIR", help="folder for the log files")
    parser.add_argument(
        "--rotate",
        default="daily",
        type=parse_rotate,
        metavar="daily|SIZE_MB",
        help="start a new file each day (default) or at this size in MB",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    ex = sub.add_parser("export", help="turn logs into the trace CSV that replay reads")
    ex.add_argument("logs", nargs="+", metavar="LOG", help="log files or folders of them")
    ex.add_argument("-o", "--out", dest="csv", required=True, metavar="CSV")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) == "export":
        n = export(args.logs, args.csv)
        print("%s: %d samples" % (args.csv, n))
        return 0
    if not args.out:
        raise CliError("log: say where the files go: -o DIR")

    def report(text: str) -> None:
        print("splitguard log: %s" % text, file=sys.stderr, flush=True)

    logger = Logger(LogWriter(args.out, args.rotate), report)
    connection = serial_link.Connection(serial_link.opener(args.port))
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a log session ends
        log_to(connection, logger)
    report(logger.summary())
    return 0
