"""NTC thermistor conversion: β, Steinhart–Hart and datasheet tables against published R–T tables.

Datasheet tables (tests/data, sources in each file's header):
- Murata NCP18XH103F03RB, B25/50 = 3380 K: catalog R44E (Aug. 3, 2018), "Temperature
  Characteristics (Center Value)", column NC__XH103 - ntc_murata_ncp18xh103f03rb.csv
- Vishay NTCLE100E3103JB0, B25/85 = 3977 K: datasheet NTCLE100E3, doc. 29049, rev. 07-May-2025,
  p. 10 - ntc_vishay_ntcle100e3103jb0.csv
- TDK (EPCOS) B57861S0103F040, R/T 8016, B25/100 = 3988 K: datasheet "Miniature sensors with
  bendable wires, B57861S", January 2018, p. 6 - ntc_tdk_b57861s0103f040.csv
- SEMITEC 103AT-2, B25/85 = 3435 K: AT thermistor datasheet (103AT-11 / 103AT-2 table) -
  ntc_semitec_103at_2.csv
"""

import math
import struct

from spec import close, raises, read_rt_table
from splitguard import thermistor
from splitguard.thermistor import Thermistor

MURATA = "ntc_murata_ncp18xh103f03rb.csv"
VISHAY = "ntc_vishay_ntcle100e3103jb0.csv"
TDK = "ntc_tdk_b57861s0103f040.csv"
SEMITEC = "ntc_semitec_103at_2.csv"

# (table, B in K, the two temperatures the datasheet defines B between)
MURATA_B = (MURATA, 3380.0, 25.0, 50.0)
VISHAY_B = (VISHAY, 3977.0, 25.0, 85.0)
TDK_B = (TDK, 3988.0, 25.0, 100.0)
SEMITEC_B = (SEMITEC, 3435.0, 25.0, 85.0)

# Murata R44E, NC__XH103 column: the -40, 10 and 60 °C rows.
MURATA_POINTS = ((-40.0, 195652.0), (10.0, 17926.0), (60.0, 3014.0))

SPAN_LO_C = -40.0
SPAN_HI_C = 60.0


def _rows_in_span(table):
    return [row for row in table if SPAN_LO_C <= row[0] <= SPAN_HI_C]


def _row(table, t_c):
    for t, r in table:
        if t == t_c:
            return r
    raise AssertionError("no %r °C row" % t_c)


def _max_error(model, rows):
    worst = 0.0
    for t, r in rows:
        err = abs(model.celsius(r) - t)
        assert err == err, "NaN at the %r °C row" % t
        if err > worst:
            worst = err
    return worst


def _table_from_10k_steps_error(name):
    table = read_rt_table(name)
    coarse = Thermistor.from_table([row for row in table if row[0] % 10 == 0])
    between = [row for row in _rows_in_span(table) if row[0] % 10 != 0]
    assert len(between) == 10  # the -35, -25, ... +55 °C rows
    return _max_error(coarse, between)


def _three_point_fit_error(name):
    table = read_rt_table(name)
    fit = Thermistor.from_points(
        [(t, _row(table, t)) for t in (SPAN_LO_C, 10.0, SPAN_HI_C)],
    )
    return _max_error(fit, _rows_in_span(table))


def _beta_error_at_minus_40(part):
    name, beta_k = part[0], part[1]
    table = read_rt_table(name)
    beta = Thermistor.from_beta(10000, beta_k)
    return beta.celsius(_row(table, -40.0)) - (-40.0)


# --- a table built from 10 K steps gives back the datasheet's 5 °C rows ----------------------


def test_table_from_10k_steps_recovers_5c_rows_within_0_1c_murata_ncp18xh103():
    assert _table_from_10k_steps_error(MURATA) <= 0.1  # Murata R44E, NC__XH103 column


