"""The producer of the level-of-detail browser tests (tests/ui/test_lod_lines.py), run inside
`panel serve` (`--producer tests/lod_producer.py:million_rows`).

Each run of RUNS gets ROWS rows of `metrics` (step, value) in big batches at once; then the
run stays still until the test creates its gate file (STREAMVIS_TEST_GATES/<run>), and from
then on gets TRICKLE rows every TRICKLE_SECONDS (the newest step written is in <run>.newest).
A test opens its page while its runs are still, so the first view is of exactly ROWS rows."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

import streamvis as sv

ROWS = 1_000_000
BATCH = 100_000
RUNS = ("a", "b", "c")
TRICKLE = 20
TRICKLE_SECONDS = 0.05
PERIOD = 200_000.0


def values(run: str, steps: np.ndarray) -> np.ndarray:
    """`value` of `run` at `steps`: a slow sine plus a small saw tooth (so every pixel
    column has its own min and max), between -1 and 1.4, NaN every 997th step; each run is
    shifted so compared runs differ."""
    shift = RUNS.index(run) * 0.5
    wave = np.sin(2 * np.pi * steps / PERIOD + shift) + 0.1 * (steps % 5)
    return np.where(steps % 997 == 13, np.nan, wave)


def write(run: str, start: int, stop: int) -> None:
    steps = np.arange(start, stop, dtype=np.int64)
    sv.stream("metrics", {"step": steps, "value": values(run, steps)}, run=run)


def million_rows() -> None:
    """ROWS rows per run at once, then TRICKLE rows per run every TRICKLE_SECONDS once the
    run's gate file exists."""
    gates = Path(os.environ["STREAMVIS_TEST_GATES"])
    for run in RUNS:
        for start in range(0, ROWS, BATCH):
            write(run, start, min(start + BATCH, ROWS))
    (gates / "written").touch()
    steps = dict.fromkeys(RUNS, ROWS)  # each run's next step: its rows stay contiguous
    while True:
        time.sleep(TRICKLE_SECONDS)
        for run in RUNS:
            if (gates / run).exists():
                write(run, steps[run], steps[run] + TRICKLE)
                steps[run] += TRICKLE
                newest = gates / f"{run}.newest"
                newest.with_suffix(".tmp").write_text(str(steps[run] - 1))
                newest.with_suffix(".tmp").replace(newest)  # never read half written
