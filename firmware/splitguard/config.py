"""Board and device configuration: load, validate, merge defaults, hash.

One routine serves the board at boot and `splitguard config check` on the host, so a file the
host accepts is a file the board accepts. Every problem in a file is reported at once, one line
each, naming the file, the field, the value and what is allowed.

Defaults and bounds come from published defrost figures; the source ids (S-D*) are listed per
field in docs/configuration.md.
"""

import errno
import json

from splitguard.compat import const

# Field kinds. What the firmware does with a number decides its kind: a value that becomes
# ticks, a sleep or an int must be one the board's single-precision floats convert exactly, the
# same as CPython's doubles (time.ticks_add and time.sleep_ms take only ints on MicroPython).
_NUM = const(0)  # int or float, used as a float (temperatures go through float32 fixed point)
_INT = const(1)  # whole number (a float with no fraction is accepted and stored as int)
_CHOICE = const(2)  # one of a tuple of values (lo holds the tuple)
_BOOL = const(3)
_STR = const(4)
_SECTION = const(5)  # nested object; default holds its field table
_THERM = const(6)  # thermistor spec, replaced as a whole
_CT = const(7)  # CT clamp spec, replaced as a whole
_PIN = const(8)  # GPIO number; chip rules checked after the whole board is read
_VERSION = const(9)  # "1.23" or "1.23.0"
# Whole or in steps of 0.25 of the unit (stored as int when whole): for durations the firmware
# turns into milliseconds. A quarter is an exact binary fraction, so x * 60000 (minutes) or
# x * 1000 (seconds) is an exact whole number in float32 as in a double, truncated or rounded.
_QUARTER = const(10)

# A field is (name, kind, default, lo, hi, unit). _REQUIRED as default: must be present.
# _OPTIONAL: may be absent, and then is absent from the result too.
_REQUIRED = "required"
_OPTIONAL = "optional"

_THERMISTOR_FORMS = ("beta", "table", "points", "coefficients")

_SUPERVISOR = (
    # Longest published manufacturer cap (S-D1, S-D10: 15 min); floor 8 because a unit may
    # legitimately run 7.5 min defrosts (S-D8, S-D9) and a lower limit would flag them.
    ("defrost_max_min", _QUARTER, 15, 8, 60, "minutes"),
    ("frequent_defrost_count", _INT, 3, 2, 10, "defrosts"),
    # No published unit starts defrosts less than 30 min apart (S-D5, S-D16, S-D20).
    ("frequent_defrost_interval_min", _QUARTER, 30, 10, 120, "minutes"),
    ("recovery_timeout_min", _QUARTER, 10, 3, 60, "minutes"),
    # 30 min is the common manual-reset advice and the peer project's RELAY_OFF_TIME (S-D30);
    # the 5 min floor protects the compressor and is not negotiable.
    ("power_off_min", _QUARTER, 30, 5, 240, "minutes"),
    ("max_cycles_per_24h", _INT, 3, 1, 10, "power cycles"),
    ("boot_settle_min", _QUARTER, 3, 1, 30, "minutes"),
    ("lockout_clear_hold_s", _QUARTER, 5, 2, 30, "seconds"),
)

_DETECTOR = (
    ("running_amps", _NUM, 1.0, 0.2, 10, "A"),
    ("frost_delta_k", _NUM, 5.0, 2, 15, "K"),  # S-D30, S-D31
    ("frost_hold_min", _QUARTER, 5, 1, 60, "minutes"),  # S-D30
    ("frost_ambient_min_c", _NUM, -12.0, -30, 10, "°C"),  # S-D24
    ("frost_ambient_max_c", _NUM, 5.0, -30, 10, "°C"),  # S-D26
    # Lowest published termination is 3.1 °C (S-D6); below 0 °C ice cannot have melted.
    ("defrost_end_coil_c", _NUM, 3.0, 0, 25, "°C"),
    # No defrost is believed above this ambient: frost stops near +6 °C air (S-D26) plus 2 K
    # for units that defrost on a timer without need (S-D24, S-D30).
    ("defrost_ambient_max_c", _NUM, 8.0, -5, 15, "°C"),
)

