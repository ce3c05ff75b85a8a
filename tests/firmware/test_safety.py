"""The safety promises against the attacks that once broke them (docs/safety.md).

Each test is named for the promise it protects and replays the attack that defeated it on a
whole board (test_app.Rig: the real App, HAL, store and command reader with a fake `machine`).
The random, whole-board version of these attacks is tests/host/test_board_adversarial.py.
"""

import json
import os

import machine
from splitguard import config, safemode, states, store
from splitguard.led import led_on
from splitguard.store import FIELDS, Store, crc32
from splitguard.supervisor import GAP_S, WAIT_DEFROST, WAIT_FAULT, WAIT_GAP, WAIT_SETTLE
from test_app import Rig, _store_path
from test_supervisor import ScriptedDetector

_FAST = {"supervisor": {"boot_settle_min": 1}}
_OPEN_UV = 3300000  # the coil divider at its rail: an open thermistor


def _settled(**kw):
    rig = Rig(device=config.validate_device(_FAST), **kw)
    rig.app.run(periods=13)  # 65 s at 5 s: past the 1 min settle
    return rig


def _scripted(rig, state=states.RUNNING):
    """Put a scripted detector in the rig's supervisor: the unit does what the test says."""
    det = ScriptedDetector()
    det.next_state = state
    rig.app.supervisor._det = det
    rig.app.run(periods=1)
    return det


def _cmd(rig, text, at_ms=None):
    rig.send(text + "\n")
    rig.poll(at_ms)
    return rig.replies()[-1]


class _Kbd:
    def __init__(self):
        self.calls = []

    def __call__(self, ch):
        self.calls.append(ch)


# -- 1. A control byte never ends a power-off; a host gets the REPL only when it is safe -------


def test_ctrl_c_is_switched_off_while_the_board_supervises_so_a_byte_cannot_end_a_power_off():
    rig = Rig(device=config.validate_device(_FAST))
    kbd = _Kbd()
    rig.app.kbd_intr = kbd
    rig.app.run(periods=13)
    assert set(kbd.calls) == {-1}  # from the first moment of supervision, settle included
    assert _cmd(rig, '{"cmd": "power_cycle"}')["ok"] is True
    rig.send(b"\x03\x03\x03\n")
    rig.app.run(periods=2)
    assert rig.hal.power_cut() is True
    assert rig.app.supervisor.decision.state == states.POWER_OFF
    assert set(kbd.calls) == {-1}


def test_repl_is_refused_while_power_is_held_off_and_says_how_long_is_left():
    rig = _settled()
    rig.app.kbd_intr = _Kbd()
    _cmd(rig, '{"cmd": "power_cycle"}')
    r = _cmd(rig, '{"cmd": "repl", "id": "f"}')
    assert r["ok"] is False and "POWER_OFF" in r["refused"]
    assert 1790 <= r["off_left_s"] <= 1800  # 30 min default, just started
    assert rig.app.handed_over is False and rig.hal.power_cut() is True


def test_repl_hands_over_with_the_unit_powered_ctrl_c_on_and_a_watchdog_that_ends_it():
    machine.forget_made()
    rig = _settled()
    kbd = _Kbd()
    rig.app.kbd_intr = kbd
    rig.app.run(periods=0)
    r = _cmd(rig, '{"cmd": "repl", "id": "f"}')
    assert r["ok"] is True and r["watchdog_s"] == 30
    assert rig.app.handed_over is True
    assert rig.hal.power_cut() is False
    assert kbd.calls[-1] == 3 and set(kbd.calls[:-1]) == {-1}
    assert machine.made_wdts()[-1].timeout == 30000
    rig.app.run(periods=5)  # returns at once: the board is the REPL's now
    assert rig.samples()[-1]["t"] < rig.clock.ticks_ms() or rig.samples() == []


# -- 2. Every path to the relay passes the same guards and is counted --------------------------


def test_relay_test_is_refused_while_sensors_settle():
    rig = Rig()
    rig.app.run(periods=1)
    r = _cmd(rig, '{"cmd": "relay_test", "ms": 500}')
    assert r["ok"] is False and r["refused"] == WAIT_SETTLE
    assert rig.hal.power_cut() is False


