"""What recomputing a grouped plot's bands costs as runs grow (page/group_lines.py): one
level-of-detail view per run at the plot's width, so the cost should follow runs x width,
not rows. Anchor: the definition (transforms/groups.py `group_band`) over every raw row.

    .venv/bin/python bench/groups.py [rounds]

Sizes are measured interleaved, several rounds, the median reported; the load average is
printed because the machine is shared."""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

from streamvis.core.hub import Hub
from streamvis.layout.spec import layout_from_dict
from streamvis.page.group_lines import GroupDrawer
from streamvis.page.lines import LineFeed
from streamvis.transforms.groups import group_band, group_runs, parse_rule

RUNS = 8
SIZES = (10_000, 100_000, 1_000_000)
WIDTH = 1200


def setup(rows: int) -> tuple[GroupDrawer, dict[str, tuple[np.ndarray, np.ndarray]]]:
    hub = Hub()
    rng = np.random.default_rng(rows)
    names = [f"lr{lr}-seed{seed}" for lr in (0.1, 0.01) for seed in range(RUNS // 2)]
    raw = {}
    for name in names:
        steps = np.arange(rows)
        loss = np.exp(-steps / rows) + 0.1 * rng.normal(size=rows)
        hub.write("metrics", {"step": steps, "loss": loss}, run=name)
        raw[name] = (steps.astype(float), loss)
    layout = layout_from_dict(
        {
            "plots": [
                {
                    "id": "loss",
                    "kind": "line",
                    "stream": "metrics",
                    "x": "step",
                    "y": "loss",
                    "at": [0, 0, 1, 1],
                }
            ]
        }  # fmt: skip
    )
    plot = layout.plots[0]
    feed = LineFeed(plot, hub, names)
    feed.width = WIDTH
    groups = group_runs(parse_rule(r"^(lr[\d.]+)-"), names)
    return GroupDrawer(plot, feed, groups, "std"), raw


def main(rounds: int) -> None:
    cases = {rows: setup(rows) for rows in SIZES}
    for drawer, _ in cases.values():
        drawer._compute()  # the first view folds the summaries
    bands: dict[int, list[float]] = {rows: [] for rows in SIZES}
    anchor: dict[int, list[float]] = {rows: [] for rows in SIZES}
    for _ in range(rounds):
        for rows, (drawer, raw) in cases.items():
            started = time.perf_counter()
            drawer._compute()
            bands[rows].append(time.perf_counter() - started)
            started = time.perf_counter()
            for runs in drawer.groups.values():
                group_band({run: raw[run] for run in runs}, 0.0, rows - 1.0, WIDTH)
            anchor[rows].append(time.perf_counter() - started)
    print(f"load average {os.getloadavg()[0]:.2f}; {RUNS} runs, width {WIDTH}, {rounds} rounds")
    base = statistics.median(bands[SIZES[0]])
    for rows in SIZES:
        got, raw_cost = statistics.median(bands[rows]), statistics.median(anchor[rows])
        print(
            f"{rows:>9,} rows/run: recompute {got * 1e3:7.2f} ms "
            f"({got / base:4.1f}x the smallest), every raw row {raw_cost * 1e3:8.2f} ms"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
