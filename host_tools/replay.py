"""`splitguard replay FILE`: a recorded trace through the firmware's own detector and supervisor.

Open loop: the trace is what the unit did, the replay is what the supervisor would have decided
(and, for a device log, did decide: every logged decision is checked against the replayed one).
The board's Detector and Supervisor run unchanged, fed ticks that wrap at 2**30 exactly as
`time.ticks_ms()` does, and a device reboot rebuilds both over the same in-memory store, so the
24 h power-cycle limit survives it as it does on the board. docs/trace-format.md is the contract.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from contextlib import closing

from splitguard import config, states
from splitguard.clock import ticks_add, ticks_diff
from splitguard.detector import Detector
from splitguard.reading import Reading
from splitguard.store import decode, defaults, encode
from splitguard.supervisor import Supervisor

from host_tools import config_cmd
from host_tools.errors import CliError
from host_tools.trace import PLAIN, Trace, TraceError, open_trace

__all__ = ["MemoryStore", "ReplayStats", "replay", "run", "setup", "summary"]

# ticks_add takes |delta| < 2**29; a longer gap between rows is added in steps of this.
_TICK_STEP = 1 << 28
_TICKS_MAX = 0x3FFFFFFF


class MemoryStore:
    """The board's Store interface in RAM, through the real record encoding and checks."""

    def __init__(self):
        self.data: bytes | None = None
        self.saves = 0
        self.fault = None  # never set: RAM cannot fail to save

    def load(self) -> dict:
        return defaults() if self.data is None else decode(self.data)

    def save(self, record: dict) -> bool:
        self.data = encode(record)
        self.saves += 1
        return True


class ReplayStats:
    """What a replay saw: rows, time in each state, event counts, checks against the trace."""

    def __init__(self, trace: Trace):
        self.trace = trace
        self.rows = 0
        self.first_line = 0
        self.last_line = 0
        self.start_ms = 0
        self.end_ms = 0
        self.reboots = 0
        self.reboot_ms = 0  # time between the last row before a reboot and the first after
        self.unit_ms = {s: 0 for s in states.UNIT_STATES}
        self.sup_ms = {s: 0 for s in states.SUPERVISOR_STATES}
        self.events = {e: 0 for e in states.EVENTS}
        self.sensor_faults: dict[str, int] = {}
        self.checked = 0
        self.mismatches = 0
        self.first_mismatch: str | None = None
        self.cycles_in_window = 0
        self.final_state: str | None = None


def _advance(tick: int, dt: int) -> int:
    while dt >= _TICK_STEP:
        tick = ticks_add(tick, _TICK_STEP)
        dt -= _TICK_STEP
    return ticks_add(tick, dt)


def _num(x):
    # As the board's report lines: floats to 3 decimals, NaN as null.
    if isinstance(x, float):
        return None if x != x else round(x, 3)
    return x


def event_record(t_ms: int, line: int, ev: dict) -> dict:
    """The output object for one event: t_s and event first, then its fields, then the line."""
    out = {"t_s": t_ms / 1000, "event": ev["event"]}
    for key in ev:
        if key != "event":
            out[key] = _num(ev[key])
    out["line"] = line
    return out


def replay(
    trace: Trace,
    device: dict | None = None,
    on_event: Callable[[dict], None] | None = None,
    start_tick: int = 0,
    parallel: bool | None = None,
) -> ReplayStats:
    """Replay `trace` under the validated device config (defaults if None); events to on_event.

    `start_tick` is where the tick clock starts for a CSV (a device log brings its own ticks).
    `parallel`: parse the CSV in a second process (None: when the file is large).
    """
    with closing(trace.blocks(parallel)) as source:
        return _replay(trace, source, device, on_event, start_tick)


