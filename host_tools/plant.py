"""A ductless mini-split's outdoor unit, simulated second by second for the closed-loop tests.

The model is deliberately small: one room, one outdoor coil, one lump of ice, and the unit's own
controller (thermostat, restart delay, defrost initiation and termination, valve-switch stops).
It exists to produce the three signals the supervisor sees — outdoor-coil °C, ambient °C and
supply amps — with the shapes published for real units, and to let scenario data inject the
faults the supervisor must handle. docs/simulator.md lists every parameter and where its default
comes from; source ids (S-Dn) refer to shared/reference/defrost_published_parameters.csv. Numbers
marked "model assumption" are not published anywhere we could find.

Everything is deterministic for a given scenario and seed: `random.Random(seed)` drives sensor
noise and the crazy-mode intervals, nothing else is random.
"""

from __future__ import annotations

import bisect
import math
import random

from splitguard import states
from splitguard.compat import NAN

# What the unit's own controller is doing (Plant.mode).
UNPOWERED = "unpowered"  # no mains at the unit (relay cut or outage)
STARTING = "starting"  # restart delay after power returns
IDLE = "idle"  # powered, compressor off: thermostat satisfied or anti-short-cycle wait
RUN = "run"  # compressor running in the unit's mode (heat or cool)
STOP_IN = "stop_in"  # compressor stopped for the reversing-valve switch into defrost
DEFROST = "defrost"  # reverse cycle: the outdoor coil is the condenser
STOP_OUT = "stop_out"  # compressor stopped for the valve switch back to heating
HUNG = "hung"  # powered but the compressor will not start

_COMPRESSOR_ON = (RUN, DEFROST)

UNIT_DEFAULTS = {
    "mode": "heat",
    "setpoint_c": 21.0,
    "room_start_c": 20.0,
    # Thermostat band around the setpoint (model assumption): start at setpoint - 0.5 K, stop at
    # setpoint + 1 K; the inverter modulates between.
    "stop_above_k": 1.0,
    "start_below_k": 0.5,
    "house_ua_w_per_k": 100.0,  # heat loss of the room (model assumption)
    "house_capacity_j_per_k": 3.0e6,  # effective thermal mass at the thermostat (assumption)
    "internal_gain_w": 300.0,
    "rated_capacity_w": 5000.0,
    "min_modulation": 0.3,  # inverter turndown (model assumption)
    # Heating 4-10 A, cooling a little less (brief; the supervisor only needs >= running_amps).
    "amps_min": 4.0,
    "amps_max": 10.0,
    "standby_amps": 0.15,  # controller board and crankcase heater (model assumption)
    # Heating outdoor coil runs ~6 K below the air at full load (S-D26 coil_dt default).
    "coil_offset_k": 6.0,
    # A fully iced coil runs this much colder still, and loses half its capacity (assumption).
    "ice_extra_k": 6.0,
    "ice_capacity_loss": 0.5,
    # Cooling: the outdoor coil is the condenser, this far above the air (model assumption).
    "cond_offset_k": 10.0,
    "coil_tau_s": 60.0,  # coil response with the fan running (model assumption)
    "coil_tau_stopped_s": 600.0,  # coil drifting back to the air with fan and compressor off
    # Frost growth, ice fraction per hour per g/kg of humidity-ratio difference between the air
    # and saturation over ice at the coil: calibrated so a humid -2 °C day defrosts about every
    # hour (S-D26: target 40-90 min in frosty weather, calibrated ~65 min).
    "frost_rate_per_gkg_h": 0.6,
    # After power returns the unit waits this long before starting the compressor, and as long
    # again after a thermostat stop (anti-short-cycle; "about 3 minutes" — the common 3-min
    # delay, not in the reference list).
    "restart_delay_s": 180,
    "defrost": {
        # Initiation: >= 40 min cumulative heating run and coil <= -3 °C (Mitsubishi S-D6; 40 min
        # also Midea S-D7, Innovair S-D12) ...
        "min_run_min": 40,
        "init_coil_c": -3.0,
        # ... and the coil this much below its clean-coil value, taken as the lowest coil
        # temperature between the 10th and 15th minute of run (Lennox S-D4: 3 K vs T30), or the
        # run this long regardless (Fujitsu integrating defrost > 240 min, S-D1). None = timer
        # only, like the Mitsubishi rule.
        "demand_drop_k": 3.0,
        "max_run_min": 240,
        # The first defrost after a start-up (power return): after 22 min of run if the coil is
        # <= -9 °C (Fujitsu S-D1), since the clean-coil reference above cannot be trusted on a
        # coil that was already iced. None disables.
        "first_run_min": 22,
        "first_coil_c": -9.0,
        # Termination: coil >= 14 °C (Hisense S-D3) or the unit's own maximum, 12 min (S-D3).
        "term_coil_c": 14.0,
        "max_min": 12.0,
        # Compressor stop at each reversing-valve switch: 50 s + 10 s (S-D3).
        "valve_stop_s": 60,
        # Coil warming in reverse cycle. S-D25 measured 10 °C at 151 s and 20 °C 21 s later at
        # the coil exit; 10 K/min is slower, so the supervisor's latencies here are conservative.
        "rise_k_per_min": 10.0,
        # Minutes at the 0 °C melt plateau for a fully iced coil (model assumption; gives the
        # 5-10 min normal defrost of design.md with the ice a humid hour builds).
        "melt_min_full_ice": 6.0,
        "amps": 5.0,
        # Some units' CT reads ~0 through the whole defrost (S-D28, S-D27).
        "ct_reads_zero": False,
        # Where the coil of a defrost that never terminates settles (model assumption).
        "stuck_coil_c": 25.0,
    },
}

