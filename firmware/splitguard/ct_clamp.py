"""CT clamp: ADC pin voltages (µV) over whole mains cycles -> supply amps rms, or NaN and a fault.

The clamp's AC output rides on a DC bias (a divider at about mid-rail) that drifts with the
supply and temperature, so every window removes its own mean. The statistics are streaming
(count, Σd, Σd²) in small ints, so the board never holds more than the buffer it chose and the
per-sample path allocates nothing (proven under micropython.heap_lock() in the tests).

Published numbers (YHDC SCT-013 series datasheet, Beijing YaoHuadechang Electronic Co.):
SCT-013-000 is a current-output CT, 100 A : 50 mA, i.e. 2000 turns, with no burden inside;
SCT-013-030 is a voltage-output CT, 30 A : 1 V rms, burden inside. The conversion is the same
one EmonLib (openenergymonitor) uses: amps = V_rms x turns / burden for a current-output CT.

Realistic sampling on the board: micropython/micropython#7495 reports ~35 µs per ADC.read()
(~28.5 k reads/s) from a viper loop with IRQs off; read_uv() adds the eFuse calibration per read
and plain bytecode is slower, so 10-20 k reads/s is the ceiling to expect, not measured here.
A paced 2 kS/s (period 500 µs) leaves ample slack; sensors.py takes whole cycles: 4 at 50 Hz
(160 samples), 3 at 60 Hz (100 samples, since 4 would end a third of a sample short).
"""

import math

from splitguard import states
from splitguard.compat import NAN, const

# ESP32 usable input range at 11 dB attenuation, ESP-IDF v4.4 ADC docs (S-CT15): a sample at or
# beyond these is clipped (read_uv() is not linear past them), not a measurement.
RAIL_LOW_UV = const(150_000)
RAIL_HIGH_UV = const(2_450_000)

# A plausible bias: the 10 k + 10 k divider on 3V3 sits at 1.65 V; resistor tolerance and rail
# sag move it by tens of mV. A window mean outside this band is a missing or broken bias network
# (e.g. CT unplugged with the divider absent: the pin floats to ~0 V). Our choice, not published.
BIAS_MIN_UV = const(1_000_000)
BIAS_MAX_UV = const(2_300_000)

# Small ints are 31-bit signed on the ESP32 (and the test VM): |v| < 2**30. Samples are shifted
# by the window's first sample and scaled down to units of 2**k µV so |d| <= _MAX_D and d*d fits
# below 2**29; the running sums carry into a second small int at _CARRY, so nothing becomes a
# heap-allocated long int inside add().
_CARRY = const(1 << 29)
_MAX_D = const(23170)  # floor(sqrt(2**29))

# ticks_us() wraps at 2**30 like ticks_ms() (splitguard.clock).
_TICKS_MAX = const((1 << 30) - 1)
_TICKS_HALF = const(1 << 29)


