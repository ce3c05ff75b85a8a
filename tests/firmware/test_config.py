"""Configuration: defaults, bounds, typo and type errors, board pin rules, the config hash.

The same routine runs on the board at boot and in `splitguard config check`, so these tests
run in the MicroPython VM as well as under CPython.
"""

import math
import struct

from spec import DATA_DIR, raises
from splitguard.config import (
    ConfigError,
    canonical_json,
    config_hash,
    default_device,
    field_list,
    is_board,
    load_board,
    load_device,
    load_json,
    validate_board,
    validate_device,
)

ROOT = DATA_DIR.rsplit("/", 2)[0]
BOARDS = ("esp32_devkitc.json", "esp32_s3_devkitc_1.json")

# (section, field, lowest allowed, highest allowed, unit as the message names it); section ""
# is the top level. The bounds are the published-data table in docs/configuration.md.
BOUNDS = (
    ("", "sample_period_s", 1, 60, "seconds"),
    ("supervisor", "defrost_max_min", 8, 60, "minutes"),
    ("supervisor", "frequent_defrost_count", 2, 10, "defrosts"),
    ("supervisor", "frequent_defrost_interval_min", 10, 120, "minutes"),
    ("supervisor", "recovery_timeout_min", 3, 60, "minutes"),
    ("supervisor", "power_off_min", 5, 240, "minutes"),
    ("supervisor", "max_cycles_per_24h", 1, 10, "power cycles"),
    ("supervisor", "boot_settle_min", 1, 30, "minutes"),
    ("supervisor", "lockout_clear_hold_s", 2, 30, "seconds"),
    ("detector", "running_amps", 0.2, 10, "A"),
    ("detector", "frost_delta_k", 2, 15, "K"),
    ("detector", "frost_hold_min", 1, 60, "minutes"),
    ("detector", "frost_ambient_min_c", -30, 10, "°C"),
    ("detector", "frost_ambient_max_c", -30, 10, "°C"),
    ("detector", "defrost_end_coil_c", 0, 25, "°C"),
    ("detector", "defrost_ambient_max_c", -5, 15, "°C"),
)

# A 10 kΩ B3950 NTC by the β model: a well-formed curve for shape tests, not a datasheet claim.
R25 = 10000
BETA = 3950


def _beta_ohms(t_c):
    return R25 * math.exp(BETA * (1.0 / (t_c + 273.15) - 1.0 / 298.15))


def _with(section, field, value):
    if section:
        return {section: {field: value}}
    return {field: value}


def _errors(fn, *args):
    return raises(ConfigError, fn, *args).errors


def _board(name):
    return load_json(ROOT + "/boards/" + name)


def _fmt(x):
    return "%d" % x if x == int(x) else str(x)


