"""Supervisor safety properties over random histories (hypothesis).

Random unit behaviour, sample periods of 1-60 s, sensor faults, manual requests, lockout clears
and reboots (a new Supervisor on the same store file, ticks restarting anywhere in the 30-bit
range). After every call the harness checks, against its own clock and not the supervisor's:

- power is held off at least the configured time (never below the 5 min floor) unless a reboot
  intervened, and never longer than configured plus one sample period;
- at most max_cycles_per_24h power-offs in any 24 h of supervised time;
- power is never cut on a step whose reading is faulted or whose unit state is SENSOR_FAULT,
  never during boot settling, never in a defrost still within its limit;
- power is on right after every boot and on the first step after it;
- power_cut is True exactly in POWER_OFF (so never in LOCKOUT);
- the supervisor's life clock never runs ahead of supervised time.
"""

import os
import random
import shutil
import tempfile

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from splitguard import states
from splitguard.clock import TICKS_PERIOD, ticks_add
from splitguard.compat import NAN
from splitguard.detector import Detector
from splitguard.reading import Reading
from splitguard.store import Store
from splitguard.supervisor import (
    OFF_CEILING_MS,
    OFF_FLOOR_MS,
    SETTLE_FLOOR_MS,
    WINDOW_S,
    Supervisor,
)
from test_supervisor import ScriptedDetector

MIN_MS = 60_000
DAY_MS = WINDOW_S * 1000


def _clamp(x, lo, hi):
    return max(lo, min(hi, x))


class Harness:
    """Drives supervisors through one history and checks every property after every call."""

    def __init__(self, cfg, folder, make_detector):
        self.cfg = cfg
        self.path = os.path.join(folder, "state.json")
        self.make_detector = make_detector
        self.off_ms = _clamp(int(cfg["power_off_min"] * MIN_MS), OFF_FLOOR_MS, OFF_CEILING_MS)
        self.settle_ms = max(int(cfg["boot_settle_min"] * MIN_MS), SETTLE_FLOOR_MS)
        self.defrost_max_ms = max(int(cfg["defrost_max_min"] * MIN_MS), MIN_MS)
        self.limit = cfg["max_cycles_per_24h"]
        self.t_ms = 0  # the harness's own time: never wraps, never restarts
        self.life_ms = 0  # supervised time: t_ms without the (zero) time between boots
        self.off_stamps = []  # life_ms of every power-off
        self.cuts = 0
        self.lockouts = 0
        self.reboots_while_off = 0
        self.boot(0)

    def boot(self, origin):
        if getattr(self, "cut_at", None) is not None:
            self.reboots_while_off += 1
        self.det = self.make_detector()
        self.sup = Supervisor(self.cfg, self.det, Store(self.path, os), origin)
        self.now = origin
        self.cut_at = None  # t_ms of the cut still in force, None if power is on
        self.first_step_at = None
        self.last_faulted = False
        d = self.sup.decision
        assert d.power_cut is False, "power must be on right after a boot"
        assert d.state != states.POWER_OFF

    def step(self, period_s, reading, scripted_state=None):
        period = period_s * 1000
        self.now = ticks_add(self.now, period)
        self.t_ms += period
        self.life_ms += period
        was_cut = self.sup.decision.power_cut
        if scripted_state is not None:
            # A unit without power does nothing; a sensor fault is still a sensor fault.
            if was_cut and scripted_state != states.SENSOR_FAULT:
                scripted_state = states.OFF
            self.det.next_state = scripted_state
        d = self.sup.step(self.now, reading)
        first = self.first_step_at is None
        if first:
            self.first_step_at = self.t_ms
            assert d.power_cut is False, "power must be on on the first step after a boot"
        faulted = reading.faulted() or d.unit_state == states.SENSOR_FAULT
        self.check(d, was_cut, period, faulted)
        self.last_faulted = faulted

    def manual(self, source):
        was_cut = self.sup.decision.power_cut
        d = self.sup.request_power_cycle(self.now, source)
        self.check(d, was_cut, 0, self.last_faulted)

    def clear(self, source):
        was_cut = self.sup.decision.power_cut
        d = self.sup.clear_lockout(self.now, source)
        assert d.power_cut == was_cut
        self.check(d, was_cut, 0, self.last_faulted)

    def check(self, d, was_cut, period, faulted):
        assert d.power_cut == (d.state == states.POWER_OFF)
        assert d.life_s * 1000 <= self.life_ms, "life clock ahead of supervised time"
        offs = [e for e in d.events if e["event"] == states.EV_POWER_OFF]
        for e in d.events:
            assert isinstance(e.get("reason"), str) and e["reason"], e
            if e["event"] == states.EV_LOCKOUT:
                self.lockouts += 1
        if d.power_cut and not was_cut:
            assert len(offs) == 1
            assert not faulted, "power cut on a faulted reading"
            assert self.first_step_at is not None, "cut before the first step after a boot"
            assert self.t_ms - self.first_step_at >= self.settle_ms, "cut while settling"
            if self.det.state == states.DEFROSTING:
                assert self.det.defrost_elapsed_ms(self.now) > self.defrost_max_ms, (
                    "interrupted a defrost within its limit"
                )
            self.off_stamps.append(self.life_ms)
            recent = [s for s in self.off_stamps if self.life_ms - s < DAY_MS]
            assert len(recent) <= self.limit, "more power cycles in 24 h than the limit"
            self.cut_at = self.t_ms
            self.cuts += 1
        else:
            assert offs == []
        if d.power_cut and was_cut:
            assert self.t_ms - self.cut_at < self.off_ms, "power held off too long"
        if was_cut and not d.power_cut:
            held = self.t_ms - self.cut_at
            assert self.off_ms <= held < self.off_ms + period, (held, self.off_ms, period)
            self.cut_at = None


