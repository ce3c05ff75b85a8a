"""Synthetic outdoor-unit traces for tests: coil, ambient and supply current over time.

A Profile is piecewise linear in coil °C, ambient °C and amps; builders append published-like
phases (heating, a reverse-cycle defrost, a setpoint stop, cooling). `readings()` samples a
profile at any period from any start tick (wrap included), with deterministic noise, gaps and
sensor faults, reusing one Reading as the board's sampling loop does.

MicroPython-compatible: no random, no dataclasses, no typing; plain lists.
"""

from splitguard.clock import ticks_add
from splitguard.compat import NAN
from splitguard.reading import Reading

# A heating outdoor coil runs about 6 K below the air (S-D26 coil_dt default).
HEAT_COIL_BELOW_K = 6.0
# Reverse-cycle coil warm-up: tube surface reached 10 °C at 151 s and 20 °C at 172 s into a
# defrost (S-D25), i.e. several K per minute; 6 K/min is the slow end of that.
DEFROST_RISE_K_PER_MIN = 6.0
# Compressor stop at each reversing-valve switch: 50 s, then restart 10 s later (S-D3).
VALVE_STOP_S = 60
# Synthetic supply currents (not from a datasheet): anything well above running_amps works.
HEAT_AMPS = 4.0
DEFROST_AMPS = 3.0
COOL_AMPS = 4.5


class Lcg:
    """Deterministic pseudo-random numbers (glibc LCG constants): same sequence in both VMs."""

    def __init__(self, seed=1):
        self.x = seed & 0x7FFFFFFF

    def unit(self):
        """Next value in [0, 1)."""
        self.x = (1103515245 * self.x + 12345) & 0x7FFFFFFF
        return self.x / 2147483648.0

    def uniform(self, lo, hi):
        return lo + (hi - lo) * self.unit()


class Profile:
    """Coil, ambient and amps as straight lines between knots; time in seconds from 0."""

    def __init__(self, coil_c, ambient_c, amps):
        self.t = [0.0]
        self.coil = [float(coil_c)]
        self.amb = [float(ambient_c)]
        self.amps = [float(amps)]
        self.marks = {}
        self.faults = []  # (t0_s, t1_s, sensor, cause)

    @property
    def end_s(self):
        return self.t[-1]

    def now(self):
        """(coil, ambient, amps) at the end of the profile."""
        return self.coil[-1], self.amb[-1], self.amps[-1]

    def to(self, seconds, coil_c=None, ambient_c=None, amps=None):
        """Ramp linearly over `seconds` to the given values (None keeps a value); 0 s = a step."""
        c, a, i = self.now()
        self.t.append(self.t[-1] + seconds)
        self.coil.append(c if coil_c is None else float(coil_c))
        self.amb.append(a if ambient_c is None else float(ambient_c))
        self.amps.append(i if amps is None else float(amps))
        return self

    def hold(self, seconds):
        return self.to(seconds)

    def mark(self, name):
        """Remember the current end time under `name` (e.g. where a defrost really starts)."""
        self.marks[name] = self.t[-1]
        return self

    def fault(self, t0_s, seconds, sensor, cause):
        """Sensor ('coil', 'ambient' or 'ct') reads faulted with `cause` from t0_s for `seconds`."""
        self.faults.append((t0_s, t0_s + seconds, sensor, cause))
        return self

    def at(self, t_s, hint=0):
        """(coil, ambient, amps, knot index) at t_s; pass the returned index back as a hint."""
        t = self.t
        k = hint
        n = len(t)
        while k + 1 < n and t[k + 1] <= t_s:
            k += 1
        if k + 1 >= n:
            return self.coil[-1], self.amb[-1], self.amps[-1], k
        span = t[k + 1] - t[k]
        f = (t_s - t[k]) / span if span > 0 else 1.0
        return (
            self.coil[k] + (self.coil[k + 1] - self.coil[k]) * f,
            self.amb[k] + (self.amb[k + 1] - self.amb[k]) * f,
            self.amps[k] + (self.amps[k + 1] - self.amps[k]) * f if span > 0 else self.amps[k + 1],
            k,
        )

    def crossings(self, offset_k):
        """[(t_s, +1 up / -1 down)] where coil - ambient crosses offset_k (exact, per segment)."""
        out = []
        for k in range(len(self.t) - 1):
            d0 = self.coil[k] - self.amb[k] - offset_k
            d1 = self.coil[k + 1] - self.amb[k + 1] - offset_k
            if (d0 < 0) != (d1 < 0):
                f = d0 / (d0 - d1)
                out.append((self.t[k] + f * (self.t[k + 1] - self.t[k]), 1 if d1 >= 0 else -1))
        return out


def heating(p, minutes, below_k=HEAT_COIL_BELOW_K, amps=HEAT_AMPS, settle_s=120):
    """Compressor on; the coil sinks to ambient - below_k over settle_s, then holds."""
    _, amb, _ = p.now()
    p.to(0, amps=amps)
    p.to(settle_s, coil_c=amb - below_k)
    return p.hold(minutes * 60 - settle_s)


