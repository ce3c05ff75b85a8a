"""The whole board under attack: random histories of the real App (hypothesis).

What runs is the real firmware wiring — `splitguard.app.build()`: HAL over the fake `machine`,
sensors, supervisor, the real Store on a real folder, command reader, outbox — with a scripted
unit (ScriptedDetector) so histories reach defrosts, stuck defrosts and recoveries quickly.
What attacks it, at any moment:

- any bytes on the serial line (Ctrl-C included) and every command, valid or not, including
  those that race a decision (a `reboot` or `repl` accepted while a cut is being decided);
- sensor faults at the ADC, and `test_mode` + `inject` overrides on top of them;
- a flash that is full (every write fails), that cannot rename over a file (FAT-like), or that
  loses power at any write step of a save (the board dies mid-write and boots again);
- reboots at any moment with a new tick origin anywhere in the 30-bit range;
- a port nobody reads for a while.

After every call into the board the harness checks the promises of docs/safety.md against its
own clock, which never restarts:

1. the relay is cut exactly while the supervisor deliberately holds power off (the one gate);
2. a cut starts only with healthy, settled sensors, never in a defrost within its limit, at
   least GAP_S after the previous cut started (across reboots), at most `limit` in any 24 h;
3. a power-off ends early only by a reboot the harness itself caused (power loss), never by a
   byte or a command; a relay test lasts at most its 2 s;
4. Ctrl-C is off whenever the board supervises; a handover never releases a held power-off;
5. a cut is made only once it is on flash: after any reboot the store counts it.

`SPLITGUARD_FUZZ_EXAMPLES` sets the number of histories (`make fuzz` runs many more).
"""

import errno
import json
import os
import random
import shutil
import tempfile

import machine
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from splitguard import config, states
from splitguard.app import build
from splitguard.clock import ManualClock, ticks_add
from splitguard.divider import Divider
from splitguard.hal.esp32 import Esp32Hal
from splitguard.store import Store
from splitguard.supervisor import GAP_S, OFF_FLOOR_MS, RELAY_TEST_MAX_MS, WINDOW_S
from splitguard.thermistor import Thermistor
from test_app import _board
from test_supervisor import ScriptedDetector

EXAMPLES = int(os.environ.get("SPLITGUARD_FUZZ_EXAMPLES", "60"))
DEVICE = config.validate_device(
    {
        "sample_period_s": 5,
        "supervisor": {"boot_settle_min": 1, "power_off_min": 5, "recovery_timeout_min": 3},
    }
)
SETTLE_MS = 60_000
OFF_MS = OFF_FLOOR_MS
LIMIT = DEVICE["supervisor"]["max_cycles_per_24h"]
DEFROST_MAX_MS = DEVICE["supervisor"]["defrost_max_min"] * 60_000
PERIOD_MS = DEVICE["sample_period_s"] * 1000
DAY_MS = WINDOW_S * 1000
_MODEL = Thermistor.from_beta(10000, 3950)


class PowerLoss(BaseException):
    """The board lost power: nothing after this point happened."""


class Flash:
    """The board's flash on a real folder, with faults the harness switches on and off."""

    def __init__(self):
        self.full = False  # every write fails with ENOSPC
        self.no_rename_over = False  # rename onto an existing file fails (FAT)
        self.lose_in = None  # power is lost at this many write steps from now

    def _step(self):
        if self.lose_in is not None:
            self.lose_in -= 1
            if self.lose_in < 0:
                self.lose_in = None
                raise PowerLoss()

    # the parts of `os` the store uses
    def rename(self, a, b):
        self._step()
        if self.no_rename_over and os.path.exists(b):
            raise OSError(errno.EEXIST, "exists")
        os.rename(a, b)

    def remove(self, path):
        self._step()
        os.remove(path)

    def open(self, path, mode="r"):
        if "w" not in mode:
            return open(path, mode)
        self._step()
        if self.full:
            raise OSError(errno.ENOSPC, "no space left")
        return _File(self, open(path, mode))


