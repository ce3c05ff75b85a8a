"""`splitguard flash`: put the firmware on a board through mpremote, then check the board came up.

Steps, each printed as it happens:
1. connect (port given, or auto-detected like `mpremote connect auto`) and ask a running
   splitguard firmware to hand the console over (the `repl` command): it refuses while it holds
   the unit's power off, and then nothing is interrupted (Ctrl-C is switched off while it
   supervises, docs/safety.md). A board that does not answer (no firmware, an older one, at the
   REPL) is stopped with Ctrl-C as mpremote does. The ESP32's watchdog cannot be stopped, so it
   is re-armed with a one-hour timeout first (the esp32 port allows re-initialising it with a
   longer timeout), then a soft reset frees the heap and lets boot.py release the relay;
2. ask the board what it runs (sys.implementation): MicroPython version and .mpy ABI;
3. compile firmware/ with mpy-cross for exactly that ABI (source files if the ABI is unknown);
4. replace /splitguard on the board, write boot.py, main.py, board.json and config.json, check
   every file's SHA-256, and hard-reset the board;
5. bring-up check: read the board's first lines and print one PASS/FAIL line per item (hello,
   config hash, each sensor, the CT zero offset, relay released; the relay test only when the
   user confirms or --yes is given).

The persistent state file (/splitguard_state.json: the 24 h power-cycle count, a lockout) is
kept: reflashing must not reset the safety counters.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from splitguard import VERSION, config
from splitguard.supervisor import WAIT_SETTLE

from host_tools import mpy, serial_link
from host_tools.errors import CliError
from host_tools.protocol import Message, parse_line

REPO = Path(__file__).resolve().parent.parent
BOARDS = REPO / "boards"
DEVICE_CONFIG = REPO / "firmware" / "config.json"
BUILD = REPO / "build" / "flash"
# Index of the native architecture in sys.implementation._mpy (bits 10+) -> mpy-cross -march.
MARCH = (
    None,
    "x86",
    "x64",
    "armv6",
    "armv6m",
    "armv7m",
    "armv7em",
    "armv7emsp",
    "armv7emdp",
    "xtensa",
    "xtensawin",
    "rv32imc",
)
# Bytecode .mpy ABI this mpy-cross writes (checked against the board's).
MPY_MAJOR = 6
STATE_FILE = "splitguard_state.json"
REARM_WDT = (
    "import machine\ntry:\n machine.WDT(0, timeout=3600000).feed()\nexcept Exception:\n pass\n"
)
RM_TREE = (
    "import os\n"
    "def _rm(p):\n"
    " try:\n"
    "  m=os.stat(p)[0]\n"
    " except OSError:\n"
    "  return\n"
    " if m & 0x4000:\n"
    "  for n in os.listdir(p):\n"
    "   _rm(p+'/'+n)\n"
    "  os.rmdir(p)\n"
    " else:\n"
    "  os.remove(p)\n"
    "_rm('splitguard')\n"
    "del _rm\n"
)
RESET = "import time, machine; time.sleep_ms(100); machine.reset()"
# How MicroPython gets onto an ESP32 that has none (micropython.org/download/<BOARD>/).
INSTALL_HELP = {
    "esp32": ("ESP32_GENERIC", "0x1000"),
    "esp32s3": ("ESP32_GENERIC_S3", "0"),
}


@dataclass
class Info:
    """What the board says it runs."""

    version: tuple
    mpy: int
    machine: str
    platform: str
    files: list = field(default_factory=list)
    board_json: dict | None = None

    @property
    def mpy_major(self) -> int:
        return self.mpy & 0xFF

    @property
    def march(self) -> str | None:
        arch = self.mpy >> 10
        return MARCH[arch] if 0 <= arch < len(MARCH) else None

    @property
    def version_text(self) -> str:
        return ".".join(str(x) for x in self.version[:3])


def say(text: str = "") -> None:
    print(text, flush=True)


# -- choosing what to write -----------------------------------------------------------------------


def board_file(name: str | None, info: Info) -> tuple[Path, dict]:
    """The board file: --board, else the one already on the board, else by chip."""
    if name is None and info.board_json and info.board_json.get("name"):
        for p in sorted(BOARDS.glob("*.json")):
            with contextlib.suppress(ValueError, OSError):
                if json.loads(p.read_text()).get("name") == info.board_json["name"]:
                    name = p.stem
                    break
    if name is None:
        m = info.machine.upper().replace("-", "")
        name = "esp32_s3_devkitc_1" if "ESP32S3" in m else "esp32_devkitc" if "ESP32" in m else None
    if name is None:
        known = ", ".join(sorted(p.stem for p in BOARDS.glob("*.json")))
        raise CliError(
            "cannot tell which board this is (%s): give --board (%s)" % (info.machine, known)
        )
    path = Path(name)
    if not path.is_file():
        path = BOARDS / (name if name.endswith(".json") else name + ".json")
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in BOARDS.glob("*.json")))
        raise CliError("no board %r (boards/: %s)" % (name, known))
    try:
        return path, config.load_board(str(path))
    except config.ConfigError as exc:
        raise CliError("%s is not a valid board file" % path, exc.errors) from None


def device_file(path: Path) -> dict:
    try:
        return config.load_device(str(path))
    except config.ConfigError as exc:
        raise CliError("%s is not a valid device config" % path, exc.errors) from None


def compile_for(info: Info) -> tuple[Path, str]:
    """Build firmware for the board's ABI into build/flash/<abi>; returns (dir, description)."""
    if info.mpy_major == MPY_MAJOR:
        march = info.march
        out = BUILD / (march or "bytecode")
        results = mpy.build(out, march=march or "")
        bad = [r for r in results if r.error]
        if bad:
            raise CliError("mpy-cross failed", ["%s: %s" % (r.source, r.error) for r in bad])
        what = ".mpy v%d, %s" % (MPY_MAJOR, ("-march=" + march) if march else "bytecode only")
        return out, what
    # An ABI this mpy-cross does not write: ship the sources; the board compiles them itself.
    out = BUILD / "source"
    for src in mpy.firmware_sources():
        dest = out / src.relative_to(mpy.FIRMWARE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
    return out, "source .py (the board's .mpy v%d is not v%d)" % (info.mpy_major, MPY_MAJOR)


def files_to_copy(root: Path) -> list[tuple[str, bytes]]:
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".py", ".mpy"):
            out.append((p.relative_to(root).as_posix(), p.read_bytes()))
    return out


