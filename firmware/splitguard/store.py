"""The supervisor's memory across reboots: cycle history, lockout, life clock, in one small file.

The file is one JSON line and one line with its CRC-32 in hex. A save writes a temporary file and
renames it over the old one, so a power cut mid-write leaves either the old record or the new
one, never half of each. load() never raises: a missing, unreadable or corrupt file gives safe
defaults and a fault description for the caller to report (docs/state-machine.md, Persistence).
"""

import json

from splitguard import states
from splitguard.compat import const

RECORD_VERSION = const(1)
# A record is a handful of numbers; anything longer is not ours.
_MAX_BYTES = const(4096)
_MAX_CYCLES = const(64)

try:
    from errno import ENOENT as _ENOENT  # 2 on the ESP32, 44 under WASI
except ImportError:
    _ENOENT = 2

try:
    from binascii import crc32 as _crc32_native
except ImportError:  # a port built without binascii
    _crc32_native = None


def crc32_py(data):
    """CRC-32 (IEEE 802.3, as zlib/binascii) of bytes, bit by bit: slow but needs no table."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xEDB88320
            else:
                crc >>= 1
    return crc ^ 0xFFFFFFFF


def crc32(data):
    """CRC-32 of bytes as an unsigned number; binascii's when the port has it."""
    if _crc32_native is not None:
        return _crc32_native(data) & 0xFFFFFFFF
    return crc32_py(data)


def defaults():
    """A fresh record: no cycles, no lockout, life clock at zero, watching."""
    return {
        "v": RECORD_VERSION,
        "life_s": 0,
        "cycles": [],
        "lockout": False,
        "lockout_reason": None,
        "failed": 0,
        "state": states.WATCHING,
        "cause": None,
    }


def encode(record):
    """The bytes a save writes for `record`: JSON line, then CRC-32 of that line in hex."""
    body = json.dumps(record).encode()
    return body + b"\n" + ("%08x\n" % crc32(body)).encode()


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def decode(data):
    """The record in `data` (bytes), or raise ValueError saying what is wrong with it."""
    if len(data) > _MAX_BYTES:
        raise ValueError("%d bytes, more than any record" % len(data))
    parts = data.split(b"\n")
    if len(parts) != 3 or parts[2] != b"" or len(parts[1]) != 8:
        raise ValueError("not a JSON line followed by a checksum line (truncated?)")
    body = parts[0]
    try:
        stored = int(parts[1], 16)
    except ValueError:
        raise ValueError("checksum line is not hex") from None
    actual = crc32(body)
    if stored != actual:
        raise ValueError("checksum %08x does not match content %08x" % (stored, actual))
    try:
        rec = json.loads(body.decode())
    except Exception:
        raise ValueError("content is not JSON") from None
    _check(rec)
    return rec


# Every field a record holds, and the only ones: a record with a field missing, an unknown field
# or a field of the wrong kind was not written by this firmware and is corrupt.
FIELDS = ("v", "life_s", "cycles", "lockout", "lockout_reason", "failed", "state", "cause")
# The life clock as a MicroPython small int on the ESP32 (31-bit): 34 years of supervised time.
_LIFE_MAX = const(0x3FFFFFFF)
# Failed cycles in a row: a handful in practice; a bound keeps a forged number harmless.
_FAILED_MAX = const(1000)
_REASON_MAX = const(512)
# What a POWER_OFF or RESTORING can be about (supervisor.CAUSE_*): nothing else is accepted.
CAUSES = (
    states.EV_DEFROST_TOO_LONG,
    states.EV_DEFROST_TOO_FREQUENT,
    states.EV_NOT_RECOVERED,
    "manual",
    "relay_test",
)