class RmsWindow:
    """Mean and RMS of one window of µV samples, fed one int at a time without allocating.

    Samples at or beyond the rails are counted (clipped_low/clipped_high) and clamped to the
    rail. The sums are exact ints; the only float work is in mean_uv()/rms_uv(), after the window.
    """

    def __init__(self, low_uv=RAIL_LOW_UV, high_uv=RAIL_HIGH_UV):
        low_uv = int(low_uv)
        high_uv = int(high_uv)
        if low_uv < 0:
            raise ValueError("'low_uv' must be non-negative, got %d" % low_uv)
        if high_uv <= low_uv:
            raise ValueError("'high_uv' must be above 'low_uv', got %d <= %d" % (high_uv, low_uv))
        shift = 0
        # The rounding below can add one unit, hence the +1.
        while ((high_uv - low_uv) >> shift) + 1 > _MAX_D:
            shift += 1
        self.low_uv = low_uv
        self.high_uv = high_uv
        self._shift = shift
        self._half = (1 << shift) >> 1
        self.unit_uv = 1 << shift  # 128 µV for the 11 dB rails: far below the ~0.8 mV ADC step
        self.reset()

    def reset(self):
        """Start a new window (own mean, own clip counts)."""
        self.count = 0
        self.clipped_low = 0
        self.clipped_high = 0
        self._offset = 0
        self._s = 0
        self._s_hi = 0
        self._q = 0
        self._q_hi = 0

    def add(self, uv):
        """Accumulate one sample (an int, µV). Int-only: allocates nothing."""
        if uv <= self.low_uv:
            self.clipped_low += 1
            uv = self.low_uv
        elif uv >= self.high_uv:
            self.clipped_high += 1
            uv = self.high_uv
        n = self.count
        if n == 0:
            # Shifted data: with the first sample as provisional offset the sums stay near the
            # signal's own size instead of the 1.65 V bias's.
            self._offset = uv
        self.count = n + 1
        d = (uv - self._offset + self._half) >> self._shift
        s = self._s + d
        if s >= _CARRY:
            s -= _CARRY
            self._s_hi += 1
        elif s <= -_CARRY:
            s += _CARRY
            self._s_hi -= 1
        self._s = s
        q = self._q + d * d
        if q >= _CARRY:
            q -= _CARRY
            self._q_hi += 1
        self._q = q

    def clipped(self):
        """Samples in this window at or beyond either rail."""
        return self.clipped_low + self.clipped_high

    def mean_uv(self):
        """Window mean in µV (the bias); NaN for an empty window."""
        n = self.count
        if n == 0:
            return NAN
        s = self._s_hi * _CARRY + self._s
        return self._offset + s * self.unit_uv / n

    def rms_uv(self):
        """RMS in µV with the window's own mean removed; NaN for an empty window."""
        n = self.count
        if n == 0:
            return NAN
        s = self._s_hi * _CARRY + self._s
        q = self._q_hi * _CARRY + self._q
        # n²·variance exactly, in ints (long ints are fine here, once per window): a 32-bit
        # float then only has to take one square root, never subtract two large sums.
        num = n * q - s * s
        if num <= 0:
            return 0.0
        return math.sqrt(num) * self.unit_uv / n


