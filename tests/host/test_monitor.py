"""`splitguard monitor` against a pseudo-terminal standing in for the board.

The board end is serial_link.PtyPort: device lines from the firmware's own Reporter go in, the
monitor reads `file:PATH`. Unplugging closes the pty and removes the path; replugging makes a
new pty at the same path, as a board that re-enumerates.
"""

from __future__ import annotations

import _thread
import io
import threading
import time

from splitguard import states
from splitguard.reading import Reading
from splitguard.report import Reporter

from host_tools import serial_link
from host_tools.cli import main
from host_tools.monitor import RAW_MARK, Monitor, View, duration
from host_tools.serial_link import Line, Status

RESET_NOISE = (
    b"ets Jun  8 2016 00:22:57\r\n\r\n"
    b"rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
    b"MicroPython v1.27.0 on 2025-12-09; Generic ESP32 module with ESP32\r\n"
)


class Decision:
    def __init__(self, unit=states.RUNNING, sup=states.WATCHING, cut=False, cycles=0):
        self.unit_state, self.mode, self.state = unit, states.HEAT, sup
        self.power_cut, self.cycles_in_window = cut, cycles


class Board:
    """The firmware's Reporter writing to a list of byte lines (or straight to a port)."""

    def __init__(self, write=None):
        self.out: list[bytes] = []
        self.rep = Reporter(write or (lambda s: self.out.append(s.encode())))
        self.r = Reading()

    def sample(self, t, coil=-7.0, amb=-1.0, amps=4.0, **kw):
        self.r.set(coil, amb, amps)
        return self.rep.sample(t, self.r, Decision(**kw))