def test_relay_test_is_refused_on_an_open_coil_sensor():
    rig = _settled()
    rig.hal.coil_adc.uv = _OPEN_UV
    rig.app.run(periods=1)
    r = _cmd(rig, '{"cmd": "relay_test", "ms": 500}')
    assert r["ok"] is False and r["refused"] == WAIT_FAULT
    assert rig.hal.power_cut() is False
    assert machine.made_pins(26)[-1].value() == 0


def test_relay_test_is_refused_115_s_into_a_defrost_within_its_limit():
    rig = _settled()
    det = _scripted(rig, states.DEFROSTING)
    rig.app.run(periods=23)  # 115 s into the defrost; the limit is 15 min
    assert det.state == states.DEFROSTING
    r = _cmd(rig, '{"cmd": "relay_test", "ms": 500}')
    assert r["ok"] is False and r["refused"] == WAIT_DEFROST
    assert rig.hal.power_cut() is False


def test_back_to_back_relay_tests_are_spaced_10_min_apart_and_counted_against_the_limit():
    machine.forget_made()
    rig = _settled()
    _scripted(rig, states.RUNNING)
    cut_at = []
    refusals = {}
    # 30 requests a minute for 40 minutes, as the attack sent them.
    for _ in range(40 * 30):
        rig.out[:] = b""  # read what this request caused, and nothing older
        rig.send('{"cmd": "relay_test", "ms": 2000}\n')
        t0 = rig.clock.ticks_ms()
        rig.poll(t0)
        if rig.hal.power_cut():
            cut_at.append(t0)
            (ev,) = rig.events(states.EV_RELAY_TEST)
            assert ev["cycles_in_window"] == len(cut_at)
            rig.poll(t0 + 2000)
            assert rig.hal.power_cut() is False
        else:
            why = rig.replies()[-1]["refused"]
            refusals[why] = refusals.get(why, 0) + 1
        rig.clock.advance(2000)
        rig.app.sample(rig.clock.ticks_ms())
    # One every 10 min at most, and 3 in 24 h (the default limit), then refused.
    assert len(cut_at) == 3
    assert min(b - a for a, b in zip(cut_at, cut_at[1:])) >= GAP_S * 1000
    assert refusals[WAIT_GAP] > 0
    assert refusals["the limit of 3 power cycles in 24 h is reached (3 in the window)"] > 0


def test_a_manual_power_cycle_right_after_a_relay_test_waits_the_gap():
    rig = _settled()
    _scripted(rig)
    rig.send('{"cmd": "relay_test", "ms": 100}\n')
    rig.poll()
    assert rig.hal.power_cut() is True
    rig.poll(rig.clock.ticks_ms() + 100)
    assert rig.hal.power_cut() is False
    r = _cmd(rig, '{"cmd": "power_cycle"}')
    assert r["ok"] is False and r["refused"] == WAIT_GAP
    assert rig.hal.power_cut() is False


# -- 3. A cut that cannot be recorded is not made -----------------------------------------------


class _FullFlash:
    """open() for a flash with no room left: reads work, every write fails."""

    def __call__(self, path, mode="r"):
        if "w" in mode:
            raise OSError(28, "ENOSPC")
        return open(path, mode)


def test_a_power_cycle_that_cannot_be_recorded_is_not_made_and_locks_out_powered():
    rig = _settled()
    rig.app.supervisor._store._open = _FullFlash()
    r = _cmd(rig, '{"cmd": "power_cycle"}')
    assert r["ok"] is False and "could not be recorded" in r["refused"]
    assert rig.hal.power_cut() is False
    assert machine.made_pins(26)[-1].value() == 0  # the relay never moved
    d = rig.app.supervisor.decision
    assert d.state == states.LOCKOUT
    assert "could not be recorded" in d.reason and "unit stays powered" in d.reason
    assert rig.events(states.EV_POWER_OFF) == []
    assert rig.events(states.EV_LOCKOUT)[-1]["cause"] == "manual"


def test_a_relay_test_that_cannot_be_recorded_is_not_made():
    rig = _settled()
    rig.app.supervisor._store._open = _FullFlash()
    r = _cmd(rig, '{"cmd": "relay_test", "ms": 500}')
    assert r["ok"] is False
    assert rig.hal.power_cut() is False
    assert rig.events(states.EV_RELAY_TEST) == []


