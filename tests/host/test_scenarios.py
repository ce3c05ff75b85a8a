"""The scenario suite: every scenarios/*.json, closed-loop through the firmware logic, judged.

One test per scenario file. A scenario carrying `known_issue` documents a firmware shortfall the
lead has been told about: it is expected to fail (strict xfail), so the day the firmware is fixed
the test turns into an unexpected pass and the `known_issue` must be removed. The suite takes about
2-3 s of CPU (about 220 simulated hours).
"""

import functools
import json
import os

import pytest
from splitguard import states

from host_tools import scenarios, simulate
from host_tools.cli import main
from host_tools.plant import FAULT_TYPES

PATHS = scenarios.discover()
NAMES = [os.path.splitext(os.path.basename(p))[0] for p in PATHS]


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@functools.cache
def _score(path):
    return scenarios.run_one(path)


def _params():
    out = []
    for path, name in zip(PATHS, NAMES, strict=True):
        issue = _load(path).get("known_issue")
        # The first sentence names it; the scenario file and the scorecard say the rest.
        why = "known firmware issue (see the scenario file): " + (issue or "").split(". ")[0]
        marks = [pytest.mark.xfail(strict=True, reason=why)] if issue else []
        out.append(pytest.param(path, id=name, marks=marks))
    return out


@pytest.mark.parametrize("path", _params())
def test_scenario_meets_its_expectations(path):
    score = _score(path)
    failed = [
        "%s: expected %s, observed %s" % (c.what, c.expected, c.observed)
        for c in score.checks
        if not c.ok
    ]
    assert not failed, "\n".join(failed)


def test_the_suite_has_the_required_scenarios():
    # The issue's list, each as a named data file.
    required = {
        "cold_humid_defrosts",
        "dry_cold",
        "mild_wet",
        "summer_cooling",
        "setpoint_cycling",
        "long_normal_defrost",
        "stuck_defrost_fixed",
        "stuck_defrost_returns",
        "crazy_mode",
        "sensor_faults",
        "ct_unplugged",
        "outage_mid_defrost",
    }
    assert required <= set(NAMES)
    assert len(NAMES) >= 12


@pytest.mark.parametrize("path", PATHS, ids=NAMES)
def test_every_scenario_file_is_complete_and_cites_its_sources(path):
    sc = _load(path)
    for key in ("name", "title", "description", "hours", "sample_period_s", "weather", "expect"):
        assert key in sc, key
    assert sc["name"] == os.path.splitext(os.path.basename(path))[0]
    exp = sc["expect"]
    assert "final_state" in exp and exp["final_state"] in states.SUPERVISOR_STATES
    for name in list(exp.get("required", {})) + exp.get("forbidden", []):
        assert name in states.EVENTS, name
    for f in sc["faults"]:
        assert f["type"] in FAULT_TYPES
    if sc.get("unit", {}).get("mode", "heat") == "heat":
        assert sc["sources"], "a heating scenario cites its published parameters"
    for src in sc["sources"]:
        assert src["id"].startswith("S-D")


def test_scorecard_totals_meet_the_target_outside_the_known_issues():
    # Target (issue 6): zero false power cycles and zero missed stuck units, every detection
    # within 2 minutes past its limit. Known issues are the exceptions reported to the lead.
    scores = [_score(p) for p in PATHS]
    clean = [s for s in scores if not s.known_issue]
    tot = scenarios.totals(clean)
    assert tot["failed"] == 0
    assert tot["false_power_cycles"] == 0
    assert tot["missed_faults"] == 0
    assert tot["fault_episodes"] >= 10
    assert tot["max_latency_s"] is not None and 0 <= tot["max_latency_s"] <= 120
    # Every stuck defrost, frequent-defrost run and hang in the clean suite got its reaction.
    kinds = {e.kind for s in clean for e in s.episodes if e.reaction}
    assert kinds == {"stuck defrost", "frequent defrosts", "hung unit"}
    # And the known issues really are failures, each marked on the scorecard.
    text = scenarios.render(scores)
    for s in scores:
        if s.known_issue:
            assert not s.passed
    assert text.count("KNOWN FIRMWARE ISSUE") == sum(1 for s in scores if s.known_issue)


def test_the_suite_is_deterministic():
    path = simulate.scenario_path("stuck_defrost_fixed")
    a = simulate.run(simulate.load_scenario(path))
    b = simulate.run(simulate.load_scenario(path))
    assert a.events == b.events
    c = simulate.run(simulate.load_scenario(path), seed=99)
    assert [e["event"] for e in c.events if e["event"] != "frost"] == [
        e["event"] for e in a.events if e["event"] != "frost"
    ]


def test_a_stuck_defrost_is_cut_within_2_min_of_the_15_min_limit():
    score = _score(simulate.scenario_path("stuck_defrost_fixed"))
    (ep,) = score.episodes
    assert ep.kind == "stuck defrost"
    assert ep.reaction[1] == states.EV_DEFROST_TOO_LONG
    assert 0 <= ep.latency_s <= 120


def test_the_power_cut_really_stops_the_simulated_unit():
    res = simulate.run(simulate.load_scenario("stuck_defrost_fixed"))
    (off,) = [e["t_s"] for e in res.events if e["event"] == states.EV_POWER_OFF]
    (on,) = [e["t_s"] for e in res.events if e["event"] == states.EV_POWER_ON]
    assert on - off == 30 * 60
    assert res.plant.power_log[:2] == [(off, "lost", "relay"), (on, "restored", "relay")]


def test_simulate_command_writes_a_trace_and_prints_events(tmp_path, capsys):
    out = tmp_path / "t.csv"
    assert main(["simulate", "stuck_defrost_fixed", "--hours", "3", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(simulate.TRACE_COLUMNS)
    assert len(lines) == 1 + 3 * 360 + 1
    assert any(line.endswith(",1,0") for line in lines[1:])  # relay held off
    events = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in events if e["event"] in ("defrost_too_long", "power_off")] == [
        "defrost_too_long",
        "power_off",
    ]
    assert all(list(e)[:2] == ["t_s", "event"] for e in events)


def test_a_simulated_trace_replays_to_the_same_events(tmp_path, capsys):
    # Closed loop and open-loop replay run the same firmware logic: same events, bit for bit,
    # across a board reboot too.
    out = tmp_path / "t.csv"
    assert main(["simulate", "outage_board_reboots", "-o", str(out)]) == 0
    sim = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert main(["replay", str(out)]) == 0
    rep = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    for e in rep:
        e.pop("line", None)
    assert sim == rep
    assert ",1\n" in out.read_text()  # the reboot row


def test_scenarios_command_exit_status(capsys):
    assert main(["scenarios", "crazy_mode", "ct_unplugged"]) == 0
    text = capsys.readouterr().out
    assert "PASS  crazy_mode" in text and "2 passed, 0 failed" in text
    # hang_after_defrost is the one scenario the firmware still fails (its known_issue says why).
    assert main(["scenarios", "--failures", "hang_after_defrost"]) == 1
    text = capsys.readouterr().out
    assert "KNOWN FIRMWARE ISSUE" in text


def test_unknown_scenario_is_an_error(capsys):
    assert main(["simulate", "no_such_scenario"]) == 1
    assert "no scenario 'no_such_scenario'" in capsys.readouterr().err