WEATHER_DEFAULTS = {"ambient_c": -2.0, "humidity_pct": 85.0}
SENSOR_DEFAULTS = {"noise_k": 0.3, "noise_a": 0.1}

FAULT_TYPES = ("stuck_defrost", "crazy_mode", "hang", "sensor", "outage")


def sat_humidity_ratio(t_c, over_ice):
    """Saturation humidity ratio in g/kg at t_c (Magnus formulas, sea-level pressure)."""
    if over_ice:
        e = 6.112 * math.exp(22.46 * t_c / (272.62 + t_c))
    else:
        e = 6.112 * math.exp(17.62 * t_c / (243.12 + t_c))
    return 622.0 * e / (1013.25 - e)


def frost_drive(ambient_c, humidity_pct, coil_c):
    """g/kg of water the air can deposit as frost on a coil at coil_c (0 above 0 °C)."""
    if coil_c >= 0.0:
        return 0.0
    w_air = humidity_pct / 100.0 * sat_humidity_ratio(ambient_c, False)
    d = w_air - sat_humidity_ratio(coil_c, True)
    return d if d > 0.0 else 0.0


class DayProfile:
    """A value over time: a constant, a daily cosine, or piecewise-linear points in hours.

    Spec forms: `5.0`; `{"mean": m, "amplitude": a, "peak_h": h}` (m + a·cos(2π(t−h)/24 h));
    `{"points": [[h, v], ...], "repeat_h": 24}` (linear between points; repeat_h 0 = no repeat,
    the last value holds).
    """

    def __init__(self, spec):
        self.const = None
        self.points = None
        if isinstance(spec, (int, float)):
            self.const = float(spec)
        elif "points" in spec:
            pts = sorted((float(h) * 3600.0, float(v)) for h, v in spec["points"])
            if not pts:
                raise ValueError("profile has no points")
            self.ts = [p[0] for p in pts]
            self.vs = [p[1] for p in pts]
            self.repeat_s = float(spec.get("repeat_h", 24)) * 3600.0
            self.points = pts
        else:
            self.mean = float(spec["mean"])
            self.amp = float(spec.get("amplitude", 0.0))
            self.peak_s = float(spec.get("peak_h", 15.0)) * 3600.0

    def at(self, t_s):
        if self.const is not None:
            return self.const
        if self.points is None:
            return self.mean + self.amp * math.cos(2.0 * math.pi * (t_s - self.peak_s) / 86400.0)
        if self.repeat_s > 0:
            t_s = t_s % self.repeat_s
        ts, vs = self.ts, self.vs
        i = bisect.bisect_right(ts, t_s)
        if i == 0:
            return vs[0]
        if i >= len(ts):
            return vs[-1]
        f = (t_s - ts[i - 1]) / (ts[i] - ts[i - 1])
        return vs[i - 1] + (vs[i] - vs[i - 1]) * f


