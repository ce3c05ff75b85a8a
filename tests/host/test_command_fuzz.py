"""The firmware's command reader against random bytes (hypothesis).

Whatever arrives on the port — random bytes, newlines anywhere, lines far over the 1024-byte
limit, UTF-8 sequences cut in half, JSON that is almost a command — the reader never raises,
answers every non-blank line with exactly one reply, and changes neither the supervisor's state
nor the relay. Only a valid command may change anything; the read-only ones mixed in here
(status, config_get) must still get ok replies with their ids.
"""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from splitguard import states
from splitguard.commands import MAX_LINE
from splitguard.report import Reporter
from test_app import Rig

from host_tools.protocol import Message, parse_line

_COMMAND_WORDS = (
    b'{"cmd": "power_cycle"',
    b'{"cmd": "clear_lockout"',
    b'{"cmd": "relay_test", "ms": ',
    b'{"cmd": "inject", "coil_c": ',
    b'{"cmd": "reboot"',
    b'{"cmd": "config_set", "config": {"supervisor": {"power_off_min": ',
    b'"id": ',
    b"}",
    b"{",
    b"\xe2\x82",  # the first two bytes of a three-byte UTF-8 sequence (the euro sign)
    b"\xc3",
    b"\r",
    b"\n",
    b"\x00",
)

# Pieces that are never a complete valid state-changing command on their own.
_pieces = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(_COMMAND_WORDS),
    st.integers(min_value=1, max_value=3 * MAX_LINE).map(lambda n: b"x" * n),
    st.text(max_size=20).map(lambda s: s.encode("utf-8")),
)


def _is_valid_state_command(line):
    """True when `line` would be accepted as a command that may change state."""
    try:
        msg = json.loads(line.decode().strip())
    except (ValueError, UnicodeError, RecursionError):
        return False
    return isinstance(msg, dict) and msg.get("cmd") in (
        "power_cycle",
        "clear_lockout",
        "relay_test",
        "inject",
        "test_mode",
        "repl",
        "reboot",
        "config_set",
    )


def _expected_replies(data):
    """How many replies the complete lines in `data` must get (blank lines get none)."""
    n = 0
    for line in data.split(b"\n")[:-1]:
        if len(line) > MAX_LINE:
            n += 1
            continue
        try:
            text = line.decode()
        except UnicodeError:
            n += 1
            continue
        if text.strip():
            n += 1
    return n


def _state(rig):
    d = rig.app.supervisor.decision
    return (
        d.state,
        d.power_cut,
        d.cycles_in_window,
        d.pending,
        rig.hal.power_cut(),
        rig.app.injected,
        rig.app.relay_test_active(),
        rig.app.commands.saved_hash,
        len(rig.resets),
    )


def _rig():
    rig = Rig()
    rig.app.run(periods=1)
    # Replies straight to a list: the bounded queue (tested on its own) must not hide any here.
    out = []
    rig.app.reporter = Reporter(lambda s: out.append(s))
    return rig, out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_pieces, max_size=30), st.integers(min_value=1, max_value=600))
def test_random_bytes_never_raise_and_never_change_state(pieces, chunk):
    data = b"".join(pieces)
    lines = data.split(b"\n")[:-1]
    if any(_is_valid_state_command(x) for x in lines):
        return  # vanishingly rare; a valid command may change state
    rig, out = _rig()
    before = _state(rig)
    t = rig.clock.ticks_ms()
    for i in range(0, len(data), chunk):
        rig.send(data[i : i + chunk])
        rig.app.poll(t)
    assert _state(rig) == before
    replies = [json.loads(x) for x in out]
    assert len(replies) == _expected_replies(data)
    for r in replies:
        assert r["kind"] == "reply"
        if r["ok"]:
            assert r["cmd"] in ("status", "config_get")
        else:
            assert isinstance(r["error"], str) and r["error"]
    # Every reply is a protocol line the host parser accepts.
    for line in out:
        assert isinstance(parse_line(line), Message)


_read_only = st.sampled_from(
    (b'{"cmd": "status", "id": %d}\n', b'{"cmd": "config_get", "id": %d}\n')
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_pieces, _read_only), max_size=12))
def test_read_only_commands_between_garbage_are_answered_and_change_nothing(pairs):
    rig, out = _rig()
    before = _state(rig)
    t = rig.clock.ticks_ms()
    ids = []
    for n, (junk, cmd) in enumerate(pairs):
        if _is_valid_state_command(junk):
            return
        # A newline ends the junk so the command starts a line of its own.
        rig.send(junk + b"\n" + cmd % (1000 + n))
        rig.app.poll(t)
        ids.append(1000 + n)
    assert _state(rig) == before
    ok_ids = [r["id"] for r in map(json.loads, out) if r["ok"]]
    assert ok_ids == ids


def test_the_fuzz_would_notice_a_state_change():
    # The same harness with a valid command: the state does change, so the check above can fail.
    rig, out = _rig()
    rig.send(b'{"cmd": "test_mode", "on": true}\n{"cmd": "inject", "coil_c": 1}\n')
    rig.app.poll(rig.clock.ticks_ms())
    assert rig.app.injected is True
    assert rig.app.supervisor.decision.state == states.WATCHING
