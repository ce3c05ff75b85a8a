"""The board's application: sample, decide, act, report — at a fixed period, forever.

Everything it touches comes in as an argument (HAL, sensors, supervisor, reporter, clock), so the
same loop runs on the ESP32 (main.py calls `main()`), in the MicroPython VM under test with a
fake `machine`, and later on the virtual board.
"""

from splitguard import states
from splitguard.clock import elapsed, ticks_add, ticks_diff
from splitguard.commands import (
    HANDOVER_WDT_MS,
    INJECT_AMBIENT,
    INJECT_COIL,
    INJECT_CT,
    LineReader,
)
from splitguard.compat import const
from splitguard.led import led_on
from splitguard.reading import Reading

# Button, LED, commands and the serial queue are serviced this often between samples; short
# enough for a crisp LED pattern and a hold timer accurate to a tenth of a second, long enough
# to cost nothing.
POLL_MS = const(50)
# While a command line is arriving: MicroPython's ESP32 console keeps only a 260-byte input
# ring (ports/esp32/mphalport.c, stdin_ringbuf), 22 ms of bytes at 115200 baud.
FAST_POLL_MS = const(10)
# Bytes taken from the console per poll: more than its input ring holds, so one poll drains it.
READ_BUDGET = const(512)
# After a `reboot` or `repl` reply, how long to wait for the port to take it before acting anyway.
_REBOOT_GRACE_MS = const(1000)
# After this long running without a crash the crash count is cleared (splitguard.safemode).
HEALTHY_AFTER_S = const(600)
# The watchdog must outlive one whole sample (ADC averaging + an 80 ms CT window + a JSON line)
# with a wide margin, yet reset a hung loop quickly; it is fed at every poll.
WATCHDOG_MS = const(10000)
BOARD_FILE = "board.json"
CONFIG_FILE = "config.json"
STORE_FILE = "splitguard_state.json"
CRASH_FILE = "splitguard_crashes.json"


def whole_ms(value, ms_per_unit):
    """`value` units as whole milliseconds (an int), rounded to the nearest: exact for every
    value a config can hold, in single precision too (2.5 s -> 2500, 1.5 min -> 90000)."""
    return int(value * ms_per_unit + 0.5)


