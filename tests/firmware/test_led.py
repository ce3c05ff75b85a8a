"""Status LED: each supervisor condition has its own rhythm."""

from splitguard.led import PATTERNS, led_on


def _lit_ms(pattern):
    return sum(1 for t in range(0, 2000, 10) if led_on(pattern, t)) * 10


def test_lockout_is_steady_on_so_nobody_mistakes_it_for_normal():
    assert _lit_ms("lockout") == 2000


def test_watching_is_a_short_heartbeat():
    assert 0 < _lit_ms("watching") <= 100


def test_every_pattern_differs_from_every_other():
    seen = {}
    for name in PATTERNS:
        key = tuple(led_on(name, t) for t in range(0, 2000, 10))
        assert key not in seen, (name, seen.get(key))
        seen[key] = name


def test_an_unknown_pattern_shows_as_fault():
    for t in range(0, 2000, 10):
        assert led_on("no-such-pattern", t) == led_on("fault", t)
