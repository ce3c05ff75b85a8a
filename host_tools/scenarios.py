"""The scenario suite: every scenarios/*.json run closed-loop and judged against its expectations.

`judge(result)` compares one simulate.Result with its scenario's `expect` block and with the
plant's ground truth, and returns a Score: each check (expected vs observed), each fault episode
with its detection latency, the power cycles that were not needed, the faults that were missed.
`splitguard scenarios` prints the scorecard for the whole suite and exits 1 if anything fails.
docs/simulator.md defines every term used here.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

from splitguard import states

from host_tools import simulate
from host_tools.errors import CliError

# The issue's target: detected within 2 minutes past each limit.
DEFAULT_MAX_LATENCY_S = 120

_STUCK_REACTIONS = (states.EV_DEFROST_TOO_LONG, states.EV_POWER_OFF, states.EV_LOCKOUT)
_FREQUENT_REACTIONS = (states.EV_DEFROST_TOO_FREQUENT, states.EV_LOCKOUT)
_HANG_REACTIONS = (states.EV_NOT_RECOVERED, states.EV_POWER_OFF, states.EV_LOCKOUT)


class Episode:
    """A fault the supervisor must react to: the limit it crosses and when it was answered."""

    def __init__(self, kind, start_s, limit_s, until_s, reactions, note):
        self.kind = kind
        self.start_s = start_s
        self.limit_s = limit_s  # when the supervisor's limit is crossed in truth
        self.until_s = until_s  # when the fault ended on its own (or the run ended)
        self.reactions = reactions
        self.note = note
        self.reaction = None  # (t_s, event name)
        self.latency_s = None
        self.missed = False
        self.unjudged = False  # the run ended before a reaction was due


class Check:
    def __init__(self, what, expected, observed, ok):
        self.what = what
        self.expected = expected
        self.observed = observed
        self.ok = ok


class Score:
    """One scenario's verdict."""

    def __init__(self, result):
        sc = result.scenario
        self.name = sc["name"]
        self.title = sc.get("title", "")
        self.result = result
        self.checks = []
        self.episodes = []
        self.false_cycles = []  # t_s of power_offs while the unit needed none
        self.known_issue = sc.get("known_issue")
        self.max_latency_s = sc.get("expect", {}).get("max_latency_s", DEFAULT_MAX_LATENCY_S)

    @property
    def missed(self):
        return [e for e in self.episodes if e.missed]

    @property
    def latencies(self):
        return [e.latency_s for e in self.episodes if e.latency_s is not None]

    @property
    def passed(self):
        return all(c.ok for c in self.checks)


def _spec_text(spec):
    if isinstance(spec, dict):
        lo, hi = spec.get("min"), spec.get("max")
        if lo is not None and hi is not None:
            return "%s..%s" % (lo, hi)
        if lo is not None:
            return ">= %s" % lo
        if hi is not None:
            return "<= %s" % hi
        return "any"
    return str(spec)


def _meets(spec, value):
    if isinstance(spec, dict):
        lo, hi = spec.get("min"), spec.get("max")
        return (lo is None or value >= lo) and (hi is None or value <= hi)
    return value == spec


def plant_facts(result):
    """Ground-truth counts a scenario's `expect.plant` block may constrain."""
    p = result.plant
    done = [d for d in p.defrosts if d["reversed_s"] is not None and d["ended_s"] is not None]
    normal = [d["ended_s"] - d["reversed_s"] for d in done if not d["stuck"]]
    return {
        "defrosts": sum(1 for d in p.defrosts if d["reversed_s"] is not None),
        "stuck_defrosts": sum(1 for d in p.defrosts if d["stuck"] and d["reversed_s"] is not None),
        "crazy_defrosts": sum(1 for d in p.defrosts if d["crazy"]),
        "longest_defrost_min": round(max(normal) / 60.0, 1) if normal else 0,
        "thermostat_stops": p.thermostat_stops,
        "hangs": len(p.hangs),
        "outages": sum(1 for _, what, why in p.power_log if what == "lost" and why == "outage"),
        "reboots": result.reboots,
    }