class _File:
    def __init__(self, flash, f):
        self._flash = flash
        self._f = f

    def write(self, data):
        try:
            self._flash._step()
        except PowerLoss:
            self._f.write(data[: len(data) // 2])  # half of it reached the flash
            self._f.close()
            raise
        return self._f.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()
        return False


class Board:
    """One board and its history, checked after every call."""

    def __init__(self, folder, rng):
        self.folder = folder
        self.rng = rng
        self.flash = Flash()
        self.store_path = os.path.join(folder, "state.json")
        self.t = 0  # the harness's clock: never wraps, never restarts
        self.cut_starts = []  # harness time of every cut (power-off or relay test)
        self.cut_since = None  # when the cut in force began
        self.cut_is_test = False
        self.rebooted_during_cut = False
        self.port_open = True
        self.out = bytearray()
        self.inbox = []
        self.unit = states.RUNNING
        self.coil_fault = False
        self.reboots = 0
        self.power_offs = 0
        self.relay_tests = 0
        self.lockouts = 0
        self.boot()

    # -- the board's world ---------------------------------------------------------------------

    def boot(self):
        machine.forget_made()
        self.hal = Esp32Hal(_board())
        self.clock = ManualClock(self.rng.randrange(1 << 30))
        self.kbd = 3
        self.first_sample_t = None
        self.last_faulted = True  # nothing is known before the first sample
        self.handed_over_t = None
        self._set_adc()
        self.app = build(
            _board(),
            DEVICE,
            self.hal,
            Store(self.store_path, self.flash, opener=self.flash.open),
            self._write,
            self.clock.ticks_ms,
            self._sleep,
            read_available=self._read,
            reset=self._reset,
        )
        self.det = ScriptedDetector()
        self.det.next_state = self.unit
        self.app.supervisor._det = self.det
        self.app.kbd_intr = self._kbd_intr
        self.app.run(periods=0)  # what main() does first: Ctrl-C off
        self.check()

    def _set_adc(self):
        div = Divider.for_attenuation(11, 3300000, _board()["divider"]["fixed_ohm"], "low")
        self.hal.coil_adc.uv = 3300000 if self.coil_fault else div.pin_uv(_MODEL.ohms(-3.0))
        self.hal.ambient_adc.uv = div.pin_uv(_MODEL.ohms(2.0))
        self.hal.ct_adc.uv = 1650000

    def _write(self, data):
        if not self.port_open:
            return 0
        self.out += data
        if len(self.out) > 1 << 16:
            del self.out[: len(self.out) - (1 << 15)]
        return len(data)

    def _read(self):
        return self.inbox.pop(0) if self.inbox else None

    def _sleep(self, ms):
        self.clock.advance(ms)

    def _kbd_intr(self, ch):
        self.kbd = ch

    def _reset(self):
        # A reset by command releases the relay at boot: never while power is held off.
        assert not self.hal.power_cut(), "a command reset the board while power was cut"
        assert self.app.supervisor.decision.state != states.POWER_OFF
        raise _CommandReset()

    def reboot(self):
        """Power loss or crash: the relay drops out, the board boots on the same flash."""
        self.reboots += 1
        if self.cut_since is not None:
            self.rebooted_during_cut = True
            self._released()
        while True:
            try:
                self.boot()
                return
            except PowerLoss:  # lost again while booting (the store repairs itself at boot)
                self.reboots += 1

    # -- time ----------------------------------------------------------------------------------

    def advance(self, ms):
        self.t += ms
        self.clock.advance(ms)

    def call(self, fn, *args):
        """One call into the board; a power loss inside it reboots the board."""
        try:
            fn(*args)
        except PowerLoss:
            self.reboot()
            return
        except _CommandReset:
            self.reboot()
            return
        self.check()

    def sample(self):
        # A unit without power does nothing (a stuck defrost ends with the cut).
        if self.hal.power_cut():
            self.unit = states.OFF if self.unit == states.DEFROSTING else self.unit
            self.det.next_state = states.OFF
        else:
            self.det.next_state = self.unit
        self.call(self.app.sample, self.clock.ticks_ms())
        if self.first_sample_t is None:
            self.first_sample_t = self.t
        self.last_faulted = self.coil_fault or self.det.state == states.SENSOR_FAULT

    def poll(self):
        self.call(self.app.poll, self.clock.ticks_ms())
        if self.app.handed_over and self.handed_over_t is None:
            self.handed_over_t = self.t

    def wait(self, ms):
        """Let `ms` of board time pass: samples on the period, polls in between."""
        end = self.t + ms
        while self.t < end:
            if self.app.handed_over:
                # At the REPL nobody feeds the watchdog: it resets the board into supervision.
                self.advance(30_000)
                self.reboot()
                continue
            step = 100 if self.app.relay_test_active() else PERIOD_MS // 4
            for _ in range(PERIOD_MS // step):
                self.advance(step)
                self.poll()
                if self.app.handed_over:
                    break
            else:
                self.sample()

    # -- the promises --------------------------------------------------------------------------

    def check(self):
        d = self.app.supervisor.decision
        cut = self.hal.power_cut()
        pin = machine.made_pins(26)[-1].value() == 1  # relay_active_high on this board
        assert cut == pin, "the HAL and the relay pin disagree"
        if self.app.handed_over:
            assert not cut, "handed over with the power cut"
            assert self.kbd == 3
        else:
            assert self.kbd == -1, "Ctrl-C enabled while supervising"
            assert cut == d.power_cut, "the relay does not follow the supervisor's decision"
            assert d.power_cut == (d.state == states.POWER_OFF or d.relay_test)
        if cut and self.cut_since is None:
            self._started(d)
        elif not cut and self.cut_since is not None:
            self._released()
        if cut and self.cut_is_test:
            assert self.t - self.cut_since <= RELAY_TEST_MAX_MS + 100, "relay test too long"
        if cut and not self.cut_is_test:
            assert self.t - self.cut_since <= OFF_MS + PERIOD_MS, "held off too long"

    def _started(self, d):
        t = self.t
        assert self.first_sample_t is not None, "cut before the first sample after a boot"
        assert t - self.first_sample_t >= SETTLE_MS, "cut while sensors settle"
        assert not self.last_faulted, "cut on a faulted sensor"
        if self.det.state == states.DEFROSTING:
            assert self.det.defrost_elapsed_ms(self.clock.ticks_ms()) > DEFROST_MAX_MS, (
                "cut into a defrost within its limit"
            )
        if self.cut_starts:
            assert t - self.cut_starts[-1] >= GAP_S * 1000, "two cuts closer than the gap"
        recent = [s for s in self.cut_starts if t - s < DAY_MS]
        assert len(recent) < LIMIT, "more cuts in 24 h than the limit"
        # Recorded before the relay moved: the record on flash already counts it.
        with open(self.store_path, "rb") as f:
            rec = json.loads(f.read().split(b"\n")[0])
        assert len(rec["cycles"]) == d.cycles_in_window, "a cut the store does not know"
        self.cut_starts.append(t)
        self.cut_since = t
        self.cut_is_test = d.relay_test
        self.rebooted_during_cut = False
        if d.relay_test:
            self.relay_tests += 1
        else:
            self.power_offs += 1

    def _released(self):
        held = self.t - self.cut_since
        if not self.cut_is_test and not self.rebooted_during_cut:
            assert held >= OFF_MS, "power-off ended early (%d ms) without a reboot" % held
        self.cut_since = None


class _CommandReset(BaseException):
    """machine.reset() called by the firmware (the `reboot` command)."""


# -- what the attacker does --------------------------------------------------------------------

_COMMANDS = (
    b'{"cmd": "power_cycle"}',
    b'{"cmd": "relay_test", "ms": 2000}',
    b'{"cmd": "relay_test", "ms": 1}',
    b'{"cmd": "reboot"}',
    b'{"cmd": "repl"}',
    b'{"cmd": "clear_lockout"}',
    b'{"cmd": "status"}',
    b'{"cmd": "test_mode", "on": true, "ttl_s": 3600}',
    b'{"cmd": "test_mode", "on": false}',
    b'{"cmd": "inject", "coil_c": -5, "ambient_c": -2, "amps": 6, "ttl_s": 600}',
    b'{"cmd": "inject", "coil_fault": "open"}',
    b'{"cmd": "inject", "ttl_s": 0}',
    b'{"cmd": "config_set", "config": {"supervisor": {"power_off_min": 1}}}',
)

_command = st.sampled_from(_COMMANDS).map(lambda c: c + b"\n")
_bytes = st.one_of(
    _command,
    st.binary(max_size=40),
    st.just(b"\x03"),
    st.just(b"\r\x03\x03\r\x01"),
)
_wait = st.tuples(st.just("wait"), st.sampled_from((1, 5, 30, 60, 300, 900, 3600, 6 * 3600)))

# Commands and waits come often (they are what leads to cuts, and races need both); faults of
# the flash and the sensors less often, so that most histories still contain cuts to check.
_actions = st.one_of(
    _wait,
    _wait,
    st.tuples(st.just("bytes"), _command),
    st.tuples(st.just("bytes"), _command),
    st.tuples(st.just("bytes"), _bytes),
    st.tuples(
        st.just("unit"),
        st.sampled_from((states.OFF, states.RUNNING, states.FROSTING, states.DEFROSTING)),
    ),
    st.tuples(st.just("sensor"), st.booleans()),
    st.tuples(st.just("flash"), st.sampled_from(("ok", "ok", "full", "no_rename_over"))),
    st.tuples(st.just("lose_power"), st.integers(min_value=0, max_value=6)),
    st.tuples(st.just("reboot"), st.just(None)),
    st.tuples(st.just("port"), st.booleans()),
)


def run_history(actions, seed):
    folder = tempfile.mkdtemp(prefix="sg-adv-")
    try:
        board = Board(folder, random.Random(seed))
        board.wait(90_000)  # past the settle: most histories are about a supervising board
        for kind, arg in actions:
            if kind == "wait":
                board.wait(arg * 1000)
            elif kind == "unit":
                board.unit = arg
            elif kind == "bytes":
                board.inbox.append(arg)
                board.poll()
            elif kind == "sensor":
                board.coil_fault = arg
                board._set_adc()
            elif kind == "flash":
                board.flash.full = arg == "full"
                board.flash.no_rename_over = arg == "no_rename_over"
            elif kind == "lose_power":
                board.flash.lose_in = arg
            elif kind == "reboot":
                board.reboot()
            elif kind == "port":
                board.port_open = arg
        board.flash.lose_in = None
        board.wait(3 * 3600 * 1000)  # let everything in progress finish, checked all along
        return board
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(_actions, max_size=40), st.integers(min_value=0, max_value=1 << 30))
def test_no_history_of_bytes_faults_reboots_and_races_breaks_a_safety_promise(actions, seed):
    board = run_history(actions, seed)
    event("cuts: %s" % ("none" if not board.cut_starts else "some"))
    event("power-offs: %d" % min(board.power_offs, 3))
    event("relay tests: %d" % min(board.relay_tests, 3))
    event("reboots: %d" % min(board.reboots, 3))


def test_the_harness_sees_cuts_reboots_and_lockouts_so_its_checks_can_fail():
    # A history that must cut: a stuck defrost, a relay test, a power loss mid-save.
    actions = [
        ("unit", states.DEFROSTING),
        ("wait", 1200),
        ("unit", states.RUNNING),
        ("wait", 3600),
        ("bytes", b'{"cmd": "relay_test", "ms": 2000}\n'),
        ("wait", 60),
        ("lose_power", 1),
        ("bytes", b'{"cmd": "power_cycle"}\n'),
        ("wait", 3600),
    ]
    board = run_history(actions, 7)
    assert board.power_offs >= 1
    assert board.relay_tests == 1
    assert board.reboots >= 1


def test_the_harness_catches_a_relay_driven_around_the_gate():
    # Mutation check: a firmware that cut the relay on its own (not through the supervisor)
    # must be caught by check(), or the suite above proves nothing.
    folder = tempfile.mkdtemp(prefix="sg-adv-")
    try:
        board = Board(folder, random.Random(1))
        board.wait(90_000)
        board.app.hal.set_power_cut(True)
        try:
            board.check()
        except AssertionError as exc:
            assert "supervisor" in str(exc)
        else:
            raise AssertionError("a relay cut around the gate went unnoticed")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_ticks_origin_anywhere_in_the_30_bit_range_is_handled():
    # The harness's reboots pick tick origins over the whole range; one right before the wrap.
    assert ticks_add((1 << 30) - 1, 1) == 0
