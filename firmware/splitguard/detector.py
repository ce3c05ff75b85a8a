"""What the outdoor unit is doing, from coil and ambient temperature and supply current.

`Detector.update(now_ms, reading, events)` turns one sample into a unit state (states.OFF,
RUNNING, FROSTING, DEFROSTING, SENSOR_FAULT) and appends an event dict for each thing that
happened. docs/detector.md explains every rule and where its number comes from (source ids
refer to shared/reference/defrost_published_parameters.csv).

Floats are heap objects on the ESP32, so update() does no float arithmetic at all: temperatures
are turned into integers of 1/256 K (`_fixed`) and every difference, threshold and peak is an
integer. That makes the steady state allocation-free and gives the board and a CPython replay
the same decision for the same sample, bit for bit.
"""

import struct
import sys

from splitguard import states
from splitguard.clock import ticks_diff
from splitguard.compat import const, isnan

DEFAULTS = {
    "running_amps": 1.0,
    "frost_delta_k": 5.0,
    "frost_hold_min": 5,
    "frost_ambient_min_c": -12.0,
    "frost_ambient_max_c": 5.0,
    "defrost_end_coil_c": 3.0,
    # Added by the detector (not yet in config validation; suggested range -5..15 °C): no defrost
    # is recognised above this ambient. Frost needs a coil below 0 °C and the coil runs ~6 K
    # below air in heating (S-D26), so frost stops near +6 °C air; +2 K margin for units that
    # defrost on a timer without need (S-D24, S-D30).
    "defrost_ambient_max_c": 8.0,
}

_SCALE = const(256)  # fixed point: 1/256 K per unit

# Coil this far below / above ambient tells heating from cooling. S-D31 flags a defrost at
# coil - ambient >= +1 K; +1 K more covers ±0.5 K noise on each of the two sensors.
_MODE_MARGIN = const(512)  # 2 K
_DEFROST_RISE = const(512)  # 2 K above ambient = reverse cycle (S-D31 +1 K, plus noise)
# The highest coil temperature any maker starts a defrost at: T3 < 3 °C (S-D10), 35 F (S-D21).
# A heating coil never this cold had nothing to defrost.
_DEFROST_COIL_CTX = const(768)  # 3 °C
# Ice melts at 0 °C, so a coil below -2 °C (0 °C minus the margin) is not melting ice: heating
# has resumed even if the coil never reached defrost_end_coil_c (a defrost ended on its timer).
_BELOW_MELT = const(-512)
# A stopped unit's coil cooling this far below its defrost peak means the defrost is over.
_COOLING_FROM_PEAK = const(768)  # 3 K: peak-picking on ±0.5 K noise alone gives up to 1 K
_FROST_EXIT_HYST = const(384)  # 1.5 K back from frost_delta_k before frost clears
_BAND_HYST = const(256)  # 1 K outside the frost band before frost clears
_FROST_COIL_MAX = const(1536)  # 6 °C: no frost above (design.md, from S-D26)

_MODE_HOLD_MS = const(60_000)
_DEFROST_HOLD_MS = const(30_000)  # start and end are confirmed over 30 s
_FROST_CLEAR_MS = const(120_000)
# Compressor current gone this long = stopped. The stops at a reversing-valve switch are 38 s
# (S-D12: 35 s + 3 s) to 60 s (S-D3: 50 s + 10 s); twice the longest is not a setpoint stop.
_OFF_HOLD_MS = const(120_000)
# A defrost follows heating within this window: the stop before the valve switch is <= 60 s
# (S-D3, S-D12) and the coil passes +10 °C ~150 s into a defrost (S-D25).
_DEFROST_CONTEXT_MS = const(600_000)
# ...or within this window when the compressor is running through the rise (a reverse cycle,
# not sun on a stopped coil): near 0 °C air a melting coil sits at 0 °C, under the rise margin,
# for as long as the ice lasts, so the rise can come long after heating stopped.
_DEFROST_CONTEXT_RUNNING_MS = const(1_800_000)
# No current and the coil back within the mode margin of ambient for this long: the unit lost
# power or stopped mid-defrost. A defrosting coil crosses that band in well under a minute.
_RELAXED_MS = const(180_000)
# Samples further apart than this are a gap: hold timers restart instead of extrapolating.
_GAP_MS = const(300_000)
# A sensor fault no longer than this does not lose a defrost in progress (keeps its start).
_FAULT_KEEP_DEFROST_MS = const(300_000)