def _replay(trace, source, device, on_event, start_tick) -> ReplayStats:
    dev = device if device is not None else config.default_device()
    det_cfg = dev["detector"]
    sup_cfg = dev["supervisor"]
    store = MemoryStore()
    reading = Reading()
    st = ReplayStats(trace)
    sup = None
    step = None
    tick = start_tick & _TICKS_MAX
    prev_ms = 0
    d = None
    # Time in each state is added per run of equal states, not per row: the row loop is hot.
    unit = sup_state = None
    run_ms = 0
    rows = 0
    line = 0
    unpack = PLAIN.iter_unpack
    size = PLAIN.size
    mask = _TICKS_MAX
    big = _TICK_STEP
    for sample in source:
        if sample.__class__ is bytes:
            # A block of plain rows from the parallel reader, after the first sample: no
            # faults, reboots, checks or actions, so only the values change.
            reading.coil_fault = reading.ambient_fault = reading.ct_fault = None
            for line, t_ms, coil, amb, amps in unpack(sample):
                dt = t_ms - prev_ms
                tick = (tick + dt) & mask if dt < big else _advance(tick, dt)
                reading.coil_c = coil
                reading.ambient_c = amb
                reading.amps = amps
                d = step(tick, reading)
                if d.events:
                    _events(d.events, t_ms, line, st, on_event)
                if d.unit_state is not unit or d.state is not sup_state:
                    _add_run(st, unit, sup_state, t_ms - run_ms)
                    run_ms = t_ms
                    unit = d.unit_state
                    sup_state = d.state
                prev_ms = t_ms
            rows += len(sample) // size
            continue
        line, t_ms, dtick, coil, amb, amps, cf, af, ctf, boot, check, pre = sample
        if step is None:
            st.first_line = line
            st.start_ms = run_ms = t_ms
            if dtick is not None:
                tick = dtick
            sup = Supervisor(sup_cfg, Detector(det_cfg), store, _boot_tick(trace, dtick, tick))
            step = sup.step
        else:
            if dtick is not None:
                tick = dtick
            else:
                dt = t_ms - prev_ms
                # ticks_add for 0 <= dt < 2**29, inlined; longer gaps go in steps.
                tick = (tick + dt) & _TICKS_MAX if dt < _TICK_STEP else _advance(tick, dt)
            if boot:
                # The board restarts: RAM is gone, the store is not.
                _add_run(st, unit, sup_state, prev_ms - run_ms)
                st.reboot_ms += t_ms - prev_ms
                run_ms = t_ms
                st.reboots += 1
                sup = Supervisor(sup_cfg, Detector(det_cfg), store, _boot_tick(trace, dtick, tick))
                step = sup.step
        if pre is not None:
            _actions(sup, pre, t_ms, prev_ms, tick, line, st, on_event)
        reading.coil_c = coil
        reading.ambient_c = amb
        reading.amps = amps
        reading.coil_fault = cf
        reading.ambient_fault = af
        reading.ct_fault = ctf
        d = step(tick, reading)
        if d.events:
            _events(d.events, t_ms, line, st, on_event)
        if d.unit_state is not unit or d.state is not sup_state:
            _add_run(st, unit, sup_state, t_ms - run_ms)
            run_ms = t_ms
            unit = d.unit_state
            sup_state = d.state
        if check is not None:
            _check(check, d, line, st)
        prev_ms = t_ms
        rows += 1
    if d is not None:
        _add_run(st, unit, sup_state, prev_ms - run_ms)
        st.rows = rows
        st.last_line = line
        st.cycles_in_window = d.cycles_in_window
        st.final_state = "%s / %s" % (d.unit_state, d.state)
    st.end_ms = prev_ms
    return st


def _add_run(st: ReplayStats, unit, sup_state, ms: int) -> None:
    if unit is not None and ms:
        st.unit_ms[unit] += ms
        st.sup_ms[sup_state] += ms


def _boot_tick(trace: Trace, dtick, tick: int) -> int:
    # The board builds its supervisor just before its hello line; a CSV has no hello.
    if dtick is not None and trace.boot_tick is not None:
        return trace.boot_tick
    return tick


def _actions(sup, pre, t_ms, prev_ms, tick, line, st, on_event) -> None:
    for a_tick, name, source in pre:
        back = ticks_diff(tick, a_tick)
        at_ms = t_ms - back if 0 <= back <= t_ms - prev_ms else t_ms
        d = getattr(sup, name)(a_tick, source)
        if d.events:
            _events(d.events, at_ms, line, st, on_event)


def _events(events, t_ms, line, st, on_event) -> None:
    for ev in events:
        name = ev["event"]
        st.events[name] = st.events.get(name, 0) + 1
        if name == states.EV_SENSOR_FAULT:
            key = "%s %s" % (ev.get("sensor"), ev.get("fault"))
            st.sensor_faults[key] = st.sensor_faults.get(key, 0) + 1
        if on_event is not None:
            on_event(event_record(t_ms, line, ev))


def _check(check, d, line, st) -> None:
    unit, sup, cut = check
    st.checked += 1
    diff = []
    if unit is not None and unit != d.unit_state:
        diff.append("unit %s, replay %s" % (unit, d.unit_state))
    if sup is not None and sup != d.state:
        diff.append("supervisor %s, replay %s" % (sup, d.state))
    if cut is not None and cut != d.power_cut:
        diff.append("power cut %s, replay %s" % (_onoff(cut), _onoff(d.power_cut)))
    if diff:
        st.mismatches += 1
        if st.first_mismatch is None:
            st.first_mismatch = "line %d: trace says %s" % (line, "; ".join(diff))


