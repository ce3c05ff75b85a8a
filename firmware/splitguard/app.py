"""The board's application: sample, decide, act, report — at a fixed period, forever.

Everything it touches comes in as an argument (HAL, sensors, supervisor, reporter, clock), so the
same loop runs on the ESP32 (main.py calls `main()`), in the MicroPython VM under test with a
fake `machine`, and later on the virtual board.
"""

from splitguard import states
from splitguard.clock import ticks_add, ticks_diff
from splitguard.compat import const
from splitguard.led import led_on
from splitguard.reading import Reading

# Button and LED are serviced this often between samples; short enough for a crisp LED pattern
# and a hold timer accurate to a tenth of a second, long enough to cost nothing.
POLL_MS = const(50)
# The watchdog must outlive one whole sample (ADC averaging + an 80 ms CT window + a JSON line)
# with a wide margin, yet reset a hung loop quickly; it is fed at every poll.
WATCHDOG_MS = const(10000)
BOARD_FILE = "board.json"
CONFIG_FILE = "config.json"
STORE_FILE = "splitguard_state.json"


class App:
    """One control loop around one Supervisor."""

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
        self.reading = Reading()
        self.decision = None
        self._held_since = None
        self._hold_done = False

    def sample(self, now_ms):
        """One control step: read, decide, act, report. Returns the decision."""
        reading = self.sensors.read(self.reading)
        d = self.supervisor.step(now_ms, reading)
        self.apply(now_ms, d)
        return d

    def apply(self, now_ms, d):
        """Act on a decision (relay first) and report it."""
        self.hal.set_power_cut(d.power_cut)
        self.decision = d
        rep = self.reporter
        if d.fault is not None:
            rep.fault(now_ms, "store", d.fault)
        for ev in d.events:
            rep.event(now_ms, ev)
        rep.sample(now_ms, self.reading, d)

    def poll(self, now_ms):
        """Between samples: LED pattern, watchdog, and the lockout-clear button hold."""
        hal = self.hal
        hal.feed_watchdog()
        d = self.decision
        if d is None:
            return
        hal.set_led(led_on(d.led, now_ms))
        if not hal.button_pressed():
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
        deadline = self.ticks_ms()
        while periods != 0:
            self.sample(deadline)
            if self.collect is not None:
                # Collect now, right after the step, so GC never lands inside a CT window.
                self.collect()
            deadline = ticks_add(deadline, self.period_ms)
            while True:
                now = self.ticks_ms()
                left = ticks_diff(deadline, now)
                if left <= 0:
                    break
                self.poll(now)
                self.sleep_ms(POLL_MS if left > POLL_MS else left)
            if ticks_diff(self.ticks_ms(), deadline) > self.period_ms:
                # Fell a whole period behind (a long stall): restart the schedule from now
                # rather than firing a burst of catch-up samples.
                deadline = self.ticks_ms()
            if periods > 0:
                periods -= 1


def build(board, device, hal, store, write, ticks_ms, sleep_ms, ticks_us=None, collect=None):
    """Wire the application from validated configs and injected hardware."""
    from splitguard.detector import Detector
    from splitguard.report import Reporter
    from splitguard.sensors import Sensors
    from splitguard.supervisor import Supervisor

    sensors = Sensors.from_config(hal, device, ticks_us=ticks_us)
    now = ticks_ms()
    supervisor = Supervisor(device["supervisor"], Detector(device["detector"]), store, now)
    return App(
        hal,
        sensors,
        supervisor,
        Reporter(write),
        device["sample_period_s"] * 1000,
        device["supervisor"]["lockout_clear_hold_s"] * 1000,
        ticks_ms,
        sleep_ms,
        collect,
    )


def _report_config_error(reporter, ticks_ms, exc):
    lines = getattr(exc, "errors", None) or [str(exc)]
    for line in lines:
        reporter.fault(ticks_ms(), "config", line)


def main():
    """The ESP32 entry point (main.py). Never returns; on a crash, reports and resets safely."""
    import gc
    import os
    import sys
    import time

    import machine

    from splitguard import VERSION, config
    from splitguard.hal.esp32 import Esp32Hal
    from splitguard.report import Reporter
    from splitguard.store import Store

    write = sys.stdout.write
    ticks_ms = time.ticks_ms
    boot_reporter = Reporter(write)
    try:
        board = config.load_board(BOARD_FILE)
        try:
            device = config.load_device(CONFIG_FILE)
        except config.ConfigError as exc:
            if "no such file" not in str(exc):
                raise
            device = config.default_device()
            boot_reporter.fault(ticks_ms(), "config", "%s missing: using defaults" % CONFIG_FILE)
    except Exception as exc:  # noqa: BLE001 - a bad config must never cut power or crash-loop
        # boot.py already left the relay de-energised (unit powered). Say why, keep saying it.
        while True:
            _report_config_error(boot_reporter, ticks_ms, exc)
            time.sleep(60)

    try:
        hal = Esp32Hal(board)
    except Exception as exc:  # noqa: BLE001 - e.g. a pin the chip does not have
        while True:
            _report_config_error(boot_reporter, ticks_ms, exc)
            time.sleep(60)
    try:
        app = build(
            board,
            device,
            hal,
            Store(STORE_FILE, os),
            write,
            ticks_ms,
            time.sleep_ms,
            ticks_us=time.ticks_us,
            collect=gc.collect,
        )
        app.reporter.hello(
            ticks_ms(), VERSION, board["name"], config.config_hash(device), hal.reset_cause()
        )
        gc.collect()
        hal.start_watchdog(WATCHDOG_MS)
        app.run()
    except Exception as exc:  # noqa: BLE001 - the last line of defence: power on, say why, reset
        hal.set_power_cut(False)
        try:
            boot_reporter.fault(ticks_ms(), "crash", "%s: %s" % (type(exc).__name__, exc))
            sys.print_exception(exc)
        finally:
            time.sleep_ms(1000)
            machine.reset()