_OFF_FRACTION = 0.5  # current must fall below half of running_amps to count as stopped
_NO_TIMER = const(-1)  # ticks are 0 .. 2**30-1, so -1 never is one
_CLAMP_C = 1000.0
_NEG_CLAMP_C = -1000.0


def _fixed(buf, x):
    """x (°C or K, finite) as an int in 1/256 K, rounded, without allocating.

    The float is packed as IEEE-754 single into `buf` and its bits decoded with small-int
    arithmetic: ESP32 floats are single precision, so this is exact there and identical on CPython.
    """
    if x > _CLAMP_C:
        x = _CLAMP_C
    elif x < _NEG_CLAMP_C:  # a separate constant: -_CLAMP_C would allocate a float
        x = _NEG_CLAMP_C
    struct.pack_into("<f", buf, 0, x)
    exp = ((buf[3] & 0x7F) << 1) | (buf[2] >> 7)
    if exp < 118:  # |x| < 2**-9 K: rounds to 0 (zero and subnormals included)
        return 0
    mant = ((buf[2] & 0x7F) << 16) | (buf[1] << 8) | buf[0] | 0x800000
    shift = 142 - exp  # x * 256 = mant * 2**(exp - 142); >= 6 because |x| <= 1000
    v = (mant + (1 << (shift - 1))) >> shift
    return -v if buf[3] & 0x80 else v


if sys.implementation.name != "micropython":
    _fixed_board = _fixed
    _pack_f = struct.Struct("<f").pack
    _unpack_f = struct.Struct("<f").unpack

    def _fixed(buf, x):  # noqa: F811 - the same result by a faster road on CPython (replay)
        """As on the board: round the single-precision value of x, in 1/256 K, half away from 0."""
        if x > _CLAMP_C:
            x = _CLAMP_C
        elif x < _NEG_CLAMP_C:
            x = _NEG_CLAMP_C
        # float32 * 256 is exact in a double, and so is + 0.5 (|x| <= 1000 leaves 30 bits spare).
        f = _unpack_f(_pack_f(x))[0] * 256.0
        return int(f + 0.5) if f >= 0 else -int(0.5 - f)


def _to_fixed(x):
    """Config value (°C or K) in 1/256 K; only at construction, so allocation is fine."""
    return _fixed(bytearray(4), float(x))


def _c(v):
    """1/256 K back to °C for event figures (rounded to 0.01)."""
    return round(v / _SCALE, 2)


