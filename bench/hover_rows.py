"""What a line plot's hover table costs per whole view (page/hover.py): the rows of four
level-of-detail lines of a million-row run at 1,400 pixel columns, and how many numbers the
hover table sends against the drawn lines. Anchor: the same whole view of the four lines
(Table.view over the summary), measured interleaved in the same rounds.

    .venv/bin/python bench/hover_rows.py [rounds]

The median of each is reported, with the load average (the machine is shared)."""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

from streamvis.core.hub import Hub
from streamvis.page.hover import HoverLine, grid_of, hover_rows, sorted_line

ROWS = 1_000_000
WIDTH = 1400
COLUMNS = ("a", "b", "c", "d")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    hub = Hub()
    steps = np.arange(ROWS, dtype=np.int64)
    data = {"step": steps}
    for index, name in enumerate(COLUMNS):
        data[name] = np.sin(steps / (50_000.0 + index)) + 0.1 * (steps % 5)
    hub.stream("metrics", data, run="bench")
    table = hub.table("bench", "metrics")
    assert table is not None
    view_times, hover_times = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        view = table.view("step", list(COLUMNS), None, None, WIDTH, 4 * WIDTH)
        view_times.append(time.perf_counter() - started)
        lines = [HoverLine(name, view.lines[name].x, view.lines[name].y) for name in COLUMNS]
        started = time.perf_counter()
        ordered = [sorted_line(line) for line in lines]
        grid = grid_of(ordered, WIDTH)
        assert grid is not None
        rows = hover_rows(ordered, grid)
        hover_times.append(time.perf_counter() - started)
    drawn = sum(2 * len(line.x) for line in lines)
    sent = sum(len(values) for values in rows.values())
    view_ms = statistics.median(view_times) * 1e3
    hover_ms = statistics.median(hover_times) * 1e3
    print(f"load average {os.getloadavg()[0]:.1f}, {rounds} rounds, medians")
    print(f"whole view of {len(COLUMNS)} lines (anchor): {view_ms:.2f} ms")
    print(f"hover rows: {hover_ms:.2f} ms ({hover_ms / view_ms:.2f} x the view)")
    print(f"numbers sent: drawn {drawn:,}, hover {sent:,} ({sent / drawn:.2f} x the drawn)")


if __name__ == "__main__":
    main()