def _f32(x):
    """x rounded to the ESP32's single precision (what its float parser and arithmetic give)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


# What the firmware multiplies a duration by to get the milliseconds it gives the clock.
_MS_PER = {"minutes": 60000, "seconds": 1000}
_NUMBER_KINDS = ("number", "whole", "quarter")


# --- device config: defaults -----------------------------------------------------------------


def test_an_empty_file_means_every_default():
    cfg = validate_device({}, "config.json")
    assert cfg == default_device()
    assert cfg["sample_period_s"] == 5
    assert cfg["mains_hz"] == 50
    assert cfg["supervisor"]["power_off_min"] == 30  # S-D30 RELAY_OFF_TIME, design.md
    assert cfg["supervisor"]["defrost_max_min"] == 15  # S-D1, S-D10: longest published cap
    assert cfg["detector"]["frost_delta_k"] == 5.0  # S-D30, S-D31
    assert cfg["detector"]["defrost_end_coil_c"] == 3.0  # S-D6 ends defrost at 3.1 °C
    assert cfg["coil_thermistor"] == {"beta": {"r25_ohm": 10000, "beta_k": 3950}}
    # SCT-013-000 (YHDC: 100 A : 50 mA, 2000 turns) with a 33 ohm burden stays inside the 11 dB
    # window up to about 34 A; a 30 A / 1 V clamp would clip above about 17 A.
    assert cfg["ct"] == {"type": "current", "turns": 2000, "burden_ohm": 33}


def test_the_shipped_device_config_is_exactly_the_defaults():
    assert load_device(ROOT + "/firmware/config.json") == default_device()


def test_a_file_overrides_only_the_fields_it_names():
    cfg = validate_device({"supervisor": {"power_off_min": 45}}, "config.json")
    assert cfg["supervisor"]["power_off_min"] == 45
    assert cfg["supervisor"]["max_cycles_per_24h"] == 3
    assert cfg["detector"] == default_device()["detector"]


def test_a_sensor_spec_replaces_the_default_spec_whole():
    cfg = validate_device({"ct": {"type": "current", "turns": 2000, "burden_ohm": 33}})
    # Merging would leave rated_amps/rated_volts of the default voltage clamp behind.
    assert cfg["ct"] == {"type": "current", "turns": 2000, "burden_ohm": 33}


def test_defaults_are_a_fresh_copy_each_time():
    first = default_device()
    first["supervisor"]["power_off_min"] = 99
    first["coil_thermistor"]["beta"]["beta_k"] = 1
    assert default_device()["supervisor"]["power_off_min"] == 30
    assert validate_device({})["coil_thermistor"]["beta"]["beta_k"] == 3950


# --- device config: bounds -------------------------------------------------------------------


def test_power_off_minimum_has_a_hard_five_minute_floor():
    errors = _errors(validate_device, _with("supervisor", "power_off_min", 2), "config.json")
    assert errors == [
        "config.json: supervisor.power_off_min: 2 is out of range (allowed 5..240 minutes)"
    ]
    assert _errors(validate_device, _with("supervisor", "power_off_min", 4.9))
    assert (
        validate_device(_with("supervisor", "power_off_min", 5))["supervisor"]["power_off_min"] == 5
    )


def test_power_cycles_per_day_are_bounded():
    for bad in (0, 11):
        errors = _errors(validate_device, _with("supervisor", "max_cycles_per_24h", bad), "c.json")
        assert errors == [
            "c.json: supervisor.max_cycles_per_24h: %d is out of range (allowed 1..10 power cycles)"
            % bad
        ]


def test_defrost_limit_cannot_undercut_a_published_normal_defrost():
    # Midea boards run fixed 7.5-minute defrosts (S-D8, S-D9): a 7-minute limit would call a
    # healthy defrost stuck and power-cycle the unit for nothing.
    errors = _errors(validate_device, _with("supervisor", "defrost_max_min", 7))
    assert "supervisor.defrost_max_min: 7 is out of range (allowed 8..60 minutes)" in errors[0]


def test_defrost_end_cannot_be_below_freezing():
    # A coil below 0 °C still carries ice; the lowest published termination is 3.1 °C (S-D6).
    errors = _errors(validate_device, _with("detector", "defrost_end_coil_c", -1))
    assert "detector.defrost_end_coil_c: -1 is out of range (allowed 0..25 °C)" in errors[0]


def test_every_bound_is_enforced_and_named():
    for section, field, lo, hi, unit in BOUNDS:
        path = section + "." + field if section else field
        allowed = "(allowed %s..%s %s)" % (_fmt(lo), _fmt(hi), unit)
        ok_values = (lo, hi)
        # The frost band must stay ordered: its ends can only reach the limits one at a time.
        if field == "frost_ambient_min_c":
            ok_values = (lo, hi - 0.5)
        elif field == "frost_ambient_max_c":
            ok_values = (lo + 0.5, hi)
        for ok in ok_values:
            data = _with(section, field, ok)
            if section == "detector" and field.startswith("frost_ambient"):
                data["detector"]["frost_ambient_min_c"] = min(ok, lo) if "max" in field else ok
                data["detector"]["frost_ambient_max_c"] = max(ok, hi) if "min" in field else ok
            cfg = validate_device(data)
            got = cfg[section][field] if section else cfg[field]
            assert got == ok, (path, ok, got)
        for bad in (lo - 1, hi + 1):
            errors = _errors(validate_device, _with(section, field, bad), "config.json")
            line = "config.json: %s: %s is out of range %s" % (path, str(bad), allowed)
            assert line in errors, (line, errors)


def test_counts_must_be_whole_numbers():
    errors = _errors(validate_device, _with("supervisor", "frequent_defrost_count", 2.5))
    assert errors == [
        "config.json: supervisor.frequent_defrost_count: 2.5 is not a whole number of defrosts"
    ]
    cfg = validate_device(_with("supervisor", "frequent_defrost_count", 4.0))
    assert cfg["supervisor"]["frequent_defrost_count"] == 4


def test_the_sample_period_is_whole_seconds():
    # 2.5 once passed the check and crashed the board in a loop (sleep_ms takes only ints);
    # the simulator and replay step in whole seconds too.
    errors = _errors(validate_device, {"sample_period_s": 2.5})
    assert errors == ["config.json: sample_period_s: 2.5 is not a whole number of seconds"]
    cfg = validate_device({"sample_period_s": 10.0})
    assert cfg["sample_period_s"] == 10 and type(cfg["sample_period_s"]) is int


def test_durations_are_whole_or_quarter_steps_exact_in_single_precision():
    # boot_settle_min 1.5 once crashed the board (ticks_add takes only ints). A quarter is an
    # exact binary fraction: x * 60000 (or * 1000) is an exact whole number in the ESP32's
    # float32 as in a double, so int() or rounding gives the same milliseconds everywhere.
    quarters = [f for f in field_list() if f[1] == "quarter"]
    assert len(quarters) >= 7
    for path, _kind, _default, lo, hi, unit in quarters:
        section, field = path.split(".") if "." in path else ("", path)
        per = _MS_PER[unit]  # a new unit needs its own factor here
        for k in range(lo * 4, hi * 4 + 1):
            v = k / 4
            assert _f32(v) == v, (path, v)
            ms = _f32(_f32(v) * per)
            assert ms == k * per // 4 and int(ms) == k * per // 4, (path, v, ms)
            got = validate_device(_with(section, field, _f32(v)))
            got = got[section][field] if section else got[field]
            assert got == v, (path, v, got)
            assert type(got) is (int if k % 4 == 0 else float), (path, v, got)
        for bad in (lo + 0.1, lo + 0.3, _f32(lo + 0.3), hi - 0.2):
            errors = _errors(validate_device, _with(section, field, bad))
            assert len(errors) == 1, errors
            assert errors[0].startswith("config.json: %s: " % path), errors
            assert "is not in steps of 0.25 %s" % unit in errors[0], errors
    errors = _errors(validate_device, _with("supervisor", "boot_settle_min", 1.3))
    assert errors == [
        "config.json: supervisor.boot_settle_min: 1.3 is not in steps of 0.25 minutes"
        " (nearest: 1.25 or 1.5)"
    ]


def test_whole_and_quarter_values_are_the_same_after_float32_rounding():
    # The board parses JSON into float32: every value the host accepts for a whole or quarter
    # setting is stored identically from its single-precision twin.
    for path, kind, _default, lo, hi, _unit in field_list():
        if kind not in ("whole", "quarter") or path.count(".") > 1:
            continue
        section, field = path.split(".") if "." in path else ("", path)
        for v in (lo, hi, (lo + hi) // 2, lo + 0.5 if kind == "quarter" else lo + 1):
            a = validate_device(_with(section, field, v))
            b = validate_device(_with(section, field, _f32(float(v))))
            assert a == b and config_hash(a) == config_hash(b), (path, v)


def test_temperatures_give_the_same_fixed_point_in_single_precision():
    # The detector turns °C/K settings into 1/256 K through float32 (detector._fixed), on the
    # host too, so a double on the host and the board's float32 land on the same integer.
    from splitguard.detector import _to_fixed

    for path, kind, _default, lo, hi, unit in field_list():
        if kind != "number" or unit not in ("°C", "K") or not path.startswith("detector."):
            continue
        for v in (lo, hi, lo + (hi - lo) / 3, lo + 0.1, hi - 0.01):
            assert _to_fixed(v) == _to_fixed(_f32(v)), (path, v)


def test_the_divider_supply_gives_the_same_microvolts_in_single_precision():
    # hal/esp32.py: int(supply_v * 1e6 + 0.5). Any value given to 1 µV (6 decimals) gives the
    # same whole µV with float32 arithmetic as with doubles; finer digits mean nothing.
    for n in range(1000000, 3600001, 997):
        v = n / 1e6
        board = int(_f32(_f32(_f32(v) * 1e6) + 0.5))
        assert board == int(v * 1000000 + 0.5) == n, (v, board)


def test_the_bounds_table_above_is_the_validators_own():
    # BOUNDS pins the published-data ranges; every plain number setting must be in it.
    listed = [(b[0] + "." + b[1] if b[0] else b[1], b[2], b[3], b[4]) for b in BOUNDS]
    table = [
        (f[0], f[3], f[4], f[5])
        for f in field_list()
        if f[1] in _NUMBER_KINDS and f[0].split(".")[0] not in _SENSOR_SLOTS
    ]
    assert sorted(listed) == sorted(table)


_SENSOR_SLOTS = ("coil_thermistor", "ambient_thermistor", "ct")


def _bad_values(kind, lo, hi):
    nan, inf = float("nan"), float("inf")
    common = ("5", True, None, [1], {"a": 1})
    if kind in _NUMBER_KINDS:
        out = (lo - 1, hi + 1, nan, inf, -inf) + common
        if kind == "whole":
            out += (lo + 0.5, _f32(lo + 0.5))
        elif kind == "quarter":
            out += (lo + 0.1, _f32(lo + 0.3))
        return out
    if kind == "choice":
        numbers = [c for c in lo if not isinstance(c, str)]
        return ("x", True, None, 7.5, (max(numbers) + 1) if numbers else 1)
    if kind == "bool":
        return (1, "true", None, 0)
    if kind == "string":
        return (5, None, ["a"], True)
    return ("abc", 1.23, "1.2.3.4", None, "")  # version


def _placed(board, path, value):
    """(data, the path an error names) with `path` set to value on a valid base."""
    data = _board("esp32_devkitc.json") if board else {}
    parts = path.split(".")
    if not board and parts[0] in _SENSOR_SLOTS:
        slot, form, field = parts
        spec = default_device()[slot]
        if slot == "ct":
            if spec["type"] != form:
                spec = {"type": form}
                for f in field_list():
                    if f[0].startswith("ct." + form + ".") and f[2] == "required":
                        spec[f[0].split(".")[2]] = (f[3] + f[4]) / 2
            spec[field] = value
            return {slot: spec}, slot + "." + field
        spec[form][field] = value
        return {slot: spec}, path
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return data, path


def test_every_rejected_value_is_named_by_its_field():
    # Derived from the validator's tables: a setting added later is covered here unasked.
    for board in (False, True):
        name = "board.json" if board else "config.json"
        check = validate_board if board else validate_device
        for path, kind, _default, lo, hi, _unit in field_list(board):
            for bad in _bad_values(kind, lo, hi):
                data, named = _placed(board, path, bad)
                try:
                    check(data, name)
                except ConfigError as exc:
                    errors = exc.errors
                else:
                    raise AssertionError("%s = %r was accepted" % (path, bad))
                prefix = "%s: %s: " % (name, named)
                assert [e for e in errors if e.startswith(prefix)], (path, bad, errors)


class _Raising:
    """A sensor class whose from_spec raises what user data might make a real fit raise."""

    exc = None

    @classmethod
    def from_spec(cls, spec):
        raise cls.exc


def test_any_error_from_a_sensor_fit_is_reported_by_field():
    # An OverflowError from an extreme thermistor table once escaped as a traceback.
    import splitguard.ct_clamp as ct_clamp
    import splitguard.thermistor as thermistor

    real_t, real_ct = thermistor.Thermistor, ct_clamp.CTClamp
    try:
        for exc in (
            OverflowError("math range error"),
            ZeroDivisionError("float division by zero"),
            MemoryError("memory allocation failed"),
            IndexError("list index out of range"),
        ):
            _Raising.exc = exc
            thermistor.Thermistor = _Raising
            ct_clamp.CTClamp = real_ct
            errors = _errors(validate_device, {}, "c.json")
            assert errors == [
                "c.json: coil_thermistor: %s" % exc,
                "c.json: ambient_thermistor: %s" % exc,
            ], errors
            thermistor.Thermistor = real_t
            ct_clamp.CTClamp = _Raising
            assert _errors(validate_device, {}, "c.json") == ["c.json: ct: %s" % exc]
    finally:
        thermistor.Thermistor, ct_clamp.CTClamp = real_t, real_ct
    # The input that raised OverflowError: rejected, naming the sensor.
    table = {"table": [[0, 1e308], [1e300, 1e-308]]}
    errors = _errors(validate_device, {"coil_thermistor": table}, "c.json")
    assert len(errors) == 1 and errors[0].startswith("c.json: coil_thermistor: "), errors


def test_mains_frequency_is_50_or_60():
    assert validate_device({"mains_hz": 60})["mains_hz"] == 60
    errors = _errors(validate_device, {"mains_hz": 55})
    assert errors == ["config.json: mains_hz: 55 is not allowed (allowed 50 or 60 Hz)"]


def test_frost_band_must_run_from_low_to_high():
    errors = _errors(validate_device, {"detector": {"frost_ambient_min_c": 6}})
    assert len(errors) == 1
    assert "detector.frost_ambient_min_c: 6 must be below frost_ambient_max_c" in errors[0]


# --- device config: typos and types ----------------------------------------------------------


def test_an_unknown_field_is_an_error_with_a_suggestion():
    errors = _errors(validate_device, {"supervisor": {"power_of_min": 10}}, "config.json")
    assert errors == [
        "config.json: supervisor.power_of_min: unknown field (did you mean power_off_min?)"
    ]


def test_an_unknown_field_far_from_any_name_gets_no_guess():
    errors = _errors(validate_device, {"colour": "blue"}, "config.json")
    assert errors == ["config.json: colour: unknown field"]


def test_a_wrong_type_is_named_with_the_value():
    errors = _errors(validate_device, {"sample_period_s": "abc"}, "config.json")
    assert errors == ["config.json: sample_period_s: expected a number, got 'abc'"]


def test_a_boolean_is_not_a_number():
    errors = _errors(validate_device, _with("supervisor", "power_off_min", True))
    assert errors == ["config.json: supervisor.power_off_min: expected a number, got true"]


def test_a_section_must_be_an_object():
    errors = _errors(validate_device, {"supervisor": 5})
    assert errors == ["config.json: supervisor: expected an object, got 5"]
    errors = _errors(validate_device, [1, 2])
    assert errors == ["config.json: top level: expected an object, got a list"]


def test_every_problem_is_reported_at_once_one_line_each():
    data = {
        "sample_period_s": 0,
        "supervisor": {"power_off_min": 1, "max_cycle_per_24h": 2},
        "detector": {"running_amps": "high"},
    }
    exc = raises(ConfigError, validate_device, data, "config.json")
    assert len(exc.errors) == 4
    assert str(exc) == "\n".join(exc.errors)
    text = str(exc)
    assert "sample_period_s: 0 is out of range" in text
    assert "supervisor.power_off_min: 1 is out of range" in text
    assert "supervisor.max_cycle_per_24h: unknown field (did you mean max_cycles_per_24h?)" in text
    assert "detector.running_amps: expected a number, got 'high'" in text


def test_validation_leaves_the_input_untouched():
    data = {"supervisor": {"power_off_min": 45}}
    validate_device(data)
    assert data == {"supervisor": {"power_off_min": 45}}


# --- sensor specs (shape only; physics belongs to the sensor modules) ------------------------


def test_every_thermistor_form_is_accepted():
    table = [[t, _beta_ohms(t)] for t in (-40, -20, 0, 25, 50)]
    points = [[t, _beta_ohms(t)] for t in (-20, 0, 25)]
    # The β model written as Steinhart–Hart: 1/T = a + b·ln R with c = 0.
    coefficients = [1.0 / 298.15 - math.log(R25) / BETA, 1.0 / BETA, 0.0]
    for spec in (
        {"beta": {"r25_ohm": R25, "beta_k": BETA}},
        {"table": table},
        {"points": points},
        {"coefficients": coefficients},
    ):
        assert validate_device({"ambient_thermistor": spec})["ambient_thermistor"] == spec


def test_a_thermistor_needs_exactly_one_form():
    both = {"beta": {"r25_ohm": R25, "beta_k": BETA}, "table": [[0, 1], [25, 2]]}
    errors = _errors(validate_device, {"coil_thermistor": both})
    assert errors == [
        "config.json: coil_thermistor: give exactly one of beta, table, points, coefficients"
        " (got beta, table)"
    ]
    errors = _errors(validate_device, {"coil_thermistor": {}})
    assert "coil_thermistor: give exactly one of" in errors[0]


def test_a_thermistor_table_needs_two_numeric_rows():
    errors = _errors(validate_device, {"coil_thermistor": {"table": [[25, R25]]}})
    assert errors == ["config.json: coil_thermistor.table: expected at least 2 rows, got 1"]
    errors = _errors(validate_device, {"coil_thermistor": {"table": [[0, "33k"], [25, R25]]}})
    assert errors == ["config.json: coil_thermistor.table[0][1]: expected a number, got '33k'"]


def test_points_are_three_and_coefficients_are_three_numbers():
    two = [[0, _beta_ohms(0)], [25, R25]]
    errors = _errors(validate_device, {"coil_thermistor": {"points": two}})
    assert errors == ["config.json: coil_thermistor.points: expected 3 rows, got 2"]
    errors = _errors(validate_device, {"coil_thermistor": {"coefficients": [1e-3, 2e-4]}})
    assert "coil_thermistor.coefficients: expected [a, b, c]" in errors[0]


def test_a_beta_spec_names_its_missing_field():
    errors = _errors(validate_device, {"coil_thermistor": {"beta": {"r25_ohm": R25}}})
    assert errors == ["config.json: coil_thermistor.beta.beta_k: missing (required)"]


def test_a_well_formed_but_impossible_curve_is_rejected_naming_the_sensor():
    # An NTC's resistance falls as it warms; Thermistor.from_spec says why, config says where.
    rising = {"table": [[0, 1000], [25, 10000]]}
    errors = _errors(validate_device, {"ambient_thermistor": rising}, "config.json")
    assert len(errors) == 1
    assert errors[0].startswith("config.json: ambient_thermistor: ")


def test_ct_rail_overrides_are_checked_by_the_clamp():
    ct = {"type": "current", "turns": 2000, "burden_ohm": 33, "low_uv": 5000, "high_uv": 1000}
    errors = _errors(validate_device, {"ct": ct}, "config.json")
    assert len(errors) == 1
    assert errors[0].startswith("config.json: ct: ")


def test_ct_spec_by_type():
    voltage = {"type": "voltage", "rated_amps": 30, "rated_volts": 1.0}
    current = {"type": "current", "turns": 2000, "burden_ohm": 33}  # SCT-013-000 (design.md)
    assert validate_device({"ct": voltage})["ct"] == voltage
    assert validate_device({"ct": current})["ct"] == current
    errors = _errors(validate_device, {"ct": {"type": "hall"}})
    assert errors == [
        "config.json: ct.type: 'hall' is not allowed (allowed 'voltage' or 'current')"
    ]
    errors = _errors(validate_device, {"ct": {"type": "current", "turns": 2000}})
    assert errors == ["config.json: ct.burden_ohm: missing (required)"]
    errors = _errors(validate_device, {"ct": {"type": "voltage", "rated_amps": 30, "turns": 1}})
    assert "config.json: ct.turns: unknown field" in errors[0]


# --- board files -----------------------------------------------------------------------------


def test_both_shipped_boards_validate():
    for name in BOARDS:
        board = load_board(ROOT + "/boards/" + name)
        assert board["adc_atten_db"] == 11
        assert board["divider"]["thermistor_side"] in ("low", "high")
        assert is_board(board)


def test_the_s3_status_led_is_not_the_addressable_rgb_led():
    board = load_board(ROOT + "/boards/esp32_s3_devkitc_1.json")
    # The DevKitC-1's WS2812 sits on GPIO48 (v1.0) or GPIO38 (v1.1): not a plain on/off LED.
    assert board["led_pin"] not in (38, 48)


def test_an_adc2_pin_is_rejected_for_an_analog_input():
    data = _board("esp32_devkitc.json")
    data["coil_adc_pin"] = 25  # ADC2_CH8: unusable while Wi-Fi runs
    errors = _errors(validate_board, data, "esp32_devkitc.json")
    assert errors == [
        "esp32_devkitc.json: coil_adc_pin: GPIO25 is not an ADC1 pin"
        " (allowed GPIO32..39 on the ESP32)"
    ]
    data = _board("esp32_s3_devkitc_1.json")
    data["ct_adc_pin"] = 11  # ADC2_CH0 on the S3
    errors = _errors(validate_board, data, "s3.json")
    assert errors == [
        "s3.json: ct_adc_pin: GPIO11 is not an ADC1 pin (allowed GPIO1..10 on the ESP32-S3)"
    ]


def test_pins_must_be_distinct():
    data = _board("esp32_devkitc.json")
    data["led_pin"] = data["relay_pin"]
    errors = _errors(validate_board, data, "b.json")
    assert errors == ["b.json: led_pin: GPIO26 is already used by relay_pin"]


def test_outputs_avoid_input_only_flash_and_strapping_pins():
    cases = (
        ("relay_pin", 39, "is input-only"),
        ("led_pin", 7, "is reserved"),
        ("relay_pin", 12, "is a strapping pin"),
        ("relay_pin", 20, "does not exist"),
    )
    for field, pin, why in cases:
        data = _board("esp32_devkitc.json")
        data[field] = pin
        errors = _errors(validate_board, data, "b.json")
        assert len(errors) == 1 and ("%s: GPIO%d %s" % (field, pin, why)) in errors[0], errors


def test_attenuation_is_one_of_the_four_esp32_settings():
    data = _board("esp32_devkitc.json")
    data["adc_atten_db"] = 2.5
    assert validate_board(data)["adc_atten_db"] == 2.5
    data["adc_atten_db"] = 12
    errors = _errors(validate_board, data, "b.json")
    assert errors == ["b.json: adc_atten_db: 12 is not allowed (allowed 0, 2.5, 6 or 11 dB)"]


def test_a_board_file_has_no_defaults():
    data = _board("esp32_devkitc.json")
    del data["relay_pin"]
    del data["divider"]["fixed_ohm"]
    data["relay_active_hi"] = True
    errors = _errors(validate_board, data, "b.json")
    assert "b.json: relay_pin: missing (required)" in errors
    assert "b.json: divider.fixed_ohm: missing (required)" in errors
    assert "b.json: relay_active_hi: unknown field (did you mean relay_active_high?)" in errors
    assert len(errors) == 3


def test_board_and_device_files_are_told_apart_by_content():
    assert is_board(_board("esp32_s3_devkitc_1.json"))
    assert not is_board(default_device())


# --- hash ------------------------------------------------------------------------------------


def test_config_hash_is_pinned_on_every_runtime():
    cfg = {"b": [2.5, "x", -12.0], "a": 1, "c": {"d": True, "e": None}}
    assert canonical_json(cfg) == '{"a":1,"b":[2.5,"x",-12],"c":{"d":true,"e":null}}'
    # crc32 of the canonical text; the VM run proves the board computes the same value.
    assert config_hash(cfg) == "9d1edd8d"


def test_config_hash_ignores_key_order_and_int_float_spelling():
    a = {"supervisor": {"power_off_min": 30, "max_cycles_per_24h": 3}, "mains_hz": 50}
    b = {"mains_hz": 50, "supervisor": {"max_cycles_per_24h": 3, "power_off_min": 30.0}}
    assert config_hash(a) == config_hash(b)
    assert len(config_hash(a)) == 8


def test_config_hash_changes_with_any_value():
    base = default_device()
    changed = default_device()
    changed["supervisor"]["power_off_min"] = 31
    assert config_hash(base) != config_hash(changed)
    assert config_hash(base) == config_hash(default_device())


# --- files -----------------------------------------------------------------------------------


def test_a_missing_file_is_named():
    errors = _errors(load_json, ROOT + "/firmware/no_such_config.json")
    assert errors == [ROOT + "/firmware/no_such_config.json: no such file"]


def test_a_deeply_nested_file_is_an_error_naming_the_file():
    # CPython's parser raises RecursionError here; the board's may parse it: either way one
    # line naming the file, never a traceback.
    path = "/tmp/splitguard_test_config_deep.json"
    with open(path, "w") as f:
        f.write("[" * 100000)
    errors = _errors(load_device, path)
    assert len(errors) == 1 and errors[0].startswith(path + ": "), errors


def test_a_json_syntax_error_names_the_file():
    path = "/tmp/splitguard_test_config_syntax.json"
    with open(path, "w") as f:
        f.write('{"mains_hz": 50,\n "supervisor": tru}\n')
    errors = _errors(load_json, path)
    assert len(errors) == 1
    assert errors[0].startswith(path + ": ")
    assert "invalid JSON" in errors[0]
