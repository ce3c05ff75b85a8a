"""What to do about the unit: watch it, power-cycle it when stuck, and stop when that does not help.

`Supervisor.step(now_ms, reading)` is the whole control decision: it feeds the detector, applies
the rules below and returns one reused `Decision` (relay, LED, events). It does no I/O except
`store.save()` when something that must survive a reboot changes, and allocates nothing in
steady state (WATCHING, no events). docs/state-machine.md is the specification; the defaults
and their published sources are listed there and in DEFAULTS below.
"""

from splitguard import states
from splitguard.clock import elapsed, ticks_add, ticks_diff
from splitguard.compat import const
from splitguard.store import RECORD_VERSION, defaults

DEFAULTS = {
    # Longest published manufacturer defrost maximum: Fujitsu 15 min (S-D1), Midea MCD 15 min
    # (S-D10); most others cap at 8-14 min (S-D3..S-D21).
    "defrost_max_min": 15,
    # No published board starts defrosts less than 30 min apart: Fedders minimum interval
    # (S-D5), shortest fixed-timer option (S-D16, S-D18, S-D20).
    "frequent_defrost_count": 3,
    "frequent_defrost_interval_min": 30,
    # A powered unit restarts within minutes (restart delays of tens of seconds, S-D3, S-D12);
    # the peer project waits 10 min for the unit to act (S-D30 DEFROST_TIMEOUT).
    "recovery_timeout_min": 10,
    # The common manual-reset advice and the peer project's RELAY_OFF_TIME (S-D30).
    "power_off_min": 30,
    "max_cycles_per_24h": 3,
    "boot_settle_min": 3,
    "lockout_clear_hold_s": 5,
}

# Never less, whatever the configuration says: compressor protection and capacitor discharge.
OFF_FLOOR_MS = const(300_000)
# Never more than the validated maximum (240 min); also keeps tick differences far from 2**29.
OFF_CEILING_MS = const(14_400_000)
# A cut is never decided on the first steps after boot, even if the configuration says 0.
SETTLE_FLOOR_MS = const(60_000)
_DURATION_CEILING_MS = const(86_400_000)
_MAX_CYCLES_CEILING = const(10)
WINDOW_S = const(86_400)
# The life clock is saved this often while it matters (a cycle in the window, or a lockout).
LIFE_SAVE_EVERY_S = const(600)
# At least this long between the starts of two interruptions of the unit's power, whatever asks
# for them (an automatic cycle, `power_cycle`, `relay_test`): with the 5-min off floor, a unit
# always gets 5 min powered between two cuts. On the life clock, so it holds across reboots.
GAP_S = const(600)
# A relay test holds the relay this long at most: enough to hear the contactor, too short to
# matter to a compressor that was stopped anyway.
RELAY_TEST_MAX_MS = const(2000)

# Why a needed cycle has not happened yet (Decision.blocked); constants, so no allocation.
WAIT_SETTLE = "sensors are still settling after boot"
WAIT_FAULT = "a sensor is faulted; power is never cut on a faulted reading"
WAIT_DEFROST = "a defrost is in progress and still within its limit"
WAIT_GAP = "the unit's power was interrupted less than 10 min ago"

# What counts as compressor activity after power comes back.
_ACTIVE = (states.RUNNING, states.FROSTING, states.DEFROSTING)

LED_WATCHING = "watching"
LED_POWER_OFF = "power_off"
LED_RESTORING = "restoring"
LED_LOCKOUT = "lockout"
LED_FAULT = "fault"

CAUSE_TOO_LONG = states.EV_DEFROST_TOO_LONG
CAUSE_TOO_FREQUENT = states.EV_DEFROST_TOO_FREQUENT
CAUSE_NOT_RECOVERED = states.EV_NOT_RECOVERED
CAUSE_MANUAL = "manual"
CAUSE_RELAY_TEST = "relay_test"


def _ms(minutes, lo, hi):
    ms = int(minutes * 60_000)
    if ms < lo:
        return lo
    if ms > hi:
        return hi
    return ms


def _min_text(ms):
    return "%g min" % (ms / 60_000)