def test_table_from_10k_steps_recovers_5c_rows_within_0_1c_vishay_ntcle100e3103():
    assert _table_from_10k_steps_error(VISHAY) <= 0.1  # Vishay doc. 29049 p. 10


def test_table_from_10k_steps_recovers_5c_rows_within_0_1c_tdk_b57861s0103():
    assert _table_from_10k_steps_error(TDK) <= 0.1  # TDK B57861S, R/T 8016


def test_table_from_10k_steps_recovers_5c_rows_within_0_1c_semitec_103at():
    assert _table_from_10k_steps_error(SEMITEC) <= 0.1  # SEMITEC AT thermistor, 103AT


def test_table_interpolates_along_the_ntc_curve_not_linearly_in_r():
    # Murata R44E: halfway in temperature between the -40 and -30 °C rows is not halfway in R.
    table = read_rt_table(MURATA)
    r40, r35, r30 = _row(table, -40.0), _row(table, -35.0), _row(table, -30.0)
    straight_line_c = -40.0 + 10.0 * (r40 - r35) / (r40 - r30)
    assert abs(straight_line_c - -35.0) > 0.5  # what linear-in-R interpolation would report
    coarse = Thermistor.from_table([(-40.0, r40), (-30.0, r30)])
    assert close(coarse.celsius(r35), -35.0, 0.1)


def test_table_returns_its_own_rows():
    for name in (MURATA, VISHAY, TDK, SEMITEC):
        table = read_rt_table(name)
        assert _max_error(Thermistor.from_table(table), table) <= 0.001, name


# --- a 3-point Steinhart–Hart fit (-40 / 10 / 60 °C) follows the table over -40…+60 °C --------


def test_three_point_steinhart_hart_within_0_2c_of_table_murata_ncp18xh103():
    assert _three_point_fit_error(MURATA) <= 0.2  # Murata R44E, NC__XH103 column


def test_three_point_steinhart_hart_within_0_2c_of_table_vishay_ntcle100e3103():
    assert _three_point_fit_error(VISHAY) <= 0.2  # Vishay doc. 29049 p. 10


def test_three_point_steinhart_hart_within_0_2c_of_table_tdk_b57861s0103():
    assert _three_point_fit_error(TDK) <= 0.2  # TDK B57861S, R/T 8016


def test_three_point_steinhart_hart_within_0_2c_of_table_semitec_103at():
    assert _three_point_fit_error(SEMITEC) <= 0.2  # SEMITEC AT thermistor, 103AT


def test_three_points_taken_from_a_beta_curve_reproduce_it():
    # c is rounding noise around 0 there: taken as 0 where it is negative, not rejected.
    beta = Thermistor.from_beta(10000, 3950)
    fit = Thermistor.from_points([(t, beta.ohms(t)) for t in (-40.0, 10.0, 60.0)])
    for t in range(-40, 101, 5):
        assert close(fit.celsius(beta.ohms(t)), t, 0.001), t


# --- a β model is off by several °C at -40 °C: the reason tables matter ----------------------


def test_beta_model_is_several_degrees_off_the_table_at_minus_40c_murata_ncp18xh103():
    assert _beta_error_at_minus_40(MURATA_B) > 2.5  # B25/50 = 3380 K; 3.0 °C measured


def test_beta_model_is_several_degrees_off_the_table_at_minus_40c_vishay_ntcle100e3103():
    assert _beta_error_at_minus_40(VISHAY_B) > 2.5  # B25/85 = 3977 K; 3.0 °C measured


def test_beta_model_is_several_degrees_off_the_table_at_minus_40c_tdk_b57861s0103():
    assert _beta_error_at_minus_40(TDK_B) > 2.5  # B25/100 = 3988 K; 2.9 °C measured


def test_beta_model_is_several_degrees_off_the_table_at_minus_40c_semitec_103at():
    assert _beta_error_at_minus_40(SEMITEC_B) > 2.5  # B25/85 = 3435 K; 4.4 °C measured


