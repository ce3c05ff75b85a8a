"""A fake `machine` module for host tests (CPython and the MicroPython VM).

It mirrors the ESP32 port's API closely enough for the HAL: ADC with read_uv()/read_u16() and
atten(), Pin with value() and the ESP32 constants, and WDT with feed(). Tests set what the pins
read and inspect what was written.

Every Pin and WDT made is also recorded (made_pins(), made_wdts()) so a test can inspect hardware
that code under test created but did not hand back, e.g. after its constructor raised.
"""

_made_pins = []
_made_wdts = []


def made_pins(pin_id=None):
    """Pins constructed so far, oldest first; only those for GPIO `pin_id` when given."""
    return [p for p in _made_pins if pin_id is None or p.id == pin_id]


def made_wdts():
    """WDTs constructed so far, oldest first."""
    return list(_made_wdts)


def forget_made():
    """Clear the records of made Pins and WDTs (call at the start of a test)."""
    del _made_pins[:]
    del _made_wdts[:]


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1

    def __init__(self, pin_id, mode=-1, pull=-1, value=None):
        self.id = pin_id
        self.mode = mode
        self.pull = pull
        self._value = 0 if value is None else int(bool(value))
        # The level given at construction (None if none): a pin made with value= never glitches.
        self.init_value = value
        # Level changes written, oldest first (the last 64): every write would fill a small
        # MicroPython heap within minutes of a simulated day (the LED is written every 50 ms).
        self.writes = []
        _made_pins.append(self)

    def value(self, v=None):
        if v is None:
            return self._value
        v = int(bool(v))
        if v != self._value:
            if len(self.writes) >= 64:
                self.writes.pop(0)
            self.writes.append(v)
        self._value = v
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, atten=None):
        self.pin = pin
        self.atten_value = atten
        # A queue of µV values to return; when empty, the last one repeats.
        self.uv_queue = []
        self.uv = 0
        self.reads = 0

    def atten(self, value):
        self.atten_value = value

    def read_uv(self):
        self.reads += 1
        if self.uv_queue:
            self.uv = self.uv_queue.pop(0)
        return self.uv

    def read_u16(self):
        # 3.3 V full scale is close enough for a fake; the HAL uses read_uv().
        return min(65535, self.read_uv() * 65535 // 3300000)


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.id = id
        self.timeout = timeout
        self.feeds = 0
        _made_wdts.append(self)

    def feed(self):
        self.feeds += 1


_reset_cause = [1]
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


def reset_cause():
    return _reset_cause[0]


def set_reset_cause(cause):
    """Make reset_cause() return `cause` (one of the *_RESET constants)."""
    _reset_cause[0] = cause


def reset():
    raise SystemExit("machine.reset()")


def unique_id():
    return b"\x24\x0a\xc4\x00\x00\x01"