class Detector:
    """Unit state from readings; one instance per outdoor unit, fed every sample in time order."""

    def __init__(self, cfg=None):
        c = DEFAULTS if cfg is None else cfg
        d = DEFAULTS
        self._on_amps = float(c.get("running_amps", d["running_amps"]))
        self._off_amps = self._on_amps * _OFF_FRACTION
        self._frost_delta = _to_fixed(c.get("frost_delta_k", d["frost_delta_k"]))
        self._frost_hold_ms = int(c.get("frost_hold_min", d["frost_hold_min"]) * 60_000)
        self._band_lo = _to_fixed(c.get("frost_ambient_min_c", d["frost_ambient_min_c"]))
        self._band_hi = _to_fixed(c.get("frost_ambient_max_c", d["frost_ambient_max_c"]))
        self._end_coil = _to_fixed(c.get("defrost_end_coil_c", d["defrost_end_coil_c"]))
        self._defrost_amb_max = _to_fixed(
            c.get("defrost_ambient_max_c", d["defrost_ambient_max_c"])
        )
        self._buf = bytearray(4)

        self.state = states.OFF
        self.mode = None
        self.state_since_ms = None  # set by the first update()
        self.defrost_started_ms = None
        self.last_defrost_start_ms = None
        self.last_defrost_end_ms = None

        self._last_ms = _NO_TIMER
        self._fresh = True  # next healthy sample derives the state from scratch
        self._fault_since = _NO_TIMER
        self._on = False  # compressor current present (debounced)
        self._t_off = _NO_TIMER  # current low since
        self._held_mode = None  # heat/cool held while the compressor runs
        self._t_heat = _NO_TIMER  # coil below ambient by the margin since
        self._t_cool = _NO_TIMER  # coil above ambient by the margin since
        self._heat_seen = _NO_TIMER  # last sample with the heating signature
        self._cold_heat = _NO_TIMER  # ... with a coil cold enough to frost
        self._heat_prev = False
        self._left_heat = _NO_TIMER  # first sample after the heating signature broke
        self._t_rise = _NO_TIMER  # coil above ambient by the rise margin since
        self._t_frost = _NO_TIMER
        self._t_clear = _NO_TIMER
        self._t_back = _NO_TIMER  # coil back in the heating band (during defrost) since
        self._peak = 0  # highest coil during the current defrost
        self._peak_ms = _NO_TIMER
        self._reached_end = False
        self._terminating = False  # coil past its defrost peak: the maker ended the defrost
        self._t_relaxed = _NO_TIMER  # no current and coil at ambient (during defrost) since
        self._ran_in_defrost = False  # compressor current seen during the current defrost
        self._stop_ms = _NO_TIMER  # compressor stopped inside the defrost at (clock paused)
        self._t_resume = _NO_TIMER  # current back, coil still reversed, since

    def defrost_elapsed_ms(self, now_ms):
        """How long the current defrost has run; 0 when not DEFROSTING.

        Once the coil has reached the end temperature and fallen 3 K from its peak, the maker's
        control has ended the defrost (at the peak); the exit stop and the coil's fall back below
        ambient that follow are not defrost time, so the figure stops at the peak.
        """
        if self.state != states.DEFROSTING or self.defrost_started_ms is None:
            return 0
        return self._active_ms(now_ms)

    def _active_ms(self, now_ms):
        # Past the peak: the maker ended it there. Compressor stopped inside the defrost (the
        # exit stop at the valve switch back, S-D3; or a lost supply): the clock is paused at
        # the stop until the unit is seen reversing again.
        if self._terminating:
            end = self._peak_ms
        elif self._stop_ms != _NO_TIMER:
            end = self._stop_ms
        else:
            end = now_ms
        d = ticks_diff(end, self.defrost_started_ms)
        return d if d > 0 else 0

    def update(self, now_ms, reading, events):
        """Feed one sample; append events to `events`; return the unit state."""
        if self._faulted(reading):
            return self._fault(now_ms, reading, events)
        if self.state == states.SENSOR_FAULT:
            self._recover(now_ms, reading, events)
        elif self._last_ms != _NO_TIMER:
            gap = ticks_diff(now_ms, self._last_ms)
            if gap > _GAP_MS or gap < 0:
                self._reset_timers()
        self._last_ms = now_ms

        buf = self._buf
        coil = _fixed(buf, reading.coil_c)
        amb = _fixed(buf, reading.ambient_c)
        delta = coil - amb
        self._track_current(now_ms, reading.amps)
        if self.state != states.DEFROSTING:
            self._track_mode(now_ms, delta)
        self._track_heating(now_ms, coil, delta)

        if self.state == states.DEFROSTING:
            self._in_defrost(now_ms, reading, coil, delta, events)
        elif not self._maybe_defrost(now_ms, reading, amb, delta, events):
            self._running_or_off(now_ms, reading, coil, amb, delta, events)
        self._fresh = False
        return self.state

    # -- signals ---------------------------------------------------------------------------

    def _faulted(self, r):
        return (
            r.coil_fault is not None
            or r.ambient_fault is not None
            or r.ct_fault is not None
            # x != x is NaN's test, inline: this runs every sample, in replay millions of times
            or r.coil_c != r.coil_c
            or r.ambient_c != r.ambient_c
            or r.amps != r.amps
        )

    def _track_current(self, now, amps):
        if amps >= self._on_amps:
            self._on = True
            self._t_off = _NO_TIMER
        elif amps < self._off_amps:
            if self._fresh:
                self._on = False
            elif self._on:
                if self._t_off == _NO_TIMER:
                    self._t_off = now
                elif ticks_diff(now, self._t_off) >= _OFF_HOLD_MS:
                    self._on = False
        else:
            # Between the thresholds: keep the decision; a stop needs a continuous low spell.
            self._t_off = _NO_TIMER

    def _track_mode(self, now, delta):
        if not self._on:
            self._held_mode = None
            self._t_heat = self._t_cool = _NO_TIMER
            return
        if delta <= -_MODE_MARGIN:
            self._t_cool = _NO_TIMER
            if self._t_heat == _NO_TIMER:
                self._t_heat = now
            if ticks_diff(now, self._t_heat) >= _MODE_HOLD_MS:
                self._held_mode = states.HEAT
        elif delta >= _MODE_MARGIN:
            self._t_heat = _NO_TIMER
            if self._t_cool == _NO_TIMER:
                self._t_cool = now
            if ticks_diff(now, self._t_cool) >= _MODE_HOLD_MS:
                self._held_mode = states.COOL
        else:
            self._t_heat = self._t_cool = _NO_TIMER

    def _track_heating(self, now, coil, delta):
        heating = (
            self.state != states.DEFROSTING
            and self._on
            and self._held_mode == states.HEAT
            and delta <= -_MODE_MARGIN
        )
        if heating:
            self._heat_seen = now
            if coil <= _DEFROST_COIL_CTX:
                self._cold_heat = now
            self._heat_prev = True
        elif self._heat_prev:
            self._left_heat = now
            self._heat_prev = False

    def _reset_timers(self):
        self._t_off = self._t_heat = self._t_cool = _NO_TIMER
        self._t_rise = self._t_frost = self._t_clear = self._t_back = _NO_TIMER

    # -- states ----------------------------------------------------------------------------

    def _set(self, state, now):
        if state != self.state:
            self.state = state
            self.state_since_ms = now

    def _maybe_defrost(self, now, r, amb, delta, events):
        context = _DEFROST_CONTEXT_RUNNING_MS if self._on else _DEFROST_CONTEXT_MS
        if (
            delta < _DEFROST_RISE
            or amb > self._defrost_amb_max
            or self._cold_heat == _NO_TIMER
            or ticks_diff(now, self._cold_heat) > context
        ):
            self._t_rise = _NO_TIMER
            return False
        if self._t_rise == _NO_TIMER:
            self._t_rise = now
        if ticks_diff(now, self._t_rise) < _DEFROST_HOLD_MS:
            return False
        # The defrost began when the heating signature broke, not when we were sure of it.
        start = self._left_heat
        if start == _NO_TIMER or ticks_diff(start, self._heat_seen) <= 0:
            start = self._t_rise
        self.defrost_started_ms = start
        self.last_defrost_start_ms = start
        self._peak = amb + delta
        self._peak_ms = now
        self._reached_end = self._peak >= self._end_coil
        self._terminating = False
        self._t_relaxed = _NO_TIMER
        self._ran_in_defrost = r.amps >= self._on_amps
        self._stop_ms = self._t_resume = _NO_TIMER
        self._reset_timers()
        self.state = states.DEFROSTING
        self.state_since_ms = start
        self.mode = states.HEAT
        events.append(
            {
                "event": states.EV_DEFROST_START,
                "reason": "outdoor coil rose %.1f K above a cold ambient right after heating:"
                " reverse-cycle defrost" % (delta / _SCALE),
                "coil_c": r.coil_c,
                "ambient_c": r.ambient_c,
                "amps": r.amps,
                "detected_after_s": ticks_diff(now, start) // 1000,
            }
        )
        return True

    def _in_defrost(self, now, r, coil, delta, events):
        if coil > self._peak:
            self._peak = coil
            self._peak_ms = now
            self._terminating = False
        if coil >= self._end_coil:
            self._reached_end = True
        if self._reached_end and coil <= self._peak - _COOLING_FROM_PEAK:
            self._terminating = True
        stopped = self._track_stop(now, r.amps, delta)
        if not self._on and -_MODE_MARGIN < delta < _MODE_MARGIN:
            if self._t_relaxed == _NO_TIMER:
                self._t_relaxed = now
            elif ticks_diff(now, self._t_relaxed) >= _RELAXED_MS:
                self._end_defrost(
                    now,
                    self._t_relaxed,
                    states.OFF,
                    r,
                    events,
                    "unit stopped mid-defrost (power lost?): no current and the coil back at"
                    " ambient",
                )
                return
        else:
            self._t_relaxed = _NO_TIMER
        back = delta <= -_MODE_MARGIN and (self._reached_end or coil <= _BELOW_MELT)
        if back:
            if self._t_back == _NO_TIMER:
                self._t_back = now
            if ticks_diff(now, self._t_back) >= _DEFROST_HOLD_MS:
                # Heating again: the coil is an evaporator below ambient once more.
                self._held_mode = states.HEAT
                self._heat_seen = now
                if coil <= _DEFROST_COIL_CTX:
                    self._cold_heat = now
                self._heat_prev = True
                self._end_defrost(
                    now,
                    self._t_back,
                    states.RUNNING if self._on else states.OFF,
                    r,
                    events,
                    "heating resumed: outdoor coil back below ambient after the defrost",
                )
            return
        self._t_back = _NO_TIMER
        if not self._on and self._reached_end and coil <= self._peak - _COOLING_FROM_PEAK:
            # No current and the coil cooling off its peak: the unit stopped after the defrost.
            self._end_defrost(
                now,
                self._peak_ms,
                states.OFF,
                r,
                events,
                "unit stopped after the defrost: no current and the coil cooling from its peak",
            )
        elif stopped:
            self._end_defrost(
                now,
                self._stop_ms,
                states.OFF,
                r,
                events,
                "compressor stopped mid-defrost for over 2 min (power lost or unit stopped)",
            )
            # A later defrost needs heating first: not back-dated before the stop, and a coil
            # left warm by the lost defrost is not a new one.
            self._left_heat = self._cold_heat = _NO_TIMER

    def _track_stop(self, now, amps, delta):
        # Returns True when the compressor, having run in this defrost, has been stopped for the
        # off hold: longer than any valve-switch stop (S-D3, S-D12), so the defrost is over.
        if amps >= self._on_amps:
            self._ran_in_defrost = True
            if self._stop_ms == _NO_TIMER:
                return False
            if delta < _DEFROST_RISE:
                self._t_resume = _NO_TIMER
                return False
            if self._t_resume == _NO_TIMER:
                self._t_resume = now
            elif ticks_diff(now, self._t_resume) >= _OFF_HOLD_MS:
                # Reversing again long after the stop: still defrosting; the pause counts.
                self._stop_ms = self._t_resume = _NO_TIMER
            return False
        if amps < self._off_amps and self._ran_in_defrost:
            self._t_resume = _NO_TIMER
            if self._stop_ms == _NO_TIMER:
                self._stop_ms = now
            return not self._on
        return False

    def _end_defrost(self, now, end_ms, state, r, events, reason):
        start = self.defrost_started_ms
        dur = ticks_diff(end_ms, start)
        active = self._active_ms(end_ms)
        self.last_defrost_end_ms = end_ms
        self.defrost_started_ms = None
        self._t_back = self._t_rise = _NO_TIMER
        self.state = state
        self.state_since_ms = end_ms
        self.mode = states.HEAT if state == states.RUNNING else None
        if state == states.OFF:
            self._held_mode = None
        events.append(
            {
                "event": states.EV_DEFROST_END,
                "reason": reason,
                "duration_s": (dur + 500) // 1000 if dur > 0 else 0,
                # start to the coil's peak, where the maker's control ended it
                "active_s": (active + 500) // 1000 if active > 0 else 0,
                "coil_max_c": _c(self._peak),
                "coil_c": r.coil_c,
                "ambient_c": r.ambient_c,
                "amps": r.amps,
            }
        )

    def _running_or_off(self, now, r, coil, amb, delta, events):
        if not self._on:
            self._t_frost = self._t_clear = _NO_TIMER
            self._set(states.OFF, now)
            self.mode = None
            return
        if self.state == states.FROSTING:
            clear = (
                self._held_mode != states.HEAT
                or delta >= _FROST_EXIT_HYST - self._frost_delta
                or amb < self._band_lo - _BAND_HYST
                or amb > self._band_hi + _BAND_HYST
            )
            if not clear:
                self._t_clear = _NO_TIMER
            elif self._t_clear == _NO_TIMER:
                self._t_clear = now
            elif ticks_diff(now, self._t_clear) >= _FROST_CLEAR_MS:
                self._t_clear = self._t_frost = _NO_TIMER
                self._set(states.RUNNING, now)
            self.mode = self._held_mode
            return
        self._set(states.RUNNING, now)
        self.mode = self._held_mode
        # Coil this far below ambient with current flowing is heating, so no wait for the mode hold.
        frosty = (
            delta <= -self._frost_delta
            and self._band_lo <= amb <= self._band_hi
            and coil <= _FROST_COIL_MAX
        )
        if not frosty:
            self._t_frost = _NO_TIMER
            return
        if self._t_frost == _NO_TIMER:
            self._t_frost = now
        held = ticks_diff(now, self._t_frost)
        if held < self._frost_hold_ms:
            return
        self._t_clear = _NO_TIMER
        self._set(states.FROSTING, now)
        events.append(
            {
                "event": states.EV_FROST,
                "reason": "outdoor coil %.1f K below ambient for %d min in the frost band"
                % (-delta / _SCALE, held // 60_000),
                "coil_c": r.coil_c,
                "ambient_c": r.ambient_c,
                "amps": r.amps,
                "held_s": held // 1000,
            }
        )

    # -- sensor faults ---------------------------------------------------------------------

    def _fault(self, now, r, events):
        if self.state != states.SENSOR_FAULT:
            sensor, cause = _first_fault(r)
            self._fault_since = now
            self.state = states.SENSOR_FAULT
            self.state_since_ms = now
            self.mode = None
            events.append(
                {
                    "event": states.EV_SENSOR_FAULT,
                    "reason": "%s sensor fault (%s): unit state unknown" % (sensor, cause),
                    "sensor": sensor,
                    "fault": cause,
                    "coil_c": r.coil_c,
                    "ambient_c": r.ambient_c,
                    "amps": r.amps,
                }
            )
        self._last_ms = now
        return self.state

    def _recover(self, now, r, events):
        lasted = ticks_diff(now, self._fault_since)
        lasted = lasted if lasted > 0 else 0
        events.append(
            {
                "event": states.EV_SENSOR_OK,
                "reason": "all sensors read again after %d s" % (lasted // 1000),
                "fault_s": lasted // 1000,
                "coil_c": r.coil_c,
                "ambient_c": r.ambient_c,
                "amps": r.amps,
            }
        )
        self._reset_timers()
        self._fresh = True
        self._held_mode = None
        self.state = states.OFF  # placeholder; this same update() re-derives it
        self.state_since_ms = now
        if self.defrost_started_ms is None:
            return
        coil = _fixed(self._buf, r.coil_c)
        amb = _fixed(self._buf, r.ambient_c)
        if lasted <= _FAULT_KEEP_DEFROST_MS and coil - amb > -_MODE_MARGIN:
            # Short blind spell and the coil is still out of the heating band: same defrost,
            # same start, so a flaky sensor cannot reset the supervisor's too-long clock.
            self.state = states.DEFROSTING
            self.state_since_ms = self.defrost_started_ms
            self.mode = states.HEAT
            return
        if lasted <= _FAULT_KEEP_DEFROST_MS:
            why = "heating had resumed by the end of a %d s sensor fault"
        else:
            why = "defrost lost track of during a %d s sensor fault"
        self._end_defrost(
            now,
            self._fault_since,
            states.OFF,
            r,
            events,
            (why + "; duration counted up to the fault") % (lasted // 1000),
        )


def _first_fault(r):
    """(sensor, cause) of the first faulted input, in the order coil, ambient, current."""
    if r.coil_fault is not None or isnan(r.coil_c):
        return "coil", r.coil_fault or "nan"
    if r.ambient_fault is not None or isnan(r.ambient_c):
        return "ambient", r.ambient_fault or "nan"
    return "ct", r.ct_fault or "nan"
