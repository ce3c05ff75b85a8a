"""`splitguard replay`: traces and device logs through the firmware's own detector and supervisor.

Golden files (as mpremote's .exp): tests/data/traces/NAME.csv|.jsonl is a recorded trace and
NAME.exp the event lines replay must print for it, diffed. Both fixtures are built here from
tests/firmware/traces.py, so their provenance is code: a test checks that the committed files are
exactly what the builders make. After a deliberate change in the firmware logic, rewrite them with
`.venv/bin/python tests/host/test_replay.py --regen` and review the diff of the .exp files.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for _p in (ROOT, ROOT / "firmware", ROOT / "tests" / "firmware"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import traces  # noqa: E402  (tests/firmware/traces.py)
from splitguard import states  # noqa: E402
from splitguard.clock import TICKS_PERIOD  # noqa: E402
from splitguard.config import default_device, validate_device  # noqa: E402
from splitguard.detector import Detector  # noqa: E402
from splitguard.reading import Reading  # noqa: E402
from splitguard.report import Reporter  # noqa: E402
from splitguard.supervisor import Supervisor  # noqa: E402

from host_tools.cli import main  # noqa: E402
from host_tools.replay import MemoryStore, replay, summary  # noqa: E402
from host_tools.trace import MISSING, TraceError, open_trace  # noqa: E402

TRACES = ROOT / "tests" / "data" / "traces"
COLD_MORNING = TRACES / "cold_morning_stuck_defrost.csv"
REBOOT_LOG = TRACES / "device_log_reboot_in_power_off.jsonl"
HOST_T0 = 1764028800.0  # 2025-11-25 00:00 UTC: any epoch works, this one reads well
# The device's ticks start 25 min before their 2**30 wrap, so the first boot wraps.
LOG_START_TICK = TICKS_PERIOD - 25 * 60_000


# -- builders ----------------------------------------------------------------------------------


def _stuck_defrost(p, hold_s, end_coil_c=12.0):
    """A defrost that never terminates: the coil climbs to end_coil_c and stays (S-D25 rate)."""
    coil, _, _ = p.now()
    rate = traces.DEFROST_RISE_K_PER_MIN / 60.0
    p.mark("stuck_start")
    p.to(0, amps=0.0).to(traces.VALVE_STOP_S, coil_c=coil + 1.0)
    p.to(0, amps=traces.DEFROST_AMPS).to((-1.0 - coil) / rate, coil_c=0.0)
    p.hold(180)  # melting
    p.to(end_coil_c / rate, coil_c=end_coil_c)
    return p.hold(hold_s)


def _cut_power(p, off_s):
    """The supervisor cut the power: no current, the coil relaxes to the air (restart delay
    included in off_s: ~3 min after power returns, issue 6)."""
    return traces.setpoint_stop(p, off_s / 60.0)


def _two_decimals(x):
    # What a trace or the board's report line keeps of a reading.
    return x if x != x else float("%.2f" % x)


def _samples(p, period_s, until_s=None, seed=7):
    """(t_s, coil, ambient, amps, faults) every period_s, noisy and rounded like a log."""
    rng = traces.Lcg(seed)
    end = p.end_s if until_s is None else until_s
    hint = 0
    k = 0
    while k * period_s <= end:
        t = k * period_s
        coil, amb, amps, hint = p.at(t, hint)
        coil += rng.uniform(-0.2, 0.2)
        amb += rng.uniform(-0.2, 0.2)
        amps = max(0.0, amps + rng.uniform(-0.05, 0.05))
        faults = {}
        for t0, t1, sensor, cause in p.faults:
            if t0 <= t < t1:
                faults[sensor] = cause
        yield t, _two_decimals(coil), _two_decimals(amb), _two_decimals(amps), faults
        k += 1


def _reading(r, coil, amb, amps, faults):
    nan = float("nan")
    return r.set(
        nan if "coil" in faults else coil,
        nan if "ambient" in faults else amb,
        nan if "ct" in faults else amps,
        faults.get("coil"),
        faults.get("ambient"),
        faults.get("ct"),
    )


def _first_cut_s(p, period_s, until_s):
    """When the firmware supervisor first cuts power on this profile (None if it does not)."""
    sup = Supervisor(None, Detector(), None, 0)
    r = Reading()
    for t, coil, amb, amps, faults in _samples(p, period_s, until_s):
        if sup.step(int(t * 1000), _reading(r, coil, amb, amps, faults)).power_cut:
            return t
    return None


def cold_morning(stuck_hold_s=3600):
    """-4 °C humid morning: two normal defrosts, then one that never ends (S-D3/S-D25 shapes)."""
    p = traces.Profile(-4.0, -4.0, 0.0)
    traces.heating(p, 50)
    traces.defrost(p, 7, 10.0)
    traces.heating(p, 60)
    traces.defrost(p, 8, 10.0)
    traces.heating(p, 45)
    return _stuck_defrost(p, stuck_hold_s)


COLD_PERIOD_S = 10


def cold_morning_csv():
    """The fixture text: the stuck defrost lasts until the supervisor cuts the power; the unit
    stays off 30 min, restarts 3 min after power returns and heats 40 min."""
    start = cold_morning(0).end_s
    cut = _first_cut_s(cold_morning(), COLD_PERIOD_S, start + 3600)
    p = cold_morning(cut - start)
    _cut_power(p, 33 * 60)
    traces.heating(p, 40)
    sup = Supervisor(None, Detector(), None, 0)
    r = Reading()
    out = ["t_s,coil_c,ambient_c,amps,relay\n"]
    for t, coil, amb, amps, faults in _samples(p, COLD_PERIOD_S):
        d = sup.step(int(t * 1000), _reading(r, coil, amb, amps, faults))
        out.append("%d,%.2f,%.2f,%.2f,%d\n" % (t, coil, amb, amps, d.power_cut))
    return "".join(out)


LOG_PERIOD_S = 30
REBOOT_AFTER_CUT_S = 600
REBOOT_DOWN_S = 8


def reboot_log():
    """The fixture device log: a stuck defrost is cut; 10 min into the power-off the board
    restarts (watchdog), which releases the relay, so the unit is powered early and restarts."""
    p = traces.Profile(-3.0, -3.0, 0.0)
    traces.heating(p, 50)
    traces.defrost(p, 7, 10.0)
    traces.heating(p, 40)
    hold_from = _stuck_defrost(_copy(p), 0).end_s
    cut = _first_cut_s(_stuck_defrost(_copy(p), 3600), LOG_PERIOD_S, hold_from + 3600)
    _stuck_defrost(p, cut - hold_from)
    rebooted = cut + REBOOT_AFTER_CUT_S
    _cut_power(p, REBOOT_AFTER_CUT_S + REBOOT_DOWN_S + 180)
    p.fault(p.end_s + 600, 120, "ct", states.FAULT_CT_BIAS)  # CT plug wiggled, 2 min
    traces.heating(p, 40)
    return device_log(p, LOG_PERIOD_S, LOG_START_TICK, reboot_at_s=rebooted)


def _copy(p):
    q = traces.Profile(p.coil[0], p.amb[0], p.amps[0])
    q.t, q.coil, q.amb, q.amps = list(p.t), list(p.coil), list(p.amb), list(p.amps)
    q.faults = list(p.faults)
    return q


def device_log(p, period_s, start_tick, reboot_at_s=None, cfg=None, person=()):
    """What `splitguard log` writes for a board sampling profile p: the board's own lines (real
    Supervisor, Reporter) plus host_t, boot ROM noise as raw lines, and a reboot if asked.

    person: (t_s, method) presses applied between samples, as the board's poll loop does.
    """
    dev = cfg if cfg is not None else default_device()
    store = MemoryStore()
    lines = []
    host = [0.0]

    def write(text):
        obj = json.loads(text)
        obj["host_t"] = round(HOST_T0 + host[0] + 0.02, 3)
        lines.append(json.dumps(obj))

    def boot(tick, t_s):
        host[0] = t_s
        sup = Supervisor(dev["supervisor"], Detector(dev["detector"]), store, tick)
        rep = Reporter(write)
        rep.hello(tick, "0.1.0", "esp32_devkitc", "cafe0001", "power_on" if t_s == 0 else "wdt")
        return sup, rep

    sup, rep = boot(start_tick, 0.0)
    boot_t = 0.0
    base = start_tick + 100
    r = Reading()
    presses = list(person)
    rebooted = reboot_at_s is None
    for t, coil, amb, amps, faults in _samples(p, period_s):
        if not rebooted and t >= reboot_at_s:
            if t < reboot_at_s + REBOOT_DOWN_S:
                continue  # the board is restarting: no samples
            rebooted = True
            host[0] = t - 1.5
            for text in ("ets Jul 29 2019 12:21:46", "rst:0x8 (TG1WDT_SYS_RESET),boot:0x13"):
                lines.append(
                    json.dumps({"host_t": round(HOST_T0 + t - 1.5, 3), "kind": "raw", "text": text})
                )
            sup, rep = boot(900, t - 1.0)
            boot_t = t
            base = 1000
        tick = (base + int((t - boot_t) * 1000)) % TICKS_PERIOD
        while presses and presses[0][0] <= t:
            at_s, method = presses.pop(0)
            at = (base + int((at_s - boot_t) * 1000)) % TICKS_PERIOD
            host[0] = at_s
            d = getattr(sup, method)(at, "button" if method == "clear_lockout" else "host")
            for ev in d.events:
                rep.event(at, ev)
            rep.sample(at, r, d)
        host[0] = t
        d = sup.step(tick, _reading(r, coil, amb, amps, faults))
        if d.fault is not None:
            rep.fault(tick, "store", d.fault)
        for ev in d.events:
            rep.event(tick, ev)
        rep.sample(tick, r, d)
    return "\n".join(lines) + "\n"


# -- helpers -----------------------------------------------------------------------------------


def _events(path, cfg=None, start_tick=0):
    out = []
    st = replay(open_trace(str(path)), cfg, out.append, start_tick)
    return [json.dumps(e) for e in out], st


def _write(tmp_path, text, name="trace.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _run(capsys, *argv):
    code = main(["replay", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _exp(path):
    return path.with_suffix(".exp")


# -- golden files ------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", [COLD_MORNING, REBOOT_LOG], ids=lambda p: p.name)
def test_replay_prints_exactly_the_expected_events(fixture):
    got, st = _events(fixture)
    want = _exp(fixture).read_text(encoding="utf-8").splitlines()
    assert got == want
    assert st.mismatches == 0 and st.checked == st.rows


def test_fixtures_are_what_their_builders_make():
    assert COLD_MORNING.read_text(encoding="utf-8") == cold_morning_csv()
    assert REBOOT_LOG.read_text(encoding="utf-8") == reboot_log()


def test_cold_morning_cycles_power_once_for_the_stuck_defrost_only():
    got, st = _events(COLD_MORNING)
    names = [json.loads(e)["event"] for e in got]
    assert names.count("defrost_start") == 3
    # The stuck defrost never ends by itself: its end is the unit stopping once power is cut.
    ends = [json.loads(e) for e in got if json.loads(e)["event"] == "defrost_end"]
    assert len(ends) == 3 and ends[2]["reason"].startswith("unit stopped")
    assert ends[2]["t_s"] > json.loads(got[names.index("power_off")])["t_s"]
    assert [n for n in names if n not in ("frost", "defrost_start", "defrost_end")] == [
        "defrost_too_long",
        "power_off",
        "power_on",
        "recovered",
    ]
    too_long = json.loads(got[names.index("defrost_too_long")])
    assert too_long["duration_s"] > 15 * 60  # past the 15 min limit (S-D1, S-D10) ...
    assert too_long["duration_s"] <= 15 * 60 + COLD_PERIOD_S  # ... by at most one sample
    off = json.loads(got[names.index("power_off")])
    on = json.loads(got[names.index("power_on")])
    assert on["t_s"] - off["t_s"] == 30 * 60
    assert st.sup_ms[states.POWER_OFF] == 30 * 60 * 1000


def test_a_reboot_during_power_off_powers_the_unit_early_and_keeps_the_cycle_counted():
    got, st = _events(REBOOT_LOG)
    evs = [json.loads(e) for e in got]
    assert st.reboots == 1
    early = [e for e in evs if e["event"] == "power_on"]
    assert len(early) == 1 and early[0]["early"] is True
    assert early[0]["cycles_in_window"] == 1  # the in-memory store carried it over the reboot
    assert evs[-1]["event"] == "sensor_ok" or "recovered" in [e["event"] for e in evs]
    assert st.cycles_in_window == 1
    assert st.reboot_ms >= REBOOT_DOWN_S * 1000
    assert st.mismatches == 0  # every logged decision, before and after the wrap and the reboot


def test_the_device_log_fixture_wraps_ticks_and_reboots():
    ticks = [json.loads(s)["t"] for s in REBOOT_LOG.read_text().splitlines() if '"sample"' in s]
    assert ticks[0] > TICKS_PERIOD - 26 * 60_000
    assert min(ticks) < 60_000  # wrapped (and restarted at the reboot)
    kinds = [json.loads(s).get("kind") for s in REBOOT_LOG.read_text().splitlines()]
    assert kinds.count("hello") == 2 and kinds.count("raw") == 2


# -- determinism -------------------------------------------------------------------------------


def test_two_replays_are_identical():
    a, sa = _events(COLD_MORNING)
    b, sb = _events(COLD_MORNING)
    assert a == b
    assert summary(sa) == summary(sb)


def test_the_start_tick_does_not_change_anything_even_across_the_wrap():
    a, sa = _events(COLD_MORNING)
    for start in (1, TICKS_PERIOD - 3_600_000, TICKS_PERIOD - 1):
        b, sb = _events(COLD_MORNING, start_tick=start)
        assert a == b
        assert sa.unit_ms == sb.unit_ms and sa.sup_ms == sb.sup_ms


# -- command line ------------------------------------------------------------------------------


def test_cli_prints_events_on_stdout_and_a_summary_on_stderr(capsys):
    code, out, err = _run(capsys, str(COLD_MORNING))
    assert code == 0
    assert out.splitlines() == _exp(COLD_MORNING).read_text().splitlines()
    first = json.loads(out.splitlines()[0])
    assert list(first)[:2] == ["t_s", "event"]
    assert "events: frost" in err
    assert "power cycles: 1 (recovered 1, not recovered 0)" in err
    assert "supervisor state time: WATCHING" in err and "POWER_OFF 30 min" in err
    assert "all match" in err


def test_cli_uses_the_config_given(tmp_path, capsys):
    cfg = _write(tmp_path, '{"supervisor": {"defrost_max_min": 60}}', "config.json")
    code, out, err = _run(capsys, str(COLD_MORNING), "--config", cfg)
    assert code == 0
    assert "defrost_too_long" not in out  # the stuck defrost lasted less than 60 min
    assert "differ from the replay" in err  # the recorded relay followed the 15 min default


def test_cli_rejects_a_bad_config_like_config_check(tmp_path, capsys):
    cfg = _write(tmp_path, '{"supervisor": {"power_off_min": 2}}', "config.json")
    code, out, err = _run(capsys, str(COLD_MORNING), "--config", cfg)
    assert code == 1 and out == ""
    assert "supervisor.power_off_min" in err
    assert err.splitlines()[-1].startswith("splitguard: ")


# -- bad input ---------------------------------------------------------------------------------

HEADER = "t_s,coil_c,ambient_c,amps\n"


def test_a_missing_column_is_named(tmp_path, capsys):
    path = _write(tmp_path, "t_s,coil_c,ambient_c\n0,-8,-2\n")
    code, out, err = _run(capsys, path)
    assert code == 1
    assert err.strip() == (
        "splitguard: %s: line 1: missing column amps (the header has: t_s, coil_c, ambient_c)"
        % path
    )


def test_a_non_numeric_cell_names_line_and_column(tmp_path, capsys):
    path = _write(tmp_path, HEADER + "0,-8,-2,4\n10,-8,-2,4\n20,-8,abc,4\n")
    code, _, err = _run(capsys, path)
    assert code == 1
    assert err.strip() == "splitguard: %s: line 4, column ambient_c: 'abc' is not a number" % path


def test_too_few_cells_names_the_line(tmp_path):
    path = _write(tmp_path, HEADER + "0,-8,-2,4\n10,-8,-2\n")
    with pytest.raises(TraceError, match=r"line 3: 3 cells, but the header names 4 columns"):
        _events(path)


def test_time_going_backwards_names_the_line(tmp_path, capsys):
    path = _write(tmp_path, HEADER + "0,-8,-2,4\n10,-8,-2,4\n5,-8,-2,4\n")
    code, _, err = _run(capsys, path)
    assert code == 1
    assert "line 4, column t_s: t_s 5 is earlier than 10 on line 3" in err


def test_a_file_cut_mid_line_replays_up_to_the_cut_and_says_so(tmp_path, capsys):
    whole = COLD_MORNING.read_text()
    cut_at = whole.index("\n", len(whole) // 2) + 7  # 6 characters into a row
    path = _write(tmp_path, whole[:cut_at])
    rows = whole[:cut_at].count("\n") - 1
    code, out, err = _run(capsys, path)
    assert code == 0
    assert (
        "line %d is cut short (no newline at the end of the file); replayed up to line %d"
        % (
            rows + 2,
            rows + 1,
        )
        in err
    )
    want = [
        e for e in _exp(COLD_MORNING).read_text().splitlines() if json.loads(e)["line"] <= rows + 1
    ]
    assert out.splitlines() == want
    assert "%d rows" % rows in err


def test_an_empty_file_and_a_header_only_file(tmp_path, capsys):
    empty = _write(tmp_path, "", "empty.csv")
    assert _run(capsys, empty)[0] == 1
    header = _write(tmp_path, HEADER, "header.csv")
    code, out, err = _run(capsys, header)
    assert code == 0 and out == "" and "0 rows" in err


def test_a_missing_file_is_an_error(tmp_path, capsys):
    code, _, err = _run(capsys, str(tmp_path / "nope.csv"))
    assert code == 1 and "nope.csv: cannot read" in err


# -- format details ----------------------------------------------------------------------------


def test_an_empty_cell_or_nan_is_a_missing_reading(tmp_path):
    text = HEADER + "".join("%d,-8,-2,4\n" % (10 * k) for k in range(6))
    text += "60,,-2,4\n70,-8,nan,4\n80,-8,-2,NaN\n90,-8,-2,4\n"
    got, st = _events(_write(tmp_path, text))
    evs = [json.loads(e) for e in got]
    fault = [e for e in evs if e["event"] == "sensor_fault"]
    assert len(fault) == 1
    assert (fault[0]["sensor"], fault[0]["fault"], fault[0]["line"]) == ("coil", MISSING, 8)
    assert fault[0]["coil_c"] is None  # NaN goes out as null
    ok = [e for e in evs if e["event"] == "sensor_ok"]
    assert len(ok) == 1 and ok[0]["fault_s"] == 30 and ok[0]["line"] == 11
    assert st.sensor_faults == {"coil missing": 1}


def test_a_fault_column_names_the_cause_and_wins_over_a_value(tmp_path):
    text = "t_s,coil_c,ambient_c,amps,coil_fault,ambient_fault,ct_fault\n"
    text += "0,-8,-2,4,,,\n10,-8,-2,4,,,\n20,-8,-2,4,,open,\n30,-8,-2,4,,,\n"
    got, _ = _events(_write(tmp_path, text))
    fault = json.loads(got[0])
    assert (fault["event"], fault["sensor"], fault["fault"]) == ("sensor_fault", "ambient", "open")
    assert fault["ambient_c"] is None


def test_extra_columns_quotes_comments_blank_lines_and_crlf_are_fine(tmp_path):
    base, _ = _events(COLD_MORNING)
    lines = COLD_MORNING.read_text().splitlines()
    out = ["# recorded by hand\r\n", "note,%s,site\r\n" % lines[0]]
    for k, row in enumerate(lines[1:]):
        out.append('"a, b",%s,x\r\n' % row if k % 2 else "plain,%s,\r\n" % row)
        if k == 10:
            out.append("\r\n")
    got, st = _events(_write(tmp_path, "".join(out)))
    strip = [{k: v for k, v in json.loads(e).items() if k != "line"} for e in got]
    assert strip == [{k: v for k, v in json.loads(e).items() if k != "line"} for e in base]
    assert st.mismatches == 0


def test_a_reboot_row_rebuilds_the_supervisor_and_the_24h_limit_survives_it(tmp_path):
    # One power cycle allowed per 24 h: the stuck defrost before the reboot uses it, so the one
    # after the reboot must lock out instead of cutting power again.
    cfg = validate_device({"supervisor": {"max_cycles_per_24h": 1}})
    p = traces.Profile(-4.0, -4.0, 0.0)
    traces.heating(p, 30)
    _stuck_defrost(p, 12 * 60)  # cut ~15 min in (the firmware finds when)
    _cut_power(p, 33 * 60)
    traces.heating(p, 20)
    reboot_s = p.end_s
    traces.heating(p, 30)
    _stuck_defrost(p, 20 * 60)
    traces.heating(p, 10)
    text = ["t_s,coil_c,ambient_c,amps,reboot\n"]
    flagged = False
    for t, coil, amb, amps, _ in _samples(p, 10):
        flag = not flagged and t >= reboot_s
        flagged = flagged or flag
        text.append("%d,%.2f,%.2f,%.2f,%d\n" % (t, coil, amb, amps, flag))
    path = _write(tmp_path, "".join(text))
    got, st = _events(path, cfg)
    names = [json.loads(e)["event"] for e in got]
    assert st.reboots == 1
    assert names.count("power_off") == 1
    assert names.count("lockout") == 1 and names.index("lockout") > names.index("power_off")
    lockout = json.loads(got[names.index("lockout")])
    assert lockout["cycles_in_window"] == 1 and lockout["t_s"] > reboot_s
    # Without the reboot row the same trace locks out the same way (one boot, same memory).
    plain = _write(tmp_path, "".join(text).replace(",1\n", ",0\n"), "plain.csv")
    names2 = [json.loads(e)["event"] for e in _events(plain, cfg)[0]]
    assert names2.count("lockout") == 1 and names2.count("power_off") == 1


def test_time_may_go_back_on_a_reboot_row_and_replay_time_stays_monotonic(tmp_path):
    text = "t_s,coil_c,ambient_c,amps,reboot\n0,-8,-2,4,0\n10,-8,-2,4,0\n3,-8,-2,4,1\n13,,-2,4,0\n"
    got, st = _events(_write(tmp_path, text))
    assert st.reboots == 1 and st.end_ms == 20_000
    assert json.loads(got[0])["t_s"] == 20.0  # the fault on line 5, 10 s after the reboot row


def test_a_relay_column_is_checked_against_the_replay(tmp_path):
    lines = COLD_MORNING.read_text().splitlines(keepends=True)
    k = next(i for i, s in enumerate(lines) if s.endswith(",1\n"))
    lines[k] = lines[k][:-2] + "0\n"
    _, st = _events(_write(tmp_path, "".join(lines)))
    assert st.mismatches == 1
    assert st.first_mismatch == "line %d: trace says power cut 0, replay 1" % (k + 1)


def test_a_bad_relay_or_reboot_flag_names_the_line(tmp_path):
    path = _write(tmp_path, "t_s,coil_c,ambient_c,amps,relay\n0,-8,-2,4,yes\n")
    with pytest.raises(TraceError, match=r"line 2, column relay: 'yes' is not 0, 1 or empty"):
        _events(path)


# -- device logs -------------------------------------------------------------------------------


def test_device_log_time_going_back_without_a_hello_names_the_line(tmp_path):
    lines = REBOOT_LOG.read_text().splitlines()
    hello2 = [i for i, s in enumerate(lines) if '"hello"' in s][1]
    del lines[hello2]
    first = next(i for i in range(hello2, len(lines)) if '"sample"' in lines[i])
    before = max(i for i in range(hello2) if '"sample"' in lines[i])
    path = _write(tmp_path, "\n".join(lines) + "\n", "log.jsonl")
    pattern = r"line %d, column t: device time t=1000 is \d+ ms before t=\d+ on line %d, with no "
    with pytest.raises(TraceError, match=pattern % (first + 1, before + 1)):
        _events(path)


def test_the_loggers_reboot_line_also_marks_a_reboot(tmp_path):
    text = REBOOT_LOG.read_text().replace(
        '"kind": "hello"', '"kind": "hullo"'
    )  # hellos lost in boot noise ...
    lines = text.splitlines()
    second = [i for i, s in enumerate(lines) if '"hullo"' in s][1]
    lines.insert(second, json.dumps({"host_t": HOST_T0, "kind": "reboot", "reason": "seq 0"}))
    got, st = _events(_write(tmp_path, "\n".join(lines) + "\n", "log.jsonl"))
    assert st.reboots == 1 and st.mismatches == 0
    want = _exp(REBOOT_LOG).read_text().splitlines()
    assert [json.loads(e)["event"] for e in got] == [json.loads(e)["event"] for e in want]


def test_device_log_cut_mid_line_and_non_json_lines(tmp_path):
    text = REBOOT_LOG.read_text()
    cut = _write(tmp_path, text + '{"v": 1, "kind": "sam', "cut.jsonl")
    _, st = _events(cut)
    assert st.trace.cut is not None and st.rows == _events(REBOOT_LOG)[1].rows
    bad = _write(tmp_path, text + "garbage\n" + text.splitlines()[-1] + "\n", "bad.jsonl")
    with pytest.raises(TraceError, match=r"line %d: not a JSON object" % (text.count("\n") + 1)):
        _events(bad)


def test_device_log_sample_with_a_string_value_names_line_and_field(tmp_path):
    line = json.dumps({"v": 1, "kind": "sample", "t": 5, "coil": "x", "amb": 1.0, "amps": 0.0})
    with pytest.raises(TraceError, match=r"line 1, column coil: 'x' is not a number"):
        _events(_write(tmp_path, line + "\n", "log.jsonl"))


def test_a_person_clearing_a_lockout_in_a_log_is_replayed(tmp_path):
    # One cycle allowed: the second stuck defrost locks out; a person clears it 20 min later.
    cfg = validate_device({"supervisor": {"max_cycles_per_24h": 1}})
    p = traces.Profile(-4.0, -4.0, 0.0)
    traces.heating(p, 30)
    _stuck_defrost(p, 12 * 60)
    _cut_power(p, 33 * 60)
    traces.heating(p, 40)
    _stuck_defrost(p, 16 * 60)
    lock_area = p.end_s
    traces.heating(p, 30)
    log = device_log(p, 30, 5000, cfg=cfg, person=[(lock_area + 20 * 60 + 7, "clear_lockout")])
    got, st = _events(_write(tmp_path, log, "log.jsonl"), cfg)
    names = [json.loads(e)["event"] for e in got]
    assert "lockout" in names and "lockout_cleared" in names
    assert names.index("lockout_cleared") > names.index("lockout")
    assert st.mismatches == 0 and st.checked == st.rows
    cleared = json.loads(got[names.index("lockout_cleared")])
    assert cleared["source"] == "button"


# -- the parallel reader -----------------------------------------------------------------------

BIG_ROWS = 300_000


def _big_csv(tmp_path, columns, rows=BIG_ROWS):
    """`rows` one-second rows of the bench's cold-spell pattern (a defrost every 60-90 min),
    with a coil sensor out for 3 min and a second one with a named cause, and, when `columns`
    has reboot, a reboot row whose time goes back 100 s."""
    from bench.bench_replay import write_trace

    buf = io.StringIO()
    write_trace(buf, rows)
    lines = buf.getvalue().splitlines()[1:]
    full = columns == "full"
    out = [HEADER.rstrip("\n") + (",coil_fault,reboot\n" if full else "\n")]
    for i, line in enumerate(lines):
        t, coil, amb, amps = line.split(",")
        cause = reboot = ""
        if rows // 3 <= i < rows // 3 + 180:
            coil = ""  # open thermistor, cause not given
        elif rows // 2 <= i < rows // 2 + 90 and full:
            coil, cause = "-7.5", "short"
        elif i == rows * 2 // 3 and full:
            t, reboot = str(int(t) - 100), "1"
        if i == rows * 5 // 6:
            out.append("# a comment the fast path hands to the careful one\n")
        out.append(
            "%s,%s,%s,%s,%s,%s\n" % (t, coil, amb, amps, cause, reboot)
            if full
            else "%s,%s,%s,%s\n" % (t, coil, amb, amps)
        )
    return _write(tmp_path, "".join(out), "big_%s.csv" % columns)


def _both_ways(path):
    runs = []
    for parallel in (False, True):
        out = []
        err = None
        try:
            st = replay(open_trace(path), None, out.append, 0, parallel)
        except TraceError as exc:
            st, err = None, str(exc)
        runs.append((out, None if st is None else summary(st), err))
    return runs


@pytest.mark.parametrize("columns", ["plain", "full"])
def test_the_parallel_reader_replays_a_large_csv_exactly_as_the_sequential_one(tmp_path, columns):
    path = _big_csv(tmp_path, columns)
    assert any(type(b) is bytes for b in open_trace(path).blocks(True))
    (seq, seq_sum, _), (par, par_sum, _) = _both_ways(path)
    names = {e["event"] for e in seq}
    assert {states.EV_DEFROST_START, states.EV_SENSOR_FAULT} <= names
    assert par == seq
    assert par_sum == seq_sum
    assert "%d rows" % BIG_ROWS in seq_sum[0]
    if columns == "full":
        assert ", 1 reboot" in seq_sum[0]


def test_the_parallel_reader_stops_at_a_bad_cell_after_the_same_events(tmp_path):
    path = _big_csv(tmp_path, "plain", 20_000)
    text = Path(path).read_text()
    at = text.index("\n", len(text) * 3 // 4) + 1
    line = text.count("\n", 0, at) + 1
    Path(path).write_text(text[:at] + "17,-8,abc,4\n" + text[at:])
    (seq, _, seq_err), (par, _, par_err) = _both_ways(path)
    assert seq_err == "%s: line %d, column ambient_c: 'abc' is not a number" % (path, line)
    assert par_err == seq_err
    assert par == seq and seq


def test_the_parallel_reader_replays_a_cut_large_file_up_to_the_cut(tmp_path, capsys):
    path = _big_csv(tmp_path, "plain", 20_000)  # 500 kB: the command line forks too
    text = Path(path).read_text()
    Path(path).write_text(text[: text.index("\n", len(text) // 2) + 5])
    (seq, seq_sum, _), (par, par_sum, _) = _both_ways(path)
    assert "is cut short (no newline at the end of the file); replayed up to" in seq_sum[0]
    assert (par, par_sum) == (seq, seq_sum)
    code, out, err = _run(capsys, path)
    assert code == 0
    assert out.splitlines() == [json.dumps(e) for e in seq]
    assert err.splitlines() == seq_sum


# -- regenerate the fixtures -------------------------------------------------------------------


def _regen():
    TRACES.mkdir(parents=True, exist_ok=True)
    COLD_MORNING.write_text(cold_morning_csv(), encoding="utf-8")
    REBOOT_LOG.write_text(reboot_log(), encoding="utf-8")
    for fixture in (COLD_MORNING, REBOOT_LOG):
        got, st = _events(fixture)
        _exp(fixture).write_text("".join(e + "\n" for e in got), encoding="utf-8")
        print("%s: %d rows, %d events" % (fixture.name, st.rows, len(got)))
        for line in summary(st):
            print("  " + line)


if __name__ == "__main__":
    if sys.argv[1:] != ["--regen"]:
        sys.exit("usage: python tests/host/test_replay.py --regen")
    _regen()