class App:
    """One control loop around one Supervisor, with the host's commands and the serial queue."""

    def __init__(
        self,
        hal,
        sensors,
        supervisor,
        reporter,
        period_ms,
        clear_hold_ms,
        ticks_ms,
        sleep_ms,
        collect=None,
        outbox=None,
        read_available=None,
        reset=None,
        kbd_intr=None,
        on_healthy=None,
    ):
        self.hal = hal
        self.sensors = sensors
        self.supervisor = supervisor
        self.reporter = reporter
        self.period_ms = period_ms
        self.clear_hold_ms = clear_hold_ms
        self.ticks_ms = ticks_ms
        self.sleep_ms = sleep_ms
        self.collect = collect
        self.outbox = outbox  # splitguard.outbox.Outbox, flushed at every poll
        self.read_available = read_available  # () -> bytes/str available now, or None
        self.reader = LineReader() if read_available is not None else None
        self.commands = None  # splitguard.commands.Commands, set by build()
        self.reset = reset  # machine.reset on the board
        # micropython.kbd_intr on the board: Ctrl-C is switched off while supervising, so no
        # byte on the line can end a power-off or leave the unit unsupervised (docs/safety.md).
        self.kbd_intr = kbd_intr
        self.on_healthy = on_healthy  # called once after HEALTHY_AFTER_S of running
        self.on_handover = None  # called when `repl` hands the board over
        self.handed_over = False  # run() returned for the `repl` command
        self._handover_since = None
        self._wdt_ms = 0
        self._wdt_at = None
        self.reading = Reading()
        self.decision = None
        self._held_since = None
        self._hold_done = False
        self._up_last = ticks_ms()
        self._up_s = 0
        self._up_ms = 0
        # Test mode (`test_mode`): only while it is on may `inject` override readings.
        self._test_mode_until = None
        # Sensor override from the `inject` command: which parts, with what, until when.
        self.injected = False
        self._inject = Reading()
        self._inject_mask = 0
        self._inject_until = 0
        # The relay test runs in the supervisor; the App owes its deferred reply.
        self._test_id = None
        self._test_ms = 0
        self._test_waiting = False
        self._reboot_since = None

    def sample(self, now_ms):
        """One control step: read, decide, act, report. Returns the decision."""
        self._test_mode_expire(now_ms)
        reading = self.sensors.read(self.reading)
        self._override(now_ms, reading)
        d = self.supervisor.step(now_ms, reading)
        self.apply(now_ms, d)
        return d

    def apply(self, now_ms, d):
        """Act on a decision (relay first) and report it, with a sample line."""
        self.act(now_ms, d)
        self.reporter.sample(
            now_ms, self.reading, d, self.injected, self._test_mode_until is not None
        )
        self._relay_test_reply(now_ms)

    def act(self, now_ms, d):
        """Act on a decision (relay first) and report its store fault and events.

        Every supervisor call goes through here, a refused request too: a refusal can still
        carry events (a LOCKOUT because a cut could not be recorded).
        """
        self.drive_relay()
        self.decision = d
        rep = self.reporter
        if d.fault is not None:
            rep.fault(now_ms, "store", d.fault)
        for ev in d.events:
            rep.event(now_ms, ev)

    def drive_relay(self):
        """THE gate to the relay: cut exactly while the supervisor deliberately holds power off.

        Every path that may cut the unit's power (automatic cycles, `power_cycle`, `relay_test`)
        is a supervisor decision that passed its guards; nothing else sets the relay to "cut".
        Releasing it directly (crash, reboot, REPL) is always allowed: released means powered.
        """
        self.hal.set_power_cut(self.supervisor.decision.power_cut)

    def arm_watchdog(self, timeout_ms, at_ms):
        """Start the hardware watchdog at tick `at_ms` (see main() for why not at once)."""
        self._wdt_ms = timeout_ms
        self._wdt_at = at_ms

    def poll(self, now_ms):
        """Between samples: watchdog, host commands, relay test, LED, button, serial queue."""
        hal = self.hal
        if self._wdt_at is not None and ticks_diff(now_ms, self._wdt_at) >= 0:
            self._wdt_at = None
            hal.start_watchdog(self._wdt_ms)
        hal.feed_watchdog()
        self._uptime(now_ms)
        if self.reader is not None:
            try:
                data = self.read_available()
            except Exception:  # noqa: BLE001 - a console hiccup is no reason to stop
                data = None
            if data:
                self.reader.feed(data, self.commands.handle_line, now_ms)
        if self.supervisor.poll(now_ms):
            self.drive_relay()
            self._relay_test_reply(now_ms)
        self._test_mode_expire(now_ms)
        if self.on_healthy is not None and self._up_s >= HEALTHY_AFTER_S:
            cb = self.on_healthy
            self.on_healthy = None
            cb()
        d = self.decision
        if d is not None:
            hal.set_led(led_on(d.led, now_ms))
            self._button(now_ms, d)
        if self.outbox is not None:
            self.outbox.flush()
            self.reporter.report_drops(now_ms)
        if self._reboot_since is not None:
            self._maybe_reboot(now_ms)
        if self._handover_since is not None:
            self._maybe_hand_over(now_ms)

    def _button(self, now_ms, d):
        if not self.hal.button_pressed():
            self._held_since = None
            self._hold_done = False
            return
        if self._held_since is None:
            self._held_since = now_ms
        if self._hold_done or d.state != states.LOCKOUT:
            return
        if ticks_diff(now_ms, self._held_since) >= self.clear_hold_ms:
            self._hold_done = True  # one clear per press, however long it is held
            self.apply(now_ms, self.supervisor.clear_lockout(now_ms, "button"))

    def run(self, periods=-1):
        """Sample every period_ms on a fixed schedule (no drift); periods < 0 means forever."""
        if self.kbd_intr is not None:
            self.kbd_intr(-1)
        deadline = self.ticks_ms()
        while periods != 0 and not self.handed_over:
            self.sample(deadline)
            if self.collect is not None:
                # Collect now, right after the step, so GC never lands inside a CT window.
                self.collect()
            deadline = ticks_add(deadline, self.period_ms)
            while not self.handed_over:
                now = self.ticks_ms()
                left = ticks_diff(deadline, now)
                if left <= 0:
                    break
                self.poll(now)
                step = POLL_MS
                if self.reader is not None and self.reader.partial():
                    step = FAST_POLL_MS
                self.sleep_ms(step if left > step else left)
            if ticks_diff(self.ticks_ms(), deadline) > self.period_ms:
                # Fell a whole period behind (a long stall): restart the schedule from now
                # rather than firing a burst of catch-up samples.
                deadline = self.ticks_ms()
            if periods > 0:
                periods -= 1

    # -- uptime --------------------------------------------------------------------------------

    def _uptime(self, now_ms):
        # Accumulated per poll like the supervisor's life clock: one tick difference could not
        # hold more than 6 days.
        self._up_ms += elapsed(now_ms, self._up_last)
        self._up_last = now_ms
        if self._up_ms >= 1000:
            s = self._up_ms // 1000
            self._up_s += s
            self._up_ms -= s * 1000

    def uptime_s(self):
        """Whole seconds since the App was made (as of the last poll)."""
        return self._up_s

    # -- test mode and sensor override (`test_mode`, `inject`) --------------------------------

    def set_test_mode(self, now_ms, ttl_ms):
        """Allow `inject` for `ttl_ms` (0 ends test mode and any override); reports the change."""
        was = self._test_mode_until is not None
        if ttl_ms > 0:
            self._test_mode_until = ticks_add(now_ms, ttl_ms)
            if self._inject_mask:
                self._cap_inject()
            if not was:
                self._test_mode_event(now_ms, True, "test mode on: injected readings allowed")
            return
        self._test_mode_until = None
        self.set_inject(now_ms, None, 0, 0)
        if was:
            self._test_mode_event(now_ms, False, "test mode ended by command")

    def test_mode_left_ms(self, now_ms):
        """Milliseconds of test mode left (0 when off)."""
        if self._test_mode_until is None:
            return 0
        left = ticks_diff(self._test_mode_until, now_ms)
        return left if left > 0 else 0

    def _test_mode_expire(self, now_ms):
        if self._test_mode_until is not None and ticks_diff(now_ms, self._test_mode_until) >= 0:
            self._test_mode_until = None
            self.set_inject(now_ms, None, 0, 0)
            self._test_mode_event(now_ms, False, "test mode ended by itself")

    def _test_mode_event(self, now_ms, on, text):
        self.reporter.event(
            now_ms,
            {
                "event": states.EV_TEST_MODE,
                "reason": "%s%s." % (text[0].upper(), text[1:]),
                "on": on,
                "left_s": (self.test_mode_left_ms(now_ms) + 999) // 1000,
            },
        )

    def set_inject(self, now_ms, inj, mask, ttl_ms):
        """Replace parts of every Reading by `inj` for `ttl_ms`; mask 0 ends an override.

        Only in test mode, and never longer than test mode lasts.
        """
        if self._test_mode_until is None:
            mask = 0
        self._inject_mask = mask if inj is not None else 0
        if self._inject_mask:
            self._inject = inj
            self._inject_until = ticks_add(now_ms, ttl_ms)
            self._cap_inject()
        self.injected = self._inject_mask != 0

    def _cap_inject(self):
        if ticks_diff(self._test_mode_until, self._inject_until) < 0:
            self._inject_until = self._test_mode_until

    def inject_left_ms(self, now_ms):
        """Milliseconds until the override expires (0 when none is active)."""
        if not self._inject_mask:
            return 0
        left = ticks_diff(self._inject_until, now_ms)
        return left if left > 0 else 0

    def _override(self, now_ms, reading):
        mask = self._inject_mask
        if mask and ticks_diff(now_ms, self._inject_until) >= 0:
            mask = self._inject_mask = 0
        self.injected = mask != 0
        if not mask:
            return
        inj = self._inject
        # An override may add a fault but never hide one: a sensor that is really faulted keeps
        # its real fault, so the supervisor's "never on a faulted sensor" guard still sees it.
        if mask & INJECT_COIL and reading.coil_fault is None:
            reading.coil_c = inj.coil_c
            reading.coil_fault = inj.coil_fault
        if mask & INJECT_AMBIENT and reading.ambient_fault is None:
            reading.ambient_c = inj.ambient_c
            reading.ambient_fault = inj.ambient_fault
        if mask & INJECT_CT and reading.ct_fault is None:
            reading.amps = inj.amps
            reading.ct_fault = inj.ct_fault

    # -- relay test, reboot, REPL handover ----------------------------------------------------

    def relay_test_active(self):
        """True while a `relay_test` holds the relay energised."""
        return self.supervisor.decision.relay_test

    def start_relay_test(self, now_ms, ms, req_id):
        """Ask the supervisor for a relay test; None when running (reply deferred), else why not."""
        d = self.supervisor.request_relay_test(now_ms, ms, "host")
        refused = d.refused
        self._test_id = req_id
        self._test_ms = ms
        self._test_waiting = refused is None and d.relay_test
        self.act(now_ms, d)
        if not self._test_waiting:
            self._test_id = None
        return refused

    def _relay_test_reply(self, now_ms):
        if not self._test_waiting or self.supervisor.decision.relay_test:
            return
        self._test_waiting = False
        if self.commands is not None:
            held = self.supervisor.relay_test_held_ms(now_ms)
            self.commands.relay_test_done(now_ms, self._test_id, self._test_ms, held)
        self._test_id = None

    def release_refusal(self):
        """Why the relay must not be released by a reset or a REPL now (None: it may)."""
        d = self.supervisor.decision
        if d.power_cut:
            if d.relay_test:
                return "a relay test is running"
            return (
                "refused in state %s: the supervisor is holding the unit's power off, and a "
                "restart would restore it before the off-time is over" % d.state
            )
        return None

    def request_reboot(self, now_ms):
        """Reset the board once the reply has left (or after a grace period if nobody reads)."""
        self._reboot_since = now_ms

    def request_handover(self, now_ms):
        """Stop supervising and return to main() (the REPL) once the reply has left."""
        self._handover_since = now_ms

    def _reply_gone(self, now_ms, since):
        ob = self.outbox
        return not (ob is not None and ob.count and ticks_diff(now_ms, since) < _REBOOT_GRACE_MS)

    def _cancelled(self, now_ms, what):
        # Checked again at the moment of acting: a cut decided since the command was read wins.
        why = self.release_refusal()
        if why is None:
            return False
        self.reporter.fault(now_ms, "command", "%s cancelled: %s" % (what, why))
        return True

    def _maybe_reboot(self, now_ms):
        if not self._reply_gone(now_ms, self._reboot_since):
            return
        self._reboot_since = None
        if self._cancelled(now_ms, "reboot"):
            return
        self.hal.set_power_cut(False)  # boot.py would release it anyway; do not rely on it
        self.reset()

    def _maybe_hand_over(self, now_ms):
        if not self._reply_gone(now_ms, self._handover_since):
            return
        self._handover_since = None
        if self._cancelled(now_ms, "repl"):
            return
        self.hal.set_power_cut(False)
        if self.on_handover is not None:
            self.on_handover()
        # A REPL nobody uses must not stay unsupervised: the watchdog, no longer fed, resets
        # the board into supervision unless a flashing host extends it.
        self.hal.start_watchdog(HANDOVER_WDT_MS)
        self._wdt_at = None
        if self.outbox is not None:
            self.outbox.drain(4096)
        if self.kbd_intr is not None:
            self.kbd_intr(3)
        self.handed_over = True


