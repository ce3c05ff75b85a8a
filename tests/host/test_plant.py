"""The plant model's physics and its own controller, each behaviour against a published number.

Source ids (S-Dn) refer to shared/reference/defrost_published_parameters.csv; docs/simulator.md
lists every model parameter.
"""

import math

import pytest
from splitguard import states
from splitguard.reading import Reading

from host_tools.plant import (
    DEFROST,
    HUNG,
    RUN,
    STOP_IN,
    STOP_OUT,
    UNIT_DEFAULTS,
    DayProfile,
    Plant,
    frost_drive,
)

QUIET = {"noise_k": 0.0, "noise_a": 0.0}
# The plant starts as after a power-up, where the S-D1 first-defrost rule (22 min, coil <= -9 C)
# applies; tests of the regular rules switch it off.
NO_FIRST = {"first_run_min": None}


def _plant(ambient, humidity, unit=None, faults=None, seed=1, first_rule=False):
    unit = dict(unit or {})
    if not first_rule:
        unit["defrost"] = dict(unit.get("defrost", {}), **NO_FIRST)
    return Plant(
        {
            "weather": {"ambient_c": ambient, "humidity_pct": humidity},
            "unit": unit,
            "faults": faults or [],
            "sensors": QUIET,
        },
        seed,
    )


def _run(p, seconds, every=None):
    """Step `seconds`; call every(p) after each step if given."""
    for _ in range(int(seconds)):
        p.step()
        if every is not None:
            every(p)


def _first_initiation(p, limit_s):
    while p.t < limit_s:
        p.step()
        if p.mode == STOP_IN:
            return p.t
    return None


def test_frost_grows_faster_in_humid_minus_2_than_dry_minus_15():
    # S-D24: defrost most prevalent at -12..-1 C with high humidity; S-D26: below about -7 C the
    # air holds little water.
    humid = _plant(-2.0, 90.0, unit={"defrost": {"min_run_min": 999, "max_run_min": 999}})
    dry = _plant(-15.0, 55.0, unit={"defrost": {"min_run_min": 999, "max_run_min": 999}})
    _run(humid, 3600)
    _run(dry, 3600)
    assert humid.ice > 0.3
    assert dry.ice < 0.05
    assert humid.ice > 10 * dry.ice


def test_no_frost_on_a_coil_above_freezing():
    # S-D26: above about +6 C coil the coil is above freezing: condensate, not frost.
    assert frost_drive(8.0, 95.0, 2.0) == 0.0
    assert frost_drive(3.0, 95.0, -3.0) > 0.0


def test_frost_drive_peaks_in_the_published_band():
    # Worst case 0..+5 C with high RH (S-D26); the coil runs 6 K below the air (S-D26).
    def drive(amb):
        return frost_drive(amb, 90.0, amb - 6.0)

    assert drive(2.0) > drive(-7.0) > drive(-15.0)
    assert drive(8.0) == 0.0


def test_heating_coil_runs_about_6_k_below_the_air_on_a_clean_coil():
    # S-D26 coil_dt default 6 K at full load.
    p = _plant(-5.0, 20.0, unit={"room_start_c": 15.0})  # far below setpoint: full load
    _run(p, 900)
    assert p.mode == RUN
    assert p.ice < 0.02
    assert math.isclose(p.ambient_c - p.coil_c, 6.0, abs_tol=0.3)


def test_the_unit_defrosts_on_its_own_after_40_min_run_with_a_coil_at_or_below_minus_3():
    # S-D6: > 40 min cumulative heating and RT61 <= -3 C.
    p = _plant(-2.0, 90.0)
    t = _first_initiation(p, 4 * 3600)
    assert t is not None
    run_s = t - UNIT_DEFAULTS["restart_delay_s"]
    assert run_s >= 40 * 60
    assert p.coil_c <= -3.0
    assert 40 * 60 <= run_s <= 90 * 60  # S-D26: 40-90 min in frosty weather


def test_the_first_defrost_after_power_up_may_come_after_22_min_on_a_cold_coil():
    # S-D1: first defrost after start-up: >= 22 min compressor time and Tn <= -9 C.
    p = _plant(-5.0, 90.0, first_rule=True)
    t = _first_initiation(p, 4 * 3600)
    assert 22 * 60 <= t - UNIT_DEFAULTS["restart_delay_s"] < 40 * 60
    assert p.coil_c <= -9.0


def test_no_defrost_while_the_coil_stays_above_minus_3():
    # Mild dry air: the coil never gets to -3 C, so even the 240-min integrating rule waits.
    p = _plant(5.0, 40.0)
    assert _first_initiation(p, 5 * 3600) is None
    assert p.coil_c > -3.0


def test_defrost_ends_at_the_termination_temperature():
    # S-D3: coil pipe >= 14 C ends the defrost.
    p = _plant(-3.0, 90.0)
    _first_initiation(p, 4 * 3600)
    while p.mode != STOP_OUT:
        p.step()
    rec = p.defrosts[0]
    assert rec["end"].startswith("coil reached 14")
    assert p.coil_c >= 14.0
    assert 4 * 60 <= rec["ended_s"] - rec["reversed_s"] <= 12 * 60


