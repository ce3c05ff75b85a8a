"""`splitguard log`: lossless JSON-lines logging from a pseudo-terminal board, rotation, gap
reports, and export to the trace CSV that replay reads.

115200 baud 8N1 carries at most 11 520 bytes/s; "minutes at full rate" is that many bytes per
second of realistic sample lines, written as fast as the pty takes them.
"""

from __future__ import annotations

import _thread
import csv
import glob
import json
import os
import threading
import time

import pytest
from splitguard import states
from splitguard.reading import Reading
from splitguard.report import Reporter

from host_tools import serial_link
from host_tools.cli import main
from host_tools.logger import TRACE_HEADER, Logger, LogWriter, log_to, parse_rotate, trace_rows
from host_tools.protocol import Message, parse_line

BYTES_PER_S_115200 = 115200 // 10  # 8N1: ten bits on the wire per byte
FULL_RATE_MINUTES = 5


class Decision:
    def __init__(self, unit=states.RUNNING, sup=states.WATCHING, cut=False, cycles=0):
        self.unit_state, self.mode, self.state = unit, states.HEAT, sup
        self.power_cut, self.cycles_in_window = cut, cycles


class Board:
    def __init__(self):
        self.out: list[bytes] = []
        self.rep = Reporter(lambda s: self.out.append(s.encode()))
        self.r = Reading()

    def sample(self, t, coil=-7.0, amb=-1.0, amps=4.0, **kw):
        self.r.set(coil, amb, amps)
        self.rep.sample(t, self.r, Decision(**kw))
        return self.out[-1]


def _wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def _start(port_path, out_dir, max_bytes=None):
    reports: list[str] = []
    logger = Logger(LogWriter(out_dir, max_bytes), reports.append)
    conn = serial_link.Connection(
        serial_link.opener("file:" + port_path), retry_s=0.02, poll_s=0.02
    )
    stop = threading.Event()
    th = threading.Thread(target=log_to, args=(conn, logger, stop.is_set), daemon=True)
    th.start()
    return logger, conn, reports, stop, th


