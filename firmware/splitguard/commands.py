"""Host → device commands: JSON lines read without blocking, each answered by one `reply` line.

LineReader assembles whatever bytes the port has into lines in one preallocated buffer;
Commands parses a line, checks every argument before touching anything, runs the command and
replies. Garbage, an over-long line, invalid JSON, an unknown command or a wrong argument gets
an error reply (`ok: false`, `error` naming the problem) and changes nothing. Neither class
ever raises. docs/protocol.md is the contract; the App (splitguard.app) owns the state the
commands act on (relay test, sensor override, reboot).
"""

import json

from splitguard import config, states
from splitguard.compat import NAN, const
from splitguard.config import show_value
from splitguard.reading import Reading
from splitguard.report import reading_fields
from splitguard.supervisor import RELAY_TEST_MAX_MS

# A full device config with every field is about 650 bytes of JSON; room for it in config_set.
MAX_LINE = const(1024)
RELAY_TEST_DEFAULT_MS = const(1000)
INJECT_MAX_S = const(600)
INJECT_DEFAULT_S = const(60)
TEST_MODE_DEFAULT_S = const(600)
# Test mode (injected readings allowed) ends by itself after at most this long.
TEST_MODE_MAX_S = const(3600)
# After `repl` the watchdog is (re)started with this timeout and no longer fed: a REPL nobody
# uses hands the board back to supervision by itself. `splitguard flash` extends it while copying.
HANDOVER_WDT_MS = const(30000)
# An override is for rehearsing what the sensors could report, not for impossible numbers.
_INJECT_C_MIN = const(-100)
_INJECT_C_MAX = const(200)
_INJECT_A_MAX = const(500)
# A reply lists at most this many config problems (each names its field); the count says if
# there were more.
_MAX_ERRORS = const(8)

# Which parts of the Reading an override replaces (App._inject_mask).
INJECT_COIL = const(1)
INJECT_AMBIENT = const(2)
INJECT_CT = const(4)

_THERM_FAULTS = (states.FAULT_OPEN, states.FAULT_SHORT, states.FAULT_RANGE)
_CT_FAULTS = (states.FAULT_CLIPPED, states.FAULT_CT_BIAS)
_INJECT_ARGS = ("coil_c", "coil_fault", "ambient_c", "ambient_fault", "amps", "ct_fault", "ttl_s")

# Command name → the arguments it takes besides "cmd" and "id".
COMMANDS = (
    ("status", ()),
    ("config_get", ()),
    ("config_set", ("config",)),
    ("clear_lockout", ()),
    ("power_cycle", ()),
    ("relay_test", ("ms",)),
    ("test_mode", ("on", "ttl_s")),
    ("inject", _INJECT_ARGS),
    ("reboot", ()),
    ("repl", ()),
)
# Sections of the device config that config_set merges field by field; every other field
# (thermistor and CT specs included) is replaced as a whole.
_SECTIONS = ("supervisor", "detector")


class CommandError(Exception):
    """A command's arguments are wrong; the message goes out as the reply's `error`."""


def _args_of(name):
    for cmd, args in COMMANDS:
        if cmd == name:
            return args
    return None


def _names():
    return ", ".join(cmd for cmd, _ in COMMANDS)


def _is_number(v):
    # bool is an int in CPython (not in MicroPython); `true` is never a number here.
    return type(v) is not bool and isinstance(v, (int, float))


def _finite(v):
    return v == v and v != float("inf") and v != float("-inf")


def _number(msg, key, default, lo, hi, unit):
    v = msg.get(key, default)
    if not _is_number(v) or not _finite(v):
        raise CommandError("%s: expected a number, got %s" % (key, show_value(v)))
    if v < lo or v > hi:
        raise CommandError(
            "%s: %s is out of range (allowed %d..%d %s)" % (key, show_value(v), lo, hi, unit)
        )
    return v


def _id_ok(v):
    if v is None or isinstance(v, str):
        return True
    return _is_number(v) and _finite(v) or v is True or v is False


def merge_config(base, patch):
    """`patch` over `base` (neither changed): sections merge by field, null removes a field."""
    out = {}
    for key in base:
        out[key] = base[key]
    for key in patch:
        v = patch[key]
        old = out.get(key)
        if v is None:
            if key in out:
                del out[key]
        elif key in _SECTIONS and isinstance(v, dict) and isinstance(old, dict):
            sec = {}
            for k in old:
                sec[k] = old[k]
            for k in v:
                if v[k] is None:
                    if k in sec:
                        del sec[k]
                else:
                    sec[k] = v[k]
            out[key] = sec
        else:
            out[key] = v
    return out