# -- 4. Act on the state at the moment of acting ------------------------------------------------


def test_a_reboot_accepted_before_a_cut_is_cancelled_when_the_cut_came_first():
    rig = _settled()
    rig.port_open = False  # the reply cannot leave: the reset waits up to 1 s for it
    rig.send('{"cmd": "reboot", "id": 1}\n')
    t0 = rig.clock.ticks_ms()
    rig.app.poll(t0)
    assert rig.resets == []
    rig.send('{"cmd": "power_cycle", "id": 2}\n')
    rig.app.poll(t0 + 100)  # the cut is decided 100 ms after the reboot was accepted
    assert rig.hal.power_cut() is True
    rig.app.poll(t0 + 1100)  # the moment the reboot would have happened
    rig.port_open = True
    rig.poll(t0 + 1150)
    assert rig.resets == []
    assert rig.hal.power_cut() is True
    faults = [x for x in rig.lines() if x["kind"] == "fault" and x["where"] == "command"]
    assert faults and faults[-1]["error"].startswith("reboot cancelled: refused in state POWER_OFF")


def test_a_reboot_accepted_before_an_automatic_cut_is_cancelled():
    rig = _settled()
    det = _scripted(rig, states.DEFROSTING)
    rig.app.run(periods=179)  # 14 min 55 s of defrost: the next sample is past the limit
    assert rig.hal.power_cut() is False
    rig.port_open = False
    rig.send('{"cmd": "reboot"}\n')
    t0 = rig.clock.ticks_ms() - 4950
    rig.app.poll(t0 + 4900)
    det.next_state = states.DEFROSTING
    rig.app.sample(t0 + 5000)  # 100 ms later the defrost is too long: power off
    assert rig.hal.power_cut() is True
    rig.app.poll(t0 + 5950)
    rig.port_open = True
    rig.poll(t0 + 6000)
    assert rig.resets == [] and rig.hal.power_cut() is True


# -- 5. Injected readings never hide a real fault; injection only in test mode -------------------


def test_inject_is_refused_outside_test_mode():
    rig = Rig()
    rig.app.run(periods=1)
    r = _cmd(rig, '{"cmd": "inject", "coil_c": -5}')
    assert r["ok"] is False and r["error"].startswith("test mode is off")
    assert rig.app.injected is False


def test_an_override_renewed_every_few_minutes_never_hides_an_open_coil_thermistor():
    rig = _settled()
    rig.hal.coil_adc.uv = _OPEN_UV
    _cmd(rig, '{"cmd": "test_mode", "on": true, "ttl_s": 3600}')
    for _ in range(8):
        _cmd(rig, '{"cmd": "inject", "coil_c": -5, "ambient_c": -2, "amps": 6, "ttl_s": 300}')
        rig.app.run(periods=36)  # 3 min
        s = rig.samples()[-1]
        assert s["faults"].get("coil") == "open" and s["coil"] is None
        assert s["test"] is True
        r = _cmd(rig, '{"cmd": "power_cycle"}')
        assert r["ok"] is False and r["refused"] == WAIT_FAULT
    assert rig.hal.power_cut() is False
    assert rig.events(states.EV_POWER_OFF) == []


def test_test_mode_ends_by_itself_and_every_sample_in_it_says_so():
    rig = Rig()
    rig.app.run(periods=1)
    r = _cmd(rig, '{"cmd": "test_mode", "on": true, "ttl_s": 20}')
    assert r["ok"] is True and r["test_left_s"] == 20
    _cmd(rig, '{"cmd": "inject", "coil_c": 1.5, "ttl_s": 600}')
    st = _cmd(rig, '{"cmd": "status"}')
    assert st["test_mode"] is True and st["injected"] is True
    assert st["inject_left_s"] <= 20  # an override never outlives test mode
    rig.app.run(periods=6)
    samples = rig.samples()
    in_test = [s for s in samples if s["t"] < 25000 and s["t"] > 0]
    assert in_test and all(s["test"] is True for s in in_test)
    assert "test" not in samples[-1] and "injected" not in samples[-1]
    ends = [e for e in rig.events(states.EV_TEST_MODE) if e["on"] is False]
    assert len(ends) == 1 and ends[0]["reason"] == "Test mode ended by itself."
    assert _cmd(rig, '{"cmd": "status"}')["test_mode"] is False


