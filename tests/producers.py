"""Deterministic producers run inside `panel serve` by the server and browser tests
(`--producer tests/producers.py:NAME`). Values are functions of the step so a test can
check exactly what reached the page."""

from __future__ import annotations

import math
import time

import numpy as np

import streamvis as sv

CLOUD_POINTS = 200


def metric_a(step: int) -> float:
    return math.sin(step / 10)


def counting(delay: float = 0.02) -> None:
    """`metrics`: a row per step; `cloud`: replaced every 12 steps by 200 points whose y is
    the replacement number."""
    step = 0
    generation = 0
    while True:
        sv.stream("metrics", {"step": step, "a": metric_a(step), "b": step * 0.5})
        if step % 12 == 0:
            generation += 1
            sv.stream(
                "cloud",
                {
                    "x": np.arange(float(CLOUD_POINTS)),
                    "y": np.full(CLOUD_POINTS, float(generation)),
                },
                mode="replace",
            )
        step += 1
        time.sleep(delay)
