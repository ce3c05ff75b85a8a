"""`splitguard plot`: a log or trace CSV in, a PNG an installer can send out.

The log is made by the firmware itself: a synthetic night of heating (tests/firmware/traces.py)
through the real Detector and Supervisor, reported by the real Reporter — a normal defrost, a
coil sensor that opens for 90 s, then a defrost stuck past the 15 min limit (S-D1, S-D10) that
splitguard answers with a 30 min power cut.
"""

from __future__ import annotations

import json
import os
import struct

import pytest
import traces as tr
from splitguard import states
from splitguard.config import default_device
from splitguard.detector import Detector
from splitguard.report import Reporter
from splitguard.store import Store
from splitguard.supervisor import Supervisor

from host_tools.cli import main
from host_tools.logger import export
from host_tools.plot import _merge_labels, _spans, from_csv, from_log

pytest.importorskip("matplotlib")

HOST_T0 = 1_700_000_000.0
PERIOD_S = 10


def _night(tmp_path) -> str:
    p = tr.Profile(-9.0, -3.0, 0.0)
    tr.heating(p, 45)
    tr.defrost(p, 7, 12.0)
    tr.heating(p, 45)
    p.fault(p.end_s - 20 * 60, 90, "coil", "open")
    coil, _, _ = p.now()
    # Stuck: reversed and melting at +2 °C far past any maker's limit; then the cut, then heat.
    p.to(0, amps=0.0).to(60, coil_c=coil + 1).to(0, amps=3.0).to(120, coil_c=2.0).hold(14 * 60)
    p.to(0, amps=0.0).to(35 * 60, coil_c=-3.0)
    tr.heating(p, 30)
    cfg = default_device()
    lines: list[str] = []
    rep = Reporter(lines.append)
    store = Store(str(tmp_path / "state.json"), os)
    sup = Supervisor(cfg["supervisor"], Detector(cfg["detector"]), store, 0)
    rep.hello(0, "0.1.0", "esp32_devkitc", "a1b2c3d4", "power on")
    for now, r in tr.readings(p, PERIOD_S, noise_k=0.15, noise_a=0.05):
        d = sup.step(now, r)
        for ev in d.events:
            rep.event(now, ev)
        rep.sample(now, r, d)
    path = str(tmp_path / "night.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"host_t": %r, "kind": "raw", "text": "ets Jun  8 2016 00:22:57"}\n' % HOST_T0)
        for s in lines:
            obj = json.loads(s)
            rec = {"host_t": HOST_T0 + obj["t"] / 1000.0}
            rec.update(obj)
            f.write(json.dumps(rec) + "\n")
    return path


def _png_size(path) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_a_log_plots_to_a_png_with_states_shaded_and_events_labelled(tmp_path, capsys):
    log = _night(tmp_path)
    png = str(tmp_path / "night.png")
    assert main(["plot", log, "-o", png]) == 0
    assert capsys.readouterr().out.startswith(png + ": ")
    w, h = _png_size(png)
    assert w >= 1200 and h >= 600  # legible when sent on a phone and zoomed
    t = from_log([log])
    assert len(_spans(t.x, [u == states.DEFROSTING for u in t.unit])) == 2
    assert len(_spans(t.x, [u == states.SENSOR_FAULT for u in t.unit])) == 1
    cuts = _spans(t.x, t.cut)
    assert len(cuts) == 1
    assert 29 * 60 <= (cuts[0][1] - cuts[0][0]).total_seconds() <= 31 * 60  # the 30 min off
    labels = [label for _, label in _merge_labels(t.events, 3 * 3600)]
    assert "defrost_too_long + power_off" in labels
    assert "restart (power on)" in labels
    assert "board esp32_devkitc, firmware 0.1.0" in t.title


def test_the_trace_csv_plots_too_with_faults_and_power_cuts(tmp_path):
    log = _night(tmp_path)
    csv_path = str(tmp_path / "night.csv")
    n = export([log], csv_path)
    t = from_csv(csv_path)
    assert len(t.x) == n
    assert t.xlabel == "minutes"  # about 2.6 h: minutes read better than fractions of hours
    assert len(_spans(t.x, t.cut)) == 1
    assert len(_spans(t.x, [u == states.SENSOR_FAULT for u in t.unit])) == 1
    png = str(tmp_path / "trace.png")
    assert main(["plot", csv_path, "-o", png]) == 0
    _png_size(png)


def test_a_csv_that_is_not_a_trace_is_refused_with_the_expected_header(tmp_path, capsys):
    bad = tmp_path / "other.csv"
    bad.write_text("time,temp\n1,2\n", encoding="utf-8")
    assert main(["plot", str(bad), "-o", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "not a trace CSV (missing t_s, coil_c, ambient_c, amps" in err
    assert not (tmp_path / "x.png").exists()


def test_a_log_without_samples_is_refused(tmp_path, capsys):
    log = tmp_path / "empty.jsonl"
    log.write_text('{"host_t": 1.0, "kind": "raw", "text": "boot"}\n', encoding="utf-8")
    assert main(["plot", str(log), "-o", str(tmp_path / "x.png")]) == 1
    assert "no samples to plot" in capsys.readouterr().err


def test_labels_of_events_at_the_same_moment_are_merged_not_overprinted():
    events = [(0.0, "a"), (100.0, "b"), (100.5, "c"), (100.7, "c")]
    assert _merge_labels(events, 1000.0) == [(0.0, "a"), (100.0, "b + c")]
