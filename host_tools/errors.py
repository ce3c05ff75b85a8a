"""The one error type of the `splitguard` command line (re-exported by host_tools.cli)."""

from __future__ import annotations

from collections.abc import Iterable


class CliError(Exception):
    """A command could not do its job: main() prints `splitguard: message` and exits 1.

    `details` are lines printed before that message, as they are (for example one line per
    problem in a config file, each already naming the file and field).
    """

    def __init__(self, message: str, details: Iterable[str] = ()):
        super().__init__(message)
        self.details = list(details)
