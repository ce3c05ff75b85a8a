"""Shared pytest set-up: firmware tests run twice, under CPython and inside a MicroPython VM.

Every `test_*` function in tests/firmware/ is collected as usual (CPython) and a second time as
`[micropython]` items, which run the same module inside the real MicroPython VM from
host_tools.mpvm. The VM runs the module once and reports each test on its own line, so a failure
in the VM names the test and carries MicroPython's own traceback.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

FIRMWARE_TESTS = Path(__file__).parent / "firmware"
_MARK = "@@splitguard-test "

_RUNNER = """
import sys, io, json
sys.path.insert(0, '/repo/tests/firmware/fakes')
sys.path.insert(0, '/repo/tests/firmware')
mod = __import__(%(module)r)
for name in %(names)r:
    try:
        getattr(mod, name)()
        print(%(mark)r + json.dumps({"t": name, "ok": True}))
    except Exception as e:
        buf = io.StringIO()
        sys.print_exception(e, buf)
        print(%(mark)r + json.dumps({"t": name, "ok": False, "tb": buf.getvalue()}))
"""


_VM = {}


def _vm():
    if "vm" not in _VM:
        from host_tools.mpvm import MicroPythonVM

        _VM["vm"] = MicroPythonVM()
    return _VM["vm"]


def pytest_unconfigure(config):
    vm = _VM.pop("vm", None)
    if vm is not None:
        vm.close()


def _test_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


class MicroPythonFailure(Exception):
    """A firmware test failed inside the MicroPython VM."""


class MicroPythonModule(pytest.File):
    """The same test module, run inside the MicroPython VM."""

    _results: dict | None = None

    def collect(self):
        for name in _test_names(self.path):
            yield MicroPythonItem.from_parent(self, name="%s[micropython]" % name, test=name)

    def results(self) -> dict:
        if self._results is None:
            names = _test_names(self.path)
            code = _RUNNER % {"module": self.path.stem, "names": names, "mark": _MARK}
            res = _vm().run(code, timeout_s=300)
            found = {}
            for line in res.stdout.splitlines():
                if line.startswith(_MARK):
                    row = json.loads(line[len(_MARK) :])
                    found[row["t"]] = row
            self._results = {"found": found, "run": res}
        return self._results


class MicroPythonItem(pytest.Item):
    def __init__(self, *, test: str, **kwargs):
        super().__init__(**kwargs)
        self.test = test

    def runtest(self):
        results = self.parent.results()
        row = results["found"].get(self.test)
        if row is None:
            run = results["run"]
            raise MicroPythonFailure(
                "the VM did not report %s (exit %s, timed out %s)\n%s\n%s"
                % (self.test, run.exit_code, run.timed_out, run.stdout[-2000:], run.stderr[-4000:])
            )
        if not row["ok"]:
            raise MicroPythonFailure(row["tb"])

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return "MicroPython VM:\n%s" % excinfo.value
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, "%s [micropython]" % self.test


def pytest_collect_file(parent, file_path: Path):
    if (
        file_path.suffix == ".py"
        and file_path.name.startswith("test_")
        and file_path.parent == FIRMWARE_TESTS
    ):
        return MicroPythonModule.from_parent(parent, path=file_path, name=file_path.name + "::vm")
    return None
