"""The producer of the hover browser tests (tests/ui/test_hover.py), run inside `panel serve`
(`--producer tests/hover_producer.py:write_runs`).

Runs a and b get ROWS rows of `metrics` (step, loss, acc) at steps 0, 10, 20 ... (the last
near 2e6, so the x axis reaches millions and a view of the whole run is downsampled), and a
few rows of `years` (year, score) for a table. Then the producer stops: values never move,
so a test can compute every raw row."""

from __future__ import annotations

import numpy as np

import streamvis as sv

ROWS = 200_000
STEP = 10
RUNS = ("a", "b")


def loss(run: str, steps: np.ndarray) -> np.ndarray:
    """From about 1.4 down to about 0.005 (a log axis spans 0.01 and 0.1), a small saw
    tooth so every row differs; run b a little above run a."""
    scale = 1.0 + 0.25 * RUNS.index(run)
    return scale * (1.4 * np.exp(-steps / 350_000.0) + 0.004 + 0.001 * (steps % 7))


def acc(run: str, steps: np.ndarray) -> np.ndarray:
    return 1.0 - loss(run, steps) / 2.0


def write_runs() -> None:
    for run in RUNS:
        steps = np.arange(ROWS, dtype=np.int64) * STEP
        sv.stream(
            "metrics", {"step": steps, "loss": loss(run, steps), "acc": acc(run, steps)}, run=run
        )
        years = np.array([2012, 2013, 2014], dtype=np.int64)
        sv.stream("years", {"year": years, "score": np.array([0.5, 0.25, 1234567.5])}, run=run)
