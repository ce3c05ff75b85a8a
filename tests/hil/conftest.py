"""Hardware-in-the-loop: the suite in tests/hil against the virtual board or a real rig.

    pytest tests/hil                                   # virtual board (the default, and in CI)
    pytest tests/hil --port /dev/ttyUSB0 --board esp32_devkitc    # a real board on a rig

The options are registered when tests/hil is named on the command line; in a whole-suite run
(`make test`) the environment variables SPLITGUARD_HIL_PORT / SPLITGUARD_HIL_BOARD do the same.
The board is flashed once per session with the HIL device config (short, valid timings: an 8 min
defrost limit, a 5 min power-off, one power cycle per 24 h), and every test starts from a fresh
boot with no cycle history (fixture `board`). docs/hil-rig.md describes a rig.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from rig import Rig, hil_device_config

REPO = Path(__file__).resolve().parents[2]
# The virtual board runs as fast as the VM can (about 150x on a laptop); timeouts assume 40x.
VIRTUAL_SPEED = 10000.0
VIRTUAL_TIMEOUT_SPEED = 40.0


def pytest_addoption(parser):
    group = parser.getgroup("splitguard HIL")
    group.addoption("--port", default=None, help="serial port of a real board on a rig")
    group.addoption("--board", default=None, help="boards/NAME of that board")
    group.addoption(
        "--virtual", action="store_true", help="use the virtual board (default without --port)"
    )


def _opt(config_, name, env):
    try:
        value = config_.getoption(name)
    except ValueError:
        value = None
    return value or os.environ.get(env)


@pytest.fixture(scope="session")
def rig(request, tmp_path_factory):
    """The board under test, flashed with the HIL config; virtual unless --port is given."""
    port = _opt(request.config, "--port", "SPLITGUARD_HIL_PORT")
    board = _opt(request.config, "--board", "SPLITGUARD_HIL_BOARD") or "esp32_devkitc"
    virtual = not port or bool(_opt(request.config, "--virtual", "SPLITGUARD_HIL_VIRTUAL"))
    cfg_path = tmp_path_factory.mktemp("hil") / "config.json"
    cfg_path.write_text(json.dumps(hil_device_config()))
    vb = None
    if virtual:
        if shutil.which("node") is None or not (REPO / "node_modules" / "@micropython").is_dir():
            why = "the virtual board needs Node.js and `npm ci` (make demo installs it)"
            if os.environ.get("CI"):
                pytest.fail(why)
            pytest.skip(why)
        from host_tools.vboard.host import VirtualBoard

        vb = VirtualBoard(None, board, speed=VIRTUAL_SPEED, start="now")
        port = vb.start()
    r = Rig(port, board, VIRTUAL_TIMEOUT_SPEED if virtual else 1.0, vb)
    try:
        r.flash(cfg_path)
        yield r
    finally:
        r.close()
        if vb is not None:
            vb.stop()
            if vb.error:
                raise AssertionError(vb.error)


@pytest.fixture
def board(rig):
    """The rig right after a fresh boot: no cycle history, no lockout, sensors settling."""
    rig.fresh()
    return rig