_DEVICE = (
    # Whole seconds: the sampling schedule, the simulator and replay all step in whole seconds.
    ("sample_period_s", _INT, 5, 1, 60, "seconds"),
    ("mains_hz", _CHOICE, 50, (50, 60), None, "Hz"),
    ("coil_thermistor", _THERM, None, None, None, None),
    ("ambient_thermistor", _THERM, None, None, None, None),
    ("ct", _CT, None, None, None, None),
    ("supervisor", _SECTION, _SUPERVISOR, None, None, None),
    ("detector", _SECTION, _DETECTOR, None, None, None),
    ("notes", _STR, _OPTIONAL, None, None, None),
)

_DIVIDER = (
    # ADC pins are not 5 V tolerant: the divider runs from the 3.3 V rail.
    ("supply_v", _NUM, _REQUIRED, 1.0, 3.6, "V"),
    ("fixed_ohm", _NUM, _REQUIRED, 100, 1000000, "ohm"),
    ("thermistor_side", _CHOICE, _REQUIRED, ("low", "high"), None, None),
)

_CT_BIAS = (
    ("supply_v", _NUM, _REQUIRED, 1.0, 3.6, "V"),
    ("divider_ohm", _NUM, _REQUIRED, 100, 1000000, "ohm"),
)

_BOARD = (
    ("name", _STR, _REQUIRED, None, None, None),
    ("chip", _CHOICE, _REQUIRED, ("esp32", "esp32s3"), None, None),
    ("micropython_min", _VERSION, _REQUIRED, None, None, None),
    ("adc_atten_db", _CHOICE, _REQUIRED, (0, 2.5, 6, 11), None, "dB"),
    ("coil_adc_pin", _PIN, _REQUIRED, None, None, None),
    ("ambient_adc_pin", _PIN, _REQUIRED, None, None, None),
    ("ct_adc_pin", _PIN, _REQUIRED, None, None, None),
    ("divider", _SECTION, _DIVIDER, None, None, None),
    ("ct_bias", _SECTION, _CT_BIAS, _OPTIONAL, None, None),
    ("relay_pin", _PIN, _REQUIRED, None, None, None),
    ("relay_active_high", _BOOL, _REQUIRED, None, None, None),
    ("led_pin", _PIN, _REQUIRED, None, None, None),
    ("led_active_high", _BOOL, _REQUIRED, None, None, None),
    ("button_pin", _PIN, _REQUIRED, None, None, None),
    ("notes", _STR, _OPTIONAL, None, None, None),
)

# Sensor specs (replaced as a whole, never merged with the default spec).
_BETA = (
    ("r25_ohm", _NUM, _REQUIRED, 100, 1000000, "ohm"),
    ("beta_k", _NUM, _REQUIRED, 1000, 10000, "K"),
    # r25_ohm is the resistance at t0_c (25 °C unless given), as Thermistor.from_beta.
    ("t0_c", _NUM, _OPTIONAL, -55, 150, "°C"),
)

_CT_CURRENT = (
    ("turns", _NUM, _REQUIRED, 100, 10000, "turns"),
    ("burden_ohm", _NUM, _REQUIRED, 1, 10000, "ohm"),
)

_CT_VOLTAGE = (
    ("rated_amps", _NUM, _REQUIRED, 1, 200, "A"),
    ("rated_volts", _NUM, _REQUIRED, 0.1, 3.3, "V"),
)

# Optional ADC window overrides for the CT input, in µV at the pin (CTClamp.from_spec). Whole:
# the clamp's sample window works in int µV.
_CT_RAILS = (
    ("low_uv", _INT, _OPTIONAL, 0, 3600000, "uV"),
    ("high_uv", _INT, _OPTIONAL, 0, 3600000, "uV"),
    ("bias_min_uv", _INT, _OPTIONAL, 0, 3600000, "uV"),
    ("bias_max_uv", _INT, _OPTIONAL, 0, 3600000, "uV"),
)

