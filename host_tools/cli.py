"""The `splitguard` command: one table of commands, one error type, one exit path.

Adding a command is one row in COMMANDS: a name, a help line, a function that adds its
arguments to an argparse parser, and a handler `run(args) -> int`. A handler that cannot do its
job raises CliError; main() prints it as `splitguard: message` on stderr and returns 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from splitguard import VERSION

from host_tools import config_cmd, send_cmd
from host_tools import flash as flash_cmd
from host_tools import logger as log_cmd
from host_tools import monitor as monitor_cmd
from host_tools import plot as plot_cmd
from host_tools import replay as replay_cmd
from host_tools import scenarios as scenarios_cmd
from host_tools import simulate as simulate_cmd
from host_tools.errors import CliError
from host_tools.vboard import demo as demo_cmd
from host_tools.vboard import host as vboard_cmd

__all__ = ["COMMANDS", "CliError", "Command", "main"]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    setup: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: tuple[Command, ...] = (
    Command(
        "config", "check or show a board file or device config", config_cmd.setup, config_cmd.run
    ),
    Command("flash", "put the firmware on a board and check it", flash_cmd.setup, flash_cmd.run),
    Command(
        "vboard",
        "run the virtual board on a pseudo-terminal",
        vboard_cmd.setup,
        vboard_cmd.run,
    ),
    Command(
        "demo",
        "the whole chain on a virtual board (or flash and monitor --port)",
        demo_cmd.setup,
        demo_cmd.run,
    ),
    Command("monitor", "live view of a board on a serial port", monitor_cmd.setup, monitor_cmd.run),
    Command("log", "log a board's lines to files; export a trace CSV", log_cmd.setup, log_cmd.run),
    Command("plot", "plot a log or trace CSV to a PNG", plot_cmd.setup, plot_cmd.run),
    Command("send", "send one protocol command to a board", send_cmd.setup, send_cmd.run),
    Command(
        "replay",
        "replay a trace or device log through the firmware logic",
        replay_cmd.setup,
        replay_cmd.run,
    ),
    Command(
        "simulate",
        "run a scenario closed-loop: simulated unit, firmware supervisor",
        simulate_cmd.setup,
        simulate_cmd.run_command,
    ),
    Command(
        "scenarios",
        "run the scenario suite and print the scorecard",
        scenarios_cmd.setup,
        scenarios_cmd.run_command,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="splitguard", description="Host tools for the splitguard mini-split supervisor."
    )
    parser.add_argument("--version", action="version", version="splitguard %s" % VERSION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.setup(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status is returned (0 ok, 1 failed, 2 bad usage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args._run(args)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 1
    except CliError as exc:
        for line in exc.details:
            print(line, file=sys.stderr)
        print("splitguard: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("splitguard: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
