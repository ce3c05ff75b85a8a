"""Device → host lines: one JSON object per line, versioned, numbered, stamped with device time.

Every line carries "v" (protocol version), "kind", "seq" and "t" (device ticks in ms), so the
host can tell them from boot-ROM noise, detect gaps, and order them. docs/protocol.md is the
contract.
"""

import json

from splitguard.compat import const, isnan
from splitguard.outbox import PRIO_EVENT, PRIO_REPLY, PRIO_SAMPLE

PROTOCOL_VERSION = const(1)


def _num(x, digits):
    # JSON has no NaN: a faulted value goes out as null, and the fault field says why.
    if x is None or isnan(x):
        return None
    return round(x, digits)


def reading_fields(reading, body):
    """Put a Reading's coil/amb/amps (null when faulted) and its faults by sensor into `body`."""
    faults = {}
    if reading.coil_fault is not None:
        faults["coil"] = reading.coil_fault
    if reading.ambient_fault is not None:
        faults["ambient"] = reading.ambient_fault
    if reading.ct_fault is not None:
        faults["ct"] = reading.ct_fault
    body["coil"] = _num(reading.coil_c, 2)
    body["amb"] = _num(reading.ambient_c, 2)
    body["amps"] = _num(reading.amps, 2)
    body["faults"] = faults
    return body


class Reporter:
    """Formats protocol lines and hands each to `write` (a callable taking one str line).

    With an `outbox` (splitguard.outbox.Outbox, usually also the writer), every line goes into it
    with the priority of its kind (replies below samples below events, faults and hello), and
    lines it had to drop are reported by a `fault` line once it has room again.
    """

    def __init__(self, write, outbox=None):
        self._write = write
        self._outbox = outbox
        self.seq = 0

    def emit(self, kind, now_ms, body, prio=PRIO_EVENT):
        """Stamp `body` (a dict, modified) with the envelope and write it as one line."""
        self.report_drops(now_ms)
        return self._line(kind, now_ms, body, prio)

    def report_drops(self, now_ms):
        """Say how many lines the outbox dropped, once it has drained to half (else wait)."""
        ob = self._outbox
        if ob is None or not ob.dropped or not ob.has_room():
            return
        n = ob.dropped
        ob.dropped = 0
        self._line(
            "fault",
            now_ms,
            {
                "where": "serial",
                "error": "dropped %d lines: nobody read the port" % n,
                "dropped": n,
            },
        )

    def _line(self, kind, now_ms, body, prio=PRIO_EVENT):
        body["v"] = PROTOCOL_VERSION
        body["kind"] = kind
        body["seq"] = self.seq
        body["t"] = now_ms
        self.seq += 1
        line = json.dumps(body)
        if self._outbox is not None:
            self._outbox.put(line + "\n", prio)
        else:
            self._write(line + "\n")
        return line

    def hello(self, now_ms, firmware, board, config_hash, reset_cause):
        return self.emit(
            "hello",
            now_ms,
            {"fw": firmware, "board": board, "config": config_hash, "reset": reset_cause},
        )

    def sample(self, now_ms, reading, decision, injected=False, test=False):
        """The periodic line: readings, states, relay, faults; `test` in test mode, `injected`
        while an override is active."""
        body = reading_fields(reading, {})
        body["unit"] = decision.unit_state
        body["mode"] = decision.mode
        body["sup"] = decision.state
        body["cut"] = decision.power_cut
        body["cycles"] = decision.cycles_in_window
        if test:
            body["test"] = True
        if injected:
            body["injected"] = True
        return self.emit("sample", now_ms, body, PRIO_SAMPLE)

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

    def reply(self, now_ms, req_id, ok, body=None):
        """The one answer to a host command: `id` echoed, `ok`, and `error` or results in body."""
        if body is None:
            body = {}
        body["id"] = req_id
        body["ok"] = ok
        return self.emit("reply", now_ms, body, PRIO_REPLY)