_CT_TYPES = {"current": _CT_CURRENT, "voltage": _CT_VOLTAGE}

_ADC_PINS = ("coil_adc_pin", "ambient_adc_pin", "ct_adc_pin")
_PIN_FIELDS = (
    "coil_adc_pin",
    "ambient_adc_pin",
    "ct_adc_pin",
    "relay_pin",
    "led_pin",
    "button_pin",
)


class ConfigError(Exception):
    """A configuration file is unusable; `.errors` holds every problem, one line each."""

    def __init__(self, errors, filename=None):
        self.errors = list(errors)
        self.filename = filename
        super().__init__("\n".join(self.errors))

    def __str__(self):
        return "\n".join(self.errors)


# --- chip facts (ESP32 and ESP32-S3 datasheets / ESP-IDF GPIO tables) ---------------------


def _chip_facts(chip):
    """(gpio_ok, adc1, reserved, input_only, strapping) predicates-as-tuples for a chip."""
    if chip == "esp32s3":
        gpio = tuple(range(0, 22)) + tuple(range(26, 49))
        adc1 = tuple(range(1, 11))
        # 26-32 SPI flash/PSRAM; 33-37 octal flash/PSRAM on -R8/-WROOM-2 modules; 19/20 native
        # USB; 43/44 UART0 console.
        reserved = tuple(range(26, 38)) + (19, 20, 43, 44)
        return gpio, adc1, reserved, (), (0, 3, 45, 46)
    gpio = tuple(range(0, 20)) + (21, 22, 23, 25, 26, 27) + tuple(range(32, 40))
    # 6-11 SPI flash; 16/17 PSRAM on WROVER modules; 1/3 UART0 console.
    reserved = (1, 3, 6, 7, 8, 9, 10, 11, 16, 17)
    return gpio, tuple(range(32, 40)), reserved, tuple(range(34, 40)), (0, 2, 5, 12, 15)


# --- value checks ---------------------------------------------------------------------------


def _num_text(x):
    """A number as a person writes it: 5, 2.5, -12."""
    if type(x) is float and abs(x) < 1e15 and x == int(x):
        return "%d" % int(x)
    return str(x)


def show_value(v):
    """A value as an error message quotes it (JSON spelling, strings in single quotes, cut)."""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        # Bounded: the value may be anything a host sent over serial.
        return "'%s'" % (v if len(v) <= 40 else v[:40] + "...")
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, (float, int)):
        return str(v)
    return repr(v)


def _is_number(v):
    # bool is an int subclass in CPython; a `true` where a number belongs is a mistake.
    return type(v) is not bool and isinstance(v, (int, float))


def _finite(v):
    return v == v and v not in (float("inf"), float("-inf"))


def _range_text(lo, hi, unit):
    text = "%s..%s" % (_num_text(lo), _num_text(hi))
    return text + " " + unit if unit else text


def _choice_text(choices, unit):
    parts = [show_value(c) if isinstance(c, str) else _num_text(c) for c in choices]
    text = " or ".join(parts) if len(parts) < 3 else ", ".join(parts[:-1]) + " or " + parts[-1]
    return text + " " + unit if unit else text


def _floor(x):
    f = int(x)
    return f - 1 if f > x else f


def _number(v, path, errors, lo=None, hi=None, unit=None, kind=_NUM):
    """The number v if it is one (and in range), else None with a line added to errors.

    kind _INT: whole, returned as an int; _QUARTER: whole (returned as an int) or a multiple of
    0.25 (an exact binary fraction, returned as a float); _NUM: any finite number, as given.
    """
    if not _is_number(v):
        errors.append("%s: expected a number, got %s" % (path, show_value(v)))
        return None
    if not _finite(v):
        errors.append("%s: expected a finite number, got %s" % (path, show_value(v)))
        return None
    of = " of " + unit if unit else ""
    if kind == _INT:
        if v != int(v):
            errors.append("%s: %s is not a whole number%s" % (path, show_value(v), of))
            return None
        v = int(v)
    elif kind == _QUARTER:
        q = v * 4
        if q != int(q):
            below = _floor(q) / 4
            errors.append(
                "%s: %s is not in steps of 0.25%s (nearest: %s or %s)"
                % (
                    path,
                    show_value(v),
                    " " + unit if unit else "",
                    _num_text(below),
                    _num_text(below + 0.25),
                )
            )
            return None
        if v == int(v):
            v = int(v)
    if lo is not None and (v < lo or v > hi):
        errors.append(
            "%s: %s is out of range (allowed %s)" % (path, show_value(v), _range_text(lo, hi, unit))
        )
        return None
    return v


