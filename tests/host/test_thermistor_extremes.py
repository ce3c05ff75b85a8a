"""Thermistor construction over arbitrary numbers: a model or a ValueError, nothing else.

`splitguard config check` hands every syntactically valid spec to Thermistor.from_spec, so any
number JSON can carry - 1e308, 5e-324, a 400-digit integer, rows whose log/exp would overflow -
must end as ValueError with a message (config turns it into one line of its report), never as
OverflowError, ZeroDivisionError or "math domain error". The same holds with every intermediate
of the 3-point fit rounded to float32 (the ESP32's width), where overflow comes much sooner.
A model that is built must then read any resistance and temperature without raising.
"""

import json
import math
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from spec import raises
from splitguard import config
from splitguard import thermistor as th
from splitguard.thermistor import Thermistor

from host_tools.cli import main


def f32(x):
    """x rounded to the nearest float32, overflowing to ±inf as the ESP32 does."""
    try:
        return struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


EXTREMES = (
    0.0,
    -0.0,
    1e308,
    -1e308,
    1.7976931348623157e308,
    5e-324,
    -5e-324,
    1e-300,
    1e-40,
    3.4e38,
    1e38,
    1e30,
    1e15,
    1e-3,
    1e-45,
    -273.15,
    -273.14999999999998,
    -268.15,
    1.0,
    10**400,
    -(10**400),
    2**1024,
    math.nan,
    math.inf,
    -math.inf,
)
numbers = st.one_of(
    st.sampled_from(EXTREMES),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-300.0, 300.0),  # temperatures, some out of order
    st.floats(1e-6, 1e9),  # resistances
    st.integers(-(10**30), 10**30),
    st.integers(-(10**400), 10**400),
)
# Mostly-realistic rows with some extreme numbers mixed in, so that validation passes often
# enough for the fit and the derived-range checks to see the extremes.
temperatures = st.one_of(st.floats(-60.0, 160.0), numbers)
resistances = st.one_of(st.floats(10.0, 1e6), numbers)
rows = st.lists(st.tuples(temperatures, resistances), min_size=0, max_size=6).map(
    lambda rs: sorted(rs, key=lambda r: r[0] if isinstance(r[0], float) and r[0] == r[0] else 0)
)


def _model_or_value_error(fn, *args):
    try:
        model = fn(*args)
    except ValueError as exc:
        assert str(exc), fn
        assert "math domain error" not in str(exc), str(exc)
        return None
    # A model reads anything without raising: a number or NaN.
    for ohms in EXTREMES + (10.0, 1e4, 1e6):
        if isinstance(ohms, float):
            c = model.celsius(ohms)
            assert isinstance(c, float)
    for t in (-300.0, -61.0, -40.0, 0.0, 25.0, 156.0, 1e30, math.nan, math.inf):
        r = model.ohms(t)
        assert isinstance(r, float)
        assert r != r or 0.0 < r < math.inf, (t, r)
    lo, hi = model.valid_ohms_range()
    assert 0.0 < lo < hi < math.inf
    return model


@settings(max_examples=1500, deadline=None)
@given(rows)
def test_a_table_of_any_numbers_is_a_model_or_a_value_error(table):
    _model_or_value_error(Thermistor.from_table, table)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(temperatures, resistances), min_size=3, max_size=3))
def test_three_points_of_any_numbers_are_a_model_or_a_value_error(points):
    points = sorted(points, key=lambda r: r[0] if isinstance(r[0], float) and r[0] == r[0] else 0)
    _model_or_value_error(Thermistor.from_points, points)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(temperatures, resistances), min_size=3, max_size=3))
def test_the_3_point_fit_in_float32_is_a_model_or_a_value_error(points):
    points = sorted(points, key=lambda r: r[0] if isinstance(r[0], float) and r[0] == r[0] else 0)
    try:
        valid = th._rows(points, "points", "point", 3, 3)
    except ValueError:
        return
    valid = [(f32(t), f32(r)) for t, r in valid]
    try:
        a, b, c = th._fit_points(valid, f32)
        th._Formula(a, b, c, "points", f32)
    except ValueError as exc:
        assert "math domain error" not in str(exc)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(numbers, st.floats(1.0, 1e7)), st.one_of(numbers, st.floats(10.0, 2e5)), numbers)