def test_the_compressor_stops_for_the_valve_switch_at_both_ends_of_a_defrost():
    # S-D3: compressor stop 50 s, valve, 10 s, restart; so about 60 s without current.
    p = _plant(-3.0, 90.0)
    _first_initiation(p, 4 * 3600)
    stop_in = []
    while p.mode == STOP_IN:
        stop_in.append(p.amps)
        p.step()
    assert p.mode == DEFROST
    assert len(stop_in) == 60
    assert max(stop_in) < 0.5
    while p.mode == DEFROST:
        p.step()
    assert p.amps < 0.5  # STOP_OUT
    stop_out = 0
    while p.mode == STOP_OUT:
        assert p.amps < 0.5
        stop_out += 1
        p.step()
    assert stop_out == 60
    assert p.mode == RUN and p.amps >= 4.0


def test_heating_current_is_4_to_10_a_and_defrost_current_is_set_by_the_unit():
    p = _plant(-5.0, 90.0)
    seen = []
    _run(p, 3 * 3600, lambda q: seen.append((q.mode, q.amps)))
    run = [a for m, a in seen if m == RUN]
    assert min(run) >= 4.0 and max(run) <= 11.0
    assert {a for m, a in seen if m == DEFROST} == {5.0}


def test_a_unit_whose_ct_reads_zero_in_defrost():
    # S-D28: compressor current reads 0 during defrost on some units.
    p = _plant(-5.0, 90.0, unit={"defrost": {"ct_reads_zero": True}})
    seen = []
    _run(p, 3 * 3600, lambda q: seen.append((q.mode, q.amps)))
    assert any(m == DEFROST for m, _ in seen)
    assert all(a == 0.0 for m, a in seen if m == DEFROST)


def test_restart_delay_of_3_min_after_power_returns():
    p = _plant(-5.0, 80.0)
    _run(p, 1200)
    assert p.mode == RUN
    p.set_relay(True)
    _run(p, 600)
    assert p.amps == 0.0
    p.set_relay(False)
    off = 0
    while p.amps < 1.0:
        p.step()
        off += 1
    assert off == 180
    assert p.power_log == [(1200.0, "lost", "relay"), (1800.0, "restored", "relay")]


def test_cooling_coil_sits_above_the_air():
    p = _plant(30.0, 50.0, unit={"mode": "cool", "setpoint_c": 24.0, "room_start_c": 27.0})
    _run(p, 900)
    assert p.mode == RUN
    assert p.coil_c > p.ambient_c + 5.0
    assert p.ice == 0.0


def test_the_unit_stops_when_the_room_is_warm_and_restarts_when_it_cools():
    p = _plant(
        5.0,
        60.0,
        unit={"house_ua_w_per_k": 40.0, "house_capacity_j_per_k": 1.0e6, "room_start_c": 21.0},
    )
    modes = []
    _run(p, 6 * 3600, lambda q: modes.append(q.mode))
    assert p.thermostat_stops >= 2
    assert modes.count(RUN) > 0 and modes.count("idle") > 0
    assert 19.5 < p.room_c < 22.5


def test_a_stuck_defrost_never_terminates_and_one_power_cycle_fixes_it():
    p = _plant(-3.0, 90.0, faults=[{"type": "stuck_defrost", "at_min": 0}])
    _first_initiation(p, 4 * 3600)
    _run(p, 3600)
    assert p.mode == DEFROST and p.defrosts[0]["stuck"]
    assert math.isclose(p.coil_c, UNIT_DEFAULTS["defrost"]["stuck_coil_c"])
    assert p.needs_help()
    p.set_relay(True)
    _run(p, 1800)
    p.set_relay(False)
    assert _first_initiation(p, p.t + 4 * 3600) is not None
    _run(p, 20 * 60)
    assert not p.defrosts[-1]["stuck"]
    assert p.defrosts[-1]["ended_s"] is not None


def test_a_stuck_defrost_that_is_not_fixed_returns_after_the_restart():
    p = _plant(
        -3.0, 90.0, faults=[{"type": "stuck_defrost", "at_min": 0, "fixed_by_power_cycle": False}]
    )
    _first_initiation(p, 4 * 3600)
    _run(p, 20 * 60)
    p.set_relay(True)
    _run(p, 1800)
    p.set_relay(False)
    _first_initiation(p, p.t + 4 * 3600)
    _run(p, 20 * 60)
    assert len(p.defrosts) == 2
    assert p.defrosts[-1]["stuck"] and p.mode == DEFROST


def test_crazy_mode_defrosts_every_15_to_25_min():
    p = _plant(-3.0, 90.0, faults=[{"type": "crazy_mode", "at_min": 60, "every_min": [15, 25]}])
    _run(p, 5 * 3600)
    starts = [d["initiated_s"] for d in p.defrosts if d["crazy"]]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(gaps) >= 8
    assert all(15 * 60 <= g <= 25 * 60 + 1 for g in gaps)


