"""Supervisor specification: when a stuck unit is power-cycled, and when the supervisor stops.

Published numbers behind the defaults (shared/reference/defrost_published_parameters.csv):
- 15 min defrost limit: the longest manufacturer maximum, Fujitsu (S-D1) and Midea MCD (S-D10);
  others stop at 8-14 min (S-D5, S-D6, S-D13, S-D18).
- 30 min between defrost starts: the shortest published interval (Fedders minimum, S-D5; shortest
  fixed-timer option, S-D16, S-D20); a normal defrost lasts about 5 min (S-D27, S-D29).
- 30 min power off: the common manual-reset advice and the peer project's RELAY_OFF_TIME (S-D30).
- 10 min for the compressor to come back: peer project's DEFROST_TIMEOUT (S-D30); real restart
  delays are under a minute (S-D3: 50 s + 10 s).

The detector is scripted here (ScriptedDetector follows the Detector interface) so each test
says exactly what the unit does; the real detector is exercised at the end of this file.
"""

import traces as tr
from spec import MICROPYTHON, without_allocating
from splitguard import states
from splitguard.clock import TICKS_PERIOD, ticks_add, ticks_diff
from splitguard.compat import NAN
from splitguard.detector import Detector
from splitguard.reading import Reading
from splitguard.store import decode, defaults, encode
from splitguard.supervisor import (
    DEFAULTS,
    LED_FAULT,
    LED_LOCKOUT,
    LED_POWER_OFF,
    LED_RESTORING,
    LED_WATCHING,
    WAIT_DEFROST,
    WAIT_FAULT,
    WAIT_SETTLE,
    Supervisor,
)

MIN = 60  # seconds
PERIOD_S = 10

OFF = states.OFF
RUNNING = states.RUNNING
DEFROSTING = states.DEFROSTING


class ScriptedDetector:
    """The Detector interface, driven by the test: `next_state` is what the unit does next.

    A faulted reading makes it SENSOR_FAULT; a defrost interrupted only by a sensor fault is the
    same defrost when the sensor comes back (its start time is kept).
    """

    def __init__(self, cfg=None):
        self.state = OFF
        self.mode = None
        self.state_since_ms = 0
        self.defrost_started_ms = None
        self.last_defrost_start_ms = None
        self.last_defrost_end_ms = None
        self.next_state = OFF
        self.sees_through_faults = False  # hold the scripted state even on a faulted reading

    def update(self, now_ms, reading, events):
        new = self.next_state
        if reading.faulted() and not self.sees_through_faults:
            new = states.SENSOR_FAULT
        old = self.state
        if new == old:
            return old
        if old == states.SENSOR_FAULT:
            events.append({"event": states.EV_SENSOR_OK, "reason": "sensors read again"})
        if new == states.SENSOR_FAULT:
            events.append({"event": states.EV_SENSOR_FAULT, "reason": "a sensor is faulted"})
        elif new == DEFROSTING:
            if self.defrost_started_ms is None:
                self.defrost_started_ms = now_ms
                self.last_defrost_start_ms = now_ms
                events.append({"event": states.EV_DEFROST_START, "reason": "scripted"})
        elif self.defrost_started_ms is not None:
            self.defrost_started_ms = None
            self.last_defrost_end_ms = now_ms
            events.append({"event": states.EV_DEFROST_END, "reason": "scripted"})
        self.state = new
        self.state_since_ms = now_ms
        self.mode = states.HEAT if new in (RUNNING, states.FROSTING) else None
        return new

    def defrost_elapsed_ms(self, now_ms):
        if self.defrost_started_ms is None:
            return 0
        return ticks_diff(now_ms, self.defrost_started_ms)


class MemoryStore:
    """Store interface in RAM, through the real record encoding and checks."""

    def __init__(self):
        self.data = None
        self.saves = 0
        self.fault = None

    def load(self):
        if self.data is None:
            return defaults()
        return decode(self.data)

    def save(self, record):
        self.data = encode(record)
        self.saves += 1
        return True