def test_beta_model_matches_the_table_at_the_two_temperatures_that_define_b():
    for name, beta_k, t1, t2 in (MURATA_B, VISHAY_B, TDK_B, SEMITEC_B):
        table = read_rt_table(name)
        beta = Thermistor.from_beta(_row(table, t1), beta_k, t1)
        assert close(beta.celsius(_row(table, t1)), t1, 0.001), name
        assert close(beta.celsius(_row(table, t2)), t2, 0.1), name


def test_beta_reference_temperature_moves_the_nominal_point():
    beta = Thermistor.from_beta(32554, 3977, 0.0)  # Vishay NTCLE100E3103 at 0 °C
    assert close(beta.celsius(32554), 0.0, 1e-6)
    assert close(beta.ohms(0.0), 32554, 0.01)


def test_coefficients_with_c_zero_are_the_beta_model():
    t0_k, r0, beta_k = 298.15, 10000.0, 3380.0
    coeffs = Thermistor.from_coefficients(1.0 / t0_k - math.log(r0) / beta_k, 1.0 / beta_k, 0.0)
    beta = Thermistor.from_beta(r0, beta_k)
    for r in (195652, 27219, 10000, 3014, 974):  # Murata R44E rows at -40, 0, 25, 60, 100 °C
        assert close(coeffs.celsius(r), beta.celsius(r), 1e-6), r


# --- ohms() is the inverse -------------------------------------------------------------------


def _formulas():
    return [
        ("beta", Thermistor.from_beta(10000, 3950)),
        ("points", Thermistor.from_points(MURATA_POINTS)),
        # The widely copied 10 kΩ "Arduino" set: a Steinhart–Hart curve with c well above 0.
        (
            "coefficients",
            Thermistor.from_coefficients(1.009249522e-03, 2.378405444e-04, 2.019202697e-07),
        ),
    ]


def _models():
    # Every model kind; two tables, not four, to stay well inside the VM's 2 MB heap.
    return _formulas() + [
        ("murata", Thermistor.from_table(read_rt_table(MURATA))),
        ("tdk", Thermistor.from_table(read_rt_table(TDK))),
    ]


def _temperatures():
    # -40…+100 °C every 2.5 K: every 5 °C table row and every midpoint between rows.
    return [-40.0 + 2.5 * k for k in range(57)]


def test_round_trip_celsius_of_ohms_within_0_01c_from_minus_40_to_100c():
    temperatures = _temperatures()
    for label, model in _models():
        for t in temperatures:
            assert close(model.celsius(model.ohms(t)), t, 0.01), (label, t)


def test_ohms_falls_as_temperature_rises():
    temperatures = _temperatures()
    for label, model in _models():
        previous = model.ohms(-42.5)
        for t in temperatures:
            r = model.ohms(t)
            assert r < previous, (label, t)
            previous = r


def test_table_ohms_returns_the_table_rows():
    table = read_rt_table(VISHAY)  # Vishay doc. 29049 p. 10
    model = Thermistor.from_table(table)
    for t, r in table:
        assert close(model.ohms(t) / r, 1.0, 1e-5), t


def test_ohms_of_nan_is_nan():
    for label, model in _models():
        r = model.ohms(float("nan"))
        assert r != r, label


# --- faults: NaN, never a made-up temperature ------------------------------------------------


def test_zero_negative_nan_and_inf_resistance_read_as_nan():
    for label, model in _models():
        for ohms in (0.0, 0, -10000.0, float("nan"), float("inf"), float("-inf")):
            c = model.celsius(ohms)
            assert c != c, (label, ohms)


def test_open_and_shorted_sensor_read_as_nan():
    for label, model in _models():
        for ohms in (1e9, 1.0):  # an open lead, a shorted lead
            c = model.celsius(ohms)
            assert c != c, (label, ohms)


