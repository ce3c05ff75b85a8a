"""Thermistor divider on an ESP32 ADC pin: ohms from µV, rails as open/short faults, averaging."""

import math

from spec import close, raises
from splitguard import states
from splitguard.compat import isnan
from splitguard.divider import MAX_AVERAGE_N, SIDE_HIGH, SIDE_LOW, Divider

SUPPLY_UV = 3300000
FIXED_OHM = 10000

# ESP32 usable input window per attenuation, mV (ESP-IDF v4.4 ADC docs,
# shared/reference/esp32_adc_attenuation_ranges.csv, S-CT15).
WINDOWS_MV = ((0, 100, 950), (2.5, 100, 1250), (6, 150, 1750), (11, 150, 2450))

# A 10 kΩ NTC with B25/50 = 3950 K, by the β model: only a stand-in for "a very cold coil"
# (design.md: the β model is off by several °C at −40 °C, so no temperature claim here).
NTC_R25 = 10000
NTC_BETA = 3950


def _beta_ohms(t_c):
    return NTC_R25 * math.exp(NTC_BETA * (1.0 / (t_c + 273.15) - 1.0 / 298.15))


def _div(side):
    return Divider.for_attenuation(11, SUPPLY_UV, FIXED_OHM, side)


def _reader(values):
    """A read_uv callable returning `values` in turn; counts calls in box[0]."""
    box = [0]

    def read_uv():
        v = values[box[0]]
        box[0] += 1
        return v

    return read_uv, box


def test_equal_resistors_put_half_the_supply_on_the_pin_either_side():
    # 10 kΩ fixed + 10 kΩ NTC at 25 °C on 3.3 V -> 1.65 V, whichever side the NTC is on.
    for side in (SIDE_LOW, SIDE_HIGH):
        d = _div(side)
        assert d.pin_uv(10000) == 1650000
        assert close(d.ohms(1650000), 10000.0, 0.01)
        assert d.last_fault is None


def test_resistance_rises_with_pin_voltage_low_side_and_falls_high_side():
    # 2.2 V on 3.3 V: low side R = 10k * 2.2 / 1.1 = 20 kΩ; high side R = 10k * 1.1 / 2.2 = 5 kΩ.
    assert close(_div(SIDE_LOW).ohms(2200000), 20000.0, 0.01)
    assert close(_div(SIDE_HIGH).ohms(2200000), 5000.0, 0.01)


def test_low_side_open_sensor_reads_at_supply_and_is_open():
    d = _div(SIDE_LOW)
    # An open low-side NTC leaves the fixed resistor pulling the pin to 3.3 V; at 11 dB the
    # calibrated reading saturates somewhere above the 2.45 V window end.
    for uv in (3300000, 3100000, 2450000):
        assert isnan(d.ohms(uv))
        assert d.last_fault == states.FAULT_OPEN
        assert d.classify(uv) == states.FAULT_OPEN


def test_low_side_shorted_sensor_reads_near_zero_and_is_short():
    d = _div(SIDE_LOW)
    for uv in (0, 60000, 150000):
        assert isnan(d.ohms(uv))
        assert d.last_fault == states.FAULT_SHORT


def test_high_side_faults_swap_rails():
    d = _div(SIDE_HIGH)
    assert isnan(d.ohms(0))
    assert d.last_fault == states.FAULT_OPEN  # open high-side NTC: pin falls to ground
    assert isnan(d.ohms(3300000))
    assert d.last_fault == states.FAULT_SHORT  # shorted high-side NTC: pin at supply


def test_a_good_reading_clears_the_previous_fault():
    d = _div(SIDE_LOW)
    d.ohms(0)
    assert d.last_fault == states.FAULT_SHORT
    d.ohms(1650000)
    assert d.last_fault is None


