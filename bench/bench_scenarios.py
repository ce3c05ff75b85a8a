"""The scenario suite's scorecard as bench rows: verdict, latency, false cycles, misses, cost.

Runs every scenarios/*.json closed-loop through the firmware Detector and Supervisor
(host_tools.scenarios) and reports one row per scenario plus the suite totals. A scenario with a
`known_issue` is a firmware shortfall already reported to the lead; it shows as FAIL with the
issue's first sentence.
"""

from __future__ import annotations

from bench.table import Row
from host_tools import scenarios

GROUP = "scenarios"


def _verdict(s) -> str:
    if s.passed:
        return "PASS"
    return "FAIL (known)" if s.known_issue else "FAIL"


def run() -> list[Row]:
    scores = scenarios.run_suite()
    rows = []
    for s in scores:
        lat = s.latencies
        note = []
        if s.episodes:
            note.append("worst latency %s" % ("%d s" % max(lat) if lat else "-"))
        if s.false_cycles:
            note.append("%d false power cycle(s)" % len(s.false_cycles))
        if s.missed:
            note.append("%d missed fault(s)" % len(s.missed))
        if s.known_issue and not s.passed:
            note.append("known issue: " + s.known_issue.split(". ")[0])
        rows.append(Row(GROUP, s.name, _verdict(s), "", "; ".join(note)))
    t = scenarios.totals(scores)
    clean = scenarios.totals([s for s in scores if not s.known_issue])
    rows += [
        Row(
            GROUP,
            "passed",
            "%d/%d" % (t["passed"], t["scenarios"]),
            "",
            "%d known issues" % t["known_issues"],
        ),
        Row(GROUP, "false power cycles", t["false_power_cycles"], "", "all scenarios; target 0"),
        Row(GROUP, "false power cycles (no known issue)", clean["false_power_cycles"], "", ""),
        Row(
            GROUP,
            "missed faults",
            "%d of %d" % (t["missed_faults"], t["fault_episodes"]),
            "",
            "stuck defrosts, frequent-defrost runs, hung units; target 0",
        ),
        Row(GROUP, "missed faults (no known issue)", clean["missed_faults"], "", ""),
        Row(
            GROUP,
            "worst detection latency",
            "-" if t["max_latency_s"] is None else int(t["max_latency_s"]),
            "s",
            "past the limit (15-min defrost, 3rd close defrost, 10-min recovery); target <= 120",
        ),
        Row(GROUP, "simulated time", int(t["simulated_h"]), "h", "1 s plant step"),
        Row(GROUP, "CPU for the suite", round(t["cpu_s"], 1), "s", "CPython, unpaced"),
    ]
    return rows
