"""Every accepted setting runs on the board: the real firmware boots with the boundary values.

The defect this guards against: `boot_settle_min: 1.5` and `sample_period_s: 2.5` passed
`splitguard config check` and then crashed the ESP32 in a loop (time.ticks_add and time.sleep_ms
take only ints on MicroPython; CPython and the fake clocks take floats, so no unit test saw it).

The cases come from config.field_list(), the validator's own tables: for every number setting
its lowest and highest allowed value and, where fractions are allowed, a fractional one; every
choice of a choice. They are packed greedily into as few device configs as validation accepts
(one value per setting per config, one CT type per config, sensor specs apart from the plain
settings), and each config is booted on the virtual board (docs/virtual-board.md): boot.py and
main.py as `make flash` puts them on the board, the real splitguard.app.main() in the
MicroPython WebAssembly VM, simulated time at full speed, two or three boards at a time.

Each board must say hello with the hash of exactly that config, send samples past its boot
settle time (the watchdog armed) and never send a `fault` of where "crash" (or reset). The
configs with short timers (the lowest and the fractional values, default sensors) also take a
`power_cycle` and must hold power off exactly power_off_min (5 and 5.5 min). Each of the first
boards is also sent a `config_set` of whole and quarter settings off their steps, which it must
refuse naming every field.

The virtual board's sleep_ms/sleep_us accept floats where the ESP32 raises TypeError, so the
test puts the ESP32's int-only behaviour in front of boot.py (ESP32_INT_ONLY); without it a
float period would not crash here as it does on the chip.

A value no valid config can hold (the top of frost_ambient_min_c: the band's upper end cannot be
above 10) is booted one step inside, next to its partner at its own extreme; only the ordered
pairs named in ORDERED may need that, so a new cross-field rule fails here until it is named.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import serial
from splitguard import config

from host_tools import mpy
from host_tools.protocol import Message, parse_line
from host_tools.vboard.host import VirtualBoard

REPO = Path(__file__).resolve().parents[2]

NO_VM = shutil.which("node") is None or not (REPO / "node_modules" / "@micropython").is_dir()
pytestmark = pytest.mark.skipif(
    NO_VM and not os.environ.get("CI"),
    reason="the virtual board needs Node.js and `npm ci` (make demo installs it)",
)

NUMBER_KINDS = ("number", "whole", "quarter")
# Settings that must stay ordered (first < second); a path matches by its end, so the rails of
# both CT types are covered. Known cross-field rules of splitguard.config / CTClamp.
ORDERED = (
    ("detector.frost_ambient_min_c", "detector.frost_ambient_max_c"),
    (".low_uv", ".high_uv"),
    (".bias_min_uv", ".bias_max_uv"),
)
STEP = {"number": 0.5, "whole": 1, "quarter": 0.25}
SIM_MIN_MS = 3 * 60_000  # at least three simulated minutes on every board
WALL_TIMEOUT_S = 60.0  # per board; a healthy one needs a few seconds
WORKERS = max(1, min(3, os.cpu_count() or 1))
POWER_CYCLE_MAX_MS = 12 * 60_000  # settle + off + recovery: only configs this quick cycle


# -- cases from the validator's tables ---------------------------------------------------------


def _fraction(kind, lo, hi):
    """A value strictly inside lo..hi with a fractional part, or None for whole settings."""
    if kind == "quarter":
        return lo + 0.5  # e.g. boot_settle_min 1.5, the value that crashed the board
    if kind == "number":
        v = lo + (hi - lo) / 3.0  # a third: no short binary or decimal fraction
        return v + 1.0 / 3.0 if v == int(v) else v
    return None


def cases():
    """(path, kind, value, variant) for every boundary of every device setting."""
    out = []
    for path, kind, _default, lo, hi, _unit in config.field_list():
        if kind in NUMBER_KINDS:
            out.append((path, kind, lo, "lo"))
            out.append((path, kind, hi, "hi"))
            frac = _fraction(kind, lo, hi)
            if frac is not None:
                out.append((path, kind, frac, "frac"))
        elif kind == "choice":
            for i, choice in enumerate(lo):
                out.append((path, kind, choice, "lo" if i == 0 else "hi"))
    order = {"lo": 0, "hi": 1, "frac": 2}
    return sorted(out, key=lambda c: order[c[3]])


def _spec_slot(path):
    """(slot, form_or_type, field) for a sensor spec path, or None for a plain setting."""
    parts = path.split(".")
    if parts[0] in ("coil_thermistor", "ambient_thermistor", "ct"):
        return parts[0], parts[1], parts[2]
    return None


def _base_spec(slot, form):
    """The spec a sensor case starts from: the default spec, or the form's required fields at
    mid-range (each valid on its own)."""
    default = config.default_device()[slot]
    if slot == "ct" and default["type"] == form:
        return dict(default)
    if slot != "ct" and form in default:
        return {form: dict(default[form])}
    body = {}
    for path, _kind, need, lo, hi, _unit in config.field_list():
        here = _spec_slot(path)
        if here and here[:2] == (slot, form) and need == "required":
            body[here[2]] = (lo + hi) / 2
    return dict(body, type=form) if slot == "ct" else {form: body}


def _put(data, forms, path, value):
    """Set `path` to value in the device config `data`; False when the config already tests
    another form (thermistor) or type (CT) in that sensor's slot. forms: slot -> form in use."""
    here = _spec_slot(path)
    if here is None:
        parts = path.split(".")
        node = data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
        return True
    slot, form, field = here
    if forms.get(slot, form) != form:
        return False
    if slot not in forms:
        data[slot] = _base_spec(slot, form)
        forms[slot] = form
    body = data[slot] if slot == "ct" else data[slot][form]
    body[field] = value
    return True


