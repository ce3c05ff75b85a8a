"""A model of the ESP32 ADC for tests and benches: sine waves quantised to 12-bit codes, in µV.

MicroPython-compatible: used by firmware tests inside the VM and by bench/ under CPython.
"""

import math

# The ADC model: 12 bits over 3.3 V full scale, codes back to µV (read_uv resolves ~1 mV).
FULL_SCALE_UV = 3_300_000
CODES = 4095
LSB_UV = FULL_SCALE_UV / CODES  # 806 µV


def code_to_uv(code):
    if code < 0:
        code = 0
    elif code > CODES:
        code = CODES
    # 3_300_000 / 4095 reduced to 220_000 / 273 keeps the product a small int (no long ints).
    return (code * 220_000 + 136) // 273


def sine_uv(amps, v_per_a, bias_v, mains_hz, phase, n, rate_hz=2000):
    """n samples of the pin voltage, quantised to 12-bit codes then to µV."""
    # In codes, so each sample makes few float temporaries: this module allocates ~0.9 MB in all,
    # under the test VM's 2 MB heap, because a GC in the WASI VM build can corrupt live objects.
    peak_codes = amps * v_per_a * math.sqrt(2) * 1e6 / LSB_UV
    bias_codes = bias_v * 1e6 / LSB_UV + 0.5
    w = 2 * math.pi * mains_hz / rate_hz
    sin = math.sin
    out = []
    for i in range(n):
        out.append(code_to_uv(int(bias_codes + peak_codes * sin(w * i + phase))))
    return out
