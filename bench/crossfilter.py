"""What a crossfilter costs: a selection change (rebuilds the other charts from every row
of the group) and new rows arriving under an active filter (folded in, proportional to
the new rows), at 100k and 1M rows.

    python bench/crossfilter.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from streamvis.kinds.bar import BarState
from streamvis.layout.spec import load_layout
from streamvis.transforms.crossfilter import Crossfilter, Selection

LAYOUT = {
    "plots": [
        {
            "id": "years",
            "kind": "bar",
            "stream": "p",
            "by": "year",
            "value": "spent",
            "agg": "sum",
            "crossfilter": "g",
            "at": [0, 0, 1, 1],
        },
        {
            "id": "names",
            "kind": "row",
            "stream": "p",
            "by": "name",
            "value": "spent",
            "agg": "sum",
            "crossfilter": "g",
            "at": [0, 1, 1, 1],
        },
        {
            "id": "pays",
            "kind": "bar",
            "stream": "p",
            "by": "pay",
            "crossfilter": "g",
            "at": [1, 0, 1, 1],
        },
    ]
}


def purchases(rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "year": rng.choice(np.array(["2012", "2013", "2014", "2015"], dtype=object), rows),
        "name": rng.choice(np.array([f"person{i}" for i in range(50)], dtype=object), rows),
        "pay": rng.choice(np.array(["cash", "visa", "tab"], dtype=object), rows),
        "spent": rng.integers(1, 500, rows).astype(float),
    }


def group_with(rows: int) -> tuple[Crossfilter, dict[str, BarState]]:
    rng = np.random.default_rng(0)
    group = Crossfilter("g")
    states = {}
    for plot in load_layout(LAYOUT).plots:
        states[plot.id] = BarState(plot)
        states[plot.id].group = group
        group.join(plot.id, states[plot.id])
    group.ingest(purchases(rows, rng), reset=True)
    return group, states


def timed(action, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    print(f"{'rows':>10} {'select (ms)':>12} {'clear (ms)':>11} {'+100 rows filtered (ms)':>24}")
    for rows in (100_000, 1_000_000):
        group, states = group_with(rows)
        one_year = Selection("year", frozenset({"2014"}))
        select = timed(lambda g=group, s=one_year: g.select("years", s))
        clear = timed(lambda g=group: g.select("years", None))
        group.select("years", one_year)
        rng = np.random.default_rng(1)
        counter = iter(range(10**9))
        fold = timed(
            lambda g=group, r=rng, c=counter: g.ingest(
                purchases(100, r), False, (0, next(c), False)
            ),
            repeats=50,
        )
        print(f"{rows:>10,} {select:>12.1f} {clear:>11.1f} {fold:>24.2f}")


if __name__ == "__main__":
    main()
