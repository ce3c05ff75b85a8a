"""Device → host lines: one JSON object per line, versioned, numbered, stamped with device time.

Every line carries "v" (protocol version), "kind", "seq" and "t" (device ticks in ms), so the
host can tell them from boot-ROM noise, detect gaps, and order them. docs/protocol.md is the
contract.
"""

import json

from splitguard.compat import const, isnan

PROTOCOL_VERSION = const(1)


def _num(x, digits):
    # JSON has no NaN: a faulted value goes out as null, and the fault field says why.
    if x is None or isnan(x):
        return None
    return round(x, digits)


class Reporter:
    """Formats protocol lines and hands each to `write` (a callable taking one str)."""

    def __init__(self, write):
        self._write = write
        self.seq = 0

    def emit(self, kind, now_ms, body):
        """Stamp `body` (a dict, modified) with the envelope and write it as one line."""
        body["v"] = PROTOCOL_VERSION
        body["kind"] = kind
        body["seq"] = self.seq
        body["t"] = now_ms
        self.seq += 1
        line = json.dumps(body)
        self._write(line + "\n")
        return line

    def hello(self, now_ms, firmware, board, config_hash, reset_cause):
        return self.emit(
            "hello",
            now_ms,
            {"fw": firmware, "board": board, "config": config_hash, "reset": reset_cause},
        )

    def sample(self, now_ms, reading, decision):
        """The periodic line: readings, states, relay, faults."""
        faults = {}
        if reading.coil_fault is not None:
            faults["coil"] = reading.coil_fault
        if reading.ambient_fault is not None:
            faults["ambient"] = reading.ambient_fault
        if reading.ct_fault is not None:
            faults["ct"] = reading.ct_fault
        return self.emit(
            "sample",
            now_ms,
            {
                "coil": _num(reading.coil_c, 2),
                "amb": _num(reading.ambient_c, 2),
                "amps": _num(reading.amps, 2),
                "unit": decision.unit_state,
                "mode": decision.mode,
                "sup": decision.state,
                "cut": decision.power_cut,
                "cycles": decision.cycles_in_window,
                "faults": faults,
            },
        )

    def event(self, now_ms, event):
        """One supervisor/detector event dict, as produced by step()."""
        body = {}
        for key in event:
            value = event[key]
            body[key] = _num(value, 3) if isinstance(value, float) else value
        return self.emit("event", now_ms, body)

    def fault(self, now_ms, where, error):
        """Something the firmware itself could not do (bad config, corrupt store, crash)."""
        return self.emit("fault", now_ms, {"where": where, "error": error})
