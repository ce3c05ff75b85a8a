"""Every file that goes on the board compiles with mpy-cross for the ESP32 (xtensawin)."""

import pytest

from host_tools.mpy import FIRMWARE, build, compile_file, firmware_sources

SOURCES = firmware_sources()


@pytest.mark.parametrize("source", SOURCES, ids=[str(p.relative_to(FIRMWARE)) for p in SOURCES])
def test_firmware_file_compiles_with_mpy_cross(source):
    result = compile_file(source, None)
    assert result.error == ""


def test_mpy_cross_rejects_code_micropython_cannot_compile(tmp_path):
    # Guards the check above: a syntax MicroPython lacks must fail, or the test proves nothing.
    bad = tmp_path / "bad.py"
    bad.write_text("match x:\n    case 1:\n        pass\n")
    assert compile_file(bad, None).error != ""


def test_build_keeps_boot_and_main_as_source_and_compiles_the_package(tmp_path):
    results = build(tmp_path)
    assert all(r.error == "" for r in results)
    assert (tmp_path / "splitguard" / "clock.mpy").read_bytes()[:1] == b"M"
    if (FIRMWARE / "boot.py").exists():
        assert (tmp_path / "boot.py").read_text() == (FIRMWARE / "boot.py").read_text()
