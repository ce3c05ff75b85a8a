"""Replay decides like the board: the detector's CPython fixed-point path equals the board's."""

import random

from splitguard import detector


def test_cpython_fixed_point_equals_the_single_precision_bit_decoding_of_the_board():
    # The board decodes IEEE-754 single bits with small ints (no float allocation); CPython
    # takes a faster road. Every value, ties at half a 1/256 K step included, must agree, or a
    # replayed log could decide differently from the board that wrote it.
    buf = bytearray(4)
    rnd = random.Random(7)
    values = [rnd.uniform(-1200.0, 1200.0) for _ in range(50_000)]
    values += [k / 512 for k in range(-520_000, 520_000, 13)]  # exact ties
    values += [0.0, -0.0, 1e-9, -1e-9, 1000.0, -1000.0, 1e6, -1e6]
    for v in values:
        assert detector._fixed(buf, v) == detector._fixed_board(buf, v), v
