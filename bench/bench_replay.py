"""Replay speed: a 30-day trace at 1 s (2.6 million rows) through the firmware's detector and
supervisor, side by side with merely parsing the same file with the csv module.

The trace is synthetic but shaped like a cold spell: ambient swinging -9..+1 °C over the day,
heating with the coil 6 K below the air (S-D26), and a reverse-cycle defrost every 60-90 min
(60 s valve-switch stops S-D3, coil climbing 6 K/min S-D25 to a 10 °C termination). It is
written once into the temp dir and reused. Targets (issue 6): replay < 30 s, and no more than
4x the csv-module parse.
"""

from __future__ import annotations

import csv
import math
import os
import random
import tempfile
import time

from bench.table import Row
from host_tools.replay import replay
from host_tools.trace import open_trace

DAYS = 30
ROWS = DAYS * 86_400 + 1
_VERSION = 1  # bump when the pattern changes, so a stale cached file is not reused
GROUP = "replay (30 d at 1 s)"


def trace_path() -> str:
    """The cached bench trace, generated on first use."""
    folder = os.path.join(tempfile.gettempdir(), "splitguard-bench")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "replay_%dd_v%d.csv" % (DAYS, _VERSION))
    if not os.path.exists(path):
        tmp = path + ".%d.tmp" % os.getpid()
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            write_trace(f, ROWS)
        os.replace(tmp, path)
    return path


def _cycle(rng: random.Random) -> tuple[int, int]:
    """One heating run (60-90 min) and the melt plateau of the defrost after it (2-5 min)."""
    return rng.randint(60 * 60, 90 * 60), rng.randint(120, 300)


def write_trace(f, rows: int, seed: int = 6) -> None:
    """Write `rows` one-second rows of the cold-spell pattern to the text file `f`."""
    rng = random.Random(seed)
    f.write("t_s,coil_c,ambient_c,amps\n")
    buf = []
    t = 0
    coil = None
    while t < rows:
        run_s, melt_s = _cycle(rng)
        # (seconds, kind); "rise" and "warm" last as long as the coil takes at 6 K/min.
        phases = (
            (run_s, "heat"),
            (60, "stop1"),
            (0, "rise"),
            (melt_s, "melt"),
            (0, "warm"),
            (60, "stop2"),
            (60, "resume"),
        )
        for length, kind in phases:
            amb = _ambient(t)
            if kind == "rise":
                length = max(1, int(-coil / 0.1)) if coil < 0 else 1
            elif kind == "warm":
                length = int((10.0 - coil) / 0.1)
            start_coil = coil if coil is not None else amb - 6.0
            for k in range(length):
                if t >= rows:
                    break
                amb = _ambient(t)
                n = rng.random
                if kind == "heat":
                    target = amb - 6.0
                    coil = target + (start_coil - target) * math.exp(-k / 60.0)
                    amps = 4.0
                elif kind == "stop1":
                    coil = start_coil + k / 60.0
                    amps = 0.0
                elif kind == "rise":
                    coil = min(0.0, start_coil + 0.1 * k)
                    amps = 3.0
                elif kind == "melt":
                    coil = 0.0
                    amps = 3.0
                elif kind == "warm":
                    coil = start_coil + 0.1 * k
                    amps = 3.0
                elif kind == "stop2":
                    coil = start_coil - k / 60.0
                    amps = 0.0
                else:
                    coil = start_coil + (amb - 6.0 - start_coil) * k / 60.0
                    amps = 4.0
                buf.append(
                    "%d,%.2f,%.2f,%.2f\n"
                    % (
                        t,
                        coil + (n() - 0.5) * 0.6,
                        amb + (n() - 0.5) * 0.6,
                        amps + (n() - 0.5) * 0.4 if amps else 0.0,
                    )
                )
                t += 1
            if len(buf) > 50_000:
                f.write("".join(buf))
                buf.clear()
    f.write("".join(buf))


def _ambient(t: int) -> float:
    return -4.0 + 5.0 * math.sin(2 * math.pi * t / 86_400)


def parse_csv(path: str) -> int:
    """The baseline: the csv module's reader over the file, each of the four cells a float."""
    n = 0
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        next(rows)
        for row in rows:
            float(row[0])
            float(row[1])
            float(row[2])
            float(row[3])
            n += 1
    return n


