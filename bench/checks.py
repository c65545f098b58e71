"""What the up-front checks of issue 9 cost: normalize with them against normalize without.

    python bench/checks.py

The checks (text storable as UTF-8, integers inside int64, no bytes) run before a batch
touches memory, so a refused write is in neither memory nor the store. The anchor is the
same normalize call with the checks replaced by no-ops, interleaved in the same run.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import streamvis.core.normalize as normalize_module
from streamvis.core.normalize import normalize

ROWS = 10_000
ROUNDS = 7


def batches() -> dict[str, Any]:
    """Producer-shaped inputs: JSON-like lists (what HTTP delivers) and numpy columns."""
    rng = np.random.default_rng(0)
    words = [f"naïve-{i}" for i in range(ROWS)]
    return {
        "list of row dicts (int, float, text)": [
            {"step": i, "v": float(x), "tag": words[i]} for i, x in enumerate(rng.random(ROWS))
        ],
        "dict of lists (int, float, ASCII text)": {
            "step": list(range(ROWS)),
            "v": rng.random(ROWS).tolist(),
            "tag": [f"t{i}" for i in range(ROWS)],
        },
        "dict of numpy columns (int, float)": {
            "step": np.arange(ROWS),
            "v": rng.random(ROWS),
        },
    }


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def without_checks() -> Callable[[], None]:
    """Replace the checks by no-ops; returns the function that puts them back."""
    saved = (
        normalize_module.check_text,
        normalize_module._check_int_range,
        normalize_module._may_hold_big_ints,
    )
    normalize_module.check_text = lambda values, where: None
    normalize_module._check_int_range = lambda values, where: None
    normalize_module._may_hold_big_ints = lambda array: False

    def restore() -> None:
        (
            normalize_module.check_text,
            normalize_module._check_int_range,
            normalize_module._may_hold_big_ints,
        ) = saved

    return restore


def main() -> None:
    print(f"streamvis up-front checks, Python {platform.python_version()}, {ROWS} rows")
    print(f"{'input':42} {'checked ms':>11} {'unchecked ms':>13} {'ratio':>6}")
    for name, data in batches().items():
        checked, unchecked = [], []
        for _ in range(ROUNDS):  # interleaved: the machine's load hits both alike
            checked.append(timed(lambda data=data: normalize(data)))
            restore = without_checks()
            try:
                unchecked.append(timed(lambda data=data: normalize(data)))
            finally:
                restore()
        a, b = statistics.median(checked) * 1e3, statistics.median(unchecked) * 1e3
        print(f"{name:42} {a:11.2f} {b:13.2f} {a / b:6.2f}")


if __name__ == "__main__":
    main()