def episodes(result):
    """Every fault episode in the plant's ground truth, with the supervisor's limit for it."""
    p = result.plant
    sup = result.cfg["supervisor"]
    end_s = result.hours * 3600.0
    max_s = sup["defrost_max_min"] * 60.0
    recovery_s = sup["recovery_timeout_min"] * 60.0
    gap_s = sup["frequent_defrost_interval_min"] * 60.0
    count = max(2, int(sup["frequent_defrost_count"]))
    losses = [t for t, what, _ in p.power_log if what == "lost"]
    out = []
    for d in p.defrosts:
        if not d["stuck"] or d["reversed_s"] is None:
            continue
        limit = d["reversed_s"] + max_s
        until = d["ended_s"] if d["ended_s"] is not None else end_s
        if limit <= until:
            out.append(
                Episode(
                    "stuck defrost",
                    d["reversed_s"],
                    limit,
                    until,
                    _STUCK_REACTIONS,
                    "defrost reversed at %s never terminates" % _hm(d["reversed_s"]),
                )
            )
    # Frequent defrosts, counted as the supervisor's rule says: consecutive starts (the valve
    # switch) each less than the interval after the previous; a power loss starts a new run.
    run = []
    for d in p.defrosts:
        r = d["reversed_s"]
        if r is None:
            continue
        if run and any(run[-1] < t <= r for t in losses):
            run = []
        run = run + [r] if run and r - run[-1] < gap_s else [r]
        if len(run) >= count:
            nxt = [t for t in losses if t > r]
            out.append(
                Episode(
                    "frequent defrosts",
                    run[-2],
                    r,
                    nxt[0] if nxt else end_s,
                    _FREQUENT_REACTIONS,
                    "%d defrosts %s..%s, each < %d min apart"
                    % (len(run), _hm(run[0]), _hm(r), gap_s // 60),
                )
            )
            run = []
    for h in p.hangs:
        restored = [t for t, what, _ in p.power_log if what == "restored" and t <= h["start_s"]]
        origin = restored[-1] if h["after_power_return"] and restored else h["start_s"]
        out.append(
            Episode(
                "hung unit",
                h["start_s"],
                origin + recovery_s,
                h["end_s"] if h["end_s"] is not None else end_s,
                _HANG_REACTIONS,
                "compressor will not start from %s" % _hm(h["start_s"]),
            )
        )
    out.sort(key=lambda e: e.limit_s)
    return out


def judge(result):
    """Score one simulate.Result against its scenario's expectations and the ground truth."""
    sc = result.scenario
    exp = sc.get("expect", {})
    score = Score(result)
    counts = {}
    for e in result.events:
        counts[e["event"]] = counts.get(e["event"], 0) + 1
    for name, spec in exp.get("required", {}).items():
        n = counts.get(name, 0)
        score.checks.append(Check(name, _spec_text(spec), n, _meets(spec, n)))
    for name in exp.get("forbidden", []):
        n = counts.get(name, 0)
        score.checks.append(Check(name, "0 (forbidden)", n, n == 0))
    if "final_state" in exp:
        want = exp["final_state"]
        score.checks.append(
            Check("final state", want, result.final_state, result.final_state == want)
        )
    facts = plant_facts(result)
    for name, spec in exp.get("plant", {}).items():
        if name not in facts:
            raise CliError("%s: expect.plant.%s is not a plant fact" % (sc["name"], name))
        v = facts[name]
        score.checks.append(Check("plant " + name, _spec_text(spec), v, _meets(spec, v)))

    period = result.period_s
    end_s = result.hours * 3600.0
    for ep in episodes(result):
        for e in result.events:
            t = e["t_s"]
            if ep.start_s <= t <= ep.until_s + period and e["event"] in ep.reactions:
                ep.reaction = (t, e["event"])
                ep.latency_s = t - ep.limit_s
                break
        if ep.reaction is None:
            if end_s - ep.limit_s < score.max_latency_s:
                ep.unjudged = True
            else:
                ep.missed = True
        score.episodes.append(ep)
    for t, needed in result.power_offs:
        if not needed:
            score.false_cycles.append(t)

    allowed_false = exp.get("false_power_cycles", 0)
    score.checks.append(
        Check(
            "false power cycles",
            str(allowed_false),
            len(score.false_cycles),
            len(score.false_cycles) <= allowed_false,
        )
    )
    score.checks.append(Check("missed faults", "0", len(score.missed), not score.missed))
    if score.episodes:
        worst = max(score.latencies) if score.latencies else None
        score.checks.append(
            Check(
                "detection latency",
                "<= %d s" % score.max_latency_s,
                "-" if worst is None else "%d s" % worst,
                worst is None or worst <= score.max_latency_s,
            )
        )
    return score


def discover(directory=None):
    """Paths of every scenario file, sorted by name."""
    directory = directory or simulate.SCENARIO_DIR
    paths = sorted(glob.glob(os.path.join(directory, "*.json")))
    if not paths:
        raise CliError("no scenarios in %s" % directory)
    return paths


def run_one(path, seed=None):
    """Load, simulate (unpaced) and judge one scenario file."""
    sc = simulate.load_scenario(path)
    return judge(simulate.run(sc, seed=seed))


def run_suite(paths=None, seed=None):
    """Scores for every scenario (all of scenarios/ by default)."""
    return [run_one(p, seed) for p in (paths or discover())]


def _hm(t_s):
    t = int(round(t_s))
    return "%dh%02dm%02ds" % (t // 3600, t % 3600 // 60, t % 60)


def totals(scores):
    """Suite totals as a dict (also what bench/bench_scenarios.py reports)."""
    lat = [x for s in scores for x in s.latencies]
    return {
        "scenarios": len(scores),
        "passed": sum(1 for s in scores if s.passed),
        "failed": sum(1 for s in scores if not s.passed),
        "known_issues": sum(1 for s in scores if s.known_issue),
        "false_power_cycles": sum(len(s.false_cycles) for s in scores),
        "missed_faults": sum(len(s.missed) for s in scores),
        "fault_episodes": sum(len(s.episodes) for s in scores),
        "max_latency_s": max(lat) if lat else None,
        "cpu_s": sum(s.result.cpu_s for s in scores),
        "simulated_h": sum(s.result.hours for s in scores),
    }


def render(scores, verbose=True):
    """The scorecard as text."""
    lines = []
    for s in scores:
        r = s.result
        verdict = "PASS" if s.passed else "FAIL"
        lines.append(
            "%s  %-24s %s  (%g h at %d s, seed %d, %.1f s CPU)"
            % (verdict, s.name, s.title, r.hours, r.period_s, r.seed, r.cpu_s)
        )
        if s.known_issue and not s.passed:
            lines.append("      !! KNOWN FIRMWARE ISSUE (reported to the lead): %s" % s.known_issue)
        for c in s.checks:
            if verbose or not c.ok:
                lines.append(
                    "      %-4s %-22s expected %-14s observed %s"
                    % ("ok" if c.ok else "FAIL", c.what, c.expected, c.observed)
                )
        for ep in s.episodes:
            if ep.reaction is not None:
                how = "%s at %s, %+d s past the limit" % (
                    ep.reaction[1],
                    _hm(ep.reaction[0]),
                    ep.latency_s,
                )
            elif ep.unjudged:
                how = "run ended before a reaction was due"
            else:
                how = "MISSED: no reaction"
            lines.append(
                "      fault %-17s limit %s: %s (%s)" % (ep.kind, _hm(ep.limit_s), how, ep.note)
            )
        for t in s.false_cycles:
            lines.append("      FALSE POWER CYCLE: power_off at %s with nothing wrong" % _hm(t))
    tot = totals(scores)
    lines.append("")
    lines.append(
        "%d scenarios: %d passed, %d failed%s | fault episodes %d, missed %d | false power "
        "cycles %d | worst detection latency %s past the limit | %g simulated h in %.1f s CPU"
        % (
            tot["scenarios"],
            tot["passed"],
            tot["failed"],
            " (%d with a known firmware issue)" % tot["known_issues"]
            if tot["known_issues"]
            else "",
            tot["fault_episodes"],
            tot["missed_faults"],
            tot["false_power_cycles"],
            "-" if tot["max_latency_s"] is None else "%d s" % tot["max_latency_s"],
            tot["simulated_h"],
            tot["cpu_s"],
        )
    )
    return "\n".join(lines)


def as_json(scores):
    """The scorecard as one JSON-able dict."""
    out = []
    for s in scores:
        out.append(
            {
                "name": s.name,
                "passed": s.passed,
                "known_issue": s.known_issue,
                "checks": [
                    {"what": c.what, "expected": c.expected, "observed": c.observed, "ok": c.ok}
                    for c in s.checks
                ],
                "faults": [
                    {
                        "kind": e.kind,
                        "limit_s": e.limit_s,
                        "reaction": e.reaction,
                        "latency_s": e.latency_s,
                        "missed": e.missed,
                    }
                    for e in s.episodes
                ],
                "false_power_cycles_s": s.false_cycles,
            }
        )
    return {"scenarios": out, "totals": totals(scores)}


# -- command line --------------------------------------------------------------------------------


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names", metavar="SCENARIO", nargs="*", help="only these (default: all of scenarios/)"
    )
    parser.add_argument("--seed", type=int, help="override every scenario's noise seed")
    parser.add_argument("--failures", action="store_true", help="show only failing checks")
    parser.add_argument("--json", action="store_true", help="print the scorecard as JSON")


def run_command(args: argparse.Namespace) -> int:
    paths = [simulate.scenario_path(n) for n in args.names] if args.names else discover()
    started = time.monotonic()
    scores = run_suite(paths, args.seed)
    if args.json:
        print(json.dumps(as_json(scores), indent=2))
    else:
        print(render(scores, verbose=not args.failures))
        print("(%.1f s wall)" % (time.monotonic() - started), file=sys.stderr)
    return 0 if all(s.passed for s in scores) else 1