def build(
    board,
    device,
    hal,
    store,
    write,
    ticks_ms,
    sleep_ms,
    ticks_us=None,
    collect=None,
    read_available=None,
    config_file=None,
    reset=None,
):
    """Wire the application from validated configs and injected hardware.

    `write(bytes) -> int | None` is the serial port (see splitguard.outbox.Outbox);
    `read_available() -> bytes | None` what the port has received, without waiting;
    `config_file` a commands.ConfigFile for config_set; `reset` what `reboot` calls.
    """
    from splitguard import VERSION
    from splitguard.commands import Commands
    from splitguard.detector import Detector
    from splitguard.outbox import Outbox
    from splitguard.report import Reporter
    from splitguard.sensors import Sensors
    from splitguard.supervisor import Supervisor

    sensors = Sensors.from_config(hal, device, ticks_us=ticks_us)
    now = ticks_ms()
    supervisor = Supervisor(device["supervisor"], Detector(device["detector"]), store, now)
    outbox = Outbox(write)
    app = App(
        hal,
        sensors,
        supervisor,
        Reporter(outbox.put, outbox),
        # Whole milliseconds once, here: time.ticks_add and time.sleep_ms take only ints on
        # MicroPython, and a setting such as 2.5 s must not crash the board in a loop.
        whole_ms(device["sample_period_s"], 1000),
        whole_ms(device["supervisor"]["lockout_clear_hold_s"], 1000),
        ticks_ms,
        sleep_ms,
        collect,
        outbox=outbox,
        read_available=read_available,
        reset=reset,
    )
    app.commands = Commands(app, device, config_file, VERSION)
    return app