def test_test_mode_is_at_most_an_hour():
    rig = Rig()
    rig.app.run(periods=1)
    r = _cmd(rig, '{"cmd": "test_mode", "on": true, "ttl_s": 3601}')
    assert r["ok"] is False and r["error"].startswith("ttl_s: 3601 is out of range")


# -- 6. No stored record can crash the board ----------------------------------------------------


def _raw_record(rec):
    body = json.dumps(rec).encode()
    return body + b"\n" + ("%08x\n" % crc32(body)).encode()


def _lockout_record():
    rec = store.defaults()
    rec["life_s"] = 5000
    rec["cycles"] = [1000, 2000, 3000]
    rec["lockout"] = True
    rec["lockout_reason"] = "defrost too long, but 3 power cycles"
    rec["state"] = states.LOCKOUT
    rec["cause"] = "defrost_too_long"
    return rec


def _boot_on(data):
    path = _store_path()
    with open(path, "wb") as f:
        f.write(data)
    rig = Rig(store_path=path)
    rig.app.run(periods=1)
    return rig


def test_a_record_with_a_valid_crc_but_a_missing_field_is_corrupt_not_a_crash():
    for key in FIELDS:
        rec = _lockout_record()
        del rec[key]
        rig = _boot_on(_raw_record(rec))
        d = rig.app.supervisor.decision
        if key == "cause":
            assert d.state == states.LOCKOUT, key  # optional: written by older firmware
            continue
        assert d.cycles_in_window == 3, key  # corrupt: the window is assumed full
        assert rig.hal.power_cut() is False
        faults = [x for x in rig.lines() if x["kind"] == "fault" and x["where"] == "store"]
        why = "version" if key == "v" else "missing"
        assert faults and why in faults[0]["error"], (key, faults)


def test_a_record_with_a_field_of_the_wrong_kind_is_corrupt_not_a_crash():
    bad = (
        ("life_s", -1),
        ("life_s", 1 << 40),
        ("life_s", 1.5),
        ("cycles", [3000, 1000]),
        ("cycles", [1, "2"]),
        ("cycles", {"a": 1}),
        ("lockout", 1),
        ("lockout", False),  # contradicts state LOCKOUT
        ("lockout_reason", 7),
        ("lockout_reason", "x" * 600),
        ("failed", True),
        ("failed", 10**9),
        ("state", ["LOCKOUT"]),
        ("state", "HALTED"),
        ("cause", 3),
        ("cause", "anything"),
        ("extra", 1),
    )
    for key, value in bad:
        rec = _lockout_record()
        rec[key] = value
        assert store.Store(_store_path(), os).load()["cycles"] == []  # a fresh path: missing
        path = _store_path()
        with open(path, "wb") as f:
            f.write(_raw_record(rec))
        s = Store(path, os)
        loaded = s.load()
        assert s.fault_kind == "corrupt", (key, value)
        assert loaded.get("history_lost") is True


def test_every_truncation_of_a_lockout_record_boots_supervising_and_powered():
    data = store.encode(_lockout_record())
    for n in range(0, len(data), 7):
        rig = _boot_on(data[:n])
        d = rig.app.supervisor.decision
        assert rig.hal.power_cut() is False
        assert d.state == states.LOCKOUT or d.cycles_in_window == 3, n


# -- 8. Repeated crashes end in safe mode --------------------------------------------------------


class _Hal:
    def __init__(self):
        self.cut = None
        self.leds = []

    def set_power_cut(self, cut):
        self.cut = cut

    def set_led(self, on):
        self.leds.append(on)


def test_five_crashes_in_a_row_mean_safe_mode_and_a_power_on_reset_starts_afresh():
    path = _store_path()
    log = safemode.CrashLog(path, os)
    assert log.count == 0 and not log.safe_mode()
    for i in range(5):
        log = safemode.CrashLog(path, os)  # every crash is followed by a boot
        log.at_boot("hard")
        assert not log.safe_mode(), i
        log.crashed("MemoryError: memory allocation failed")
    log = safemode.CrashLog(path, os)
    log.at_boot("hard")
    assert log.safe_mode() and log.last == "MemoryError: memory allocation failed"
    log.at_boot("power_on")
    assert safemode.CrashLog(path, os).count == 0


