"""CT clamp: sampled sine waves through a 12-bit ADC model -> amps within 1 %, faults as NaN.

Clamps (YHDC SCT-013 datasheet): SCT-013-000 is 100 A : 50 mA = 2000 turns, here with a 33 Ω
burden (30 A -> 15 mA -> 0.495 V rms); SCT-013-030 is 30 A per 1 V rms with the burden inside.
ADC rails: the ESP32's usable range at 11 dB is 150-2450 mV (ESP-IDF v4.4, S-CT15).
"""

import math
from array import array

import spec
from adc_model import LSB_UV as _LSB_UV
from adc_model import code_to_uv as _code_to_uv
from adc_model import sine_uv as _sine_uv
from splitguard import states
from splitguard.compat import isnan
from splitguard.ct_clamp import (
    RAIL_HIGH_UV,
    RAIL_LOW_UV,
    CTClamp,
    RmsWindow,
    fill,
    samples_for_cycles,
)

# Paced sampling as on the board: 500 µs period, 2 cycles -> 80 samples at 50 Hz, 67 at 60 Hz.
_RATE_HZ = 2000
_CYCLES = 2

_SCT013_000_V_PER_A = 33.0 / 2000  # 33 Ω burden / 2000 turns: 16.5 mV rms per amp
_SCT013_030_V_PER_A = 1.0 / 30  # 1 V rms at 30 A: 33.3 mV rms per amp
_AMPS = (1, 2, 5, 10, 15, 20, 25, 30)
_BIASES_V = (1.4, 1.65, 1.9)
_MAINS = (50, 60)
_TICKS_MAX = (1 << 30) - 1  # ticks_us() wraps at 2**30


def _grid(clamp, v_per_a):
    """Worst relative error over the in-range grid points; asserts every point's outcome."""
    worst = 0.0
    inside = 0
    k = 0
    for mains_hz in _MAINS:
        n = samples_for_cycles(mains_hz, _CYCLES, _RATE_HZ)
        for bias_v in _BIASES_V:
            for amps in _AMPS:
                k += 1
                phase = 0.37 + 0.61 * k  # deterministic, different for every point
                got = clamp.amps_rms(_sine_uv(amps, v_per_a, bias_v, mains_hz, phase, n))
                peak_uv = amps * v_per_a * math.sqrt(2) * 1e6
                lo_uv = bias_v * 1e6 - peak_uv
                hi_uv = bias_v * 1e6 + peak_uv
                margin = 2 * _LSB_UV
                where = "%d A, %d Hz, bias %.2f V" % (amps, mains_hz, bias_v)
                if lo_uv > RAIL_LOW_UV + margin and hi_uv < RAIL_HIGH_UV - margin:
                    inside += 1
                    assert clamp.last_fault is None, where
                    err = abs(got - amps) / amps
                    assert err <= 0.01, "%s: read %.4f A" % (where, got)
                    worst = max(worst, err)
                elif lo_uv < RAIL_LOW_UV - 0.05 * peak_uv or hi_uv > RAIL_HIGH_UV + 0.05 * peak_uv:
                    # Far past a rail: some sample surely lands there.
                    assert isnan(got) and clamp.last_fault == states.FAULT_CLIPPED, where
                else:
                    # Grazing a rail: flagged, or (no sample reached it) still within 1 %.
                    flagged = isnan(got) and clamp.last_fault == states.FAULT_CLIPPED
                    assert flagged or abs(got - amps) / amps <= 0.01, where
    return worst, inside


def test_sct013_000_within_1pct_from_1_to_30_amps_at_50_and_60_hz():
    clamp = CTClamp.current_output(2000, 33)
    worst, inside = _grid(clamp, _SCT013_000_V_PER_A)
    # 0.7 V peak at 30 A: only the 1.9 V bias pushes 25 and 30 A past the 2450 mV rail.
    assert inside == 44, inside
    assert worst <= 0.01


def test_sct013_030_within_1pct_from_1_to_30_amps_at_50_and_60_hz():
    clamp = CTClamp.voltage_output(30, 1.0)
    worst, inside = _grid(clamp, _SCT013_030_V_PER_A)
    # 1.41 V peak at 30 A needs 2.83 V peak-to-peak, more than the 2.3 V usable range: the top
    # currents are flagged, not read. In range: up to 20 A at 1.4 V bias (1.05 V headroom to
    # 2450 mV = 22 A), 15 A at 1.65 V (17 A), 10 A at 1.9 V (11.7 A).
    assert inside == 30, inside
    assert worst <= 0.01


