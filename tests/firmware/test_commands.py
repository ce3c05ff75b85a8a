"""Host commands over the serial port: each gets exactly one reply; garbage changes nothing.

Every test plays the host against a whole board (test_app.Rig: fake ADC, relay pin, store and
config file on disk, a port whose bytes the test writes and reads). docs/protocol.md is the
contract these tests hold the firmware to.
"""

import json
import os

import machine
from splitguard import VERSION, config, states, store
from splitguard.commands import MAX_LINE, LineReader, merge_config
from splitguard.supervisor import WAIT_SETTLE
from test_app import Rig, _locked_out_store, _store_path

# The smallest settle time the config allows, so a power cycle is possible after 1 min.
_FAST_SETTLE = {"supervisor": {"boot_settle_min": 1}}


def _fast_device():
    return config.validate_device(_FAST_SETTLE)


def _settled_rig():
    rig = Rig(device=_fast_device())
    rig.app.run(periods=13)  # 65 s at the default 5 s period: past the 1 min settle
    return rig


def _in_test_mode(rig, ttl_s=600):
    """Turn test mode on (injected readings are refused without it); returns the rig."""
    rig.send('{"cmd": "test_mode", "on": true, "ttl_s": %d}\n' % ttl_s)
    rig.poll()
    r = rig.replies()[-1]
    assert r["ok"] is True and r["test_mode"] is True, r
    return rig


def _lockout_rig():
    path = _locked_out_store("defrost too long, but 3 power cycles in the last 24 h")
    rig = Rig(store_path=path)
    rig.app.run(periods=1)
    return rig


def _snapshot(rig):
    """Everything a command could change: supervisor, relay (pin level too), overrides."""
    d = rig.app.supervisor.decision
    return (
        d.state,
        d.power_cut,
        d.cycles_in_window,
        d.reason,
        d.pending,
        rig.hal.power_cut(),
        machine.made_pins(26)[-1].value(),
        rig.app.injected,
        rig.app.relay_test_active(),
        rig.app.commands.saved_hash,
        len(rig.resets),
    )


def _last(rig):
    return rig.replies()[-1]


# -- status and config_get ---------------------------------------------------------------------


def test_status_reports_states_reading_relay_counters_and_config_hash():
    rig = Rig()
    replies = rig.command('{"cmd": "status", "id": 7}', periods=2)
    assert len(replies) == 1
    r = replies[0]
    assert r["kind"] == "reply" and r["id"] == 7 and r["ok"] is True and r["cmd"] == "status"
    assert r["sup"] == states.WATCHING and r["unit"] == states.OFF
    assert r["cut"] is False and r["relay"] is False and r["relay_test"] is False
    assert r["cycles"] == 0 and r["cycle_limit"] == 3
    assert r["config"] == config.config_hash(rig.device)
    assert r["reboot_required"] is False
    assert r["fw"] == VERSION
    assert r["dropped"] == 0 and r["rx"] == 1 and r["rx_errors"] == 0
    assert r["injected"] is False
    # The reading of the last sample: 5 °C coil and 7 °C ambient within the beta model's 0.2 K.
    assert abs(r["coil"] - 5.0) < 0.2 and abs(r["amb"] - 7.0) < 0.2
    assert r["faults"] == {}
    # Answered in the poll right after the first sample, at t = 0.
    assert r["uptime_s"] == 0


def test_status_uptime_counts_whole_seconds_since_boot():
    rig = Rig()
    rig.app.run(periods=3)
    r = rig.command('{"cmd": "status"}')[-1]
    assert r["uptime_s"] == 15
    assert r["id"] is None


def test_config_get_returns_the_active_config_and_its_hash():
    rig = Rig()
    r = rig.command('{"cmd": "config_get", "id": "a"}')[-1]
    assert r["ok"] is True and r["id"] == "a"
    assert r["config"] == json.loads(json.dumps(rig.device))
    assert r["hash"] == config.config_hash(rig.device)
    assert r["reboot_required"] is False


# -- config_set ---------------------------------------------------------------------------------