# -- configurations: inside the validated ranges, plus values below the supervisor's own floors --

configs = st.fixed_dictionaries(
    {
        "defrost_max_min": st.sampled_from([1, 2, 8, 15]),
        "frequent_defrost_count": st.integers(2, 4),
        "frequent_defrost_interval_min": st.sampled_from([10, 30, 60]),
        "recovery_timeout_min": st.sampled_from([1, 3, 10]),
        "power_off_min": st.sampled_from([0, 1, 5, 7.5, 30]),
        "max_cycles_per_24h": st.integers(1, 4),
        "boot_settle_min": st.sampled_from([0, 1, 3]),
        "lockout_clear_hold_s": st.just(5),
    }
)

# Weighted toward long defrosts so that most histories reach power cycles and lockouts.
UNIT_STATES = st.sampled_from(
    [states.OFF, states.RUNNING, states.RUNNING, states.FROSTING]
    + [states.DEFROSTING] * 4
    + [states.SENSOR_FAULT]
)
FAULTS = st.sampled_from([None] * 5 + ["coil", "ambient", "ct"])
PERIODS = st.one_of(st.integers(1, 60), st.sampled_from([5, 10, 30, 60]))
# Durations around the limits (1, 15, 30 min ...) as well as anything in between.
MINUTES = st.one_of(st.sampled_from([2, 10, 16, 25, 35, 60]), st.integers(1, 90))
# A segment lasts `minutes` at its sample period, capped in steps to keep examples quick.
_MAX_STEPS = 900


# Long quiet spells (a day, give or take) put cycles at both ends of a 24 h window.
WAITS = st.tuples(st.just("wait"), st.sampled_from([60, 600, 1380, 1430, 1440, 1450, 1500]))