def test_resistance_10k_past_a_table_end_reads_as_nan():
    # SEMITEC 103AT rows at -50 and +70 °C against a table cut to -40…+60 °C.
    table = read_rt_table(SEMITEC)
    cut = Thermistor.from_table(_rows_in_span(table))
    for t in (-50.0, 70.0):
        c = cut.celsius(_row(table, t))
        assert c != c, t


def test_a_few_kelvin_past_a_table_end_extrapolate_with_the_end_segment_beta():
    table = _rows_in_span(read_rt_table(TDK))  # TDK R/T 8016, cut to -40…+60 °C
    model = Thermistor.from_table(table)
    for (t1, r1), (t2, r2), t in ((table[0], table[1], -43.0), (table[-1], table[-2], 63.0)):
        local_beta = math.log(r1 / r2) / (1.0 / (t1 + 273.15) - 1.0 / (t2 + 273.15))
        r = r1 * math.exp(local_beta * (1.0 / (t + 273.15) - 1.0 / (t1 + 273.15)))
        assert close(model.celsius(r), t, 0.01), t
        assert close(model.ohms(t) / r, 1.0, 1e-5), t


def test_formula_beyond_its_trusted_range_reads_as_nan():
    beta = Thermistor.from_beta(10000, 3950)
    assert close(beta.celsius(beta.ohms(-58.0)), -58.0, 0.01)
    assert close(beta.celsius(beta.ohms(153.0)), 153.0, 0.01)
    hot = beta.ohms(155.0) * 0.9  # a little beyond +155 °C
    cold = beta.ohms(-60.0) * 1.1  # a little beyond -60 °C
    assert beta.celsius(hot) != beta.celsius(hot)
    assert beta.celsius(cold) != beta.celsius(cold)
    nan = beta.ohms(-61.0)
    assert nan != nan


def test_valid_range_of_a_table_is_its_end_rows():
    table = read_rt_table(MURATA)  # Murata R44E: 195652 Ω at -40 °C, 531 Ω at +125 °C
    assert Thermistor.from_table(table).valid_ohms_range() == (531.0, 195652.0)


def test_valid_range_of_a_formula_is_minus_55_to_plus_150c():
    for label, model in _formulas():
        lo, hi = model.valid_ohms_range()
        assert close(model.celsius(lo), 150.0, 0.01), label
        assert close(model.celsius(hi), -55.0, 0.01), label


# --- bad construction input raises ValueError naming the problem -----------------------------


def _message(fn, *args):
    return str(raises(ValueError, fn, *args))


def test_table_needs_at_least_two_rows():
    assert "at least 2" in _message(Thermistor.from_table, [(25.0, 10000.0)])
    assert "at least 2" in _message(Thermistor.from_table, [])


def test_table_rejects_a_rising_resistance_naming_the_row():
    rows = [(-10.0, 42506.0), (0.0, 11000.0), (10.0, 12000.0)]
    msg = _message(Thermistor.from_table, rows)
    assert "table row 3" in msg and "t=10.0" in msg and "not below" in msg, msg


def test_table_rejects_a_repeated_or_falling_temperature_naming_the_row():
    rows = [(-10.0, 42506.0), (0.0, 27219.0), (0.0, 17926.0)]
    msg = _message(Thermistor.from_table, rows)
    assert "table row 3" in msg and "temperature" in msg, msg
    rows = [(10.0, 42506.0), (0.0, 27219.0)]
    assert "table row 2" in _message(Thermistor.from_table, rows)


def test_table_rejects_non_positive_and_non_finite_values():
    for bad in ((0.0, 0.0), (0.0, -5.0), (float("nan"), 27219.0), (0.0, float("inf"))):
        msg = _message(Thermistor.from_table, [(-10.0, 42506.0), bad])
        assert "table row 2" in msg, msg
    msg = _message(Thermistor.from_table, [(-10.0, 42506.0), (0.0, "27219")])
    assert "number" in msg, msg


def test_table_rejects_rows_that_are_not_pairs():
    assert "row 2" in _message(Thermistor.from_table, [(-10.0, 42506.0), (0.0,)])


