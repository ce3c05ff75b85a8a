"""`splitguard config check|show`: the firmware's own validation, run on the host.

The checks are splitguard.config, the module the board runs at boot, so a file that passes here
passes there. The host adds one strictness the board cannot afford: CPython's JSON parser
rejects the missing commas and duplicate keys that MicroPython's lenient parser lets through.
"""

from __future__ import annotations

import argparse
import json

from splitguard import config

from host_tools.errors import CliError


def setup(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    check = sub.add_parser("check", help="validate a board file or device config")
    check.add_argument("file", metavar="FILE")
    _kind_flags(check)
    show = sub.add_parser("show", help="print the config with defaults filled in, as JSON")
    show.add_argument("file", metavar="FILE", nargs="?", help="omit for the built-in defaults")
    _kind_flags(show)


def _kind_flags(parser: argparse.ArgumentParser) -> None:
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument(
        "--board",
        dest="kind",
        action="store_const",
        const="board",
        help="treat FILE as a board file (default: decide by its content)",
    )
    kind.add_argument(
        "--device",
        dest="kind",
        action="store_const",
        const="device",
        help="treat FILE as a device config",
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "check":
        return _check(args.file, args.kind)
    return _show(args.file, args.kind)


def load(path: str, kind: str | None = None) -> tuple[str, dict]:
    """Read and validate `path`: ("board" | "device", merged config); CliError on any problem."""
    try:
        data = config.load_json(path)
    except config.ConfigError as exc:
        raise CliError(str(exc)) from None
    duplicates = _duplicate_keys(path)
    if kind is None:
        kind = "board" if config.is_board(data) else "device"
    validate = config.validate_board if kind == "board" else config.validate_device
    errors = [
        "%s: %s: duplicate field (only the last one would count)" % (path, k) for k in duplicates
    ]
    try:
        cfg = validate(data, path)
    except config.ConfigError as exc:
        errors.extend(exc.errors)
        cfg = None
    if errors:
        n = len(errors)
        raise CliError(
            "%s: %d problem%s in this %s %s"
            % (path, n, "" if n == 1 else "s", kind, "file" if kind == "board" else "config"),
            errors,
        )
    return kind, cfg


def _duplicate_keys(path: str) -> list[str]:
    found: list[str] = []

    def hook(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen and key not in found:
                found.append(key)
            seen.add(key)
        return dict(pairs)

    with open(path, encoding="utf-8") as f:
        json.load(f, object_pairs_hook=hook)
    return found


def _check(path: str, kind: str | None) -> int:
    kind, cfg = load(path, kind)
    print("%s: ok" % path)
    print("  " + summary(kind, cfg))
    return 0


def _show(path: str | None, kind: str | None) -> int:
    if path is None:
        if kind == "board":
            raise CliError("boards have no defaults: give a board FILE")
        cfg = config.default_device()
    else:
        _, cfg = load(path, kind)
    print(json.dumps(cfg, indent=2, ensure_ascii=False))
    return 0


def summary(kind: str, cfg: dict) -> str:
    """One line an installer can read back: what this file will make the board do."""
    h = config.config_hash(cfg)
    if kind == "board":
        return (
            "board %s (%s), hash %s: ADC1 coil GPIO%d, ambient GPIO%d, CT GPIO%d at %s dB; "
            "relay GPIO%d active-%s; LED GPIO%d; button GPIO%d"
            % (
                cfg["name"],
                cfg["chip"],
                h,
                cfg["coil_adc_pin"],
                cfg["ambient_adc_pin"],
                cfg["ct_adc_pin"],
                cfg["adc_atten_db"],
                cfg["relay_pin"],
                "high" if cfg["relay_active_high"] else "low",
                cfg["led_pin"],
                cfg["button_pin"],
            )
        )
    sup, det, ct = cfg["supervisor"], cfg["detector"], cfg["ct"]
    if ct["type"] == "voltage":
        ct_text = "%g A/%g V clamp" % (ct["rated_amps"], ct["rated_volts"])
    else:
        ct_text = "%g-turn clamp on %g ohm" % (ct["turns"], ct["burden_ohm"])
    return (
        "device config, hash %s: sample %gs, %d Hz, %s; running above %g A; "
        "power off %g min, at most %d cycles/24 h; defrost limit %g min"
        % (
            h,
            cfg["sample_period_s"],
            cfg["mains_hz"],
            ct_text,
            det["running_amps"],
            sup["power_off_min"],
            sup["max_cycles_per_24h"],
            sup["defrost_max_min"],
        )
    )
