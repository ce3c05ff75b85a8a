"""The board's control loop with the fake `machine`: sample, decide, act, report, on schedule."""

import json
import os

import machine
from spec import DATA_DIR
from splitguard import config, states, store
from splitguard.app import build
from splitguard.clock import ManualClock
from splitguard.divider import Divider
from splitguard.hal.esp32 import Esp32Hal
from splitguard.thermistor import Thermistor

ROOT = DATA_DIR.rsplit("/", 2)[0]
_counter = [0]


def _board():
    with open(ROOT + "/boards/esp32_devkitc.json") as f:
        return config.validate_board(json.load(f), "esp32_devkitc.json")


def _store_path():
    _counter[0] += 1
    path = "/tmp/sg-app-%d-%d.json" % (_counter[0], id(_counter) % 100000)
    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass
    return path


class _Rig:
    """A board on the bench: fake ADC voltages for given temperatures and current."""

    def __init__(self, coil_c=5.0, ambient_c=7.0, store_path=None, button=None):
        board = _board()
        self.device = config.default_device()
        self.hal = Esp32Hal(board)
        self.clock = ManualClock(0)
        self.lines = []
        model = Thermistor.from_beta(10000, 3950)
        div = Divider.for_attenuation(11, 3300000, board["divider"]["fixed_ohm"], "low")
        self.hal.coil_adc.uv = div.pin_uv(model.ohms(coil_c))
        self.hal.ambient_adc.uv = div.pin_uv(model.ohms(ambient_c))
        self.hal.ct_adc.uv = 1650000  # biased, no current: unit idle
        self._button = button
        s = store.Store(store_path or _store_path(), os)
        self.app = build(
            board,
            self.device,
            self.hal,
            s,
            self.lines.append,
            self.clock.ticks_ms,
            self.sleep_ms,
        )

    def sleep_ms(self, ms):
        self.clock.advance(ms)
        if self._button is not None:
            self.hal._button.value(0 if self._button(self.clock.ticks_ms()) else 1)

    def kinds(self):
        return [json.loads(x)["kind"] for x in self.lines]

    def samples(self):
        return [json.loads(x) for x in self.lines if '"sample"' in x]


def test_samples_at_the_configured_period_without_drift():
    rig = _Rig()
    rig.app.run(periods=4)
    times = [s["t"] for s in rig.samples()]
    # Default sample_period_s is 5 (docs/configuration.md).
    assert times == [0, 5000, 10000, 15000]


def test_idle_unit_reads_off_and_the_relay_stays_de_energised():
    rig = _Rig()
    rig.app.run(periods=2)
    last = rig.samples()[-1]
    assert last["unit"] == states.OFF
    assert last["cut"] is False
    assert rig.hal.power_cut() is False
    # relay_active_high: de-energised is pin level 0.
    assert machine.made_pins(26)[-1].value() == 0


def test_watchdog_is_fed_between_samples_once_started():
    rig = _Rig()
    rig.hal.start_watchdog(10000)
    rig.app.run(periods=2)
    assert rig.hal.wdt.feeds >= 2 * (5000 // 50) - 2


def test_open_coil_sensor_is_reported_in_the_sample_with_its_cause():
    rig = _Rig()
    rig.hal.coil_adc.uv = 3290000  # thermistor to ground open: pin pulled up to the supply
    rig.app.run(periods=1)
    s = rig.samples()[-1]
    assert s["coil"] is None
    assert s["faults"]["coil"] == "open"
    assert s["cut"] is False


def test_a_lockout_from_before_a_reboot_is_cleared_by_holding_the_button():
    path = _store_path()
    rec = store.defaults()
    rec["lockout"] = True
    rec["lockout_reason"] = "defrost too long again after 3 power cycles"
    rec["state"] = states.LOCKOUT
    store.Store(path, os).save(rec)
    # The BOOT button held from t=6 s to t=13 s; default lockout_clear_hold_s is 5 s.
    rig = _Rig(store_path=path, button=lambda now: 6000 <= now < 13000)
    rig.app.run(periods=1)
    assert rig.samples()[0]["sup"] == states.LOCKOUT
    assert rig.hal.power_cut() is False  # LOCKOUT keeps the unit powered
    rig.app.run(periods=3)
    events = [json.loads(x) for x in rig.lines if '"event"' in x]
    cleared = [e for e in events if e["event"] == states.EV_LOCKOUT_CLEARED]
    assert len(cleared) == 1
    assert 11000 <= cleared[0]["t"] <= 11100
    assert rig.samples()[-1]["sup"] == states.WATCHING


def test_a_short_button_press_does_not_clear_a_lockout():
    path = _store_path()
    rec = store.defaults()
    rec["lockout"] = True
    rec["lockout_reason"] = "test"
    rec["state"] = states.LOCKOUT
    store.Store(path, os).save(rec)
    rig = _Rig(store_path=path, button=lambda now: 6000 <= now < 9000)
    rig.app.run(periods=4)
    assert rig.samples()[-1]["sup"] == states.LOCKOUT
