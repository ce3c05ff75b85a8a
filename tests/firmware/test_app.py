"""The board's control loop with the fake `machine`: sample, decide, act, report, on schedule."""

import json
import os

import machine
from spec import DATA_DIR, without_allocating
from splitguard import config, states, store
from splitguard.app import build, console_reader, console_writer, load_configs
from splitguard.clock import ManualClock
from splitguard.commands import ConfigFile
from splitguard.divider import Divider
from splitguard.hal.esp32 import Esp32Hal
from splitguard.report import Reporter
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


def _config_path():
    # Named config.json as on the board, so error messages read the same.
    folder = _store_path()[:-5]
    try:
        os.mkdir(folder)
    except OSError:
        pass
    path = folder + "/config.json"
    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass
    return path


def _locked_out_store(reason):
    """A store file as a board leaves it in LOCKOUT before a reboot; returns its path."""
    path = _store_path()
    rec = store.defaults()
    rec["lockout"] = True
    rec["lockout_reason"] = reason
    rec["state"] = states.LOCKOUT
    store.Store(path, os).save(rec)
    return path


class Rig:
    """A board on the bench: fake ADC voltages for given temperatures and current, a serial
    port whose host side the test plays (bytes in through `send`, lines out through `lines`),
    and a reset that is only recorded."""

    def __init__(self, coil_c=5.0, ambient_c=7.0, store_path=None, button=None, device=None):
        board = _board()
        self.device = device or config.default_device()
        self.hal = Esp32Hal(board)
        self.clock = ManualClock(0)
        self.out = bytearray()
        self.inbox = []  # chunks the port will hand over, one per read
        self.port_open = True  # False: the port takes nothing (nobody reads a native USB port)
        self.resets = []
        self.sleeps = []
        self.config_path = _config_path()
        model = Thermistor.from_beta(10000, 3950)
        div = Divider.for_attenuation(11, 3300000, board["divider"]["fixed_ohm"], "low")
        self.hal.coil_adc.uv = div.pin_uv(model.ohms(coil_c))
        self.hal.ambient_adc.uv = div.pin_uv(model.ohms(ambient_c))
        self.hal.ct_adc.uv = 1650000  # biased, no current: unit idle
        self._button = button
        self.hal._button.value(1)  # released (active low)
        s = store.Store(store_path or _store_path(), os)
        self.app = build(
            board,
            self.device,
            self.hal,
            s,
            self._write,
            self.clock.ticks_ms,
            self.sleep_ms,
            read_available=self._read,
            config_file=ConfigFile(self.config_path, os),
            reset=self._reset,
        )

    def _write(self, data):
        if not self.port_open:
            return 0
        self.out += data
        return len(data)

    def _read(self):
        return self.inbox.pop(0) if self.inbox else None

    def _reset(self):
        self.resets.append(self.clock.ticks_ms())

    def sleep_ms(self, ms):
        self.sleeps.append(ms)
        self.clock.advance(ms)
        if self._button is not None:
            self.hal._button.value(0 if self._button(self.clock.ticks_ms()) else 1)

    def send(self, text):
        """The host writes `text` (str or bytes) to the port."""
        self.inbox.append(text.encode() if isinstance(text, str) else text)

    def poll(self, at_ms=None):
        """One poll slice at `at_ms` (default now), then everything queued out to the host."""
        self.app.poll(self.clock.ticks_ms() if at_ms is None else at_ms)
        self.app.outbox.drain(1 << 20)

    def lines(self):
        """Every complete line the board wrote, parsed."""
        text = bytes(self.out).decode()
        return [json.loads(x) for x in text.split("\n")[:-1]]

    def kinds(self):
        return [x["kind"] for x in self.lines()]

    def samples(self):
        return [x for x in self.lines() if x["kind"] == "sample"]

    def events(self, name=None):
        return [x for x in self.lines() if x["kind"] == "event" and name in (None, x["event"])]

    def replies(self):
        return [x for x in self.lines() if x["kind"] == "reply"]

    def command(self, text, periods=1):
        """Send one command line and run `periods` sample periods; the replies so far."""
        self.send(text + "\n")
        self.app.run(periods=periods)
        return self.replies()


def test_samples_at_the_configured_period_without_drift():
    rig = Rig()
    rig.app.run(periods=4)
    times = [s["t"] for s in rig.samples()]
    # Default sample_period_s is 5 (docs/configuration.md).
    assert times == [0, 5000, 10000, 15000]