def _merge(defaults, spec, where):
    out = {}
    for k, v in defaults.items():
        out[k] = dict(v) if isinstance(v, dict) else v
    for k, v in (spec or {}).items():
        if k not in defaults:
            raise ValueError("%s: unknown parameter %r" % (where, k))
        if isinstance(defaults[k], dict):
            out[k] = _merge(defaults[k], v, "%s.%s" % (where, k))
        else:
            out[k] = v
    return out


class Fault:
    """One injected fault from scenario data (see docs/simulator.md for each type)."""

    def __init__(self, spec, index):
        kind = spec.get("type")
        if kind not in FAULT_TYPES:
            raise ValueError("faults[%d]: type %r is not one of %s" % (index, kind, FAULT_TYPES))
        self.kind = kind
        self.spec = spec
        self.at_s = float(spec.get("at_min", 0.0)) * 60.0
        dur = spec.get("duration_min")
        self.end_s = None if dur is None else self.at_s + float(dur) * 60.0
        until = spec.get("until_min")
        if until is not None:
            self.end_s = float(until) * 60.0
        self.fixed_by_power_cycle = bool(spec.get("fixed_by_power_cycle", True))
        self.cleared = False  # fixed by a power cycle
        self.triggered = False
        self.trigger = spec.get("trigger", "at")  # hang: "at" or "on_power_return"
        self.sensor = spec.get("sensor")
        self.cause = spec.get("cause")
        if kind == "sensor" and self.sensor not in ("coil", "ambient", "ct"):
            raise ValueError("faults[%d]: sensor must be coil, ambient or ct" % index)
        if kind == "sensor" and not self.cause:
            self.cause = states.FAULT_CT_BIAS if self.sensor == "ct" else states.FAULT_OPEN
        every = spec.get("every_min", [15, 25])
        self.every_s = (float(every[0]) * 60.0, float(every[1]) * 60.0)
        self.in_defrost = spec.get("in_defrost")  # n-th defrost of the run (1-based) ...
        self.offset_s = float(spec.get("offset_min", 0.0)) * 60.0  # ... this long after reversal
        self.triggered_at = None  # when an in_defrost fault got its time
        self.board_reboots = bool(spec.get("board_reboots", False))

    def live(self, t):
        """Inside its scheduled window (a fault placed in a defrost waits for that defrost)."""
        if self.in_defrost is not None and self.triggered_at is None:
            return False
        return self.at_s <= t and (self.end_s is None or t < self.end_s)

    def armed(self, t):
        """Live and not cleared by a power cycle."""
        return not self.cleared and self.live(t)


