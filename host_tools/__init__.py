"""Host tools for splitguard: CLI, configuration checks, MicroPython VM runner, and more."""