def _edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        prev = cur
    return prev[len(b)]


def _closest(name, candidates):
    """The candidate a typo most likely meant, or None when nothing is close."""
    best, best_d = None, 1 + max(2, len(name) // 3)
    for c in candidates:
        d = _edit_distance(name, c)
        if d < best_d:
            best, best_d = c, d
    return best


def _join(path, name):
    return path + "." + name if path else name


def _unknown_keys(data, names, path, errors):
    for key in data:
        if key not in names:
            guess = _closest(str(key), names)
            hint = " (did you mean %s?)" % guess if guess else ""
            errors.append("%s: unknown field%s" % (_join(path, str(key)), hint))


# --- sections --------------------------------------------------------------------------------


def _defaults(fields):
    """A fresh nested dict of every default in a field table."""
    out = {}
    for name, kind, default, _lo, _hi, _unit in fields:
        if kind == _SECTION:
            if _lo != _OPTIONAL:
                out[name] = _defaults(default)
        elif kind == _THERM:
            out[name] = {"beta": {"r25_ohm": 10000, "beta_k": 3950}}
        elif kind == _CT:
            # SCT-013-000 (100 A : 50 mA, 2000 turns) with a 33 ohm burden: inside the 11 dB
            # window up to about 34 A, where a 30 A / 1 V clamp clips above about 17 A.
            out[name] = {"type": "current", "turns": 2000, "burden_ohm": 33}
        elif default not in (_REQUIRED, _OPTIONAL):
            out[name] = default
    return out


def _section(data, fields, path, errors, fill_defaults):
    """Check an object against a field table; the checked values, defaults merged if asked."""
    if not isinstance(data, dict):
        errors.append("%s: expected an object, got %s" % (path or "top level", show_value(data)))
        return {}
    names = [f[0] for f in fields]
    _unknown_keys(data, names, path, errors)
    out = {}
    for name, kind, default, lo, hi, unit in fields:
        here = _join(path, name)
        if name not in data:
            if kind == _SECTION:
                if lo == _OPTIONAL:
                    continue
                if fill_defaults:
                    out[name] = _defaults(default)
                    continue
                errors.append("%s: missing (required)" % here)
            elif default == _REQUIRED:
                errors.append("%s: missing (required)" % here)
            elif fill_defaults and default != _OPTIONAL:
                out[name] = _defaults(((name, kind, default, lo, hi, unit),))[name]
            continue
        v = _field(data[name], kind, default, lo, hi, unit, here, errors, fill_defaults)
        if v is not None:
            out[name] = v
    return out


def _field(v, kind, default, lo, hi, unit, path, errors, fill_defaults):
    if kind in (_NUM, _INT, _QUARTER):
        return _number(v, path, errors, lo, hi, unit, kind)
    if kind == _CHOICE:
        for c in lo:
            if (type(c) is type(v) or (_is_number(c) and _is_number(v))) and c == v:
                return c
        errors.append(
            "%s: %s is not allowed (allowed %s)" % (path, show_value(v), _choice_text(lo, unit))
        )
        return None
    if kind == _BOOL:
        if v is True or v is False:
            return v
        errors.append("%s: expected true or false, got %s" % (path, show_value(v)))
        return None
    if kind == _STR:
        if isinstance(v, str):
            return v
        errors.append("%s: expected a string, got %s" % (path, show_value(v)))
        return None
    if kind == _VERSION:
        return _version(v, path, errors)
    if kind == _PIN:
        return _number(v, path, errors, 0, 48, None, _INT)
    if kind == _SECTION:
        return _section(v, default, path, errors, fill_defaults)
    if kind == _THERM:
        return _thermistor(v, path, errors)
    return _ct(v, path, errors)


def _version(v, path, errors):
    ok = isinstance(v, str)
    if ok:
        parts = v.split(".")
        ok = 2 <= len(parts) <= 3
        for p in parts:
            ok = ok and len(p) > 0 and p.isdigit()
    if not ok:
        errors.append("%s: expected a version like '1.23', got %s" % (path, show_value(v)))
        return None
    return v


def _version_tuple(text):
    return tuple(int(p) for p in text.split("."))


# --- sensor specs: shape only; the physics is Thermistor.from_spec / CTClamp.from_spec -------


def _rows(v, path, errors, width, min_rows, max_rows):
    """A list of `width`-number rows, or None with errors added."""
    if not isinstance(v, list):
        errors.append("%s: expected a list of [t_c, r_ohm] rows, got %s" % (path, show_value(v)))
        return None
    if len(v) < min_rows or len(v) > max_rows:
        want = "%d" % min_rows if min_rows == max_rows else "at least %d" % min_rows
        errors.append("%s: expected %s rows, got %d" % (path, want, len(v)))
        return None
    out = []
    n_errors = len(errors)
    for i, row in enumerate(v):
        here = "%s[%d]" % (path, i)
        if not isinstance(row, list) or len(row) != width:
            errors.append("%s: expected [t_c, r_ohm], got %s" % (here, show_value(row)))
            continue
        t = _number(row[0], here + "[0]", errors)
        r = _number(row[1], here + "[1]", errors)
        if r is not None and r <= 0:
            errors.append("%s: resistance must be positive, got %s" % (here + "[1]", show_value(r)))
        out.append([t, r])
    return out if len(errors) == n_errors else None


def _thermistor(v, path, errors):
    if not isinstance(v, dict):
        errors.append("%s: expected an object, got %s" % (path, show_value(v)))
        return None
    forms = [k for k in _THERMISTOR_FORMS if k in v]
    _unknown_keys(v, _THERMISTOR_FORMS, path, errors)
    if len(forms) != 1:
        errors.append(
            "%s: give exactly one of beta, table, points, coefficients (got %s)"
            % (path, ", ".join(forms) if forms else "none")
        )
        return None
    form = forms[0]
    here = path + "." + form
    body = v[form]
    n_errors = len(errors)
    if form == "beta":
        spec = _section(body, _BETA, here, errors, False)
    elif form == "table":
        spec = _rows(body, here, errors, 2, 2, 1000)
    elif form == "points":
        spec = _rows(body, here, errors, 2, 3, 3)
    else:
        spec = None
        if not isinstance(body, list) or len(body) != 3:
            errors.append("%s: expected [a, b, c], got %s" % (here, show_value(body)))
        else:
            spec = [_number(x, "%s[%d]" % (here, i), errors) for i, x in enumerate(body)]
    if len(errors) != n_errors:
        return None
    return {form: spec}


def _ct(v, path, errors):
    if not isinstance(v, dict):
        errors.append("%s: expected an object, got %s" % (path, show_value(v)))
        return None
    kind = v.get("type")
    if isinstance(kind, str) and kind in _CT_TYPES:
        fields = (("type", _STR, _REQUIRED, None, None, None),) + _CT_TYPES[kind] + _CT_RAILS
    else:
        if "type" in v:
            errors.append(
                "%s.type: %s is not allowed (allowed 'voltage' or 'current')"
                % (path, show_value(kind))
            )
        else:
            errors.append("%s.type: missing (required: 'voltage' or 'current')" % path)
        return None
    n_errors = len(errors)
    spec = _section(v, fields, path, errors, False)
    return spec if len(errors) == n_errors else None


# What user data can make a sensor fit or the JSON parser raise; each becomes a line naming the
# field or file instead of a traceback. ArithmeticError: an OverflowError or ZeroDivisionError
# from extreme table values; MemoryError: a large table on the board's small heap; recursion: a
# deeply nested file (CPython's RecursionError; MicroPython raises RuntimeError and has no name
# for it).
try:
    _DEEP = RecursionError
except NameError:
    _DEEP = RuntimeError
_USER_DATA_ERRORS = (ValueError, TypeError, LookupError, ArithmeticError, MemoryError, _DEEP)


def _physics(cfg, errors):
    """Let the sensor modules reject specs that are well-formed but physically wrong."""
    try:
        from splitguard.thermistor import Thermistor
    except ImportError:
        Thermistor = None
    try:
        from splitguard.ct_clamp import CTClamp
    except ImportError:
        CTClamp = None
    checks = (
        ("coil_thermistor", Thermistor),
        ("ambient_thermistor", Thermistor),
        ("ct", CTClamp),
    )
    for name, cls in checks:
        if cls is None or name not in cfg or not hasattr(cls, "from_spec"):
            continue
        try:
            cls.from_spec(cfg[name])
        except _USER_DATA_ERRORS as exc:
            errors.append("%s: %s" % (name, exc))


# --- public ----------------------------------------------------------------------------------


def _fail(errors, filename):
    prefix = (filename + ": ") if filename else ""
    raise ConfigError([prefix + e for e in errors], filename)


_KIND_NAMES = {
    _NUM: "number",
    _INT: "whole",
    _QUARTER: "quarter",
    _CHOICE: "choice",
    _BOOL: "bool",
    _STR: "string",
    _PIN: "whole",
    _VERSION: "version",
}


def field_list(board=False):
    """Every setting of the device config (or board file) as (path, kind, default, lo, hi, unit).

    Read from the tables themselves, for tests and tools, so a setting added later is covered
    without anyone listing it. kind: "number" (any finite number), "whole", "quarter" (whole or
    in steps of 0.25), "choice" (lo holds the choices), "bool", "string", "version"; default is
    "required" or "optional" for a field without one. A sensor spec's fields are listed under
    their form: coil_thermistor.beta.r25_ohm, ct.current.turns, ct.voltage.rated_volts.
    """
    out = []
    _walk(_BOARD if board else _DEVICE, "", out)
    return out


def _walk(fields, path, out):
    for name, kind, default, lo, hi, unit in fields:
        here = _join(path, name)
        if kind == _SECTION:
            _walk(default, here, out)
        elif kind == _THERM:
            _walk(_BETA, here + ".beta", out)
        elif kind == _CT:
            for ct_type in ("current", "voltage"):
                _walk(_CT_TYPES[ct_type] + _CT_RAILS, here + "." + ct_type, out)
        else:
            if kind == _PIN:
                lo, hi = 0, 48
            out.append((here, _KIND_NAMES[kind], default, lo, hi, unit))


def default_device():
    """The device configuration with every default filled in (a fresh dict)."""
    return _defaults(_DEVICE)


def validate_device(data, filename="config.json"):
    """The device config `data` merged over the defaults; ConfigError lists every problem."""
    errors = []
    cfg = _section(data, _DEVICE, "", errors, True)
    det = cfg.get("detector", {})
    lo, hi = det.get("frost_ambient_min_c"), det.get("frost_ambient_max_c")
    if lo is not None and hi is not None and lo >= hi:
        errors.append(
            "detector.frost_ambient_min_c: %s must be below frost_ambient_max_c (%s)"
            % (show_value(lo), show_value(hi))
        )
    if not errors:
        _physics(cfg, errors)
    if errors:
        _fail(errors, filename)
    return cfg


def validate_board(data, filename="board.json"):
    """The board file `data` checked: fields, ADC1-only analog pins, usable distinct GPIOs."""
    errors = []
    board = _section(data, _BOARD, "", errors, False)
    chip = board.get("chip")
    if chip is not None:
        gpio, adc1, reserved, input_only, strapping = _chip_facts(chip)
        seen = {}
        for name in _PIN_FIELDS:
            pin = board.get(name)
            if pin is None:
                continue
            if pin in seen:
                errors.append("%s: GPIO%d is already used by %s" % (name, pin, seen[pin]))
            seen[pin] = name
            why = _pin_problem(name, pin, chip, gpio, adc1, reserved, input_only, strapping)
            if why:
                errors.append("%s: GPIO%d %s" % (name, pin, why))
    version = board.get("micropython_min")
    if version is not None and _version_tuple(version) < (1, 23):
        errors.append("micropython_min: %s is older than 1.23, the oldest supported" % version)
    if errors:
        _fail(errors, filename)
    return board


def _pin_problem(name, pin, chip, gpio, adc1, reserved, input_only, strapping):
    label = "ESP32-S3" if chip == "esp32s3" else "ESP32"
    if pin not in gpio:
        return "does not exist on the %s" % label
    if name in _ADC_PINS:
        if pin not in adc1:
            # ADC2 is taken over by the Wi-Fi driver, so only ADC1 reads reliably.
            return "is not an ADC1 pin (allowed GPIO%d..%d on the %s)" % (adc1[0], adc1[-1], label)
        return None
    if pin in reserved:
        return "is reserved (flash/PSRAM, USB or console UART) on the %s" % label
    if name != "button_pin" and pin in input_only:
        return "is input-only on the %s" % label
    if name == "relay_pin" and pin in strapping:
        # A relay driver's pull on a strapping pin can change the boot mode.
        return "is a strapping pin on the %s; the relay must not drive boot straps" % label
    return None


def is_board(data):
    """True when `data` looks like a board file rather than a device config."""
    return isinstance(data, dict) and ("chip" in data or "relay_pin" in data)


def load_json(path):
    """The parsed JSON in `path`; ConfigError names the file for a missing file or bad JSON."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        missing = exc.args and exc.args[0] == errno.ENOENT
        reason = "no such file" if missing else "cannot read (%s)" % exc
        raise ConfigError(["%s: %s" % (path, reason)], path) from None
    try:
        return json.loads(text)
    except (ValueError, MemoryError, _DEEP) as exc:
        line = getattr(exc, "lineno", None)
        msg = getattr(exc, "msg", None) or str(exc)
        if line is not None:
            where = "line %d column %d: " % (line, getattr(exc, "colno", 0))
        else:
            where = ""
        raise ConfigError(["%s: %sinvalid JSON (%s)" % (path, where, msg)], path) from None


def load_device(path):
    """The validated device config read from `path`."""
    return validate_device(load_json(path), path)


def load_board(path):
    """The validated board file read from `path`."""
    return validate_board(load_json(path), path)


# --- hash ------------------------------------------------------------------------------------


def canonical_json(value):
    """JSON with sorted keys and runtime-independent numbers: the same text on board and host."""
    parts = []
    _canon(value, parts)
    return "".join(parts)


def _canon(v, out):
    if v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif v is None:
        out.append("null")
    elif isinstance(v, str):
        out.append(_canon_str(v))
    elif isinstance(v, int):
        out.append("%d" % v)
    elif isinstance(v, float):
        # Whole floats print as ints so 30 and 30.0 hash alike; 6 significant digits survive
        # the board's 32-bit floats unchanged.
        if abs(v) < 1e9 and v == int(v):
            out.append("%d" % int(v))
        else:
            out.append("%.6g" % v)
    elif isinstance(v, dict):
        out.append("{")
        first = True
        for k in sorted(v):
            if not first:
                out.append(",")
            first = False
            out.append(_canon_str(str(k)))
            out.append(":")
            _canon(v[k], out)
        out.append("}")
    else:
        out.append("[")
        first = True
        for x in v:
            if not first:
                out.append(",")
            first = False
            _canon(x, out)
        out.append("]")


def _canon_str(s):
    out = ['"']
    for ch in s:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _crc32(data):
    try:
        from binascii import crc32

        return crc32(data) & 0xFFFFFFFF
    except ImportError:
        crc = 0xFFFFFFFF
        for b in data:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
        return crc ^ 0xFFFFFFFF


def config_hash(cfg):
    """Eight hex digits identifying `cfg` regardless of key order or runtime."""
    return "%08x" % _crc32(canonical_json(cfg).encode("utf-8"))