def test_readings_just_inside_the_window_ends_are_measurements():
    d = _div(SIDE_LOW)
    assert d.classify(150001) is None
    assert d.classify(2449999) is None
    assert not isnan(d.ohms(150001))
    assert not isnan(d.ohms(2449999))
    # The ends themselves are rails.
    assert d.classify(150000) == states.FAULT_SHORT
    assert d.classify(2450000) == states.FAULT_OPEN


def test_rails_follow_the_documented_window_of_each_attenuation():
    for db, lo_mv, hi_mv in WINDOWS_MV:
        d = Divider.for_attenuation(db, SUPPLY_UV, FIXED_OHM, SIDE_LOW)
        assert d.low_rail_uv == lo_mv * 1000
        assert d.high_rail_uv == hi_mv * 1000


def test_unknown_attenuation_is_rejected_listing_the_allowed_ones():
    exc = raises(ValueError, Divider.for_attenuation, 12, SUPPLY_UV, FIXED_OHM, SIDE_LOW)
    msg = str(exc)
    assert "12" in msg
    for allowed in ("0", "2.5", "6", "11"):
        assert allowed in msg


def test_rail_margin_moves_both_rails_inward():
    d = Divider.for_attenuation(11, SUPPLY_UV, FIXED_OHM, SIDE_LOW, 50000)
    assert d.low_rail_uv == 200000
    assert d.high_rail_uv == 2400000
    raises(ValueError, Divider.for_attenuation, 0, SUPPLY_UV, FIXED_OHM, SIDE_LOW, 500000)


def test_unknown_side_is_rejected():
    exc = raises(ValueError, Divider, SUPPLY_UV, FIXED_OHM, "middle", 150000, 2450000)
    assert "middle" in str(exc)


def test_supply_inside_the_window_is_rejected_because_faults_could_not_reach_a_rail():
    # 11 dB window ends at 2.45 V: a 1.8 V supply would put an open sensor inside the window.
    raises(ValueError, Divider.for_attenuation, 11, 1800000, FIXED_OHM, SIDE_LOW)


def test_cold_coil_is_measurable_high_side_but_beyond_the_rail_low_side():
    r = _beta_ohms(-30.0)  # ≈ 200 kΩ by β
    assert 195000 < r < 205000
    high = _div(SIDE_HIGH)
    uv = high.pin_uv(r)  # 3.3 V * 10k / (10k + 200k) ≈ 157 mV, just inside 150 mV
    assert 150000 < uv < 160000
    assert close(high.ohms(uv), r, 0.002 * r)
    # Low side, the same coil puts ≈ 3.14 V on the pin: beyond 2.45 V, so it reads as open.
    low = _div(SIDE_LOW)
    assert isnan(low.ohms(low.pin_uv(r)))
    assert low.last_fault == states.FAULT_OPEN


def test_ohm_range_is_the_resistance_at_each_rail():
    # Low side, 11 dB, 10k on 3.3 V: 10k*0.15/3.15 = 476.2 Ω .. 10k*2.45/0.85 = 28 823.5 Ω.
    lo, hi = _div(SIDE_LOW).ohm_range()
    assert close(lo, 476.19, 0.01)
    assert close(hi, 28823.53, 0.01)
    # High side: 10k*0.85/2.45 = 3469.4 Ω .. 10k*3.15/0.15 = 210 kΩ.
    lo, hi = _div(SIDE_HIGH).ohm_range()
    assert close(lo, 3469.39, 0.01)
    assert close(hi, 210000.0, 0.01)


def test_round_trip_pin_to_ohms_to_pin():
    for side in (SIDE_LOW, SIDE_HIGH):
        d = _div(side)
        for uv in (150001, 200000, 987654, 1650000, 2000000, 2449999):
            assert abs(d.pin_uv(d.ohms(uv)) - uv) <= 1


