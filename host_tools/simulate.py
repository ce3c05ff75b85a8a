"""Closed loop: the firmware's own Detector and Supervisor in charge of a simulated mini-split.

`run(scenario)` steps the plant (host_tools.plant) one second at a time and, at the scenario's
sample period, hands the board's Reading to `Supervisor.step()` — the same code the ESP32 runs —
and applies `Decision.power_cut` to the plant's relay, so a cut really stops the unit. A mains
outage that takes the board down too rebuilds Detector and Supervisor on the same (in-memory)
store, with ticks restarting from 0, exactly as a reboot would.

`splitguard simulate SCENARIO` writes the trace CSV (docs/trace-format.md) with -o and prints
every event as one JSON line `{"t_s": ..., "event": ..., ...}` on stdout.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import sys
import time

from splitguard import config, states
from splitguard.clock import ticks_add
from splitguard.detector import Detector
from splitguard.reading import Reading
from splitguard.store import decode, defaults, encode
from splitguard.supervisor import Supervisor

from host_tools.errors import CliError
from host_tools.plant import Plant
from host_tools.trace import TRACE_COLUMNS

SCENARIO_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios"
)
# Ticks start an hour before the 2**30 wrap, so every long scenario crosses it once.
DEFAULT_START_TICK = (1 << 30) - 3_600_000


class MemoryStore:
    """The firmware Store's interface, kept in memory; every save round-trips the real encoding."""

    def __init__(self):
        self.data = None
        self.fault = None
        self.fault_kind = None
        self.saves = 0

    def load(self):
        if self.data is None:
            return defaults()
        return decode(self.data)

    def save(self, record):
        self.data = encode(record)
        self.saves += 1
        return True


def scenario_path(name):
    """A scenario file: an existing path, or NAME / NAME.json in scenarios/."""
    if os.path.isfile(name):
        return name
    for candidate in (name, name + ".json"):
        path = os.path.join(SCENARIO_DIR, candidate)
        if os.path.isfile(path):
            return path
    raise CliError("no scenario %r (neither a file nor one of scenarios/*.json)" % name)


def load_scenario(name):
    """The scenario dict from a file or a name in scenarios/; CliError if unreadable."""
    path = scenario_path(name)
    try:
        with open(path, encoding="utf-8") as f:
            sc = json.load(f)
    except (OSError, ValueError) as exc:
        raise CliError("%s: cannot read scenario: %s" % (path, exc)) from None
    if not isinstance(sc, dict):
        raise CliError("%s: a scenario is a JSON object" % path)
    sc.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    sc["_path"] = path
    return sc


def device_config(scenario):
    """The device config the scenario runs with: defaults, its overrides, validated."""
    cfg = config.default_device()
    for section, values in (scenario.get("config") or {}).items():
        if isinstance(cfg.get(section), dict):
            cfg[section].update(values)
        else:
            cfg[section] = values
    try:
        return config.validate_device(cfg, "%s config" % scenario.get("name", "scenario"))
    except config.ConfigError as exc:
        raise CliError(str(exc), exc.errors) from None


class Result:
    """What one closed-loop run did: events (with t_s), the plant's ground truth, the end state."""

    def __init__(self, scenario, cfg, seed, hours, period_s):
        self.scenario = scenario
        self.cfg = cfg
        self.seed = seed
        self.hours = hours
        self.period_s = period_s
        self.events = []  # dicts, each with "t_s" first
        self.power_offs = []  # (t_s, plant needed help at that moment)
        self.plant = None
        self.final_state = None
        self.final_unit_state = None
        self.samples = 0
        self.reboots = 0
        self.cpu_s = 0.0

    def count(self, name):
        return sum(1 for e in self.events if e["event"] == name)


class _TraceWriter:
    def __init__(self, f):
        self.w = csv.writer(f, lineterminator="\n")
        self.w.writerow(TRACE_COLUMNS)

    def row(self, t_s, r, cut, reboot):
        self.w.writerow(
            (
                t_s,
                "" if r.coil_fault else "%.2f" % r.coil_c,
                "" if r.ambient_fault else "%.2f" % r.ambient_c,
                "" if r.ct_fault else "%.2f" % r.amps,
                r.coil_fault or "",
                r.ambient_fault or "",
                r.ct_fault or "",
                1 if cut else 0,
                1 if reboot else 0,
            )
        )


