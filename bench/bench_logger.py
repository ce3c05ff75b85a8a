"""Host tools against a pseudo-terminal board: logger throughput and monitor latency.

- logger: sample lines from the firmware's Reporter pushed through a pty as fast as it takes
  them, read, parsed, stamped and written (flushed per line) by `splitguard log`'s Logger;
  compared with what 115200 baud 8N1 can carry (11 520 bytes/s).
- monitor: time from a line's arrival (the read that completed it) to its output being written
  and flushed, plain mode and full-screen mode, with lines arriving every 10 ms.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time

from splitguard import states
from splitguard.reading import Reading
from splitguard.report import Reporter

from bench.table import Row
from host_tools import serial_link
from host_tools.logger import Logger, LogWriter, log_to
from host_tools.monitor import Monitor

LOGGER_LINES = 30000
MONITOR_LINES = 200
MONITOR_GAP_S = 0.01
BYTES_PER_S_115200 = 115200 / 10


class _Decision:
    unit_state, mode, state = states.FROSTING, states.HEAT, states.WATCHING
    power_cut, cycles_in_window = False, 1


def _lines(n: int) -> list[bytes]:
    out: list[bytes] = []
    rep = Reporter(lambda s: out.append(s.encode()))
    r = Reading()
    for i in range(n):
        r.set(-7.0 - i % 500 / 100.0, -1.0 + i % 300 / 100.0, 4.0 + i % 37 / 100.0)
        rep.sample(i * 1000, r, _Decision())
    return out


def _wait(cond, timeout):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise RuntimeError("timed out")
        time.sleep(0.001)


def _logger(tmp: str) -> list[Row]:
    lines = _lines(LOGGER_LINES)
    port = serial_link.PtyPort(os.path.join(tmp, "board"))
    logger = Logger(LogWriter(os.path.join(tmp, "log")), lambda s: None)
    conn = serial_link.Connection(serial_link.opener("file:" + port.path), poll_s=0.01)
    stop = threading.Event()
    th = threading.Thread(target=log_to, args=(conn, logger, stop.is_set), daemon=True)
    th.start()
    try:
        _wait(lambda: logger.written >= 1, 5)
        data = b"".join(lines)
        t0 = time.perf_counter()
        port.write(data)
        _wait(lambda: logger.seq.lines == LOGGER_LINES, 120)
        dt = time.perf_counter() - t0
    finally:
        stop.set()
        th.join(5)
        port.close()
    per_s = LOGGER_LINES / dt
    wire = BYTES_PER_S_115200 / (len(data) / LOGGER_LINES)
    note = "%d lines of %d B avg via pty; 115200 baud carries %.0f lines/s" % (
        LOGGER_LINES,
        len(data) // LOGGER_LINES,
        wire,
    )
    return [
        Row("host logger", "lines/s sustained", "%.0f" % per_s, "lines/s", note),
        Row("host logger", "headroom over 115200 baud", "%.0f" % (per_s / wire), "×"),
    ]


def _monitor(tmp: str, tty: bool) -> list[Row]:
    lines = _lines(MONITOR_LINES)
    port = serial_link.PtyPort(os.path.join(tmp, "board-%s" % tty))
    with open(os.devnull, "w", encoding="utf-8") as sink:
        conn = serial_link.Connection(serial_link.opener("file:" + port.path), poll_s=0.01)
        mon = Monitor(conn, sink, tty=tty, width=lambda: 100)
        mon.measure = True
        stop = threading.Event()
        th = threading.Thread(target=mon.run, args=(stop.is_set,), daemon=True)
        th.start()
        try:
            _wait(lambda: mon.view.connected, 5)
            for line in lines:
                port.write(line)
                time.sleep(MONITOR_GAP_S)
            _wait(lambda: mon.view.seq.lines == MONITOR_LINES, 10)
            time.sleep(0.05)
        finally:
            stop.set()
            th.join(5)
            port.close()
    lat = sorted(x * 1000.0 for x in mon.latencies)
    mode = "screen (ANSI redraw)" if tty else "plain lines"
    note = "%d lines, one every %d ms" % (len(lat), MONITOR_GAP_S * 1000)
    return [
        Row("host monitor", "%s delay median" % mode, "%.3f" % statistics.median(lat), "ms", note),
        Row("host monitor", "%s delay p99" % mode, "%.3f" % lat[int(0.99 * (len(lat) - 1))], "ms"),
    ]


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        rows = _logger(tmp)
        rows += _monitor(tmp, tty=False)
        rows += _monitor(tmp, tty=True)
    return rows


if __name__ == "__main__":
    from bench.table import render

    print(render(run()))
