"""The virtual board's silicon, as the firmware sees it: `machine`, `time`, `sys`, `micropython`.

This file runs INSIDE the MicroPython VM (the official WebAssembly port, driven by board.mjs),
never under CPython. install() puts its objects into sys.modules, where MicroPython's import
looks before its built-in modules, so the unchanged firmware's `import machine`, `import time`
and `import sys` get these. docs/virtual-board.md explains the design.

Time is simulated. The VM keeps the ticks itself (small ints, no host call per tick) and charges
every hardware call a CPU cost, so busy-wait loops advance; sleeps hand the accumulated time to
the JS side, which paces it against the wall clock (--speed), reads the serial line, and fetches
the plant's analog state once per simulated second. Ctrl-C, machine.reset(), a watchdog timeout
and a power loss are delivered as exceptions from those calls, as the chip would deliver them.
"""

import io
import math
import sys as _sys

import _vbhost  # noqa: I001 - registered by board.mjs; not a file

_MASK = (1 << 30) - 1
_HALF = 1 << 29
# Virtual CPU cost of one call, µs (model assumptions: bytecode on a 240 MHz ESP32 runs about a
# few hundred thousand simple operations per second; micropython#7495 reports ~35 µs per raw ADC
# read, and read_uv adds the calibration).
_COST_TICKS_US = 10
_COST_ADC_US = 40
_COST_PIN_US = 5
# A sleep longer than this goes to the JS side in pieces (keeps every number a small int).
_SLEEP_PIECE_US = 5_000_000

# JS sleep() result bits (board.mjs).
_DONE = 0
_INTERRUPTED = 1
_POWER_LOST = 2
_RESET = 3
_NEW_ANALOG = 4


class VirtualReset(BaseException):
    """machine.reset() or a watchdog timeout: the JS side restarts the VM from boot.py."""


class PowerLoss(BaseException):
    """The board lost its supply (a mains outage in the scenario): nothing more runs."""


# --- clock ---------------------------------------------------------------------------------

_t_us = 0  # ticks_us(), wraps at 2**30
_t_ms = 0  # ticks_ms(), wraps at 2**30
_sub = 0  # µs into the current ms
_pending = 0  # µs of CPU time the JS clock has not been told about
_dead = None  # once reset or unpowered, every hardware call raises this again


