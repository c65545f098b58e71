"""Cost of one page refresh tick, next to a raw Bokeh `ColumnDataSource.stream` of the same rows.

    python bench/tick.py

A session with line plots is rendered into a Bokeh document (no browser attached); the hub
already holds N rows; each tick moves `new` fresh rows per stream through the session into
the Bokeh data sources. The anchor, timed in the same loop (alternating tick by tick), is
what a hand-made Bokeh app does per update: one `stream` call per line's data source in a
document holding the same number of plots. The 12-plot case is 12 streams at 1,000 rows/s
each with a 50 ms tick (50 new rows per stream per tick): its p95 must stay under 50 ms.
"""

from __future__ import annotations

import time

import numpy as np
from bokeh.document import Document
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

import streamvis as sv
from streamvis.core.hub import Hub


def layout(plots: int, streams: int) -> dict:
    """`plots` two-line plots (train, val against step) over `streams` streams."""
    return {
        "plots": [
            {
                "id": f"p{i}",
                "kind": "line",
                "stream": f"s{i % streams}",
                "x": "step",
                "y": ["train", "val"],
                "at": [i // 4, i % 4, 1, 1],
            }
            for i in range(plots)
        ]
    }


def rows(start: int, count: int) -> dict[str, np.ndarray]:
    return {
        "step": np.arange(start, start + count),
        "train": np.random.rand(count),
        "val": np.random.rand(count),
    }


def raw_bokeh(plots: int) -> tuple[Document, list[ColumnDataSource]]:
    """The anchor: a document of `plots` figures with two streamed lines each."""
    document = Document()
    sources = []
    for _ in range(plots):
        plot = figure()
        for column in ("train", "val"):
            source = ColumnDataSource({"step": np.empty(0), column: np.empty(0)})
            plot.line("step", column, source=source)
            sources.append(source)
        document.add_root(plot)
    return document, sources


def measure(kept: int, new: int, plots: int = 1, streams: int = 1, ticks: int = 60) -> dict:
    """Median and p95 ms of a streamvis tick and of the raw Bokeh update, interleaved."""
    hub = Hub()
    for index in range(streams):
        hub.stream(f"s{index}", rows(0, kept))
    page = sv.dashboard(layout(plots, streams), hub=hub, start=False)
    document = Document()
    document.add_root(page.view.get_root(document))
    session = page.session
    session.document = document  # what LiveSession.start does in a served page
    session.tick()  # first draw: the whole run
    session.tick()
    _, sources = raw_bokeh(plots)
    step = kept
    ours, anchor = [], []
    for _ in range(ticks):
        for index in range(streams):
            hub.stream(f"s{index}", rows(step, new))
        start = time.perf_counter()
        session.tick()
        ours.append(time.perf_counter() - start)
        batch = rows(step, new)
        start = time.perf_counter()
        for source in sources:
            column = "train" if "train" in source.data else "val"
            source.stream({"step": batch["step"], column: batch[column]}, 10_000)
        anchor.append(time.perf_counter() - start)
        step += new
    session.close()
    return {
        "ours": np.median(ours) * 1e3,
        "ours_p95": np.percentile(ours, 95) * 1e3,
        "anchor": np.median(anchor) * 1e3,
        "anchor_p95": np.percentile(anchor, 95) * 1e3,
    }


def main() -> None:
    print(
        f"{'plots':>5} {'rows kept':>10} {'new rows/tick':>14} {'ms/tick':>8} {'p95':>7} "
        f"{'raw Bokeh':>9} {'p95':>7} {'x raw':>6}"
    )
    cases = [
        (1, 1, 10_000, 1),
        (1, 1, 10_000, 10),
        (1, 1, 1_000_000, 1),
        (1, 1, 1_000_000, 50),
        (3, 1, 10_000, 10),
        (12, 12, 100_000, 50),
    ]
    for plots, streams, kept, new in cases:
        r = measure(kept, new, plots, streams)
        print(
            f"{plots:>5} {kept:>10,} {new:>14,} {r['ours']:>8.2f} {r['ours_p95']:>7.2f} "
            f"{r['anchor']:>9.2f} {r['anchor_p95']:>7.2f} {r['ours'] / r['anchor']:>6.1f}"
        )


if __name__ == "__main__":
    main()