def _onoff(x: bool) -> str:
    return "1" if x else "0"


def _dur(ms: int) -> str:
    s = ms // 1000
    if s < 120:
        return "%d s" % s
    m = s // 60
    if m < 120:
        return "%d min" % m
    h, m = divmod(m, 60)
    if h < 48:
        return "%d h %02d min" % (h, m)
    d, h = divmod(h, 24)
    return "%d d %02d h" % (d, h)


def _shares(times: dict[str, int], total: int) -> str:
    parts = []
    for name, ms in times.items():
        if ms:
            parts.append("%s %s (%.1f %%)" % (name, _dur(ms), 100.0 * ms / total if total else 0))
    return ", ".join(parts) or "-"


def summary(st: ReplayStats) -> list[str]:
    """The human summary: one line per topic."""
    tr = st.trace
    span = st.end_ms - st.start_ms
    watched = span - st.reboot_ms
    lines = []
    if tr.cut:
        lines.append("%s: %s; replayed up to line %d" % (tr.path, tr.cut, st.last_line))
    lines.append(
        "%s: %s, %d rows (lines %d..%d), %s (t_s %g .. %g), %d reboot%s"
        % (
            tr.path,
            "device log" if tr.kind == "jsonl" else "CSV",
            st.rows,
            st.first_line,
            st.last_line,
            _dur(span),
            st.start_ms / 1000,
            st.end_ms / 1000,
            st.reboots,
            "" if st.reboots == 1 else "s",
        )
    )
    ev = st.events
    counts = ", ".join("%s %d" % (k, v) for k, v in ev.items() if v)
    lines.append("events: %s" % (counts or "none"))
    lines.append("unit state time: %s" % _shares(st.unit_ms, watched))
    lines.append("supervisor state time: %s" % _shares(st.sup_ms, watched))
    if st.reboots:
        lines.append("between boots (not replayed): %s" % _dur(st.reboot_ms))
    lines.append(
        "power cycles: %d (recovered %d, not recovered %d), lockouts %d, cleared %d; "
        "%d in the 24 h window at the end; final state %s"
        % (
            ev[states.EV_POWER_OFF],
            ev[states.EV_RECOVERED],
            ev[states.EV_NOT_RECOVERED],
            ev[states.EV_LOCKOUT],
            ev[states.EV_LOCKOUT_CLEARED],
            st.cycles_in_window,
            st.final_state or "-",
        )
    )
    faults = ", ".join("%s %d" % kv for kv in st.sensor_faults.items())
    lines.append(
        "sensor faults: %d%s, %s faulted"
        % (
            ev[states.EV_SENSOR_FAULT],
            " (%s)" % faults if faults else "",
            _dur(st.unit_ms[states.SENSOR_FAULT]),
        )
    )
    if tr.raw_lines or tr.ignored:
        other = ", ".join("%s %d" % kv for kv in sorted(tr.ignored.items()))
        lines.append(
            "not samples: %d raw text line%s%s"
            % (tr.raw_lines, "" if tr.raw_lines == 1 else "s", "; " + other if other else "")
        )
    if st.checked:
        if st.mismatches:
            lines.append(
                "decisions in the trace: %d of %d rows differ from the replay; first %s"
                % (st.mismatches, st.checked, st.first_mismatch)
            )
        else:
            lines.append("decisions in the trace: %d rows checked, all match" % st.checked)
    return lines


# -- command line ------------------------------------------------------------------------------


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="trace CSV or device log (JSON lines)")
    parser.add_argument(
        "--config",
        metavar="CONFIG",
        help="device config (default: the built-in defaults, as `config show`)",
    )
    parser.add_argument(
        "--start-tick",
        type=int,
        default=0,
        metavar="MS",
        help="tick a CSV replay starts at (0..2**30-1, default 0); a device log has its own",
    )


def run(args: argparse.Namespace) -> int:
    device = None
    if args.config is not None:
        _, device = config_cmd.load(args.config, "device")
    if not 0 <= args.start_tick < 1 << 30:
        raise CliError("--start-tick %d is outside 0..2**30-1" % args.start_tick)
    out = sys.stdout
    dumps = json.dumps

    def emit(rec: dict) -> None:
        out.write(dumps(rec) + "\n")

    try:
        trace = open_trace(args.file)
        st = replay(trace, device, emit, args.start_tick)
        out.flush()
    except TraceError as exc:
        out.flush()
        raise CliError(str(exc)) from None
    except BrokenPipeError:
        # The reader of stdout left (`| head`): stop quietly, as other filters do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 0
    for line in summary(st):
        print(line, file=sys.stderr)
    return 0
