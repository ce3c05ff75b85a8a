"""The board as a whole, through its serial port: relay safety, power cycles, lockout, faults.

Readings come in through the protocol's `inject` command, so these tests run unchanged on the
virtual board and on a real rig (docs/hil-rig.md). The HIL config (conftest.py) shortens the
supervisor's times within their allowed ranges: 8 min defrost limit, 5 min off, 1 cycle a day,
3 min recovery, 1 min boot settle. Times below are board seconds.
"""

from __future__ import annotations

import random

from rig import HIL_OVERRIDES

from host_tools.protocol import ticks_diff

SUP = HIL_OVERRIDES["supervisor"]
PERIOD_S = 5  # the default sample period
OFF_S = SUP["power_off_min"] * 60
DEFROST_LIMIT_S = SUP["defrost_max_min"] * 60
SETTLE_S = SUP["boot_settle_min"] * 60
RECOVERY_S = SUP["recovery_timeout_min"] * 60

# Cold, humid morning readings (°C, A): the unit heating with its coil 7 K below the air, then a
# reverse-cycle defrost with the coil 8 K above it, then the unit without power.
HEATING = {"coil_c": -10.0, "ambient_c": -3.0, "amps": 6.0}
DEFROSTING = {"coil_c": 5.0, "ambient_c": -3.0, "amps": 5.0}
UNPOWERED = {"coil_c": -3.0, "ambient_c": -3.0, "amps": 0.0}


def heating_then_defrost(board):
    """Drive the board into a defrost that will not end; returns the defrost_start event."""
    since = board.mark()
    board.inject(**HEATING)
    board.wait_sample(
        lambda m: m.get("mode") == "heat" and m.get("unit") in ("RUNNING", "FROSTING"),
        SETTLE_S + 180,
        since,
        "heating",
    )
    since = board.mark()
    board.inject(**DEFROSTING)
    return board.wait_event("defrost_start", 120, since)


def test_boot_leaves_the_relay_released(board):
    first = board.wait_sample(lambda m: True, 30, board.since_boot)
    assert first.get("cut") is False
    assert board.relay_cut() is False
    if board.vboard is not None:
        # The pin itself sits at the de-energised level (relay_active_high: 0), set by boot.py.
        pin = board.vboard.board["relay_pin"]
        assert board.vboard.relay_level.get(pin, 0) == 0
        assert not board.vboard.plant.relay_cut


def test_stuck_defrost_gets_exactly_one_power_cycle_with_the_configured_off_time(board):
    start = board.mark()
    heating_then_defrost(board)
    off = board.wait_event("power_off", DEFROST_LIMIT_S + 120, start)
    assert off.get("cause") == "defrost_too_long"
    assert off.get("off_s") == OFF_S
    assert board.relay_cut() is True
    board.inject(**UNPOWERED)
    on = board.wait_event("power_on", OFF_S + 60, start)
    held_ms = ticks_diff(on.t, off.t)
    assert OFF_S * 1000 <= held_ms <= (OFF_S + PERIOD_S) * 1000
    board.inject(**HEATING)
    board.wait_event("recovered", RECOVERY_S + 60, start)
    # A while longer with the unit heating normally: nothing more happens.
    board.wait_for(
        lambda m: m.kind == "sample" and ticks_diff(m.t, on.t) > 300_000, 400, start, "5 min on"
    )
    assert len(board.events(start, "power_off")) == 1
    assert len(board.events(start, "power_on")) == 1
    assert board.relay_cut() is False
    if board.vboard is not None:
        cuts = [(t, cut) for t, cut in board.vboard.relay_log if t >= 0]
        ons = [t for t, cut in cuts if cut]
        offs = [t for t, cut in cuts if not cut]
        assert len(ons) == 1, cuts  # the plant lost its supply exactly once ...
        assert OFF_S - 1 <= offs[-1] - ons[0] <= OFF_S + PERIOD_S + 1  # ... for the off time


def test_lockout_after_the_limit_survives_a_reboot(board):
    start = board.mark()
    heating_then_defrost(board)
    board.wait_event("power_off", DEFROST_LIMIT_S + 120, start)
    board.inject(**UNPOWERED)
    board.wait_event("power_on", OFF_S + 60, start)
    # The unit does not come back: the one cycle a day is spent, so the next is a lockout.
    board.wait_event("not_recovered", RECOVERY_S + 60, start)
    lock = board.wait_event("lockout", 60, start)
    assert lock.get("limit") == SUP["max_cycles_per_24h"]
    after = board.wait_sample(lambda m: m.get("sup") == "LOCKOUT", 30, start, "lockout sample")
    assert after.get("cut") is False  # a lockout leaves the unit powered

    hello = board.reboot()
    assert hello.get("reset") in ("soft", "hard")
    since = board.mark()
    first = board.wait_sample(lambda m: True, 30, since)
    assert first.get("sup") == "LOCKOUT"
    assert first.get("cut") is False
    st = board.status()
    assert st["sup"] == "LOCKOUT"
    assert st["relay"] is False
    assert board.command("clear_lockout")["ok"] is True


def test_a_sensor_fault_never_cuts_power(board):
    start = board.mark()
    heating_then_defrost(board)
    # The coil thermistor goes open in the middle of the defrost and stays open well past the
    # defrost limit (the override lasts 600 s): nothing may be decided from a faulted reading.
    board.inject(coil_fault="open", ambient_c=-3.0, amps=5.0, ttl_s=600)
    fault = board.wait_event("sensor_fault", 60, start)
    assert (fault.get("sensor"), fault.get("fault")) == ("coil", "open")
    board.wait_for(
        lambda m: m.kind == "sample" and ticks_diff(m.t, fault.t) > (DEFROST_LIMIT_S + 60) * 1000,
        DEFROST_LIMIT_S + 240,
        start,
        "samples past the defrost limit",
    )
    assert board.events(start, "sensor_ok") == []  # still faulted all along
    assert board.events(start, "power_off") == []
    assert all(m.get("cut") is False for m in board.samples(start))
    assert board.relay_cut() is False


def test_garbage_on_the_serial_line_changes_nothing(board):
    board.wait_sample(lambda m: True, 30, board.since_boot)
    before = board.status()
    start = board.mark()
    rng = random.Random(8)
    # Ctrl-C (0x03) included: it is switched off while the firmware supervises (docs/safety.md);
    # a host gets the REPL with the `repl` command instead.
    noise = rng.randbytes(3000) + b"\x03\x03"
    lines = [
        noise,
        b"\n",
        b"x" * 2000 + b"\n",
        b'{"cmd": "power_cycle"\n',
        b'{"cmd": "selfdestruct", "id": 1}\n',
        b'{"cmd": "relay_test", "ms": 99999}\n',
        b"\xff\xfe\xfd\n",
    ]
    for chunk in lines:
        board.write(chunk)
    after = board.status()
    for key in ("sup", "cycles", "relay", "cut", "config", "injected"):
        assert after[key] == before[key], key
    assert after["rx_errors"] > before["rx_errors"]
    msgs = board.messages[start:]
    assert not any(m.kind == "hello" for m in msgs)  # no reset
    assert not any(m.kind == "event" and m.get("event") == "power_off" for m in msgs)
    seqs = [m.seq for m in msgs]
    assert seqs == sorted(seqs)
