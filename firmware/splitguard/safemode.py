"""Repeated crashes end in a safe, visible state instead of resetting forever (docs/safety.md).

In the spirit of ESPHome's safe mode: a small file counts the crashes in a row (an exception
that reached main(), or a watchdog reset: a hung loop). A power-on reset starts the count
afresh, and so does a run of 10 min without a crash. After SAFE_MODE_AFTER crashes in a row the
board stops trying: relay released (unit powered), a `fault` line naming the last crash once a
minute, the safe-mode LED rhythm, Ctrl-C enabled so it can be reflashed. The supervisor's store
is not touched, so a LOCKOUT it held is still there when the firmware works again.
"""

import json

from splitguard.clock import ticks_diff
from splitguard.compat import const
from splitguard.led import led_on

SAFE_MODE_AFTER = const(5)
_REPORT_EVERY_MS = const(60000)
_LED_POLL_MS = const(50)
_MAX_CAUSE = const(200)


class CrashLog:
    """The crash count and the last crash's cause, in one small file; never raises."""

    def __init__(self, path, fs, opener=None):
        self.path = path
        self._fs = fs
        self._open = opener if opener is not None else open
        self.count = 0
        self.last = None
        self.handover = False  # the last boot handed over to the REPL (`repl`)
        try:
            with self._open(path, "r") as f:
                rec = json.loads(f.read(512))
            n = rec.get("n")
            last = rec.get("last")
            if isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 1000:
                self.count = n
            if isinstance(last, str):
                self.last = last[:_MAX_CAUSE]
            self.handover = rec.get("handover") is True
        except Exception:  # noqa: BLE001 - missing or garbled: no crashes known
            pass

    def _write(self):
        try:
            if self.count == 0 and not self.handover:
                self._fs.remove(self.path)
                return True
            rec = {"n": self.count, "last": self.last}
            if self.handover:
                rec["handover"] = True
            with self._open(self.path, "w") as f:
                f.write(json.dumps(rec))
            return True
        except Exception:  # noqa: BLE001 - a full flash must not turn a crash into a worse one
            return False

    def at_boot(self, reset_cause):
        """Account for the reset that started this boot (hal.reset_cause() text)."""
        was_handover = self.handover
        if was_handover:
            self.handover = False
        if reset_cause == "power_on":
            if self.count or was_handover:
                self.count = 0
                self.last = None
                self._write()
        elif reset_cause == "watchdog" and not was_handover:
            self.crashed("watchdog reset: the control loop stopped being serviced")
        elif was_handover:
            # The watchdog of an unused REPL after `repl` brought us back: not a crash.
            self._write()

    def handed_over(self):
        """The board is handing its console to the REPL: the next watchdog reset is expected."""
        self.handover = True
        self._write()

    def crashed(self, cause):
        """One more crash in a row, for `cause` (a sentence)."""
        self.count += 1
        self.last = str(cause)[:_MAX_CAUSE]
        self._write()

    def healthy(self):
        """The firmware has run long enough without a crash: the count starts afresh."""
        if self.count:
            self.count = 0
            self.last = None
            self._write()

    def safe_mode(self):
        """True when the board should stop trying and wait in safe mode."""
        return self.count >= SAFE_MODE_AFTER


def safe_mode_text(count, last, lockout_reason):
    """The sentence a safe-mode `fault` line carries."""
    text = (
        "safe mode after %d crashes in a row (last: %s): not supervising, the unit stays "
        "powered" % (count, last or "unknown")
    )
    if lockout_reason:
        text += "; the stored LOCKOUT is kept (%s)" % lockout_reason
    return text + ". Power-cycle the board to try again, or reflash it (splitguard flash)."


def run(hal, reporter, text, ticks_ms, sleep_ms, rounds=-1):
    """Safe mode: relay released, the reason once a minute, the safe-mode LED. Never returns
    (unless `rounds` >= 0, for tests)."""
    hal.set_power_cut(False)
    while rounds != 0:
        reporter.fault(ticks_ms(), "safe_mode", text)
        t0 = ticks_ms()
        while True:
            now = ticks_ms()
            if ticks_diff(now, t0) >= _REPORT_EVERY_MS:
                break
            hal.set_led(led_on("safe_mode", now))
            sleep_ms(_LED_POLL_MS)
        if rounds > 0:
            rounds -= 1