def samples_for_cycles(mains_hz, cycles, sample_rate_hz):
    """Samples spanning `cycles` mains periods at `sample_rate_hz`, rounded to the nearest int."""
    for name, value in (
        ("mains_hz", mains_hz),
        ("cycles", cycles),
        ("sample_rate_hz", sample_rate_hz),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError("%s must be a positive int, got %r" % (name, value))
    return (cycles * sample_rate_hz + mains_hz // 2) // mains_hz


def fill(buf, read_uv, period_us=0, ticks_us=None):
    """Fill every slot of a preallocated buf with read_uv(); returns len(buf). Allocates nothing.

    With 0 < period_us < 2**29, one read every period_us µs on the ticks_us() clock (busy-wait),
    so samples_for_cycles() gives a whole number of cycles; otherwise reads back to back.
    """
    n = len(buf)
    if period_us <= 0:
        for i in range(n):
            buf[i] = read_uv()
        return n
    # Tick arithmetic inline, not clock.ticks_diff/ticks_add: every intermediate here stays a
    # small int (|x| < 2**30), where `t + delta` near the wrap or `- 2**30` would build a long int.
    back = _TICKS_MAX - period_us + 1  # adding period_us == subtracting this, modulo 2**30
    deadline = ticks_us()
    for i in range(n):
        while (ticks_us() - deadline) & _TICKS_MAX >= _TICKS_HALF:  # still before the deadline
            pass
        buf[i] = read_uv()
        deadline = (deadline - back) & _TICKS_MAX
    return n


def _positive(spec, field, allow_zero=False):
    value = spec.get(field)
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not (value > 0 or (allow_zero and value == 0))
    ):
        what = "non-negative" if allow_zero else "positive"
        raise ValueError("ct spec: %r must be a %s number, got %r" % (field, what, value))
    return value


_RAIL_FIELDS = ("low_uv", "high_uv", "bias_min_uv", "bias_max_uv")
_SPEC_FIELDS = {
    "current": ("type", "turns", "burden_ohm") + _RAIL_FIELDS,
    "voltage": ("type", "rated_amps", "rated_volts") + _RAIL_FIELDS,
}


class CTClamp:
    """One CT clamp on one ADC pin: µV samples of whole mains cycles -> amps rms.

    A faulted window reads NaN and sets last_fault to states.FAULT_CT_BIAS (window mean at no
    plausible bias) or states.FAULT_CLIPPED (a sample at a rail: the RMS would under-read);
    a good window sets last_fault to None.
    """

    def __init__(
        self,
        amps_per_uv,
        low_uv=RAIL_LOW_UV,
        high_uv=RAIL_HIGH_UV,
        bias_min_uv=BIAS_MIN_UV,
        bias_max_uv=BIAS_MAX_UV,
    ):
        if not amps_per_uv > 0:
            raise ValueError("amps_per_uv must be positive, got %r" % (amps_per_uv,))
        if not bias_min_uv < bias_max_uv:
            raise ValueError(
                "'bias_min_uv' must be below 'bias_max_uv', got %r >= %r"
                % (bias_min_uv, bias_max_uv)
            )
        self.amps_per_uv = amps_per_uv
        self.bias_min_uv = bias_min_uv
        self.bias_max_uv = bias_max_uv
        self.window = RmsWindow(low_uv, high_uv)
        self.last_fault = None
        self.last_mean_uv = NAN

    @classmethod
    def current_output(cls, turns, burden_ohm, **rails):
        """Current-output CT (SCT-013-000: 2000 turns) with an external burden resistor."""
        spec = {"turns": turns, "burden_ohm": burden_ohm}
        turns = _positive(spec, "turns")
        burden_ohm = _positive(spec, "burden_ohm")
        # Secondary amps = V / burden; primary = secondary x turns (one primary pass).
        return cls(turns / (burden_ohm * 1e6), **rails)

    @classmethod
    def voltage_output(cls, rated_amps, rated_volts, **rails):
        """Voltage-output CT with the burden inside (SCT-013-030: 30 A per 1 V rms)."""
        spec = {"rated_amps": rated_amps, "rated_volts": rated_volts}
        rated_amps = _positive(spec, "rated_amps")
        rated_volts = _positive(spec, "rated_volts")
        return cls(rated_amps / (rated_volts * 1e6), **rails)

    @classmethod
    def from_spec(cls, spec):
        """Build from a config dict; ValueError naming the bad field."""
        if not isinstance(spec, dict):
            raise ValueError("ct spec: must be a dict, got %r" % (spec,))
        kind = spec.get("type")
        if kind not in _SPEC_FIELDS:
            raise ValueError("ct spec: 'type' must be 'current' or 'voltage', got %r" % (kind,))
        allowed = _SPEC_FIELDS[kind]
        for field in spec:
            if field not in allowed:
                raise ValueError("ct spec: unknown field %r for type %r" % (field, kind))
        rails = {}
        for field in _RAIL_FIELDS:
            if field in spec:
                rails[field] = int(_positive(spec, field, True))
        if kind == "current":
            return cls.current_output(
                _positive(spec, "turns"), _positive(spec, "burden_ohm"), **rails
            )
        return cls.voltage_output(
            _positive(spec, "rated_amps"), _positive(spec, "rated_volts"), **rails
        )

    def amps_from(self, window):
        """Amps rms of a finished window, or NaN with last_fault set (see the class doc)."""
        if window.count == 0:
            raise ValueError("empty CT window")
        mean = window.mean_uv()
        self.last_mean_uv = mean
        # Bias first: with no bias the pin sits at a rail, so "clipped" would hide the cause.
        if not self.bias_min_uv <= mean <= self.bias_max_uv:
            self.last_fault = states.FAULT_CT_BIAS
            return NAN
        if window.clipped():
            self.last_fault = states.FAULT_CLIPPED
            return NAN
        self.last_fault = None
        return window.rms_uv() * self.amps_per_uv

    def amps_rms(self, samples_uv):
        """Amps rms of µV samples over whole mains cycles, or NaN with last_fault set."""
        window = self.window
        window.reset()
        for uv in samples_uv:
            window.add(uv)
        return self.amps_from(window)
