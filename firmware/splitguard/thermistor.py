"""NTC thermistor: ohms <-> °C from a β value, Steinhart–Hart coefficients or a datasheet table.

Models
  β and Steinhart–Hart share one formula, 1/T = a + b·lnR + c·ln³R (β is c = 0). A datasheet
  table is interpolated linearly in ln R against 1/T, i.e. with the local β of the two
  neighbouring rows; that follows the NTC curve (linear-in-R interpolation does not), and from
  rows 10 K apart it reproduces the rows in between to about 0.02 °C for the tested parts.

Trusted range and faults
  A table is trusted between its end rows; a formula between -55 and +150 °C (the usual
  operating range of 10 kΩ NTC parts, beyond which a β or 3-point fit is not backed by data).
  celsius() extrapolates up to EXTRAPOLATE_K past either end (a table with its end segment's
  local β). Anything else - zero, negative, NaN, inf, or a resistance further out - is a sensor
  fault, and celsius() returns NaN for it, never a made-up temperature (ESPHome's fault-as-NaN).
  ohms() is the exact inverse on the same span and NaN outside it.

Cost
  Everything derived is computed once in the constructor. celsius() is one math.log and, for a
  table, a binary search over lists built once; it creates no containers. The per-row
  constants are lists of floats rather than array('f') because MicroPython boxes a new float on
  every array('f') read, while a list hands out the float it already holds: the only objects a
  reading creates are its handful of arithmetic results. The ESP32's floats are 32-bit, so the
  formulas work in ln R (never R³) and the table in ln R and 1/T.
"""

import math

from splitguard.compat import NAN, const

KELVIN = const(273.15)
EXTRAPOLATE_K = const(5.0)
FORMULA_MIN_C = const(-55.0)
FORMULA_MAX_C = const(150.0)
# A c this small changes 1/T by < 1e-9 K⁻¹ up to ln R = 16 (≈ 9 MΩ), under 0.0001 K: it is
# rounding noise of points taken from a β curve, and is set to 0 so that ohms() does not run
# Cardano's formula on a huge b/c (which overflows 32-bit floats).
_C_NEGLIGIBLE = const(2.5e-13)


def _number(value, what):
    """value as a float, or ValueError naming `what` if it is not a finite number."""
    if type(value) is bool or not isinstance(value, (int, float)):
        raise ValueError("%s must be a number, not %r" % (what, value))
    value = float(value)
    if value - value != 0.0:  # NaN and ±inf
        raise ValueError("%s must be finite, not %r" % (what, value))
    return value


def _rows(rows, what, item, count_min, count_max):
    """Validated [(t_c, r_ohm), ...]: temperatures strictly rise, resistances strictly fall."""
    if not isinstance(rows, (list, tuple)):
        raise ValueError("%s must be a list of [t_c, r_ohm], not %r" % (what, rows))
    n = len(rows)
    if n < count_min or n > count_max:
        if count_min == count_max:
            need = "exactly %d" % count_min
        else:
            need = "at least %d" % count_min
        raise ValueError("%s needs %s [t_c, r_ohm] entries, got %d" % (what, need, n))
    out = []
    for i in range(n):
        row = rows[i]
        here = "%s %d" % (item, i + 1)
        if not isinstance(row, (list, tuple)) or len(row) != 2:
            raise ValueError("%s: expected [t_c, r_ohm], got %r" % (here, row))
        t = _number(row[0], here + " temperature")
        r = _number(row[1], here + " resistance")
        here = "%s (t=%r)" % (here, t)
        if t <= -KELVIN:
            raise ValueError("%s: temperature is at or below absolute zero" % here)
        if r <= 0.0:
            raise ValueError("%s: resistance %r is not positive" % (here, r))
        if out:
            t0, r0 = out[-1]
            if t <= t0:
                raise ValueError(
                    "%s: temperature is not above the previous %s's %r"
                    " (temperatures must strictly increase)" % (here, item, t0)
                )
            if r >= r0:
                raise ValueError(
                    "%s: resistance %r is not below the previous %s's %r"
                    " (an NTC's resistance must strictly fall as it warms)" % (here, r, item, r0)
                )
        out.append((t, r))
    return out


def _cbrt(x):
    return x ** (1.0 / 3.0) if x > 0.0 else 0.0


