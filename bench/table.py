"""The one table every benchmark's rows go into."""

from __future__ import annotations


class Row(tuple):
    """(group, metric, value, unit, note) — value already rounded for display."""

    def __new__(cls, group: str, metric: str, value, unit: str = "", note: str = ""):
        return super().__new__(cls, (group, metric, value, unit, note))


def render(rows: list[Row]) -> str:
    """Format rows as a fixed-width text table, grouped in the order given."""
    header = ("group", "metric", "value", "unit", "note")
    cells = [header] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    lines = []
    for n, c in enumerate(cells):
        parts = [c[0].ljust(widths[0]), c[1].ljust(widths[1]), c[2].rjust(widths[2])]
        parts += [c[3].ljust(widths[3]), c[4]]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)
