"""The few names that differ between MicroPython and CPython, in one place."""

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        """Stand-in for micropython.const: the value itself."""
        return value


NAN = float("nan")


def isnan(x):
    """True for NaN, the value a faulted reading carries through the measurement chain."""
    return x != x
