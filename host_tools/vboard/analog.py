"""What the virtual board's ADC pins see: the plant's temperatures and current as pin voltages.

The plant (host_tools.plant) gives °C and amps, with its own sensor noise and injected sensor
faults. Here they go through the hardware a real board has: a "true" NTC curve (a datasheet table,
not the firmware's model of it), the board file's divider, and the CT clamp's burden on its
mid-rail bias. The result is five integers for the VM: coil µV, ambient µV, CT bias µV, CT peak
µV and the mains period in µs; hw.py samples the sine itself at its own simulated time.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from splitguard import states
from splitguard.divider import Divider
from splitguard.reading import Reading

REPO = Path(__file__).resolve().parents[2]
# The part the virtual board has fitted: Vishay NTCLE100E3103JB0, 10 kΩ, B25/85 = 3977 K
# (datasheet table in tests/data; docs/measurement.md). firmware/config.json models its probe as
# β = 3950 K, so the board's own readings differ from the plant's truth by a fraction of a kelvin,
# as they would on a real install with a generic β.
DEFAULT_THERMISTOR = REPO / "tests" / "data" / "ntc_vishay_ntcle100e3103jb0.csv"


def read_table(path: Path) -> list[tuple[float, float]]:
    """(°C, Ω) rows of a datasheet R–T table CSV (comment lines start with #), coldest first."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for row in csv.reader(line for line in f if not line.lstrip().startswith("#")):
            if len(row) < 2:
                continue
            try:
                rows.append((float(row[0]), float(row[1])))
            except ValueError:
                continue  # a header
    rows.sort()
    if len(rows) < 2:
        raise ValueError("%s: not an R-T table" % path)
    return rows


class TrueNtc:
    """Resistance of a real thermistor at a temperature: ln R linear in 1/T between table rows."""

    def __init__(self, rows: list[tuple[float, float]]):
        self.inv_t = [1.0 / (t + 273.15) for t, _ in rows]
        self.ln_r = [math.log(r) for _, r in rows]

    def ohms(self, t_c: float) -> float:
        x = 1.0 / (t_c + 273.15)
        xs, ys = self.inv_t, self.ln_r  # xs falls as the temperature rises
        i = 0
        while i < len(xs) - 2 and x < xs[i + 1]:
            i += 1
        f = (x - xs[i]) / (xs[i + 1] - xs[i])
        return math.exp(ys[i] + (ys[i + 1] - ys[i]) * f)


class AnalogFrontEnd:
    """Plant state → the VM's analog text, through one board file's wiring."""

    def __init__(
        self,
        board: dict,
        thermistor: Path = DEFAULT_THERMISTOR,
        ct_turns: float = 2000.0,
        ct_burden_ohm: float = 33.0,
        mains_hz: float = 50.0,
    ):
        div = board["divider"]
        supply_uv = int(round(div["supply_v"] * 1e6))
        self.supply_uv = supply_uv
        self.divider = Divider.for_attenuation(
            board["adc_atten_db"], supply_uv, div["fixed_ohm"], div["thermistor_side"]
        )
        self.ntc = TrueNtc(read_table(thermistor))
        bias = board.get("ct_bias") or {"supply_v": div["supply_v"]}
        # Two equal resistors across the supply: the bias sits at half of it.
        self.ct_bias_uv = int(round(bias["supply_v"] * 1e6 / 2))
        # SCT-013-000: 100 A : 50 mA = 2000 turns, into 33 Ω: 16.5 mV rms per A.
        self.uv_per_amp_rms = ct_burden_ohm / ct_turns * 1e6
        self.period_us = int(round(1e6 / mains_hz))
        self.reading = Reading()

    def _pin_uv(self, t_c: float, fault: str | None) -> int:
        if fault == states.FAULT_OPEN:
            return self.divider.pin_uv(float("inf"))
        if fault == states.FAULT_SHORT:
            return self.divider.pin_uv(0.0)
        if fault is not None:
            # Any other cause: a resistance far outside every curve (a wrong part, a leak).
            return self.divider.pin_uv(50e6)
        return self.divider.pin_uv(self.ntc.ohms(t_c))

    def text(self, plant) -> str:
        """The five numbers the VM wants, for the plant as it is now (one sense() per call)."""
        r = plant.sense(self.reading)
        coil = self._pin_uv(r.coil_c, r.coil_fault)
        amb = self._pin_uv(r.ambient_c, r.ambient_fault)
        bias = self.ct_bias_uv
        if r.ct_fault == states.FAULT_CT_BIAS:
            bias, peak = 0, 0  # bias network open: the pin sits at 0 V
        elif r.ct_fault is not None:
            peak = 2 * bias  # clipped: a waveform beyond both rails
        else:
            peak = int(round(r.amps * self.uv_per_amp_rms * math.sqrt(2.0)))
        return "%d,%d,%d,%d,%d" % (coil, amb, bias, peak, self.period_us)

    def idle_text(self) -> str:
        """Before the plant exists: a quiet 20 °C room, no current."""
        t = self.divider.pin_uv(self.ntc.ohms(20.0))
        return "%d,%d,%d,%d,%d" % (t, t, self.ct_bias_uv, 0, self.period_us)
