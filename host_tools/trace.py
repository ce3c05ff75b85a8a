"""Read a trace: a CSV of samples or a device log (JSON lines), one sample at a time.

docs/trace-format.md is the contract. `open_trace(path)` decides the format by content and
returns a Trace; iterating `trace.samples()` yields one tuple per sample (fields below) without
ever holding the file in memory. Problems raise TraceError naming the file, line and column.
`trace.blocks()` is the same stream for replay's hot loop: a large CSV is parsed in a forked
child and its plain rows arrive packed, many to a bytes block (see PLAIN).

A sample tuple is `(line, t_ms, tick, coil_c, ambient_c, amps, coil_fault, ambient_fault,
ct_fault, boot, check, actions)`:

- `t_ms`: replay time in integer ms, never decreasing (the CSV's `t_s`; for a device log, ms
  since its first sample, across reboots);
- `tick`: the device's own `ticks_ms` for this sample (device logs), else None;
- faulted values are NaN and their `*_fault` names the cause (`MISSING` when the trace only
  says the value is absent);
- `boot`: True on the first sample after a device reboot;
- `check`: what the trace says the device decided, `(unit_state, supervisor_state, power_cut)`
  with None for anything it does not say, or None;
- `actions`: None, or a tuple of `(tick, name, source)` person actions (device logs:
  `clear_lockout`, `request_power_cycle`) to apply before this sample.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import pickle
import signal
import struct
import sys
from collections.abc import Iterator

from splitguard.clock import ticks_diff

__all__ = ["MISSING", "PLAIN", "REQUIRED", "Trace", "TraceError", "open_trace"]

REQUIRED = ("t_s", "coil_c", "ambient_c", "amps")
OPTIONAL = ("coil_fault", "ambient_fault", "ct_fault", "relay", "reboot")
# What the logger's export and the simulator write: every column replay reads, in this order.
TRACE_COLUMNS = REQUIRED + OPTIONAL
# The cause given to a sensor whose value the trace leaves empty (or `nan`) without naming one.
MISSING = "missing"

NAN = math.nan
# A finite sensor value lies far inside this; anything outside (inf, 1e300) is not a reading.
_LIMIT = 1e6
_T_LIMIT = 1e12  # s; ms stay exact in a float far beyond any log
_CUT = object()
# Device ticks measure a gap unambiguously only below half their 2**30 ms period; a longer gap
# between two samples of one boot (the logger was off for days) is taken from the host clock.
_TICKS_TRUST_MS = (1 << 29) * 9 // 10  # _csv_row: the file ends inside this line
_CUT_ON = (None, None, True)
_CUT_OFF = (None, None, False)
_FLAG = {"": False, "0": False, "1": True}
# `blocks()`: a plain CSV sample (no fault, reboot or relay check) as (line, t_ms, coil, amb,
# amps).
PLAIN = struct.Struct("=qqddd")
# A CSV larger than this is parsed in a forked child, on the second core: below it the fork
# costs more than it saves.
PARALLEL_BYTES = 200_000
# Records per message: 40 kB, less than any pipe holds, so the child is never left waiting
# halfway through a message (with bigger ones, the two processes took turns on one core).
_BLOCK = 1024


class TraceError(ValueError):
    """The trace cannot be replayed; the message names the file and where."""


class Trace:
    """One trace file. `samples()` streams it; afterwards `cut` says whether it ended mid-line."""

    def __init__(self, path: str, kind: str):
        self.path = path
        self.kind = kind  # "csv" or "jsonl"
        self.columns: tuple[str, ...] = ()
        self.lines = 0  # lines read so far
        self.cut: str | None = None  # "line N: ..." when the file ends inside a line
        self.boot_tick: int | None = None  # device log: tick of the hello before this boot
        self.raw_lines = 0
        self.ignored: dict[str, int] = {}

    def samples(self) -> Iterator[tuple]:
        """Every sample in file order (a generator; constant memory)."""
        with open(self.path, "rb") as fb:
            fb.seek(0, 2)
            if fb.tell():
                fb.seek(-1, 2)
            ends_with_newline = fb.read(1) in (b"\n", b"\r")
        with open(self.path, encoding="utf-8", errors="replace", newline=None) as f:
            if self.kind == "csv":
                yield from self._csv(f, ends_with_newline)
            else:
                yield from self._jsonl(f)

    def blocks(self, parallel: bool | None = None) -> Iterator:
        """`samples()` in runs: plain CSV samples packed as PLAIN records in bytes blocks,
        any other as its sample tuple. A large CSV (or `parallel=True`) is parsed by a forked
        child while the caller works on the previous blocks; errors surface here as they
        would from `samples()`, after every sample before them."""
        if parallel is None:
            parallel = self.kind == "csv" and _size(self.path) > PARALLEL_BYTES
        if not (parallel and self.kind == "csv" and hasattr(os, "fork")):
            return self.samples()
        return self._forked()

    def _forked(self) -> Iterator:
        r, w = os.pipe()
        _grow_pipe(w)
        # The child inherits unwritten buffers; flushed now, they cannot be written twice.
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child: coverage does not follow it)
            code = 1
            try:
                os.close(r)
                self._feed(w)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        done = False
        try:
            with os.fdopen(r, "rb", 1 << 16) as f:
                load = pickle.load
                while True:
                    try:
                        msg = load(f)
                    except EOFError:
                        raise RuntimeError(
                            "%s: the trace reader process ended unexpectedly" % self.path
                        ) from None
                    if msg.__class__ is list:
                        yield from msg
                        continue
                    done = True
                    if msg[0] == "error":
                        raise msg[1] from None
                    self.cut, self.lines, self.columns = msg[1:]
                    return
        finally:
            if not done:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)

    def _feed(self, fd: int) -> None:
        # The child's side of `blocks()`: pickled lists of blocks and samples, then a last
        # ("end", cut, lines, columns) or ("error", exception).
        pack = PLAIN.pack
        with os.fdopen(fd, "wb", 1 << 16) as f:
            dump = pickle.dump
            proto = pickle.HIGHEST_PROTOCOL
            items: list = []
            recs: list = []
            first = True  # the caller builds its supervisor on a sample tuple
            try:
                for s in self.samples():
                    if (
                        s[6] is None
                        and s[7] is None
                        and s[8] is None
                        and s[10] is None
                        and not (first or s[9])
                    ):
                        recs.append(pack(s[0], s[1], s[3], s[4], s[5]))
                        if len(recs) >= _BLOCK:
                            items.append(b"".join(recs))
                            recs = []
                            dump(items, f, proto)
                            items = []
                        continue
                    first = False
                    if recs:
                        items.append(b"".join(recs))
                        recs = []
                    items.append(s)
                    if len(items) >= _BLOCK:
                        dump(items, f, proto)
                        items = []
                end = ("end", self.cut, self.lines, self.columns)
            except Exception as exc:
                end = ("error", exc)
            if recs:
                items.append(b"".join(recs))
            if items:
                dump(items, f, proto)
            try:
                data = pickle.dumps(end, proto)
            except Exception:  # an exception that does not pickle: its message does
                exc = end[1]
                data = pickle.dumps(("error", RuntimeError("%s: %s" % (type(exc).__name__, exc))))
            f.write(data)

    def _where(self, line: int, column: str | None = None) -> str:
        if column is None:
            return "%s: line %d" % (self.path, line)
        return "%s: line %d, column %s" % (self.path, line, column)

    # -- CSV -----------------------------------------------------------------------------------

    def _header(self, f) -> tuple[int, dict[str, int]]:
        lineno = 0
        for line in f:
            lineno += 1
            if line.strip() == "" or line[0] == "#":
                continue
            names = [c.strip() for c in next(csv.reader([line]))]
            index: dict[str, int] = {}
            for i, name in enumerate(names):
                if name in index and name in REQUIRED + OPTIONAL:
                    raise TraceError("%s: column %s appears twice" % (self._where(lineno), name))
                index.setdefault(name, i)
            missing = [c for c in REQUIRED if c not in index]
            if missing:
                raise TraceError(
                    "%s: missing column%s %s (the header has: %s)"
                    % (
                        self._where(lineno),
                        "" if len(missing) == 1 else "s",
                        ", ".join(missing),
                        ", ".join(names),
                    )
                )
            self.columns = tuple(names)
            return lineno, index
        raise TraceError("%s: no header line (the file is empty)" % self.path)

    def _csv(self, f, ends_with_newline: bool) -> Iterator[tuple]:
        lineno, index = self._header(f)
        idx = tuple(index[c] for c in REQUIRED)
        it, ic, ia, ii = idx
        opt = tuple(index.get(c, -1) for c in OPTIONAL)
        width = max(index[c] for c in index if c in REQUIRED + OPTIONAL) + 1
        # The fast path reads four plain numbers and nothing else; anything it does not accept
        # (a comment, an empty cell, a quote, a cut line, optional columns) takes the general one.
        plain = ends_with_newline and max(opt) < 0
        quotes = len(self.columns) > len(REQUIRED)  # an extra column may hide a quoted comma
        general = self._csv_row
        lim = _LIMIT
        t_lim = _T_LIMIT
        prev_ms = -(1 << 62)
        prev_line = 0
        shift = 0  # added to the file's time after a reboot row that went back in time
        for line in f:
            lineno += 1
            if plain:
                try:
                    c = line.split(",")
                    t = float(c[it])
                    coil = float(c[ic])
                    amb = float(c[ia])
                    amps = float(c[ii])
                    ok = (
                        -lim < coil < lim
                        and -lim < amb < lim
                        and -lim < amps < lim
                        and -t_lim < t < t_lim
                        and not (quotes and '"' in line)
                    )
                except (ValueError, IndexError):
                    ok = False
                if ok:
                    t_ms = round(t * 1000) + shift
                    if t_ms < prev_ms:
                        self._backwards(lineno, t_ms - shift, prev_ms, prev_line)
                    prev_ms = t_ms
                    prev_line = lineno
                    yield (lineno, t_ms, None, coil, amb, amps, None, None, None, False, None, None)
                    continue
            row = general(line, lineno, idx, opt, width)
            if row is None:
                continue
            if row is _CUT:
                break
            t, coil, amb, amps, cf, af, ctf, check, boot = row
            boot = boot and prev_line > 0
            t_ms = round(t * 1000) + shift
            if t_ms < prev_ms:
                if not boot:
                    self._backwards(lineno, t_ms - shift, prev_ms, prev_line)
                shift += prev_ms - t_ms
                t_ms = prev_ms
            prev_ms = t_ms
            prev_line = lineno
            yield (lineno, t_ms, None, coil, amb, amps, cf, af, ctf, boot, check, None)
        self.lines = lineno

    def _backwards(self, lineno, t_ms, prev_ms, prev_line):
        raise TraceError(
            "%s: t_s %s is earlier than %s on line %d; time may go back only on a row with "
            "reboot=1" % (self._where(lineno, "t_s"), _sec(t_ms), _sec(prev_ms), prev_line)
        )

    def _csv_row(self, line, lineno, idx, opt, width):
        # One data line the slow, thorough way: None to skip it, _CUT at a cut last line, else
        # (t, coil, amb, amps, coil_fault, ambient_fault, ct_fault, check, reboot).
        if line[-1] != "\n":
            s = line.strip()
            if s and s[0] != "#":
                self.cut = "line %d is cut short (no newline at the end of the file)" % lineno
                return _CUT
            return None
        s = line.strip()
        if not s or s[0] == "#":
            return None
        cells = next(csv.reader([line])) if '"' in line else line.split(",")
        if len(cells) < width:
            raise TraceError(
                "%s: %d cell%s, but the header names %d columns"
                % (self._where(lineno), len(cells), "" if len(cells) == 1 else "s", width)
            )
        values = []
        for k, i in enumerate(idx):
            name = REQUIRED[k]
            text = cells[i].strip()
            try:
                x = float(text) if text or k == 0 else NAN
            except ValueError:
                raise TraceError(
                    "%s: %r is not a number" % (self._where(lineno, name), text)
                ) from None
            if k == 0 and not -_T_LIMIT < x < _T_LIMIT:
                raise TraceError(
                    "%s: %r is not a finite time (t_s is required on every row)"
                    % (self._where(lineno, name), text)
                )
            if k > 0 and x == x and not -_LIMIT < x < _LIMIT:
                raise TraceError(
                    "%s: %r is not a finite number (leave the cell empty for a faulted sensor)"
                    % (self._where(lineno, name), text)
                )
            values.append(x)
        causes = []
        for k, i in enumerate(opt[:3]):
            cause = cells[i].strip() if i >= 0 else ""
            if cause:
                values[k + 1] = NAN
                causes.append(cause)
            else:
                causes.append(MISSING if values[k + 1] != values[k + 1] else None)
        check = None
        if opt[3] >= 0:
            cut = self._flag(cells, opt[3], lineno, "relay")
            if cut is not None:
                check = _CUT_ON if cut else _CUT_OFF
        boot = opt[4] >= 0 and self._flag(cells, opt[4], lineno, "reboot") is True
        return (
            values[0],
            values[1],
            values[2],
            values[3],
            causes[0],
            causes[1],
            causes[2],
            check,
            boot,
        )

    def _flag(self, cells, i, lineno, name) -> bool | None:
        text = cells[i].strip()
        try:
            v = _FLAG[text]
        except KeyError:
            raise TraceError(
                "%s: %r is not 0, 1 or empty" % (self._where(lineno, name), text)
            ) from None
        if text == "" and name == "relay":
            return None
        return v

    # -- device log (JSON lines) ---------------------------------------------------------------

    def _jsonl(self, f) -> Iterator[tuple]:
        lineno = 0
        t_ms = 0
        prev_tick = None  # device tick of the previous sample in this boot
        prev_host = None
        prev_line = 0
        reboot = False
        actions: list[tuple] = []
        report_tick = None  # a person action's own sample line comes at this tick
        loads = json.loads
        for line in f:
            lineno += 1
            if line.strip() == "":
                continue
            try:
                obj = loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                if line[-1] != "\n":
                    self.cut = "line %d is cut short (no newline at the end of the file)" % lineno
                    break
                raise TraceError(
                    "%s: not a JSON object (%s)" % (self._where(lineno), exc)
                ) from None
            kind = obj.get("kind")
            if kind == "sample":
                tick = obj.get("t")
                if not _is_int(tick):
                    raise TraceError(
                        "%s: sample has no whole-number device time t" % (self._where(lineno))
                    )
                if report_tick is not None and tick == report_tick:
                    # The board reports the decision of a button/host action with a sample line
                    # at the action's tick; it is not a sensor step.
                    report_tick = None
                    continue
                report_tick = None
                coil, amb, amps, cf, af, ctf = self._log_values(obj, lineno)
                host = obj.get("host_t")
                host_ms = None
                if _is_num(host) and _is_num(prev_host):
                    host_ms = round((host - prev_host) * 1000)
                    host_ms = host_ms if host_ms > 0 else 0
                if prev_tick is None:
                    pass  # the first sample: replay time 0
                elif reboot or (host_ms is not None and host_ms > _TICKS_TRUST_MS):
                    # Across a reboot (or a gap the device's ticks cannot measure) only the
                    # host's receive times tell how long it was.
                    t_ms += host_ms or 0
                else:
                    d = ticks_diff(tick, prev_tick)
                    if d < 0:
                        raise TraceError(
                            "%s: device time t=%d is %d ms before t=%d on line %d, with no hello "
                            "(reboot) line between"
                            % (self._where(lineno, "t"), tick, -d, prev_tick, prev_line)
                        )
                    t_ms += d
                sup = obj.get("sup")
                cut = obj.get("cut")
                check = (obj.get("unit"), sup, cut if isinstance(cut, bool) else None)
                boot = reboot and prev_tick is not None
                pre = tuple(actions) if actions else None
                if actions:
                    actions = []
                reboot = False
                prev_tick, prev_host, prev_line = tick, host, lineno
                self.lines = lineno
                yield (lineno, t_ms, tick, coil, amb, amps, cf, af, ctf, boot, check, pre)
            elif kind == "hello" or (kind == "reboot" and "v" not in obj):
                # The board's hello, or the logger's own note that the sequence numbers began
                # again (a hello lost in boot noise).
                reboot = True
                if kind == "hello":
                    tick = obj.get("t")
                    self.boot_tick = tick if _is_int(tick) else None
                actions = []
                report_tick = None
            elif kind == "event":
                act = _person_action(obj)
                if act is not None and _is_int(obj.get("t")):
                    actions.append((obj["t"], act[0], act[1]))
                    report_tick = obj["t"]
            elif kind == "raw":
                self.raw_lines += 1
            else:
                k = str(kind)
                self.ignored[k] = self.ignored.get(k, 0) + 1
        self.lines = lineno

    def _log_values(self, obj, lineno) -> tuple:
        faults = obj.get("faults") or {}
        if not isinstance(faults, dict):
            raise TraceError("%s: faults is not an object" % self._where(lineno, "faults"))
        out = []
        for key, sensor in (("coil", "coil"), ("amb", "ambient"), ("amps", "ct")):
            if key not in obj:
                raise TraceError("%s: sample has no %s" % (self._where(lineno), key))
            v = obj[key]
            cause = faults.get(sensor)
            if cause is not None:
                out.append(NAN)
                out.append(str(cause))
                continue
            if v is None:
                out.append(NAN)
                out.append(MISSING)
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not -_LIMIT < v < _LIMIT:
                raise TraceError("%s: %r is not a number" % (self._where(lineno, key), v))
            out.append(float(v))
            out.append(None)
        return out[0], out[2], out[4], out[1], out[3], out[5]


def _person_action(obj) -> tuple[str, str] | None:
    # Events the board emits only because a person acted; replay repeats the action.
    ev = obj.get("event")
    if ev == "lockout_cleared":
        return "clear_lockout", str(obj.get("source") or "host")
    if ev == "power_off" and obj.get("cause") == "manual":
        return "request_power_cycle", "host"
    return None


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _sec(ms: int) -> str:
    return "%g" % (ms / 1000)


_PIPE_SIZE = 1 << 20


def _grow_pipe(fd):
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    except (ImportError, AttributeError, OSError):
        pass


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def open_trace(path: str) -> Trace:
    """The trace in `path`, its kind decided by content: `{` first means a device log."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                s = line.strip()
                if s:
                    return Trace(path, "jsonl" if s[0] == "{" else "csv")
    except OSError as exc:
        raise TraceError("%s: cannot read (%s)" % (path, exc.strerror or exc)) from None
    raise TraceError("%s: empty file" % path)