class ConfigFile:
    """The device config file, replaced atomically (temp file + rename, as store.Store does)."""

    def __init__(self, path, fs):
        self.path = path
        self.tmp_path = path + ".tmp"
        self._fs = fs

    def save(self, cfg):
        """Write `cfg` and read it back; None on success, else why not (a sentence)."""
        want = config.config_hash(cfg)
        try:
            with open(self.tmp_path, "w") as f:
                f.write(json.dumps(cfg))
                f.write("\n")
            try:
                self._fs.rename(self.tmp_path, self.path)
            except OSError:
                # FAT cannot rename over an existing file. If power is lost right here the board
                # boots without a config file and says so on serial (defaults, unit powered).
                try:
                    self._fs.remove(self.path)
                except OSError:
                    pass
                self._fs.rename(self.tmp_path, self.path)
            got = config.config_hash(config.load_json(self.path))
        except Exception as exc:  # noqa: BLE001 - a full or failing flash is a reply, not a crash
            try:
                self._fs.remove(self.tmp_path)
            except OSError:
                pass
            return "cannot save %s (%s)" % (self.path, exc)
        if got != want:
            return "%s does not read back as written (hash %s, expected %s)" % (
                self.path,
                got,
                want,
            )
        return None


class LineReader:
    """Bytes as they arrive → complete lines, in one buffer of `max_len` bytes; never raises.

    A line longer than the buffer is discarded up to its newline and handed on as None.
    """

    def __init__(self, max_len=MAX_LINE):
        self._buf = bytearray(max_len)
        self._mv = memoryview(self._buf)
        self.n = 0
        self._over = False

    def partial(self):
        """True while part of a line has arrived and its newline has not."""
        return self.n > 0 or self._over

    def feed(self, data, on_line, now_ms):
        """Take `data` (bytes or str); call on_line(now_ms, line_bytes_or_None) per line."""
        if not data:
            return
        if isinstance(data, str):
            data = data.encode()
        buf = self._buf
        size = len(buf)
        for b in data:
            if b == 10:
                n = self.n
                over = self._over
                self.n = 0
                self._over = False
                on_line(now_ms, None if over else bytes(self._mv[:n]))
            elif self._over:
                pass
            elif self.n < size:
                buf[self.n] = b
                self.n += 1
            else:
                self._over = True