def _wait(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def _start(port_path, tty=False):
    out = io.StringIO()
    conn = serial_link.Connection(
        serial_link.opener("file:" + port_path), retry_s=0.02, poll_s=0.02
    )
    mon = Monitor(conn, out, tty=tty, port=port_path, width=lambda: 100)
    stop = threading.Event()
    th = threading.Thread(target=mon.run, args=(stop.is_set,), daemon=True)
    th.start()
    return mon, out, stop, th


def _line(data: bytes, t=1000.0) -> Line:
    return Line(t, 0.0, data)


def test_plain_output_has_one_readable_line_per_sample_and_event():
    v = View()
    b = Board()
    b.sample(1000, coil=-7.25, amb=-1.5, amps=4.1, unit=states.FROSTING, cycles=1)
    b.rep.event(1000, {"event": "frost", "reason": "coil 6.0 K below ambient for 5 min"})
    out = [v.feed(_line(x)) for x in b.out]
    assert len(out[0]) == 1 and len(out[1]) == 1
    assert "coil -7.2 °C  ambient -1.5 °C  4.10 A  unit FROSTING  supervisor WATCHING" in out[0][0]
    assert "power on  cycles 1" in out[0][0]
    assert out[1][0].endswith("EVENT  frost: coil 6.0 K below ambient for 5 min")


def test_a_faulted_sensor_shows_dashes_and_its_cause():
    v = View()
    b = Board()
    b.r.set(1.0, -1.0, 4.0)
    b.r.coil_c, b.r.coil_fault = float("nan"), "open"
    b.rep.sample(0, b.r, Decision(unit=states.SENSOR_FAULT))
    assert "coil --.- °C (open)" in v.feed(_line(b.out[0]))[0]


def test_raw_lines_are_shown_marked_raw_and_blank_ones_skipped():
    v = View()
    lines = [v.feed(_line(x)) for x in RESET_NOISE.split(b"\r\n")]
    shown = [x[0].split(" ", 1)[1] for x in lines if x]
    assert shown == [
        RAW_MARK + "ets Jun  8 2016 00:22:57",
        RAW_MARK + "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
        RAW_MARK + "MicroPython v1.27.0 on 2025-12-09; Generic ESP32 module with ESP32",
    ]


def test_time_in_state_counts_from_the_change_and_is_a_lower_bound_before_one():
    v = View()
    b = Board()
    b.sample(0, unit=states.RUNNING)
    b.sample(10_000, unit=states.DEFROSTING)
    v.feed(Line(100.0, 0.0, b.out[0]))
    screen = "\n".join(v.screen(160.0))
    assert "for ≥ 1 min 00 s" in screen  # running since at least when the monitor started
    v.feed(Line(110.0, 0.0, b.out[1]))
    screen = "\n".join(v.screen(110.0 + 4 * 60 + 12))
    assert "DEFROSTING         for 4 min 12 s" in screen


def test_lockout_shows_a_banner_with_the_reason():
    v = View()
    b = Board()
    b.rep.event(0, {"event": "lockout", "reason": "The unit did not recover after 3 cycles."})
    b.sample(0, sup=states.LOCKOUT, cycles=3)
    for x in b.out:
        v.feed(_line(x))
    screen = "\n".join(v.screen(1000.0))
    assert "LOCKOUT: splitguard has stopped power-cycling the unit." in screen
    assert "The unit did not recover after 3 cycles." in screen
    b.sample(1000, sup=states.WATCHING)
    v.feed(_line(b.out[-1]))
    assert "LOCKOUT:" not in "\n".join(v.screen(1001.0))


def test_durations_read_naturally():
    assert [duration(s) for s in (42, 252, 7380, 3 * 86400 + 4 * 3600)] == [
        "42 s",
        "4 min 12 s",
        "2 h 03 min",
        "3 d 04 h",
    ]


def test_live_board_reset_mid_line_shows_the_cut_line_the_boot_text_and_the_restart(tmp_path):
    port = serial_link.PtyPort(str(tmp_path / "board"))
    mon, out, stop, th = _start(port.path)
    try:
        board = Board(lambda s: port.write(s.encode()))
        board.rep.hello(0, "0.1.0", "esp32_devkitc", "abcd", "power on")
        for i in range(3):
            board.sample(1000 * (i + 1))
        cut = board.sample(4000)
        assert _wait(lambda: mon.view.seq.lines == 5)
        port.write(cut.encode()[:30])  # the reset lands in the middle of a line
        port.write(RESET_NOISE)
        board2 = Board(lambda s: port.write(s.encode()))
        board2.rep.hello(10, "0.1.0", "esp32_devkitc", "abcd", "watchdog")
        board2.sample(1000)
        assert _wait(lambda: mon.view.seq.lines == 7)
    finally:
        stop.set()
        th.join(5)
        port.close()
    text = out.getvalue()
    assert RAW_MARK + cut[:30] + "ets Jun  8 2016 00:22:57" in text
    assert RAW_MARK + "rst:0x1 (POWERON_RESET)" in text
    assert "note   board restarted: hello, reset cause watchdog" in text
    assert "hello  firmware 0.1.0, board esp32_devkitc, config abcd, reset: watchdog" in text
    assert mon.view.seq.reboots == 1 and mon.view.seq.gaps == 0


def test_unplug_and_replug_reconnects_by_itself_and_says_so(tmp_path):
    port = serial_link.PtyPort(str(tmp_path / "board"))
    mon, out, stop, th = _start(port.path)
    try:
        board = Board()
        board.sample(1000)
        port.write(board.out[-1])
        assert _wait(lambda: mon.view.seq.lines == 1)
        board.sample(2000)
        port.write(board.out[-1][:18])  # the cable comes out in the middle of this line
        assert _wait(lambda: mon.connection.splitter.pending() == b'{"coil": -7.0, "am')
        port.unplug()
        assert _wait(lambda: not mon.view.connected)
        time.sleep(0.1)  # a few failed reopen attempts while the cable is out
        port.replug()
        board.sample(3000)
        port.write(board.out[-1])
        assert _wait(lambda: mon.view.seq.lines == 2)
    finally:
        stop.set()
        th.join(5)
        port.close()
    text = out.getvalue()
    assert "link   link lost (" in text
    assert "link   reconnected to " + port.path in text
    assert RAW_MARK + '{"coil": -7.0, "am  (cut off before its end of line)' in text
    # seq 1 is the line that was cut off: a gap of one, honestly reported.
    assert "note   1 line missing (seq 1)" in text
    assert mon.connection.reconnects == 1


def test_screen_mode_redraws_in_place_with_the_lockout_banner(tmp_path):
    port = serial_link.PtyPort(str(tmp_path / "board"))
    mon, out, stop, th = _start(port.path, tty=True)
    try:
        board = Board(lambda s: port.write(s.encode()))
        board.rep.event(0, {"event": "lockout", "reason": "Too many power cycles."})
        board.sample(1000, sup=states.LOCKOUT, cut=False, cycles=3)
        assert _wait(lambda: "Too many power cycles." in out.getvalue())
    finally:
        stop.set()
        th.join(5)
        port.close()
    text = out.getvalue()
    assert text.startswith("\x1b[?25l")  # cursor hidden while drawing...
    assert text.endswith("\x1b[?25h")  # ...and given back at exit
    assert "\x1b[H" in text and "\x1b[K" in text
    assert "LOCKOUT: splitguard has stopped power-cycling the unit." in text


def test_status_items_are_shown_and_tracked():
    v = View()
    lines = v.feed(Status(0.0, "link lost (gone); reconnecting", False))
    assert lines[0].endswith("link   link lost (gone); reconnecting")
    assert not v.connected
    assert "NOT CONNECTED" in v.screen(0.0)[0]


def test_ctrl_c_exits_0_cleanly(tmp_path, capsys):
    port = serial_link.PtyPort(str(tmp_path / "board"))
    board = Board(lambda s: port.write(s.encode()))

    def drive():
        time.sleep(0.2)
        board.sample(1000)
        time.sleep(0.3)
        _thread.interrupt_main()  # what Ctrl-C does

    th = threading.Thread(target=drive, daemon=True)
    th.start()
    try:
        assert main(["monitor", "--port", "file:" + port.path]) == 0
    finally:
        th.join(5)
        port.close()
    out, err = capsys.readouterr()
    assert "connected to " + port.path in out
    assert "sample coil -7.0 °C" in out
    assert "splitguard monitor: stopped" in err


def test_the_pyserial_transport_also_survives_unplug_and_replug(tmp_path):
    # A plain port name goes through pyserial, as /dev/ttyUSB0 would; a pty stands in for it.
    port = serial_link.PtyPort(str(tmp_path / "ttyUSB0"))
    probe = serial_link.opener(port.path)()
    assert isinstance(probe, serial_link.SerialLink)
    probe.close()
    out = io.StringIO()
    conn = serial_link.Connection(serial_link.opener(port.path), retry_s=0.02, poll_s=0.02)
    mon = Monitor(conn, out, tty=False)
    stop = threading.Event()
    th = threading.Thread(target=mon.run, args=(stop.is_set,), daemon=True)
    th.start()
    board = Board()
    try:
        # pyserial empties the input buffer when it opens a port: write once it is open.
        assert _wait(lambda: mon.view.connected)
        board.sample(1000)
        port.write(board.out[-1])
        assert _wait(lambda: mon.view.seq.lines == 1)
        port.unplug()
        assert _wait(lambda: not mon.view.connected)
        port.replug()
        assert _wait(lambda: mon.view.connected)
        board.sample(2000)
        port.write(board.out[-1])
        assert _wait(lambda: mon.view.seq.lines == 2)
    finally:
        stop.set()
        th.join(5)
        port.close()
    assert "reconnected to " + port.path in out.getvalue()
    assert mon.view.seq.gaps == 0


class _PortInfo:
    def __init__(self, device, vid, pid):
        self.device, self.vid, self.pid = device, vid, pid


def test_auto_port_prefers_known_esp32_usb_bridges_then_any_usb_serial():
    ports = [
        _PortInfo("/dev/ttyS0", None, None),  # a motherboard UART: never a guess
        _PortInfo("/dev/ttyACM3", 0x2341, 0x0043),  # some other USB serial device
        _PortInfo("/dev/ttyUSB1", 0x1A86, 0x7523),
        _PortInfo("/dev/ttyACM0", 0x303A, 0x1001),
    ]
    assert serial_link.auto_port(ports) == ("/dev/ttyACM0", "Espressif USB-serial/JTAG 303a:1001")
    assert [d for d, _ in serial_link.describe_ports(ports)] == [
        "/dev/ttyACM0",
        "/dev/ttyUSB1",
        "/dev/ttyACM3",
    ]
    assert serial_link.auto_port(ports[1:2]) == ("/dev/ttyACM3", "USB 2341:0043")


def test_no_board_plugged_in_is_a_clear_wait_message():
    try:
        serial_link.auto_port([_PortInfo("/dev/ttyS0", None, None)])
    except serial_link.LinkError as exc:
        assert "no board found on USB" in str(exc)
    else:
        raise AssertionError("auto_port found a board among no USB ports")
