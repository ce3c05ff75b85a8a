"""`splitguard flash`: the choices it makes from what the board says (no board needed here).

Flashing itself, the bring-up check and the no-MicroPython message against a port are tested
on the virtual board in test_virtual_board.py.
"""

from __future__ import annotations

import json

import pytest

from host_tools import flash
from host_tools.errors import CliError

# sys.implementation._mpy: bits 0-7 the .mpy major version, bits 8-9 the sub-version, bits 10+
# the native architecture (MicroPython docs, "MicroPython .mpy files").
ESP32_MPY = (10 << 10) | (3 << 8) | 6  # xtensawin, v6.3 (an ESP32 or ESP32-S3)
WASM_MPY = (3 << 8) | 6  # no native arch: the WebAssembly port (the virtual board)


def _info(mpy=ESP32_MPY, machine="Generic ESP32 module with ESP32", board_json=None):
    return flash.Info((1, 24, 1), mpy, machine, "esp32", [], board_json)


def test_the_board_abi_picks_the_march_mpy_cross_compiles_for():
    assert _info(ESP32_MPY).march == "xtensawin"
    assert _info(WASM_MPY).march is None
    assert _info(ESP32_MPY).mpy_major == 6


def test_an_esp32_s3_is_recognised_by_its_machine_string():
    path, board = flash.board_file(None, _info(machine="ESP32S3 module with ESP32S3"))
    assert path.stem == "esp32_s3_devkitc_1"
    assert board["chip"] == "esp32s3"


def test_the_board_file_already_on_the_board_wins_over_the_chip_guess():
    on_board = json.loads((flash.BOARDS / "esp32_s3_devkitc_1.json").read_text())
    path, _ = flash.board_file(None, _info(board_json=on_board))
    assert path.stem == "esp32_s3_devkitc_1"


def test_an_explicit_board_wins_over_everything():
    path, _ = flash.board_file("esp32_devkitc", _info(machine="ESP32S3 module with ESP32S3"))
    assert path.stem == "esp32_devkitc"


def test_an_unknown_board_name_lists_the_known_ones():
    with pytest.raises(CliError) as exc:
        flash.board_file("esp8266", _info())
    assert "esp32_devkitc" in str(exc.value)


def test_an_unrecognisable_board_asks_for_board():
    with pytest.raises(CliError) as exc:
        flash.board_file(None, _info(machine="Raspberry Pi Pico with RP2040"))
    assert "--board" in str(exc.value)


def test_a_board_with_another_mpy_version_gets_source_files(tmp_path, monkeypatch):
    monkeypatch.setattr(flash, "BUILD", tmp_path)
    out, what = flash.compile_for(_info(mpy=5))
    names = [n for n, _ in flash.files_to_copy(out)]
    assert "splitguard/app.py" in names and not any(n.endswith(".mpy") for n in names)
    assert "source" in what


def test_a_matching_board_gets_mpy_files_compiled_for_its_arch(tmp_path, monkeypatch):
    monkeypatch.setattr(flash, "BUILD", tmp_path)
    out, what = flash.compile_for(_info(ESP32_MPY))
    names = [n for n, _ in flash.files_to_copy(out)]
    assert "splitguard/app.mpy" in names
    assert "boot.py" in names and "main.py" in names  # run by name: stay source
    assert "-march=xtensawin" in what


def test_the_install_help_for_an_s3_uses_its_firmware_and_offset():
    err = flash.no_micropython("/dev/ttyACM0", b"", chip="esp32s3")
    text = "\n".join(err.details)
    assert "esptool.py --chip esp32s3 --port /dev/ttyACM0 erase_flash" in text
    assert "write_flash -z 0 ESP32_GENERIC_S3" in text
    assert "it sent nothing" in text


def test_a_board_that_answers_with_boot_rom_text_is_quoted():
    err = flash.no_micropython(
        "/dev/ttyUSB0", b"ets Jul 29 2019 12:21:46\r\nwaiting for download\r\n"
    )
    assert "waiting for download" in err.details[0]


def _reply(**fields):
    from host_tools.protocol import Message

    data = {"v": 1, "kind": "reply", "seq": 3, "t": 1000, "id": flash.HANDOVER_ID}
    data.update(fields)
    return Message("reply", 3, 1000, data)


def test_flash_stops_when_the_board_holds_power_off_and_says_how_long_to_wait(monkeypatch):
    # docs/safety.md promise 1: flashing would end the off-time early, so nothing is interrupted.
    refused = _reply(
        ok=False,
        refused="refused in state POWER_OFF: the supervisor is holding the unit's power off",
        off_left_s=1234,
    )
    monkeypatch.setattr(flash, "read_lines", lambda *a, **k: [refused])
    with pytest.raises(CliError) as exc:
        flash.hand_over("/dev/null")
    text = str(exc.value)
    assert "refused in state POWER_OFF" in text
    assert "try again in 20 min 34 s" in text
    assert "Nothing was interrupted" in text


def test_flash_goes_ahead_when_the_board_hands_over_or_does_not_answer(monkeypatch):
    monkeypatch.setattr(flash, "read_lines", lambda *a, **k: [_reply(ok=True, repl=True)])
    assert flash.hand_over("/dev/null")["repl"] is True
    # No splitguard firmware answering (none, an older one, at the REPL): Ctrl-C as before.
    monkeypatch.setattr(flash, "read_lines", lambda *a, **k: [])
    assert flash.hand_over("/dev/null") is None