def test_30_amps_on_sct013_000_reads_30_amps_at_nominal_bias():
    clamp = CTClamp.current_output(2000, 33)
    got = clamp.amps_rms(_sine_uv(30, _SCT013_000_V_PER_A, 1.65, 50, 0.3, 80))
    assert spec.close(got, 30.0, 0.3), got


def test_zero_current_reads_below_0_05_amps():
    clamps = (CTClamp.current_output(2000, 33), CTClamp.voltage_output(30, 1.0))
    x = 1
    for clamp in clamps:
        for bias_v in _BIASES_V:
            bias_code = int(bias_v * 1e6 / _LSB_UV + 0.5)
            samples = []
            for _ in range(80):
                x = (x * 75 + 74) % 65537  # ZX81 LCG: deterministic ±1 LSB noise
                samples.append(_code_to_uv(bias_code + x % 3 - 1))
            got = clamp.amps_rms(samples)
            assert clamp.last_fault is None
            assert 0.0 <= got < 0.05, got


def test_clipped_waveform_is_flagged():
    # SCT-013-030 at 30 A on a 1.5 V bias: 1.41 V peak runs past both rails (0.09 V, 2.91 V).
    clamp = CTClamp.voltage_output(30, 1.0)
    got = clamp.amps_rms(_sine_uv(30, _SCT013_030_V_PER_A, 1.5, 50, 0.2, 80))
    assert isnan(got)
    assert clamp.last_fault == states.FAULT_CLIPPED
    assert clamp.window.clipped_low > 0 and clamp.window.clipped_high > 0


def test_one_sample_at_the_rail_is_enough_to_flag_clipping():
    clamp = CTClamp.current_output(2000, 33)
    samples = _sine_uv(10, _SCT013_000_V_PER_A, 1.65, 50, 0.2, 80)
    assert not isnan(clamp.amps_rms(samples))
    samples[17] = RAIL_HIGH_UV
    assert isnan(clamp.amps_rms(samples))
    assert clamp.last_fault == states.FAULT_CLIPPED
    assert clamp.window.clipped_high == 1


def test_rails_are_arguments():
    # 6 dB attenuation: usable 150-1750 mV (S-CT15). A 1.8 V peak is in range at 11 dB only.
    samples = _sine_uv(10, _SCT013_000_V_PER_A, 1.55, 50, 0.2, 80)  # peaks at ~1.78 V
    assert not isnan(CTClamp.current_output(2000, 33).amps_rms(samples))
    six_db = CTClamp.current_output(2000, 33, high_uv=1_750_000, bias_max_uv=1_700_000)
    assert isnan(six_db.amps_rms(samples))
    assert six_db.last_fault == states.FAULT_CLIPPED


def test_unplugged_ct_without_bias_flags_bias_fault():
    clamp = CTClamp.voltage_output(30, 1.0)
    # Bias network absent: the pin floats near 0 V (every sample also at the low rail).
    assert isnan(clamp.amps_rms([0] * 40 + [_code_to_uv(3)] * 40))
    assert clamp.last_fault == states.FAULT_CT_BIAS
    # Bottom divider resistor open: the pin sits near 3V3.
    assert isnan(clamp.amps_rms(_sine_uv(1, _SCT013_030_V_PER_A, 3.2, 50, 0.0, 80)))
    assert clamp.last_fault == states.FAULT_CT_BIAS


def test_a_good_window_clears_the_last_fault():
    clamp = CTClamp.voltage_output(30, 1.0)
    clamp.amps_rms([0] * 80)
    assert clamp.last_fault == states.FAULT_CT_BIAS
    got = clamp.amps_rms(_sine_uv(5, _SCT013_030_V_PER_A, 1.65, 50, 0.2, 80))
    assert clamp.last_fault is None
    assert spec.close(got, 5.0, 0.05)


def test_bias_step_between_windows_is_removed():
    clamp = CTClamp.current_output(2000, 33)
    low = clamp.amps_rms(_sine_uv(4, _SCT013_000_V_PER_A, 1.45, 50, 0.2, 80))
    low_mean = clamp.last_mean_uv
    high = clamp.amps_rms(_sine_uv(4, _SCT013_000_V_PER_A, 1.85, 50, 0.2, 80))
    assert spec.close(low_mean, 1_450_000, 2000)
    assert spec.close(clamp.last_mean_uv, 1_850_000, 2000)
    assert spec.close(low, 4.0, 0.04) and spec.close(high, 4.0, 0.04)


