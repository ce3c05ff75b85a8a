"""Thermistor voltage divider on an ESP32 ADC pin: pin µV <-> thermistor ohms, rails as faults.

One stage of the measurement chain (ADC -> ohms -> °C): it knows the divider's supply, fixed
resistor and which side the thermistor is on, and the attenuation's usable window. A pin voltage
at or beyond either end of that window is not a resistance but an open or shorted sensor: the
result is NaN and `last_fault` names the cause (states.FAULT_OPEN / FAULT_SHORT), so a fault flows
through the chain as data instead of an exception.
"""

from splitguard import states
from splitguard.compat import NAN, const

SIDE_HIGH = "high"  # thermistor between supply and pin, fixed resistor to ground
SIDE_LOW = "low"  # fixed resistor from supply to pin, thermistor to ground
SIDES = (SIDE_HIGH, SIDE_LOW)

# Usable ("measurable input voltage") range of the original ESP32's ADC per attenuation, mV:
# (attenuation dB, min, max). ESP-IDF v4.4 ADC documentation, copied in
# shared/reference/esp32_adc_attenuation_ranges.csv (S-CT15). Inside it the factory-calibrated
# read_uv() is trustworthy; outside it the reading saturates or bends, so it is no measurement.
ATTENUATION_WINDOWS_MV = (
    (0, 100, 950),
    (2.5, 100, 1250),
    (6, 150, 1750),
    (11, 150, 2450),
)
ATTENUATIONS_DB = (0, 2.5, 6, 11)

# How far inside the documented window the fault thresholds sit. 0: the window's own ends are the
# rails, so a reading 1 µV inside an end is still a measurement and one at the end is a fault.
# A positive margin trades measurable range for distance from the bend at the window's ends.
RAIL_MARGIN_UV = const(0)

# read_ohms sums µV readings as ints; 256 × 3.3 V in µV stays below 2**30, so the sum stays a
# MicroPython small int (no heap allocation) on a 32-bit port.
MAX_AVERAGE_N = const(256)


def attenuation_window_uv(atten_db):
    """(low_uv, high_uv) of the usable window for ESP32 attenuation `atten_db` (0, 2.5, 6, 11)."""
    for db, lo_mv, hi_mv in ATTENUATION_WINDOWS_MV:
        if atten_db == db:
            return lo_mv * 1000, hi_mv * 1000
    raise ValueError(
        "unknown ADC attenuation %r dB; allowed: %s"
        % (atten_db, ", ".join(str(db) for db in ATTENUATIONS_DB))
    )