def test_idle_unit_reads_off_and_the_relay_stays_de_energised():
    rig = Rig()
    rig.app.run(periods=2)
    last = rig.samples()[-1]
    assert last["unit"] == states.OFF
    assert last["cut"] is False
    assert rig.hal.power_cut() is False
    # relay_active_high: de-energised is pin level 0.
    assert machine.made_pins(26)[-1].value() == 0


def test_watchdog_is_fed_between_samples_once_started():
    rig = Rig()
    rig.hal.start_watchdog(10000)
    rig.app.run(periods=2)
    assert rig.hal.wdt.feeds >= 2 * (5000 // 50) - 2


def test_open_coil_sensor_is_reported_in_the_sample_with_its_cause():
    rig = Rig()
    rig.hal.coil_adc.uv = 3290000  # thermistor to ground open: pin pulled up to the supply
    rig.app.run(periods=1)
    s = rig.samples()[-1]
    assert s["coil"] is None
    assert s["faults"]["coil"] == "open"
    assert s["cut"] is False


def test_a_lockout_from_before_a_reboot_is_cleared_by_holding_the_button():
    path = _locked_out_store("defrost too long again after 3 power cycles")
    # The BOOT button held from t=6 s to t=13 s; default lockout_clear_hold_s is 5 s.
    rig = Rig(store_path=path, button=lambda now: 6000 <= now < 13000)
    rig.app.run(periods=1)
    assert rig.samples()[0]["sup"] == states.LOCKOUT
    assert rig.hal.power_cut() is False  # LOCKOUT keeps the unit powered
    rig.app.run(periods=3)
    cleared = rig.events(states.EV_LOCKOUT_CLEARED)
    assert len(cleared) == 1
    assert 11000 <= cleared[0]["t"] <= 11100
    assert rig.samples()[-1]["sup"] == states.WATCHING


def test_a_short_button_press_does_not_clear_a_lockout():
    path = _locked_out_store("test")
    rig = Rig(store_path=path, button=lambda now: 6000 <= now < 9000)
    rig.app.run(periods=4)
    assert rig.samples()[-1]["sup"] == states.LOCKOUT


def test_a_port_nobody_reads_never_stalls_the_loop_and_the_loss_is_reported_later():
    rig = Rig()
    rig.port_open = False
    rig.app.run(periods=50)
    # The schedule held: 50 samples, 5 s apart; 51 lines numbered (the first boot's
    # "store missing" fault comes with the first sample).
    assert rig.clock.ticks_ms() == 250000
    assert rig.app.reporter.seq == 51
    assert rig.app.outbox.count == 32
    rig.port_open = True
    rig.app.run(periods=1)
    lines = rig.lines()
    # The boot's fault line outranks samples, so it is still there; the oldest samples went.
    assert lines[0]["kind"] == "fault" and lines[0]["seq"] == 0
    assert all(x["kind"] == "sample" for x in lines[1:-1])
    assert lines[-2]["t"] == 250000
    # The report follows as soon as the port has drained the queue to half.
    fault = lines[-1]
    assert fault["kind"] == "fault" and fault["where"] == "serial"
    # Lost: the samples seq 1 up to the first kept one (the sample at 250 s pushed out one
    # more); the report counts exactly those.
    assert fault["dropped"] == lines[1]["seq"] - 1 == 52 - 32
    seqs = [x["seq"] for x in lines[1:]]
    assert seqs == list(range(lines[1]["seq"], 53))


def test_a_command_is_answered_while_nobody_reads_and_the_reply_waits_in_the_queue():
    rig = Rig()
    rig.port_open = False
    rig.send('{"cmd": "status", "id": 1}\n')
    rig.app.run(periods=2)
    rig.port_open = True
    rig.poll()
    assert [x["id"] for x in rig.replies()] == [1]


def test_the_loop_polls_faster_while_a_command_line_is_arriving():
    rig = Rig()
    rig.send('{"cmd": "sta')
    rig.app.run(periods=1)
    assert 10 in rig.sleeps  # FAST_POLL_MS while the line is incomplete
    rig.sleeps = []
    rig.send('tus"}\n')
    rig.app.run(periods=1)
    assert 10 not in rig.sleeps[1:]
    assert len(rig.replies()) == 1


def test_every_line_the_board_writes_is_whole_even_through_a_slow_port():
    rig = Rig()
    rig.send('{"cmd": "config_get"}\n{"cmd": "status"}\n')
    rig.app.run(periods=3)
    kinds = rig.kinds()
    assert kinds.count("sample") == 3 and kinds.count("reply") == 2


class _FakeStdin:
    """sys.stdin with a `buffer` holding the bytes a host sent."""

    def __init__(self, data):
        self.buffer = self
        self.data = bytearray(data)

    def read(self, n):
        got = bytes(self.data[:n])
        self.data = self.data[n:]
        return got


class _FakeSelect:
    """The select module for one stream: ready while the stream has bytes."""

    POLLIN = 1

    def __init__(self):
        self.registered = []
        self.polls = []

    def poll(self):
        return self

    def register(self, stream, mask):
        self.registered.append((stream, mask))

    def ipoll(self, timeout):
        self.polls.append(timeout)
        stream = self.registered[0][0]
        return [(stream, 1)] if stream.data else []


class _FakeSys:
    def __init__(self, data=b""):
        self.stdin = _FakeStdin(data)
        self.stdout = _FakeStdout()


class _FakeStdout:
    def __init__(self):
        self.buffer = self
        self.written = []

    def write(self, data):
        self.written.append(data)
        return len(data)


def test_console_reader_takes_what_is_waiting_without_ever_waiting():
    sys_ = _FakeSys(b'{"cmd": "status"}\n' + b"x" * 600)
    sel = _FakeSelect()
    read = console_reader(sys_, sel, budget=512)
    first = read()
    assert first == (b'{"cmd": "status"}\n' + b"x" * 600)[:512]
    assert len(read()) == 618 - 512
    assert read() is None
    # Every poll is a zero timeout: the loop never blocks on the port.
    assert set(sel.polls) == {0}


def test_console_writer_writes_raw_bytes_to_stdout_buffer():
    sys_ = _FakeSys()
    write = console_writer(sys_)
    assert write(b'{"v": 1}\n') == 9
    assert sys_.stdout.written == [b'{"v": 1}\n']


def test_an_idle_poll_slice_allocates_nothing():
    rig = Rig()
    rig.app.run(periods=1)
    rig.poll()
    rig.hal._led = None  # the fake Pin records every write in a list; the LED is not under test
    now = rig.clock.ticks_ms()

    def polls():
        for i in range(100):
            rig.app.poll(now + 10 * i)

    without_allocating(polls)
    assert rig.app.outbox.count == 0


def test_the_watchdog_starts_only_when_the_supervisor_could_first_cut_power():
    # Until boot settle (default 3 min) the relay stays released, so a hang is safe, and a board
    # just reset can be interrupted and flashed without a watchdog that cannot be stopped.
    rig = Rig()
    rig.app.arm_watchdog(10000, 3 * 60000)
    rig.app.run(periods=35)  # 175 s
    assert rig.hal.wdt is None
    rig.app.run(periods=2)
    assert rig.hal.wdt is not None and rig.hal.wdt.timeout == 10000
    assert rig.hal.wdt.feeds > 0


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def test_a_bad_device_config_is_reported_field_by_field_and_nothing_is_built():
    # The board says why on serial and keeps the unit powered (boot.py released the relay).
    lines = []
    rep = Reporter(lines.append)
    board = _write(_store_path(), json.dumps(_board()))
    bad = _write(_store_path(), json.dumps({"supervisor": {"power_off_min": 2}}))
    assert load_configs(rep, lambda: 0, board, bad) is None
    faults = [json.loads(x) for x in lines]
    assert [f["kind"] for f in faults] == ["fault"]
    assert faults[0]["where"] == "config"
    assert "supervisor.power_off_min: 2 is out of range (allowed 5..240" in faults[0]["error"]


def test_a_missing_board_file_is_a_fault_and_a_missing_device_config_means_defaults():
    lines = []
    rep = Reporter(lines.append)
    assert load_configs(rep, lambda: 0, "/tmp/no-such-board.json", "/tmp/x.json") is None
    assert "no such file" in json.loads(lines[-1])["error"]
    board = _write(_store_path(), json.dumps(_board()))
    got = load_configs(rep, lambda: 0, board, "/tmp/no-such-config.json")
    assert got is not None and got[1] == config.default_device()
    assert "missing: using defaults" in json.loads(lines[-1])["error"]