def test_config_set_validates_saves_atomically_and_applies_at_next_boot():
    rig = Rig()
    before = config.config_hash(rig.device)
    r = rig.command(
        '{"cmd": "config_set", "id": 1, "config": {"supervisor": {"power_off_min": 45}}}'
    )[-1]
    assert r["ok"] is True and r["saved"] is True and r["changed"] is True
    assert r["reboot_required"] is True
    saved = config.load_device(rig.config_path)
    assert saved["supervisor"]["power_off_min"] == 45
    # Every other field kept its value.
    assert saved["supervisor"]["max_cycles_per_24h"] == 3
    assert saved["detector"] == rig.device["detector"]
    assert r["hash"] == config.config_hash(saved) and r["active"] == before
    try:
        os.stat(rig.config_path + ".tmp")
        leftover = True
    except OSError:
        leftover = False
    assert not leftover
    status = rig.command('{"cmd": "status"}')[-1]
    assert status["config"] == before and status["config_saved"] == r["hash"]
    assert status["reboot_required"] is True


def test_config_set_rejects_an_out_of_range_value_with_the_config_check_message():
    rig = Rig()
    r = rig.command(
        '{"cmd": "config_set", "id": 2, "config": {"supervisor": {"power_off_min": 2}}}'
    )[-1]
    assert r["ok"] is False and r["saved"] is False
    # The 5 min off-time floor (docs/configuration.md); the line `splitguard config check`
    # prints for a config.json with this value.
    want = "config.json: supervisor.power_off_min: 2 is out of range (allowed 5..240 minutes)"
    assert r["error"] == want
    assert r["errors"] == [want]
    data = json.loads(json.dumps(rig.device))
    data["supervisor"]["power_off_min"] = 2
    try:
        config.validate_device(data, "config.json")
        check = None
    except config.ConfigError as exc:
        check = exc.errors
    assert r["errors"] == check
    try:
        os.stat(rig.config_path)
        written = True
    except OSError:
        written = False
    assert not written


def test_config_set_names_a_misspelt_field():
    rig = Rig()
    r = rig.command('{"cmd": "config_set", "config": {"supervisor": {"power_of_min": 45}}}')[-1]
    assert r["ok"] is False
    assert r["error"] == (
        "config.json: supervisor.power_of_min: unknown field (did you mean power_off_min?)"
    )


def test_config_set_partial_changes_build_on_each_other_and_null_restores_a_default():
    rig = Rig()
    rig.command('{"cmd": "config_set", "config": {"supervisor": {"power_off_min": 45}}}')
    rig.command('{"cmd": "config_set", "config": {"detector": {"running_amps": 2}}}')
    saved = config.load_device(rig.config_path)
    assert saved["supervisor"]["power_off_min"] == 45
    assert saved["detector"]["running_amps"] == 2
    rig.command('{"cmd": "config_set", "config": {"supervisor": {"power_off_min": null}}}')
    saved = config.load_device(rig.config_path)
    assert saved["supervisor"]["power_off_min"] == 30
    assert saved["detector"]["running_amps"] == 2


def test_config_set_back_to_the_active_config_needs_no_reboot():
    rig = Rig()
    rig.command('{"cmd": "config_set", "config": {"sample_period_s": 10}}')
    r = rig.command('{"cmd": "config_set", "config": {"sample_period_s": 5}}')[-1]
    assert r["ok"] is True and r["reboot_required"] is False


def test_config_set_without_an_object_is_an_argument_error():
    rig = Rig()
    r = rig.command('{"cmd": "config_set", "config": [1, 2]}')[-1]
    assert r["ok"] is False
    assert r["error"] == "config: expected an object of fields to change, got a list"


def test_merge_replaces_a_thermistor_spec_as_a_whole():
    base = config.default_device()
    merged = merge_config(base, {"coil_thermistor": {"table": [[0, 32650], [25, 10000]]}})
    assert merged["coil_thermistor"] == {"table": [[0, 32650], [25, 10000]]}
    assert base["coil_thermistor"] == {"beta": {"r25_ohm": 10000, "beta_k": 3950}}


# -- clear_lockout -----------------------------------------------------------------------------


def test_clear_lockout_from_the_host_watches_again():
    rig = _lockout_rig()
    assert rig.samples()[-1]["sup"] == states.LOCKOUT
    r = rig.command('{"cmd": "clear_lockout", "id": 3}')[-1]
    assert r["ok"] is True and r["sup"] == states.WATCHING
    cleared = rig.events(states.EV_LOCKOUT_CLEARED)
    assert len(cleared) == 1 and cleared[0]["source"] == "host"
    # The event comes before the reply: the host sees the consequence first.
    assert cleared[0]["seq"] < r["seq"]
    assert rig.samples()[-1]["sup"] == states.WATCHING