def _tick(us):
    global _t_us, _t_ms, _sub
    _t_us = (_t_us + us) & _MASK
    s = _sub + us
    if s >= 1000:
        _t_ms = (_t_ms + s // 1000) & _MASK
        s %= 1000
    _sub = s


def _cost(us):
    global _pending
    _tick(us)
    _pending += us


def _check():
    if _dead is not None:
        raise _dead()


def _sync():
    """Tell the JS clock about CPU time spent; act on what it says (Ctrl-C, reset, power)."""
    global _pending
    p = _pending
    _pending = 0
    _after(_vbhost.sleep(p, 0))


def _after(code):
    global _dead
    if code & _NEW_ANALOG:
        _load_analog()
    what = code & 3
    if what in (_DONE, _INTERRUPTED):
        # Ctrl-C: the JS side has scheduled the KeyboardInterrupt, raised at the next bytecode.
        return
    _dead = PowerLoss if what == _POWER_LOST else VirtualReset
    raise _dead()


def sleep_us(us):
    global _pending
    _check()
    us = int(us)
    while us > 0:
        piece = us if us < _SLEEP_PIECE_US else _SLEEP_PIECE_US
        p = _pending
        _pending = 0
        code = _vbhost.sleep(p, piece)
        if code & 3:
            _tick(_vbhost.slept())
            _after(code)
            return
        _tick(piece)
        if code & _NEW_ANALOG:
            _load_analog()
        us -= piece


def _int_arg(x):
    # The ESP32 port's time functions take only ints (mp_obj_get_int): a float raises there, so
    # it must raise here too, or a setting that crashes the board would pass on the virtual one.
    if not isinstance(x, int) or isinstance(x, bool):
        raise TypeError("can't convert %s to int" % type(x).__name__)
    return x


class _Time:
    """`time` / `utime`: the firmware's clock, simulated."""

    def ticks_ms(self):
        _cost(_COST_TICKS_US)
        return _t_ms

    def ticks_us(self):
        _cost(_COST_TICKS_US)
        return _t_us

    def ticks_cpu(self):
        _cost(_COST_TICKS_US)
        return _t_us

    def ticks_add(self, t, delta):
        return (_int_arg(t) + _int_arg(delta)) & _MASK

    def ticks_diff(self, end, start):
        return ((_int_arg(end) - _int_arg(start) + _HALF) & _MASK) - _HALF

    def sleep_ms(self, ms):
        sleep_us(_int_arg(ms) * 1000)

    def sleep_us(self, us):
        sleep_us(_int_arg(us))

    def sleep(self, s):
        sleep_us(int(s * 1000000))

    def time(self):
        # No RTC set and no network: like a fresh ESP32, the epoch (2000-01-01) at power-on.
        return _vbhost.uptime_s()

    def time_ns(self):
        return _vbhost.uptime_s() * 1000000000

    def __getattr__(self, name):
        # gmtime, localtime, mktime: pure arithmetic, the real ones do.
        return getattr(_real["time"], name)


# --- analog front end ----------------------------------------------------------------------

# Pin voltages from the plant, µV: coil and ambient dividers, CT bias and amps rms; loaded from
# the JS side whenever the plant has moved on (once per simulated second at most).
_coil_uv = 0
_amb_uv = 0
_ct_bias_uv = 0
_ct_peak_uv = 0
_ct_period_us = 20000
_supply_uv = 3300000


def _load_analog():
    global _coil_uv, _amb_uv, _ct_bias_uv, _ct_peak_uv, _ct_period_us
    parts = _vbhost.analog().split(",")
    _coil_uv = int(parts[0])
    _amb_uv = int(parts[1])
    _ct_bias_uv = int(parts[2])
    _ct_peak_uv = int(parts[3])
    _ct_period_us = int(parts[4])


_TWO_PI = 2 * math.pi


def _ct_uv():
    # The clamp's burden voltage on its bias, sampled at this instant of the mains cycle.
    if _ct_peak_uv == 0:
        return _ct_bias_uv
    phase = (_t_us % _ct_period_us) * _TWO_PI / _ct_period_us
    v = _ct_bias_uv + int(_ct_peak_uv * math.sin(phase))
    if v < 0:
        return 0
    return v if v < _supply_uv else _supply_uv


_ROLE_NONE = 0
_ROLE_COIL = 1
_ROLE_AMB = 2
_ROLE_CT = 3
_ROLE_RELAY = 4
_ROLE_LED = 5
_ROLE_BUTTON = 6
_roles = {}


def _role(pin_id):
    return _roles.get(pin_id, _ROLE_NONE)


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, pin_id, mode=-1, pull=-1, value=None, **kw):
        _check()
        self.id = pin_id.id if isinstance(pin_id, Pin) else int(pin_id)
        self._mode = mode
        self._pull = pull
        if value is not None:
            self.value(value)

    def init(self, mode=-1, pull=-1, value=None, **kw):
        self._mode = mode
        self._pull = pull
        if value is not None:
            self.value(value)

    def value(self, v=None):
        _check()
        _cost(_COST_PIN_US)
        if v is None:
            return _vbhost.pin_get(self.id)  # the button's level comes from the host side
        _vbhost.pin_set(self.id, 1 if v else 0)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, *a, **kw):
        return None

    def __repr__(self):
        return "Pin(%d)" % self.id


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, atten=None, **kw):
        _check()
        self.id = pin.id if isinstance(pin, Pin) else int(pin)
        self._atten = 0 if atten is None else atten
        self._role = _role(self.id)

    def atten(self, a):
        self._atten = a

    def width(self, w):
        pass

    def init(self, atten=None, **kw):
        if atten is not None:
            self._atten = atten

    def read_uv(self):
        _check()
        _cost(_COST_ADC_US)
        r = self._role
        if r == _ROLE_CT:
            return _ct_uv()
        if r == _ROLE_COIL:
            return _coil_uv
        if r == _ROLE_AMB:
            return _amb_uv
        return 0  # nothing wired: the input sits at 0 V

    def read_u16(self):
        return self.read_uv() * 65535 // _supply_uv

    def read(self):
        return self.read_uv() * 4095 // _supply_uv


