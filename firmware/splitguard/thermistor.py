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

Construction never depends on the float width
  The ESP32's floats are 32-bit, the host's 64-bit, and a config must be accepted or refused the
  same on both, with the same message. So every input is held to a domain far inside 32-bit
  range (MIN_OHM..MAX_OHM, MIN_C..MAX_C, rows MIN_STEP_C and MIN_STEP_RATIO apart), every
  derived resistance is checked in ln R before an exp() could overflow, each decision compares
  a well-conditioned value with a limit far from its rounding, and messages print inputs and
  limits, never a computed figure. A bad spec of any numbers raises ValueError naming the
  problem, never OverflowError or ZeroDivisionError. The 3-point fit works from the local β of
  each pair of points (a temperature difference over a resistance ratio, no difference of two
  nearly equal 1/T or ln R) and refuses a set whose curve 32-bit rounding alone could move by
  FIT_ROUNDING_K; its `q` argument rounds each intermediate to the working width: nothing
  here, float32 in the tests that replay the board's arithmetic.

Cost
  Everything derived is computed once in the constructor. celsius() is one math.log and, for a
  table, a binary search over lists built once; it creates no containers. The per-row
  constants are lists of floats rather than array('f') because MicroPython boxes a new float on
  every array('f') read, while a list hands out the float it already holds: the only objects a
  reading creates are its handful of arithmetic results. The formulas work in ln R (never R³)
  and the table in ln R and 1/T.