def test_clear_lockout_outside_lockout_is_refused_and_changes_nothing():
    rig = Rig()
    rig.app.run(periods=1)
    before = _snapshot(rig)
    rig.send('{"cmd": "clear_lockout", "id": 4}\n')
    rig.poll()
    r = rig.replies()[-1]
    assert r["ok"] is False
    assert r["error"] == "not in lockout (state WATCHING)" == r["refused"]
    assert _snapshot(rig) == before


# -- power_cycle -------------------------------------------------------------------------------


def test_power_cycle_from_the_host_cuts_power_once_settled():
    rig = _settled_rig()
    r = rig.command('{"cmd": "power_cycle", "id": 5}')[-1]
    assert r["ok"] is True and r["refused"] is None and r["sup"] == states.POWER_OFF
    assert rig.hal.power_cut() is True
    # relay_active_high: energised (power cut) is pin level 1.
    assert machine.made_pins(26)[-1].value() == 1
    off = rig.events(states.EV_POWER_OFF)
    assert len(off) == 1 and off[0]["cause"] == "manual"
    assert r["cycles"] == 1 and r["limit"] == 3


def test_power_cycle_while_sensors_settle_is_refused_with_the_reason():
    rig = Rig()
    r = rig.command('{"cmd": "power_cycle", "id": 6}')[-1]
    assert r["ok"] is False and r["refused"] == WAIT_SETTLE == r["error"]
    assert rig.hal.power_cut() is False
    assert rig.events(states.EV_POWER_OFF) == []


def test_power_cycle_beyond_the_24_h_limit_is_refused():
    path = _store_path()
    rec = store.defaults()
    rec["life_s"] = 5000
    rec["cycles"] = [1000, 2000, 3000]  # three cycles within the last 24 h: the default limit
    store.Store(path, os).save(rec)
    rig = Rig(store_path=path, device=_fast_device())
    rig.app.run(periods=13)
    r = rig.command('{"cmd": "power_cycle"}')[-1]
    assert r["ok"] is False
    assert r["refused"] == "the limit of 3 power cycles in 24 h is reached (3 in the window)"
    assert rig.hal.power_cut() is False


# -- relay_test --------------------------------------------------------------------------------


def test_relay_test_energises_the_relay_for_the_time_asked_then_releases_it():
    rig = _settled_rig()
    rig.send('{"cmd": "relay_test", "ms": 500, "id": 8}\n')
    t0 = rig.clock.ticks_ms()
    rig.poll(t0)
    assert rig.hal.power_cut() is True
    assert rig.replies() == []  # the reply waits for the release
    rig.poll(t0 + 450)
    assert rig.hal.power_cut() is True
    rig.poll(t0 + 500)
    assert rig.hal.power_cut() is False
    assert machine.made_pins(26)[-1].value() == 0
    r = rig.replies()[-1]
    assert r["ok"] is True and r["id"] == 8 and r["held_ms"] == 500 and r["ms"] == 500
    assert r["relay"] is False


def test_relay_test_holds_through_a_sample_taken_meanwhile():
    rig = _settled_rig()
    rig.send('{"cmd": "relay_test", "ms": 2000}\n')
    t0 = rig.clock.ticks_ms()
    rig.poll(t0)
    rig.app.sample(t0 + 100)  # apply() must not release the relay the test holds
    assert rig.hal.power_cut() is True
    rig.poll(t0 + 2000)
    assert rig.hal.power_cut() is False


def test_relay_test_longer_than_2_s_is_an_argument_error():
    rig = Rig()
    rig.app.run(periods=1)
    before = _snapshot(rig)
    rig.send('{"cmd": "relay_test", "ms": 3000}\n')
    rig.poll()
    r = rig.replies()[-1]
    assert r["ok"] is False and r["error"] == "ms: 3000 is out of range (allowed 1..2000 ms)"
    assert _snapshot(rig) == before


def test_relay_test_is_refused_in_lockout():
    rig = _lockout_rig()
    r = rig.command('{"cmd": "relay_test"}')[-1]
    assert r["ok"] is False
    assert r["refused"] == "refused in state LOCKOUT: a relay test runs only while WATCHING"
    assert rig.hal.power_cut() is False


def test_relay_test_is_refused_during_a_power_off():
    rig = _settled_rig()
    rig.command('{"cmd": "power_cycle"}')
    r = rig.command('{"cmd": "relay_test", "ms": 100}')[-1]
    assert r["ok"] is False and "POWER_OFF" in r["refused"]
    assert rig.hal.power_cut() is True  # still held off by the power cycle


# -- inject ------------------------------------------------------------------------------------


