"""Device lines: one JSON object per line with version, kind, sequence number and device time."""

import json

from splitguard import states
from splitguard.compat import NAN
from splitguard.reading import Reading
from splitguard.report import PROTOCOL_VERSION, Reporter


class _Decision:
    unit_state = states.RUNNING
    mode = states.HEAT
    state = states.WATCHING
    power_cut = False
    cycles_in_window = 1


def _capture():
    lines = []
    return lines, Reporter(lines.append)


def test_every_line_is_one_json_object_ending_in_newline_with_the_envelope():
    lines, rep = _capture()
    rep.hello(10, "0.1.0", "ESP32-DevKitC", "1a2b3c4d", "power_on")
    rep.fault(20, "config", "bad")
    for n, line in enumerate(lines):
        assert line.endswith("\n") and line.count("\n") == 1
        obj = json.loads(line)
        assert obj["v"] == PROTOCOL_VERSION
        assert obj["seq"] == n
    assert json.loads(lines[0])["kind"] == "hello"
    assert json.loads(lines[1])["t"] == 20


def test_sequence_numbers_count_up_across_kinds_so_the_host_can_see_gaps():
    lines, rep = _capture()
    reading = Reading(-3.5, 1.0, 6.2)
    for t in range(3):
        rep.sample(t * 5000, reading, _Decision())
        rep.event(t * 5000, {"event": states.EV_FROST, "reason": "coil 6 K below ambient"})
    assert [json.loads(x)["seq"] for x in lines] == [0, 1, 2, 3, 4, 5]


def test_faulted_value_goes_out_as_null_with_the_cause_named():
    lines, rep = _capture()
    reading = Reading(NAN, 1.0, 6.2, coil_fault=states.FAULT_OPEN)
    rep.sample(0, reading, _Decision())
    obj = json.loads(lines[0])
    assert obj["coil"] is None
    assert obj["faults"] == {"coil": "open"}
    assert obj["amb"] == 1.0 and obj["amps"] == 6.2


def test_sample_carries_unit_and_supervisor_state_and_relay():
    lines, rep = _capture()
    rep.sample(0, Reading(-3.5, 1.0, 6.2), _Decision())
    obj = json.loads(lines[0])
    assert (obj["unit"], obj["mode"], obj["sup"], obj["cut"], obj["cycles"]) == (
        "RUNNING",
        "heat",
        "WATCHING",
        False,
        1,
    )


def test_event_keeps_its_name_reason_and_figures():
    lines, rep = _capture()
    rep.event(
        900000,
        {"event": states.EV_DEFROST_TOO_LONG, "reason": "defrost over limit", "duration_s": 960},
    )
    obj = json.loads(lines[0])
    assert obj["kind"] == "event"
    assert obj["event"] == "defrost_too_long"
    assert obj["duration_s"] == 960
