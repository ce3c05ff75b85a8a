"""`splitguard send COMMAND [key=value ...]`: one protocol command to a board, its reply printed.

For installers: `splitguard send clear_lockout`, `splitguard send status`. The line is paced in
64-byte pieces for the ESP32 console's 260-byte input ring (docs/protocol.md); everything else
the board says meanwhile is ignored. Exit 0 when the reply says ok, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import time

from host_tools import serial_link
from host_tools.errors import CliError
from host_tools.protocol import LineSplitter, Message, parse_line

PIECE = 64  # bytes per write: well inside the board's 260-byte console ring
PIECE_GAP_S = 0.1  # the board may be busy sampling for up to ~100 ms


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("command", help="status, config_get, clear_lockout, power_cycle, reboot, ...")
    p.add_argument(
        "args",
        nargs="*",
        metavar="KEY=VALUE",
        help="arguments; VALUE is JSON when it parses as JSON (ttl_s=60, coil_c=-5.5), else text",
    )
    p.add_argument("--port", default="auto", help="serial port, or auto (default)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the reply")


def build_line(command: str, args: list[str], req_id: str) -> bytes:
    """The JSON line for a command and its KEY=VALUE arguments."""
    body = {"cmd": command, "id": req_id}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise CliError("argument %r is not KEY=VALUE" % arg)
        try:
            body[key] = json.loads(value)
        except ValueError:
            body[key] = value
    return (json.dumps(body) + "\n").encode()


def exchange(link, line: bytes, req_id: str, timeout_s: float) -> dict:
    """Write `line` paced, then return the data of the reply carrying `req_id`."""
    for i in range(0, len(line), PIECE):
        link.write(line[i : i + PIECE])
        if i + PIECE < len(line):
            time.sleep(PIECE_GAP_S)
    splitter = LineSplitter()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data = link.read(0.1)
        if not data:
            continue
        for raw in splitter.feed(data):
            msg = parse_line(raw)
            if isinstance(msg, Message) and msg.kind == "reply" and msg.get("id") == req_id:
                return msg.data
    raise CliError("no reply within %g s (is the firmware running on that port?)" % timeout_s)


def run(args: argparse.Namespace) -> int:
    req_id = "cli-%d" % int(time.time() * 1000)
    line = build_line(args.command, args.args, req_id)
    try:
        link = serial_link.opener(args.port)()
    except serial_link.LinkError as exc:
        raise CliError(str(exc)) from exc
    try:
        reply = exchange(link, line, req_id, args.timeout)
    finally:
        link.close()
    print(json.dumps(reply, indent=2, sort_keys=True))
    return 0 if reply.get("ok") else 1