def test_1_mv_bias_drift_inside_a_window_costs_under_1pct_at_1_amp():
    # Mean removal takes out drift slower than a window; a ramp inside one leaks in (~7 mA per
    # mV here, phase-dependent). 1 mV per 40 ms is far faster than a 10 µF divider drifts.
    clamp = CTClamp.current_output(2000, 33)
    for phase in (0.0, 0.9, 1.6, 2.4, 4.0, 5.5):
        samples = _sine_uv(1, _SCT013_000_V_PER_A, 1.65, 50, phase, 80)
        for i in range(80):
            samples[i] += i * 1000 // 80
        got = clamp.amps_rms(samples)
        assert spec.close(got, 1.0, 0.01), (phase, got)


def test_whole_cycles_sample_count():
    assert samples_for_cycles(50, 2, 2000) == 80  # 40 per cycle
    assert samples_for_cycles(60, 2, 2400) == 80
    assert samples_for_cycles(60, 2, 2000) == 67  # 66.67: nearest whole sample
    assert samples_for_cycles(50, 10, 16000) == 3200


def test_sample_count_rejects_non_positive_or_non_int_arguments():
    for args in ((0, 2, 2000), (50, 0, 2000), (50, 2, -1), (50.0, 2, 2000), (50, 2, True)):
        spec.raises(ValueError, samples_for_cycles, *args)


def test_fill_reads_every_slot_back_to_back():
    buf = array("i", [0] * 5)
    state = array("i", [100])

    def read_uv():
        state[0] += 1
        return state[0]

    assert fill(buf, read_uv) == 5
    assert list(buf) == [101, 102, 103, 104, 105]


def test_paced_fill_reads_once_per_period():
    # A fake µs clock that moves 7 µs per look, starting just short of the 2**30 wrap.
    clock = array("i", [_TICKS_MAX - 1000])
    stamps = array("i", [0] * 6)
    slot = array("i", [0])

    def ticks_us():
        clock[0] = (clock[0] + 7) & _TICKS_MAX
        return clock[0]

    def read_uv():
        stamps[slot[0]] = clock[0]
        slot[0] += 1
        return 1_650_000

    buf = array("i", [0] * 6)
    fill(buf, read_uv, 500, ticks_us)
    for i in range(1, 6):
        # Each read lands within one clock step (7 µs) of its deadline, and the error never adds up.
        since_first = (stamps[i] - stamps[0]) & _TICKS_MAX
        assert abs(since_first - 500 * i) < 7, (i, since_first)
    assert list(buf) == [1_650_000] * 6


def _fill_then_accumulate(buf, read_uv, ticks_us, window):
    fill(buf, read_uv, 500, ticks_us)
    window.reset()
    for i in range(len(buf)):
        window.add(buf[i])


def test_fill_and_window_add_allocate_nothing():
    # The ADC fake reads a precomputed 30 A SCT-013-000 wave (0.7 V peak on 1.65 V) from an array.
    wave = array("i", _sine_uv(30, _SCT013_000_V_PER_A, 1.65, 50, 0.3, 80))
    pos = array("i", [0])

    def read_uv():
        i = pos[0]
        pos[0] = i + 1
        return wave[i]

    # A µs clock 7 µs per look that wraps at 2**30 during the fill, in small-int arithmetic.
    clock = array("i", [_TICKS_MAX - 20_000])

    def ticks_us():
        t = clock[0] - _TICKS_MAX + 6  # t + 7 - 2**30
        clock[0] = t + _TICKS_MAX + 1 if t < 0 else t
        return clock[0]

    buf = array("i", [0] * len(wave))
    clamp = CTClamp.current_output(2000, 33)
    window = clamp.window
    spec.without_allocating(lambda: _fill_then_accumulate(buf, read_uv, ticks_us, window))
    assert list(buf) == list(wave)
    assert window.count == 80
    assert 79 * 500 - 20_000 <= clock[0] < 80 * 500 - 20_000  # wrapped, paced 500 µs apart
    assert spec.close(clamp.amps_from(window), 30.0, 0.3)


