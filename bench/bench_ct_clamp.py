"""CT clamp accuracy on the board's window (4 mains cycles at 2 kS/s) through the 12-bit ADC model.

Clamps (YHDC SCT-013 datasheet): SCT-013-000, 100 A : 50 mA = 2000 turns, on a 33 Ω burden
(16.5 mV rms per A); SCT-013-030, 1 V rms at 30 A with the burden inside (33.3 mV rms per A).
For each clamp, mains frequency and current: the worst relative error over every bias from 1.40
to 1.90 V (0.05 V steps) and 8 phases, among windows that read a value; windows flagged
as clipped (NaN, last_fault == FAULT_CLIPPED) are counted, not scored. ADC rails 150-2450 mV at
11 dB (ESP-IDF v4.4, S-CT15). Plus the zero-current reading with ±1 LSB of noise per clamp.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

from splitguard import states
from splitguard.ct_clamp import CTClamp, samples_for_cycles
from splitguard.sensors import CT_SAMPLE_RATE_HZ, ct_cycles

from bench.table import Row

_TESTS_FIRMWARE = Path(__file__).resolve().parent.parent / "tests" / "firmware"
if str(_TESTS_FIRMWARE) not in sys.path:
    sys.path.insert(0, str(_TESTS_FIRMWARE))

from adc_model import LSB_UV, code_to_uv, sine_uv  # noqa: E402  (tests/firmware/adc_model.py)

AMPS = (1, 2, 5, 10, 15, 20, 25, 30)
MAINS_HZ = (50, 60)
BIASES_V = tuple(round(1.40 + 0.05 * k, 2) for k in range(11))  # 1.40 … 1.90 V
PHASES = tuple(2.0 * math.pi * k / 8 + 0.1 for k in range(8))  # off the sample grid's symmetry


def _clamps():
    # (label, clamp, V rms per A)
    return (
        ("SCT-013-000+33Ω", CTClamp.current_output(2000, 33), 33.0 / 2000),
        ("SCT-013-030", CTClamp.voltage_output(30, 1.0), 1.0 / 30),
    )


def _grid_rows(label, clamp, v_per_a, mains_hz):
    n = samples_for_cycles(mains_hz, ct_cycles(mains_hz), CT_SAMPLE_RATE_HZ)
    group = "ct %s %d Hz, n=%d" % (label, mains_hz, n)
    rows = []
    for amps in AMPS:
        worst = 0.0
        worst_bias = None
        clipped = 0
        other = 0
        total = 0
        for bias_v in BIASES_V:
            for phase in PHASES:
                total += 1
                got = clamp.amps_rms(sine_uv(amps, v_per_a, bias_v, mains_hz, phase, n))
                if got != got:
                    if clamp.last_fault == states.FAULT_CLIPPED:
                        clipped += 1
                    else:
                        other += 1
                    continue
                err = abs(got - amps) / amps
                if err > worst:
                    worst, worst_bias = err, bias_v
        metric = "%d A" % amps
        extra = "; %d other faults" % other if other else ""
        if clipped + other == total:
            note = "%d/%d windows clipped%s" % (clipped, total, extra)
            rows.append(Row(group, metric, "clipped", "", note))
            continue
        note = "worst at %.2f V bias" % worst_bias if worst_bias else ""
        if clipped:
            note = "%d/%d windows clipped; %s" % (clipped, total, note)
        rows.append(Row(group, metric, "%.3f" % (100.0 * worst), "%", note + extra))
    return rows


def _zero_row(label, clamp):
    """Worst reading with no current: the bias plus uniform ±1 LSB noise, every bias, both Hz."""
    rng = random.Random(7)
    worst = 0.0
    windows = 0
    for mains_hz in MAINS_HZ:
        n = samples_for_cycles(mains_hz, ct_cycles(mains_hz), CT_SAMPLE_RATE_HZ)
        for bias_v in BIASES_V:
            bias_code = int(bias_v * 1e6 / LSB_UV + 0.5)
            for _ in range(20):
                samples = [code_to_uv(bias_code + rng.randint(-1, 1)) for _ in range(n)]
                got = clamp.amps_rms(samples)
                if got != got:
                    raise ValueError("zero current faulted: %s" % clamp.last_fault)
                worst = max(worst, got)
                windows += 1
    note = "±1 LSB noise; %d windows, 1.40-1.90 V bias, 50+60 Hz" % windows
    return Row("ct zero current", label, "%.4f" % worst, "A", note)


def run() -> list[Row]:
    rows = []
    for label, clamp, v_per_a in _clamps():
        for mains_hz in MAINS_HZ:
            rows.extend(_grid_rows(label, clamp, v_per_a, mains_hz))
    for label, clamp, _ in _clamps():
        rows.append(_zero_row(label, clamp))
    return rows