def test_inject_overrides_the_readings_and_marks_samples_until_it_expires():
    rig = _in_test_mode(Rig())
    r = rig.command('{"cmd": "inject", "coil_c": -8.5, "amps": 6.2, "ttl_s": 12, "id": 9}')[-1]
    assert r["ok"] is True and r["ttl_s"] == 12 and r["fields"] == ["coil_c", "amps"]
    rig.app.run(periods=3)
    s = rig.samples()
    # Sample at t=0 (before the commands), then t=5, 10 overridden; t=15 is past 12 s.
    assert "injected" not in s[0]
    assert s[1]["injected"] is True and s[1]["coil"] == -8.5 and s[1]["amps"] == 6.2
    assert s[2]["injected"] is True
    assert "injected" not in s[3]
    # Ambient was not overridden: the measured 7 °C.
    assert abs(s[1]["amb"] - 7.0) < 0.2
    assert abs(s[3]["coil"] - 5.0) < 0.2


def test_inject_a_sensor_fault():
    rig = _in_test_mode(Rig())
    rig.command('{"cmd": "inject", "ambient_fault": "short"}', periods=2)
    s = rig.samples()[-1]
    assert s["amb"] is None and s["faults"] == {"ambient": "short"} and s["injected"] is True


def test_inject_ttl_0_ends_the_override():
    rig = _in_test_mode(Rig())
    rig.command('{"cmd": "inject", "coil_c": 1.0}', periods=1)
    r = rig.command('{"cmd": "inject", "ttl_s": 0}', periods=2)[-1]
    assert r["ok"] is True and r["injected"] is False
    assert "injected" not in rig.samples()[-1]


def test_inject_rejects_bad_arguments_without_overriding_anything():
    rig = Rig()
    cases = (
        ('{"cmd": "inject", "coil_c": 1, "ttl_s": 601}', "ttl_s: 601 is out of range"),
        ('{"cmd": "inject", "coil_c": "cold"}', "coil_c: expected a number, got 'cold'"),
        ('{"cmd": "inject", "coil_c": true}', "coil_c: expected a number, got true"),
        (
            '{"cmd": "inject", "coil_c": 1, "coil_fault": "open"}',
            "coil_c and coil_fault: give a value or a fault",
        ),
        ('{"cmd": "inject", "ct_fault": "open"}', "ct_fault: 'open' is not a fault"),
        ('{"cmd": "inject"}', "give at least one of"),
        ('{"cmd": "inject", "coil": 1}', "'coil': not an argument of inject"),
    )
    rig.app.run(periods=1)
    _in_test_mode(rig)
    for line, error in cases:
        rig.send(line + "\n")
        rig.poll()
        r = rig.replies()[-1]
        assert r["ok"] is False, line
        assert r["error"].startswith(error), (line, r["error"])
        assert rig.app.injected is False
    rig.app.run(periods=1)
    assert "injected" not in rig.samples()[-1]


# -- reboot ------------------------------------------------------------------------------------


def test_reboot_replies_first_then_resets():
    rig = Rig()
    rig.app.run(periods=1)
    rig.send('{"cmd": "reboot", "id": 10}\n')
    rig.poll()
    assert rig.replies()[-1]["ok"] is True and rig.replies()[-1]["id"] == 10
    assert len(rig.resets) == 1


def test_reboot_waits_for_the_reply_to_leave_then_gives_up_after_1_s():
    rig = Rig()
    rig.app.run(periods=1)
    rig.port_open = False
    rig.send('{"cmd": "reboot"}\n')
    t0 = rig.clock.ticks_ms()
    rig.poll(t0)
    rig.poll(t0 + 500)
    assert rig.resets == []
    rig.poll(t0 + 1000)
    assert len(rig.resets) == 1


def test_reboot_is_refused_during_a_power_off():
    rig = _settled_rig()
    rig.command('{"cmd": "power_cycle"}')
    r = rig.command('{"cmd": "reboot"}')[-1]
    assert r["ok"] is False and "off-time" in r["refused"]
    assert rig.resets == []


# -- garbage -----------------------------------------------------------------------------------

