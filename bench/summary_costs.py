"""What the level-of-detail summary (core/summary.py) costs: appends with it vs without it,
and the time of one view as the rows held grow.

    python bench/summary_costs.py            # both tables
    python bench/summary_costs.py append     # or one of them: append, view

`append_cost` and `view_cost` are plain functions another bench can import and time.
"Without" replaces `Table._fold` and `Table._fold_soon` (a write's request to the background
folder, core/folder.py) by no-ops in this process (nothing else changes: the one int
comparison per write stays), and the two are interleaved so load from other processes hits
both alike; appends are timed in CPU time of this process (`time.process_time`, every
thread: the folder's work counts, waited for before the clock is read), so other processes
on a shared machine inflate them less; views in wall time.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from streamvis.core.folder import FOLDER
from streamvis.core.hub import Hub
from streamvis.core.lod import ARRIVAL
from streamvis.core.table import Table

COLUMNS = ("step", "loss", "acc", "lr")


def append_cost(batch_rows: int, rows: int = 200_000) -> float:
    """Seconds per row of `rows` rows written through `Hub.stream` in batches of
    `batch_rows` (1: scalar dicts, the fast path; more: dicts of numpy columns)."""
    hub = Hub(retain=max(rows, 1) + batch_rows)
    if batch_rows == 1:
        hub.stream("s", {"step": 0, "loss": 0.0, "acc": 0.0, "lr": 0.0})
        start = time.process_time()
        for step in range(rows):
            hub.stream("s", {"step": step, "loss": 0.5, "acc": 0.9, "lr": 1e-3})
        FOLDER.wait_idle(600)
        return (time.process_time() - start) / rows
    rng = np.random.default_rng(0)
    data = {name: rng.random(batch_rows) for name in COLUMNS}
    data["step"] = np.arange(batch_rows)
    hub.stream("s", data)
    writes = rows // batch_rows
    start = time.process_time()
    for _ in range(writes):
        hub.stream("s", data)
    FOLDER.wait_idle(600)
    return (time.process_time() - start) / (writes * batch_rows)


def without_summary(run: Callable[[], float]) -> float:
    """`run()` with the summary never folded."""
    fold, fold_soon = Table._fold, Table._fold_soon
    Table._fold = lambda self: None  # type: ignore[method-assign]
    Table._fold_soon = lambda self: None  # type: ignore[method-assign]
    try:
        return run()
    finally:
        Table._fold, Table._fold_soon = fold, fold_soon  # type: ignore[method-assign]


def filled_table(rows: int, seed: int = 1) -> Table:
    """A stream of `rows` rows (step, loss with 1% NaN, acc), written 100,000 at a time."""
    rng = np.random.default_rng(seed)
    hub = Hub(retain=rows)
    for first in range(0, rows, 100_000):
        count = min(100_000, rows - first)
        loss = rng.normal(size=count)
        loss[rng.random(count) < 0.01] = np.nan
        hub.stream(
            "s", {"step": np.arange(first, first + count), "loss": loss, "acc": rng.random(count)}
        )
    table = hub.table("default", "s")
    assert table is not None
    return table


def view_cost(table: Table, lo: float | None, hi: float | None, x: str = "step") -> float:
    """Seconds for one view of `loss` at 1,600 pixel columns (raw below 6,400 rows)."""
    start = time.perf_counter()
    table.view(x, ["loss"], lo, hi, 1600, 6400)
    return time.perf_counter() - start


def append_table(repeats: int = 7) -> None:
    print(
        f"{'append, 4 numeric columns':34} {'with':>9} {'without':>9} {'added':>7}",
        f" (best of {repeats})",
    )
    for batch_rows, unit, scale in (
        (1, "us/row", 1e6),
        (1_000, "ns/row", 1e9),
        (10_000, "ns/row", 1e9),
    ):
        rows = 100_000 if batch_rows == 1 else 1_000_000
        with_, without = [], []
        for _ in range(repeats):
            with_.append(append_cost(batch_rows, rows))
            without.append(without_summary(partial(append_cost, batch_rows, rows)))
        best_with, best_without = min(with_) * scale, min(without) * scale
        label = "single rows (scalar dict)" if batch_rows == 1 else f"{batch_rows:,}-row batches"
        added = (best_with / best_without - 1) * 100
        print(f"{label:28} {unit:>6} {best_with:9.2f} {best_without:9.2f} {added:6.1f}%")


def view_table(sizes: tuple[int, ...] = (100_000, 1_000_000, 10_000_000), views: int = 40) -> None:
    print(
        f"{'rows':>11} {'whole p50':>10} {'p95':>7} {'random p50':>11} {'p95':>7}",
        f"{'arrival p50':>12} {'summary':>12}",
    )
    rng = np.random.default_rng(2)
    for rows in sizes:
        table = filled_table(rows)
        view_cost(table, None, None)  # folds the rows written since the last fold
        whole = [view_cost(table, None, None) for _ in range(views)]
        ranges = [np.sort(rng.uniform(0, rows, 2)) for _ in range(views)]
        random = [view_cost(table, float(a), float(b)) for a, b in ranges]
        arrival = [view_cost(table, None, None, ARRIVAL) for _ in range(views // 4)]
        cells = []
        for times in (whole, random):
            cells += [statistics.median(times) * 1e3, float(np.percentile(times, 95)) * 1e3]
        cells.append(statistics.median(arrival) * 1e3)
        per_row = table._summary.nbytes / rows
        print(
            f"{rows:11,} {cells[0]:9.1f}ms {cells[1]:5.1f}ms {cells[2]:10.1f}ms {cells[3]:5.1f}ms "
            f"{cells[4]:11.1f}ms {per_row:7.2f} B/row"
        )


if __name__ == "__main__":
    wanted = sys.argv[1:] or ["append", "view"]
    if "append" in wanted:
        append_table()
    if "view" in wanted:
        view_table()
