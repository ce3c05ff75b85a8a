"""The virtual board: the real firmware in a real MicroPython VM, on a pseudo-terminal, wired to
the plant simulator. host.py is the host side (pty, plant), board.mjs and hw.py the board side;
docs/virtual-board.md explains how they fit together."""