def run(scenario, hours=None, seed=None, speed=0.0, trace=None, on_event=None):
    """Run one scenario closed-loop; returns a Result. `trace`: a text file for the CSV."""
    started = time.process_time()
    cfg = device_config(scenario)
    if hours is None:
        hours = float(scenario.get("hours", 24))
    if seed is None:
        seed = int(scenario.get("seed", 1))
    period_s = int(scenario.get("sample_period_s", cfg["sample_period_s"]))
    if period_s < 1:
        raise CliError("sample_period_s must be a whole number of seconds >= 1")
    try:
        plant = Plant(scenario, seed)
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError("%s: %s" % (scenario.get("name", "scenario"), exc)) from None
    res = Result(scenario, cfg, seed, hours, period_s)
    res.plant = plant
    writer = _TraceWriter(trace) if trace is not None else None
    store = MemoryStore()
    period_ms = period_s * 1000
    now = int(scenario.get("start_tick", DEFAULT_START_TICK))

    def boot(tick):
        det = Detector(cfg["detector"])
        return Supervisor(cfg["supervisor"], det, store, tick)

    sup = boot(now)
    reading = Reading()
    board_was_up = True
    reboot = False
    end_s = int(hours * 3600)
    wall0 = time.monotonic()
    t = 0
    d = None
    while t <= end_s:
        if plant.board_up:
            if not board_was_up:
                now = 0  # a rebooted board's ticks_ms starts again
                sup = boot(now)
                reboot = True
                res.reboots += 1
            plant.sense(reading)
            d = sup.step(now, reading)
            if d.events:
                for ev in d.events:
                    rec = {"t_s": t}
                    rec.update(ev)
                    res.events.append(rec)
                    if ev["event"] == states.EV_POWER_OFF:
                        res.power_offs.append((t, plant.needs_help()))
                    if on_event is not None:
                        on_event(rec)
            plant.set_relay(d.power_cut)
            if writer is not None:
                writer.row(t, reading, d.power_cut, reboot)
            reboot = False
            res.samples += 1
            now = ticks_add(now, period_ms)
        elif board_was_up:
            plant.set_relay(False)  # a board without power releases the relay: unit powered
        board_was_up = plant.board_up
        if speed and speed > 0:
            ahead = t / speed - (time.monotonic() - wall0)
            if ahead > 0:
                time.sleep(ahead)
        for _ in range(period_s):
            plant.step()
        t += period_s
    if d is not None:
        res.final_state = d.state
        res.final_unit_state = d.unit_state
    res.cpu_s = time.process_time() - started
    return res


# -- command line --------------------------------------------------------------------------------


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO", help="scenarios/NAME.json or a file")
    parser.add_argument("--hours", type=float, help="simulated hours (default: the scenario's)")
    parser.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="pace at X times real time (default 0: as fast as possible)",
    )
    parser.add_argument("--seed", type=int, help="noise seed (default: the scenario's)")
    parser.add_argument("-o", "--output", metavar="TRACE", help="write the trace CSV here")


def run_command(args: argparse.Namespace) -> int:
    sc = load_scenario(args.scenario)
    if args.hours is not None and args.hours <= 0:
        raise CliError("--hours must be positive")

    def emit(rec):
        print(json.dumps(rec), flush=args.speed > 0)

    try:
        out = open(args.output, "w", encoding="utf-8", newline="") if args.output else None  # noqa: SIM115
    except OSError as exc:
        raise CliError("cannot write %s: %s" % (args.output, exc)) from None
    try:
        res = run(copy.deepcopy(sc), args.hours, args.seed, args.speed, out, emit)
    except BrokenPipeError:
        # The reader of stdout went away (e.g. `| head`): stop quietly, as a Unix filter does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if out is not None:
            out.close()
    false_cuts = sum(1 for _, ok in res.power_offs if not ok)
    print(
        "%s: %g h at %d s, seed %d: %d samples, %d events, %d power cycles (%d not needed), "
        "final state %s / %s, %.1f s CPU"
        % (
            sc["name"],
            res.hours,
            res.period_s,
            res.seed,
            res.samples,
            len(res.events),
            len(res.power_offs),
            false_cuts,
            res.final_state,
            res.final_unit_state,
            res.cpu_s,
        ),
        file=sys.stderr,
    )
    return 0
