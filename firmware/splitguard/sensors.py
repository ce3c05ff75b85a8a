"""The measurement chain: ADC µV → divider ohms → thermistor °C, and CT window → amps.

Each stage is a small object with one job (divider.py, thermistor.py, ct_clamp.py); this module
only wires them together and fills a Reading in place. A fault anywhere becomes NaN plus a named
cause on the Reading — the supervisor never sees a made-up number.
"""

from array import array

from splitguard import states
from splitguard.compat import NAN, const, isnan
from splitguard.ct_clamp import CTClamp, fill, samples_for_cycles
from splitguard.thermistor import Thermistor

# 16 reads average out the ESP32 ADC's few-LSB noise at a cost of about 1 ms per sensor.
DEFAULT_AVERAGES = const(16)
# 2 kS/s paced sampling (500 µs: read_uv() costs tens of µs on the ESP32, room to pace exactly)
# over a whole number of mains cycles: 4 cycles = 160 samples at 50 Hz; at 60 Hz a cycle is
# 33.3 samples, so 3 cycles = exactly 100 (4 would be 133.3, a 0.13 % RMS error floor).
CT_SAMPLE_RATE_HZ = const(2000)
CT_CYCLES = const(4)


def ct_cycles(mains_hz):
    """The most cycles (4 down to 1) that span a whole number of samples at CT_SAMPLE_RATE_HZ."""
    for cycles in (4, 3, 2, 1):
        if cycles * CT_SAMPLE_RATE_HZ % mains_hz == 0:
            return cycles
    return CT_CYCLES


class Sensors:
    """Reads coil, ambient and supply current into a Reading, with causes for any fault."""

    def __init__(
        self,
        coil_read_uv,
        ambient_read_uv,
        ct_read_uv,
        coil_divider,
        ambient_divider,
        coil_model,
        ambient_model,
        clamp,
        mains_hz=50,
        averages=DEFAULT_AVERAGES,
        ticks_us=None,
    ):
        self.coil_read_uv = coil_read_uv
        self.ambient_read_uv = ambient_read_uv
        self.ct_read_uv = ct_read_uv
        self.coil_divider = coil_divider
        self.ambient_divider = ambient_divider
        self.coil_model = coil_model
        self.ambient_model = ambient_model
        self.clamp = clamp
        self.averages = averages
        n = samples_for_cycles(mains_hz, ct_cycles(mains_hz), CT_SAMPLE_RATE_HZ)
        # Allocated once; every period refills it in place.
        self.ct_samples = array("i", [0] * n)
        self._ct_period_us = (1000000 // CT_SAMPLE_RATE_HZ) if ticks_us is not None else 0
        self._ticks_us = ticks_us

    @classmethod
    def from_config(cls, hal, device, ticks_us=None):
        """Build the chain from an Esp32Hal-like object and a validated device config."""
        return cls(
            hal.coil_read_uv,
            hal.ambient_read_uv,
            hal.ct_read_uv,
            hal.coil_divider,
            hal.ambient_divider,
            Thermistor.from_spec(device["coil_thermistor"]),
            Thermistor.from_spec(device["ambient_thermistor"]),
            CTClamp.from_spec(device["ct"]),
            mains_hz=device["mains_hz"],
            ticks_us=ticks_us,
        )

    def _celsius(self, divider, read_uv, model):
        ohms = divider.read_ohms(read_uv, self.averages)
        if isnan(ohms):
            return NAN, divider.last_fault
        c = model.celsius(ohms)
        if isnan(c):
            return NAN, states.FAULT_RANGE
        return c, None

    def read(self, reading):
        """Measure everything once and overwrite `reading`; returns it."""
        coil_c, coil_fault = self._celsius(self.coil_divider, self.coil_read_uv, self.coil_model)
        amb_c, amb_fault = self._celsius(
            self.ambient_divider, self.ambient_read_uv, self.ambient_model
        )
        fill(self.ct_samples, self.ct_read_uv, self._ct_period_us, self._ticks_us)
        amps = self.clamp.amps_rms(self.ct_samples)
        return reading.set(coil_c, amb_c, amps, coil_fault, amb_fault, self.clamp.last_fault)
