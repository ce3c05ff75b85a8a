"""Device lines: one JSON object per line with version, kind, sequence number and device time."""

import json

from splitguard import states
from splitguard.compat import NAN
from splitguard.outbox import BUDGET_BYTES, Outbox
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


def test_sample_is_marked_injected_only_while_an_override_is_active():
    lines, rep = _capture()
    rep.sample(0, Reading(-3.5, 1.0, 6.2), _Decision())
    rep.sample(5000, Reading(-3.5, 1.0, 6.2), _Decision(), injected=True)
    assert "injected" not in json.loads(lines[0])
    assert json.loads(lines[1])["injected"] is True


def test_reply_echoes_the_id_and_the_envelope_cannot_be_overridden_by_the_body():
    lines, rep = _capture()
    rep.reply(100, "abc", False, {"error": "invalid JSON", "seq": 99, "kind": "sample"})
    obj = json.loads(lines[0])
    assert obj["kind"] == "reply" and obj["seq"] == 0 and obj["t"] == 100
    assert obj["id"] == "abc" and obj["ok"] is False and obj["error"] == "invalid JSON"


# -- the bounded serial queue ------------------------------------------------------------------


class _Port:
    """The wire: takes at most `chunk` bytes per write (0 = nothing: nobody reads), or raises."""

    def __init__(self, chunk=1 << 20, fail=False):
        self.chunk = chunk
        self.fail = fail
        self.data = bytearray()
        self.calls = 0

    def write(self, data):
        self.calls += 1
        if self.fail:
            raise OSError(11)  # EAGAIN
        n = min(self.chunk, len(data))
        self.data += data[:n]
        return n

    def lines(self):
        return [json.loads(x) for x in bytes(self.data).decode().split("\n")[:-1]]


def _line(n, size=40):
    # A line of exactly `size` bytes with a recognisable number.
    body = '{"n": %d, "pad": "' % n
    return body + "x" * (size - len(body) - 3) + '"}\n'


def test_lines_reach_an_open_port_whole_and_in_order():
    port = _Port()
    ob = Outbox(port.write)
    for n in range(5):
        ob.put(_line(n))
    ob.drain(10000)
    assert [x["n"] for x in port.lines()] == [0, 1, 2, 3, 4]
    assert ob.count == 0 and ob.bytes == 0 and ob.dropped_total == 0


def test_one_flush_writes_at_most_its_budget():
    port = _Port()
    ob = Outbox(port.write)
    for n in range(10):
        ob.put(_line(n, 100))
    assert ob.flush(BUDGET_BYTES) == BUDGET_BYTES
    assert len(port.data) == 256
    assert ob.count == 8  # 2 whole lines gone, the third half written and still queued


def test_a_port_that_takes_a_few_bytes_at_a_time_still_gets_whole_lines():
    port = _Port(chunk=7)
    ob = Outbox(port.write)
    for n in range(6):
        ob.put(_line(n, 53))
    for _ in range(200):
        ob.flush(16)
    assert [x["n"] for x in port.lines()] == [0, 1, 2, 3, 4, 5]


def test_nobody_reading_keeps_the_newest_lines_and_counts_the_rest():
    port = _Port(chunk=0)
    ob = Outbox(port.write, max_lines=4)
    for n in range(10):
        ob.put(_line(n))
        ob.flush()
    assert ob.count == 4
    assert ob.dropped == 6 and ob.dropped_total == 6
    port.chunk = 1 << 20
    ob.drain(10000)
    assert [x["n"] for x in port.lines()] == [6, 7, 8, 9]


def test_a_half_written_line_is_never_dropped():
    port = _Port(chunk=10)
    ob = Outbox(port.write, max_lines=3)
    ob.put(_line(0))
    ob.flush()  # 10 bytes of line 0 are on the wire
    port.chunk = 0
    for n in range(1, 6):
        ob.put(_line(n))
    port.chunk = 1 << 20
    ob.drain(10000)
    # Line 0 finished whole; of 1..5 the newest two fitted beside it.
    assert [x["n"] for x in port.lines()] == [0, 4, 5]
    assert ob.dropped_total == 3


def test_the_byte_limit_drops_oldest_lines_too():
    port = _Port(chunk=0)
    ob = Outbox(port.write, max_lines=32, max_bytes=200)
    for n in range(10):
        ob.put(_line(n, 50))
    assert ob.count == 4 and ob.bytes == 200 and ob.dropped_total == 6


def test_a_line_larger_than_the_whole_queue_is_dropped_and_counted():
    ob = Outbox(_Port(chunk=0).write, max_bytes=100)
    assert ob.put(_line(0, 150)) is False
    assert ob.count == 0 and ob.dropped_total == 1


def test_a_port_that_raises_is_treated_as_busy():
    port = _Port(fail=True)
    ob = Outbox(port.write)
    ob.put(_line(0))
    assert ob.flush() == 0
    assert ob.count == 1
    port.fail = False
    ob.drain(10000)
    assert [x["n"] for x in port.lines()] == [0]


def test_a_write_that_returns_none_took_everything():
    got = []
    ob = Outbox(got.append)
    ob.put("a\n")
    ob.put("b\n")
    ob.flush()
    assert got == [b"a\n", b"b\n"] and ob.count == 0


def test_lost_lines_are_reported_by_a_fault_line_once_the_port_drains_and_the_gap_matches():
    port = _Port(chunk=0)
    ob = Outbox(port.write, max_lines=8)
    rep = Reporter(ob.put, ob)
    reading = Reading(-3.5, 1.0, 6.2)
    for t in range(20):
        rep.sample(t * 5000, reading, _Decision())
        ob.flush()
    assert ob.count == 8 and ob.dropped == 12
    # Still nobody reading: no report yet (it would only push out another line).
    rep.sample(100000, reading, _Decision())
    assert ob.dropped == 13
    port.chunk = 1 << 20
    ob.drain(1 << 20)
    rep.sample(105000, reading, _Decision())
    ob.drain(1 << 20)
    lines = port.lines()
    fault = [x for x in lines if x["kind"] == "fault"]
    assert len(fault) == 1
    assert fault[0]["where"] == "serial" and fault[0]["dropped"] == 13
    assert fault[0]["error"] == "dropped 13 lines: nobody read the port"
    seqs = [x["seq"] for x in lines]
    # The kept samples are seq 13..20; the report and the next sample follow without a gap.
    assert seqs == list(range(13, 23))
    assert seqs[0] - 0 == fault[0]["dropped"]
