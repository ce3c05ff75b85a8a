"""A hardware-in-the-loop rig as the tests see it: one board on one serial port, virtual or real.

Everything goes through the board's serial protocol (docs/protocol.md) and mpremote, so the same
test runs against the virtual board in CI and against a real ESP32 on a rig (docs/hil-rig.md).
Times given to the rig are in the BOARD's seconds (its ticks); `speed` turns them into wall-clock
timeouts (a virtual board runs faster than real time, a real one at 1x).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time

from splitguard import config

from host_tools import flash, serial_link
from host_tools.protocol import LineSplitter, Message, parse_line

# The HIL device config: the defaults with the supervisor's times cut to short values that are
# still inside their allowed ranges, so every rule runs in minutes of board time.
HIL_OVERRIDES = {
    "supervisor": {
        "defrost_max_min": 8,
        "power_off_min": 5,
        "max_cycles_per_24h": 1,
        "recovery_timeout_min": 3,
        "boot_settle_min": 1,
    },
}


def hil_device_config() -> dict:
    cfg = config.default_device()
    for section, values in HIL_OVERRIDES.items():
        cfg[section].update(values)
    return config.validate_device(cfg, "HIL config")


# Commands go out in pieces the board's 260-byte console ring can take (docs/protocol.md).
PIECE = 64
PIECE_GAP_S = 0.1


class RigError(AssertionError):
    pass


class Rig:
    """One board: flash it, reset it, talk to it, wait for what it says."""

    def __init__(self, port: str, board: str, speed: float = 1.0, vboard=None):
        self.port = port
        self.board = board
        self.speed = speed  # board seconds per wall second, at least (for timeouts)
        self.vboard = vboard  # host_tools.vboard.host.VirtualBoard, or None for real hardware
        self.messages: list[Message] = []
        self.raw: list[bytes] = []
        self._cond = threading.Condition()
        self._link = None
        self._stop = threading.Event()
        self._thread = None
        self._next_id = 0
        self.since_boot = 0  # index of the hello of the last fresh boot

    # -- the line ----------------------------------------------------------------------------

    def open(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._link = serial_link.opener(self.port)()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Let go of the port (mpremote needs it to itself)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(5)
        self._thread = None
        with contextlib.suppress(Exception):
            self._link.close()
        self._link = None

    def _read(self) -> None:
        splitter = LineSplitter()
        while not self._stop.is_set():
            try:
                data = self._link.read(0.1)
            except (serial_link.LinkLost, serial_link.LinkClosed):
                time.sleep(0.1)
                continue
            if not data:
                continue
            for line in splitter.feed(data):
                msg = parse_line(line)
                with self._cond:
                    if isinstance(msg, Message):
                        self.messages.append(msg)
                    else:
                        self.raw.append(line)
                    self._cond.notify_all()

    def write(self, data: bytes) -> None:
        """Bytes onto the line, paced for the board's input ring."""
        for i in range(0, len(data), PIECE):
            self._link.write(data[i : i + PIECE])
            if i + PIECE < len(data):
                time.sleep(PIECE_GAP_S)

    # -- waiting -----------------------------------------------------------------------------

    def wall(self, board_s: float) -> float:
        """Wall-clock seconds to allow for `board_s` of board time (plus a margin)."""
        return board_s / self.speed + 15.0

    def mark(self) -> int:
        """A position in the message list; `since=` arguments count from here."""
        with self._cond:
            return len(self.messages)

    def wait_for(self, pred, board_s: float, since: int = 0, what: str = "a line") -> Message:
        """The first message from `since` on with pred(msg) True; RigError after board_s."""
        deadline = time.monotonic() + self.wall(board_s)
        i = since
        with self._cond:
            while True:
                while i < len(self.messages):
                    m = self.messages[i]
                    i += 1
                    if pred(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    last = self.messages[-1].data if self.messages else None
                    raise RigError(
                        "no %s within %g board s (last line: %s)" % (what, board_s, last)
                    )
                self._cond.wait(min(left, 0.5))

    def wait_event(self, name: str, board_s: float, since: int = 0) -> Message:
        return self.wait_for(
            lambda m: m.kind == "event" and m.get("event") == name,
            board_s,
            since,
            "event %r" % name,
        )

    def wait_sample(self, pred, board_s: float, since: int = 0, what: str = "sample") -> Message:
        return self.wait_for(lambda m: m.kind == "sample" and pred(m), board_s, since, what)

    def events(self, since: int = 0, name: str | None = None) -> list[Message]:
        with self._cond:
            msgs = self.messages[since:]
        return [m for m in msgs if m.kind == "event" and (name is None or m.get("event") == name)]

    def samples(self, since: int = 0) -> list[Message]:
        with self._cond:
            return [m for m in self.messages[since:] if m.kind == "sample"]

    # -- commands ----------------------------------------------------------------------------

    def command(self, cmd: str, board_s: float = 30.0, **args) -> dict:
        """Send one command, return its reply's fields (RigError if none comes)."""
        self._next_id += 1
        req_id = "hil-%d" % self._next_id
        body = {"cmd": cmd, "id": req_id}
        body.update(args)
        since = self.mark()
        self.write((json.dumps(body) + "\n").encode())
        reply = self.wait_for(
            lambda m: m.kind == "reply" and m.get("id") == req_id, board_s, since, "reply to " + cmd
        )
        return reply.data

    def inject(self, ttl_s: float = 600, **fields) -> dict:
        """Override readings; the board accepts that only in its test mode, turned on here
        for an hour (every sample line says `test` meanwhile, and it ends by itself)."""
        mode = self.command("test_mode", on=True, ttl_s=3600)
        if not mode.get("ok"):
            raise RigError("test_mode refused: %s" % mode.get("error"))
        reply = self.command("inject", ttl_s=ttl_s, **fields)
        if not reply.get("ok"):
            raise RigError("inject refused: %s" % reply.get("error"))
        return reply

    def status(self) -> dict:
        return self.command("status")

    # -- relay -------------------------------------------------------------------------------

    def relay_cut(self) -> bool:
        """Is the unit's power cut now? The board's word, checked against the plant (virtual)
        or against the rig's read-back of the relay contact (SPLITGUARD_HIL_RELAY_CMD)."""
        said = bool(self.status().get("relay"))
        if self.vboard is not None:
            with self.vboard.lock:
                seen = self.vboard.plant.relay_cut
        elif os.environ.get("SPLITGUARD_HIL_RELAY_CMD"):
            # A command that prints 1 while the contact is in its power-cut position, else 0
            # (docs/hil-rig.md: the contact read back on a GPIO of the rig's controller).
            out = subprocess.run(
                os.environ["SPLITGUARD_HIL_RELAY_CMD"],
                shell=True,
                capture_output=True,
                text=True,
                timeout=10,
            )
            seen = out.stdout.strip() == "1"
        else:
            return said
        if seen != said:
            raise RigError("board says relay=%s, the contact says cut=%s" % (said, seen))
        return said

    # -- whole-board operations ----------------------------------------------------------------

    def flash(self, device_config) -> None:
        self.close()
        failed = flash.flash(self.port, self.board, device_config, relay="no", check=False)
        if failed:
            raise RigError("flash failed")
        self.open()
        self.wait_for(lambda m: m.kind == "hello", 60, 0, "hello after flashing")

    def fresh(self) -> Message:
        """Reset the board with no cycle history or lockout; returns its hello."""
        self.close()
        flash.reset_board(self.port, remove=(flash.STATE_FILE,))
        since = self.mark()
        self.open()
        hello = self.wait_for(lambda m: m.kind == "hello", 60, since, "hello after reset")
        with self._cond:
            self.since_boot = next(i for i, m in enumerate(self.messages) if m is hello)
        return hello

    def reboot(self) -> Message:
        """The protocol's `reboot` command; returns the hello of the new boot."""
        since = self.mark()
        reply = self.command("reboot")
        if not reply.get("ok"):
            raise RigError("reboot refused: %s" % reply.get("error"))
        return self.wait_for(lambda m: m.kind == "hello", 60, since, "hello after reboot")