def test_points_need_exactly_three():
    table = read_rt_table(MURATA)
    for temps in ((-40.0, 60.0), (-40.0, 0.0, 25.0, 60.0)):
        msg = _message(Thermistor.from_points, [(t, _row(table, t)) for t in temps])
        assert "exactly 3" in msg, msg


def test_points_out_of_order_are_rejected_naming_the_point():
    points = (MURATA_POINTS[1], MURATA_POINTS[0], MURATA_POINTS[2])
    assert "point 2" in _message(Thermistor.from_points, points)


def test_non_physical_steinhart_hart_fit_is_rejected():
    # A mistyped middle point (Murata's 10 °C row is 17926 Ω) bends the curve the wrong way.
    points = (MURATA_POINTS[0], (10.0, 15000.0), MURATA_POINTS[2])
    assert "non-physical" in _message(Thermistor.from_points, points)


def test_non_physical_coefficients_are_rejected():
    for a, b, c in ((1.0e-3, -2.4e-4, 1.0e-7), (1.0e-3, 2.4e-4, -1.0e-6), (1.0e-3, 0.0, 0.0)):
        assert "non-physical" in _message(Thermistor.from_coefficients, a, b, c), (a, b, c)
    assert "finite" in _message(Thermistor.from_coefficients, float("nan"), 2.4e-4, 1.0e-7)


def test_beta_rejects_non_positive_or_non_finite_input():
    assert "r25_ohm" in _message(Thermistor.from_beta, 0, 3950)
    assert "beta_k" in _message(Thermistor.from_beta, 10000, -3950)
    assert "beta_k" in _message(Thermistor.from_beta, 10000, float("inf"))
    assert "t0_c" in _message(Thermistor.from_beta, 10000, 3950, -300.0)


# --- from_spec: the config layer's form ------------------------------------------------------


def test_spec_forms_build_the_same_models_as_the_constructors():
    table = read_rt_table(MURATA)
    rows = [[t, r] for t, r in table]
    points = [[t, _row(table, t)] for t in (-40.0, 10.0, 60.0)]
    arduino = [1.009249522e-03, 2.378405444e-04, 2.019202697e-07]
    pairs = (
        (
            {"beta": {"r25_ohm": 10000, "beta_k": 3950}},
            Thermistor.from_beta(10000, 3950),
        ),
        (
            {"beta": {"r25_ohm": 32554, "beta_k": 3977, "t0_c": 0}},
            Thermistor.from_beta(32554, 3977, 0.0),
        ),
        ({"points": points}, Thermistor.from_points(points)),
        ({"coefficients": arduino}, Thermistor.from_coefficients(*arduino)),
        ({"table": rows}, Thermistor.from_table(table)),
    )
    for spec, expected in pairs:
        model = Thermistor.from_spec(spec)
        for r in (195652.0, 27219.0, 10000.0, 3014.0):
            assert model.celsius(r) == expected.celsius(r), spec


def test_spec_needs_exactly_one_form():
    assert "none" in _message(Thermistor.from_spec, {})
    both = {"beta": {"r25_ohm": 10000, "beta_k": 3950}, "coefficients": [1e-3, 2.4e-4, 1e-7]}
    assert "exactly one" in _message(Thermistor.from_spec, both)


def test_spec_rejects_unknown_keys_and_wrong_shapes():
    assert "'steinhart'" in _message(Thermistor.from_spec, {"steinhart": [1, 2, 3]})
    assert "beta_k" in _message(Thermistor.from_spec, {"beta": {"r25_ohm": 10000}})
    msg = _message(Thermistor.from_spec, {"beta": {"r25_ohm": 10000, "beta_k": 3950, "b": 1}})
    assert "'b'" in msg, msg
    assert "[a, b, c]" in _message(Thermistor.from_spec, {"coefficients": [1e-3, 2.4e-4]})
    assert "object" in _message(Thermistor.from_spec, [1, 2, 3])
    assert "at least 2" in _message(Thermistor.from_spec, {"table": [[25, 10000]]})


