"""Cost of the firmware's hot paths inside a real MicroPython VM: µs and bytes allocated per call.

Times come from the WASI build under wasmtime on this host — not an ESP32, so read them as
relative costs (an ESP32 at 240 MHz is roughly 10–30× slower). Bytes are exact: the harness
runs with automatic GC off, so gc.mem_alloc() deltas count every allocation. Heap after import
comes from the npm WebAssembly port, whose collector works (docs/testing.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.table import Row
from host_tools.mpvm import REPO, MicroPythonVM
from host_tools.mpy import compile_file, firmware_sources

_SCRIPT = r"""
import gc, json, time
from splitguard.thermistor import Thermistor
from splitguard.divider import Divider
from splitguard.ct_clamp import CTClamp, fill
from splitguard.detector import Detector
from splitguard.supervisor import Supervisor
from splitguard.reading import Reading
from array import array

def measure(name, fn, n):
    fn()
    gc_before = gc.mem_alloc()
    t0 = time.ticks_us()
    for _ in range(n):
        fn()
    dt = time.ticks_diff(time.ticks_us(), t0)
    out.append((name, dt / n, (gc.mem_alloc() - gc_before) / n))

out = []
beta = Thermistor.from_beta(10000, 3950)
rows = [(-40 + 5 * i, 0.0) for i in range(21)]
rows = [(t, beta.ohms(t)) for t, _ in rows]
table = Thermistor.from_table(rows)
measure("thermistor.celsius (beta)", lambda: beta.celsius(45000.0), 2000)
measure("thermistor.celsius (table, 21 rows)", lambda: table.celsius(45000.0), 2000)
div = Divider.for_attenuation(11, 3300000, 73200, "low")
read = lambda: 1800000
measure("divider.read_ohms (16 reads)", lambda: div.read_ohms(read, 16), 500)
clamp = CTClamp.current_output(2000, 33)
buf = array("i", [1650000 + (i * 7919) % 200000 - 100000 for i in range(160)])
measure("ct_clamp.amps_rms (160 samples, 4 cycles)", lambda: clamp.amps_rms(buf), 200)
def r():
    return 1650000
measure("ct_clamp.fill (160 samples, unpaced)", lambda: fill(buf, r), 200)
det = Detector()
sup = Supervisor(None, det, None, 0)
reading = Reading(-2.0, 4.0, 6.5)
now = [0]
def step():
    now[0] += 5000
    sup.step(now[0], reading)
for _ in range(100):
    step()
measure("supervisor.step (steady WATCHING, heating)", step, 2000)
print("RESULT " + json.dumps(out))
"""

_HEAP = r"""
import gc
gc.collect()
base = gc.mem_alloc()
import splitguard.app, splitguard.config, splitguard.detector, splitguard.supervisor
import splitguard.sensors, splitguard.store, splitguard.report, splitguard.led
import splitguard.thermistor, splitguard.ct_clamp, splitguard.divider
gc.collect()
print("HEAP %d" % (gc.mem_alloc() - base))
"""


def _vm_rows() -> list[Row]:
    with MicroPythonVM() as vm:
        res = vm.run(_SCRIPT, timeout_s=300)
    line = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise RuntimeError("VM bench failed: %s" % res.stderr[-2000:])
    rows = []
    for name, us, nbytes in json.loads(line[0][7:]):
        rows.append(Row("MicroPython VM", name + " time", round(us, 1), "µs/call", "WASI on host"))
        rows.append(Row("MicroPython VM", name + " alloc", round(nbytes), "bytes/call"))
    return rows


def _heap_rows() -> list[Row]:
    node = shutil.which("node")
    runner = REPO / "host_tools" / "js" / "run_micropython.mjs"
    if node is None or not (REPO / "node_modules").exists():
        return [Row("firmware heap", "after import", "n/a", "", "needs node + npm install")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "heap.py"
        script.write_text(_HEAP)
        # From source, as the VM tests load it, and from .mpy, as `make flash` ships it.
        for label, tree in (("from .py", REPO), ("from .mpy", _mpy_tree(Path(tmp)))):
            proc = subprocess.run(
                [node, str(runner), str(tree), str(script)],
                capture_output=True,
                text=True,
                cwd=REPO,
                timeout=120,
            )
            got = [x for x in proc.stdout.splitlines() if x.startswith("HEAP ")]
            value = int(got[0].split()[1]) if got else "error"
            rows.append(Row("firmware heap", "after import, " + label, value, "bytes", "npm port"))
    return rows


def _mpy_tree(tmp: Path) -> Path:
    # Bytecode-only .mpy without -march loads on any port, so the npm port can import it.
    root = tmp / "mpy"
    for src in firmware_sources():
        rel = src.relative_to(REPO / "firmware")
        if rel.parts[0] != "splitguard":
            continue
        dest = (root / "firmware" / rel).with_suffix(".mpy")
        dest.parent.mkdir(parents=True, exist_ok=True)
        result = compile_file(src, dest, march="")
        if result.error:
            raise RuntimeError(result.error)
    return root


def run() -> list[Row]:
    return _vm_rows() + _heap_rows()
