"""How much attack the whole-board adversarial suite delivers per minute of CPU.

Runs random histories of tests/host/test_board_adversarial.py (the real App, Store on a real
folder with injected write failures and power loss, reboots, bytes, commands racing decisions)
for a fixed time and counts histories, board calls, serial bytes, reboots and cuts checked.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from bench.table import Row

ROOT = Path(__file__).resolve().parent.parent
RUN_S = 20.0


def _history(rng, adv):
    kinds = ("wait", "wait", "cmd", "cmd", "bytes", "unit", "sensor", "flash", "lose", "reboot")
    waits = (1, 5, 30, 60, 300, 900, 3600)
    actions = []
    sent = 0
    for _ in range(rng.randrange(5, 40)):
        k = rng.choice(kinds)
        if k == "wait":
            actions.append(("wait", rng.choice(waits)))
        elif k == "cmd":
            data = rng.choice(adv._COMMANDS) + b"\n"
            sent += len(data)
            actions.append(("bytes", data))
        elif k == "bytes":
            data = rng.randbytes(rng.randrange(1, 40))
            sent += len(data)
            actions.append(("bytes", data))
        elif k == "unit":
            actions.append(("unit", rng.choice(("OFF", "RUNNING", "FROSTING", "DEFROSTING"))))
        elif k == "sensor":
            actions.append(("sensor", rng.random() < 0.5))
        elif k == "flash":
            actions.append(("flash", rng.choice(("ok", "ok", "full", "no_rename_over"))))
        elif k == "lose":
            actions.append(("lose_power", rng.randrange(7)))
        else:
            actions.append(("reboot", None))
    return actions, sent


def run() -> list[Row]:
    for sub in ("firmware", "tests/firmware", "tests/firmware/fakes"):
        p = str(ROOT / sub)
        if p not in sys.path:
            sys.path.insert(0, p)
    sys.path.insert(0, str(ROOT / "tests" / "host"))
    import test_board_adversarial as adv

    rng = random.Random(11)
    histories = actions = sent = reboots = cuts = 0
    board_hours = 0.0
    start = time.process_time()
    while time.process_time() - start < RUN_S:
        acts, n = _history(rng, adv)
        board = adv.run_history(acts, rng.randrange(1 << 30))
        histories += 1
        actions += len(acts)
        sent += n
        reboots += board.reboots
        cuts += len(board.cut_starts)
        board_hours += board.t / 3_600_000
    per_min = 60.0 / (time.process_time() - start)
    g = "adversarial suite"
    return [
        Row(g, "whole-board histories", round(histories * per_min), "/CPU min"),
        Row(g, "attacker actions", round(actions * per_min), "/CPU min"),
        Row(g, "serial bytes sent", round(sent * per_min), "/CPU min"),
        Row(g, "reboots / power losses", round(reboots * per_min), "/CPU min"),
        Row(g, "cuts checked", round(cuts * per_min), "/CPU min"),
        Row(g, "board time simulated", round(board_hours * per_min), "h/CPU min"),
    ]