"""

import math

from splitguard.compat import NAN, const

KELVIN = const(273.15)
EXTRAPOLATE_K = const(5.0)
FORMULA_MIN_C = const(-55.0)
FORMULA_MAX_C = const(150.0)
# Input domain: decades beyond any NTC part on either side, and far enough inside 32-bit floats
# (±3.4e38, 7 digits) that no ratio, ln R or 1/T computed from it overflows or runs out of digits.
MIN_OHM = const(1e-3)
MAX_OHM = const(1e15)
MIN_C = const(-200.0)
MAX_C = const(1000.0)
MIN_BETA_K = const(100.0)
MAX_BETA_K = const(100000.0)
# Neighbouring rows closer than this are refused: 32-bit ln R and 1/T could not tell them apart
# (ln R to ±4e-6 at 1 PΩ, against ln(1.0001) = 1e-4). The message in _rows says 0.01 K, 0.01 %.
MIN_STEP_C = const(0.01)
MIN_STEP_RATIO = const(1.0001)
# A 3-point set that only a β falling with temperature would fit is still taken as a β curve
# if that curve passes within this of every point (the rounding of datasheet resistances).
FIT_TOL_K = const(0.02)
# ... and refused if 32-bit rounding alone could move its curve by more than this anywhere in
# its span: half the 0.05 K the two widths' readings may differ by.
FIT_ROUNDING_K = const(0.025)
_U32 = const(5.960464477539063e-08)  # 2**-24: one rounding of a 32-bit float, relative
# A formula whose terms |a|, |b·lnR|, |c·ln³R| exceed 1/T by more than this much loses that
# many 32-bit roundings: 128 × 8 × 2**-24 × 428 K ≈ 0.03 K at the hot end, the most allowed.
_MAX_CANCEL = const(128.0)
_NEWTON_STEPS = const(6)  # from a start at most 47 % high: 1e-16 after 5 steps
_X_MIN = math.log(MIN_OHM)
_X_MAX = math.log(MAX_OHM)


def _same(x):
    """The rounding of the width we run in: none (tests pass a float32 rounder instead)."""
    return x


def _number(value, what, lo, hi, unit):
    """value as a float in lo..hi, or ValueError naming `what` and the problem."""
    if type(value) is bool or not isinstance(value, (int, float)):
        raise ValueError("%s must be a number, not %r" % (what, value))
    try:
        value = float(value)
    except OverflowError:  # an int beyond any float
        raise ValueError("%s is a number too large for a float" % what) from None
    if value - value != 0.0:  # NaN and ±inf
        raise ValueError("%s must be finite, not %r" % (what, value))
    if lo is not None and not (lo <= value <= hi):
        raise ValueError("%s %r is outside %g..%g %s" % (what, value, lo, hi, unit))
    return value


def _temperature(value, what):
    t = _number(value, what, None, None, None)
    if t <= -KELVIN:
        raise ValueError("%s %r °C is at or below absolute zero" % (what, t))
    return _number(t, what, MIN_C, MAX_C, "°C")


def _rows(rows, what, item, count_min, count_max):
    """Validated [(t_c, r_ohm), ...]: temperatures strictly rise, resistances strictly fall,
    neighbours at least MIN_STEP_C and MIN_STEP_RATIO apart."""
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
        t = _temperature(row[0], here + " temperature")
        r = _number(row[1], here + " resistance", None, None, None)
        here = "%s (t=%r)" % (here, t)
        if r <= 0.0:
            raise ValueError("%s: resistance %r is not positive" % (here, r))
        _number(r, here + ": resistance", MIN_OHM, MAX_OHM, "ohm")
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
            if t - t0 < MIN_STEP_C or r * MIN_STEP_RATIO > r0:
                raise ValueError(
                    "%s: too close to the previous %s (%r °C, %r ohm) to tell apart in 32-bit"
                    " floats: neighbours need 0.01 K and 0.01 %% between them"
                    % (here, item, t0, r0)
                )
        out.append((t, r))
    return out


def _inverse_beta(t_cold, k_cold, r_cold, t_warm, k_warm, r_warm, q):
    """(1/β, ln(r_cold/r_warm), bound) of two rows, k = t + 273.15 in K.

    1/β = (1/T_cold - 1/T_warm) / ln(R_cold/R_warm), from the temperature difference and the
    resistance ratio. `bound` is its relative error in 32-bit roundings, inputs' own rounding
    included, to first order: a temperature difference loses (|t1| + |t2|)/Δt of them, T
    (273.15 + |t|)/T, the logarithm 3/ln(ratio), and eight single roundings."""
    dt = q(t_warm - t_cold)
    dy = q(dt / q(k_cold * k_warm))
    dl = q(math.log(q(r_cold / r_warm)))
    bound = (
        (abs(t_cold) + abs(t_warm)) / dt
        + (KELVIN + abs(t_cold)) / k_cold
        + (KELVIN + abs(t_warm)) / k_warm
        + 3.0 / dl
        + 8.0
    )
    return q(dy / dl), dl, bound


def _fit_points(rows, q=_same):
    """(a, b, c) of the Steinhart–Hart curve through three validated rows, coldest first.

    With s = 1/β of each pair of points and l = ln R, the curve through them has
    c·(l1 + l2 + l3)·(l1 - l3) = s12 - s23: c > 0, as every NTC shows, is a local β that rises
    as the part warms. Where it does not (s12 - s23 <= 0; on a pure β curve that is rounding),
    c = 0: the β curve closest to all three points, through the outer two shifted by half the
    middle one's offset. It is accepted if every point is within FIT_TOL_K of it (a datasheet's
    rounding) and refused as non-physical beyond: a β that falls as the part warms is a mistyped
    point. The curve is continuous in the data, so both widths build nearly the same one; and
    a set whose curve 32-bit rounding alone could move by FIT_ROUNDING_K at either end of the
    span is refused. Both tests are on well-conditioned values: 32 and 64 bits decide alike
    unless a set lies within their rounding of a limit (about 1e-5 K of 2·FIT_TOL_K)."""
    (t1, r1), (t2, r2), (t3, r3) = rows
    kelvin = q(KELVIN)
    k1 = q(t1 + kelvin)
    k2 = q(t2 + kelvin)
    k3 = q(t3 + kelvin)
    s12, dl12, e12 = _inverse_beta(t1, k1, r1, t2, k2, r2, q)
    s23, dl23, e23 = _inverse_beta(t2, k2, r2, t3, k3, r3, q)
    s13, dl13, e13 = _inverse_beta(t1, k1, r1, t3, k3, r3, q)
    f = q(s12 - s23)
    l1 = q(math.log(r1))
    l2 = q(math.log(r2))
    l3 = q(math.log(r3))
    sum_l = q(q(l1 + l2) + l3)
    y2 = q(1.0 / k2)
    if f > 0.0 and sum_l > 0.0:
        c = q(f / q(dl13 * sum_l))
        b = q(s12 - q(c * q(q(q(l1 * l1) + q(l1 * l2)) + q(l2 * l2))))
        a = q(y2 - q(l2 * q(b + q(c * q(l2 * l2)))))
    else:
        # The middle point's offset in 1/T from the β curve through the outer two, and in K
        # (dT = -T²·d(1/T)): > 0 where β falls as the part warms.
        offset = q(-q(f * q(q(dl12 * dl23) / dl13)))
        off_k = offset * k2 * k2
        if off_k > 2.0 * FIT_TOL_K:
            raise ValueError(
                "points: Steinhart-Hart fit is non-physical: point 2 (t=%r) lies more than %g K"
                " off the beta curve through points 1 and 3, on the side where beta would fall"
                " as the part warms (an NTC's rises: c >= 0); is a point mistyped?"
                % (t2, 2.0 * FIT_TOL_K)
            )
        if -off_k > 2.0 * FIT_TOL_K:
            raise ValueError(
                "points: no Steinhart-Hart curve with c >= 0 bends like these points, nor a beta"
                " curve within %g K of them: the resistances are around or below 1 ohm (their"
                " ln R sum to <= 0)" % FIT_TOL_K
            )
        a = q(q(y2 - q(s13 * l2)) - q(0.5 * offset))
        b = s13
        c = 0.0
    if not b > 0.0:
        return a, b, c  # _Formula refuses it
    # How far rounding alone (32-bit, inputs included, first order) could move the curve at the
    # two ends of the formula's span, in K. Around the points it is the points' own rounding;
    # away from them it grows, the faster the closer together they are. In Newton's form
    # through point 2 then 1 the curve is y2 + s12·u2 + f123·(u1·u2 + u1·u2·u3/Σl), where
    # u_i = x - l_i and f123 = (s12 - s23)/(l1 - l3) (its error counts with c = 0 too, where
    # it bends the curve as soon as it is > 0: the bound is continuous across the branches).
    e_y2 = (KELVIN + abs(t2)) / k2 + 2.0
    e_f = e12 * s12 + e23 * s23 + s12  # + s12: the subtraction s12 - s23
    f123 = f / dl13 if c > 0.0 else 0.0
    for t in (FORMULA_MIN_C - EXTRAPOLATE_K, FORMULA_MAX_C + EXTRAPOLATE_K):
        k = t + KELVIN
        x = _x_at(a, b, c, 1.0 / k, _same)
        if not (_X_MIN <= x <= _X_MAX):
            break  # _Formula refuses it
        u1 = x - l1
        u2 = x - l2
        bend = u1 * u2 * (x - l3) / sum_l if sum_l > 0.0 else 0.0
        shape = abs(u1 * u2 + bend) + dl23 * abs(u2) + dl12 * dl23
        spread = e_y2 * y2 + e12 * s12 * abs(u2) + e_f / dl13 * shape
        if f123 > 0.0:
            e_sum = (abs(l1) + abs(l2) + abs(l3) + 6.0) / sum_l
            spread += f123 * (e13 * abs(u1 * u2 + bend) + abs(bend) * e_sum)
        if spread * _U32 * k * k > FIT_ROUNDING_K:
            raise ValueError(
                "points: too close together for a curve over %g..%g °C: 32-bit rounding alone"
                " could move a reading at %g °C by more than %g K; spread them over the"
                " temperatures the sensor sees"
                % (
                    FORMULA_MIN_C - EXTRAPOLATE_K,
                    FORMULA_MAX_C + EXTRAPOLATE_K,
                    t,
                    FIT_ROUNDING_K,
                )
            )
    return a, b, c


def _x_at(a, b, c, y, q):
    """ln R where a + b·ln R + c·ln³R = y, for b > 0 and c >= 0 (one real root).

    Newton from above: for x >= 0, |y - a|/b and (|y - a|/c)^(1/3) both bound the root from
    above (the other term is >= 0) and the curve is convex, so the iteration falls straight to
    it, whatever c is: no Cardano, whose b/c overflows 32-bit floats for a small c. NaN or inf
    for coefficients beyond floats; the caller checks the result."""
    d = q(y - a)
    m = -d if d < 0.0 else d
    x = q(m / b)
    if c > 0.0:
        top = q(q(m / c) ** q(1.0 / 3.0))
        if top < x:
            x = top
        for _ in range(_NEWTON_STEPS):
            cx2 = q(q(c * x) * x)
            x = q(x - q(q(q(x * q(b + cx2)) - m) / q(b + q(3.0 * cx2))))
    return -x if d < 0.0 else x


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
        r0 = _number(r25_ohm, "beta r25_ohm", None, None, None)
        beta = _number(beta_k, "beta beta_k", None, None, None)
        t0 = _temperature(t0_c, "beta t0_c")
        if r0 <= 0.0:
            raise ValueError("beta r25_ohm must be positive, not %r" % r0)
        if beta <= 0.0:
            raise ValueError("beta beta_k must be positive for an NTC, not %r" % beta)
        _number(r0, "beta r25_ohm", MIN_OHM, MAX_OHM, "ohm")
        _number(beta, "beta beta_k", MIN_BETA_K, MAX_BETA_K, "K")
        b = 1.0 / beta
        return _Formula(1.0 / (t0 + KELVIN) - b * math.log(r0), b, 0.0, "beta")

    @staticmethod
    def from_coefficients(a, b, c):
        """Steinhart–Hart coefficients of 1/T = a + b·lnR + c·ln³R (T in K, R in Ω)."""
        a = _number(a, "coefficient a", None, None, None)
        b = _number(b, "coefficient b", None, None, None)
        c = _number(c, "coefficient c", None, None, None)
        if not b > 0.0 or c < 0.0:
            raise ValueError(
                "coefficients: Steinhart-Hart curve is non-physical (b=%.6g, c=%.6g): an NTC"
                " needs b > 0 and c >= 0, so that resistance falls as temperature rises" % (b, c)
            )
        return _Formula(a, b, c, "coefficients")

    @staticmethod
    def from_points(points):
        """Steinhart–Hart through three (t_c, r_ohm) points, coldest first."""
        a, b, c = _fit_points(_rows(points, "points", "point", 3, 3))
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

    def __init__(self, a, b, c, what, q=_same):
        if not b > 0.0 or c < 0.0:
            # With b > 0 and c >= 0, 1/T rises with ln R everywhere: one temperature per
            # resistance and one real root for ohms(). Real NTC curves bend this way (c > 0).
            raise ValueError(
                "%s: Steinhart-Hart curve is non-physical: an NTC needs b > 0 and c >= 0 in"
                " 1/T = a + b*lnR + c*ln^3R, so that resistance falls as temperature rises" % what
            )
        self._a = a
        self._b = b
        self._c = c
        self._t_min = FORMULA_MIN_C - EXTRAPOLATE_K
        self._t_max = FORMULA_MAX_C + EXTRAPOLATE_K
        kelvin = q(KELVIN)
        xs = []
        for t in (self._t_max, self._t_min, FORMULA_MAX_C, FORMULA_MIN_C):
            x = _x_at(a, b, c, q(1.0 / q(t + kelvin)), q)
            if not (_X_MIN <= x <= _X_MAX):  # also for NaN
                raise ValueError(
                    "%s: the curve's resistance at %g °C is outside %g..%g ohm: not an NTC's"
                    % (what, t, MIN_OHM, MAX_OHM)
                )
            xs.append(x)
        # d(1/T)/d(ln R) = b + 3c·x² = 1/β, and |b·x| and |c·x³| against 1/T: the worst of
        # each is at one end of the span (|x| largest, 1/T smallest at the hot end).
        limit = _MAX_CANCEL / (self._t_max + KELVIN)
        for x in (xs[0], xs[1]):
            if (b + 3.0 * c * x * x) * MIN_BETA_K > 1.0:
                raise ValueError(
                    "%s: the curve's local beta drops below %g K between %g and %g °C: its"
                    " resistance hardly changes with temperature, unlike an NTC's"
                    % (what, MIN_BETA_K, self._t_min, self._t_max)
                )
            if abs(a) + abs(b * x) + abs(c * x * x * x) > limit:
                raise ValueError(
                    "%s: the Steinhart-Hart terms are over %g times 1/T and cancel: 32-bit floats"
                    " could not evaluate this curve to 0.03 K" % (what, _MAX_CANCEL)
                )
        self._r_lo = q(math.exp(xs[0]))
        self._r_hi = q(math.exp(xs[1]))
        self._valid = (q(math.exp(xs[2])), q(math.exp(xs[3])))

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
        return math.exp(_x_at(self._a, self._b, self._c, 1.0 / (celsius + KELVIN), _same))


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
        # Slope d(1/T)/d(ln R) of each segment: 1/β between the two rows, from their
        # temperature difference and resistance ratio (_rows keeps them far enough apart).
        slopes = []
        for i in range(n - 1):
            t_warm, r_warm = rows[n - 1 - i]
            t_cold, r_cold = rows[n - 2 - i]
            s = _inverse_beta(
                t_cold, t_cold + KELVIN, r_cold, t_warm, t_warm + KELVIN, r_warm, _same
            )[0]
            slopes.append(s)
        self._s = slopes
        self._x = xs
        self._y = ys
        self._last = n - 2
        self._t_min = rows[0][0] - EXTRAPOLATE_K
        self._t_max = rows[n - 1][0] + EXTRAPOLATE_K
        # Extrapolated in ln R and checked before exp(), which a steep end segment would
        # overflow.
        for t, side in ((self._t_max, "warmest"), (self._t_min, "coldest")):
            x = self._x_at(t)
            if not (_X_MIN <= x <= _X_MAX):
                raise ValueError(
                    "table: %g K past the %s row (%g °C) the end rows' beta reaches a resistance"
                    " outside %g..%g ohm" % (EXTRAPOLATE_K, side, t, MIN_OHM, MAX_OHM)
                )
        self._r_lo = math.exp(self._x_at(self._t_max))
        self._r_hi = math.exp(self._x_at(self._t_min))
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
        return math.exp(self._x_at(celsius))

    def _x_at(self, celsius):
        y = 1.0 / (celsius + KELVIN)
        ys = self._y
        lo = _segment(ys, self._last, y)
        return self._x[lo] + (y - ys[lo]) / self._s[lo]
