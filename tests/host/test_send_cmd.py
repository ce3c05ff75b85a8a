"""`splitguard send`: one command out, paced; its reply found among whatever else the board says."""

import json
import os
import threading

from host_tools.cli import main
from host_tools.send_cmd import PIECE, build_line


class _Board(threading.Thread):
    """The far end of a pty: records what arrives (and in how many reads), answers one command."""

    def __init__(self, fd, reply_ok=True):
        super().__init__(daemon=True)
        self.fd = fd
        self.reply_ok = reply_ok
        self.received = b""
        self.reads = 0

    def run(self):
        while b"\n" not in self.received:
            chunk = os.read(self.fd, 4096)
            self.reads += 1
            self.received += chunk
        req = json.loads(self.received.split(b"\n")[0])
        noise = b"rst:0x1 (POWERON_RESET)\r\n"
        sample = {"v": 1, "kind": "sample", "seq": 7, "t": 100, "coil": -3.0}
        reply = {"v": 1, "kind": "reply", "seq": 8, "t": 101, "id": req["id"]}
        reply.update({"cmd": req["cmd"], "ok": self.reply_ok})
        if not self.reply_ok:
            reply["error"] = "not in LOCKOUT"
        out = noise + (json.dumps(sample) + "\n").encode() + (json.dumps(reply) + "\n").encode()
        os.write(self.fd, out)


def _pty():
    master, slave = os.openpty()
    return master, os.ttyname(slave), slave


def test_arguments_become_json_values_where_they_parse_and_text_otherwise():
    line = json.loads(build_line("inject", ["coil_c=-5.5", "coil_fault=open", "ttl_s=60"], "x"))
    assert line == {"cmd": "inject", "id": "x", "coil_c": -5.5, "coil_fault": "open", "ttl_s": 60}


def test_the_reply_is_printed_and_ok_means_exit_0(capsys):
    master, path, slave = _pty()
    board = _Board(master)
    board.start()
    try:
        assert main(["send", "clear_lockout", "--port", path, "--timeout", "5"]) == 0
    finally:
        board.join(5)
        os.close(slave)
        os.close(master)
    assert json.loads(board.received.split(b"\n")[0])["cmd"] == "clear_lockout"
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["kind"] == "reply"


def test_a_refusal_exits_1_with_the_reason_shown(capsys):
    master, path, slave = _pty()
    board = _Board(master, reply_ok=False)
    board.start()
    try:
        assert main(["send", "clear_lockout", "--port", path, "--timeout", "5"]) == 1
    finally:
        board.join(5)
        os.close(slave)
        os.close(master)
    assert json.loads(capsys.readouterr().out)["error"] == "not in LOCKOUT"


def test_a_long_line_goes_out_in_pieces_the_board_console_can_hold():
    master, path, slave = _pty()
    board = _Board(master)
    board.start()
    long_reason = "x" * 200  # the line is well over one 64-byte piece
    try:
        assert main(["send", "status", "note=" + long_reason, "--port", path]) == 0
    finally:
        board.join(5)
        os.close(slave)
        os.close(master)
    assert len(board.received) > 3 * PIECE
    assert board.reads >= 3  # paced pieces arrive as separate reads


def test_no_reply_is_a_clear_error(capsys):
    master, path, slave = _pty()
    try:
        assert main(["send", "status", "--port", path, "--timeout", "0.5"]) == 1
    finally:
        os.close(slave)
        os.close(master)
    assert "no reply within 0.5 s" in capsys.readouterr().err