class WDT:
    """The hardware watchdog lives on the JS side: it outlives Ctrl-C and soft resets."""

    def __init__(self, id=0, timeout=5000):
        _check()
        _vbhost.wdt_start(int(timeout))

    def feed(self):
        _check()
        _cost(_COST_PIN_US)
        _vbhost.wdt_feed()


class _Machine:
    Pin = Pin
    ADC = ADC
    WDT = WDT
    PWRON_RESET = 1
    HARD_RESET = 2
    WDT_RESET = 3
    DEEPSLEEP_RESET = 4
    SOFT_RESET = 5

    def reset(self):
        global _dead
        _check()
        _vbhost.request_reset()
        _dead = VirtualReset
        raise VirtualReset()

    def soft_reset(self):
        raise SystemExit

    def reset_cause(self):
        return _vbhost.reset_cause()

    def freq(self, f=None):
        return 240000000 if f is None else None

    def unique_id(self):
        return b"\x24\x0a\xc4\x5b\x00\x01"

    def idle(self):
        sleep_us(1000)

    def lightsleep(self, ms=None):
        sleep_us(int(ms or 0) * 1000)

    def disable_irq(self):
        return 0

    def enable_irq(self, state=0):
        pass


# --- serial line (USB-UART bridge) ---------------------------------------------------------


def _cooked(s):
    # The esp32 port's text stdout turns "\n" into "\r\n"; its .buffer writes bytes as they are.
    return s.replace("\r\n", "\n").replace("\n", "\r\n")


class _Stdin(io.IOBase):
    """sys.stdin (and .buffer): bytes from the serial line; pollable with select.poll."""

    def __init__(self, text):
        self._text = text
        self.buffer = self if not text else _Stdin(False)

    def ioctl(self, req, arg):
        if req == 3:  # MP_STREAM_POLL
            _check()
            _cost(_COST_PIN_US)
            return arg & 1 if _vbhost.rx_count() else 0
        return 0

    def _take(self, n):
        while True:
            _check()
            s = _vbhost.rx_take(n)
            if s:
                return bytes([ord(c) for c in s])
            sleep_us(1000)  # a blocking read waits for the line, as on the board

    def readinto(self, buf):
        data = self._take(len(buf))
        buf[: len(data)] = data
        return len(data)

    def read(self, n=1):
        data = self._take(n)
        if not self._text:
            return data
        try:
            return data.decode()
        except UnicodeError:
            return "".join(chr(b) for b in data)

    def readline(self):
        out = b""
        while not out.endswith(b"\n"):
            out += self._take(1)
        return out.decode() if self._text else out

    def write(self, data):
        return 0


class _Stdout(io.IOBase):
    """sys.stdout (text, cooked) and sys.stdout.buffer (bytes as they are)."""

    def __init__(self, text):
        self._text = text
        self.buffer = self if not text else _Stdout(False)

    def write(self, data):
        if _dead is not None:
            raise _dead()
        if isinstance(data, str):
            s = data
        else:
            try:
                s = bytes(data).decode()
            except UnicodeError:
                s = "".join(chr(b) for b in bytes(data))  # no UTF-8: still every byte
        n = len(data)
        if self._text:
            s = _cooked(s)
        _vbhost.tx(s)
        _cost(n * 2)  # µs per byte into the UART FIFO (model assumption)
        return n

    def ioctl(self, req, arg):
        if req == 3:
            return arg & 4  # always writable: the bridge drains at the baud rate
        return 0

    def flush(self):
        pass


class _Implementation:
    def __init__(self, real):
        self.name = real.name
        self.version = real.version
        self._mpy = getattr(real, "_mpy", 0)
        self._machine = "splitguard virtual board with ESP32 (MicroPython WebAssembly)"


class _Sys:
    """`sys` with the board's serial line as stdin/stdout; everything else is the real sys."""

    def __init__(self):
        self.stdin = _Stdin(True)
        self.stdout = _Stdout(True)
        self.stderr = self.stdout
        self.platform = "esp32"
        self.implementation = _Implementation(_sys.implementation)

    def __getattr__(self, name):
        return getattr(_sys, name)


_real = {}  # the VM's own modules the shims stand in front of


class _Micropython:
    """`micropython` with kbd_intr() wired to the virtual serial line."""

    def kbd_intr(self, ch):
        _vbhost.kbd_intr(int(ch))

    def __getattr__(self, name):
        return getattr(_real["micropython"], name)


