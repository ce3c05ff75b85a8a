"""Every path to the relay goes through one gate (docs/safety.md, promise 2), checked in the source.

The firmware may *release* the relay anywhere (released means the unit is powered: boot, crash,
reboot, REPL handover, safe mode), but only `App.drive_relay()` may set it from a decision, and
that decision is the supervisor's. A new call that could cut power elsewhere fails this test.
"""

import ast
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


def _calls():
    for path in sorted(FIRMWARE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
        for func in funcs:
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "set_power_cut"
                ):
                    yield path.relative_to(FIRMWARE), func.name, node


def test_only_drive_relay_sets_the_relay_from_a_decision_everything_else_releases_it():
    seen = []
    for path, func, call in _calls():
        (arg,) = call.args
        if isinstance(arg, ast.Constant) and arg.value is False:
            seen.append((str(path), func, "release"))
            continue
        assert (str(path), func) == ("splitguard/app.py", "drive_relay"), (path, func)
        assert ast.unparse(arg) == "self.supervisor.decision.power_cut"
        seen.append((str(path), func, "gate"))
    assert ("splitguard/app.py", "drive_relay", "gate") in seen
    # The release paths the safety case relies on are still there.
    assert ("splitguard/app.py", "main", "release") in seen
    assert ("splitguard/safemode.py", "run", "release") in seen


def test_the_gate_check_would_catch_a_second_path():
    src = "def start_relay_test(self):\n    self.hal.set_power_cut(True)\n"
    call = next(n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call))
    assert not (isinstance(call.args[0], ast.Constant) and call.args[0].value is False)