def _steps(minutes, period_s):
    if period_s == 60:  # a wait: as long as it says
        return minutes
    return max(1, min(_MAX_STEPS, minutes * 60 // period_s))


ORIGINS = st.one_of(
    st.integers(0, TICKS_PERIOD - 1),
    st.integers(TICKS_PERIOD - 3_600_000, TICKS_PERIOD - 1),  # the wrap within the hour
)

scripted_segments = st.lists(
    st.one_of(
        st.tuples(st.just("run"), UNIT_STATES, MINUTES, PERIODS, FAULTS),
        WAITS,
        st.tuples(st.just("reboot"), ORIGINS),
        st.tuples(st.just("manual"), st.sampled_from(["button", "host"])),
        st.tuples(st.just("clear"), st.sampled_from(["button", "host"])),
    ),
    min_size=4,
    max_size=25,
)


def _set_reading(r, coil, amb, amps, fault):
    r.set(coil, amb, amps)
    if fault == "coil":
        r.coil_c, r.coil_fault = NAN, states.FAULT_OPEN
    elif fault == "ambient":
        r.ambient_c, r.ambient_fault = NAN, states.FAULT_SHORT
    elif fault == "ct":
        r.amps, r.ct_fault = NAN, states.FAULT_CT_BIAS


def _run_history(cfg, segments, make_detector, drive):
    folder = tempfile.mkdtemp(prefix="sg-props-")
    try:
        h = Harness(cfg, folder, make_detector)
        for seg in segments:
            if seg[0] == "reboot":
                h.boot(seg[1])
            elif seg[0] == "manual":
                h.manual(seg[1])
            elif seg[0] == "clear":
                h.clear(seg[1])
            else:
                drive(h, seg)
        # Shown by --hypothesis-show-statistics: the histories reach the interesting states.
        event("power cycles: %s" % min(h.cuts, 3))
        event("lockout reached: %s" % (h.lockouts > 0))
        event("reboot during a power-off: %s" % (h.reboots_while_off > 0))
        return h
    finally:
        shutil.rmtree(folder)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cfg=configs, segments=scripted_segments, sees_through=st.booleans())
def test_safety_properties_with_a_scripted_unit(cfg, segments, sees_through):
    def make_detector():
        det = ScriptedDetector()
        det.sees_through_faults = sees_through  # a detector may hold its state on a fault
        return det

    reading = Reading()

    def drive(h, seg):
        if seg[0] == "wait":  # heating quietly, one sample a minute
            seg = ("run", states.RUNNING, seg[1], 60, None)
        _, state, minutes, period_s, fault = seg
        for _ in range(_steps(minutes, period_s)):
            _set_reading(reading, -11.0, -5.0, 4.0, fault)
            h.step(period_s, reading, state)

    _run_history(cfg, segments, make_detector, drive)


# -- the same properties with the real detector fed random physical readings -----------------

PHASES = st.sampled_from(["heat", "heat", "stop", "stuck", "stuck", "defrost", "cool", "idle"])
plant_segments = st.lists(
    st.one_of(
        st.tuples(
            st.just("run"),
            PHASES,
            MINUTES,
            PERIODS,
            FAULTS,
            st.floats(-15.0, 12.0),  # ambient °C: the frost band and either side (S-D24, S-D26)
            st.floats(0.0, 0.5),  # temperature noise, K
        ),
        WAITS,
        st.tuples(st.just("reboot"), ORIGINS),
        st.tuples(st.just("manual"), st.sampled_from(["button", "host"])),
        st.tuples(st.just("clear"), st.sampled_from(["button", "host"])),
    ),
    min_size=4,
    max_size=25,
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cfg=configs, segments=plant_segments, seed=st.integers(0, 2**32 - 1))
def test_safety_properties_with_the_real_detector(cfg, segments, seed):
    reading = Reading()
    plant = {"coil": 0.0}
    rng = random.Random(seed)

    def drive(h, seg):
        if seg[0] == "wait":  # heating quietly above the frost band, one sample a minute
            seg = ("run", "heat", seg[1], 60, None, 10.0, 0.0)
        _, phase, minutes, period_s, fault, amb, noise_k = seg
        for _ in range(_steps(minutes, period_s)):
            coil = plant["coil"]
            if h.sup.decision.power_cut or phase == "idle":
                coil, amps = coil + (amb - coil) * 0.2, 0.0
            elif phase == "heat":
                coil, amps = amb - 6.0, 4.0  # S-D26 coil 6 K below the air
            elif phase == "stop":
                coil, amps = coil + 0.2, 0.0
            elif phase == "stuck":
                coil, amps = min(2.0, coil + 1.0), 3.0
            elif phase == "defrost":
                coil, amps = min(15.0, coil + 1.0), 3.0
            else:  # cooling: the outdoor coil is the condenser, well above the air
                coil, amps = amb + 15.0, 4.5
            plant["coil"] = coil
            n = rng.uniform(-noise_k, noise_k)
            _set_reading(reading, coil + n, amb - n, amps, fault)
            h.step(period_s, reading)

    _run_history(cfg, segments, Detector, drive)


def test_harness_catches_a_supervisor_that_cuts_on_a_faulted_reading():
    # The property checks must be able to fail: a supervisor that ignores faults is caught.
    class Careless(Supervisor):
        def _try_cut(self, now_ms, cause, text, manual):
            self._faulted = False
            return Supervisor._try_cut(self, now_ms, cause, text, manual)

    folder = tempfile.mkdtemp(prefix="sg-props-")
    try:
        cfg = dict(
            defrost_max_min=1,
            frequent_defrost_count=3,
            frequent_defrost_interval_min=30,
            recovery_timeout_min=10,
            power_off_min=30,
            max_cycles_per_24h=3,
            boot_settle_min=3,
            lockout_clear_hold_s=5,
        )
        h = Harness(cfg, folder, ScriptedDetector)
        h.sup = Careless(cfg, h.det, Store(h.path, os), 0)
        h.det.sees_through_faults = True
        r = Reading()
        _set_reading(r, -11.0, -5.0, 4.0, None)
        for _ in range(30):
            h.step(10, r, states.RUNNING)
        _set_reading(r, -11.0, -5.0, 4.0, "ct")
        try:
            for _ in range(30):
                h.step(10, r, states.DEFROSTING)
        except AssertionError as exc:
            assert "faulted" in str(exc)
            return
        raise AssertionError("the harness did not notice a cut on a faulted reading")
    finally:
        shutil.rmtree(folder)