class Thermistor:
    """An NTC thermistor's resistance–temperature curve; build it with a from_* constructor."""

    def celsius(self, ohms):
        """Temperature in °C for a resistance in Ω; NaN for a faulted (out-of-curve) resistance."""
        raise NotImplementedError

    def ohms(self, celsius):
        """Resistance in Ω at a temperature in °C (the inverse of celsius); NaN outside its span."""
        raise NotImplementedError

    def valid_ohms_range(self):
        """(min_ohm, max_ohm) where the model is trusted (see the module docstring)."""
        return self._valid

    @staticmethod
    def from_beta(r25_ohm, beta_k, t0_c=25.0):
        """β model: R = R0·exp(β·(1/T - 1/T0)), R0 = r25_ohm at t0_c."""
        r0 = _number(r25_ohm, "beta r25_ohm")
        beta = _number(beta_k, "beta beta_k")
        t0 = _number(t0_c, "beta t0_c")
        if r0 <= 0.0:
            raise ValueError("beta r25_ohm must be positive, not %r" % r0)
        if beta <= 0.0:
            raise ValueError("beta beta_k must be positive for an NTC, not %r" % beta)
        if t0 <= -KELVIN:
            raise ValueError("beta t0_c %r is at or below absolute zero" % t0)
        b = 1.0 / beta
        return _Formula(1.0 / (t0 + KELVIN) - b * math.log(r0), b, 0.0, "beta")

    @staticmethod
    def from_coefficients(a, b, c):
        """Steinhart–Hart coefficients of 1/T = a + b·lnR + c·ln³R (T in K, R in Ω)."""
        a = _number(a, "coefficient a")
        b = _number(b, "coefficient b")
        c = _number(c, "coefficient c")
        return _Formula(a, b, c, "coefficients")

    @staticmethod
    def from_points(points):
        """Steinhart–Hart through three (t_c, r_ohm) points, coldest first."""
        rows = _rows(points, "points", "point", 3, 3)
        l1, l2, l3 = [math.log(r) for _, r in rows]
        y1, y2, y3 = [1.0 / (t + KELVIN) for t, _ in rows]
        # Divided differences: the closed-form solution of the 3x3 system.
        g2 = (y2 - y1) / (l2 - l1)
        g3 = (y3 - y1) / (l3 - l1)
        c = (g3 - g2) / (l3 - l2) / (l1 + l2 + l3)
        b = g2 - c * (l1 * l1 + l1 * l2 + l2 * l2)
        a = y1 - (b + l1 * l1 * c) * l1
        return _Formula(a, b, c, "points")

    @staticmethod
    def from_table(rows):
        """A datasheet R–T table [(t_c, r_ohm), ...], at least 2 rows, coldest first."""
        return _Table(_rows(rows, "table", "table row", 2, 1 << 30))

    @staticmethod
    def from_spec(spec):
        """From a config dict with exactly one of "beta", "points", "coefficients", "table"."""
        forms = ("beta", "points", "coefficients", "table")
        if not isinstance(spec, dict):
            raise ValueError("thermistor spec must be an object, not %r" % (spec,))
        given = [k for k in forms if k in spec]
        unknown = [k for k in spec if k not in forms]
        if unknown:
            raise ValueError(
                "thermistor spec: unknown key %r (allowed: %s)" % (unknown[0], ", ".join(forms))
            )
        if len(given) != 1:
            raise ValueError(
                "thermistor spec needs exactly one of %s, got %s"
                % (", ".join(forms), ", ".join(given) if given else "none")
            )
        form = given[0]
        body = spec[form]
        if form == "beta":
            if not isinstance(body, dict):
                raise ValueError("beta must be an object with r25_ohm and beta_k, not %r" % body)
            for key in body:
                if key not in ("r25_ohm", "beta_k", "t0_c"):
                    raise ValueError("beta: unknown key %r (allowed: r25_ohm, beta_k, t0_c)" % key)
            for key in ("r25_ohm", "beta_k"):
                if key not in body:
                    raise ValueError("beta: %s is missing" % key)
            return Thermistor.from_beta(body["r25_ohm"], body["beta_k"], body.get("t0_c", 25.0))
        if form == "points":
            return Thermistor.from_points(body)
        if form == "coefficients":
            if not isinstance(body, (list, tuple)) or len(body) != 3:
                raise ValueError("coefficients must be [a, b, c], not %r" % (body,))
            return Thermistor.from_coefficients(body[0], body[1], body[2])
        return Thermistor.from_table(body)


