"""`splitguard plot LOG -o FILE.png`: one picture of what happened, to send to a colleague.

Coil and ambient temperature (°C, left axis) and supply current (A, right axis) over time; unit
states shaded (defrosting, frosting, sensor fault) and the times splitguard cut the unit's power
hatched; events (and board restarts) marked with their names. Reads `splitguard log` files
(JSON lines; wall-clock time axis) or the trace CSV from `splitguard log export` (elapsed time;
the CSV has no unit states, so only sensor faults, power cuts and restarts are marked).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
from dataclasses import dataclass, field

from splitguard import states

from host_tools.errors import CliError
from host_tools.logger import TRACE_HEADER, device_messages, expand_paths, read_log

NAN = float("nan")
# Unit states worth a colour; RUNNING and OFF stay white so the exceptions stand out.
SHADES = {
    states.DEFROSTING: ("#f4a261", "defrosting"),
    states.FROSTING: ("#8ecae6", "frosting"),
    states.SENSOR_FAULT: ("#adb5bd", "sensor fault"),
}
CUT_COLOUR = "#d62828"
COIL_COLOUR, AMB_COLOUR, AMPS_COLOUR = "#1d3557", "#2a9d8f", "#9d4edd"
# A pause this many sample periods long (logger stopped, cable out) breaks the lines.
BREAK_PERIODS = 5


@dataclass
class Trace:
    """Everything plotted, on one x axis (datetimes for logs, minutes/hours for CSV)."""

    x: list = field(default_factory=list)
    coil: list = field(default_factory=list)
    amb: list = field(default_factory=list)
    amps: list = field(default_factory=list)
    unit: list = field(default_factory=list)  # unit state per sample, or None
    cut: list = field(default_factory=list)
    events: list = field(default_factory=list)  # (x, label)
    xlabel: str = "time"
    title: str = "splitguard"


def _num(v) -> float:
    return NAN if v is None or v == "" else float(v)


def from_log(paths: list[str]) -> Trace:
    tr = Trace()
    board = fw = None
    for host_t, m in device_messages(read_log(paths)):
        if host_t is None:
            continue
        x = datetime.datetime.fromtimestamp(host_t)
        if m.kind == "sample":
            faults = m.get("faults") or {}
            unit = m.get("unit")
            if faults and unit is None:
                unit = states.SENSOR_FAULT
            tr.x.append(x)
            tr.coil.append(_num(m.get("coil")))
            tr.amb.append(_num(m.get("amb")))
            tr.amps.append(_num(m.get("amps")))
            tr.unit.append(unit)
            tr.cut.append(bool(m.get("cut")))
        elif m.kind == "event":
            tr.events.append((x, str(m.get("event"))))
        elif m.kind == "hello":
            board, fw = m.get("board"), m.get("fw")
            tr.events.append((x, "restart (%s)" % (m.get("reset") or "?")))
        elif m.kind == "fault":
            tr.events.append((x, "fault: %s" % m.get("where")))
    if not tr.x:
        raise CliError("%s: no samples to plot" % ", ".join(paths))
    tr.xlabel = "local time"
    first, last = tr.x[0], tr.x[-1]
    span = "%s to %s" % (first.strftime("%Y-%m-%d %H:%M"), last.strftime("%H:%M"))
    if last.date() != first.date():
        span = "%s to %s" % (first.strftime("%Y-%m-%d %H:%M"), last.strftime("%Y-%m-%d %H:%M"))
    who = ", ".join(s for s in (board and "board " + board, fw and "firmware " + fw) if s)
    tr.title = "splitguard — %s%s" % (span, " — " + who if who else "")
    return tr


def from_csv(path: str) -> Trace:
    tr = Trace()
    t_s = []
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        missing = [
            c for c in ("t_s", "coil_c", "ambient_c", "amps") if c not in (rows.fieldnames or ())
        ]
        if missing:
            raise CliError(
                "%s: not a trace CSV (missing %s; expected %s)"
                % (path, ", ".join(missing), ",".join(TRACE_HEADER))
            )
        for row in rows:
            try:
                t = float(row["t_s"])
                values = [_num(row[k]) for k in ("coil_c", "ambient_c", "amps")]
            except (TypeError, ValueError):
                continue
            t_s.append(t)
            tr.coil.append(values[0])
            tr.amb.append(values[1])
            tr.amps.append(values[2])
            faulted = any(row.get(k) for k in ("coil_fault", "ambient_fault", "ct_fault"))
            tr.unit.append(states.SENSOR_FAULT if faulted else None)
            tr.cut.append(row.get("relay", "0") not in ("", "0"))
            if row.get("reboot", "0") not in ("", "0"):
                tr.events.append((t, "restart"))
    if not t_s:
        raise CliError("%s: no samples to plot" % path)
    hours = t_s[-1] - t_s[0] > 3 * 3600
    scale, tr.xlabel = (3600.0, "hours") if hours else (60.0, "minutes")
    tr.x = [t / scale for t in t_s]
    tr.events = [(t / scale, label) for t, label in tr.events]
    tr.title = "splitguard trace — %s (%d samples)" % (os.path.basename(path), len(t_s))
    return tr


def load(paths: list[str]) -> Trace:
    if len(paths) == 1 and paths[0].lower().endswith(".csv"):
        return from_csv(paths[0])
    return from_log(expand_paths(paths))


def _spans(x: list, flags: list) -> list[tuple]:
    """(start, end) runs where flags[i] is true; a run ends at the next sample's x."""
    out, start = [], None
    for i, on in enumerate(flags):
        if on and start is None:
            start = x[i]
        elif not on and start is not None:
            out.append((start, x[i]))
            start = None
    if start is not None:
        out.append((start, x[-1]))
    return out