def _valid(data):
    try:
        return config.validate_device(data, "config.json")
    except config.ConfigError:
        return None


def _partner(path):
    """(partner path, "below" if path must stay below it else "above"), or (None, None)."""
    for a, b in ORDERED:
        if path.endswith(a):
            return path[: len(path) - len(a)] + b, "below"
        if path.endswith(b):
            return path[: len(path) - len(b)] + a, "above"
    return None, None


def _first_fit(items, boards):
    """Put each item (a list of (path, value)) into the first config it fits; the rest back."""
    left = []
    for item in items:
        for board in boards + [None]:
            if board is None:
                board = {"data": {}, "forms": {}, "taken": set()}
                fresh = True
            else:
                fresh = False
            if any(path in board["taken"] for path, _ in item):
                continue
            data, forms = copy.deepcopy(board["data"]), dict(board["forms"])
            if all(_put(data, forms, path, v) for path, v in item) and _valid(data) is not None:
                board.update(data=data, forms=forms)
                board["taken"].update(path for path, _ in item)
                if fresh:
                    boards.append(board)
                break
        else:
            left.append(item)
    return left


def pack():
    """Device configs covering every case, and a line for each case booted one step inside.

    Plain settings and sensor specs go into separate configs: the plain ones then run with the
    default sensors, whose readings are healthy, so a power cycle can run on them too.
    """
    bounds = {c[0]: (c[1], c[3], c[4]) for c in config.field_list()}
    plain, sensors = [], []
    left = []
    for path, _kind, value, _variant in cases():
        group = plain if _spec_slot(path) is None else sensors
        left += _first_fit([[(path, value)]], group)
    # What fits nowhere on its own is one end of an ordered pair: with its partner at the far
    # end, or, where even that cannot be valid (the band's top end at the top), one step inside.
    paired, nudged = [], []
    for ((path, value),) in left:
        partner, side = _partner(path)
        assert partner is not None, (
            "%s = %r fits no valid config: if a cross-field rule makes it unreachable, name "
            "the pair in ORDERED" % (path, value)
        )
        kind, lo, hi = bounds[path]
        far = bounds[partner][2] if side == "below" else bounds[partner][1]
        item = [(path, value), (partner, far)]
        if _first_fit([item], []):  # not valid even so
            inside = value + (STEP[kind] if value == lo else -STEP[kind])
            item = [(path, inside), (partner, far)]
            nudged.append("%s %r -> %r" % (path, value, inside))
        paired.append(item)
    for item in paired:
        # A plain pair may join a sensor config (it leaves the sensors alone), not the reverse.
        group = plain + sensors if _spec_slot(item[0][0]) is None else sensors
        n = len(group)
        assert not _first_fit([item], group), item
        (plain if group is not sensors else sensors).extend(group[n:])
    return [b["data"] for b in plain + sensors], nudged


# -- booting one config ------------------------------------------------------------------------