class _Formula(Thermistor):
    """1/T = a + b·lnR + c·ln³R, trusted from FORMULA_MIN_C to FORMULA_MAX_C."""

    def __init__(self, a, b, c, what):
        if -_C_NEGLIGIBLE <= c <= _C_NEGLIGIBLE:
            c = 0.0
        if not b > 0.0 or c < 0.0:
            # With b > 0 and c >= 0, 1/T rises with ln R everywhere: one temperature per
            # resistance and one real root for ohms(). Real NTC curves bend this way (c > 0).
            raise ValueError(
                "%s: Steinhart-Hart fit is non-physical (b=%r, c=%r): an NTC needs b > 0 and"
                " c >= 0, so that resistance falls as temperature rises" % (what, b, c)
            )
        self._a = a
        self._b = b
        self._c = c
        self._t_min = FORMULA_MIN_C - EXTRAPOLATE_K
        self._t_max = FORMULA_MAX_C + EXTRAPOLATE_K
        r_lo = r_hi = lo = hi = NAN
        try:
            r_lo = self._ohms(self._t_max)
            r_hi = self._ohms(self._t_min)
            lo = self._ohms(FORMULA_MAX_C)
            hi = self._ohms(FORMULA_MIN_C)
        except (OverflowError, ValueError):  # CPython's exp() overflow; MicroPython gives inf
            pass
        for r in (r_lo, r_hi, lo, hi):
            if not (0.0 < r < 1e30):
                raise ValueError(
                    "%s: Steinhart-Hart fit is non-physical (a=%r, b=%r, c=%r): the resistance"
                    " between %r and %r °C is not a finite positive value"
                    % (what, a, b, c, FORMULA_MIN_C, FORMULA_MAX_C)
                )
        self._r_lo = r_lo
        self._r_hi = r_hi
        self._valid = (lo, hi)

    def celsius(self, ohms):
        """Temperature in °C for a resistance in Ω; NaN for a faulted (out-of-curve) resistance."""
        if not (self._r_lo <= ohms <= self._r_hi):  # also false for NaN
            return NAN
        x = math.log(ohms)
        return 1.0 / (self._a + x * (self._b + self._c * x * x)) - KELVIN

    def ohms(self, celsius):
        """Resistance in Ω at a temperature in °C (the inverse of celsius); NaN outside its span."""
        if not (self._t_min <= celsius <= self._t_max):
            return NAN
        return self._ohms(celsius)

    def _ohms(self, celsius):
        a = self._a
        b = self._b
        c = self._c
        y = 1.0 / (celsius + KELVIN)
        if c == 0.0:
            return math.exp((y - a) / b)
        # Cardano for the one real root of x³ + p·x + q = 0 (p = b/c > 0, q = (a - y)/c),
        # then one Newton step to win back what the difference of cube roots cancels in
        # 32-bit floats.
        p = b / c
        q = (a - y) / c
        s = math.sqrt(q * q * 0.25 + p * p * p / 27.0)
        x = _cbrt(s - 0.5 * q) - _cbrt(s + 0.5 * q)
        x -= (x * (b + c * x * x) + a - y) / (b + 3.0 * c * x * x)
        return math.exp(x)


def _segment(knots, last, v):
    """Index of the last knot at or below v in ascending `knots`, clamped to 0..last so the end
    segments extrapolate; a binary search, no allocation."""
    lo = 0
    hi = last
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        if knots[mid] <= v:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _Table(Thermistor):
    """A datasheet table, interpolated with the local β of neighbouring rows."""

    def __init__(self, rows):
        n = len(rows)
        # Knots ordered by rising ln R (falling temperature) so both searches run upwards.
        xs = [math.log(rows[n - 1 - i][1]) for i in range(n)]
        ys = [1.0 / (rows[n - 1 - i][0] + KELVIN) for i in range(n)]
        for i in range(n - 1):
            if not (xs[i] < xs[i + 1] and ys[i] < ys[i + 1]):
                j = n - 1 - i
                raise ValueError(
                    "table rows %d and %d are too close to tell apart in this float width"
                    % (j, j + 1)
                )
        # Slope d(1/T)/d(ln R) of each segment: 1/β between the two rows.
        self._s = [(ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) for i in range(n - 1)]
        self._x = xs
        self._y = ys
        self._last = n - 2
        self._t_min = rows[0][0] - EXTRAPOLATE_K
        self._t_max = rows[n - 1][0] + EXTRAPOLATE_K
        self._r_lo = self._ohms(self._t_max)
        self._r_hi = self._ohms(self._t_min)
        self._valid = (rows[n - 1][1], rows[0][1])

    def celsius(self, ohms):
        """Temperature in °C for a resistance in Ω; NaN for a faulted (out-of-curve) resistance."""
        if not (self._r_lo <= ohms <= self._r_hi):  # also false for NaN
            return NAN
        x = math.log(ohms)
        xs = self._x
        lo = _segment(xs, self._last, x)
        return 1.0 / (self._y[lo] + self._s[lo] * (x - xs[lo])) - KELVIN

    def ohms(self, celsius):
        """Resistance in Ω at a temperature in °C (the inverse of celsius); NaN outside its span."""
        if not (self._t_min <= celsius <= self._t_max):
            return NAN
        return self._ohms(celsius)

    def _ohms(self, celsius):
        y = 1.0 / (celsius + KELVIN)
        ys = self._y
        lo = _segment(ys, self._last, y)
        return math.exp(self._x[lo] + (y - ys[lo]) / self._s[lo])
