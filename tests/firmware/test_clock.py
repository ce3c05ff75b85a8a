"""Tick arithmetic: the wrap of MicroPython's 30-bit ticks never looks like a jump in time."""

from spec import without_allocating
from splitguard.clock import TICKS_PERIOD, ManualClock, elapsed, ticks_add, ticks_diff


def test_diff_across_the_wrap_is_the_short_way_round():
    before_wrap = TICKS_PERIOD - 1000
    after_wrap = ticks_add(before_wrap, 3000)
    assert after_wrap == 2000
    assert ticks_diff(after_wrap, before_wrap) == 3000
    assert ticks_diff(before_wrap, after_wrap) == -3000


def test_add_wraps_like_time_ticks_add():
    assert ticks_add(TICKS_PERIOD - 1, 1) == 0
    assert ticks_add(5, -10) == TICKS_PERIOD - 5


def test_elapsed_never_negative():
    assert elapsed(100, 200) == 0
    assert elapsed(ticks_add(0, 5), TICKS_PERIOD - 5) == 10


def test_manual_clock_advances_through_a_wrap():
    clock = ManualClock(TICKS_PERIOD - 10)
    start = clock.ticks_ms()
    clock.advance(25)
    assert clock.ticks_ms() == 15
    assert ticks_diff(clock.ticks_ms(), start) == 25


def _reference_diff(a, b):
    # time.ticks_diff's documented meaning, by plain modular arithmetic (long ints are fine here).
    return ((a - b + (1 << 29)) % (1 << 30)) - (1 << 29)


def _reference_add(a, d):
    return (a + d) % (1 << 30)


def test_matches_micropython_ticks_semantics():
    # Inside the VM, against MicroPython's own time.ticks_*; on CPython, against the definition.
    try:
        import time

        native_diff = time.ticks_diff
        native_add = time.ticks_add
    except AttributeError:
        native_diff = _reference_diff
        native_add = _reference_add
    for a, b in ((0, 1), (TICKS_PERIOD - 1, 1), (123456, -7), (5, (1 << 29) - 1)):
        assert ticks_diff(a, b) == native_diff(a, b)
        assert ticks_add(a, b) == native_add(a, b)
        assert ticks_diff(b, a) == native_diff(b, a)


def test_tick_arithmetic_allocates_nothing_even_at_the_wrap():
    # The control loop calls these every sample; a long-int temporary would allocate.
    cases = ((TICKS_PERIOD - 1, 1), (TICKS_PERIOD - 1000, 3000), (5, -10), (0, (1 << 29) - 1))
    out = [0] * (2 * len(cases))

    def run():
        i = 0
        for a, d in cases:
            b = ticks_add(a, d)
            out[i] = b
            out[i + 1] = ticks_diff(b, a)
            i += 2

    without_allocating(run)
    assert out == [0, 1, 2000, 3000, TICKS_PERIOD - 5, -10, (1 << 29) - 1, (1 << 29) - 1]
