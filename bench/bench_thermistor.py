"""How far each thermistor model strays from the part's own datasheet table over -40…+60 °C.

Parts: the four published R–T tables in tests/data/ntc_*.csv (sources in each file's header).
Models, all through splitguard.thermistor:
- β: from_beta(R25, B) with the datasheet's B (B25/50, B25/85 or B25/100, read from the header);
- 3-point Steinhart–Hart: from_points() through the table's -40, 10 and 60 °C rows;
- table: from_table() of the 10 K rows only, checked at the 5 °C rows in between.

And the 3-point fit in the ESP32's 32-bit floats against the host's 64-bit ones, with every
intermediate rounded to float32 (the helpers of tests/firmware/test_thermistor.py): point sets
on exact β curves, the same rounded to 2-5 digits as a datasheet prints them, and datasheet rows
with the middle one mistyped. Same decision and message in both widths; the largest temperature
difference between the two models over -55…+150 °C; for the exact β sets, the largest c that
32-bit rounding makes of a true 0.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from splitguard.thermistor import Thermistor

from bench.table import Row

_TESTS_FIRMWARE = Path(__file__).resolve().parent.parent / "tests" / "firmware"
if str(_TESTS_FIRMWARE) not in sys.path:
    sys.path.insert(0, str(_TESTS_FIRMWARE))

import spec  # noqa: E402  (tests/firmware/spec.py: the CSV reader the tests use)
import test_thermistor as tt  # noqa: E402  (the float32 replay of the fit)

SPAN_LO_C = -40.0
SPAN_HI_C = 60.0
POINTS_C = (-40.0, 10.0, 60.0)
# Datasheet nominal resistance of every part here (10 kΩ at 25 °C, each file's first line).
R25_OHM = 10000.0

# In the header comments, e.g. "# Murata NCP18XH103F03RB - 10 kOhm +-1 % chip NTC (0603),
# B25/50 = 3380 K." (TDK's B is on the second line).
_B_VALUE = re.compile(r"B(\d+)/(\d+) = (\d+) K")


def _part(name: str) -> tuple[str, str, float]:
    """(maker and part number, B label such as "B25/50", B in K) from the CSV's comment lines."""
    with open(spec.DATA_DIR + "/" + name) as f:
        header = " ".join(line.lstrip("# ").strip() for line in f if line.startswith("#"))
    words = header.split(" - ")[0].split()
    label = words[0] + " " + words[-1]
    m = _B_VALUE.search(header)
    if m is None:
        raise ValueError("%s: no 'B25/xx = NNNN K' in the header" % name)
    return label, "B%s/%s" % (m.group(1), m.group(2)), float(m.group(3))


def _worst(model: Thermistor, rows: list[tuple[float, float]]) -> tuple[float, float]:
    """(max |celsius(R) - t|, the t where it occurs) over the given table rows."""
    worst, at = -1.0, float("nan")
    for t, r in rows:
        err = abs(model.celsius(r) - t)
        if err != err:
            raise ValueError("model reads NaN at the %r °C row" % t)
        if err > worst:
            worst, at = err, t
    return worst, at


def _row_at(table: list[tuple[float, float]], t_c: float) -> float:
    for t, r in table:
        if t == t_c:
            return r
    raise ValueError("no %r °C row" % t_c)


def run() -> list[Row]:
    rows = []
    for path in sorted(Path(spec.DATA_DIR).glob("ntc_*.csv")):
        table = spec.read_rt_table(path.name)
        label, b_label, beta_k = _part(path.name)
        if _row_at(table, 25.0) != R25_OHM:
            raise ValueError("%s: 25 °C row is not %r Ω" % (path.name, R25_OHM))
        span = [(t, r) for t, r in table if SPAN_LO_C <= t <= SPAN_HI_C]

        beta = Thermistor.from_beta(R25_OHM, beta_k)
        err, at = _worst(beta, span)
        note = "max at %+.0f °C; %s = %.0f K, R25 = 10 kΩ" % (at, b_label, beta_k)
        rows.append(Row("thermistor", label + " β", "%.3f" % err, "°C", note))

        fit = Thermistor.from_points([(t, _row_at(table, t)) for t in POINTS_C])
        err, at = _worst(fit, span)
        note = "max at %+.0f °C; through -40/10/60 °C rows" % at
        rows.append(Row("thermistor", label + " 3-pt S-H", "%.3f" % err, "°C", note))

        coarse = Thermistor.from_table([(t, r) for t, r in table if t % 10 == 0])
        between = [(t, r) for t, r in span if t % 10 != 0]
        err, at = _worst(coarse, between)
        note = "max at %+.0f °C; from 10 K rows, at the %d rows between" % (at, len(between))
        rows.append(Row("thermistor", label + " table", "%.3f" % err, "°C", note))
    rows.extend(_float32_rows())
    return rows


def _float32_rows() -> list[Row]:
    groups = {"β-curve points": [], "β points, 2-5 digits": [], "datasheet rows ± typo": []}
    for beta_k in tt.BETAS_K:
        for r25 in tt.R25S_OHM:
            for temps in tt.TRIPLETS_C:
                groups["β-curve points"].append(tt.beta_points(r25, beta_k, temps))
                for digits in (2, 3, 4, 5):
                    groups["β points, 2-5 digits"].append(
                        tt.beta_points(r25, beta_k, temps, digits)
                    )
    for path in sorted(Path(spec.DATA_DIR).glob("ntc_*.csv")):
        table = spec.read_rt_table(path.name)
        for temps in tt.DATASHEET_TRIPLETS_C:
            lo, mid, hi = [_row_at(table, t) for t in temps]
            for typo in (1.0, 0.8, 0.9, 0.97, 0.99, 0.999, 1.001, 1.01, 1.03, 1.1, 1.2):
                points = [(temps[0], lo), (temps[1], mid * typo), (temps[2], hi)]
                groups["datasheet rows ± typo"].append(points)
    rows = []
    for name, sets in groups.items():
        accepted = refused = differ = 0
        worst = 0.0
        for points in sets:
            why, diff, ok = tt.widths_disagree(points)
            if why is not None:
                differ += 1
            elif ok:
                accepted += 1
            else:
                refused += 1
            worst = max(worst, diff)
        note = "%d accepted, %d refused alike, %d differ; max |ΔT| -55…+150 °C" % (
            accepted,
            refused,
            differ,
        )
        if name == "β-curve points":
            noise = max(abs(tt.fit_f32(points)[0]._c) for points in sets)
            note += "; 32-bit c ≤ %.0e (real parts ≈ 1e-7)" % noise
        rows.append(Row("thermistor", "3-pt S-H 32 vs 64 bit, " + name, "%.4f" % worst, "°C", note))
    return rows