# -- talking to the board -------------------------------------------------------------------------


def no_micropython(port: str, seen: bytes, chip: str = "esp32") -> CliError:
    name, offset = INSTALL_HELP.get(chip, INSTALL_HELP["esp32"])
    heard = seen.decode("utf-8", "replace").strip()[-200:]
    details = [
        "The board on %s did not answer like MicroPython%s."
        % (port, (" (it sent: %r)" % heard) if heard else " (it sent nothing)"),
        "If it is new or runs other firmware, install MicroPython first (erases the board):",
        "  pip install esptool",
        "  esptool.py --chip %s --port %s erase_flash" % (chip, port),
        "  esptool.py --chip %s --port %s --baud 460800 write_flash -z %s %s-<version>.bin"
        % (chip, port, offset, name),
        "with the .bin from https://micropython.org/download/%s/ (mpflash can download and"
        " write it in one step)." % name,
        "If MicroPython is installed, close any other program using the port and try again.",
    ]
    return CliError("no MicroPython on %s" % port, details)


HANDOVER_ID = "flash-handover"
# The firmware answers commands within a poll (50 ms) and the reply goes out with the next
# flush; a second is plenty even behind a queue of samples.
HANDOVER_WAIT_S = 2.0


def hand_over(port: str, wait_s: float = HANDOVER_WAIT_S) -> dict | None:
    """Ask a running splitguard firmware for the REPL. Its reply, or None if nothing answered.

    A refusal (the supervisor holds the unit's power off) is a CliError: flashing now would
    end the off-time early, which is exactly what the firmware protects against.
    """
    cmd = b'\n{"cmd": "repl", "id": "%s"}\n' % HANDOVER_ID.encode()
    got = read_lines(
        port,
        lambda m: m.kind == "reply" and m.get("id") == HANDOVER_ID,
        wait_s,
        send=cmd,
    )
    reply = next((m for m in got if m.kind == "reply" and m.get("id") == HANDOVER_ID), None)
    if reply is None:
        return None
    if not reply.get("ok"):
        why = reply.get("refused") or reply.get("error") or "refused"
        left = reply.get("off_left_s")
        wait = ""
        if isinstance(left, int) and not isinstance(left, bool) and left >= 0:
            wait = "; try again in %d min %02d s" % (left // 60, left % 60)
        raise CliError(
            "the board refused to hand over its console: %s%s. Nothing was interrupted."
            % (why, wait)
        )
    return dict(reply.data)


def connect(port: str):
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            t = SerialTransport(port, baudrate=serial_link.BAUD)
    except TransportError as exc:
        raise CliError("cannot open %s: %s" % (port, exc)) from None
    # On a /dev/pts port mpremote reads with the port's own timeout, which it leaves at None
    # (wait forever); with 1 s its overall timeouts work and a silent board is reported.
    t.serial.timeout = 1
    try:
        with contextlib.redirect_stdout(captured):
            t.enter_raw_repl(soft_reset=False)
    except TransportError:
        t.close()
        raise no_micropython(port, captured.getvalue().encode()) from None
    return t


def probe(t) -> Info:
    t.exec("import sys, os")
    impl = t.eval(
        "(tuple(sys.implementation.version), getattr(sys.implementation, '_mpy', 0),"
        " getattr(sys.implementation, '_machine', ''), sys.platform)"
    )
    info = Info(tuple(impl[0]), int(impl[1]), str(impl[2]), str(impl[3]))
    info.files = t.eval("os.listdir('/')")
    if "board.json" in info.files:
        with contextlib.suppress(Exception):
            info.board_json = json.loads(t.fs_readfile("board.json").decode())
    return info


def write_files(t, files: list[tuple[str, bytes]]) -> int:
    t.exec(RM_TREE)
    dirs = sorted({str(Path(name).parent) for name, _ in files} - {"."})
    for d in dirs:
        with contextlib.suppress(Exception):
            t.fs_mkdir(d)
    total = 0
    for name, data in files:
        t.fs_writefile(name, data)
        total += len(data)
    return total


def verify(t, files: list[tuple[str, bytes]]) -> list[str]:
    """Names whose SHA-256 on the board differs from what was sent (empty: all good)."""
    # fs_hashfile reads the file back and hashes it locally on a board without hashlib.
    return [
        name
        for name, data in files
        if t.fs_hashfile(name, "sha256") != hashlib.sha256(data).digest()
    ]


# -- bring-up check -------------------------------------------------------------------------------


class Check:
    def __init__(self):
        self.failed = 0

    def line(self, ok: bool | None, what: str, text: str) -> None:
        mark = "PASS" if ok else ("FAIL" if ok is False else "SKIP")
        if ok is False:
            self.failed += 1
        say("  %s  %-16s %s" % (mark, what, text))


_FAULT_HELP = {
    "open": "open circuit: thermistor unplugged or a broken wire",
    "short": "short circuit: pinched cable or a wrong resistor",
    "range": "a resistance no temperature explains: wrong thermistor type in config.json?",
    "bias": "no mid-rail bias on the CT input: CT jack or bias divider missing",
    "clipped": "CT waveform hits the ADC rails: wrong burden or a voltage-output CT",
}


def read_lines(port: str, until, timeout_s: float, send: bytes | None = None):
    """Device Messages from `port` until until(msg) is True or the time is up."""
    conn = serial_link.Connection(serial_link.opener(port), retry_s=0.2, poll_s=0.1)
    deadline = time.monotonic() + timeout_s
    got = []
    sent = send is None
    for item in conn.items(lambda: time.monotonic() > deadline):
        if not sent and conn.link is not None:
            conn.link.write(send)
            sent = True
        if isinstance(item, serial_link.Line):
            msg = parse_line(item.data)
            if isinstance(msg, Message):
                got.append(msg)
                if until(msg):
                    break
    with contextlib.suppress(Exception):
        if conn.link is not None:
            conn.link.close()
            conn.link = None
    return got


def bring_up(port: str, board: dict, device: dict, relay: str, timeout_s: float) -> int:
    say("bring-up check (reading the board's first lines):")
    chk = Check()
    samples = []

    def enough(msg: Message) -> bool:
        if msg.kind == "sample":
            samples.append(msg)
        return len(samples) >= 2

    msgs = read_lines(port, enough, timeout_s)
    hello = next((m for m in msgs if m.kind == "hello"), None)
    faults = [m for m in msgs if m.kind == "fault" and m.get("where") != "store"]
    if hello is None:
        chk.line(False, "hello", "the firmware did not start within %.0f s" % timeout_s)
    else:
        fw = hello.get("fw")
        chk.line(fw == VERSION, "firmware", "%s (host tools %s)" % (fw, VERSION))
        chk.line(hello.get("board") == board["name"], "board", str(hello.get("board")))
        want = config.config_hash(device)
        chk.line(
            hello.get("config") == want,
            "config",
            "hash %s%s"
            % (hello.get("config"), "" if hello.get("config") == want else " (sent %s)" % want),
        )
        say("        %-16s %s" % ("reset cause", hello.get("reset")))
    for f in faults:
        chk.line(False, "fault", "%s: %s" % (f.get("where"), f.get("error")))
    if not samples:
        chk.line(False, "samples", "no sample line arrived")
        return chk.failed
    s = samples[-1]
    faults_now = s.get("faults") or {}
    for key, what in (("coil", "coil sensor"), ("amb", "ambient sensor")):
        cause = faults_now.get("coil" if key == "coil" else "ambient")
        value = s.get(key)
        if cause:
            chk.line(False, what, "%s — %s" % (cause, _FAULT_HELP.get(cause, "")))
        elif value is None or not -40.0 <= value <= 80.0:
            chk.line(False, what, "%r °C is not a plausible reading" % (value,))
        else:
            chk.line(True, what, "%.1f °C" % value)
    cause = faults_now.get("ct")
    amps = s.get("amps")
    if cause:
        chk.line(False, "CT clamp", "%s — %s" % (cause, _FAULT_HELP.get(cause, "")))
    elif s.get("unit") == "OFF":
        limit = device["detector"]["running_amps"] / 2
        chk.line(
            amps is not None and amps < limit,
            "CT zero offset",
            "%.2f A with the unit off (limit %.2f A)" % (amps or 0.0, limit),
        )
    else:
        chk.line(
            True,
            "CT clamp",
            "%.2f A, unit %s (zero offset: check with the unit off)" % (amps or 0.0, s.get("unit")),
        )
    chk.line(
        not s.get("cut"),
        "relay",
        "released (unit powered)" if not s.get("cut") else "holding power off",
    )
    if s.get("sup") == "WATCHING":
        settle_s = float(device.get("supervisor", {}).get("boot_settle_min", 3)) * 60.0
        chk.failed += relay_test(port, relay, settle_s + 60.0)
    else:
        chk.line(None, "relay test", "skipped: supervisor is %s" % s.get("sup"))
    return chk.failed


def relay_test(port: str, relay: str, settle_wait_s: float = 240.0) -> int:
    """The relay test: relay "yes" runs it, "no" skips it, "ask" asks on a terminal.

    It counts as one of the board's power interruptions in 24 h (docs/safety.md)."""
    chk = Check()
    if relay == "no":
        chk.line(None, "relay test", "skipped")
        return 0
    if relay != "yes":
        if not sys.stdin.isatty():
            chk.line(None, "relay test", "skipped (not asked: no terminal; --yes runs it)")
            return 0
        answer = input(
            "  Test the relay? The outdoor unit loses power for 1 s (a running compressor stops"
            " and restarts after its own delay); it counts as one of the board's power cycles"
            " in 24 h. [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            chk.line(None, "relay test", "skipped")
            return 0
    cmd = b'{"cmd": "relay_test", "id": "flash", "ms": 1000}\n'
    # The board never cuts power while its sensors settle after boot (boot_settle_min, 3 min
    # by default): a relay test is an interruption like any other. Wait for it, saying so.
    deadline = time.monotonic() + settle_wait_s
    waited = False
    while True:
        replies = read_lines(
            port, lambda m: m.kind == "reply" and m.get("id") == "flash", 30.0, send=cmd
        )
        reply = next((m for m in replies if m.kind == "reply" and m.get("id") == "flash"), None)
        if (
            reply is not None
            and not reply.get("ok")
            and reply.get("refused") == WAIT_SETTLE
            and time.monotonic() < deadline
        ):
            if not waited:
                say("        relay test: waiting for the sensors to settle after boot (the board")
                say("        never cuts power before; boot_settle_min in the device config)")
                waited = True
            time.sleep(5.0)
            continue
        break
    if reply is None:
        chk.line(False, "relay test", "no reply")
    elif not reply.get("ok"):
        chk.line(False, "relay test", str(reply.get("error")))
    else:
        chk.line(True, "relay test", str(reply.get("done")))
    return chk.failed


def reset_board(port: str, remove: tuple[str, ...] = ()) -> None:
    """Stop the firmware, delete the files named in `remove` (e.g. the state file), hard-reset.

    For test rigs: with remove=(STATE_FILE,) the board boots with no cycle history and no lockout.
    """
    hand_over(port)
    t = connect(port)
    try:
        t.exec(REARM_WDT)
        t.enter_raw_repl(soft_reset=True)
        for name in remove:
            t.exec("import os\ntry:\n os.remove(%r)\nexcept OSError:\n pass" % name)
        t.exec_raw_no_follow(RESET)
    finally:
        with contextlib.suppress(Exception):
            t.close()


# -- the command ----------------------------------------------------------------------------------


def flash(
    port: str | None,
    board: str | None = None,
    device_config: Path | None = None,
    keep_config: bool = False,
    relay: str = "ask",
    check: bool = True,
    check_timeout_s: float | None = None,
) -> int:
    """Flash and check one board; returns the number of failed checks (0: all good)."""
    if port in (None, "auto"):
        try:
            port, label = serial_link.auto_port()
        except serial_link.LinkError as exc:
            raise CliError(str(exc) + "; give --port") from None
        say("port: %s (%s)" % (port, label))
    started = time.monotonic()
    if hand_over(port) is not None:
        say("the firmware handed over its console (supervision stopped, unit powered)")
    t = connect(port)
    try:
        t.exec(REARM_WDT)  # a running firmware's 10 s watchdog would reset us mid-copy
        t.enter_raw_repl(soft_reset=True)
        info = probe(t)
        say(
            "board: MicroPython %s, %s, .mpy v%d"
            % (info.version_text, info.machine, info.mpy_major)
        )
        bpath, bconf = board_file(board, info)
        need = bconf.get("micropython_min")
        if need and info.version[:3] < tuple(int(x) for x in str(need).split(".")):
            raise CliError(
                "MicroPython %s on the board; %s needs %s or newer"
                % (info.version_text, bpath.name, need)
            )
        keep = keep_config and "config.json" in info.files
        if keep:
            dconf = json.loads(t.fs_readfile("config.json").decode())
            dconf = config.validate_device(dconf, "config.json on the board")
            dtext = None
        else:
            dpath = Path(device_config) if device_config else DEVICE_CONFIG
            dconf = device_file(dpath)
            dtext = dpath.read_bytes()
        out, what = compile_for(info)
        files = files_to_copy(out)
        files.append(("board.json", bpath.read_bytes()))
        if dtext is not None:
            files.append(("config.json", dtext))
        total = write_files(t, files)
        bad = verify(t, files)
        if bad:
            raise CliError("files differ on the board after copying: %s" % ", ".join(bad))
        say(
            "copied %d files (%d bytes, %s) with board %s and %s config, verified (%.1f s)"
            % (
                len(files),
                total,
                what,
                bpath.stem,
                "the board's own" if keep else "the given",
                time.monotonic() - started,
            )
        )
        if STATE_FILE in info.files:
            say("kept %s (power-cycle counters and lockout survive a reflash)" % STATE_FILE)
        t.exec_raw_no_follow(RESET)
        say("reset the board")
    finally:
        with contextlib.suppress(Exception):
            t.close()
    if not check:
        return 0
    period = float(dconf.get("sample_period_s", 5))
    timeout = check_timeout_s if check_timeout_s is not None else 3 * period + 30.0
    failed = bring_up(port, bconf, dconf, relay, timeout)
    say("bring-up: %s" % ("all checks passed" if not failed else "%d check(s) failed" % failed))
    return failed


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", default="auto", help="serial port (default: auto-detect)")
    parser.add_argument("--board", help="boards/NAME.json (default: the board's own, or by chip)")
    parser.add_argument(
        "--config", metavar="FILE", help="device config (default firmware/config.json)"
    )
    parser.add_argument(
        "--keep-config", action="store_true", help="keep the config.json already on the board"
    )
    parser.add_argument("--yes", action="store_true", help="run the relay test without asking")
    parser.add_argument("--no-check", action="store_true", help="skip the bring-up check")


def run(args: argparse.Namespace) -> int:
    failed = flash(
        args.port,
        args.board,
        Path(args.config) if args.config else None,
        args.keep_config,
        "yes" if args.yes else "ask",
        not args.no_check,
    )
    return 1 if failed else 0