# The virtual board's time.sleep_ms/sleep_us turn a float into an int where the ESP32 port
# raises TypeError (mp_obj_get_int), the very crash this test is about; its ticks_add and
# ticks_diff already raise. Put in front of the unchanged boot.py, this gives them the ESP32's
# strictness before anything else runs (every boot runs boot.py, so every new VM gets it).
ESP32_INT_ONLY = """\
import time as _t


def _int_only(f, name):
    def g(*args):
        for a in args:
            if type(a) is not int:
                raise TypeError("%s: can't convert %s to int" % (name, type(a).__name__))
        return f(*args)

    return g


for _n in ("sleep_ms", "sleep_us", "ticks_add", "ticks_diff"):
    setattr(_t, _n, _int_only(getattr(_t, _n), _n))
del _t, _int_only, _n
# --- the firmware's own boot.py follows, unchanged ---
"""


@pytest.fixture(scope="module")
def firmware_dir(tmp_path_factory):
    """The flash as `make flash` leaves it (boot.py, main.py and the compiled package), with
    the ESP32's int-only clock calls in front of boot.py."""
    d = tmp_path_factory.mktemp("flash")
    results = mpy.build(d, march="")
    assert not [r for r in results if r.error]
    boot = d / "boot.py"
    boot.write_text(ESP32_INT_ONLY + boot.read_text(encoding="utf-8"), encoding="utf-8")
    shutil.copy(REPO / "boards" / "esp32_devkitc.json", d / "board.json")
    return d


def _plan(data: dict) -> dict:
    """How long to run a config, and whether to ask it for a power cycle."""
    cfg = config.validate_device(data, "config.json")
    sup = cfg["supervisor"]
    settle_ms = int(sup["boot_settle_min"] * 60_000)
    period_ms = cfg["sample_period_s"] * 1000
    # Past the settle time (the watchdog is armed there) by two samples, three minutes at least.
    until_ms = max(SIM_MIN_MS, settle_ms + 2 * period_ms + 1000)
    # With the default sensors (healthy readings) and short timers, also one power cycle: the
    # off time and the recovery wait run on the board with these values.
    off_ms = int(sup["power_off_min"] * 60_000)
    recover_ms = int(sup["recovery_timeout_min"] * 60_000)
    cycle = not any(_spec_slot(k + ".x.y") for k in data)
    cycle = cycle and settle_ms + off_ms + recover_ms <= POWER_CYCLE_MAX_MS
    if cycle:
        until_ms = settle_ms + 2 * period_ms + off_ms + recover_ms + 2 * period_ms
    return {
        "hash": config.config_hash(cfg),
        "until_ms": until_ms,
        "settle_ms": settle_ms,
        "period_ms": period_ms,
        "off_ms": off_ms if cycle else None,
    }


def rejected_sets():
    """config_set patches of values the board must refuse, naming each field: every whole or
    quarter setting off its step (lo + 0.3), four to a command (a reply lists up to 8)."""
    bad = [
        (path, lo + 0.3)
        for path, kind, _d, lo, _hi, _u in config.field_list()
        if kind in ("whole", "quarter") and _spec_slot(path) is None
    ]
    out = []
    for i in range(0, len(bad), 4):
        patch = {}
        for path, value in bad[i : i + 4]:
            _put(patch, {}, path, value)
        out.append((patch, [p for p, _ in bad[i : i + 4]]))
    return out


def _boot(flash: Path, data: dict, reject=None) -> dict:
    """Boot the board with this device config; what it said, and why it stopped listening.
    `reject`: a (patch, paths) config_set the board must refuse, sent after the first sample."""
    (flash / "config.json").write_text(json.dumps(data), encoding="utf-8")
    out = dict(_plan(data), msgs=[], raw=[], reject=reject)
    t0 = time.monotonic()
    with VirtualBoard(speed=1e6, fs_dir=str(flash), start="now") as vb:
        with serial.Serial(vb.port, 115200, timeout=0.1) as s:
            buf = b""
            done = asked = sent = False
            while not done:
                if time.monotonic() - t0 > WALL_TIMEOUT_S or vb.error:
                    out["stopped"] = vb.error or "wall-clock timeout"
                    break
                buf += s.read(65536)
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    text = line.decode("utf-8", "replace").strip()
                    msg = parse_line(text)
                    if not isinstance(msg, Message):
                        if text:
                            out["raw"].append(text)
                        if text.startswith("{"):
                            done = True  # a line the host cannot take (e.g. "t": 2500.0)
                        continue
                    out["msgs"].append(msg)
                    if msg.kind == "fault" and msg.get("where") == "crash":
                        done = True  # the board resets after this; that is the finding
                    if msg.kind != "sample":
                        continue
                    if reject and not sent:
                        cmd = {"cmd": "config_set", "id": "reject", "config": reject[0]}
                        s.write(json.dumps(cmd).encode() + b"\n")
                        sent = True
                    if msg.t >= out["until_ms"]:
                        done = True
                    elif (
                        out["off_ms"] and not asked and msg.t > out["settle_ms"] + out["period_ms"]
                    ):
                        s.write(b'{"cmd": "power_cycle", "id": "boundaries"}\n')
                        asked = True
        out["dropped"] = vb.dropped
    out["wall_s"] = time.monotonic() - t0
    return out