def test_big_numbers_and_absurd_values_raise_value_error_naming_the_input():
    cases = (
        ([(-40.0, 1e308), (60.0, 1e-300)], "row 1 (t=-40.0): resistance"),
        ([(-40.0, 1e-4), (60.0, 1e-5)], "row 1 (t=-40.0): resistance"),
        ([(0.0, 10**400), (25.0, 10000.0)], "row 1 resistance"),  # too large for a float
        ([(-250.0, 10**6), (0.0, 1000.0)], "row 1 temperature"),  # outside -200..1000 °C
        ([(-300.0, 10**6), (0.0, 1000.0)], "absolute zero"),
        ([(25.0, 10000.0), (1e30, 1000.0)], "row 2 temperature"),
    )
    for rows, words in cases:
        msg = _message(Thermistor.from_table, rows)
        assert words in msg, msg
    assert "beta_k" in _message(Thermistor.from_beta, 10000, 1e-300)
    assert "r25_ohm" in _message(Thermistor.from_beta, 1e308, 3950)
    assert "t0_c" in _message(Thermistor.from_beta, 10000, 3950, 10**400)


def test_rows_closer_than_32_bit_floats_can_tell_apart_are_refused():
    # 10000.0 and 9999.99999999 are one number in 32 bits; so are 0.0 and 0.001 °C at 273 K.
    for rows in (
        [(-40.0, 10000.0), (60.0, 9999.99999999)],
        [(0.0, 27219.0), (0.001, 17926.0)],
        [(-40.0, 1e15), (-39.99, 1e-3)],
    ):
        msg = _message(Thermistor.from_table, rows)
        assert "row 2" in msg and "too close" in msg, msg
    msg = _message(Thermistor.from_points, [(0.0, 10000.0), (1e-9, 9999.9), (60.0, 3000.0)])
    assert "point 2" in msg and "too close" in msg, msg


def test_a_steep_table_end_extrapolated_past_the_resistance_domain_is_refused():
    msg = _message(Thermistor.from_table, [(-40.0, 1e14), (-39.0, 1e13)])  # β ≈ 126000 K
    assert "coldest" in msg and "5 K" in msg, msg


def test_a_formula_leaving_the_resistance_domain_or_barely_changing_is_refused():
    for a, b, c in ((1e-3, 1e-30, 0.0), (1e300, 1e-300, 1e-300), (-1e308, 1e308, 1e308)):
        assert "outside" in _message(Thermistor.from_coefficients, a, b, c), (a, b, c)
    # Every temperature within 1 ± 1e-100 ohm: no NTC, and 1/T = 0 at exactly 1 ohm.
    assert "local beta" in _message(Thermistor.from_coefficients, 0.0, 2.4e-4, 1e300)
    # β = 150 K with R25 = e^33 ≈ 2e14 Ω: 1/T from terms 190 times its size at 155 °C, which
    # 32-bit floats cannot subtract to 0.03 K.
    b = 1.0 / 150.0
    assert "cancel" in _message(Thermistor.from_coefficients, 1.0 / 298.15 - b * 33.0, b, 0.0)


def test_ohms_inverts_a_curve_with_any_small_c():
    # Cardano's b/c overflowed 32-bit floats below c ≈ 1e-16; ohms() now needs no b/c.
    for c in (2.0e-7, 1e-9, 1e-13, 1e-20, 1e-40, 0.0):
        model = Thermistor.from_coefficients(1.009249522e-03, 2.378405444e-04, c)
        for t in (-60.0, -40.0, 0.0, 25.0, 100.0, 155.0):
            assert close(model.celsius(model.ohms(t)), t, 1e-6), (c, t)