def defrost(
    p,
    minutes,
    end_coil_c,
    stop_s=VALVE_STOP_S,
    amps=DEFROST_AMPS,
    rise_k_per_min=DEFROST_RISE_K_PER_MIN,
    resume_amps=HEAT_AMPS,
    below_k=HEAT_COIL_BELOW_K,
):
    """A reverse-cycle defrost `minutes` long from the first valve-switch stop to the restart.

    Stop (current 0, stop_s) -> reversed: coil warms to 0 °C, melts ice at 0 °C, warms to
    end_coil_c (termination) -> stop again -> heating resumes (coil back below ambient within 60 s).
    amps=0 models units whose CT reads ~0 all through the defrost (S-D28).
    Marks 'defrost_start' and 'defrost_end' at the two stops' beginnings / the restart.
    """
    coil, amb, _ = p.now()
    rate = rise_k_per_min / 60.0
    p.mark("defrost_start")
    p.to(0, amps=0.0).to(stop_s, coil_c=coil + 1.0)  # fan and compressor stopped: coil drifts up
    coil += 1.0
    reversed_s = minutes * 60 - 2 * stop_s
    p.to(0, amps=amps)
    used = 0.0
    if coil < 0.0:
        used += -coil / rate
        p.to(-coil / rate, coil_c=0.0)
        coil = 0.0
    warm_s = (end_coil_c - coil) / rate
    melt_s = reversed_s - used - warm_s
    if melt_s < 0:
        raise ValueError("defrost too short for its warm-up")
    p.hold(melt_s)
    p.to(warm_s, coil_c=end_coil_c)
    p.to(0, amps=0.0).to(stop_s, coil_c=end_coil_c - 1.0)
    p.mark("defrost_end")
    p.to(0, amps=resume_amps).to(60, coil_c=amb - below_k)
    return p


def setpoint_stop(p, minutes, tau_s=120):
    """Compressor off on the thermostat: the coil relaxes to ambient (tau_s), never above it."""
    coil, amb, _ = p.now()
    p.to(0, amps=0.0)
    gap = coil - amb
    left = minutes * 60
    for frac in (0.37, 0.14, 0.05, 0.0):  # e^-1, e^-2, e^-3, settled: piecewise exponential
        step = tau_s if frac > 0 else max(left, 0)
        p.to(step, coil_c=amb + gap * frac)
        left -= step
    return p


def cooling(p, minutes, above_k=15.0, amps=COOL_AMPS, settle_s=120):
    """Compressor on in cooling: the outdoor coil is the condenser, above_k over the air."""
    _, amb, _ = p.now()
    p.to(0, amps=amps)
    p.to(settle_s, coil_c=amb + above_k)
    return p.hold(minutes * 60 - settle_s)


def readings(
    p,
    period_s,
    start_ms=0,
    noise_k=0.0,
    noise_a=0.0,
    seed=1,
    skip=(),
    until_s=None,
):
    """Iterate (now_ms, reading) every period_s along the profile; the same Reading each time.

    noise_k / noise_a: uniform ± noise on each temperature / on the current; skip: (t0_s, t1_s)
    windows with no samples (a gap); faults from p.faults set NaN and the *_fault cause.
    """
    return _Sampler(p, period_s, start_ms, noise_k, noise_a, seed, skip, until_s)


class _Sampler:
    # An iterator class, not a generator: in the WASI MicroPython VM a garbage collection that
    # runs while a generator is suspended corrupts the heap (memory fault / wrong objects).

    def __init__(self, p, period_s, start_ms, noise_k, noise_a, seed, skip, until_s):
        self.p = p
        self.period_s = period_s
        self.start_ms = start_ms
        self.noise_k = noise_k
        self.noise_a = noise_a
        self.rng = Lcg(seed)
        self.skip = skip
        self.end = p.end_s if until_s is None else until_s
        self.r = Reading()
        self.hint = 0
        self.n = 0

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            t = self.n * self.period_s
            if t > self.end:
                raise StopIteration
            self.n += 1
            if not _inside(t, self.skip):
                return ticks_add(self.start_ms, int(t * 1000)), self._sample(t)

    def _sample(self, t):
        p, r, rng = self.p, self.r, self.rng
        coil, amb, amps, self.hint = p.at(t, self.hint)
        if self.noise_k:
            coil += rng.uniform(-self.noise_k, self.noise_k)
            amb += rng.uniform(-self.noise_k, self.noise_k)
        if self.noise_a:
            amps += rng.uniform(-self.noise_a, self.noise_a)
        r.set(coil, amb, amps)
        for t0, t1, sensor, cause in p.faults:
            if t0 <= t < t1:
                if sensor == "coil":
                    r.coil_c, r.coil_fault = NAN, cause
                elif sensor == "ambient":
                    r.ambient_c, r.ambient_fault = NAN, cause
                else:
                    r.amps, r.ct_fault = NAN, cause
        return r


def _inside(t, windows):
    # A loop, not any(<generator>): see _Sampler on generators in the VM.
    for t0, t1 in windows:  # noqa: SIM110
        if t0 <= t < t1:
            return True
    return False
