"""A fake `machine` module for host tests (CPython and the MicroPython VM).

It mirrors the ESP32 port's API closely enough for the HAL: ADC with read_uv()/read_u16() and
atten(), Pin with value() and the ESP32 constants, and WDT with feed(). Tests set what the pins
read and inspect what was written.
"""


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
        self.writes = []

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = int(bool(v))
        self.writes.append(self._value)
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
        self.timeout = timeout
        self.feeds = 0

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


def reset():
    raise SystemExit("machine.reset()")


def unique_id():
    return b"\x24\x0a\xc4\x00\x00\x01"
