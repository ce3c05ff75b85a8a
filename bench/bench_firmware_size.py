"""Total .mpy size of the firmware, and per module: what `make flash` puts in flash."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.table import Row
from host_tools.mpy import build


def run() -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        results = build(Path(tmp))
        total = 0
        for r in results:
            if r.output is None:
                continue
            size = r.output.stat().st_size
            total += size
            rows.append(Row("firmware size", r.output.name, size, "bytes"))
        rows.append(Row("firmware size", "total .mpy", total, "bytes", "xtensawin, -O2"))
    return rows
