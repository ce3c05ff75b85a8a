"""The wire to the board: a transport base class, a pyserial and a plain-path implementation,
and a Connection that turns either into timestamped lines and reconnects by itself.

USB serial disappears when the cable is pulled and often when the board resets (native-USB
chips re-enumerate, sometimes under a new name). A Link reports that as LinkLost; Connection
keeps whatever half line was in flight (as a partial line, never dropped), says what happened
as a Status item, and keeps trying to open the port again until it succeeds or is stopped.

Ports: "auto" (default) picks the first USB serial adapter known to sit on ESP32 boards, like
`mpremote connect auto`; "file:PATH" reads any path with plain reads (a pty, a FIFO, a capture
file); anything else is a serial device name for pyserial.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from host_tools.protocol import LineSplitter

BAUD = 115200
# USB VID:PID of the USB-serial bridges on common ESP32 boards (and the S2/S3/C3 native port).
KNOWN_USB = {
    (0x10C4, 0xEA60): "CP210x",
    (0x1A86, 0x7523): "CH340",
    (0x1A86, 0x55D4): "CH9102",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x303A, 0x1001): "Espressif USB-serial/JTAG",
}
RETRY_S = 0.5


class LinkError(Exception):
    """The port cannot be opened (yet): no board, busy, no permission."""


class LinkLost(Exception):
    """An open port went away: unplugged, board re-enumerated, pty closed."""


class LinkClosed(Exception):
    """The source has ended for good (end of a capture file); no point reconnecting."""


class Link:
    """One open transport. read() returns what is there within `timeout` seconds (maybe b"")."""

    name = "?"

    def read(self, timeout: float) -> bytes:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SerialLink(Link):
    """A serial device through pyserial, 115200 8N1."""

    def __init__(self, port: str, baud: int = BAUD):
        import serial

        self._serial_mod = serial
        s = serial.Serial()
        s.port, s.baudrate, s.timeout = port, baud, 0
        # Leave DTR and RTS released: on ESP32 boards they drive EN and GPIO0 through the
        # auto-reset circuit, and asserting them would reset the board (or hold it in the ROM
        # bootloader) every time the host opens or reopens the port.
        s.dtr = False
        s.rts = False
        try:
            s.open()
            self._s = s
        except (serial.SerialException, OSError) as exc:
            raise LinkError(_open_problem(port, exc)) from None
        self.name = port

    def read(self, timeout: float) -> bytes:
        s = self._s
        try:
            waiting = s.in_waiting
            if not waiting:
                s.timeout = timeout
                first = s.read(1)
                s.timeout = 0
                if not first:
                    return b""
                return first + s.read(s.in_waiting)
            return s.read(waiting)
        except (self._serial_mod.SerialException, OSError, TypeError) as exc:
            # pyserial raises TypeError from in_waiting on some unplugged Linux devices.
            raise LinkLost("%s: %s" % (self.name, exc)) from None

    def write(self, data: bytes) -> None:
        try:
            self._s.write(data)
        except (self._serial_mod.SerialException, OSError) as exc:
            raise LinkLost("%s: %s" % (self.name, exc)) from None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a vanished port may fail; it is gone
            self._s.close()


class PathLink(Link):
    """Any path read with os.read: a pty (put in raw mode), a FIFO or a capture file."""

    def __init__(self, path: str):
        self.name = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.EISDIR, errno.EACCES, errno.EROFS):
                try:
                    self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
                except OSError as exc2:
                    raise LinkError(_open_problem(path, exc2)) from None
            else:
                raise LinkError(_open_problem(path, exc)) from None
        self._regular = stat.S_ISREG(os.fstat(self._fd).st_mode)
        if os.isatty(self._fd):
            import termios
            import tty

            # Canonical mode would echo the board's lines back to it and cut lines at 4 KiB.
            tty.setraw(self._fd, termios.TCSANOW)

    def read(self, timeout: float) -> bytes:
        if not self._regular:
            try:
                ready, _, _ = select.select([self._fd], [], [], timeout)
            except (OSError, ValueError) as exc:
                raise LinkLost("%s: %s" % (self.name, exc)) from None
            if not ready:
                return b""
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return b""
        except OSError as exc:
            # EIO: the pty's other end closed (the board "unplugged").
            raise LinkLost("%s: %s" % (self.name, os.strerror(exc.errno or 0))) from None
        if not data:
            if self._regular:
                raise LinkClosed("%s: end of file" % self.name)
            raise LinkLost("%s: end of stream" % self.name)
        return data

    def write(self, data: bytes) -> None:
        try:
            os.write(self._fd, data)
        except OSError as exc:
            raise LinkLost("%s: %s" % (self.name, exc)) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _open_problem(port: str, exc: BaseException) -> str:
    text = "%s: %s" % (port, getattr(exc, "strerror", None) or exc)
    err = getattr(exc, "errno", None)
    if err == errno.EACCES or "Permission denied" in str(exc):
        text += " (on Linux: add yourself to the 'dialout' group, then log in again)"
    elif err == errno.EBUSY or "busy" in str(exc).lower():
        text += " (another program has the port open: close it, e.g. another monitor)"
    return text


def describe_ports(ports=None) -> list[tuple[str, str]]:
    """(device, label) of likely ESP32 boards, known bridges first, then any USB serial port."""
    if ports is None:
        from serial.tools import list_ports

        ports = list_ports.comports()
    known, other = [], []
    for p in sorted(ports, key=lambda p: p.device):
        if p.vid is None or p.pid is None:
            continue
        label = KNOWN_USB.get((p.vid, p.pid))
        vidpid = "%04x:%04x" % (p.vid, p.pid)
        if label:
            known.append((p.device, "%s %s" % (label, vidpid)))
        else:
            other.append((p.device, "USB %s" % vidpid))
    return known + other


def auto_port(ports=None) -> tuple[str, str]:
    """The port `--port auto` means: (device, label); LinkError when no board is plugged in."""
    found = describe_ports(ports)
    if not found:
        raise LinkError("no board found on USB (looked for CP210x, CH340, CH9102, FTDI, ESP32 USB)")
    return found[0]


def opener(port: str | None) -> Callable[[], Link]:
    """A function that opens `port` afresh each time (auto-detection runs again each time)."""
    if port is None or port == "auto":

        def open_auto() -> Link:
            device, label = auto_port()
            link = SerialLink(device)
            link.name = "%s (%s)" % (device, label)
            return link

        return open_auto
    if port.startswith("file:"):
        path = port[len("file:") :]
        return lambda: PathLink(path)
    return lambda: SerialLink(port)


@dataclass(frozen=True)
class Line:
    """One line from the board: receive time (epoch s and monotonic s), bytes without newline.

    partial: the link went away before the newline came; the bytes are kept as they are.
    """

    host_t: float
    mono: float
    data: bytes
    partial: bool = False


@dataclass(frozen=True)
class Status:
    """Something about the link itself: connected, lost, waiting for the board."""

    host_t: float
    text: str
    connected: bool


class Connection:
    """Lines from a port that may come and go; yields Line and Status items until stopped."""

    def __init__(
        self,
        open_link: Callable[[], Link],
        retry_s: float = RETRY_S,
        poll_s: float = 0.2,
        clock: Callable[[], float] = time.time,
    ):
        self.open_link = open_link
        self.retry_s = retry_s
        self.poll_s = poll_s
        self.clock = clock
        self.link: Link | None = None
        self.reconnects = 0
        self.splitter = LineSplitter()

    def take_partial(self) -> Line | None:
        """The unfinished line in flight when the caller stops (Ctrl-C), if there is one."""
        rest = self.splitter.take_partial()
        if not rest:
            return None
        return Line(self.clock(), time.perf_counter(), rest, partial=True)

    def items(self, stop: Callable[[], bool] = lambda: False) -> Iterator[Line | Status | None]:
        """Yield Line and Status items, and None whenever everything received so far has been
        yielded (after each read, and on idle polls): the moment to redraw or to check a clock."""
        splitter = self.splitter
        last_problem = None
        was_connected = False
        try:
            while not stop():
                if self.link is None:
                    try:
                        self.link = self.open_link()
                    except LinkError as exc:
                        if str(exc) != last_problem:
                            last_problem = str(exc)
                            yield Status(self.clock(), "waiting for the board: %s" % exc, False)
                        time.sleep(self.retry_s)
                        continue
                    last_problem = None
                    verb = "reconnected to" if was_connected else "connected to"
                    if was_connected:
                        self.reconnects += 1
                    was_connected = True
                    yield Status(self.clock(), "%s %s" % (verb, self.link.name), True)
                try:
                    data = self.link.read(self.poll_s)
                except (LinkLost, LinkClosed) as exc:
                    self.link.close()
                    self.link = None
                    rest = splitter.take_partial()
                    now = self.clock()
                    if rest:
                        yield Line(now, time.perf_counter(), rest, partial=True)
                    if isinstance(exc, LinkClosed):
                        yield Status(now, "closed: %s" % exc, False)
                        return
                    yield Status(now, "link lost (%s); reconnecting" % exc, False)
                    continue
                if not data:
                    yield None
                    continue
                now, mono = self.clock(), time.perf_counter()
                for raw in splitter.feed(data):
                    yield Line(now, mono, raw)
                yield None  # caught up with what has arrived: a good moment to redraw
        finally:
            if self.link is not None:
                self.link.close()
                self.link = None


class PtyPort:
    """The board's end of a pseudo-terminal, reachable at a stable path (a symlink).

    A virtual board (or a test) writes device lines here; the host tools read them with
    `--port file:PATH`. unplug() closes the pty as a pulled USB cable would; replug() makes a
    new one and points `path` at it, as a board that re-enumerates under a new name.
    """

    def __init__(self, path: str):
        self.path = path
        self.master: int | None = None
        self._slave: int | None = None
        self.replug()

    def replug(self) -> None:
        import tty

        self.unplug()
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: bytes pass as they are
        tmp = self.path + ".new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.path)
        self.master, self._slave = master, slave

    def write(self, data: bytes) -> None:
        """Write all of `data`, waiting while the reader is behind (a pty has flow control)."""
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def unplug(self) -> None:
        """The cable is out: the pty closes and `path` disappears, like /dev/ttyUSB0 does."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        for fd in (self.master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self._slave = None

    close = unplug
