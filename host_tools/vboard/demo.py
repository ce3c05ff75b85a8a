"""`splitguard demo` (`make demo`): the whole chain on a virtual board, or flash a real one.

Without --port: start the virtual board on a cold humid morning whose second defrost sticks,
flash it through mpremote exactly as a real board is flashed, log everything it sends (from a
read-only tap of its serial line), show it live in `splitguard monitor`, and at the end write the
plot and print where the log and the plot are. At --speed 60 the morning's three hours pass in
about three minutes: frost, a normal defrost, the stuck defrost, the power cycle, the recovery,
and the next normal defrost.

With --port: flash that board (the relay test asks first) and open the monitor on it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from host_tools import flash
from host_tools.errors import CliError
from host_tools.vboard.host import REPO, VirtualBoard

DEMO_SCENARIO = "stuck_defrost_fixed"
# Enough for: frost, a normal defrost (~30 min), the stuck one (~95 min), 30 min off, recovery
# (~142 min) and the next normal defrost (~170 min) — timings from `splitguard simulate`.
DEMO_HOURS = 2.95
DEMO_SPEED = 60.0
OUT = REPO / "build" / "demo"
# If scenarios/ lacks the demo scenario: the same morning, described here.
FALLBACK = {
    "name": "cold_morning_stuck_defrost",
    "title": "Cold humid morning; the second defrost never ends",
    "seed": 1,
    "weather": {
        "ambient_c": {"mean": -3, "amplitude": 3, "peak_h": 15},
        "humidity_pct": {"mean": 88, "amplitude": 6, "peak_h": 4},
    },
    "faults": [{"type": "stuck_defrost", "at_min": 90, "fixed_by_power_cycle": True}],
}


def say(text: str) -> None:
    print("demo: %s" % text, flush=True)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "host_tools.cli", *args]


def _scenario() -> dict:
    from host_tools.simulate import load_scenario

    try:
        return load_scenario(DEMO_SCENARIO)
    except CliError:
        return dict(FALLBACK)


def _stop(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)  # both tools end cleanly on Ctrl-C
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _events(log_dir: Path) -> list[dict]:
    out = []
    for path in sorted(log_dir.glob("*.jsonl")):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                with contextlib.suppress(ValueError):
                    obj = json.loads(line)
                    if obj.get("kind") == "event":
                        out.append(obj)
    return out


def virtual_demo(speed: float, hours: float, out: Path) -> int:
    from host_tools.simulate import device_config

    scenario = _scenario()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    log_dir = out / "log"
    cfg_path = out / "config.json"
    cfg_path.write_text(json.dumps(device_config(scenario), indent=2) + "\n")
    title = scenario.get("title", scenario.get("name"))
    say("scenario %s: %s" % (scenario.get("name"), title))
    vb = VirtualBoard(
        scenario,
        "esp32_devkitc",
        speed=speed,
        link=str(out / "board.tty"),
        tap=str(out / "tap.tty"),
        hours=hours,
        on_note=say,
    )
    port = vb.start()
    say("virtual board on %s (%s), %g h at %gx" % (port, os.path.realpath(port), hours, speed))
    logger = monitor = None
    try:
        with open(out / "log.stderr", "w") as err:
            logger = subprocess.Popen(
                _cli("log", "--port", str(out / "tap.tty"), "-o", str(log_dir)),
                stdout=err,
                stderr=err,
                cwd=str(REPO),
            )
        say("flashing it through mpremote, as `make flash PORT=%s` would" % port)
        failed = flash.flash(port, "esp32_devkitc", cfg_path, relay="no")
        if failed:
            raise CliError("the virtual board failed its bring-up check")
        say("live monitor (Ctrl-C ends the demo early)")
        monitor = subprocess.Popen(_cli("monitor", "--port", port), cwd=str(REPO))
        while not vb.ended.wait(0.5):
            if monitor.poll() is not None:
                break
    except KeyboardInterrupt:
        say("stopped early")
    finally:
        _stop(monitor)
        _stop(logger)
        vb.stop()
    if vb.error:
        raise CliError(vb.error)
    return _finish(out, log_dir, vb)


def _finish(out: Path, log_dir: Path, vb: VirtualBoard) -> int:
    png = out / "demo.png"
    logs = sorted(log_dir.glob("*.jsonl"))
    if not logs:
        raise CliError("no log was written (see %s)" % (out / "log.stderr"))
    proc = subprocess.run(
        _cli("plot", *[str(p) for p in logs], "-o", str(png)),
        cwd=str(REPO),
        capture_output=True,
        text=True,
    )
    events = _events(log_dir)
    counts: dict[str, int] = {}
    for ev in events:
        counts[ev["event"]] = counts.get(ev["event"], 0) + 1
    say(
        "the board reported: %s" % (", ".join("%s %d" % kv for kv in counts.items()) or "no events")
    )
    say(
        "plant ground truth: %d defrosts (%d stuck), power cut at %s"
        % (
            len(vb.plant.defrosts),
            sum(1 for d in vb.plant.defrosts if d.get("stuck")),
            ", ".join("%.0f min" % (t / 60) for t, cut in vb.relay_log if cut) or "never",
        )
    )
    say("log:  %s" % ", ".join(str(p) for p in logs))
    if proc.returncode == 0:
        say("plot: %s" % png)
    else:
        say("plot failed: %s" % (proc.stderr.strip() or proc.stdout.strip()))
    say("replay the log through the same logic: splitguard replay %s" % logs[0])
    return 0 if proc.returncode == 0 else 1


def hardware_demo(port: str, board: str | None) -> int:
    failed = flash.flash(port, board)
    if failed:
        say("bring-up found problems (above); opening the monitor anyway")
    with contextlib.suppress(KeyboardInterrupt):
        return subprocess.call(_cli("monitor", "--port", port), cwd=str(REPO))
    return 0


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", help="flash this real board and monitor it (default: virtual)")
    parser.add_argument("--board", help="board file for --port (default: detect)")
    parser.add_argument("--speed", type=float, default=DEMO_SPEED, help="virtual board speed")
    parser.add_argument("--hours", type=float, default=DEMO_HOURS, help="scenario hours to run")
    parser.add_argument("-o", "--out", default=str(OUT), help="folder for log and plot")


def run(args: argparse.Namespace) -> int:
    if args.port:
        return hardware_demo(args.port, args.board)
    started = time.monotonic()
    rc = virtual_demo(args.speed, args.hours, Path(args.out))
    say("done in %.0f s" % (time.monotonic() - started))
    return rc


if __name__ == "__main__":
    from host_tools.cli import main

    sys.exit(main(["demo", *sys.argv[1:]]))
