"""The output queue under any mix of lines and port stalls (hypothesis): a line is lost only
when every line still queued matters at least as much (docs/safety.md, promise 9)."""

from hypothesis import given, settings
from hypothesis import strategies as st
from splitguard.outbox import PRIO_EVENT, PRIO_REPLY, PRIO_SAMPLE, Outbox

_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("put"),
            st.sampled_from((PRIO_REPLY, PRIO_SAMPLE, PRIO_EVENT)),
            st.integers(min_value=1, max_value=900),
        ),
        st.tuples(st.just("flush"), st.integers(min_value=0, max_value=600), st.just(0)),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(_ops, st.integers(min_value=2, max_value=40), st.integers(min_value=200, max_value=9000))
def test_only_a_line_no_more_important_than_all_queued_lines_is_ever_lost(ops, lines, size):
    wire = bytearray()
    room = [0]

    def write(data):
        n = min(len(data), room[0])
        wire.extend(data[:n])
        room[0] -= n
        return n

    ob = Outbox(write, max_lines=lines, max_bytes=size)
    prio_of = {}
    sent = []
    for n, (op, a, b) in enumerate(ops):
        if op == "put":
            line = (b"%d:" % n).ljust(b, b"x")[:b] + b"\n"
            prio_of[line] = a
            before = [prio_of[bytes(x)] for x in _queued(ob)]
            dropped = ob.dropped_total
            ob.put(line, a)
            sent.append(line)
            lost = ob.dropped_total - dropped
            if lost:
                # Whatever went was of the lowest rank present (the new line included), and
                # never more important than the line that came in, unless it was that line.
                after = [prio_of[bytes(x)] for x in _queued(ob)]
                gone = sorted(before + [a])
                for p in after:
                    gone.remove(p)
                for g in gone:
                    # Nothing more important than the incoming line is displaced ...
                    assert g <= a, (before, a, after)
                    # ... and no less important line stays behind (the head may be half
                    # written, so it is never a candidate).
                    assert all(p >= g for p in after[1:]), (before, a, after)
        else:
            room[0] = a
            ob.flush(a)
    # Nothing on the wire is broken: every written line is whole and one that was put.
    room[0] = 1 << 30
    ob.drain(1 << 30)
    for chunk in bytes(wire).split(b"\n")[:-1]:
        assert chunk + b"\n" in prio_of


def _queued(ob):
    q = ob._q
    return [q[(ob._head + k) % len(q)] for k in range(ob.count)]
