"""`splitguard vboard`: the virtual board on a pseudo-terminal, backed by the plant simulator.

The host side (this file, CPython) owns the pseudo-terminal, the plant (host_tools.plant) and the
analog front end; the board side (board.mjs + hw.py) runs the real firmware in the official
MicroPython WebAssembly port under Node. They talk over three pipes (board.mjs documents the
frames). The plant advances only when the board asks for it, once per simulated second, to the
board's own simulated time: the firmware's ticks and the plant can never disagree.

The scenario clock starts when the firmware first runs (main.py on the board), so flashing a blank
virtual board first does not eat into the scenario; `--start now` starts it at once.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import errno
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

from host_tools.errors import CliError
from host_tools.vboard.analog import DEFAULT_THERMISTOR, AnalogFrontEnd

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BOARDS = REPO / "boards"
DEFAULT_BOARD = "esp32_devkitc"
NPM_PACKAGE = REPO / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
# A plant with nothing wrong: a mild day, the unit heating steadily. For `vboard` without a
# scenario and for the HIL suite, whose faults come in through the protocol's `inject`.
QUIET_SCENARIO = {
    "name": "quiet",
    "title": "Mild dry day, the unit heating steadily",
    "seed": 1,
    "weather": {"ambient_c": 8.0, "humidity_pct": 40.0},
    "faults": [],
}


def load_board_file(name: str) -> dict:
    """boards/NAME.json (or a path) as a dict; CliError if missing or not JSON."""
    path = Path(name)
    if not path.is_file():
        path = BOARDS / (name if name.endswith(".json") else name + ".json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError:
        known = ", ".join(sorted(p.stem for p in BOARDS.glob("*.json")))
        raise CliError("no board %r (boards/: %s)" % (name, known)) from None
    except ValueError as exc:
        raise CliError("%s: not JSON: %s" % (path, exc)) from None


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise CliError("the virtual board needs Node.js (18 or newer) on PATH")
    if not (NPM_PACKAGE / "micropython.mjs").is_file():
        raise CliError(
            "the MicroPython WebAssembly port is not installed: run `npm ci` (or `make demo`)"
        )
    return node


class VirtualBoard:
    """One virtual board: start() it, point tools at .port, stop() it (or use `with`)."""

    def __init__(
        self,
        scenario: dict | None = None,
        board: dict | str = DEFAULT_BOARD,
        speed: float = 60.0,
        link: str | None = None,
        tap: str | None = None,
        fs_dir: str | None = None,
        hours: float | None = None,
        start: str = "firmware",
        seed: int | None = None,
        heap_kb: int = 256,
        mains_hz: float = 50.0,
        thermistor: Path = DEFAULT_THERMISTOR,
        on_note=None,
    ):
        from host_tools.plant import Plant

        self.scenario = copy.deepcopy(scenario if scenario is not None else QUIET_SCENARIO)
        self.board = load_board_file(board) if isinstance(board, str) else dict(board)
        self.speed = float(speed)
        self.link = link
        self.tap_link = tap
        self.fs_dir = fs_dir
        self.hours = hours
        self.start_mode = start
        self.heap_kb = heap_kb
        try:
            self.plant = Plant(self.scenario, seed)
        except (ValueError, KeyError, TypeError) as exc:
            raise CliError("scenario %s: %s" % (self.scenario.get("name", "?"), exc)) from None
        self.front = AnalogFrontEnd(self.board, thermistor, mains_hz=mains_hz)
        self.on_note = on_note or (lambda text: None)
        self.port: str | None = None
        self.lock = threading.Lock()
        self.started = threading.Event()  # the firmware ran for the first time
        self.ended = threading.Event()  # the scenario's hours are over, or the board side died
        self.error: str | None = None
        self.t0_us: int | None = None  # board time at which the scenario started
        self.board_us = 0
        self.relay_level: dict[int, int] = {}
        self.relay_log: list[tuple[float, bool]] = []  # (plant s, cut) at every change
        self.board_log: list[tuple[float, bool]] = []  # (plant s, board powered)
        self.dropped = 0  # bytes the line lost because nobody read the port
        self._cmds: list[dict] = []
        self._proc: subprocess.Popen | None = None
        self._master = self._slave = None
        self._tap_master = self._tap_slave = None
        self._in_w = None
        self._reply_w = None
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._board_up = True

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> str:
        """Open the pty, start the board; returns the port path (the pty, or `link` to it)."""
        node = node_binary()
        self._master, self._slave = _open_pty()
        self.port = os.ttyname(self._slave)
        if self.link:
            _symlink(self.port, self.link)
            self.port = self.link
        if self.tap_link:
            self._tap_master, self._tap_slave = _open_pty()
            _symlink(os.ttyname(self._tap_slave), self.tap_link)
        in_r, in_w = os.pipe()
        os.set_blocking(in_r, False)  # the board polls the line without blocking
        reply_r, reply_w = os.pipe()
        roles = {}
        for key, role in (
            ("coil_adc_pin", "coil"),
            ("ambient_adc_pin", "ambient"),
            ("ct_adc_pin", "ct"),
            ("relay_pin", "relay"),
            ("led_pin", "led"),
            ("button_pin", "button"),
        ):
            if self.board.get(key) is not None:
                roles[str(self.board[key])] = role
        cfg = {
            "speed": self.speed,
            "roles": roles,
            "supply_uv": self.front.supply_uv,
            "heap_kb": self.heap_kb,
            "reply_fd": reply_r,
            "fs_dir": self.fs_dir,
        }
        self._proc = subprocess.Popen(
            [node, str(HERE / "board.mjs"), json.dumps(cfg)],
            stdin=in_r,
            stdout=subprocess.PIPE,
            pass_fds=(reply_r,),
            cwd=str(REPO),
        )
        os.close(in_r)
        os.close(reply_r)
        self._in_w, self._reply_w = in_w, reply_w
        if self.start_mode == "now":
            self.t0_us = 0
        for target in (self._from_line, self._from_board):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self.port

    def stop(self) -> None:
        """Stop the board and close the port (a pulled cable, for anyone still reading it)."""
        proc = self._proc
        if proc is not None and proc.poll() is None and self.fs_dir and not self.error:
            # Let the board write its flash back to --fs DIR (it asks for the plant at least
            # once per simulated second, and takes the stop with the answer).
            with self.lock:
                self._cmds.append({"op": "stop"})
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(3)
        self._stopping = True
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for fd in (self._in_w, self._reply_w):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._in_w = self._reply_w = None
        for t in self._threads:
            t.join(2)
        for fd in (self._master, self._slave, self._tap_master, self._tap_slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = self._tap_master = self._tap_slave = None
        for path in (self.link, self.tap_link):
            if path and os.path.islink(path):
                with contextlib.suppress(OSError):
                    os.unlink(path)
        self.ended.set()

    def __enter__(self) -> VirtualBoard:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- control (thread-safe; delivered within one simulated second) ----------------------------

    def press_button(self, pressed: bool = True) -> None:
        pin = self.board.get("button_pin")
        if pin is None:
            raise ValueError("this board has no button")
        active_high = self.board.get("button_active_high", False)
        level = 1 if pressed == active_high else 0
        with self.lock:
            self._cmds.append({"op": "button", "pin": pin, "level": level})

    def hard_reset(self) -> None:
        """The EN button: a hard reset (reset cause "hard")."""
        with self.lock:
            self._cmds.append({"op": "reset"})

    @property
    def relay_cut(self) -> bool:
        """True while the relay holds the unit's power off (read from the plant's side)."""
        return self.plant.relay_cut

    @property
    def plant_s(self) -> float:
        return self.plant.t

    # -- the two pumps ---------------------------------------------------------------------------

    def _from_line(self) -> None:
        """Bytes typed on the pty go to the board's serial input."""
        master = self._master
        try:
            while not self._stopping:
                ready, _, _ = select.select([master], [], [], 0.2)
                if not ready:
                    continue
                try:
                    data = os.read(master, 4096)
                except OSError:
                    time.sleep(0.05)  # no one has the port open: nothing to read
                    continue
                if data:
                    os.write(self._in_w, data)
        except (OSError, TypeError, ValueError):
            if not self._stopping:
                self._fail("serial input pump stopped")

    def _from_board(self) -> None:
        out = self._proc.stdout
        try:
            while True:
                head = _read_exact(out, 5)
                if head is None:
                    break
                kind = chr(head[0])
                (n,) = struct.unpack("<I", head[1:])
                payload = _read_exact(out, n) if n else b""
                if payload is None:
                    break
                if kind == "T":
                    self._to_line(payload)
                elif kind == "Q":
                    reply = json.dumps(self._answer(json.loads(payload))).encode()
                    os.write(self._reply_w, struct.pack("<I", len(reply)) + reply)
                elif kind == "E":
                    self._event(json.loads(payload))
        except (OSError, ValueError) as exc:
            if not self._stopping:
                self._fail("board link broken: %s" % exc)
            return
        if not self._stopping and not self.ended.is_set():
            code = self._proc.wait()
            self._fail("the board side exited (status %s)" % code)

    def _fail(self, text: str) -> None:
        self.error = text
        self.on_note("virtual board: " + text)
        self.ended.set()

    def _to_line(self, data: bytes) -> None:
        # Like a USB-UART bridge: bytes go out at once; nobody reading means they are lost.
        for fd in (self._master, self._tap_master):
            if fd is None:
                continue
            view = memoryview(data)
            while view:
                try:
                    n = os.write(fd, view)
                except BlockingIOError:
                    if fd == self._master:
                        self.dropped += len(view)
                    break
                except OSError as exc:
                    if exc.errno == errno.EIO:
                        break
                    raise
                view = view[n:]

    def _answer(self, req: dict) -> dict:
        t_us = int(req.get("t_us", 0))
        with self.lock:
            self.board_us = t_us
            cmds, self._cmds = self._cmds, []
            plant = self.plant
            if self.t0_us is not None:
                target = (t_us - self.t0_us) / 1e6
                while plant.t + 1.0 <= target:
                    plant.step(1.0)
                    if plant.board_up != self._board_up:
                        self._board_up = plant.board_up
                        self.board_log.append((plant.t, plant.board_up))
                        if not plant.board_up:
                            # No supply for the board either: its relay drops out.
                            plant.set_relay(False)
                            self.relay_log.append((plant.t, False))
                if self.hours is not None and plant.t >= self.hours * 3600.0:
                    if not self.ended.is_set():
                        self.on_note("virtual board: scenario over after %g h" % self.hours)
                    self.ended.set()
            up = plant.board_up
            analog = self.front.text(plant) if self.t0_us is not None else self.front.idle_text()
        return {"analog": analog, "up": up, "cmd": cmds}

    def _event(self, ev: dict) -> None:
        op = ev.get("op")
        if op == "pin":
            level = int(ev["v"])
            active_high = self.board.get("relay_active_high", True)
            cut = level == (1 if active_high else 0)
            with self.lock:
                if self.relay_level.get(ev["pin"]) != level:
                    self.relay_level[ev["pin"]] = level
                    if self.plant.board_up and cut != self.plant.relay_cut:
                        self.plant.set_relay(cut)
                        self.relay_log.append((self.plant.t, cut))
        elif op == "firmware":
            if self.t0_us is None:
                self.t0_us = int(ev["t_us"])
                self.on_note("virtual board: firmware running, scenario clock started")
            self.started.set()
        elif op == "board":
            self.on_note("virtual board: supply %s" % ("back" if ev.get("up") else "lost"))