def _problems(data: dict, got: dict) -> list[str]:
    msgs = got["msgs"]
    hellos = [m for m in msgs if m.kind == "hello"]
    samples = [m for m in msgs if m.kind == "sample"]
    bad = []
    if got.get("stopped"):
        bad.append("stopped: %s" % got["stopped"])
    if got["dropped"]:
        bad.append("the line lost %d bytes: the check cannot see everything" % got["dropped"])
    for m in msgs:
        if m.kind == "fault" and m.get("where") in ("crash", "config", "boot"):
            bad.append("fault %s: %s" % (m.get("where"), m.get("error")))
    if len(hellos) != 1:
        bad.append("%d hello lines (a reset?)" % len(hellos))
    elif hellos[0].get("config") != got["hash"]:
        bad.append("hello config %s, expected %s" % (hellos[0].get("config"), got["hash"]))
    if not samples or samples[-1].t < got["until_ms"]:
        bad.append("samples stopped at t=%s ms" % (samples[-1].t if samples else None))
    for r in got["raw"]:
        if r.startswith("{"):
            bad.append("not a protocol line: %s" % r[:300])
            break
    if [r for r in got["raw"] if "Traceback" in r]:
        bad.append("traceback: %s" % " | ".join(got["raw"][-6:]))
    if got["off_ms"]:
        bad += _power_cycle_problems(msgs, got["off_ms"], got["period_ms"])
    if got["reject"]:
        bad += _rejection_problems(msgs, got["reject"][1])
    if bad:
        bad.insert(0, "config %s" % json.dumps(data, sort_keys=True))
    return bad


def _rejection_problems(msgs, paths):
    replies = [m for m in msgs if m.kind == "reply" and m.get("id") == "reject"]
    if not replies:
        return ["no reply to the config_set of %s" % ", ".join(paths)]
    r = replies[0]
    errors = r.get("errors") or []
    bad = []
    if r.get("ok") is not False or r.get("problems") != len(paths):
        bad.append("config_set of %s: %s" % (", ".join(paths), r.data))
    for path in paths:
        if not [e for e in errors if e.startswith("config.json: %s: " % path)]:
            bad.append("config_set: no error names %s: %s" % (path, errors))
    return bad


def _power_cycle_problems(msgs, off_ms, period_ms):
    replies = [m for m in msgs if m.kind == "reply" and m.get("id") == "boundaries"]
    if not replies or replies[0].get("ok") is not True:
        return ["power_cycle not accepted: %s" % (replies[0].data if replies else "no reply")]
    events = {}
    for m in msgs:
        if m.kind == "event":
            events.setdefault(m.get("event"), m)
    if "power_off" not in events or "power_on" not in events:
        return ["power cycle events: %s" % sorted(events)]
    held = events["power_on"].t - events["power_off"].t
    # Power comes back at the first sample on or after the off time.
    if not off_ms <= held <= off_ms + period_ms:
        return ["power held off %d ms, expected %d ms (+ up to one sample)" % (held, off_ms)]
    return []


def test_every_settings_boundary_values_boot_the_real_firmware(firmware_dir, tmp_path):
    configs, nudged = pack()
    covered = {c[0] for c in cases()}
    assert {p for p, k, *_ in config.field_list() if k in NUMBER_KINDS + ("choice",)} == covered
    rejects = rejected_sets()
    assert len(rejects) <= len(configs)

    def run(i):
        flash = tmp_path / ("board%d" % i)
        shutil.copytree(firmware_dir, flash)
        return _boot(flash, configs[i], rejects[i] if i < len(rejects) else None)

    t0 = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(run, range(len(configs))))
    wall = time.monotonic() - t0
    problems = []
    for data, got in zip(configs, results, strict=True):
        problems += _problems(data, got)
    summary = "%d configs on %d workers in %.1f s (%s); nudged: %s" % (
        len(configs),
        WORKERS,
        wall,
        ", ".join("%.1f" % r["wall_s"] for r in results),
        "; ".join(nudged) or "none",
    )
    print(summary)
    assert not problems, "\n".join(problems + [summary])