def _read_all(out_dir) -> list[dict]:
    recs = []
    for path in sorted(glob.glob(os.path.join(out_dir, "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            recs += [json.loads(x) for x in f]
    return recs


def test_device_lines_are_logged_as_they_came_plus_host_receive_time(tmp_path):
    port = serial_link.PtyPort(str(tmp_path / "board"))
    logger, conn, reports, stop, th = _start(port.path, str(tmp_path / "log"))
    board = Board()
    board.rep.hello(3, "0.1.0", "esp32_devkitc", "abcd", "power on")
    board.sample(1000)
    board.rep.event(1000, {"event": "frost", "reason": "coil 6.0 K below ambient"})
    before = time.time()
    try:
        for line in board.out:
            port.write(line)
        port.write(b"MicroPython v1.27.0 on 2025-12-09; Generic ESP32 module with ESP32\r\n")
        assert _wait(lambda: logger.written == 5)
    finally:
        stop.set()
        th.join(5)
        port.close()
    recs = _read_all(str(tmp_path / "log"))
    assert recs[0]["kind"] == "link" and recs[0]["connected"] is True
    for rec, sent in zip(recs[1:4], board.out, strict=True):
        host_t = rec.pop("host_t")
        assert before <= host_t <= time.time()
        assert rec == json.loads(sent)  # every field, same values, same order
        assert list(rec) == list(json.loads(sent))
    assert recs[4]["kind"] == "raw"
    assert recs[4]["text"] == "MicroPython v1.27.0 on 2025-12-09; Generic ESP32 module with ESP32"
    assert "v" not in recs[4]  # host lines are told apart from device lines by having no "v"


def test_each_line_is_on_disk_as_soon_as_it_is_received(tmp_path):
    # A crash (kill -9) of the logger loses only what it had not received yet.
    w = LogWriter(str(tmp_path))
    w.write({"host_t": 1.7e9, "kind": "raw", "text": "first"})
    with open(w.path, encoding="utf-8") as f:
        assert json.loads(f.read()) == {"host_t": 1.7e9, "kind": "raw", "text": "first"}
    w.close()


def test_full_rate_115200_for_minutes_loses_no_line(tmp_path):
    port = serial_link.PtyPort(str(tmp_path / "board"))
    logger, conn, reports, stop, th = _start(port.path, str(tmp_path / "log"))
    board = Board()
    total = 0
    t = 0
    while total < BYTES_PER_S_115200 * 60 * FULL_RATE_MINUTES:
        total += len(board.sample(t, coil=-7.0 - t % 997 / 100.0, amps=4.0 + t % 13 / 100.0))
        t += 20
    n = len(board.out)
    try:
        assert _wait(lambda: logger.written >= 1)
        port.write(b"".join(board.out))
        assert _wait(lambda: logger.seq.lines == n, timeout=30)
    finally:
        stop.set()
        th.join(5)
        port.close()
    recs = [r for r in _read_all(str(tmp_path / "log")) if "v" in r]
    assert [r["seq"] for r in recs] == list(range(n))
    assert logger.raw == 0 and logger.seq.gaps == 0
    assert n > 5 * 60 * 40  # ≈ 50 sample lines a second fit through 115200 baud


def test_unplug_keeps_the_partial_line_and_replug_continues_with_a_gap_report(tmp_path):
    port = serial_link.PtyPort(str(tmp_path / "board"))
    logger, conn, reports, stop, th = _start(port.path, str(tmp_path / "log"))
    board = Board()
    try:
        port.write(board.sample(1000))
        half = board.sample(2000)[:25]
        port.write(half)
        assert _wait(lambda: conn.splitter.pending() == half)
        port.unplug()
        assert _wait(lambda: conn.link is None)
        time.sleep(0.1)
        port.replug()
        port.write(board.sample(3000))
        assert _wait(lambda: logger.seq.lines == 2)
    finally:
        stop.set()
        th.join(5)
        port.close()
    recs = _read_all(str(tmp_path / "log"))
    waiting = [r for r in recs if r.get("text", "").startswith("waiting for the board: ")]
    assert waiting and "No such file or directory" in waiting[0]["text"]
    recs = [r for r in recs if r not in waiting]
    kinds = [r["kind"] for r in recs]
    assert kinds == ["link", "sample", "raw", "link", "link", "gap", "sample"]
    assert recs[2] == {"host_t": recs[2]["host_t"], "kind": "raw", "text": half.decode()} | {
        "partial": True
    }
    assert recs[3]["connected"] is False and recs[3]["text"].startswith("link lost")
    assert recs[4]["text"] == "reconnected to " + port.path
    assert {k: recs[5][k] for k in ("first", "last", "missing")} == {
        "first": 1,
        "last": 1,
        "missing": 1,
    }
    assert "1 line missing (seq 1)" in reports


def test_a_board_reset_mid_line_logs_the_cut_line_and_boot_text_raw_and_a_reboot(tmp_path):
    port = serial_link.PtyPort(str(tmp_path / "board"))
    logger, conn, reports, stop, th = _start(port.path, str(tmp_path / "log"))
    board = Board()
    try:
        port.write(board.sample(1000) + board.sample(2000)[:30])
        port.write(b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13\r\n")
        after = Board()
        after.rep.hello(12, "0.1.0", "esp32_devkitc", "abcd", "power on")
        for line in after.out:
            port.write(line)
        assert _wait(lambda: logger.seq.lines == 2)
    finally:
        stop.set()
        th.join(5)
        port.close()
    recs = [r for r in _read_all(str(tmp_path / "log")) if r["kind"] != "link"]
    assert [r["kind"] for r in recs] == ["sample", "raw", "raw", "raw", "reboot", "hello"]
    assert recs[1]["text"] == board.out[1][:30].decode() + "ets Jun  8 2016 00:22:57"
    assert recs[2]["text"] == ""
    assert recs[4]["reason"] == "hello, reset cause power on"
    assert "board restarted: hello, reset cause power on" in reports


def test_size_rotation_starts_new_files_and_keeps_every_line(tmp_path):
    w = LogWriter(str(tmp_path), max_bytes=1000)
    for i in range(100):
        w.write({"host_t": 1.7e9 + i, "kind": "raw", "text": "line %03d" % i})
    w.close()
    assert len(w.paths) > 3
    assert all(os.path.getsize(p) <= 1000 for p in w.paths)
    texts = [r["text"] for r in _read_all(str(tmp_path))]
    assert texts == ["line %03d" % i for i in range(100)]


def test_daily_rotation_starts_a_new_file_at_local_midnight(tmp_path):
    midnight = time.mktime((2025, 1, 15, 0, 0, 0, 0, 0, -1))
    w = LogWriter(str(tmp_path))
    for dt in (-2.0, -1.0, 0.0, 1.0):
        w.write({"host_t": midnight + dt, "kind": "raw", "text": "x"})
    w.close()
    names = [os.path.basename(p) for p in w.paths]
    assert names == ["splitguard-20250114-235958.jsonl", "splitguard-20250115-000000.jsonl"]


def test_rotate_option_reads_daily_or_megabytes():
    assert parse_rotate("daily") is None
    assert parse_rotate("10") == 10e6
    assert parse_rotate("0.5") == 0.5e6
    for bad in ("weekly", "0", "-3"):
        with pytest.raises(Exception, match="--rotate"):
            parse_rotate(bad)


def _messages(lines_with_host_t):
    out = []
    for host_t, line in lines_with_host_t:
        m = parse_line(line)
        assert isinstance(m, Message)
        out.append((host_t, m))
    return out


def test_export_time_runs_on_across_a_tick_wrap_and_a_reboot():
    wrap = 1 << 30
    b = Board()
    b.sample(wrap - 5000)
    b.sample(5000)  # 10 s later, across the 2**30 ms wrap
    after = Board()
    after.rep.hello(0, "0.1.0", "x", "abcd", "power on")
    after.sample(200)
    after.sample(10_200)
    seq = [(100.0, b.out[0]), (110.0, b.out[1])]
    seq += [(172.0, after.out[0]), (172.5, after.out[1]), (182.5, after.out[2])]
    rows = list(trace_rows(_messages(seq)))
    assert [r[0] for r in rows] == ["0.000", "10.000", "72.500", "82.500"]
    assert [r[8] for r in rows] == ["0", "0", "1", "0"]


def test_export_leaves_faulted_values_empty_and_names_the_cause():
    b = Board()
    b.r.set(-7.0, -1.0, 4.0)
    b.r.coil_c, b.r.coil_fault = float("nan"), "open"
    b.r.amps, b.r.ct_fault = float("nan"), "bias"
    b.rep.sample(0, b.r, Decision(unit=states.SENSOR_FAULT, cut=True))
    (row,) = trace_rows(_messages([(1.0, b.out[0])]))
    assert dict(zip(TRACE_HEADER, row, strict=True)) == {
        "t_s": "0.000",
        "coil_c": "",
        "ambient_c": "-1.0",
        "amps": "",
        "coil_fault": "open",
        "ambient_fault": "",
        "ct_fault": "bias",
        "relay": "1",
        "reboot": "0",
    }


def test_log_export_cli_writes_the_trace_header_and_replay_reads_it(tmp_path, capsys):
    b = Board()
    log = tmp_path / "a.jsonl"
    with open(log, "w", encoding="utf-8") as f:
        f.write('{"host_t": 1.0, "kind": "raw", "text": "ets Jun  8 2016"}\n')
        for i in range(10):
            rec = {"host_t": 2.0 + i}
            rec.update(json.loads(b.sample(1000 * i, coil=-7.0 + i)))
            f.write(json.dumps(rec) + "\n")
    out_csv = tmp_path / "trace.csv"
    assert main(["log", "export", str(log), "-o", str(out_csv)]) == 0
    assert capsys.readouterr().out == "%s: 10 samples\n" % out_csv
    with open(out_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(TRACE_HEADER)
    assert [r[0] for r in rows[1:]] == ["%d.000" % i for i in range(10)]
    trace = pytest.importorskip("host_tools.trace")
    samples = list(trace.open_trace(str(out_csv)).samples())
    assert [s[1] for s in samples] == [1000 * i for i in range(10)]
    assert [s[3] for s in samples] == [-7.0 + i for i in range(10)]


def test_log_cli_runs_until_ctrl_c_and_prints_a_summary(tmp_path, capsys):
    port = serial_link.PtyPort(str(tmp_path / "board"))
    b = Board()

    def drive():
        time.sleep(0.2)
        port.write(b.sample(1000) + b.sample(2000) + b"half a li")
        time.sleep(0.3)
        _thread.interrupt_main()

    th = threading.Thread(target=drive, daemon=True)
    th.start()
    out_dir = str(tmp_path / "log")
    try:
        assert main(["log", "--port", "file:" + port.path, "-o", out_dir]) == 0
    finally:
        th.join(5)
        port.close()
    err = capsys.readouterr().err
    assert "splitguard log: connected to " + port.path in err
    assert "splitguard log: 4 lines written (2 from the board, 1 raw)" in err
    recs = _read_all(out_dir)
    assert recs[-1] == {"host_t": recs[-1]["host_t"], "kind": "raw", "text": "half a li"} | {
        "partial": True
    }


def test_log_without_a_folder_is_an_error(capsys):
    assert main(["log", "--port", "file:/nonexistent"]) == 1
    assert "splitguard: log: say where the files go: -o DIR" in capsys.readouterr().err