_GARBAGE = (
    (b"hello\n", "invalid JSON"),
    (b'{"cmd": "status"\n', "invalid JSON"),
    (b"[1, 2, 3]\n", 'expected a JSON object like {"cmd": "status"}'),
    (b'"power_cycle"\n', 'expected a JSON object like {"cmd": "status"}'),
    (b"{}\n", "cmd: missing"),
    (b'{"cmd": 5}\n', "cmd: expected a string, got 5"),
    (b'{"cmd": "power_cycle_now"}\n', "unknown command 'power_cycle_now' (known: status, "),
    (b'{"cmd": "power_cycle", "force": true}\n', "'force': not an argument of power_cycle"),
    (b'{"cmd": "relay_test", "ms": "1000"}\n', "ms: expected a number, got '1000'"),
    (b'{"cmd": "clear_lockout", "id": [1]}\n', "id: expected a string, a number or null"),
    (b'{"cmd": "status", "x": "\xff\xfe"}\n', "line is not UTF-8 text"),
    (b"\xe2\x82\n", "line is not UTF-8 text"),
    (b"x" * (MAX_LINE + 1) + b"\n", "line longer than 1024 bytes: discarded"),
)


def test_garbage_gets_one_error_reply_each_and_changes_nothing():
    rig = _lockout_rig()
    before = _snapshot(rig)
    n0 = len(rig.replies())
    for data, error in _GARBAGE:
        rig.send(data)
        rig.poll()
        replies = rig.replies()
        assert len(replies) == n0 + 1, data
        n0 += 1
        r = replies[-1]
        assert r["ok"] is False, data
        assert r["error"].startswith(error), (data, r["error"])
        assert _snapshot(rig) == before, data
    rig.send('{"cmd": "status"}\n')
    rig.poll()
    r = rig.replies()[-1]
    assert r["rx_errors"] == len(_GARBAGE) and r["rx"] == len(_GARBAGE) + 1


def test_an_over_long_line_is_discarded_up_to_its_newline_and_the_next_line_works():
    rig = Rig()
    rig.app.run(periods=1)
    rig.send(b'{"cmd": "reboot", "pad": "' + b"x" * 2000)
    rig.send(b'"}\n{"cmd": "status", "id": 11}\n')
    rig.poll()
    rig.poll()
    r = rig.replies()
    assert r[-2]["ok"] is False and r[-2]["error"].startswith("line longer than")
    assert r[-1]["ok"] is True and r[-1]["id"] == 11
    assert rig.resets == []


def test_blank_lines_and_crlf_are_tolerated():
    rig = Rig()
    rig.app.run(periods=1)
    rig.send(b'\r\n\n  \r\n{"cmd": "status", "id": 12}\r\n')
    rig.poll()
    r = rig.replies()
    assert len(r) == 1 and r[0]["ok"] is True and r[0]["id"] == 12


def test_a_command_split_across_reads_is_answered_once_complete():
    rig = Rig()
    rig.app.run(periods=1)
    t = rig.clock.ticks_ms()
    for part in (b'{"cmd": "sta', b'tus", ', b'"id": 13}', b"\n"):
        rig.send(part)
        rig.poll(t)
    r = rig.replies()
    assert len(r) == 1 and r[0]["id"] == 13


def test_several_commands_in_one_read_are_answered_in_order():
    rig = Rig()
    rig.app.run(periods=1)
    rig.send(
        b'{"cmd": "status", "id": 1}\n{"cmd": "nope", "id": 2}\n{"cmd": "config_get", "id": 3}\n'
    )
    rig.poll()
    rig.poll()
    rig.poll()
    r = rig.replies()
    assert [x["id"] for x in r] == [1, 2, 3]
    assert [x["ok"] for x in r] == [True, False, True]


def test_line_reader_hands_over_lines_and_flags_over_long_ones():
    got = []
    reader = LineReader(8)
    reader.feed(b"abc\n12345678\n123456789\nok", lambda t, line: got.append((t, line)), 42)
    assert got == [(42, b"abc"), (42, b"12345678"), (42, None)]
    assert reader.partial()
    reader.feed("!\n", lambda t, line: got.append((t, line)), 43)
    assert got[-1] == (43, b"ok!")
    assert not reader.partial()


def test_status_tells_how_long_an_override_has_left():
    rig = Rig()
    rig.app.run(periods=1)
    _in_test_mode(rig)
    rig.send('{"cmd": "inject", "amps": 5, "ttl_s": 30}\n')
    rig.poll()
    rig.send('{"cmd": "status"}\n')
    rig.poll(rig.clock.ticks_ms() + 10000)
    r = rig.replies()[-1]
    assert r["injected"] is True and r["inject_left_s"] == 20
    rig.send('{"cmd": "status"}\n')
    rig.poll(rig.clock.ticks_ms() + 30000)
    r = rig.replies()[-1]
    assert r["injected"] is False and r["inject_left_s"] == 0