def console_reader(sys, select, budget=READ_BUDGET):
    """A read_available() for the board's USB console: up to `budget` bytes waiting now, or None.

    select.poll with a zero timeout never waits; ipoll allocates nothing when no byte is there.
    Ctrl-C still reaches MicroPython's keyboard interrupt (it never enters stdin), so mpremote
    can always stop the program.
    """
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    buf = bytearray(budget)

    def read_available():
        n = 0
        while n < budget:
            ready = False
            for _ in poller.ipoll(0):
                ready = True
            if not ready:
                break
            c = stream.read(1)
            if not c:
                break
            buf[n] = c[0] if isinstance(c, bytes) else ord(c)
            n += 1
        return bytes(buf[:n]) if n else None

    return read_available


def console_writer(sys):
    """A write(bytes) for the board's USB console: raw bytes, returns how many it took."""
    out = getattr(sys.stdout, "buffer", None)
    if out is not None:
        return out.write
    text = sys.stdout.write

    def write(data):
        text(data.decode())
        return len(data)

    return write


def _report_config_error(reporter, ticks_ms, exc):
    lines = getattr(exc, "errors", None) or [str(exc)]
    for line in lines:
        reporter.fault(ticks_ms(), "config", line)


def load_configs(reporter, ticks_ms, board_path, config_path):
    """(board, device) validated, or None after a `fault` line for every problem found.

    A missing device config means the defaults (reported); a missing or bad board file, or a bad
    device config, is an error: the caller keeps the relay released and the unit powered.
    """
    from splitguard import config

    try:
        board = config.load_board(board_path)
        try:
            device = config.load_device(config_path)
        except config.ConfigError as exc:
            if "no such file" not in str(exc):
                raise
            device = config.default_device()
            reporter.fault(ticks_ms(), "config", "%s missing: using defaults" % config_path)
        return board, device
    except Exception as exc:  # noqa: BLE001 - a bad config must never cut power or crash-loop
        _report_config_error(reporter, ticks_ms, exc)
        return None