class Commands:
    """Parses and runs host commands against an App; every line gets exactly one reply."""

    def __init__(self, app, device, config_file=None, version="?"):
        self.app = app
        self.active = device
        self.active_hash = config.config_hash(device)
        # What the board will run after its next boot: the active config until a config_set.
        self.saved = device
        self.saved_hash = self.active_hash
        self.config_file = config_file
        self.version = version
        self.received = 0  # non-blank lines
        self.rejected = 0  # lines answered with ok: false before the command ran

    # -- the line ------------------------------------------------------------------------------

    def handle_line(self, now_ms, line):
        """Answer one line (bytes without its newline; None for an over-long one). Never raises."""
        try:
            self._handle(now_ms, line)
        except Exception as exc:  # noqa: BLE001 - a bug here must not stop the control loop
            try:
                self._error(now_ms, None, None, "internal error: %s" % (exc,))
            except Exception:  # noqa: BLE001
                pass

    def _handle(self, now_ms, line):
        if line is None:
            self.received += 1
            self._error(now_ms, None, None, "line longer than %d bytes: discarded" % MAX_LINE)
            return
        try:
            text = line.decode()
        except Exception:  # noqa: BLE001 - UnicodeError on both runtimes
            self.received += 1
            self._error(now_ms, None, None, "line is not UTF-8 text")
            return
        text = text.strip()
        if not text:
            return  # a bare newline (a terminal's Enter) is not a command
        self.received += 1
        try:
            msg = json.loads(text)
        except Exception:  # noqa: BLE001 - ValueError, RecursionError, MemoryError
            self._error(now_ms, None, None, "invalid JSON")
            return
        if not isinstance(msg, dict):
            self._error(now_ms, None, None, 'expected a JSON object like {"cmd": "status"}')
            return
        req_id = msg.get("id")
        if not _id_ok(req_id):
            self._error(now_ms, None, None, "id: expected a string, a number or null")
            return
        name = msg.get("cmd")
        if not isinstance(name, str):
            why = "missing" if name is None else "expected a string, got %s" % show_value(name)
            self._error(now_ms, req_id, None, "cmd: %s" % why)
            return
        allowed = _args_of(name)
        if allowed is None:
            self._error(
                now_ms,
                req_id,
                None,
                "unknown command %s (known: %s)" % (show_value(name), _names()),
            )
            return
        for key in msg:
            if key != "cmd" and key != "id" and key not in allowed:
                self._error(
                    now_ms,
                    req_id,
                    name,
                    "%s: not an argument of %s (allowed: %s)"
                    % (show_value(key), name, ", ".join(allowed) if allowed else "none"),
                )
                return
        try:
            getattr(self, "_cmd_" + name)(now_ms, req_id, msg)
        except CommandError as exc:
            self._error(now_ms, req_id, name, str(exc))

    def _error(self, now_ms, req_id, name, error):
        self.rejected += 1
        body = {"error": error}
        if name is not None:
            body["cmd"] = name
        self.app.reporter.reply(now_ms, req_id, False, body)

    def _reply(self, now_ms, req_id, name, ok, body):
        # A refusal (the command was understood but not allowed now) is ok: false with a reason.
        body["cmd"] = name
        self.app.reporter.reply(now_ms, req_id, ok, body)

    # -- commands ------------------------------------------------------------------------------

    def _cmd_status(self, now_ms, req_id, msg):
        app = self.app
        d = app.supervisor.decision
        ob = app.outbox
        body = reading_fields(app.reading, {})
        body["fw"] = self.version
        body["uptime_s"] = app.uptime_s()
        body["config"] = self.active_hash
        body["config_saved"] = self.saved_hash
        body["reboot_required"] = self.saved_hash != self.active_hash
        body["unit"] = d.unit_state
        body["mode"] = d.mode
        body["sup"] = d.state
        body["since"] = d.state_since_ms
        body["reason"] = d.reason
        body["pending"] = d.pending
        body["blocked"] = d.blocked
        body["cut"] = d.power_cut
        body["relay"] = app.hal.power_cut()
        body["relay_test"] = app.relay_test_active()
        body["cycles"] = d.cycles_in_window
        body["cycle_limit"] = d.cycle_limit
        body["life_s"] = d.life_s
        body["led"] = d.led
        left = app.inject_left_ms(now_ms)
        body["injected"] = left > 0
        body["inject_left_s"] = (left + 999) // 1000
        left = app.test_mode_left_ms(now_ms)
        body["test_mode"] = left > 0
        body["test_left_s"] = (left + 999) // 1000
        body["dropped"] = ob.dropped_total if ob is not None else 0
        body["queued"] = ob.count if ob is not None else 0
        body["rx"] = self.received
        body["rx_errors"] = self.rejected
        self._reply(now_ms, req_id, "status", True, body)

    def _cmd_config_get(self, now_ms, req_id, msg):
        self._reply(
            now_ms,
            req_id,
            "config_get",
            True,
            {
                "config": self.active,
                "hash": self.active_hash,
                "config_saved": self.saved_hash,
                "reboot_required": self.saved_hash != self.active_hash,
            },
        )

    def _cmd_config_set(self, now_ms, req_id, msg):
        patch = msg.get("config")
        if not isinstance(patch, dict):
            raise CommandError(
                "config: expected an object of fields to change, got %s" % show_value(patch)
            )
        # Errors name the file as `splitguard config check` does for the same file.
        name = "config.json"
        if self.config_file is not None:
            name = self.config_file.path.rsplit("/", 1)[-1]
        # Successive partial sets build on each other: the base is what the next boot will load.
        merged = merge_config(self.saved, patch)
        try:
            cfg = config.validate_device(merged, name)
        except config.ConfigError as exc:
            self.rejected += 1
            errors = exc.errors
            shown = errors[:_MAX_ERRORS]
            text = "; ".join(shown)
            if len(errors) > len(shown):
                text += "; and %d more" % (len(errors) - len(shown))
            self._reply(
                now_ms,
                req_id,
                "config_set",
                False,
                {"error": text, "errors": shown, "problems": len(errors), "saved": False},
            )
            return
        new_hash = config.config_hash(cfg)
        body = {"hash": new_hash, "active": self.active_hash}
        if new_hash == self.saved_hash:
            body["changed"] = False
            body["saved"] = False
            body["reboot_required"] = new_hash != self.active_hash
            self._reply(now_ms, req_id, "config_set", True, body)
            return
        if self.config_file is None:
            body["error"] = "this board has no config file to write; nothing changed"
            body["saved"] = False
            self._reply(now_ms, req_id, "config_set", False, body)
            return
        why = self.config_file.save(cfg)
        if why is not None:
            # The old file may be gone (see ConfigFile.save); what the next boot loads is unsure.
            body["error"] = why
            body["saved"] = False
            self._reply(now_ms, req_id, "config_set", False, body)
            return
        self.saved = cfg
        self.saved_hash = new_hash
        body["changed"] = True
        body["saved"] = True
        # The supervisor, detector and sensor chain are built from the config at boot; the new
        # one runs from the next boot (the `reboot` command, or a power cycle of the board).
        body["reboot_required"] = new_hash != self.active_hash
        self._reply(now_ms, req_id, "config_set", True, body)

    def _cmd_clear_lockout(self, now_ms, req_id, msg):
        app = self.app
        d = app.supervisor.clear_lockout(now_ms, "host")
        if d.refused is not None:
            self._refused(now_ms, req_id, "clear_lockout", d)
            return
        app.apply(now_ms, d)
        self._reply(
            now_ms,
            req_id,
            "clear_lockout",
            True,
            {"sup": d.state, "cycles": d.cycles_in_window, "limit": d.cycle_limit},
        )

    def _cmd_power_cycle(self, now_ms, req_id, msg):
        app = self.app
        if app.relay_test_active():
            raise CommandError("a relay test is running; try again when it has ended")
        d = app.supervisor.request_power_cycle(now_ms, "host")
        if d.refused is not None:
            self._refused(now_ms, req_id, "power_cycle", d)
            return
        app.apply(now_ms, d)
        self._reply(
            now_ms,
            req_id,
            "power_cycle",
            True,
            {
                "refused": None,
                "sup": d.state,
                "cycles": d.cycles_in_window,
                "limit": d.cycle_limit,
            },
        )

    def _refused(self, now_ms, req_id, name, d):
        self.app.act(now_ms, d)
        self._reply(
            now_ms,
            req_id,
            name,
            False,
            {"error": d.refused, "refused": d.refused, "sup": d.state},
        )

    def _cmd_relay_test(self, now_ms, req_id, msg):
        ms = _number(msg, "ms", RELAY_TEST_DEFAULT_MS, 1, RELAY_TEST_MAX_MS, "ms")
        ms = int(ms)
        app = self.app
        why = None
        if app.decision is None:
            why = "no sample taken yet"
        else:
            # The supervisor's guards, limit and record, as for any power cycle.
            why = app.start_relay_test(now_ms, ms, req_id)
        if why is not None:
            d = app.supervisor.decision
            self._reply(
                now_ms,
                req_id,
                "relay_test",
                False,
                {"error": why, "refused": why, "sup": d.state},
            )
        # Otherwise the reply comes when the relay has been released (App → relay_test_done).

    def relay_test_done(self, now_ms, req_id, requested_ms, held_ms):
        """The deferred reply of a relay test, sent once the relay is released again."""
        self._reply(
            now_ms,
            req_id,
            "relay_test",
            True,
            {
                "ms": requested_ms,
                "held_ms": held_ms,
                "done": "relay energised (unit power cut) for %d ms, then released" % held_ms,
                "relay": self.app.hal.power_cut(),
            },
        )

    def _cmd_inject(self, now_ms, req_id, msg):
        ttl = _number(msg, "ttl_s", INJECT_DEFAULT_S, 0, INJECT_MAX_S, "s")
        app = self.app
        if ttl > 0 and app.test_mode_left_ms(now_ms) <= 0:
            raise CommandError(
                'test mode is off: send {"cmd": "test_mode", "on": true} first (injected '
                "readings are allowed only in test mode, which ends by itself)"
            )
        if ttl == 0:
            for key in _INJECT_ARGS:
                if key != "ttl_s" and msg.get(key) is not None:
                    raise CommandError("ttl_s: 0 ends the override and takes no values")
            app.set_inject(now_ms, None, 0, 0)
            self._reply(now_ms, req_id, "inject", True, {"injected": False})
            return
        inj = Reading()
        mask = 0
        fields = []
        for value_key, fault_key, faults, lo, hi, unit, bit in (
            ("coil_c", "coil_fault", _THERM_FAULTS, _INJECT_C_MIN, _INJECT_C_MAX, "C", INJECT_COIL),
            (
                "ambient_c",
                "ambient_fault",
                _THERM_FAULTS,
                _INJECT_C_MIN,
                _INJECT_C_MAX,
                "C",
                INJECT_AMBIENT,
            ),
            ("amps", "ct_fault", _CT_FAULTS, 0, _INJECT_A_MAX, "A", INJECT_CT),
        ):
            value = msg.get(value_key)
            fault = msg.get(fault_key)
            if value is not None and fault is not None:
                raise CommandError(
                    "%s and %s: give a value or a fault, not both" % (value_key, fault_key)
                )
            if value is not None:
                value = _number(msg, value_key, None, lo, hi, unit)
                fault = None
                fields.append(value_key)
            elif fault is not None:
                if fault not in faults:
                    raise CommandError(
                        "%s: %s is not a fault (allowed %s)"
                        % (fault_key, show_value(fault), ", ".join(faults))
                    )
                value = NAN
                fields.append(fault_key)
            else:
                continue
            mask |= bit
            if bit == INJECT_COIL:
                inj.coil_c = value
                inj.coil_fault = fault
            elif bit == INJECT_AMBIENT:
                inj.ambient_c = value
                inj.ambient_fault = fault
            else:
                inj.amps = value
                inj.ct_fault = fault
        if not mask:
            raise CommandError(
                "give at least one of coil_c, coil_fault, ambient_c, ambient_fault, amps, "
                "ct_fault (or ttl_s 0 to end an override)"
            )
        ttl_ms = int(ttl * 1000)
        app.set_inject(now_ms, inj, mask, ttl_ms)
        self._reply(
            now_ms,
            req_id,
            "inject",
            True,
            {
                "injected": True,
                "ttl_s": (app.inject_left_ms(now_ms) + 999) // 1000,
                "fields": fields,
                "test_left_s": (app.test_mode_left_ms(now_ms) + 999) // 1000,
            },
        )

    def _cmd_test_mode(self, now_ms, req_id, msg):
        on = msg.get("on", True)
        if on is not True and on is not False:
            raise CommandError("on: expected true or false, got %s" % show_value(on))
        app = self.app
        if not on:
            if msg.get("ttl_s") is not None:
                raise CommandError("ttl_s: not used when turning test mode off")
            app.set_test_mode(now_ms, 0)
            self._reply(now_ms, req_id, "test_mode", True, {"test_mode": False})
            return
        ttl = _number(msg, "ttl_s", TEST_MODE_DEFAULT_S, 1, TEST_MODE_MAX_S, "s")
        app.set_test_mode(now_ms, int(ttl * 1000))
        self._reply(
            now_ms,
            req_id,
            "test_mode",
            True,
            {"test_mode": True, "test_left_s": (app.test_mode_left_ms(now_ms) + 999) // 1000},
        )

    def _cmd_reboot(self, now_ms, req_id, msg):
        app = self.app
        why = None
        if app.reset is None:
            why = "this board cannot be reset by command"
        else:
            # The relay releases at boot: never while the supervisor holds power off. Checked
            # again when the reset happens (App._maybe_reboot), in case a cut came in between.
            why = app.release_refusal()
        if why is not None:
            self._reply(now_ms, req_id, "reboot", False, {"error": why, "refused": why})
            return
        self._reply(now_ms, req_id, "reboot", True, {"reboot": True})
        app.request_reboot(now_ms)

    def _cmd_repl(self, now_ms, req_id, msg):
        # How a flashing host gets in: Ctrl-C is off while supervising (docs/safety.md).
        app = self.app
        why = None
        if app.kbd_intr is None:
            why = "this board has no REPL to hand over to"
        else:
            why = app.release_refusal()
        if why is not None:
            d = app.supervisor.decision
            body = {"error": why, "refused": why, "sup": d.state}
            if d.state == states.POWER_OFF:
                body["off_left_s"] = app.supervisor.off_left_ms(now_ms) // 1000
            self._reply(now_ms, req_id, "repl", False, body)
            return
        self._reply(
            now_ms,
            req_id,
            "repl",
            True,
            {
                "repl": True,
                "watchdog_s": HANDOVER_WDT_MS // 1000,
                "reason": "supervision stopped, unit powered, Ctrl-C enabled; the watchdog "
                "restarts supervision in %d s unless a host extends it" % (HANDOVER_WDT_MS // 1000),
            },
        )
        app.request_handover(now_ms)