def _open_pty() -> tuple[int, int]:
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo, no line editing: bytes pass as they are
    os.set_blocking(master, False)
    return master, slave


def _symlink(target: str, link: str) -> None:
    tmp = link + ".new"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.makedirs(os.path.dirname(os.path.abspath(link)), exist_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _read_exact(f, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


# -- command line --------------------------------------------------------------------------------


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        metavar="SCENARIO",
        help="scenarios/NAME.json or a file (default: a quiet day, nothing wrong)",
    )
    parser.add_argument("--board", default=DEFAULT_BOARD, help="board file the board is wired as")
    parser.add_argument(
        "--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)"
    )
    parser.add_argument("--hours", type=float, help="stop after this many scenario hours")
    parser.add_argument("--link", metavar="PATH", help="also reach the port at PATH (a symlink)")
    parser.add_argument(
        "--tap",
        metavar="PATH",
        help="a second, read-only pty at PATH mirroring what the board sends",
    )
    parser.add_argument(
        "--fs", metavar="DIR", help="keep the board's flash in DIR between runs (default: RAM)"
    )
    parser.add_argument(
        "--start",
        choices=("firmware", "now"),
        default="firmware",
        help="start the scenario clock when the firmware first runs (default) or now",
    )
    parser.add_argument("--seed", type=int, help="plant noise seed (default: the scenario's)")


def run(args: argparse.Namespace) -> int:
    scenario = None
    if args.scenario:
        from host_tools.simulate import load_scenario

        scenario = load_scenario(args.scenario)
    hours = args.hours if args.hours is not None else None
    vb = VirtualBoard(
        scenario,
        args.board,
        speed=args.speed,
        link=args.link,
        tap=args.tap,
        fs_dir=args.fs,
        hours=hours,
        start=args.start,
        seed=args.seed,
        on_note=lambda text: print(text, file=sys.stderr, flush=True),
    )
    port = vb.start()
    print("virtual board on %s (%s, speed %gx)" % (port, vb.board["name"], vb.speed), flush=True)
    if args.tap:
        print("tap (read-only copy of its output) on %s" % args.tap, flush=True)
    signal.signal(signal.SIGTERM, lambda *a: vb.ended.set())
    try:
        while not vb.ended.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        vb.stop()
    if vb.error:
        raise CliError(vb.error)
    return 0
