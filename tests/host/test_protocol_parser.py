"""The host's line parser: device lines become Messages, everything else Raw, nothing raises.

Device lines here are made by the firmware's own Reporter, so parser and firmware are tested
against each other; noise lines are what an ESP32 really prints at reset (ROM bootloader and
MicroPython banner).
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from splitguard.reading import Reading
from splitguard.report import Reporter

from host_tools.protocol import (
    Gap,
    LineSplitter,
    Message,
    Raw,
    Reboot,
    SeqTracker,
    parse_line,
    printable,
    ticks_diff,
)

BOOT_NOISE = [
    b"ets Jun  8 2016 00:22:57",
    b"rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
    b"configsip: 0, SPIWP:0xee",
    b"load:0x3fff0030,len:4540",
    b"entry 0x400805f0",
    b"MicroPython v1.27.0 on 2025-12-09; Generic ESP32 module with ESP32",
    b'Type "help()" for more information.',
    b">>> ",
    b"Traceback (most recent call last):",
    b'  File "main.py", line 3, in <module>',
    b"",
]


class _Decision:
    unit_state = "FROSTING"
    mode = "heat"
    state = "WATCHING"
    power_cut = False
    cycles_in_window = 1


def _device_lines() -> list[str]:
    out: list[str] = []
    rep = Reporter(out.append)
    rep.hello(5, "0.1.0", "esp32_devkitc", "a1b2c3d4", "power on")
    r = Reading()
    r.set(-7.25, -1.5, 4.125)
    rep.sample(1000, r, _Decision())
    r.coil_c, r.coil_fault = float("nan"), "open"
    rep.sample(2000, r, _Decision())
    rep.event(2000, {"event": "frost", "reason": "coil 6.0 K below ambient", "dt_k": 6.04})
    rep.fault(2001, "store", "corrupt record")
    return out


def test_every_line_the_firmware_writes_parses_as_a_message_with_its_envelope():
    lines = _device_lines()
    parsed = [parse_line(s) for s in lines]
    assert [m.kind for m in parsed] == ["hello", "sample", "sample", "event", "fault"]
    assert [m.seq for m in parsed] == [0, 1, 2, 3, 4]
    assert [m.t for m in parsed] == [5, 1000, 2000, 2000, 2001]
    sample = parsed[1]
    assert sample.get("coil") == -7.25 and sample.get("amb") == -1.5 and sample.get("amps") == 4.12
    assert sample.get("unit") == "FROSTING" and sample.get("sup") == "WATCHING"


def test_a_faulted_value_arrives_as_null_with_its_cause():
    m = parse_line(_device_lines()[2])
    assert isinstance(m, Message)
    assert m.get("coil") is None
    assert m.get("faults") == {"coil": "open"}


def test_bytes_with_crlf_parse_like_the_str():
    line = _device_lines()[1]
    assert parse_line((line.rstrip("\n") + "\r\n").encode()) == parse_line(line)


def test_boot_rom_and_micropython_banner_are_raw_text_kept_verbatim():
    for noise in BOOT_NOISE:
        r = parse_line(noise + b"\r\n")
        assert isinstance(r, Raw), noise
        assert r.text == noise.decode()


def test_a_line_cut_by_a_reset_is_raw_with_both_halves_kept():
    half = _device_lines()[1][:40].encode()
    r = parse_line(half + b"ets Jun  8 2016 00:22:57")
    assert isinstance(r, Raw)
    assert r.text == (half + b"ets Jun  8 2016 00:22:57").decode()


def test_json_that_is_not_a_protocol_line_is_raw_with_the_reason():
    cases = {
        b"[1, 2]": "not JSON",
        b'{"kind": "sample", "seq": 1, "t": 0}': "JSON without a protocol version",
        b'{"v": 2, "kind": "sample", "seq": 1, "t": 0}': "protocol version 2 (this host reads 1)",
        b'{"v": 1, "kind": "selfie", "seq": 1, "t": 0}': "unknown kind 'selfie'",
        b'{"v": 1, "kind": "event", "seq": true, "t": 0, "event": "x"}': "bad seq True",
        b'{"v": 1, "kind": "event", "seq": 1, "t": 1073741824, "event": "x"}': (
            "bad device time 1073741824"
        ),
        b'{"v": 1, "kind": "sample", "seq": 1, "t": 0, "coil": "cold"}': (
            "sample field 'coil' has the wrong type"
        ),
        b'{"v": 1, "kind": "sample", "seq": 1, "t": 0, "coil": NaN}': "not JSON",
        b'{"v": 1, "kind": "event", "seq": 1, "t": 0}': "event field 'event' has the wrong type",
    }
    for line, why in cases.items():
        r = parse_line(line)
        assert isinstance(r, Raw), line
        assert r.why == why, (line, r.why)


def test_undecodable_bytes_survive_in_raw_text_and_print_safely():
    r = parse_line(b"\xff\xfe boot \x1b[2J")
    assert isinstance(r, Raw)
    assert r.text.encode("utf-8", "surrogateescape") == b"\xff\xfe boot \x1b[2J"
    assert printable(r.text) == "\ufffd\ufffd boot \\x1b[2J"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_and_never_become_a_message_unless_they_are_json(data):
    r = parse_line(data)
    assert isinstance(r, (Message, Raw))
    if isinstance(r, Message):
        obj = json.loads(data.decode("utf-8", "surrogateescape"))
        assert obj["v"] == 1 and obj["kind"] == r.kind and obj["seq"] == r.seq
    else:
        assert r.text.encode("utf-8", "surrogateescape") == data.rstrip(b"\r\n")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {"v": st.just(1), "kind": st.sampled_from(["sample", "event", "hello", "fault"])},
        optional={
            "seq": _JSON,
            "t": _JSON,
            "coil": _JSON,
            "amb": _JSON,
            "amps": _JSON,
            "faults": _JSON,
            "event": _JSON,
            "reason": _JSON,
            "unit": _JSON,
        },
    )
)
def test_protocol_shaped_objects_with_random_fields_parse_or_are_raw_without_raising(obj):
    r = parse_line(json.dumps(obj))
    if isinstance(r, Message):
        # What the monitor formats without checking is guaranteed to have the right type.
        for key in ("coil", "amb", "amps"):
            v = r.get(key)
            assert v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
        assert isinstance(r.seq, int) and 0 <= r.t < 1 << 30


def _msgs(*specs) -> list[Message]:
    out = []
    for kind, seq in specs:
        out.append(Message(kind, seq, 0, {"kind": kind, "seq": seq, "reset": "watchdog"}))
    return out


def test_a_jump_in_seq_is_a_gap_naming_the_missing_numbers():
    tr = SeqTracker()
    found = [tr.feed(m) for m in _msgs(("sample", 7), ("sample", 8), ("sample", 12))]
    assert found[:2] == [[], []]
    assert found[2] == [Gap(9, 11)]
    assert found[2][0].describe() == "3 lines missing (seq 9..11)"
    assert (tr.gaps, tr.missing) == (1, 3)


def test_seq_going_back_is_a_reboot_and_a_hello_names_the_reset_cause():
    tr = SeqTracker()
    for m in _msgs(("sample", 40), ("sample", 41)):
        assert tr.feed(m) == []
    assert tr.feed(_msgs(("hello", 0))[0]) == [Reboot("hello, reset cause watchdog")]
    tr2 = SeqTracker()
    tr2.feed(_msgs(("sample", 40))[0])
    assert tr2.feed(_msgs(("sample", 3))[0]) == [Reboot("sequence restarted at 3")]


def test_boot_faults_then_hello_both_at_seq_0_are_one_boot_not_two():
    # main.py reports a missing config through its own Reporter before the app's hello.
    tr = SeqTracker()
    tr.feed(_msgs(("sample", 99))[0])
    found = [tr.feed(m) for m in _msgs(("fault", 0), ("hello", 0), ("sample", 1))]
    assert found == [[Reboot("sequence restarted at 0")], [], []]
    assert tr.reboots == 1


def test_the_first_line_seen_is_neither_gap_nor_reboot():
    tr = SeqTracker()
    assert tr.feed(_msgs(("sample", 5000))[0]) == []


def test_device_ticks_wrap_at_2_to_the_30():
    assert ticks_diff(5, (1 << 30) - 5) == 10
    assert ticks_diff((1 << 30) - 5, 5) == -10


def test_splitter_yields_complete_lines_and_keeps_the_partial_one():
    s = LineSplitter()
    assert s.feed(b'{"a":1}\r\n{"b"') == [b'{"a":1}']
    assert s.feed(b":2}\n\r\nets") == [b'{"b":2}', b""]
    assert s.take_partial() == b"ets"
    assert s.pending() == b""


def test_splitter_cuts_an_endless_line_instead_of_growing_without_bound():
    s = LineSplitter(max_bytes=100)
    out = s.feed(b"x" * 250)
    assert out == [b"x" * 100, b"x" * 100]
    assert s.pending() == b"x" * 50