class Rig:
    """A supervisor on a scripted unit, stepped at a fixed sample period, with a log."""

    def __init__(self, cfg=None, store=None, start_ms=0, detector=None):
        self.det = detector if detector is not None else ScriptedDetector()
        self.now = start_ms
        self.t_ms = 0  # ms since this rig booted; never wraps
        # Heating at -5 °C ambient with the coil 6 K below it (S-D26 coil_dt), 5 A.
        self.reading = Reading(-11.0, -5.0, 5.0)
        self.sup = Supervisor(cfg if cfg is not None else {}, self.det, store, start_ms)
        self.d = self.sup.decision
        self.events = []  # (seconds since boot, event)
        self.off_spans_s = []
        self.cut_steps = []  # seconds since boot of each step that started a power-off
        self._off_at = None

    def step(self, state, fault=None, period_s=PERIOD_S):
        self.now = ticks_add(self.now, period_s * 1000)
        self.t_ms += period_s * 1000
        # A unit with no power does nothing, whatever the script says.
        self.det.next_state = OFF if self.d.power_cut else state
        if fault == "coil":
            self.reading.set(NAN, -5.0, 5.0, coil_fault=states.FAULT_OPEN)
        elif fault == "ct":
            self.reading.set(-11.0, -5.0, NAN, ct_fault=states.FAULT_CT_BIAS)
        else:
            self.reading.set(-11.0, -5.0, 5.0)
        was_cut = self.d.power_cut
        d = self.sup.step(self.now, self.reading)
        self._log(was_cut)
        return d

    def _log(self, was_cut):
        t_s = self.t_ms // 1000
        for e in self.d.events:
            self.events.append((t_s, e))
        if self.d.power_cut and not was_cut:
            self._off_at = t_s
            self.cut_steps.append(t_s)
        if was_cut and not self.d.power_cut:
            self.off_spans_s.append(t_s - self._off_at)

    def run(self, state, seconds, fault=None, period_s=PERIOD_S):
        for _ in range(seconds // period_s):
            self.step(state, fault, period_s)
        return self.d

    def run_until(self, state, name, limit_s, fault=None):
        """Step until event `name` happens (at most limit_s); seconds it took, or None."""
        start = self.t_ms
        while self.t_ms - start < limit_s * 1000:
            self.step(state, fault)
            if self.has(name, self.d.events):
                return (self.t_ms - start) // 1000
        return None

    def request(self, source="host"):
        was_cut = self.d.power_cut
        self.sup.request_power_cycle(self.now, source)
        self._log(was_cut)
        return self.d

    def clear(self, source):
        was_cut = self.d.power_cut
        self.sup.clear_lockout(self.now, source)
        self._log(was_cut)
        return self.d

    def has(self, name, events):
        return name in [e["event"] for e in events]

    def named(self, name):
        return [e for _, e in self.events if e["event"] == name]

    def names(self):
        return [e["event"] for _, e in self.events]

    def settle(self):
        """Past the 3 min boot settle time, heating normally."""
        return self.run(RUNNING, 4 * MIN)

    def stuck_defrost_cycle(self):
        """A defrost that never ends, the power cycle it causes, and the unit heating again."""
        self.run_until(DEFROSTING, states.EV_POWER_OFF, 20 * MIN)
        self.run_until(RUNNING, states.EV_RECOVERED, 45 * MIN)


def test_defaults_are_the_published_figures():
    assert DEFAULTS["defrost_max_min"] == 15  # S-D1, S-D10: longest manufacturer maximum
    assert DEFAULTS["frequent_defrost_interval_min"] == 30  # S-D5, S-D16, S-D20
    assert DEFAULTS["frequent_defrost_count"] == 3
    assert DEFAULTS["power_off_min"] == 30  # S-D30 RELAY_OFF_TIME; common reset advice
    assert DEFAULTS["recovery_timeout_min"] == 10  # S-D30 DEFROST_TIMEOUT
    assert DEFAULTS["max_cycles_per_24h"] == 3
    assert DEFAULTS["boot_settle_min"] == 3
    assert DEFAULTS["lockout_clear_hold_s"] == 5


def test_boot_state_is_watching_with_power_on():
    rig = Rig()
    assert rig.d.state == states.WATCHING
    assert rig.d.power_cut is False
    assert rig.d.led == LED_WATCHING
    assert rig.d.cycles_in_window == 0


def test_stuck_defrost_of_16_min_causes_exactly_one_power_cycle_of_30_min():
    rig = Rig()
    rig.settle()
    rig.run(DEFROSTING, 16 * MIN)
    assert rig.d.power_cut is True
    assert rig.d.state == states.POWER_OFF
    assert rig.d.led == LED_POWER_OFF
    too_long = rig.named(states.EV_DEFROST_TOO_LONG)
    assert len(too_long) == 1
    # First sample past 15 min (S-D1, S-D10) at a 10 s period.
    assert too_long[0]["duration_s"] == 15 * MIN + PERIOD_S
    assert too_long[0]["limit_s"] == 15 * MIN
    rig.run(RUNNING, 60 * MIN)
    assert rig.off_spans_s == [30 * MIN]  # S-D30 RELAY_OFF_TIME
    assert len(rig.named(states.EV_POWER_OFF)) == 1
    assert rig.named(states.EV_POWER_OFF)[0]["cause"] == states.EV_DEFROST_TOO_LONG
    assert rig.names()[-3:] == [states.EV_DEFROST_END, states.EV_POWER_ON, states.EV_RECOVERED]
    assert rig.d.state == states.WATCHING
    assert rig.d.cycles_in_window == 1


def test_defrost_of_14_min_is_not_interrupted():
    rig = Rig()
    rig.settle()
    rig.run(DEFROSTING, 14 * MIN)  # within every published maximum up to 15 min (S-D18: 14)
    rig.run(RUNNING, 2 * 60 * MIN)
    assert rig.cut_steps == []
    assert rig.named(states.EV_DEFROST_TOO_LONG) == []
    assert rig.d.state == states.WATCHING


def _defrost_every(rig, gap_min, count, defrost_min=5):
    # A normal defrost lasts about 5 min (S-D27, S-D29).
    for _ in range(count):
        rig.run(DEFROSTING, defrost_min * MIN)
        rig.run(RUNNING, (gap_min - defrost_min) * MIN)


def test_three_defrosts_25_min_apart_cause_a_power_cycle():
    rig = Rig()
    rig.settle()
    _defrost_every(rig, 25, 2)
    rig.step(DEFROSTING)  # the third start, 25 min after the second
    frequent = rig.named(states.EV_DEFROST_TOO_FREQUENT)
    assert len(frequent) == 1
    assert frequent[0]["count"] == 3
    assert frequent[0]["gap_s"] == 25 * MIN
    assert frequent[0]["interval_s"] == 30 * MIN  # S-D5, S-D16, S-D20
    assert frequent[0]["span_s"] == 50 * MIN
    rig.run(DEFROSTING, 4 * MIN)
    rig.run(RUNNING, 10 * MIN)
    assert len(rig.named(states.EV_POWER_OFF)) == 1
    assert rig.named(states.EV_POWER_OFF)[0]["cause"] == states.EV_DEFROST_TOO_FREQUENT


def test_power_cycle_for_frequent_defrosts_waits_for_the_running_defrost_to_end():
    rig = Rig()
    rig.settle()
    _defrost_every(rig, 25, 2)
    rig.run(DEFROSTING, 4 * MIN)
    assert rig.d.power_cut is False
    assert rig.d.pending == states.EV_DEFROST_TOO_FREQUENT
    assert rig.d.blocked == WAIT_DEFROST
    rig.step(RUNNING)  # the defrost ends on its own
    assert rig.d.power_cut is True
    assert rig.d.pending is None


def test_two_defrosts_25_min_apart_are_normal():
    rig = Rig()
    rig.settle()
    _defrost_every(rig, 25, 2)
    rig.run(RUNNING, 3 * 60 * MIN)
    assert rig.named(states.EV_DEFROST_TOO_FREQUENT) == []
    assert rig.cut_steps == []


def test_defrosts_35_min_apart_are_normal():
    rig = Rig()
    rig.settle()
    _defrost_every(rig, 35, 6)
    assert len(rig.named(states.EV_DEFROST_START)) == 6
    assert rig.named(states.EV_DEFROST_TOO_FREQUENT) == []
    assert rig.cut_steps == []


def test_compressor_running_within_10_min_of_restore_is_recovered():
    rig = Rig()
    rig.settle()
    rig.run(DEFROSTING, 16 * MIN)
    rig.run(OFF, 30 * MIN)
    assert rig.d.state == states.RESTORING
    assert rig.d.led == LED_RESTORING
    rig.run(OFF, 4 * MIN)
    rig.step(RUNNING)
    recovered = rig.named(states.EV_RECOVERED)
    assert len(recovered) == 1
    assert recovered[0]["limit_s"] == 10 * MIN  # S-D30 DEFROST_TIMEOUT
    assert 4 * MIN <= recovered[0]["after_s"] <= 5 * MIN
    assert rig.d.state == states.WATCHING


def test_a_defrost_right_after_restore_counts_as_recovered():
    rig = Rig()
    rig.settle()
    rig.run(DEFROSTING, 16 * MIN)
    rig.run(OFF, 31 * MIN)
    rig.step(DEFROSTING)
    assert rig.named(states.EV_RECOVERED)[0]["unit_state"] == DEFROSTING


def test_no_compressor_for_10_min_after_restore_is_not_recovered_and_cycles_again():
    rig = Rig()
    rig.settle()
    rig.run(DEFROSTING, 16 * MIN)
    rig.run(OFF, 30 * MIN)
    assert rig.d.state == states.RESTORING
    rig.run(OFF, 10 * MIN)
    failed = rig.named(states.EV_NOT_RECOVERED)
    assert len(failed) == 1
    assert failed[0]["waited_s"] == 10 * MIN
    assert failed[0]["failed"] == 1
    # The failed cycle is followed at once by another, as the limit allows.
    assert rig.d.power_cut is True
    offs = rig.named(states.EV_POWER_OFF)
    assert [e["cause"] for e in offs] == [states.EV_DEFROST_TOO_LONG, states.EV_NOT_RECOVERED]
    assert offs[1]["cycles_in_window"] == 2


def test_not_recovered_verdict_waits_for_healthy_sensors():
    rig = Rig()
    rig.settle()
    rig.run(DEFROSTING, 16 * MIN)
    rig.run(OFF, 30 * MIN)
    rig.run(OFF, 15 * MIN, fault="ct")  # a faulted CT could hide a running compressor
    assert rig.d.state == states.RESTORING
    assert rig.named(states.EV_NOT_RECOVERED) == []
    rig.step(OFF)
    assert len(rig.named(states.EV_NOT_RECOVERED)) == 1


def test_stuck_defrost_coming_back_after_recovery_is_cycled_again_within_the_limit():
    rig = Rig()
    rig.settle()
    rig.stuck_defrost_cycle()
    rig.run(RUNNING, 60 * MIN)
    rig.stuck_defrost_cycle()
    assert len(rig.named(states.EV_POWER_OFF)) == 2
    assert rig.d.cycles_in_window == 2
    assert rig.d.state == states.WATCHING


def test_fourth_cycle_needed_within_24_h_is_a_lockout_with_power_on():
    rig = Rig()
    rig.settle()
    for _ in range(3):
        rig.stuck_defrost_cycle()
    assert rig.d.cycles_in_window == 3
    rig.run(DEFROSTING, 16 * MIN)
    lockout = rig.named(states.EV_LOCKOUT)
    assert len(lockout) == 1
    assert lockout[0]["cycles_in_window"] == 3
    assert lockout[0]["limit"] == 3
    assert lockout[0]["cause"] == states.EV_DEFROST_TOO_LONG
    assert "technician" in lockout[0]["reason"]
    assert rig.d.state == states.LOCKOUT
    assert rig.d.power_cut is False
    assert rig.d.led == LED_LOCKOUT
    # It stays that way: hours later, whatever the unit does, no more cycles.
    rig.run(DEFROSTING, 2 * 60 * MIN)
    rig.run(OFF, 2 * 60 * MIN)
    assert len(rig.named(states.EV_POWER_OFF)) == 3
    assert rig.d.state == states.LOCKOUT
    assert rig.d.power_cut is False


def test_lockout_survives_a_reboot():
    store = MemoryStore()
    rig = Rig({"max_cycles_per_24h": 1}, store)
    rig.settle()
    rig.stuck_defrost_cycle()
    rig.run(DEFROSTING, 16 * MIN)
    assert rig.d.state == states.LOCKOUT
    again = Rig({"max_cycles_per_24h": 1}, store, start_ms=123_456)
    assert again.d.state == states.LOCKOUT
    assert again.d.power_cut is False
    assert again.d.led == LED_LOCKOUT
    assert "technician" in again.d.reason
    again.run(RUNNING, 30 * MIN)
    assert again.d.state == states.LOCKOUT


def _locked_out_rig():
    rig = Rig({"max_cycles_per_24h": 1})
    rig.settle()
    rig.stuck_defrost_cycle()
    rig.run(DEFROSTING, 16 * MIN)
    assert rig.d.state == states.LOCKOUT
    return rig


def test_button_hold_clears_a_lockout():
    rig = _locked_out_rig()
    rig.clear("button")
    assert rig.d.state == states.WATCHING
    assert rig.d.refused is None
    cleared = rig.named(states.EV_LOCKOUT_CLEARED)
    assert len(cleared) == 1
    assert cleared[0]["source"] == "button"
    assert rig.d.led == LED_WATCHING


def test_host_command_clears_a_lockout():
    rig = _locked_out_rig()
    rig.clear("host")
    assert rig.d.state == states.WATCHING
    assert rig.named(states.EV_LOCKOUT_CLEARED)[0]["source"] == "host"


def test_clearing_does_not_reset_the_24_h_limit():
    rig = _locked_out_rig()
    rig.clear("host")
    rig.run(RUNNING, 60 * MIN)
    rig.run(DEFROSTING, 16 * MIN)  # a new stuck defrost, the window still full
    assert rig.d.state == states.LOCKOUT
    assert len(rig.named(states.EV_POWER_OFF)) == 1


def test_clear_lockout_outside_lockout_is_refused():
    rig = Rig()
    rig.settle()
    rig.clear("button")
    assert rig.d.refused is not None
    assert rig.named(states.EV_LOCKOUT_CLEARED) == []
    assert rig.d.state == states.WATCHING


def test_sensor_fault_during_a_stuck_defrost_delays_the_cut_until_the_sensor_is_ok():
    rig = Rig()
    rig.settle()
    rig.run(DEFROSTING, 10 * MIN)
    rig.run(DEFROSTING, 10 * MIN, fault="coil")
    assert rig.cut_steps == []
    assert rig.d.led == LED_FAULT
    rig.step(DEFROSTING)  # the coil sensor reads again; the same defrost, now 20 min long
    assert rig.d.power_cut is True
    assert rig.named(states.EV_DEFROST_TOO_LONG)[0]["duration_s"] == 20 * MIN


def test_a_faulted_reading_blocks_the_cut_even_if_the_detector_holds_its_state():
    rig = Rig()
    rig.det.sees_through_faults = True
    rig.settle()
    rig.run(DEFROSTING, 14 * MIN)
    rig.run(DEFROSTING, 5 * MIN, fault="ct")
    assert len(rig.named(states.EV_DEFROST_TOO_LONG)) == 1
    assert rig.d.power_cut is False
    assert rig.d.pending == states.EV_DEFROST_TOO_LONG
    assert rig.d.blocked == WAIT_FAULT
    rig.step(DEFROSTING)
    assert rig.d.power_cut is True


def test_no_cycle_is_decided_while_sensors_settle_after_boot():
    # A 1 min limit makes the defrost stuck long before the 3 min settle time ends. Settling
    # counts from the first reading (at 10 s).
    rig = Rig({"defrost_max_min": 1, "boot_settle_min": 3})
    rig.run(DEFROSTING, 3 * MIN)
    assert rig.cut_steps == []
    assert rig.named(states.EV_DEFROST_TOO_LONG) == []
    rig.step(DEFROSTING)
    assert rig.cut_steps == [3 * MIN + PERIOD_S]


def test_first_step_after_boot_never_cuts_power_even_if_it_comes_late():
    rig = Rig({"boot_settle_min": 0})
    rig.step(RUNNING, period_s=10 * MIN)
    assert rig.d.power_cut is False
    rig.request("host")
    assert rig.d.refused == WAIT_SETTLE
    assert rig.d.power_cut is False


def test_manual_power_cycle_within_the_limit_is_done():
    rig = Rig()
    rig.settle()
    rig.request("host")
    assert rig.d.refused is None
    assert rig.d.power_cut is True
    off = rig.named(states.EV_POWER_OFF)[0]
    assert off["cause"] == "manual"
    assert off["off_s"] == 30 * MIN
    rig.run(RUNNING, 35 * MIN)
    assert rig.off_spans_s == [30 * MIN]


def test_manual_power_cycle_is_refused_when_the_limit_is_reached():
    rig = Rig({"max_cycles_per_24h": 1})
    rig.settle()
    rig.stuck_defrost_cycle()
    rig.request("button")
    assert rig.d.power_cut is False
    assert "limit" in rig.d.refused
    assert len(rig.named(states.EV_POWER_OFF)) == 1
    assert rig.d.state == states.WATCHING  # a refused request is not a lockout


def test_manual_power_cycle_is_refused_during_a_defrost_within_its_limit():
    rig = Rig()
    rig.settle()
    rig.run(DEFROSTING, 5 * MIN)
    rig.request("host")
    assert rig.d.refused == WAIT_DEFROST
    assert rig.d.power_cut is False


def test_manual_power_cycle_is_refused_on_a_faulted_sensor():
    rig = Rig()
    rig.settle()
    rig.step(RUNNING, fault="coil")
    rig.request("host")
    assert rig.d.refused == WAIT_FAULT
    assert rig.d.power_cut is False


def test_manual_power_cycle_is_refused_while_sensors_settle():
    rig = Rig()
    rig.run(RUNNING, 1 * MIN)
    rig.request("host")
    assert rig.d.refused == WAIT_SETTLE
    assert rig.d.power_cut is False


def test_manual_power_cycle_is_refused_when_power_is_already_off():
    rig = Rig()
    rig.settle()
    rig.request("host")
    rig.run(RUNNING, 5 * MIN)
    rig.request("host")
    assert rig.d.refused is not None
    assert len(rig.named(states.EV_POWER_OFF)) == 1


def test_off_time_is_never_below_5_min_even_if_configured_1():
    rig = Rig({"power_off_min": 1})
    rig.settle()
    rig.request("host")
    assert rig.named(states.EV_POWER_OFF)[0]["off_s"] == 5 * MIN
    rig.run(RUNNING, 10 * MIN)
    assert rig.off_spans_s == [5 * MIN]


def test_off_time_is_never_above_240_min_even_if_configured_1000():
    rig = Rig({"power_off_min": 1000})
    rig.settle()
    rig.request("host")
    rig.run(RUNNING, 250 * MIN, period_s=60)
    assert rig.off_spans_s == [240 * MIN]


def test_tick_wraparound_during_power_off_keeps_the_off_time():
    # ticks_ms wraps at 2**30 ms (12.4 days); put the wrap in the middle of the power-off.
    rig = Rig(start_ms=TICKS_PERIOD - 25 * MIN * 1000)
    rig.settle()
    rig.request("host")
    rig.run(RUNNING, 40 * MIN)
    assert rig.now < 25 * MIN * 1000  # the wrap happened
    assert rig.off_spans_s == [30 * MIN]
    assert len(rig.named(states.EV_RECOVERED)) == 1


def test_sensor_fault_during_power_off_neither_shortens_nor_extends_it():
    rig = Rig()
    rig.settle()
    rig.request("host")
    rig.run(OFF, 10 * MIN)
    rig.run(OFF, 30 * MIN, fault="coil")
    assert rig.off_spans_s == [30 * MIN]
    assert rig.d.state == states.RESTORING


def test_reboot_during_power_off_restores_power_and_keeps_the_cycle_counted():
    store = MemoryStore()
    rig = Rig(store=store)
    rig.settle()
    rig.request("host")
    rig.run(OFF, 10 * MIN)
    assert rig.d.power_cut is True
    again = Rig(store=store, start_ms=987_654)
    assert again.d.power_cut is False  # before its first step
    assert again.d.state == states.RESTORING
    assert again.d.cycles_in_window == 1
    again.step(OFF)
    assert again.d.power_cut is False
    power_on = again.named(states.EV_POWER_ON)
    assert len(power_on) == 1
    assert power_on[0]["early"] is True
    again.run(OFF, 3 * MIN)
    again.step(RUNNING)
    assert again.d.state == states.WATCHING
    assert len(again.named(states.EV_RECOVERED)) == 1


def test_cycles_leave_the_24_h_window_after_a_day():
    rig = Rig({"max_cycles_per_24h": 1})
    rig.settle()
    rig.stuck_defrost_cycle()
    assert rig.d.cycles_in_window == 1
    rig.run(RUNNING, 24 * 60 * MIN, period_s=60)
    assert rig.d.cycles_in_window == 0
    rig.run(DEFROSTING, 16 * MIN)
    assert rig.d.power_cut is True
    assert rig.named(states.EV_LOCKOUT) == []


def test_life_clock_is_saved_every_10_min_only_while_a_cycle_is_in_the_window():
    store = MemoryStore()
    rig = Rig(store=store)
    rig.run(RUNNING, 2 * 60 * MIN)
    assert store.saves == 0  # nothing worth remembering: no flash writes
    rig.stuck_defrost_cycle()
    before = store.saves
    rig.run(RUNNING, 60 * MIN)
    assert store.saves - before == 6
    assert decode(store.data)["life_s"] == rig.d.life_s


def test_every_event_says_why_with_figures():
    rig = Rig({"max_cycles_per_24h": 2})
    rig.settle()
    rig.run(DEFROSTING, 16 * MIN)
    rig.run(OFF, 41 * MIN)  # not recovered -> second cycle
    rig.run(RUNNING, 35 * MIN)
    _defrost_every(rig, 20, 3)
    rig.run(RUNNING, 10 * MIN)
    rig.clear("host")
    seen = {}
    for _, e in rig.events:
        seen[e["event"]] = True
    for name in (
        states.EV_DEFROST_TOO_LONG,
        states.EV_POWER_OFF,
        states.EV_POWER_ON,
        states.EV_NOT_RECOVERED,
        states.EV_RECOVERED,
        states.EV_DEFROST_TOO_FREQUENT,
        states.EV_LOCKOUT,
        states.EV_LOCKOUT_CLEARED,
    ):
        assert name in seen, name
        for e in rig.named(name):
            assert isinstance(e["reason"], str) and len(e["reason"]) > 30, e
            assert e["reason"].endswith("."), e
            assert len(e) >= 3, e  # event, reason and at least one figure


def _steady_steps(sup, reading, now, n):
    for _ in range(n):
        now = ticks_add(now, 5000)
        sup.step(now, reading)
    return now


def test_steady_state_step_allocates_nothing():
    det = ScriptedDetector()
    det.next_state = RUNNING
    reading = Reading(-11.0, -5.0, 5.0)
    sup = Supervisor(DEFAULTS, det, None, 0)
    d = sup.decision
    events = d.events
    now = _steady_steps(sup, reading, 0, 60)  # 5 min: settled, the start-up events are past
    now = _steady_steps(sup, reading, now, 1)
    now = without_allocating(lambda: _steady_steps(sup, reading, now, 200))
    assert sup.step(now, reading) is d
    assert d.events is events
    assert d.events == []
    assert d.state == states.WATCHING
    assert d.unit_state == RUNNING
    assert d.power_cut is False
    assert d.led == LED_WATCHING
    assert d.cycles_in_window == 0
    assert d.life_s == (261 * 5000) // 1000  # the last call repeats the same instant


def test_steady_state_with_a_cycle_in_the_window_allocates_nothing():
    det = ScriptedDetector()
    sup = Supervisor(DEFAULTS, det, None, 0)
    reading = Reading(-11.0, -5.0, 5.0)
    det.next_state = RUNNING
    now = _steady_steps(sup, reading, 0, 60)
    sup.request_power_cycle(now, "host")
    det.next_state = OFF
    now = _steady_steps(sup, reading, now, 30 * 12)
    det.next_state = RUNNING
    now = _steady_steps(sup, reading, now, 2)
    assert sup.decision.state == states.WATCHING
    if MICROPYTHON:
        import micropython

        micropython.heap_lock()
        try:
            now = _steady_steps(sup, reading, now, 100)
        finally:
            micropython.heap_unlock()
    else:
        now = _steady_steps(sup, reading, now, 100)
    assert sup.decision.cycles_in_window == 1
    assert sup.decision.events == []


# -- with the real detector ---------------------------------------------------------------------


class Plant:
    """A heat pump at a cold ambient that obeys the relay, read by the real Detector.

    `phase` is what the unit does while powered; with power cut it has no current and its coil
    drifts to the air temperature, whatever the phase.
    """

    def __init__(self, cfg=None, store=None, ambient_c=-5.0):
        self.det = Detector()
        self.sup = Supervisor(cfg if cfg is not None else {}, self.det, store, 0)
        self.amb = ambient_c
        self.reading = Reading()
        self.now = 0
        self.events = []
        self.off_spans_s = []
        self._off_at = None
        self.coil = ambient_c

    def run(self, phase, seconds, period_s=PERIOD_S):
        for _ in range(seconds // period_s):
            self.now += period_s * 1000
            amb = self.amb
            if self.sup.decision.power_cut or phase == "dead":
                # No power, or a unit that will not start: no current, coil drifts to the air.
                coil, amps = self.coil + (amb - self.coil) * 0.1, 0.0
            elif phase == "heat":  # coil 6 K below the air (S-D26), compressor on
                coil, amps = amb - 6.0, 4.0
            elif phase == "stop":  # valve-switch stop before a defrost (S-D3: 50 s + 10 s)
                coil, amps = self.coil + 0.1, 0.0
            else:  # "stuck": reversed, coil warmed to +2 °C and never reaching termination
                coil, amps = min(2.0, self.coil + 1.0), 3.0
            self.coil = coil
            self.reading.set(coil, amb, amps)
            was_cut = self.sup.decision.power_cut
            d = self.sup.step(self.now, self.reading)
            for e in d.events:
                self.events.append((self.now // 1000, e))
            if d.power_cut and not was_cut:
                self._off_at = self.now // 1000
            if was_cut and not d.power_cut:
                self.off_spans_s.append(self.now // 1000 - self._off_at)
        return self.sup.decision

    def named(self, name):
        return [e for _, e in self.events if e["event"] == name]


def test_real_detector_stuck_defrost_is_power_cycled_once_and_recovers():
    plant = Plant()
    plant.run("heat", 45 * MIN)  # no defrost before 38-44 min of compressor time (S-D14)
    plant.run("stop", 1 * MIN)
    plant.run("stuck", 20 * MIN)
    assert len(plant.named(states.EV_DEFROST_START)) == 1
    too_long = plant.named(states.EV_DEFROST_TOO_LONG)
    assert len(too_long) == 1
    assert 15 * MIN < too_long[0]["duration_s"] <= 15 * MIN + PERIOD_S  # S-D1, S-D10
    assert plant.sup.decision.power_cut is True
    plant.run("heat", 45 * MIN)
    assert plant.off_spans_s == [30 * MIN]  # S-D30
    assert len(plant.named(states.EV_POWER_OFF)) == 1
    recovered = plant.named(states.EV_RECOVERED)
    assert len(recovered) == 1
    assert recovered[0]["after_s"] <= 2 * MIN
    assert plant.sup.decision.state == states.WATCHING


def test_real_detector_stale_defrost_after_a_cut_is_not_mistaken_for_recovery():
    # A powerless unit gives no sign that its defrost ended, so the detector may still say
    # DEFROSTING when power returns; only activity after the restore counts.
    plant = Plant()
    plant.run("heat", 45 * MIN)
    plant.run("stop", 1 * MIN)
    plant.run("stuck", 16 * MIN)
    plant.run("dead", 30 * MIN)  # still off: the relay holds power off whatever the phase
    assert plant.sup.decision.state == states.RESTORING
    plant.run("stop", 10 * MIN)  # power back, but the compressor never starts
    assert plant.named(states.EV_RECOVERED) == []
    assert len(plant.named(states.EV_NOT_RECOVERED)) == 1


def test_real_detector_normal_defrosts_45_min_apart_leave_the_unit_alone():
    p = tr.Profile(-5.0, -5.0, 0.0)
    for _ in range(5):
        tr.heating(p, 40)  # S-D14: 38-44 min of compressor time between defrosts
        tr.defrost(p, 6, 13.0)  # terminates at coil 13 °C (S-D1), about 5-6 min (S-D27)
    tr.heating(p, 5)
    det = Detector()
    sup = Supervisor({}, det, None, 0)
    names = []
    for now, r in tr.readings(p, PERIOD_S):
        d = sup.step(now, r)
        assert d.power_cut is False
        for e in d.events:
            names.append(e["event"])
    assert names.count(states.EV_DEFROST_START) == 5
    assert names.count(states.EV_DEFROST_END) == 5
    assert states.EV_DEFROST_TOO_FREQUENT not in names
    assert states.EV_DEFROST_TOO_LONG not in names


def test_real_detector_defrosts_20_min_apart_cause_one_cycle_after_the_third_ends():
    p = tr.Profile(-5.0, -5.0, 0.0)
    tr.heating(p, 40)
    for _ in range(3):
        tr.defrost(p, 6, 13.0)  # S-D1 termination 13 °C
        tr.heating(p, 14)  # 20 min from start to start: shorter than any published interval
    det = Detector()
    sup = Supervisor({}, det, None, 0)
    frequent = 0
    for now, r in tr.readings(p, PERIOD_S):
        d = sup.step(now, r)
        for e in d.events:
            if e["event"] == states.EV_DEFROST_TOO_FREQUENT:
                frequent += 1
        if d.power_cut:
            assert frequent == 1
            assert d.unit_state != states.DEFROSTING  # the third defrost ended first
            assert d.events[-1]["cause"] == states.EV_DEFROST_TOO_FREQUENT
            return
    raise AssertionError("no power cycle for three defrosts 20 min apart")


def test_real_detector_and_supervisor_steady_state_allocates_nothing():
    # Heating at -5 °C with the coil 6 K below the air (S-D26): FROSTING after frost_hold_min.
    det = Detector()
    sup = Supervisor(DEFAULTS, det, None, 0)
    reading = Reading(-11.0, -5.0, 4.0)
    now = _steady_steps(sup, reading, 0, 120)  # 10 min: settled, frost reported
    assert sup.decision.unit_state == states.FROSTING
    now = _steady_steps(sup, reading, now, 1)
    now = without_allocating(lambda: _steady_steps(sup, reading, now, 200))
    assert sup.decision.events == []
    assert sup.decision.state == states.WATCHING
    assert sup.decision.unit_state == states.FROSTING
    assert sup.decision.power_cut is False
