"""The measurement chain end to end: pin µV → ohms → °C and CT samples → amps, faults named."""

import json
import math

from spec import DATA_DIR, close
from splitguard import states
from splitguard.compat import isnan
from splitguard.ct_clamp import CTClamp
from splitguard.divider import Divider
from splitguard.reading import Reading
from splitguard.sensors import Sensors, ct_cycles
from splitguard.thermistor import Thermistor

SUPPLY_UV = 3300000
# The shipped boards: 73.2 kOhm (E96) fixed resistor, thermistor to ground, 11 dB (docs/wiring.md).
FIXED_OHM = 73200
BIAS_UV = 1650000


def _constant(uv):
    def read():
        return uv

    return read


def _sine(amps_rms, uv_per_amp, mains_hz=50, rate_hz=2000):
    state = [0]
    peak = amps_rms * uv_per_amp * math.sqrt(2)

    def read():
        i = state[0]
        state[0] = i + 1
        return int(BIAS_UV + peak * math.sin(2 * math.pi * mains_hz * i / rate_hz))

    return read


def _chain(coil_uv, ambient_uv, ct_read):
    model = Thermistor.from_beta(10000, 3950)
    div = Divider.for_attenuation(11, SUPPLY_UV, FIXED_OHM, "low")
    return (
        Sensors(
            coil_uv,
            ambient_uv,
            ct_read,
            div,
            Divider.for_attenuation(11, SUPPLY_UV, FIXED_OHM, "low"),
            model,
            model,
            CTClamp.current_output(2000, 33),
        ),
        model,
        div,
    )


def _pin_for(celsius):
    model = Thermistor.from_beta(10000, 3950)
    div = Divider.for_attenuation(11, SUPPLY_UV, FIXED_OHM, "low")
    return div.pin_uv(model.ohms(celsius))


def test_frosting_coil_and_cold_ambient_read_back_within_a_tenth_of_a_degree():
    # A coil at -15 C under 0 C ambient: inside the frost band of S-D30/S-D31.
    sensors, _, _ = _chain(_constant(_pin_for(-15.0)), _constant(_pin_for(0.0)), _sine(8.0, 16500))
    r = sensors.read(Reading())
    assert close(r.coil_c, -15.0, 0.1)
    assert close(r.ambient_c, 0.0, 0.1)
    assert r.coil_fault is None and r.ambient_fault is None


def test_supply_current_reads_within_one_percent():
    # SCT-013-000 (2000 turns) into 33 ohm: 16.5 mV per amp rms at the pin.
    sensors, _, _ = _chain(_constant(_pin_for(5.0)), _constant(_pin_for(5.0)), _sine(8.0, 16500))
    r = sensors.read(Reading())
    assert close(r.amps, 8.0, 0.08)
    assert r.ct_fault is None


def test_open_coil_thermistor_is_a_named_fault_not_a_temperature():
    # Thermistor to ground: an open sensor pulls the pin to the supply, above the 2450 mV rail.
    sensors, _, _ = _chain(_constant(3290000), _constant(_pin_for(0.0)), _sine(8.0, 16500))
    r = sensors.read(Reading())
    assert isnan(r.coil_c)
    assert r.coil_fault == states.FAULT_OPEN
    assert close(r.ambient_c, 0.0, 0.1) and r.ambient_fault is None
    assert r.faulted()


def test_shorted_ambient_thermistor_is_a_named_fault():
    sensors, _, _ = _chain(_constant(_pin_for(0.0)), _constant(2000), _sine(8.0, 16500))
    r = sensors.read(Reading())
    assert isnan(r.ambient_c)
    assert r.ambient_fault == states.FAULT_SHORT


def test_unplugged_ct_is_a_bias_fault_not_zero_amps():
    # No bias network, no clamp: the pin sits at 0 V, which must not read as "unit off".
    sensors, _, _ = _chain(_constant(_pin_for(0.0)), _constant(_pin_for(0.0)), _constant(0))
    r = sensors.read(Reading())
    assert isnan(r.amps)
    assert r.ct_fault == states.FAULT_CT_BIAS


def test_the_shipped_boards_divider_covers_the_frost_band_and_a_hot_cooling_coil():
    # -30 C (cold-climate frost, S-D24) to +50 C (a condensing coil in summer) must be readable
    # with the default 10k B3950 probe, on every shipped board.
    model = Thermistor.from_beta(10000, 3950)
    root = DATA_DIR.rsplit("/", 2)[0]
    for name in ("esp32_devkitc", "esp32_s3_devkitc_1"):
        with open(root + "/boards/" + name + ".json") as f:
            board = json.load(f)
        d = board["divider"]
        div = Divider.for_attenuation(
            board["adc_atten_db"], int(d["supply_v"] * 1e6), d["fixed_ohm"], d["thermistor_side"]
        )
        lo, hi = div.ohm_range()
        assert lo < model.ohms(50.0) < model.ohms(-30.0) < hi, name


def test_read_reuses_the_reading_it_is_given():
    sensors, _, _ = _chain(_constant(_pin_for(1.0)), _constant(_pin_for(2.0)), _sine(3.0, 16500))
    r = Reading()
    assert sensors.read(r) is r


def test_ct_window_spans_whole_mains_cycles_at_50_and_60_hz():
    # 2 kS/s: 40 samples per 50 Hz cycle, 33.3 per 60 Hz cycle -> 3 cycles = 100 samples.
    assert ct_cycles(50) == 4 and ct_cycles(60) == 3
    for hz, n in ((50, 160), (60, 100)):
        s = Sensors(
            _constant(0),
            _constant(0),
            _constant(0),
            None,
            None,
            None,
            None,
            CTClamp.current_output(2000, 33),
            mains_hz=hz,
        )
        assert len(s.ct_samples) == n
