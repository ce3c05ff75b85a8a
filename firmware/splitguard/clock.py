"""Tick arithmetic with MicroPython's wrap-around semantics, for the board and the host alike.

All time in the logic is milliseconds from a `ticks_ms`-style counter that wraps. Deadlines and
ages go through ticks_diff/ticks_add here, never raw subtraction, so a wrap never looks like a
jump in time.
"""

from splitguard.compat import const

# MicroPython's ticks wrap at 2**30 on every port (TICKS_PERIOD in py/mphal.h semantics).
# 2**30 itself is not a small int on 32-bit ports (they hold -2**30..2**30-1), so the
# arithmetic below keeps every intermediate inside that range: no long ints, no allocation.
TICKS_PERIOD = const(1 << 30)
_TICKS_MAX = const(0x3FFFFFFF)
_TICKS_HALF = const(0x20000000)


def ticks_add(ticks, delta):
    """Tick value `delta` ms after `ticks`, wrapped like time.ticks_add (|delta| < 2**29)."""
    room = _TICKS_MAX - ticks
    if delta > room:
        return delta - room - 1
    if delta < -ticks:
        return _TICKS_MAX + (ticks + delta) + 1
    return ticks + delta


def ticks_diff(end, start):
    """Signed ms from `start` to `end`, correct across one wrap (|diff| < 2**29)."""
    diff = end - start
    if diff >= _TICKS_HALF:
        return diff - _TICKS_MAX - 1
    if diff < -_TICKS_HALF:
        return diff + _TICKS_MAX + 1
    return diff


def elapsed(now, since):
    """Non-negative ms since `since`; a value from the future counts as 0."""
    d = ticks_diff(now, since)
    return d if d > 0 else 0


class ManualClock:
    """A clock the caller advances: for the simulator, replay and tests."""

    def __init__(self, start_ms=0):
        self._now = start_ms & _TICKS_MAX

    def ticks_ms(self):
        return self._now

    def advance(self, ms):
        self._now = ticks_add(self._now, ms)
        return self._now
