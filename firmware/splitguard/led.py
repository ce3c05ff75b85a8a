"""Status LED patterns: what an installer can read off the board from across the room."""

from splitguard.compat import const

_CYCLE_MS = const(2000)

# (on, off) intervals in ms within a 2 s cycle, starting at 0. Distinct rhythms, no colours
# needed: a heartbeat while watching, slow blink with power held off, fast blink while waiting
# for the unit to come back, steady on for lockout (needs a person), double blink for a fault,
# three quick flashes for safe mode.
PATTERNS = {
    "watching": ((0, 80),),
    "power_off": ((0, 1000),),
    "restoring": ((0, 250), (500, 750), (1000, 1250), (1500, 1750)),
    "lockout": ((0, 2000),),
    "fault": ((0, 150), (300, 450)),
    # Three quick flashes: safe mode after repeated crashes (splitguard.safemode).
    "safe_mode": ((0, 100), (250, 350), (500, 600)),
}


def led_on(pattern, now_ms):
    """True when the LED should be lit for `pattern` at tick `now_ms` (unknown pattern: fault)."""
    spans = PATTERNS.get(pattern)
    if spans is None:
        spans = PATTERNS["fault"]
    phase = now_ms % _CYCLE_MS
    for start, end in spans:
        if start <= phase < end:
            return True
    return False
