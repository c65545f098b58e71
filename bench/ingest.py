"""Ingest speed of the in-process path: `sv.stream` per sample and per batch.

    python bench/ingest.py            # prints a table; targets from issue 2 in the last column

Targets (2-core machine): <= 3 us per scalar-dict sample of 4 numbers; >= 10 million rows/s
for 10,000-row numpy batches.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

import streamvis as sv
from streamvis.core.hub import Hub

REPEATS = 5


def best_of(run: Callable[[], float]) -> tuple[float, float]:
    """Best and median of REPEATS runs (seconds per unit of work)."""
    results = [run() for _ in range(REPEATS)]
    return min(results), statistics.median(results)


def scalar_rows(calls: int = 200_000) -> float:
    sv.clear()
    sv.stream("scalar", {"step": 0, "loss": 0.0, "acc": 0.0, "lr": 0.0})
    start = time.perf_counter()
    for step in range(calls):
        sv.stream("scalar", {"step": step, "loss": 0.5, "acc": 0.9, "lr": 1e-3})
    return (time.perf_counter() - start) / calls


def scalar_rows_with_reader(calls: int = 200_000) -> float:
    """Same, while a subscriber drains the stream every 2,000 rows (a page open)."""
    hub = Hub()
    subscription = hub.subscribe("scalar", limit=10_000)
    hub.stream("scalar", {"step": 0, "loss": 0.0, "acc": 0.0, "lr": 0.0})
    start = time.perf_counter()
    for step in range(calls):
        hub.stream("scalar", {"step": step, "loss": 0.5, "acc": 0.9, "lr": 1e-3})
        if step % 2_000 == 0:
            subscription.poll()
    return (time.perf_counter() - start) / calls


def batches(
    make: Callable[[int], object],
    batch_rows: int = 10_000,
    count: int = 300,
    columns: list[str] | None = None,
) -> float:
    hub = Hub()
    data = make(batch_rows)
    hub.stream("batch", data, columns=columns)
    start = time.perf_counter()
    for _ in range(count):
        hub.stream("batch", data, columns=columns)
    return (time.perf_counter() - start) / (count * batch_rows)


def main() -> None:
    rng = np.random.default_rng(0)
    names = ["step", "loss", "acc", "lr"]
    rows = [
        ("sv.stream scalar dict (4 numbers)", "us/call", 1e6, scalar_rows, "<= 3 us"),
        ("Hub.stream scalar dict, page reading", "us/call", 1e6, scalar_rows_with_reader, ""),
        (
            "10k-row dict of 4 numpy columns",
            "Mrows/s",
            None,
            lambda: batches(lambda n: {k: rng.random(n) for k in names}),
            ">= 10 Mrows/s",
        ),
        (
            "10k-row 2-D array, columns=",
            "Mrows/s",
            None,
            lambda: batches(lambda n: rng.random((n, 4)), columns=names),
            ">= 10 Mrows/s",
        ),
        (
            "10k-row DataFrame",
            "Mrows/s",
            None,
            lambda: batches(lambda n: pd.DataFrame({k: rng.random(n) for k in names})),
            "",
        ),
    ]
    print(
        f"streamvis {sv.__version__} ingest, Python {platform.python_version()}, "
        f"numpy {np.__version__}, {platform.machine()}, best/median of {REPEATS}"
    )
    print(f"{'case':40} {'best':>10} {'median':>10}  {'unit':8} target")
    for label, unit, scale, run, target in rows:
        best, median = best_of(run)
        if scale is None:  # seconds per row -> million rows per second
            shown = (1e-6 / median, 1e-6 / best)
            best_value, median_value = max(shown), min(shown)
        else:
            best_value, median_value = best * scale, median * scale
        print(f"{label:40} {best_value:10.2f} {median_value:10.2f}  {unit:8} {target}")


if __name__ == "__main__":
    main()