def test_round_trip_ohms_to_pin_to_ohms_within_one_microvolt_of_resolution():
    d = _div(SIDE_HIGH)
    for r in (5000.0, 10000.0, 33000.0, 100000.0):
        uv = d.pin_uv(r)
        # One µV of rounding is a relative error of about R/V in ohms: far below 0.01 %.
        assert close(d.ohms(uv), r, 1e-4 * r)


def test_pin_uv_of_open_and_short_sensors():
    low = _div(SIDE_LOW)
    high = _div(SIDE_HIGH)
    inf = float("inf")
    assert low.pin_uv(inf) == SUPPLY_UV
    assert low.pin_uv(0) == 0
    assert high.pin_uv(inf) == 0
    assert high.pin_uv(0) == SUPPLY_UV
    assert low.classify(low.pin_uv(inf)) == states.FAULT_OPEN
    assert high.classify(high.pin_uv(inf)) == states.FAULT_OPEN
    raises(ValueError, low.pin_uv, -1.0)
    raises(ValueError, low.pin_uv, float("nan"))


def test_read_ohms_averages_n_reads_and_calls_the_reader_n_times():
    d = _div(SIDE_LOW)
    read_uv, calls = _reader([1640000, 1660000, 1645000, 1655000])
    r = d.read_ohms(read_uv, 4)
    assert calls[0] == 4
    assert close(r, 10000.0, 0.01)  # mean 1.65 V
    assert d.last_fault is None
    assert d.last_rail_hits == 0


def test_an_occasional_rail_spike_is_left_out_of_the_mean():
    d = _div(SIDE_LOW)
    read_uv, _ = _reader([1650000] * 7 + [3300000])
    r = d.read_ohms(read_uv, 8)
    # Averaged in, the spike would move the mean to 1.856 V, i.e. 12.9 kΩ.
    assert close(r, 10000.0, 0.01)
    assert d.last_fault is None
    assert d.last_rail_hits == 1


def test_half_the_samples_at_a_rail_still_measure():
    d = _div(SIDE_LOW)
    read_uv, _ = _reader([2200000] * 4 + [0] * 4)
    assert close(d.read_ohms(read_uv, 8), 20000.0, 0.01)
    assert d.last_fault is None
    assert d.last_rail_hits == 4


def test_more_than_half_at_a_rail_is_that_rails_fault():
    d = _div(SIDE_LOW)
    read_uv, _ = _reader([1650000] * 3 + [3300000] * 5)
    assert isnan(d.read_ohms(read_uv, 8))
    assert d.last_fault == states.FAULT_OPEN
    read_uv, _ = _reader([1650000] * 3 + [0] * 5)
    assert isnan(d.read_ohms(read_uv, 8))
    assert d.last_fault == states.FAULT_SHORT


def test_a_sensor_flapping_between_both_rails_is_open():
    for side in (SIDE_LOW, SIDE_HIGH):
        d = _div(side)
        read_uv, _ = _reader([0, 3300000] * 3)
        assert isnan(d.read_ohms(read_uv, 6))
        assert d.last_fault == states.FAULT_OPEN


def test_single_read_at_a_rail_is_a_fault():
    d = _div(SIDE_HIGH)
    read_uv, _ = _reader([0])
    assert isnan(d.read_ohms(read_uv, 1))
    assert d.last_fault == states.FAULT_OPEN


def test_read_ohms_rejects_a_count_outside_1_to_max():
    d = _div(SIDE_LOW)
    read_uv, _ = _reader([1650000] * (MAX_AVERAGE_N + 1))
    raises(ValueError, d.read_ohms, read_uv, 0)
    raises(ValueError, d.read_ohms, read_uv, MAX_AVERAGE_N + 1)
    assert not isnan(d.read_ohms(read_uv, MAX_AVERAGE_N))


def test_largest_average_of_full_scale_reads_stays_a_small_int():
    # MicroPython small ints end at 2**30 on 32-bit ports; beyond it the sum would allocate.
    assert MAX_AVERAGE_N * SUPPLY_UV < (1 << 30)
