"""`splitguard config check|show` and the CLI's one exit path, under CPython."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from splitguard import VERSION
from splitguard.config import config_hash, default_device

from host_tools.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]
BOARDS = sorted((ROOT / "boards").glob("*.json"))
DEVICE = ROOT / "firmware" / "config.json"


def _write(tmp_path: Path, text: str, name: str = "config.json") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_good_device_config_passes_with_a_summary(capsys):
    assert main(["config", "check", str(DEVICE)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "%s: ok" % DEVICE
    assert "device config, hash %s" % config_hash(default_device()) in lines[1]
    assert "power off 30 min" in lines[1]
    assert err == ""


@pytest.mark.parametrize("board", BOARDS, ids=lambda p: p.name)
def test_shipped_boards_pass_and_are_recognised_as_boards(board, capsys):
    assert main(["config", "check", str(board)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "%s: ok" % board
    assert "board " in out and "relay GPIO" in out


def test_both_supported_boards_are_shipped():
    assert [p.name for p in BOARDS] == ["esp32_devkitc.json", "esp32_s3_devkitc_1.json"]


def test_a_partial_config_is_fine(tmp_path, capsys):
    path = _write(tmp_path, '{"mains_hz": 60, "supervisor": {"power_off_min": 45}}')
    assert main(["config", "check", path]) == 0
    assert "60 Hz" in capsys.readouterr().out


def test_a_bad_value_fails_naming_file_field_value_and_range(tmp_path, capsys):
    path = _write(tmp_path, '{"supervisor": {"power_off_min": 2}}')
    assert main(["config", "check", path]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert (
        lines[0]
        == "%s: supervisor.power_off_min: 2 is out of range (allowed 5..240 minutes)" % path
    )
    assert lines[-1] == "splitguard: %s: 1 problem in this device config" % path


def test_every_problem_is_printed(tmp_path, capsys):
    path = _write(
        tmp_path,
        '{"sample_period_s": "abc", "supervisor": {"power_of_min": 10, "max_cycles_per_24h": 0}}',
    )
    assert main(["config", "check", path]) == 1
    err = capsys.readouterr().err
    assert "sample_period_s: expected a number, got 'abc'" in err
    assert "supervisor.power_of_min: unknown field (did you mean power_off_min?)" in err
    assert "supervisor.max_cycles_per_24h: 0 is out of range (allowed 1..10 power cycles)" in err
    assert "splitguard: %s: 3 problems in this device config" % path in err


def test_malformed_json_names_the_file_and_line(tmp_path, capsys):
    path = _write(tmp_path, '{\n  "mains_hz": 50,\n  "sample_period_s" 5\n}\n')
    assert main(["config", "check", path]) == 1
    err = capsys.readouterr().err
    assert err.startswith("splitguard: %s: line 3 column " % path)
    assert "invalid JSON" in err


def test_a_duplicate_field_is_an_error_the_board_would_miss(tmp_path, capsys):
    # MicroPython's json keeps the last of two equal keys silently; the host refuses.
    path = _write(tmp_path, '{"supervisor": {"power_off_min": 30, "power_off_min": 3}}')
    assert main(["config", "check", path]) == 1
    err = capsys.readouterr().err
    assert "%s: power_off_min: duplicate field" % path in err
    assert "supervisor.power_off_min: 3 is out of range" in err


def test_a_missing_file_is_named(tmp_path, capsys):
    path = str(tmp_path / "nope.json")
    assert main(["config", "check", path]) == 1
    assert capsys.readouterr().err == "splitguard: %s: no such file\n" % path


def test_board_flag_overrides_detection(capsys):
    assert main(["config", "check", "--board", str(DEVICE)]) == 1
    err = capsys.readouterr().err
    assert "relay_pin: missing (required)" in err
    assert "sample_period_s: unknown field" in err
    assert "problems in this board file" in err


def test_a_non_adc1_pin_fails_the_board_check(tmp_path, capsys):
    board = json.loads((ROOT / "boards" / "esp32_devkitc.json").read_text())
    board["ambient_adc_pin"] = 4  # ADC2_CH0
    path = _write(tmp_path, json.dumps(board), "board.json")
    assert main(["config", "check", path]) == 1
    assert "ambient_adc_pin: GPIO4 is not an ADC1 pin" in capsys.readouterr().err


def test_show_without_a_file_prints_the_defaults(capsys):
    assert main(["config", "show"]) == 0
    assert json.loads(capsys.readouterr().out) == default_device()


def test_show_merges_a_file_over_the_defaults(tmp_path, capsys):
    path = _write(tmp_path, '{"detector": {"running_amps": 2.5}}')
    assert main(["config", "show", path]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["detector"]["running_amps"] == 2.5
    assert shown["detector"]["frost_delta_k"] == 5.0
    assert shown["supervisor"] == default_device()["supervisor"]


def test_show_refuses_a_bad_file(tmp_path, capsys):
    path = _write(tmp_path, '{"mains_hz": 55}')
    assert main(["config", "show", path]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "mains_hz: 55 is not allowed (allowed 50 or 60 Hz)" in err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "splitguard %s" % VERSION


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "usage: splitguard" in capsys.readouterr().err


def test_command_table_rows_are_complete():
    names = [c.name for c in COMMANDS]
    assert "config" in names
    assert len(names) == len(set(names))
    for c in COMMANDS:
        assert c.help and callable(c.setup) and callable(c.run)


def test_the_process_exit_status_follows_main(tmp_path):
    bad = _write(tmp_path, '{"supervisor": {"power_off_min": 2}}')
    cmd = [sys.executable, "-m", "host_tools.cli", "config", "check"]
    good = subprocess.run(cmd + [str(DEVICE)], capture_output=True, text=True, cwd=ROOT)
    assert good.returncode == 0, good.stderr
    failed = subprocess.run(cmd + [bad], capture_output=True, text=True, cwd=ROOT)
    assert failed.returncode == 1
    assert "supervisor.power_off_min: 2 is out of range" in failed.stderr