def test_streaming_rms_matches_a_two_pass_rms():
    samples = _sine_uv(17, _SCT013_000_V_PER_A, 1.7, 60, 1.1, 400, rate_hz=1987)
    window = RmsWindow()
    for uv in samples:
        window.add(uv)
    n = len(samples)
    mean = sum(samples) / n
    two_pass = math.sqrt(sum([(uv - mean) ** 2 for uv in samples]) / n)
    assert window.clipped() == 0
    assert spec.close(window.mean_uv(), mean, 64)
    # 128 µV units (11 dB rails) against an ~0.8 mV ADC step: < 0.01 % here.
    assert abs(window.rms_uv() - two_pass) / two_pass < 1e-4, (window.rms_uv(), two_pass)


def test_long_window_carries_both_sums():
    # One sample at 0.1 V then 49 999 at 3.2 V: Σd passes 2**29 once, Σd² many times. Ints only,
    # so nothing here allocates (this VM build crashes if a GC runs mid-function; keep it so).
    window = RmsWindow(0, 3_300_000)
    n = 50_000
    window.add(100_000)
    for _ in range(n - 1):
        window.add(3_200_000)
    assert window.count == n
    step = 3_100_000
    # One outlier among n: mean = a + step (n-1)/n, rms = step sqrt(n-1)/n.
    assert spec.close(window.mean_uv(), 100_000 + step * (n - 1) / n, 256)
    expected = step * math.sqrt(n - 1) / n
    assert abs(window.rms_uv() - expected) / expected < 1e-4, (window.rms_uv(), expected)


def test_empty_window_is_a_programming_error():
    spec.raises(ValueError, CTClamp.voltage_output(30, 1.0).amps_rms, [])
    assert isnan(RmsWindow().rms_uv())


def test_from_spec_passes_the_adc_window_through():
    # 0 dB attenuation: usable 100-950 mV (S-CT15), bias from a divider at 0.5 V.
    clamp = CTClamp.from_spec(
        {
            "type": "voltage",
            "rated_amps": 30,
            "rated_volts": 1.0,
            "low_uv": 100_000,
            "high_uv": 950_000,
            "bias_min_uv": 0,
            "bias_max_uv": 900_000,
        }
    )
    assert clamp.window.low_uv == 100_000 and clamp.window.high_uv == 950_000
    got = clamp.amps_rms(_sine_uv(5, _SCT013_030_V_PER_A, 0.5, 50, 0.3, 80))
    assert clamp.last_fault is None and spec.close(got, 5.0, 0.05), got


def test_from_spec_builds_both_kinds():
    wave = _sine_uv(12, _SCT013_000_V_PER_A, 1.65, 60, 0.4, 67)
    current = CTClamp.from_spec({"type": "current", "turns": 2000, "burden_ohm": 33})
    assert spec.close(current.amps_rms(wave), 12.0, 0.12)
    voltage = CTClamp.from_spec({"type": "voltage", "rated_amps": 30, "rated_volts": 1.0})
    # The same pin voltage on a 30 A / 1 V clamp: 12 A x 16.5 mV / 33.3 mV per A = 5.94 A.
    assert spec.close(voltage.amps_rms(wave), 5.94, 0.06)


def test_from_spec_names_the_bad_field():
    cases = (
        ({"type": "current", "turns": 0, "burden_ohm": 33}, "turns"),
        ({"type": "current", "turns": 2000, "burden_ohm": -33}, "burden_ohm"),
        ({"type": "current", "turns": 2000}, "burden_ohm"),
        ({"type": "voltage", "rated_amps": "30", "rated_volts": 1.0}, "rated_amps"),
        ({"type": "voltage", "rated_amps": 30, "rated_volts": 0.0}, "rated_volts"),
        ({"type": "voltage", "rated_amps": 30, "rated_volts": True}, "rated_volts"),
        ({"type": "shunt", "ohm": 0.01}, "type"),
        ({"turns": 2000, "burden_ohm": 33}, "type"),
        ({"type": "current", "turns": 2000, "burden_ohm": 33, "burden": 33}, "burden"),
        ({"type": "voltage", "rated_amps": 30, "rated_volts": 1.0, "low_uv": -1}, "low_uv"),
        ({"type": "voltage", "rated_amps": 30, "rated_volts": 1.0, "high_uv": 100}, "high_uv"),
        (
            {"type": "voltage", "rated_amps": 30, "rated_volts": 1, "bias_min_uv": 2_400_000},
            "bias_min_uv",
        ),
    )
    for bad, field in cases:
        exc = spec.raises(ValueError, CTClamp.from_spec, bad)
        assert repr(field) in str(exc), (field, str(exc))