def main():
    """The ESP32 entry point (main.py). On a crash, reports and resets safely; after repeated
    crashes, waits in safe mode. Returns only when the `repl` command handed the board over."""
    import gc
    import os
    import select
    import sys
    import time

    import machine

    from splitguard import VERSION, config, safemode
    from splitguard.commands import ConfigFile
    from splitguard.hal.esp32 import Esp32Hal
    from splitguard.report import Reporter
    from splitguard.store import Store

    try:
        import micropython

        kbd_intr = micropython.kbd_intr
    except (ImportError, AttributeError):
        kbd_intr = None

    write = sys.stdout.write
    ticks_ms = time.ticks_ms
    boot_reporter = Reporter(write)
    loaded = load_configs(boot_reporter, ticks_ms, BOARD_FILE, CONFIG_FILE)
    while loaded is None:
        # boot.py already left the relay de-energised (unit powered). Keep saying why, and look
        # again: `splitguard flash` or mpremote may have put a good file in place meanwhile.
        time.sleep(60)
        loaded = load_configs(boot_reporter, ticks_ms, BOARD_FILE, CONFIG_FILE)
    board, device = loaded

    try:
        hal = Esp32Hal(board)
    except Exception as exc:  # noqa: BLE001 - e.g. a pin the chip does not have
        while True:
            _report_config_error(boot_reporter, ticks_ms, exc)
            time.sleep(60)
    crashes = safemode.CrashLog(CRASH_FILE, os)
    crashes.at_boot(hal.reset_cause())
    if crashes.safe_mode():
        rec = Store(STORE_FILE, os).load()
        text = safemode.safe_mode_text(
            crashes.count, crashes.last, rec["lockout_reason"] if rec["lockout"] else None
        )
        safemode.run(hal, boot_reporter, text, ticks_ms, time.sleep_ms)
    app = None
    try:
        app = build(
            board,
            device,
            hal,
            Store(STORE_FILE, os),
            console_writer(sys),
            ticks_ms,
            time.sleep_ms,
            ticks_us=time.ticks_us,
            collect=gc.collect,
            read_available=console_reader(sys, select),
            config_file=ConfigFile(CONFIG_FILE, os),
            reset=machine.reset,
        )
        app.kbd_intr = kbd_intr
        app.on_healthy = crashes.healthy
        app.on_handover = crashes.handed_over
        app.reporter.hello(
            ticks_ms(), VERSION, board["name"], config.config_hash(device), hal.reset_cause()
        )
        gc.collect()
        # The ESP32's watchdog cannot be stopped once started, so after a handover to the REPL
        # (`repl`, `splitguard flash`) it would reset the board mid-copy. It starts when the
        # supervisor could first cut power (boot settle): until then a hang leaves the relay
        # released and the unit powered, which is safe.
        settle_ms = whole_ms(device["supervisor"]["boot_settle_min"], 60000)
        app.arm_watchdog(WATCHDOG_MS, time.ticks_add(ticks_ms(), settle_ms))
        app.run()  # returns only after `repl`: the relay is released, Ctrl-C enabled
        hal.set_power_cut(False)
    except KeyboardInterrupt:
        # Ctrl-C is off while supervising; this is one that came before: hand the board to the
        # REPL with the unit powered.
        hal.set_power_cut(False)
        if kbd_intr is not None:
            kbd_intr(3)
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: power on, say why, reset
        hal.set_power_cut(False)
        try:
            cause = "%s: %s" % (type(exc).__name__, exc)
            crashes.crashed(cause)
            rep = boot_reporter
            if app is not None:
                # Through the app's queue: what was queued goes out first, numbering unbroken.
                rep = app.reporter
            rep.fault(ticks_ms(), "crash", cause)
            if app is not None:
                app.outbox.drain(16384)
            sys.print_exception(exc)
        finally:
            time.sleep_ms(1000)
            machine.reset()
