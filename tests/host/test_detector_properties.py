"""Detector properties over random readings, configurations, sample periods and faults.

Two generators: raw random samples (anything a broken sensor chain could deliver, NaN and
infinities included) and random sequences of published-like phases (heating, defrost, stop,
cooling) from tests/firmware/traces.py, so defrost events actually happen and can be checked.
"""

import math

import traces as tr
from hypothesis import given, settings
from hypothesis import strategies as st
from splitguard import states
from splitguard.clock import TICKS_PERIOD, ticks_add
from splitguard.detector import DEFAULTS, Detector
from splitguard.reading import Reading

FAULTS = (
    states.FAULT_OPEN,
    states.FAULT_SHORT,
    states.FAULT_RANGE,
    states.FAULT_CLIPPED,
    states.FAULT_CT_BIAS,
)
PAIRED = {
    states.EV_DEFROST_START: states.EV_DEFROST_END,
    states.EV_SENSOR_FAULT: states.EV_SENSOR_OK,
}

# Config within the ranges config validation enforces for the "detector" section.
configs = st.fixed_dictionaries(
    {
        "running_amps": st.floats(0.2, 10),
        "frost_delta_k": st.floats(2, 15),
        "frost_hold_min": st.integers(1, 60),
        "frost_ambient_min_c": st.floats(-30, -1),
        "frost_ambient_max_c": st.floats(0, 10),
        "defrost_end_coil_c": st.floats(-5, 25),
    }
)
temps = st.one_of(
    st.floats(-60, 120),
    st.sampled_from((math.nan, math.inf, -math.inf, 1e30, -1e30, 0.0, -0.0)),
)
amps = st.one_of(st.floats(-5, 60), st.sampled_from((math.nan, math.inf, 0.0)))
faults = st.one_of(st.none(), st.none(), st.none(), st.sampled_from(FAULTS))
samples = st.tuples(
    st.one_of(st.integers(0, 120_000), st.integers(0, 900_000)),  # ms since the previous one
    temps,
    temps,
    amps,
    faults,
    faults,
    faults,
)


def faulted(r):
    values = (r.coil_c, r.ambient_c, r.amps)
    causes = (r.coil_fault, r.ambient_fault, r.ct_fault)
    return any(c is not None for c in causes) or any(v != v for v in values)


class Checker:
    """Feeds a detector and asserts the invariants after every sample."""

    def __init__(self, cfg):
        self.det = Detector(cfg)
        self.open = {k: False for k in PAIRED}
        self.names = []

    def feed(self, now, r):
        events = []
        state = self.det.update(now, r, events)
        det = self.det
        assert state in states.UNIT_STATES
        assert state == det.state
        assert det.mode in (states.HEAT, states.COOL, None)
        if faulted(r):
            assert state == states.SENSOR_FAULT
        if state == states.SENSOR_FAULT:
            assert det.mode is None
        if state == states.DEFROSTING:
            assert det.defrost_started_ms is not None
            assert det.defrost_elapsed_ms(now) >= 0
        else:
            assert det.defrost_elapsed_ms(now) == 0
        for e in events:
            self.check_event(e)
        assert self.open[states.EV_DEFROST_START] == (det.defrost_started_ms is not None)
        assert self.open[states.EV_SENSOR_FAULT] == (state == states.SENSOR_FAULT)
        return state, events

    def check_event(self, e):
        name = e["event"]
        assert name in states.EVENTS
        assert isinstance(e["reason"], str) and e["reason"]
        self.names.append(name)
        for opener, closer in PAIRED.items():
            if name == opener:
                assert not self.open[opener], "%s twice without %s" % (opener, closer)
                self.open[opener] = True
            elif name == closer:
                assert self.open[opener], "%s without %s" % (closer, opener)
                self.open[opener] = False
        if name == states.EV_DEFROST_END:
            assert isinstance(e["duration_s"], int) and e["duration_s"] >= 0
        if name == states.EV_SENSOR_FAULT:
            assert e["sensor"] in ("coil", "ambient", "ct")
            assert e["fault"] in FAULTS + ("nan",)