def test_beta_of_any_numbers_is_a_model_or_a_value_error(r25, beta, t0):
    _model_or_value_error(Thermistor.from_beta, r25, beta, t0)


coefficient = st.one_of(numbers, st.floats(-1e-2, 1e-2), st.floats(0, 1e-6))


@settings(max_examples=1500, deadline=None)
@given(coefficient, coefficient, coefficient)
def test_coefficients_of_any_numbers_are_a_model_or_a_value_error(a, b, c):
    _model_or_value_error(Thermistor.from_coefficients, a, b, c)
    # Near the real ones (1e-3, 2.4e-4, 1e-7) too, so the derived checks are reached.
    _model_or_value_error(Thermistor.from_coefficients, 1.0e-3, b, c)
    _model_or_value_error(Thermistor.from_coefficients, a, 2.4e-4, c)


# Each raised OverflowError or ZeroDivisionError out of `config check` before.
CRASHED = (
    {"table": [[-40, 1e308], [60, 1e-300]]},  # exp() of the extrapolated end
    {"table": [[-40, 1e15], [-39.99, 1e-3]]},  # a steep end segment extrapolated
    {"table": [[0, 10**400], [25, 10000]]},  # int too large to convert to float
    {"table": [[-268.15, 10000], [0, 1000]]},  # 5 K below the first row is absolute zero
    {"beta": {"r25_ohm": 10000, "beta_k": 3950, "t0_c": 10**400}},
)
# Each accepted before in 64 bits only: the ESP32 reads these numbers as inf or 0, or as rows
# it cannot tell apart, so the board and `config check` disagreed.
HOST_ONLY = (
    {"table": [[-40, 10000.0], [60, 9999.99999999]]},
    {"beta": {"r25_ohm": 10000, "beta_k": 1e-300}},
    {"coefficients": [-1e308, 1e308, 1e308]},
)
# Refused before and now, with a message that names the input rather than printing noise.
ABSURD = (
    {"points": [[-40, 1e308], [0, 1e200], [60, 1e-308]]},
    {"points": [[-40, 3.0], [0, 1.0], [60, 0.3]]},
    {"points": [[0, 10000.0], [1e-9, 9999.9999], [60, 3000.0]]},
    {"beta": {"r25_ohm": 1e308, "beta_k": 3950}},
    {"coefficients": [1e308, 1e-308, 1e-308]},
    {"coefficients": [0.0, 2.4e-4, 1e308]},  # all of -60..155 °C within 1 ± 1e-100 ohm
)
BAD = CRASHED + HOST_ONLY + ABSURD


def test_bad_specs_raise_value_error_naming_the_problem():
    for spec in BAD:
        msg = str(raises(ValueError, Thermistor.from_spec, spec))
        assert "math" not in msg and "float division" not in msg, (spec, msg)
    # A tiny c is a valid, β-like curve, not an overflow of Cardano's b/c.
    beta_like = Thermistor.from_coefficients(1.0e-3, 2.4e-4, 1e-40)
    beta = Thermistor.from_coefficients(1.0e-3, 2.4e-4, 0.0)
    assert beta_like.celsius(10000.0) == beta.celsius(10000.0)


def test_config_check_reports_an_extreme_thermistor_as_a_problem_not_a_traceback(tmp_path, capsys):
    for n, spec in enumerate(BAD):
        path = tmp_path / ("config%d.json" % n)
        path.write_text(json.dumps({"coil_thermistor": spec}), encoding="utf-8")
        assert main(["config", "check", str(path)]) != 0, spec
        out, err = capsys.readouterr()
        text = out + err
        assert "Traceback" not in text, text
        assert "coil_thermistor" in text, text
    # The same through the firmware's own validation, the path the board takes at boot.
    for spec in BAD:
        try:
            config.validate_device({"coil_thermistor": spec})
        except config.ConfigError as exc:
            assert any("coil_thermistor" in e for e in exc.errors), exc.errors
        else:
            raise AssertionError("accepted %r" % (spec,))