def parse_csv_only(path: str) -> int:
    """The bare csv module: rows split into strings, nothing converted."""
    n = 0
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        next(rows)
        for _ in rows:
            n += 1
    return n


def read_trace(path: str) -> int:
    """host_tools.trace alone: the replay's own reader, no detector or supervisor."""
    n = 0
    for _ in open_trace(path).samples():
        n += 1
    return n


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def run() -> list[Row]:
    started = time.perf_counter()
    path = trace_path()
    gen_s = time.perf_counter() - started
    size_mb = os.path.getsize(path) / 1e6
    t_bare, n_bare = _timed(parse_csv_only, path)
    t_csv, n_csv = _timed(parse_csv, path)
    t_read, n_read = _timed(read_trace, path)
    counts: dict[str, int] = {}

    def count(rec: dict) -> None:
        counts[rec["event"]] = counts.get(rec["event"], 0) + 1

    rss0 = _rss_mb()
    t_rep, st = _timed(replay, open_trace(path), None, count)
    rss1 = _rss_mb()
    assert n_bare == n_csv == n_read == st.rows, (n_bare, n_csv, n_read, st.rows)
    rows = st.rows
    step_us = firmware_step_us(path)
    t_step = step_us * rows / 1e6
    note_gen = "generated now in %.1f s" % gen_s if gen_s > 1 else "cached in the temp dir"
    return [
        Row(GROUP, "rows", rows, "", "%.0f MB, %s" % (size_mb, note_gen)),
        Row(GROUP, "csv.reader, no conversion", round(t_bare, 2), "s", _rate(rows, t_bare)),
        Row(GROUP, "csv.reader + float() x4 (baseline)", round(t_csv, 2), "s", _rate(rows, t_csv)),
        Row(GROUP, "trace reader alone", round(t_read, 2), "s", _rate(rows, t_read)),
        Row(GROUP, "replay (detector + supervisor)", round(t_rep, 2), "s", _rate(rows, t_rep)),
        Row(
            GROUP,
            "  of which firmware step() (est.)",
            round(t_step, 2),
            "s",
            "%.2f us/row" % step_us,
        ),
        Row(
            GROUP,
            "  of which reading + loop (est.)",
            round(t_rep - t_step, 2),
            "s",
            "the reader runs in a second process, alongside",
        ),
        Row(GROUP, "replay / baseline", round(t_rep / t_csv, 1), "x", "target <= 4"),
        Row(
            GROUP,
            "firmware step() alone / baseline",
            round(t_step / t_csv, 1),
            "x",
            "the floor for the ratio",
        ),
        Row(GROUP, "peak RSS during replay", round(rss1, 1), "MB", "%.1f MB before" % rss0),
        Row(GROUP, "peak RSS of the reader process", round(_rss_mb(children=True), 1), "MB", ""),
        Row(GROUP, "replay / bare csv.reader", round(t_rep / t_bare, 1), "x", ""),
        Row(GROUP, "replay target", "met" if t_rep < 30 else "MISSED", "", "< 30 s"),
        Row(
            GROUP,
            "events",
            sum(counts.values()),
            "",
            "defrost_start %d, power_off %d"
            % (counts.get("defrost_start", 0), counts.get("power_off", 0)),
        ),
    ]


def firmware_step_us(path: str, n: int = 300_000) -> float:
    """Supervisor.step alone (detector included), per row, over the trace's first n samples
    held in memory: what the replay would cost with free parsing."""
    from splitguard.detector import Detector
    from splitguard.reading import Reading
    from splitguard.supervisor import Supervisor

    vals = []
    for sample in open_trace(path).samples():
        if len(vals) >= n:
            break
        vals.append((sample[1] & 0x3FFFFFFF, sample[3], sample[4], sample[5]))
    step = Supervisor(None, Detector(), None, 0).step
    r = Reading()
    t0 = time.perf_counter()
    for tick, coil, amb, amps in vals:
        r.coil_c = coil
        r.ambient_c = amb
        r.amps = amps
        step(tick, r)
    return (time.perf_counter() - t0) / len(vals) * 1e6


def _rss_mb(children: bool = False) -> float:
    import resource

    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def _rate(rows: int, seconds: float) -> str:
    return "%.0f rows/s" % (rows / seconds)