def _check(rec):
    # A record that passes the CRC but not these was written by something else: treat as corrupt.
    # Every field is checked here, so the supervisor can index a loaded record without a guard.
    if not isinstance(rec, dict):
        raise ValueError("content is not an object")
    if rec.get("v") != RECORD_VERSION:
        raise ValueError("record version %r, expected %d" % (rec.get("v"), RECORD_VERSION))
    for key in FIELDS:
        if key not in rec and key != "cause":
            raise ValueError("field %s is missing" % key)
    for key in rec:
        if key not in FIELDS:
            raise ValueError("unknown field %r" % (key,))
    life = rec["life_s"]
    if not _is_int(life) or life < 0 or life > _LIFE_MAX:
        raise ValueError("life_s %r is not a whole number in 0..%d" % (life, _LIFE_MAX))
    cycles = rec["cycles"]
    if not isinstance(cycles, list) or len(cycles) > _MAX_CYCLES:
        raise ValueError("cycles is not a short list")
    last = 0
    for c in cycles:
        if not _is_int(c) or c < last or c > life:
            raise ValueError("cycle stamp %r is not in order within 0..life_s" % (c,))
        last = c
    lockout = rec["lockout"]
    if not isinstance(lockout, bool):
        raise ValueError("lockout is not true/false")
    state = rec["state"]
    if not isinstance(state, str) or state not in states.SUPERVISOR_STATES:
        raise ValueError("state %r is not a supervisor state" % (state,))
    if lockout != (state == states.LOCKOUT):
        raise ValueError("lockout %r contradicts state %s" % (lockout, state))
    reason = rec["lockout_reason"]
    if reason is not None and (not isinstance(reason, str) or len(reason) > _REASON_MAX):
        raise ValueError("lockout_reason is not a short text")
    failed = rec["failed"]
    if not _is_int(failed) or failed < 0 or failed > _FAILED_MAX:
        raise ValueError("failed %r is not a whole number in 0..%d" % (failed, _FAILED_MAX))
    cause = rec.get("cause")
    if cause is not None and (not isinstance(cause, str) or cause not in CAUSES):
        raise ValueError("cause %r is not a known cause" % (cause,))
    if (state == states.POWER_OFF or state == states.RESTORING) and cause is None:
        raise ValueError("state %s without a cause" % state)


class Store:
    """One record in one file on `fs` (MicroPython's `os`, or CPython's `os`)."""

    def __init__(self, path, fs, opener=None):
        self.path = path
        self.tmp_path = path + ".tmp"
        self._fs = fs
        # The builtin open; a test harness passes one that fails or loses power mid-write.
        self._open = opener if opener is not None else open
        self.fault = None  # a sentence for the caller's `fault` line, or None
        self.fault_kind = None  # None, "missing", "corrupt", "unreadable" or "write"

    def _read(self, path):
        # (record, None) or (None, (kind, why)).
        try:
            with self._open(path, "rb") as f:
                data = f.read(_MAX_BYTES + 1)
        except OSError as exc:
            if exc.args and exc.args[0] == _ENOENT:
                return None, ("missing", "no such file")
            return None, ("unreadable", "cannot read it (%r)" % (exc,))
        try:
            return decode(data), None
        except ValueError as exc:
            return None, ("corrupt", str(exc))
        except Exception as exc:  # anything odd in the bytes is corruption, never a crash
            return None, ("corrupt", "%r" % (exc,))

    def _remove(self, path):
        try:
            self._fs.remove(path)
        except OSError:
            pass

    def load(self):
        """The stored record, or defaults with `fault` set; never raises.

        After a corrupt or unreadable file the defaults carry "history_lost": True so the
        supervisor can assume the worst about recent cycles.
        """
        self.fault = None
        self.fault_kind = None
        rec, err = self._read(self.path)
        if rec is not None:
            # A temp file next to a good record is an interrupted save of a newer one; the good
            # record is the last complete state, so the leftover goes.
            self._remove(self.tmp_path)
            return rec
        tmp_rec, _ = self._read(self.tmp_path)
        if tmp_rec is not None:
            # The temp file was written and checked completely; only the rename was lost (on a
            # filesystem that cannot rename over a file, between remove and rename).
            try:
                self._fs.rename(self.tmp_path, self.path)
            except OSError:
                pass
            if err[0] == "missing":
                return tmp_rec
            self.fault_kind = err[0]
            self.fault = "store %s was %s (%s); recovered the newer copy %s" % (
                self.path,
                err[0],
                err[1],
                self.tmp_path,
            )
            return tmp_rec
        self._remove(self.tmp_path)
        rec = defaults()
        self.fault_kind = err[0]
        if err[0] == "missing":
            self.fault = (
                "store %s is missing: starting with no cycle history (normal on first boot)"
                % (self.path)
            )
        else:
            rec["history_lost"] = True
            self.fault = "store %s is %s (%s): starting from safe defaults" % (
                self.path,
                err[0],
                err[1],
            )
        return rec

    def save(self, record):
        """Write `record` atomically; True on success, else False with `fault` set. Never raises."""
        try:
            data = encode(record)
            with self._open(self.tmp_path, "wb") as f:
                f.write(data)
            try:
                self._fs.rename(self.tmp_path, self.path)
            except OSError:
                # FAT cannot rename over an existing file; load() recovers the temp file if
                # power is lost between these two lines.
                self._remove(self.path)
                self._fs.rename(self.tmp_path, self.path)
        except Exception as exc:
            self.fault_kind = "write"
            self.fault = "cannot save store %s (%r): history since boot may be lost on restart" % (
                self.path,
                exc,
            )
            return False
        if self.fault_kind == "write":
            self.fault = None
            self.fault_kind = None
        return True