def test_watchdog_resets_count_as_crashes_and_a_healthy_run_clears_them():
    path = _store_path()
    for _ in range(3):
        safemode.CrashLog(path, os).at_boot("watchdog")
    log = safemode.CrashLog(path, os)
    assert log.count == 3 and log.last.startswith("watchdog reset")
    log.healthy()
    assert safemode.CrashLog(path, os).count == 0


def test_a_garbled_crash_file_means_no_known_crashes():
    path = _store_path()
    for data in (b"", b"{", b'{"n": "5"}', b'{"n": -3}', b"\xff\xfe", b'{"n": 1e9}'):
        with open(path, "wb") as f:
            f.write(data)
        assert safemode.CrashLog(path, os).count == 0, data


def test_safe_mode_releases_the_relay_says_why_keeps_the_lockout_and_blinks_its_own_rhythm():
    hal = _Hal()
    hal.cut = True
    lines = []
    from splitguard.clock import ManualClock
    from splitguard.report import Reporter

    clock = ManualClock(0)
    text = safemode.safe_mode_text(5, "MemoryError: x", "defrost too long, but 3 power cycles")
    safemode.run(hal, Reporter(lines.append), text, clock.ticks_ms, clock.advance, rounds=2)
    assert hal.cut is False
    faults = [json.loads(x) for x in lines]
    assert [f["where"] for f in faults] == ["safe_mode", "safe_mode"]
    assert faults[1]["t"] - faults[0]["t"] == 60000
    assert "5 crashes in a row (last: MemoryError: x)" in faults[0]["error"]
    assert "the stored LOCKOUT is kept" in faults[0]["error"]
    assert hal.leds[:40] == [led_on("safe_mode", t * 50) for t in range(40)]
    assert led_on("safe_mode", 0) and not led_on("safe_mode", 150) and led_on("safe_mode", 260)


# -- 9. The board's own events are never lost to noise ------------------------------------------


def test_a_garbage_flood_never_pushes_a_power_off_event_out_of_the_queue():
    rig = _settled()
    rig.port_open = False
    for i in range(200):
        rig.send(b"garbage %d\n" % i)
        rig.app.poll(rig.clock.ticks_ms())
    rig.send('{"cmd": "power_cycle"}\n')
    rig.app.poll(rig.clock.ticks_ms())
    for i in range(200):
        rig.send(b"more garbage %d\n" % i)
        rig.app.poll(rig.clock.ticks_ms())
    rig.port_open = True
    rig.poll()
    assert len(rig.events(states.EV_POWER_OFF)) == 1
    assert rig.app.outbox.dropped_total > 300  # replies went instead


# -- 7. Every accepted setting runs on the board (the App's side of it) -------------------------


def test_fractional_periods_reach_the_clock_as_whole_milliseconds():
    # time.ticks_add and time.sleep_ms take only ints on MicroPython: 2.5 s must become 2500.
    from splitguard.app import whole_ms

    for value, unit, want in ((2.5, 1000, 2500), (1.5, 60000, 90000), (5, 1000, 5000)):
        got = whole_ms(value, unit)
        assert got == want and type(got) is int, (value, got)
    rig = Rig(device=config.validate_device({"supervisor": {"lockout_clear_hold_s": 2.5}}))
    assert type(rig.app.clear_hold_ms) is int and rig.app.clear_hold_ms == 2500
    assert type(rig.app.period_ms) is int


def test_the_watchdog_of_an_unused_repl_is_not_counted_as_a_crash():
    path = _store_path()
    for _ in range(6):
        safemode.CrashLog(path, os).handed_over()  # `repl`, then nobody used the REPL
        log = safemode.CrashLog(path, os)
        assert log.handover is True
        log.at_boot("watchdog")
    log = safemode.CrashLog(path, os)
    assert log.count == 0 and not log.safe_mode() and log.handover is False
    log.at_boot("watchdog")  # a watchdog reset without a handover before it is a crash
    assert safemode.CrashLog(path, os).count == 1