class Plant:
    """The outdoor unit and the room it heats or cools; advance with step() (1 s)."""

    def __init__(self, scenario, seed=None):
        self.unit = _merge(UNIT_DEFAULTS, scenario.get("unit"), "unit")
        weather = dict(WEATHER_DEFAULTS)
        weather.update(scenario.get("weather") or {})
        self.ambient = DayProfile(weather["ambient_c"])
        self.humidity = DayProfile(weather["humidity_pct"])
        sensors = _merge(SENSOR_DEFAULTS, scenario.get("sensors"), "sensors")
        self.noise_k = float(sensors["noise_k"])
        self.noise_a = float(sensors["noise_a"])
        if seed is None:
            seed = scenario.get("seed", 1)
        self.rng = random.Random(seed)
        self.faults = [Fault(f, i) for i, f in enumerate(scenario.get("faults") or [])]

        u = self.unit
        d = u["defrost"]
        self.heat = u["mode"] == "heat"
        self.t = 0.0
        self.ambient_c = self.ambient.at(0.0)
        self.humidity_pct = self.humidity.at(0.0)
        self.room_c = float(u["room_start_c"])
        self.coil_c = self.ambient_c
        self.ice = 0.0
        self.amps = 0.0
        self.modulation = 0.0
        self.relay_cut = False
        self.outage = False
        self.board_up = True
        self.mode = STARTING
        self.mode_s = 0.0  # time in the current mode
        self.run_s = 0.0  # cumulative heating run since the last defrost (S-D6)
        self.ref_coil = None  # clean-coil reference (lowest coil, 10th-15th min of run)
        self.last_initiation_s = None
        self.crazy_next_s = None
        self.stuck_now = False
        self.first_after_start = True  # no defrost yet since power came on (S-D1 first rule)
        # Ground truth for the scorecard.
        self.defrosts = []  # dicts: initiated_s, reversed_s, ended_s, stuck, crazy, end
        self.power_log = []  # (t_s, "lost" | "restored", "relay" | "outage")
        self.hangs = []  # dicts: start_s, end_s, after_power_return
        self.log = []  # (t_s, text) for humans

        self._melt_per_s = 1.0 / (float(d["melt_min_full_ice"]) * 60.0)
        self._rise_per_s = float(d["rise_k_per_min"]) / 60.0
        self._frost_per_s = float(u["frost_rate_per_gkg_h"]) / 3600.0
        self._outages = [f for f in self.faults if f.kind == "outage"]
        self._sensor_faults = [f for f in self.faults if f.kind == "sensor"]
        self._relative = [f for f in self.faults if f.in_defrost is not None]
        self.thermostat_stops = 0

    # -- inputs ---------------------------------------------------------------------------------

    @property
    def powered(self):
        return not self.relay_cut and not self.outage

    def set_relay(self, cut):
        """The supervisor's relay: True holds the unit's power off."""
        was = self.powered
        self.relay_cut = bool(cut)
        self._power_changed(was, "relay")

    def needs_help(self):
        """True when the unit is in a state only a power cycle or a person can end."""
        if self.mode == HUNG and self.powered:
            return True
        if self.mode == DEFROST and self.stuck_now:
            return True
        return any(f.kind == "crazy_mode" and f.armed(self.t) for f in self.faults)

    # -- time -----------------------------------------------------------------------------------

    def step(self, dt=1.0):
        """Advance the plant by dt seconds (1 s is the design step)."""
        t = self.t + dt
        self.t = t
        if self._relative:
            self._schedule(t)
        self._outage_schedule(t)
        amb = self.ambient_c = self.ambient.at(t)
        rh = self.humidity_pct = self.humidity.at(t)
        u = self.unit
        self.mode_s += dt
        mode = self.mode
        waited = self.mode_s >= u["restart_delay_s"]
        if waited and (mode == STARTING or (mode == IDLE and self._wants_on())):
            self._start_or_idle(t)
        elif mode == RUN:
            if self._hang_now(t, False):
                self._hang(t, False)
            elif not self._wants_on(running=True):
                self.thermostat_stops += 1
                self._enter(IDLE)
            elif self.heat:
                self._heating_controls(t, dt)
        elif mode == STOP_IN and self.mode_s >= u["defrost"]["valve_stop_s"]:
            self._reverse(t)
        elif mode == DEFROST:
            self._defrost_controls(t)
        elif mode == STOP_OUT and self.mode_s >= u["defrost"]["valve_stop_s"]:
            self._enter(RUN)
        elif mode in (IDLE, STARTING) and self._hang_now(t, False):
            self._hang(t, False)

        self._physics(dt, amb, rh)

    def _schedule(self, t):
        # Faults placed relative to a defrost get their time once that defrost has reversed.
        for f in self._relative:
            if f.triggered_at is not None:
                continue
            n = int(f.in_defrost)
            if len(self.defrosts) < n or self.defrosts[n - 1]["reversed_s"] is None:
                continue
            f.at_s = self.defrosts[n - 1]["reversed_s"] + f.offset_s
            dur = f.spec.get("duration_min")
            f.end_s = None if dur is None else f.at_s + float(dur) * 60.0
            f.triggered_at = t

    def _outage_schedule(self, t):
        live = False
        board_up = True
        for f in self._outages:
            if f.live(t):
                live = True
                if f.board_reboots:
                    board_up = False
        self.board_up = board_up
        if live != self.outage:
            was = self.powered
            self.outage = live
            self._power_changed(was, "outage")

    # -- the unit's controller ------------------------------------------------------------------

    def _enter(self, mode):
        self.mode = mode
        self.mode_s = 0.0

    def _power_changed(self, was, why):
        now = self.powered
        if was == now:
            return
        t = self.t
        if not now:
            self.power_log.append((t, "lost", why))
            self.log.append((t, "unit loses power (%s)" % why))
            if self.mode == DEFROST or self.mode in (STOP_IN, STOP_OUT):
                self._close_defrost(t, "power lost")
            if self.mode == HUNG:
                self.hangs[-1]["end_s"] = t
            for f in self.faults:
                # A power cycle clears what it can, but not a hang that starts on this return.
                if f.fixed_by_power_cycle and f.triggered and f.kind != "outage":
                    f.cleared = True
            self.stuck_now = False
            self.run_s = 0.0
            self.ref_coil = None
            self.first_after_start = True
            self._enter(UNPOWERED)
        else:
            self.power_log.append((t, "restored", why))
            self.log.append((t, "unit powered again (%s)" % why))
            for f in self.faults:
                hang = f.kind == "hang" and f.trigger == "on_power_return"
                if hang and not f.cleared and f.live(t):
                    f.triggered = True
            self._enter(STARTING)

    def _wants_on(self, running=False):
        u = self.unit
        sp = float(u["setpoint_c"])
        if self.heat:
            if running:
                return self.room_c < sp + u["stop_above_k"]
            return self.room_c <= sp - u["start_below_k"]
        if running:
            return self.room_c > sp - u["stop_above_k"]
        return self.room_c >= sp + u["start_below_k"]

    def _start_or_idle(self, t):
        if self._hang_now(t, True):
            self._hang(t, True)
        elif self._wants_on():
            self._enter(RUN)
        else:
            self._enter(IDLE)

    def _hang_now(self, t, starting):
        for f in self.faults:
            if f.kind != "hang" or f.cleared or not f.live(t):
                continue
            if f.trigger == "on_power_return":
                if f.triggered and starting:
                    return True
            else:
                f.triggered = True
                return True
        return False

    def _hang(self, t, after_power_return):
        self.hangs.append({"start_s": t, "end_s": None, "after_power_return": after_power_return})
        self.log.append((t, "unit hangs: the compressor will not start"))
        self._enter(HUNG)

    def _heating_controls(self, t, dt):
        u = self.unit
        d = u["defrost"]
        self.run_s += dt
        coil = self.coil_c
        if 600.0 <= self.run_s <= 900.0 and (self.ref_coil is None or coil < self.ref_coil):
            self.ref_coil = coil
        crazy = self._crazy(t)
        if crazy is not None:
            if self.crazy_next_s is None:
                self.crazy_next_s = self.rng.uniform(*crazy.every_s)
            last = self.last_initiation_s
            if last is None or t - last >= self.crazy_next_s:
                self.crazy_next_s = None
                self._initiate(t, True)
            return
        first = d["first_run_min"]
        if (
            self.first_after_start
            and first is not None
            and self.run_s >= first * 60.0
            and coil <= d["first_coil_c"]
        ):
            self._initiate(t, False)
            return
        if self.run_s < d["min_run_min"] * 60.0 or coil > d["init_coil_c"]:
            return
        drop = d["demand_drop_k"]
        if (
            drop is None
            or (self.ref_coil is not None and coil <= self.ref_coil - drop)
            or self.run_s >= d["max_run_min"] * 60.0
        ):
            self._initiate(t, False)

    def _crazy(self, t):
        for f in self.faults:
            if f.kind == "crazy_mode" and f.armed(t):
                f.triggered = True
                return f
        return None

    def _initiate(self, t, crazy):
        stuck = False
        for f in self.faults:
            if f.kind == "stuck_defrost" and f.armed(t):
                stuck = True
                f.triggered = True
        self.last_initiation_s = t
        self.defrosts.append(
            {
                "initiated_s": t,
                "reversed_s": None,
                "ended_s": None,
                "stuck": stuck,
                "crazy": crazy,
                "ice": round(self.ice, 3),
                "end": None,
            }
        )
        self.log.append((t, "defrost initiated%s" % (" (stuck)" if stuck else "")))
        self.stuck_now = stuck
        self.first_after_start = False
        self._enter(STOP_IN)

    def _reverse(self, t):
        self.defrosts[-1]["reversed_s"] = t
        self._enter(DEFROST)

    def _defrost_controls(self, t):
        if self.stuck_now:
            return
        d = self.unit["defrost"]
        if self.coil_c >= d["term_coil_c"]:
            why = "coil reached %.0f °C" % d["term_coil_c"]
        elif self.mode_s >= d["max_min"] * 60.0:
            why = "unit's own %.0f min maximum" % d["max_min"]
        else:
            return
        self._close_defrost(t, why)
        self.run_s = 0.0
        self.ref_coil = None
        self._enter(STOP_OUT)

    def _close_defrost(self, t, why):
        rec = self.defrosts[-1]
        if rec["ended_s"] is None:
            rec["ended_s"] = t
            rec["end"] = why

    # -- physics --------------------------------------------------------------------------------

    def _physics(self, dt, amb, rh):
        u = self.unit
        d = u["defrost"]
        mode = self.mode
        coil = self.coil_c
        cap = 0.0
        amps = float(u["standby_amps"]) if self.powered else 0.0
        if mode == RUN:
            err = (float(u["setpoint_c"]) + u["stop_above_k"] - self.room_c) / 2.0
            if not self.heat:
                err = (self.room_c - float(u["setpoint_c"]) + u["stop_above_k"]) / 2.0
            mn = float(u["min_modulation"])
            mod = mn if err < mn else (1.0 if err > 1.0 else err)
            self.modulation = mod
            load = 0.5 + 0.5 * mod
            rated = float(u["rated_capacity_w"])
            if self.heat:
                # ~1.5 %/K capacity change around +7 °C (model assumption), less the ice's share.
                f = 1.0 + 0.015 * (amb - 7.0)
                f = 0.4 if f < 0.4 else (1.2 if f > 1.2 else f)
                cap = rated * mod * f * (1.0 - u["ice_capacity_loss"] * self.ice)
                target = amb - u["coil_offset_k"] * load - u["ice_extra_k"] * self.ice
            else:
                f = 1.0 - 0.01 * (amb - 35.0)
                cap = -rated * mod * f
                target = amb + u["cond_offset_k"] * load
            # The inverter speeds up as ice chokes the coil (model assumption).
            amps = (u["amps_min"] + (u["amps_max"] - u["amps_min"]) * mod) * (1.0 + 0.1 * self.ice)
            coil += (target - coil) * dt / u["coil_tau_s"]
            if self.heat:
                drive = frost_drive(amb, rh, coil)
                if drive > 0.0:
                    self.ice += self._frost_per_s * drive * dt
                    if self.ice > 1.0:
                        self.ice = 1.0
        elif mode == DEFROST:
            amps = 0.0 if d["ct_reads_zero"] else float(d["amps"])
            top = d["stuck_coil_c"] if self.stuck_now else d["term_coil_c"] + 10.0
            if coil >= -0.05 and self.ice > 0.0:
                coil = 0.0  # melting: the latent heat holds the coil at 0 °C
                self.ice -= self._melt_per_s * dt
                if self.ice < 0.0:
                    self.ice = 0.0
            else:
                coil += self._rise_per_s * dt
                if coil > top:
                    coil = top
                if self.ice > 0.0 and coil > 0.0:
                    coil = 0.0
        else:
            # Compressor off (valve stop, idle, unpowered, hung, starting): the coil drifts back
            # to the air; ice melts slowly only above freezing.
            tau = u["coil_tau_stopped_s"] if mode != IDLE else u["coil_tau_s"] * 2.0
            coil += (amb - coil) * dt / tau
            if self.ice > 0.0 and amb > 0.5:
                self.ice -= self._melt_per_s * 0.05 * dt
                if self.ice < 0.0:
                    self.ice = 0.0
            if not self.powered:
                amps = 0.0
        self.coil_c = coil
        self.amps = amps
        gain = float(u["internal_gain_w"]) + cap - u["house_ua_w_per_k"] * (self.room_c - amb)
        self.room_c += gain * dt / float(u["house_capacity_j_per_k"])

    # -- the supervisor's sensors ---------------------------------------------------------------

    def sense(self, reading):
        """Fill `reading` (a splitguard Reading) as the board's sensors would read the unit."""
        rng = self.rng
        nk = self.noise_k
        coil = self.coil_c
        amb = self.ambient_c
        amps = self.amps
        if nk:
            coil += rng.uniform(-nk, nk)
            amb += rng.uniform(-nk, nk)
        if self.noise_a:
            amps += rng.uniform(-self.noise_a, self.noise_a)
            if amps < 0.0:
                amps = 0.0
        reading.set(round(coil, 2), round(amb, 2), round(amps, 2))
        t = self.t
        for f in self._sensor_faults:
            if f.live(t):
                if f.sensor == "coil":
                    reading.coil_c, reading.coil_fault = NAN, f.cause
                elif f.sensor == "ambient":
                    reading.ambient_c, reading.ambient_fault = NAN, f.cause
                else:
                    reading.amps, reading.ct_fault = NAN, f.cause
        return reading

    @property
    def compressor_on(self):
        return self.mode in _COMPRESSOR_ON