class Divider:
    """A two-resistor divider with a thermistor on one side, read between fault rails."""

    def __init__(self, supply_uv, fixed_ohm, thermistor_side, low_rail_uv, high_rail_uv):
        if thermistor_side not in SIDES:
            raise ValueError(
                "thermistor_side must be one of %s, not %r" % (", ".join(SIDES), thermistor_side)
            )
        if fixed_ohm <= 0:
            raise ValueError("fixed_ohm must be positive, not %r" % (fixed_ohm,))
        if not 0 <= low_rail_uv < high_rail_uv:
            raise ValueError(
                "rails must satisfy 0 <= low < high: %r, %r" % (low_rail_uv, high_rail_uv)
            )
        # An open or shorted sensor drives the pin to the supply; if that is inside the window the
        # fault would read as a plausible resistance.
        if supply_uv <= high_rail_uv:
            raise ValueError(
                "supply %d uV must exceed the high rail %d uV so a faulted sensor reaches it"
                % (supply_uv, high_rail_uv)
            )
        self.supply_uv = supply_uv
        self.fixed_ohm = fixed_ohm
        self.side = thermistor_side
        self.low_rail_uv = low_rail_uv
        self.high_rail_uv = high_rail_uv
        # Which fault each rail means: an open low-side thermistor lets the fixed resistor pull
        # the pin to the supply; an open high-side one lets it fall to ground.
        if thermistor_side == SIDE_LOW:
            self._low_fault, self._high_fault = states.FAULT_SHORT, states.FAULT_OPEN
        else:
            self._low_fault, self._high_fault = states.FAULT_OPEN, states.FAULT_SHORT
        self.last_fault = None
        self.last_rail_hits = 0

    @classmethod
    def for_attenuation(cls, atten_db, supply_uv, fixed_ohm, side, margin_uv=RAIL_MARGIN_UV):
        """A Divider railed at the ESP32 usable window for `atten_db`, moved `margin_uv` inward."""
        lo, hi = attenuation_window_uv(atten_db)
        lo += margin_uv
        hi -= margin_uv
        if lo >= hi:
            raise ValueError("margin %d uV leaves no window at %r dB" % (margin_uv, atten_db))
        return cls(supply_uv, fixed_ohm, side, lo, hi)

    def classify(self, pin_uv):
        """None for a reading inside the window, else the fault its rail means (states.FAULT_*)."""
        if pin_uv <= self.low_rail_uv:
            return self._low_fault
        if pin_uv >= self.high_rail_uv:
            return self._high_fault
        return None

    def ohms(self, pin_uv):
        """Thermistor ohms for one pin reading; NaN at a rail, with the cause in `last_fault`."""
        fault = self.classify(pin_uv)
        self.last_fault = fault
        if fault is not None:
            return NAN
        return self._ohms(pin_uv)

    def _ohms(self, pin_uv):
        # The constructor keeps 0 < pin_uv < supply_uv here, so neither denominator is zero.
        if self.side == SIDE_LOW:
            return self.fixed_ohm * pin_uv / (self.supply_uv - pin_uv)
        return self.fixed_ohm * (self.supply_uv - pin_uv) / pin_uv

    def pin_uv(self, ohms):
        """Pin µV (int) for a thermistor of `ohms` (inf = open, 0 = short); for simulators."""
        if not ohms >= 0:  # also rejects NaN
            raise ValueError("ohms must be >= 0, not %r" % (ohms,))
        if ohms == float("inf"):
            return self.supply_uv if self.side == SIDE_LOW else 0
        if self.side == SIDE_LOW:
            v = self.supply_uv * ohms / (ohms + self.fixed_ohm)
        else:
            v = self.supply_uv * self.fixed_ohm / (ohms + self.fixed_ohm)
        return int(v + 0.5)

    def ohm_range(self):
        """(min_ohm, max_ohm) this divider can measure between its rails; for checking a board."""
        hi = self._ohms(self.high_rail_uv)
        if self.low_rail_uv == 0:  # a rail at 0 V: no short-side limit
            lo = 0.0 if self.side == SIDE_LOW else float("inf")
        else:
            lo = self._ohms(self.low_rail_uv)
        return (lo, hi) if lo < hi else (hi, lo)

    def read_ohms(self, read_uv, n):
        """Average `n` calls of `read_uv()` (ints, µV) and convert once; NaN + last_fault on fault.

        Samples at a rail are counted, not averaged: if more than half of the n are at a rail the
        result is that rail's fault (the rail with more hits; a tie is FAULT_OPEN, since a loose
        connection that flips between both is an open circuit); otherwise the mean of the in-window
        samples alone is converted, so one spike to a rail neither biases the mean nor faults.
        `last_rail_hits` keeps the count for diagnostics.
        """
        if not 0 < n <= MAX_AVERAGE_N:
            raise ValueError("n must be 1..%d, not %r" % (MAX_AVERAGE_N, n))
        lo = self.low_rail_uv
        hi = self.high_rail_uv
        total = 0
        low_hits = 0
        high_hits = 0
        for _ in range(n):
            v = read_uv()
            if v <= lo:
                low_hits += 1
            elif v >= hi:
                high_hits += 1
            else:
                total += v
        hits = low_hits + high_hits
        self.last_rail_hits = hits
        if 2 * hits > n:
            if low_hits > high_hits:
                self.last_fault = self._low_fault
            elif high_hits > low_hits:
                self.last_fault = self._high_fault
            else:
                self.last_fault = states.FAULT_OPEN
            return NAN
        self.last_fault = None
        return self._ohms(total / (n - hits))
