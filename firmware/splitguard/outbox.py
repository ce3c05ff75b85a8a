"""Device lines on their way to the serial port: a bounded queue that never stalls the control loop.

Nobody may be reading the port for days. A USB-UART bridge (CP210x, CH340) drains at the baud
rate whether or not a host listens, but the ESP32-S3's native USB port stalls writes while no
host is attached, and MicroPython cannot tell us in advance (select reports stdout as always
writable on the esp32 port). So lines wait here, at most `max_lines` lines and `max_bytes`
bytes, and `flush()` hands the port at most `budget` bytes per call (one call per 50 ms poll
slice). When the queue is full the OLDEST line goes, never the one half written: a host that
starts reading sees the present, and the sequence numbers of the lost lines show as a gap.
`dropped` counts lines lost since the Reporter last said so (docs/protocol.md, Lost lines).
"""

from splitguard.compat import const

MAX_LINES = const(32)
# A config_get reply is the largest line (about 800 bytes); room for several next to samples.
MAX_BYTES = const(8192)
# 256 bytes are 22 ms of wire time at 115200 baud (11 520 bytes/s): the longest a write can hold
# the loop on a UART bridge, and still 5 kB/s, far above the ~60 bytes/s of steady reporting.
BUDGET_BYTES = const(256)


class Outbox:
    """A ring of encoded lines in front of `write(bytes) -> int | None`.

    `write` returns how many bytes it took (0: would block, try again later) or None when it
    took them all (a plain `list.append` or a stream that does not say). An exception from
    `write` counts as "would block": reporting never raises into the control loop.
    """

    def __init__(self, write, max_lines=MAX_LINES, max_bytes=MAX_BYTES):
        self._write = write
        self._q = [None] * max_lines
        self._head = 0
        self._off = 0  # bytes of the head line already written
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.count = 0
        self.bytes = 0
        self.dropped = 0  # lost since the last report (the Reporter reads and resets it)
        self.dropped_total = 0

    def put(self, line):
        """Queue one line (str or bytes, newline included); False if it had to be dropped."""
        data = line.encode() if isinstance(line, str) else line
        n = len(data)
        while self.count and (self.count >= self.max_lines or self.bytes + n > self.max_bytes):
            if not self._drop_oldest():
                break
        if self.count >= self.max_lines or self.bytes + n > self.max_bytes:
            self._lost()
            return False
        q = self._q
        q[(self._head + self.count) % len(q)] = data
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

    def _drop_oldest(self):
        # The head line may be half written; cutting it would leave a broken line on the wire,
        # so the oldest line after it goes instead (the head moves into its slot).
        q = self._q
        size = len(q)
        head = self._head
        if self._off:
            if self.count < 2:
                return False
            nxt = (head + 1) % size
            self.bytes -= len(q[nxt])
            q[nxt] = q[head]
        else:
            self.bytes -= len(q[head])
        q[head] = None
        self._head = (head + 1) % size
        self.count -= 1
        self._lost()
        return True

    def _lost(self):
        self.dropped += 1
        self.dropped_total += 1