# --- the 3-point fit in 32-bit floats, as on the ESP32 ----------------------------------------
#
# The host runs 64-bit floats, the ESP32 32-bit ones. f32() rounds to the nearest 32-bit float;
# the fit and the model's constructor take a rounding function for every intermediate
# (thermistor._fit_points, _Formula), and _celsius_f32 replays celsius() operation by operation.
# Each set must be accepted or refused alike in both widths, with the same message, and read
# temperatures within 0.05 K of each other.

_INF = float("inf")


def f32(x):
    """x rounded to the nearest 32-bit float, overflowing to ±inf as the ESP32 does."""
    try:
        return struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError:  # CPython refuses to pack it; MicroPython packs inf
        return _INF if x > 0 else -_INF


def fit_f32(points):
    """(model, None) from the 3-point fit with every operation in 32-bit floats, inputs
    included, or (None, the ValueError's message)."""
    try:
        rows = thermistor._rows([(f32(t), f32(r)) for t, r in points], "points", "point", 3, 3)
        a, b, c = thermistor._fit_points(rows, f32)
        return thermistor._Formula(a, b, c, "points", f32), None
    except ValueError as exc:
        return None, str(exc)


def fit_f64(points):
    try:
        return Thermistor.from_points(points), None
    except ValueError as exc:
        return None, str(exc)


def celsius_f32(model, ohms):
    """model.celsius(ohms) in 32-bit floats, in the firmware's order of operations."""
    ohms = f32(ohms)
    if not (model._r_lo <= ohms <= model._r_hi):
        return float("nan")
    x = f32(math.log(ohms))
    y = f32(model._a + f32(x * f32(model._b + f32(f32(model._c * x) * x))))
    return f32(f32(1.0 / y) - f32(thermistor.KELVIN))


CHECK_C = (-55.0, -40.0, -20.0, 0.0, 25.0, 50.0, 75.0, 100.0, 125.0, 150.0)


def widths_disagree(points):
    """None if both widths decide alike and read within 0.05 K, else what differs; with the
    largest temperature difference found (K) and whether the set was accepted."""
    m64, err64 = fit_f64(points)
    m32, err32 = fit_f32(points)
    if err64 != err32:
        return "64-bit: %s / 32-bit: %s" % (err64, err32), 0.0, False
    if m64 is None:
        return None, 0.0, False
    worst = 0.0
    for t in CHECK_C:
        r = m64.ohms(t)
        diff = abs(celsius_f32(m32, r) - m64.celsius(r))
        if not diff <= 0.05:  # also NaN
            why = "%r °C: 64-bit %r, 32-bit %r" % (t, m64.celsius(r), celsius_f32(m32, r))
            return why, diff, True
        if diff > worst:
            worst = diff
    return None, worst, True


BETAS_K = (3000.0, 3380.0, 3435.0, 3950.0, 3988.0, 4250.0, 4500.0)
R25S_OHM = (1000.0, 2200.0, 4700.0, 10000.0, 22000.0, 47000.0, 100000.0)
TRIPLETS_C = (
    (-20.0, 0.0, 25.0),
    (-40.0, 10.0, 60.0),
    (0.0, 25.0, 50.0),
    (-55.0, 25.0, 150.0),
    (-40.0, 25.0, 100.0),
    (-10.0, 0.0, 10.0),
    (20.0, 25.0, 30.0),
    (-5.0, 0.0, 5.0),
)


def beta_points(r25, beta_k, temperatures, digits=0):
    """Points on an exact β curve (64-bit), optionally rounded to `digits` significant digits
    as a datasheet prints them."""
    out = []
    for t in temperatures:
        r = r25 * math.exp(beta_k * (1.0 / (t + 273.15) - 1.0 / 298.15))
        out.append((t, float("%.*g" % (digits, r)) if digits else r))
    return out