def test_a_hang_after_power_return_keeps_the_compressor_off_until_the_next_cycle():
    p = _plant(-5.0, 80.0, faults=[{"type": "hang", "trigger": "on_power_return"}])
    _run(p, 1200)
    p.set_relay(True)
    _run(p, 300)
    p.set_relay(False)
    _run(p, 3600)
    assert p.mode == HUNG and p.amps < 0.5 and p.needs_help()
    p.set_relay(True)
    _run(p, 300)
    p.set_relay(False)
    _run(p, 600)
    assert p.mode == RUN


def test_a_hang_that_power_cycling_does_not_fix():
    p = _plant(-5.0, 80.0, faults=[{"type": "hang", "at_min": 20, "fixed_by_power_cycle": False}])
    _run(p, 1500)
    assert p.mode == HUNG
    for _ in range(3):
        p.set_relay(True)
        _run(p, 300)
        p.set_relay(False)
        _run(p, 1200)
        assert p.mode == HUNG


def test_an_outage_mid_defrost_cuts_the_unit_whatever_the_relay_says():
    p = _plant(
        -3.0,
        90.0,
        faults=[{"type": "outage", "in_defrost": 1, "offset_min": 3, "duration_min": 20}],
    )
    _first_initiation(p, 4 * 3600)
    _run(p, 60 + 3 * 60 + 5)
    assert not p.powered and p.outage and not p.relay_cut
    assert p.board_up
    assert p.defrosts[0]["end"] == "power lost"
    _run(p, 20 * 60)
    assert p.powered
    assert [w for _, _, w in p.power_log] == ["outage", "outage"]


def test_an_outage_can_take_the_board_down_too():
    p = _plant(
        -3.0,
        90.0,
        faults=[{"type": "outage", "at_min": 10, "duration_min": 5, "board_reboots": True}],
    )
    _run(p, 11 * 60)
    assert not p.board_up and not p.powered
    _run(p, 5 * 60)
    assert p.board_up and p.powered


@pytest.mark.parametrize(
    "sensor, cause, field",
    [
        ("coil", "open", "coil_fault"),
        ("ambient", "short", "ambient_fault"),
        ("ct", "bias", "ct_fault"),
    ],
)
def test_sensor_faults_read_nan_with_their_cause(sensor, cause, field):
    p = _plant(
        -3.0,
        80.0,
        faults=[
            {"type": "sensor", "sensor": sensor, "cause": cause, "at_min": 1, "duration_min": 2}
        ],
    )
    r = Reading()
    _run(p, 30)
    assert not p.sense(r).faulted()
    _run(p, 60)
    p.sense(r)
    assert getattr(r, field) == cause
    assert r.faulted()
    _run(p, 120)
    assert not p.sense(r).faulted()


def test_a_ct_fault_without_a_cause_is_a_bias_fault():
    p = _plant(-3.0, 80.0, faults=[{"type": "sensor", "sensor": "ct"}])
    r = p.sense(Reading())
    assert r.ct_fault == states.FAULT_CT_BIAS and r.amps != r.amps


def test_sensor_noise_is_bounded_and_the_same_for_the_same_seed():
    spec = {
        "weather": {"ambient_c": -3.0, "humidity_pct": 80.0},
        "sensors": {"noise_k": 0.5, "noise_a": 0.1},
    }

    def trace(seed):
        p = Plant(spec, seed)
        out = []
        for _ in range(600):
            p.step()
            r = p.sense(Reading())
            out.append((r.coil_c, r.ambient_c, r.amps))
            assert abs(r.ambient_c - p.ambient_c) <= 0.51
            assert abs(r.coil_c - p.coil_c) <= 0.51
        return out

    assert trace(7) == trace(7)
    assert trace(7) != trace(8)


def test_day_profiles():
    cos = DayProfile({"mean": -3.0, "amplitude": 3.0, "peak_h": 15})
    assert math.isclose(cos.at(15 * 3600), 0.0, abs_tol=1e-9)
    assert math.isclose(cos.at(3 * 3600), -6.0, abs_tol=1e-9)
    pts = DayProfile({"points": [[0, -5], [12, 5]], "repeat_h": 24})
    assert math.isclose(pts.at(6 * 3600), 0.0)
    assert pts.at(18 * 3600) == 5.0
    assert math.isclose(pts.at(30 * 3600), 0.0)
    assert DayProfile(4).at(1e6) == 4.0


def test_unknown_unit_parameters_are_rejected():
    with pytest.raises(ValueError, match="unit.defrost: unknown parameter 'max_minutes'"):
        _plant(0.0, 50.0, unit={"defrost": {"max_minutes": 10}})
    with pytest.raises(ValueError, match="type 'flood'"):
        _plant(0.0, 50.0, faults=[{"type": "flood"}])
