"""Cost of one page refresh tick, to show it follows the new rows, not the rows kept.

    python bench/tick.py

A session with one two-line plot (points: 10,000) is rendered into a Bokeh document; the
hub already holds N rows; each tick moves `new` fresh rows through the subscription, the
HoloViews Buffer and the Bokeh data source (no browser attached).
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from bokeh.document import Document

import streamvis as sv
from streamvis.core.hub import Hub

LAYOUT = {
    "plots": [
        {
            "id": "loss",
            "kind": "line",
            "stream": "loss",
            "x": "step",
            "y": ["train", "val"],
            "at": [0, 0, 1, 1],
        }
    ]
}

THREE_PLOTS = {
    "plots": [
        {
            "id": f"p{i}",
            "kind": "line",
            "stream": "loss",
            "x": "step",
            "y": ["train", "val"],
            "at": [0, i, 1, 1],
        }
        for i in range(3)
    ]
}


def tick_ms(kept: int, new: int, layout: dict = LAYOUT, ticks: int = 50) -> float:
    hub = Hub()
    hub.stream(
        "loss",
        {"step": np.arange(kept), "train": np.random.rand(kept), "val": np.random.rand(kept)},
    )
    page = sv.dashboard(layout, hub=hub, start=False)
    document = Document()
    document.add_root(page.view.get_root(document))
    session = page.session
    session.document = document  # what LiveSession.start does in a served page
    session.tick()  # first draw: the newest 10,000 rows
    step = kept
    timings = []
    for _ in range(ticks):
        hub.stream(
            "loss",
            {
                "step": np.arange(step, step + new),
                "train": np.random.rand(new),
                "val": np.random.rand(new),
            },
        )
        step += new
        start = time.perf_counter()
        session.tick()
        timings.append(time.perf_counter() - start)
    session.close()
    return statistics.median(timings) * 1e3


def main() -> None:
    print(f"{'plots':>5} {'rows kept':>10} {'new rows/tick':>14} {'median ms/tick':>15}")
    for kept in (10_000, 1_000_000):
        for new in (1, 10, 1_000):
            print(f"{1:>5} {kept:>10,} {new:>14,} {tick_ms(kept, new):>15.2f}")
    print(f"{3:>5} {10_000:>10,} {10:>14,} {tick_ms(10_000, 10, THREE_PLOTS):>15.2f}")


if __name__ == "__main__":
    main()