def test_float32_fit_of_the_old_failure_is_the_beta_curve():
    # 10 kΩ, β 3950 through -20/0/25 °C: refused as "non-physical" on the ESP32 before, its
    # c = -2.3e-12 of 32-bit noise under a cut-off of -2.5e-13.
    points = beta_points(10000.0, 3950.0, (-20.0, 0.0, 25.0))
    model, err = fit_f32(points)
    assert err is None, err
    assert model._c < 1e-11  # 32-bit noise of a true 0; a real part's is about 1e-7
    for t in CHECK_C:
        assert close(celsius_f32(model, beta_points(10000.0, 3950.0, (t,))[0][1]), t, 0.001), t


def test_points_on_a_beta_curve_are_accepted_alike_in_32_and_64_bit_floats():
    n = 0
    for beta_k in BETAS_K:
        for r25 in R25S_OHM:
            for temperatures in TRIPLETS_C:
                points = beta_points(r25, beta_k, temperatures)
                why, _, accepted = widths_disagree(points)
                assert why is None, (beta_k, r25, temperatures, why)
                assert accepted, (beta_k, r25, temperatures)
                n += 1
    assert n == 392


def test_points_too_close_for_the_span_are_refused_alike_in_32_and_64_bit_floats():
    # 1 K apart around 25 °C, a curve over -60…155 °C could move by 0.1 K from 32-bit rounding
    # alone (measured: up to 0.05 K 0.5 K apart), so both widths refuse it, even on an exact
    # β curve, where a 64-bit host would have given the right one.
    for beta_k in BETAS_K:
        for r25 in R25S_OHM:
            points = beta_points(r25, beta_k, (24.0, 25.0, 26.0))
            why, _, accepted = widths_disagree(points)
            assert why is None and not accepted, (beta_k, r25, why)
            assert "too close together" in fit_f64(points)[1]
    # 5 K either side is enough.
    for beta_k in BETAS_K:
        assert widths_disagree(beta_points(10000.0, beta_k, (20.0, 25.0, 30.0)))[2], beta_k


def test_points_rounded_like_a_datasheet_decide_alike_in_32_and_64_bit_floats():
    # 2 to 5 significant digits: β curves whose rounding bends them either way, so that some
    # sets fall on each side of the FIT_TOL_K test.
    accepted = refused = 0
    for beta_k in (3000.0, 3435.0, 3950.0, 4500.0):
        for r25 in (1000.0, 10000.0, 100000.0):
            for temperatures in TRIPLETS_C:
                for digits in (2, 3, 4, 5):
                    points = beta_points(r25, beta_k, temperatures, digits)
                    why, _, ok = widths_disagree(points)
                    assert why is None, (points, why)
                    if ok:
                        accepted += 1
                    else:
                        refused += 1
    assert accepted > 200 and refused > 30, (accepted, refused)


DATASHEET_TRIPLETS_C = (
    (-40.0, 10.0, 60.0),
    (-20.0, 0.0, 25.0),
    (0.0, 25.0, 50.0),
    (-40.0, 25.0, 100.0),
    (-10.0, 0.0, 10.0),
    (20.0, 25.0, 30.0),
)


def test_datasheet_points_and_mistyped_ones_decide_alike_in_32_and_64_bit_floats():
    accepted = refused = 0
    for name in (MURATA, VISHAY, TDK, SEMITEC):
        table = read_rt_table(name)
        for temperatures in DATASHEET_TRIPLETS_C:
            lo, mid, hi = [_row(table, t) for t in temperatures]
            for typo in (1.0, 0.8, 0.9, 0.97, 0.99, 0.999, 1.001, 1.01, 1.03, 1.1, 1.2):
                points = [(temperatures[0], lo), (temperatures[1], mid * typo)]
                points.append((temperatures[2], hi))
                why, _, ok = widths_disagree(points)
                assert why is None, (name, points, why)
                assert ok or typo != 1.0, (name, temperatures)  # every real row set fits
                if ok:
                    accepted += 1
                else:
                    refused += 1
    assert accepted > 100 and refused > 50, (accepted, refused)
