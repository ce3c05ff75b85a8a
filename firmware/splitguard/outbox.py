"""Device lines on their way to the serial port: a bounded queue that never stalls the control loop.

Nobody may be reading the port for days. A USB-UART bridge (CP210x, CH340) drains at the baud
rate whether or not a host listens, but the ESP32-S3's native USB port stalls writes while no
host is attached, and MicroPython cannot tell us in advance (select reports stdout as always
writable on the esp32 port). So lines wait here, at most `max_lines` lines and `max_bytes`
bytes, and `flush()` hands the port at most `budget` bytes per call (one call per 50 ms poll
slice). When the queue is full the oldest line of the LEAST important kind goes (replies before
samples before events, faults and hello), never the one half written: a flood of error replies
to garbage can never push a `power_off` event out, a host that starts reading sees the present,
and the sequence numbers of the lost lines show as a gap.
`dropped` counts lines lost since the Reporter last said so (docs/protocol.md, Lost lines).
"""

from splitguard.compat import const

MAX_LINES = const(32)
# A config_get reply is the largest line (about 800 bytes); room for several next to samples.
MAX_BYTES = const(8192)
# 256 bytes are 22 ms of wire time at 115200 baud (11 520 bytes/s): the longest a write can hold
# the loop on a UART bridge, and still 5 kB/s, far above the ~60 bytes/s of steady reporting.
BUDGET_BYTES = const(256)
# How much a line matters when the queue is full (Reporter picks one per kind of line).
PRIO_REPLY = const(0)
PRIO_SAMPLE = const(1)
PRIO_EVENT = const(2)  # events, faults, hello: the board's own record of what it did


class Outbox:
    """A ring of encoded lines in front of `write(bytes) -> int | None`.

    `write` returns how many bytes it took (0: would block, try again later) or None when it
    took them all (a plain `list.append` or a stream that does not say). An exception from
    `write` counts as "would block": reporting never raises into the control loop.
    """

    def __init__(self, write, max_lines=MAX_LINES, max_bytes=MAX_BYTES):
        self._write = write
        self._q = [None] * max_lines
        self._p = bytearray(max_lines)  # the priority of each slot's line
        self._head = 0
        self._off = 0  # bytes of the head line already written
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.count = 0
        self.bytes = 0
        self.dropped = 0  # lost since the last report (the Reporter reads and resets it)
        self.dropped_total = 0

    def put(self, line, prio=PRIO_EVENT):
        """Queue one line (str or bytes, newline included); False if it had to be dropped.

        To make room, queued lines of lower or equal priority go, least important and oldest
        first; if only more important lines are queued, this line is the one dropped.
        """
        data = line.encode() if isinstance(line, str) else line
        n = len(data)
        while self.count and (self.count >= self.max_lines or self.bytes + n > self.max_bytes):
            if not self._drop_least(prio):
                break
        if self.count >= self.max_lines or self.bytes + n > self.max_bytes:
            self._lost()
            return False
        q = self._q
        i = (self._head + self.count) % len(q)
        q[i] = data
        self._p[i] = prio
        self.count += 1
        self.bytes += n
        return True

    def has_room(self):
        """True once the port has drained the queue to half: time to report a loss."""
        return self.count <= self.max_lines // 2 and self.bytes <= self.max_bytes // 2

    def flush(self, budget=BUDGET_BYTES):
        """Write up to `budget` bytes of queued lines; returns the number written. Never raises."""
        q = self._q
        size = len(q)
        done = 0
        while self.count and done < budget:
            data = q[self._head]
            off = self._off
            n = len(data) - off
            if n > budget - done:
                n = budget - done
            chunk = data if off == 0 and n == len(data) else data[off : off + n]
            try:
                w = self._write(chunk)
            except Exception:  # noqa: BLE001 - a failing port must not stop the loop
                return done
            if w is None:
                w = n
            if w <= 0:
                return done
            done += w
            off += w
            if off >= len(data):
                q[self._head] = None
                self._head = (self._head + 1) % size
                self._off = 0
                self.count -= 1
                self.bytes -= len(data)
            else:
                self._off = off
            if w < n:
                return done  # the port took less than offered: its buffer is full
        return done

    def drain(self, budget):
        """Flush until empty, the port blocks, or `budget` bytes went out (before a reset)."""
        total = 0
        while self.count and total < budget:
            n = self.flush(budget - total)
            if n <= 0:
                break
            total += n
        return total

    def _drop_least(self, prio):
        # The head line may be half written; cutting it would leave a broken line on the wire,
        # so it is never a candidate then. Of the others, the oldest of the lowest priority goes,
        # if that priority is not above the incoming line's; the lines after it move up a slot.
        q = self._q
        p = self._p
        size = len(q)
        first = 1 if self._off else 0
        best = -1
        best_prio = 256
        k = first
        while k < self.count:
            i = (self._head + k) % size
            if p[i] < best_prio:
                best_prio = p[i]
                best = k
            k += 1
        if best < 0 or best_prio > prio:
            return False
        i = (self._head + best) % size
        self.bytes -= len(q[i])
        k = best
        while k + 1 < self.count:
            a = (self._head + k) % size
            b = (a + 1) % size
            q[a] = q[b]
            p[a] = p[b]
            k += 1
        q[(self._head + self.count - 1) % size] = None
        self.count -= 1
        self._lost()
        return True

    def _lost(self):
        self.dropped += 1
        self.dropped_total += 1