@settings(max_examples=300, deadline=None)
@given(
    cfg=st.one_of(st.none(), configs),
    start=st.integers(0, TICKS_PERIOD - 1),
    seq=st.lists(samples, max_size=200),
)
def test_random_readings_never_raise_and_keep_the_invariants(cfg, start, seq):
    check = Checker(cfg)
    r = Reading()
    now = start
    for dt, coil, amb, i, cf, af, ctf in seq:
        now = ticks_add(now, dt)
        r.set(coil, amb, i, cf, af, ctf)
        check.feed(now, r)


def build_phases(phases, ambient):
    p = tr.Profile(ambient, ambient, 0.0)
    for kind, minutes, arg in phases:
        _, amb, _ = p.now()
        if kind == "heat":
            tr.heating(p, max(minutes, 3), below_k=arg)
        elif kind == "defrost":
            try:
                tr.defrost(p, max(minutes, 4), arg, amps=tr.DEFROST_AMPS if minutes % 2 else 0.0)
            except ValueError:
                tr.heating(p, 5)
        elif kind == "stop":
            tr.setpoint_stop(p, max(minutes, 5))
        elif kind == "stuck":
            p.to(0, amps=tr.DEFROST_AMPS).to(150, coil_c=arg).hold(minutes * 60)
        elif kind == "cool":
            tr.cooling(p, max(minutes, 3), above_k=arg)
        elif kind == "weather":
            p.to(minutes * 60, ambient_c=amb + arg)
    return p


phases = st.lists(
    st.tuples(
        st.sampled_from(("heat", "defrost", "stop", "stuck", "cool", "weather")),
        st.integers(1, 40),
        st.floats(0, 15),
    ),
    min_size=1,
    max_size=12,
)
fault_windows = st.lists(
    st.tuples(
        st.floats(0, 1),
        st.integers(1, 900),
        st.sampled_from(("coil", "ambient", "ct")),
        st.sampled_from(FAULTS),
    ),
    max_size=3,
)


@settings(max_examples=150, deadline=None)
@given(
    plan=phases,
    ambient=st.floats(-20, 35),
    period=st.sampled_from((1, 5, 10, 30, 60)),
    noise=st.sampled_from((0.0, 0.5)),
    windows=fault_windows,
    start=st.integers(0, TICKS_PERIOD - 1),
)
def test_published_like_phases_keep_events_paired(plan, ambient, period, noise, windows, start):
    p = build_phases(plan, ambient)
    for frac, seconds, sensor, cause in windows:
        p.fault(frac * p.end_s, seconds, sensor, cause)
    check = Checker(None)
    for now, r in tr.readings(p, max(period, p.end_s // 3000), start_ms=start, noise_k=noise):
        check.feed(now, r)


@settings(max_examples=60, deadline=None)
@given(
    plan=phases,
    ambient=st.floats(-20, 15),
    shift=st.integers(0, TICKS_PERIOD - 1),
    period=st.sampled_from((10, 30, 60)),
)
def test_same_readings_from_any_start_tick_give_the_same_states_and_events(
    plan, ambient, shift, period
):
    # Replay property: decisions depend on elapsed time only, across the ticks wrap too.
    p = build_phases(plan, ambient)
    runs = []
    for start in (0, shift):
        det = Detector()
        out = []
        for now, r in tr.readings(p, period, start_ms=start):
            events = []
            out.append((det.update(now, r, events), det.mode, [e["event"] for e in events]))
            out.append([e.get("duration_s") for e in events])
        runs.append(out)
    assert runs[0] == runs[1]


def test_defaults_keys_include_every_validated_detector_key():
    for key in (
        "running_amps",
        "frost_delta_k",
        "frost_hold_min",
        "frost_ambient_min_c",
        "frost_ambient_max_c",
        "defrost_end_coil_c",
    ):
        assert key in DEFAULTS