def _with_breaks(tr: Trace) -> tuple[list, list, list, list]:
    """Series with a NaN point inserted wherever samples pause, so no line bridges a gap."""
    if len(tr.x) < 3:
        return tr.x, tr.coil, tr.amb, tr.amps
    steps = sorted(_step(tr.x[i], tr.x[i + 1]) for i in range(len(tr.x) - 1))
    period = steps[len(steps) // 2] or 1.0
    xs, cs, as_, ps = [], [], [], []
    for i, x in enumerate(tr.x):
        if i and _step(tr.x[i - 1], x) > BREAK_PERIODS * period:
            xs.append(x)
            cs.append(NAN)
            as_.append(NAN)
            ps.append(NAN)
        xs.append(x)
        cs.append(tr.coil[i])
        as_.append(tr.amb[i])
        ps.append(tr.amps[i])
    return xs, cs, as_, ps


def _step(a, b) -> float:
    d = b - a
    return d.total_seconds() if isinstance(d, datetime.timedelta) else float(d)


def _merge_labels(events: list, x_span: float) -> list[tuple]:
    """Events closer than 1 % of the plot width share one label (they would overprint)."""
    out: list[list] = []
    for x, label in sorted(events, key=lambda e: e[0]):
        if out and _step(out[-1][0], x) < 0.01 * x_span:
            if label not in out[-1][1]:
                out[-1][1].append(label)
            continue
        out.append([x, [label]])
    return [(x, " + ".join(labels)) for x, labels in out]


def draw(tr: Trace, out_path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(13, 6.5), dpi=110, layout="constrained")
    try:
        ax2 = ax.twinx()
        handles = []
        for state, (colour, label) in SHADES.items():
            spans = _spans(tr.x, [u == state for u in tr.unit])
            for a, b in spans:
                ax.axvspan(a, b, color=colour, alpha=0.35, lw=0, zorder=0)
            if spans:
                handles.append(Patch(color=colour, alpha=0.35, label=label))
        cuts = _spans(tr.x, tr.cut)
        for a, b in cuts:
            ax.axvspan(a, b, facecolor="none", edgecolor=CUT_COLOUR, hatch="//", lw=0, zorder=0)
        if cuts:
            handles.append(
                Patch(facecolor="none", edgecolor=CUT_COLOUR, hatch="//", label="power cut")
            )
        xs, coil, amb, amps = _with_breaks(tr)
        (lc,) = ax.plot(xs, coil, color=COIL_COLOUR, lw=1.4, label="outdoor coil °C")
        (la,) = ax.plot(xs, amb, color=AMB_COLOUR, lw=1.4, label="ambient °C")
        (li,) = ax2.plot(xs, amps, color=AMPS_COLOUR, lw=1.0, alpha=0.8, label="current A")
        ax.set_ylabel("temperature (°C)")
        ax2.set_ylabel("current (A)", color=AMPS_COLOUR)
        ax2.tick_params(axis="y", colors=AMPS_COLOUR)
        ax2.set_ylim(bottom=0)
        ax.set_xlabel(tr.xlabel)
        ax.grid(True, alpha=0.3)
        ax.axhline(0, color="#888888", lw=0.6, zorder=1)
        if isinstance(tr.x[0], datetime.datetime):
            loc = mdates.AutoDateLocator()
            ax.xaxis.set_major_locator(loc)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
        if tr.events:
            # Head-room above the data for the event labels.
            lo, hi = ax.get_ylim()
            ax.set_ylim(lo, hi + (hi - lo) * 0.35)
            lo2, hi2 = ax2.get_ylim()
            ax2.set_ylim(lo2, hi2 * 1.35 if hi2 > 0 else 1)
        span = _step(tr.x[0], tr.x[-1]) or 1.0
        for x, label in _merge_labels(tr.events, span):
            colour = "#c1121f" if ("lockout" in label or "power_off" in label) else "#333333"
            ax.axvline(x, color=colour, lw=0.8, ls="--", zorder=2)
            ax.annotate(
                label,
                xy=(x, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -4),
                textcoords="offset points",
                rotation=90,
                va="top",
                ha="left",
                fontsize=7.5,
                color=colour,
            )
        ax.set_title(tr.title, fontsize=11)
        ax.legend(
            handles=[lc, la, li] + handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.1),
            ncol=len(handles) + 3,
            frameon=False,
            fontsize=9,
        )
        fig.savefig(out_path)
    finally:
        plt.close(fig)


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "logs", nargs="+", metavar="LOG", help="splitguard log files/folders, or one trace CSV"
    )
    parser.add_argument("-o", "--out", required=True, metavar="FILE.png")


def run(args: argparse.Namespace) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CliError("plot needs matplotlib: pip install matplotlib") from None
    tr = load(args.logs)
    draw(tr, args.out)
    print("%s: %d samples, %d events" % (args.out, len(tr.x), len(tr.events)))
    return 0
