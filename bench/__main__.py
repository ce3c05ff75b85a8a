"""Run every benchmark module and print one table: `python -m bench [NAME ...]`."""

from __future__ import annotations

import importlib
import sys
import time

from bench.table import render

# Each module has run() -> list[Row]; listed here so the table's order is deliberate.
MODULES = [
    "bench_thermistor",
    "bench_ct_clamp",
    "bench_vm_cost",
    "bench_firmware_size",
    "bench_logger",
    "bench_replay",
    "bench_scenarios",
    "bench_adversarial",
]


def main(argv: list[str]) -> int:
    wanted = argv or MODULES
    rows = []
    failed = []
    for name in wanted:
        started = time.perf_counter()
        try:
            module = importlib.import_module("bench." + name)
        except ModuleNotFoundError as exc:
            if exc.name == "bench." + name:
                continue  # a benchmark not written yet is simply absent from the table
            raise
        try:
            rows.extend(module.run())
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed.append("%s: %s: %s" % (name, type(exc).__name__, exc))
        print("ran %s in %.1f s" % (name, time.perf_counter() - started), file=sys.stderr)
    print(render(rows))
    for line in failed:
        print("bench failed: " + line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
