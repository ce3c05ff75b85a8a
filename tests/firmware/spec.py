"""Small assertion helpers for firmware tests that must also run inside the MicroPython VM.

pytest's fixtures and `pytest.raises` do not exist in the VM, so firmware tests are plain
functions with `assert` and these helpers.
"""

import sys

MICROPYTHON = sys.implementation.name == "micropython"
DATA_DIR = __file__.rsplit("/", 2)[0] + "/data"


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception it raised; fail if it raised nothing or something else."""
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("%s did not raise %s" % (fn, exc_type.__name__))


def close(actual, expected, tol):
    """True when |actual - expected| <= tol (NaN is never close)."""
    return abs(actual - expected) <= tol


def read_csv_rows(name):
    """Rows of tests/data/NAME as lists of strings, '#' comment lines and the header skipped."""
    rows = []
    with open(DATA_DIR + "/" + name) as f:
        header = True
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if header:
                header = False
                continue
            rows.append([c.strip() for c in line.split(",")])
    return rows


def read_rt_table(name):
    """A datasheet R–T table from tests/data/NAME as [(t_c, r_ohm), ...]."""
    return [(float(r[0]), float(r[1])) for r in read_csv_rows(name)]


def without_allocating(fn):
    """Call fn() with MicroPython's heap locked, so any allocation raises MemoryError; under
    CPython just call it (the test still asserts what fn did). Returns fn's result.

    fn takes no arguments: build it before the call, since a call with *args would itself
    allocate; so does calling a closure over more than a few variables (use default arguments)."""
    if not MICROPYTHON:
        return fn()
    import micropython

    micropython.heap_lock()
    try:
        return fn()
    finally:
        micropython.heap_unlock()