# --- flash file system ---------------------------------------------------------------------

# The WebAssembly port's VfsPosix raises Emscripten's errno numbers (ENOENT is 44 there), while
# its own `errno` module and every real board use MicroPython's (ENOENT 2), and so does mpremote.
# _Flash translates them; install() learns the Emscripten numbers by provoking each error.
_ERRNO_MAP = {}
# errno values of the ESP32 port (newlib, the same as Linux for these).
_BOARD_ERRNO = {"ENOENT": 2, "EEXIST": 17, "EISDIR": 21, "ENOTDIR": 20, "ENOTEMPTY": 39}


def _learn_errnos(os):
    os.mkdir("/rom/e")
    os.mkdir("/rom/e/d")
    with open("/rom/e/f", "w"):
        pass
    probes = (
        ("ENOENT", lambda: os.stat("/rom/e/none")),
        ("EEXIST", lambda: os.mkdir("/rom/e/d")),
        ("EISDIR", lambda: open("/rom/e/d", "w")),  # noqa: SIM115 - it must fail
        ("ENOTDIR", lambda: os.listdir("/rom/e/f")),
        ("ENOTEMPTY", lambda: os.rmdir("/rom/e")),
    )
    for name, probe in probes:
        try:
            probe()
        except OSError as exc:
            _ERRNO_MAP[exc.errno] = _BOARD_ERRNO[name]


def _oserror(exc):
    return OSError(_ERRNO_MAP.get(exc.errno, exc.errno))


class _Flash:
    """The board's flash: a VfsPosix on /flash whose errors carry the board's errno numbers."""

    def __init__(self, vfs):
        self.vfs = vfs

    def _call(self, name, *args):
        try:
            return getattr(self.vfs, name)(*args)
        except OSError as exc:
            raise _oserror(exc) from None

    def mount(self, readonly, mkfs):
        return self._call("mount", readonly, mkfs)

    def umount(self):
        return self._call("umount")

    def ilistdir(self, path):
        out = []
        for entry in self._call("ilistdir", path):
            name, kind = entry[0], entry[1]
            size = 0
            if kind == 0x8000:
                full = path.rstrip("/") + "/" + name
                size = self._call("stat", full)[6]
            out.append((name, kind, 0, size))
        return iter(out)

    def chdir(self, path):
        return self._call("chdir", path)

    def getcwd(self):
        return self._call("getcwd")

    def mkdir(self, path):
        return self._call("mkdir", path)

    def remove(self, path):
        return self._call("remove", path)

    def rename(self, old, new):
        return self._call("rename", old, new)

    def rmdir(self, path):
        return self._call("rmdir", path)

    def stat(self, path):
        return self._call("stat", path)

    def statvfs(self, path):
        return self._call("statvfs", path)

    def open(self, path, mode):
        return self._call("open", path, mode)


def mount_flash():
    """Make /flash (Emscripten FS) the board's root, as the ESP32's flash file system is."""
    import os

    _learn_errnos(os)
    os.umount("/")
    os.mount(_Flash(os.VfsPosix("/flash")), "/")
    os.chdir("/")


def install(roles):
    """Put the virtual modules in place; `roles` maps GPIO -> role name (from board.mjs)."""
    global _t_us, _t_ms, _sub, _supply_uv
    import time

    import micropython

    _real["time"] = time
    _real["micropython"] = micropython

    names = {
        "coil": _ROLE_COIL,
        "ambient": _ROLE_AMB,
        "ct": _ROLE_CT,
        "relay": _ROLE_RELAY,
        "led": _ROLE_LED,
        "button": _ROLE_BUTTON,
    }
    for pin, role in roles.items():
        _roles[int(pin)] = names.get(role, _ROLE_NONE)
    _supply_uv = int(_vbhost.supply_uv())
    _t_us = _vbhost.ticks_us()
    _t_ms = _vbhost.ticks_ms()
    _sub = _t_us % 1000
    _load_analog()
    t = _Time()
    mods = _sys.modules
    mods["time"] = t
    mods["utime"] = t
    mods["machine"] = _Machine()
    mods["sys"] = _Sys()
    mods["micropython"] = _Micropython()
