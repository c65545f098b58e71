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


OTHER_RUN_ROWS = 20


def other_value(step: int) -> float:
    return step * 3.0 + 1.0


def other_run(delay: float = 0.05) -> None:
    """`metrics` of run 'other' gets OTHER_RUN_ROWS rows valued `other_value(step)`; run
    'default' gets rows valued -1, so a page can show which run it reads."""
    for step in range(OTHER_RUN_ROWS):
        sv.stream("metrics", {"step": step, "a": other_value(step)}, run="other")
        sv.stream("metrics", {"step": step, "a": -1.0})
    while True:
        time.sleep(delay)


FAILURE_MESSAGE = "producer failed on purpose"


def failing() -> None:
    """Writes one row, then raises: the server must log it and keep serving."""
    sv.stream("metrics", {"step": 0, "a": 1.0})
    raise RuntimeError(FAILURE_MESSAGE)


def tagged(delay: float = 0.02) -> None:
    """`tagged`: step, v = metric_a(step), tag = 't<step % 3>' every `delay` seconds."""
    step = 0
    while True:
        sv.stream("tagged", {"step": step, "v": metric_a(step), "tag": f"t{step % 3}"})
        step += 1
        time.sleep(delay)


CLUSTERS = {"a": 50, "b": 30}


def clusters() -> None:
    """`clusters`: 50 points of kind 'a' near (0, 0) and 30 of kind 'b' near (10, 10), once."""
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.normal(0, 0.2, CLUSTERS["a"]), rng.normal(10, 0.2, CLUSTERS["b"])])
    ys = np.concatenate([rng.normal(0, 0.2, CLUSTERS["a"]), rng.normal(10, 0.2, CLUSTERS["b"])])
    kinds = ["a"] * CLUSTERS["a"] + ["b"] * CLUSTERS["b"]
    sv.stream("clusters", {"x": xs, "y": ys, "kind": kinds})
    while True:
        time.sleep(1)


PURCHASE_NAMES = ("Ann", "Bob", "Cy <b>", "Dee")
PURCHASE_YEARS = (2011, 2012, 2013, 2014)
ATTENTION_SHAPE = (6, 8)


def purchase(index: int) -> dict[str, object]:
    """Purchase number `index`: Name and Year cycle, Spent = 10 + index % 7."""
    return {
        "Name": PURCHASE_NAMES[index % len(PURCHASE_NAMES)],
        "Year": PURCHASE_YEARS[index % 3 if index < 6 else index % len(PURCHASE_YEARS)],
        "Spent": 10.0 + index % 7,
        "payType": ("cash", "visa")[index % 2],
    }


def attention(generation: int) -> np.ndarray:
    """The ATTENTION_SHAPE matrix of replacement `generation`: 100 * generation plus the
    cell's row-major position."""
    rows, cols = ATTENTION_SHAPE
    return np.arange(rows * cols, dtype=float).reshape(rows, cols) + 100.0 * generation


def purchases_and_matrix(delay: float = 0.05) -> None:
    """`purchases`: one `purchase(index)` per `delay` (year 2014 first appears at index 7);
    `attn`: `attention(generation)` written in replace mode every 10 purchases, as a
    DataFrame whose columns are "0" .. "7"."""
    import pandas as pd

    index = 0
    while True:
        sv.stream("purchases", purchase(index))
        if index % 10 == 0:
            sv.stream("attn", pd.DataFrame(attention(index // 10)), mode="replace")
        index += 1
        time.sleep(delay)


TUTORIAL_NAMES = np.array(["Ben", "Aziz", "Vijay", "Jarrod"], dtype=object)
TUTORIAL_PAYS = np.array(["cash", "visa", "tab", "amex", "debit"], dtype=object)
MILLION = 1_000_000


def tutorial_purchases(rows: int = MILLION, seed: int = 13) -> dict[str, np.ndarray]:
    """The crossfilter tutorial's shape at scale (4 years x 4 names x 5 pay types, Spent
    10..600), the same for the same arguments: a test recomputes it with pandas."""
    rng = np.random.default_rng(seed)
    return {
        "Year": rng.integers(2012, 2016, rows),
        "Name": TUTORIAL_NAMES[rng.integers(0, len(TUTORIAL_NAMES), rows)],
        "payType": TUTORIAL_PAYS[rng.integers(0, len(TUTORIAL_PAYS), rows)],
        "Spent": rng.integers(10, 601, rows).astype(float),
    }


SOME_PURCHASES = 20_000


def some_purchases() -> None:
    """`purchases`: `tutorial_purchases(SOME_PURCHASES)` in one batch, once."""
    sv.stream("purchases", tutorial_purchases(SOME_PURCHASES))
    while True:
        time.sleep(1)


def million_purchases(batch: int = 200_000) -> None:
    """`purchases`: `tutorial_purchases()` in numpy batches of `batch` rows, once."""
    rows = tutorial_purchases()
    for start in range(0, MILLION, batch):
        sv.stream(
            "purchases", {name: values[start : start + batch] for name, values in rows.items()}
        )
    while True:
        time.sleep(1)