class Decision:
    """What the supervisor wants right now; one instance, rewritten by every call."""

    def __init__(self):
        # True only while deliberately holding the unit's power off: POWER_OFF, or a relay test
        # the supervisor allowed (relay_test). The App drives the relay from this and nothing else.
        self.power_cut = False
        self.relay_test = False
        self.unit_state = states.OFF
        self.mode = None
        self.state = states.WATCHING
        self.state_since_ms = 0
        self.reason = ""  # why the supervisor is in `state`
        self.events = []  # this call's events, the detector's first
        self.cycles_in_window = 0
        self.cycle_limit = 0
        self.led = LED_WATCHING
        self.pending = None  # cause of a power cycle that is needed but waiting, else None
        self.blocked = None  # why it waits (WAIT_*), else None
        self.refused = None  # why clear_lockout/request_power_cycle did nothing, else None
        self.fault = None  # store problem to report as a `fault` line, else None
        self.life_s = 0  # supervised seconds since the store was created (see docs)


class Supervisor:
    """The power-cycle state machine: WATCHING, POWER_OFF, RESTORING, LOCKOUT."""

    def __init__(self, cfg, detector, store, now_ms):
        c = {}
        for key in DEFAULTS:
            c[key] = DEFAULTS[key]
        if cfg:
            for key in cfg:
                c[key] = cfg[key]
        day = _DURATION_CEILING_MS
        self._defrost_max_ms = _ms(c["defrost_max_min"], 60_000, day)
        self._freq_count = max(2, int(c["frequent_defrost_count"]))
        self._freq_interval_s = _ms(c["frequent_defrost_interval_min"], 60_000, day) // 1000
        self._recovery_ms = _ms(c["recovery_timeout_min"], 60_000, day)
        self._off_ms = _ms(c["power_off_min"], OFF_FLOOR_MS, OFF_CEILING_MS)
        self._settle_ms = _ms(c["boot_settle_min"], SETTLE_FLOOR_MS, day)
        self._max_cycles = min(max(0, int(c["max_cycles_per_24h"])), _MAX_CYCLES_CEILING)

        self._det = detector
        self._store = store
        self._boot_ms = now_ms
        self._last_ms = now_ms
        self._settled = False
        self._first = True
        self._life_s = 0
        self._life_ms = 0  # the part of a second not yet in _life_s
        self._saved_life_s = 0
        self._cycles = []  # life-clock seconds of each power-off in the last 24 h
        self._failed = 0  # power cycles in a row after which the unit did not recover
        self._state = states.WATCHING
        self._since = now_ms
        self._reason = "watching the unit"
        self._cause = None  # what the current POWER_OFF/RESTORING is about
        self._lockout_reason = None
        self._pending = None
        self._pending_reason = None
        self._blocked = None
        self._flagged = False  # the current defrost was already reported too long
        self._run = 0  # defrost starts in a row, each closer than the interval to the previous
        self._run_first_s = 0
        self._last_start_s = -1
        self._faulted = False
        self._unit = detector.state
        self._boot_events = []
        self._boot_fault = None
        self._test_until = None  # tick at which a running relay test ends, else None
        self._test_start = 0
        self.decision = Decision()
        self.decision.cycle_limit = self._max_cycles
        if store is not None:
            rec = store.load()
            try:
                self._restore(rec, store.fault)
            except Exception as exc:  # noqa: BLE001 - a record must never stop supervision
                # store.py checks every field, so this is defence in depth: whatever was read
                # is unusable, which is a corrupt store (window assumed full), not a crash.
                self._cycles = []
                self._state = states.WATCHING
                self._reason = "watching the unit"
                self._boot_events = []
                rec = defaults()
                rec["history_lost"] = True
                self._restore(rec, "store record unusable (%r): starting from safe defaults" % exc)
        self._fill()

    # -- boot ----------------------------------------------------------------------------------

    def _restore(self, rec, fault):
        self._boot_fault = fault
        self._life_s = rec["life_s"]
        self._saved_life_s = self._life_s
        self._failed = rec["failed"]
        for stamp in rec["cycles"]:
            self._cycles.append(stamp)
        if rec.get("history_lost"):
            # The record is gone, so recent cycles cannot be ruled out: assume the window is
            # full. The next needed cycle locks out and asks a person; a day of life clock
            # clears it.
            while len(self._cycles) < self._max_cycles:
                self._cycles.append(self._life_s)
        self._age_cycles()
        saved = rec["state"]
        if rec["lockout"]:
            self._state = states.LOCKOUT
            self._lockout_reason = rec["lockout_reason"] or "lockout restored after restart"
            self._reason = self._lockout_reason
        elif saved == states.POWER_OFF or saved == states.RESTORING:
            # The relay is released at boot (wired so that means powered), so a power-off cut
            # short by a restart is over; it stays counted in the window. Watch the restart.
            self._state = states.RESTORING
            self._cause = rec.get("cause") or CAUSE_NOT_RECOVERED
            if saved == states.POWER_OFF:
                self._reason = "board restarted during a power-off; power is back early"
                self._boot_events.append(
                    {
                        "event": states.EV_POWER_ON,
                        "reason": "The board restarted while holding power off; the relay "
                        "released at boot, so the unit is powered again early. The cycle "
                        "stays counted.",
                        "early": True,
                        "cycles_in_window": len(self._cycles),
                        "limit": self._max_cycles,
                    }
                )
            else:
                self._reason = "board restarted while waiting for the unit to recover"
        if fault is not None or saved != self._state:
            self._save()
            written = self.decision.fault
            if written is not None:  # the repair could not be written either
                self._boot_fault = written if fault is None else "%s; %s" % (fault, written)

    # -- the control step ----------------------------------------------------------------------

    def step(self, now_ms, reading):
        """Feed one reading; return the (reused) Decision for this instant."""
        d = self._begin(now_ms)
        self._end_test_if_due(now_ms)
        ev = d.events
        if self._first:
            # Settling counts from the first reading, so the first step after a boot can never
            # cut power, however late it comes.
            self._first = False
            self._boot_ms = now_ms
            d.fault = self._boot_fault
            if self._boot_events:
                for e in self._boot_events:
                    ev.append(e)
                self._boot_events = None
        if not self._settled and ticks_diff(now_ms, self._boot_ms) >= self._settle_ms:
            self._settled = True
        det = self._det
        n0 = len(ev)
        unit = det.update(now_ms, reading, ev)
        n1 = len(ev)
        faulted = unit == states.SENSOR_FAULT or reading.faulted()
        self._unit = unit
        self._faulted = faulted

        state = self._state
        if state == states.POWER_OFF:
            # The off-time is kept whatever the sensors say, and never extended: power-off is
            # deliberate and bounded; the unit is safest powered.
            off = ticks_diff(now_ms, self._since)
            if off >= self._off_ms:
                self._power_on(now_ms, off)
        elif state == states.RESTORING:
            waited = ticks_diff(now_ms, self._since)
            if unit in _ACTIVE and self._fresh_activity(det):
                self._recovered(now_ms, unit, waited)
            elif waited >= self._recovery_ms and self._settled and not faulted:
                # A verdict is drawn from healthy readings only; a faulted sensor can hide a
                # running compressor.
                self._not_recovered(now_ms, waited)
        if self._state == states.WATCHING:
            if self._settled:
                i = n0
                while i < n1:
                    if ev[i]["event"] == states.EV_DEFROST_START:
                        self._defrost_started()
                    i += 1
                if unit == states.DEFROSTING and not self._flagged:
                    dur = det.defrost_elapsed_ms(now_ms)
                    if dur > self._defrost_max_ms:
                        self._too_long(now_ms, dur)
            if self._pending is not None and self._state == states.WATCHING:
                self._blocked = self._try_cut(now_ms, self._pending, self._pending_reason, False)
        if (
            (self._cycles or self._state == states.LOCKOUT)
            and self._life_s - self._saved_life_s >= LIFE_SAVE_EVERY_S
            and self._store is not None
        ):
            self._save()
        self._fill()
        return d

    def clear_lockout(self, now_ms, source):
        """A person (source "button" or "host") ends a LOCKOUT; refused in any other state."""
        d = self._begin(now_ms)
        if self._state != states.LOCKOUT:
            d.refused = "not in lockout (state %s)" % self._state
            self._fill()
            return d
        how = "button held" if source == "button" else "%s command" % source
        self._enter(states.WATCHING, now_ms, "lockout cleared by a person (%s)" % how)
        self._lockout_reason = None
        self._pending = None
        self._pending_reason = None
        self._blocked = None
        self._failed = 0
        self._run = 0
        # A defrost already under way was judged before the lockout; only a new one is judged.
        self._flagged = self._unit == states.DEFROSTING
        d.events.append(
            {
                "event": states.EV_LOCKOUT_CLEARED,
                "reason": "Lockout cleared by a person (%s); watching again. The 24 h limit "
                "still counts the earlier cycles." % how,
                "source": source,
                "cycles_in_window": len(self._cycles),
                "limit": self._max_cycles,
            }
        )
        self._save()
        self._fill()
        return d

    def request_power_cycle(self, now_ms, source):
        """A person asks for a power cycle; done only when an automatic one would be allowed."""
        d = self._begin(now_ms)
        if self._state != states.WATCHING:
            d.refused = "refused in state %s: a power cycle starts only from WATCHING" % (
                self._state
            )
        else:
            # A manual cut also answers any pending automatic one (_try_cut clears it).
            d.refused = self._try_cut(now_ms, CAUSE_MANUAL, "manual request (%s)" % source, True)
        self._fill()
        return d

    def request_relay_test(self, now_ms, ms, source):
        """A person asks to energise the relay for `ms` (<= 2 s): an interruption like any other.

        It passes the same guards as a power cycle (sensors healthy and settled, no defrost
        within its limit, 10 min since the last interruption), is counted in the 24 h window and
        is recorded before the relay moves. `Decision.refused` says why not.
        """
        d = self._begin(now_ms)
        self._end_test_if_due(now_ms)
        ms = int(ms)
        if ms < 1 or ms > RELAY_TEST_MAX_MS:
            d.refused = "ms: %d is out of range (allowed 1..%d ms)" % (ms, RELAY_TEST_MAX_MS)
        elif self._test_until is not None:
            d.refused = "a relay test is already running"
        elif self._state != states.WATCHING:
            d.refused = "refused in state %s: a relay test runs only while WATCHING" % self._state
        elif self._pending is not None:
            d.refused = "a power cycle is pending (%s)" % self._pending
        else:
            d.refused = self._try_cut(
                now_ms, CAUSE_RELAY_TEST, "relay test (%s)" % source, True, ms
            )
        self._fill()
        return d

    def poll(self, now_ms):
        """Between samples: end a relay test that is due. True if the relay should move."""
        if self._test_until is None or ticks_diff(now_ms, self._test_until) < 0:
            return False
        self._begin(now_ms)
        self._end_test_if_due(now_ms)
        self._fill()
        return True

    def off_left_ms(self, now_ms):
        """Milliseconds of the current POWER_OFF still to go (0 in any other state)."""
        if self._state != states.POWER_OFF:
            return 0
        left = self._off_ms - ticks_diff(now_ms, self._since)
        return left if left > 0 else 0

    def relay_test_held_ms(self, now_ms):
        """How long the running (or just ended) relay test has held the relay."""
        return ticks_diff(now_ms, self._test_start)

    # -- helpers -------------------------------------------------------------------------------

    def _end_test_if_due(self, now_ms):
        if self._test_until is not None and ticks_diff(now_ms, self._test_until) >= 0:
            self._test_until = None

    def _begin(self, now_ms):
        d = self.decision
        ev = d.events
        if ev:
            del ev[:]
        d.refused = None
        d.fault = None
        self._life_ms += elapsed(now_ms, self._last_ms)
        self._last_ms = now_ms
        if self._life_ms >= 1000:
            s = self._life_ms // 1000
            self._life_s += s
            self._life_ms -= s * 1000
        if self._cycles:
            self._age_cycles()
        return d

    def _fresh_activity(self, det):
        # A state held over from before the cut (a stuck defrost the detector never saw end,
        # since a powerless unit gives no sign) is not a restart: only a state entered since
        # power came back counts.
        since = det.state_since_ms
        return since is None or ticks_diff(since, self._since) >= 0

    def _age_cycles(self):
        cycles = self._cycles
        aged = False
        # A stamp stays while at most 24 h old: whole seconds can only make a cycle look newer.
        while cycles and self._life_s - cycles[0] > WINDOW_S:
            cycles.pop(0)
            aged = True
        if aged:
            self._save()

    def _enter(self, state, now_ms, reason):
        self._state = state
        self._since = now_ms
        self._reason = reason

    def _event(self, ev):
        self.decision.events.append(ev)

    def _defrost_started(self):
        self._flagged = False
        now_s = self._life_s
        if self._last_start_s >= 0 and now_s - self._last_start_s < self._freq_interval_s:
            self._run += 1
        else:
            self._run = 1
            self._run_first_s = now_s
        gap = now_s - self._last_start_s if self._last_start_s >= 0 else None
        self._last_start_s = now_s
        if self._run >= self._freq_count:
            span = now_s - self._run_first_s
            self._event(
                {
                    "event": states.EV_DEFROST_TOO_FREQUENT,
                    "reason": "%d defrosts started in a row, each less than %s after the one "
                    "before (%d s over the run); no published unit defrosts that often."
                    % (
                        self._run,
                        _min_text(self._freq_interval_s * 1000),
                        now_s - self._run_first_s,
                    ),
                    "count": self._run,
                    "count_limit": self._freq_count,
                    "gap_s": gap,
                    "interval_s": self._freq_interval_s,
                    "span_s": span,
                }
            )
            self._run = 0
            self._need_cycle(CAUSE_TOO_FREQUENT, "defrosts too frequent")

    def _too_long(self, now_ms, dur):
        self._flagged = True
        self._event(
            {
                "event": states.EV_DEFROST_TOO_LONG,
                "reason": "Defrost has lasted %d s, longer than the %s limit (the longest "
                "published manufacturer maximum is 15 min)."
                % (dur // 1000, _min_text(self._defrost_max_ms)),
                "duration_s": dur // 1000,
                "limit_s": self._defrost_max_ms // 1000,
            }
        )
        self._need_cycle(CAUSE_TOO_LONG, "defrost too long")

    def _need_cycle(self, cause, text):
        if self._pending is not None:
            return  # one cycle answers every fault seen before it happens
        if len(self._cycles) >= self._max_cycles:
            self._lockout(cause, text)
            return
        self._pending = cause
        self._pending_reason = text

    def _guard(self, now_ms):
        # The guards every interruption passes, whoever asks for it (docs/safety.md): None when
        # a cut is allowed now, else why not (a WAIT_* constant).
        if not self._settled:
            return WAIT_SETTLE
        if self._faulted:
            return WAIT_FAULT
        if (
            self._unit == states.DEFROSTING
            and self._det.defrost_elapsed_ms(now_ms) <= self._defrost_max_ms
        ):
            return WAIT_DEFROST
        return None

    def _try_cut(self, now_ms, cause, text, manual, test_ms=0):
        # Returns None when power is now off, else why not (a WAIT_* constant or a refusal).
        # `test_ms` > 0: a relay test of that length instead of a POWER_OFF.
        why = self._guard(now_ms)
        if why is not None:
            return why
        n = len(self._cycles)
        if n >= self._max_cycles:
            if manual:
                return "the limit of %d power cycles in 24 h is reached (%d in the window)" % (
                    self._max_cycles,
                    n,
                )
            self._lockout(cause, text)
            return None
        if n and self._life_s - self._cycles[n - 1] < GAP_S:
            return WAIT_GAP
        self._cycles.append(self._life_s)
        self._pending = None
        self._pending_reason = None
        self._blocked = None
        if test_ms:
            saved = self._save()
        else:
            self._cause = cause
            self._enter(states.POWER_OFF, now_ms, "power off: %s" % text)
            saved = self._save()
        if not saved:
            # A cut the store cannot remember would be forgotten at the next reboot and repeated:
            # it is not made. The unit stays powered and a person is asked to look.
            self._lock(
                cause,
                "%s, but the power cycle could not be recorded (%s): a technician is needed. "
                "The unit stays powered." % (text, self._store.fault),
            )
            return None if not manual else "the power cycle could not be recorded; locked out"
        if test_ms:
            self._test_until = ticks_add(now_ms, test_ms)
            self._test_start = now_ms
            self._event(
                {
                    "event": states.EV_RELAY_TEST,
                    "reason": "Relay test: cutting the unit's power for %d ms (%s; counted as "
                    "interruption %d of %d allowed in 24 h)."
                    % (test_ms, text, n + 1, self._max_cycles),
                    "ms": test_ms,
                    "cycles_in_window": n + 1,
                    "limit": self._max_cycles,
                }
            )
            return None
        off_s = self._off_ms // 1000
        self._event(
            {
                "event": states.EV_POWER_OFF,
                "reason": "Cutting the unit's power for %s: %s (cycle %d of %d allowed in 24 h)."
                % (_min_text(self._off_ms), text, n + 1, self._max_cycles),
                "cause": cause,
                "off_s": off_s,
                "cycles_in_window": n + 1,
                "limit": self._max_cycles,
            }
        )
        return None

    def _power_on(self, now_ms, off):
        self._enter(states.RESTORING, now_ms, "power restored; waiting for the compressor")
        self._event(
            {
                "event": states.EV_POWER_ON,
                "reason": "Power restored after %d s off; waiting up to %s for the compressor."
                % (off // 1000, _min_text(self._recovery_ms)),
                "off_s": off // 1000,
                "planned_off_s": self._off_ms // 1000,
                "recovery_timeout_s": self._recovery_ms // 1000,
            }
        )
        self._save()

    def _recovered(self, now_ms, unit, waited):
        self._failed = 0
        self._run = 0
        self._last_start_s = -1
        self._enter(states.WATCHING, now_ms, "unit recovered after a power cycle")
        self._event(
            {
                "event": states.EV_RECOVERED,
                "reason": "The unit is %s again %d s after power came back."
                % (unit, waited // 1000),
                "after_s": waited // 1000,
                "limit_s": self._recovery_ms // 1000,
                "unit_state": unit,
                "cause": self._cause,
            }
        )
        self._save()

    def _not_recovered(self, now_ms, waited):
        self._failed += 1
        self._run = 0
        self._last_start_s = -1
        self._enter(states.WATCHING, now_ms, "unit did not recover after a power cycle")
        self._event(
            {
                "event": states.EV_NOT_RECOVERED,
                "reason": "No compressor activity %d s after power came back (limit %s): the "
                "power cycle failed (%d in a row)."
                % (waited // 1000, _min_text(self._recovery_ms), self._failed),
                "waited_s": waited // 1000,
                "limit_s": self._recovery_ms // 1000,
                "failed": self._failed,
                "cause": self._cause,
            }
        )
        self._save()
        self._need_cycle(CAUSE_NOT_RECOVERED, "unit did not recover after the last power cycle")

    def _lockout(self, cause, text):
        n = len(self._cycles)
        self._lock(
            cause,
            "%s, but %d power cycles in the last 24 h reached the limit of %d: a technician is "
            "needed. The unit stays powered." % (text, n, self._max_cycles),
        )

    def _lock(self, cause, reason):
        self._pending = None
        self._pending_reason = None
        self._blocked = None
        self._test_until = None
        self._lockout_reason = reason
        self._enter(states.LOCKOUT, self._last_ms, reason)
        self._event(
            {
                "event": states.EV_LOCKOUT,
                "reason": reason[0].upper() + reason[1:],
                "cause": cause,
                "cycles_in_window": len(self._cycles),
                "limit": self._max_cycles,
                "failed": self._failed,
            }
        )
        self._save()

    def _save(self):
        # True when the record is on flash (or there is no store); False sets Decision.fault.
        if self._store is None:
            return True
        ok = self._store.save(
            {
                "v": RECORD_VERSION,
                "life_s": self._life_s,
                "cycles": list(self._cycles),
                "lockout": self._state == states.LOCKOUT,
                "lockout_reason": self._lockout_reason,
                "failed": self._failed,
                "state": self._state,
                "cause": self._cause,
            }
        )
        self._saved_life_s = self._life_s
        if not ok:
            self.decision.fault = self._store.fault
        return ok

    def _fill(self):
        d = self.decision
        state = self._state
        d.relay_test = self._test_until is not None
        d.power_cut = state == states.POWER_OFF or d.relay_test
        d.unit_state = self._unit
        d.mode = self._det.mode
        d.state = state
        d.state_since_ms = self._since
        d.reason = self._reason
        d.cycles_in_window = len(self._cycles)
        d.pending = self._pending
        d.blocked = self._blocked if self._pending is not None else None
        d.life_s = self._life_s
        if state == states.LOCKOUT:
            d.led = LED_LOCKOUT
        elif state == states.POWER_OFF:
            d.led = LED_POWER_OFF
        elif self._faulted:
            d.led = LED_FAULT
        elif state == states.RESTORING:
            d.led = LED_RESTORING
        else:
            d.led = LED_WATCHING
