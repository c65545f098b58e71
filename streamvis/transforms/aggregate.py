"""Exact group-by aggregates kept up to date with new rows only.

A bar, row or ring chart shows one number per category (count, sum, mean, min or max of a
value column). Each browser session folds every new row into running per-category totals,
so a tick costs time for the new rows, not for all rows seen; a replace or clear starts
over. Categories keep the order they first appeared in, which also fixes their colors.
No Panel or HoloViews here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

AGGS = ("count", "sum", "mean", "min", "max")
SORTS = ("value", "name", "first")


class GroupAggregate:
    """Running count, sum, min and max of `value` per category of `by`."""

    def __init__(self, by: str, value: str | None) -> None:
        self.by = by
        self.value = value
        self.reset()

    def reset(self) -> None:
        self.order: list[Any] = []  # categories in order of first appearance
        self.count: dict[Any, int] = {}
        self.sum: dict[Any, float] = {}
        self.min: dict[Any, float] = {}
        self.max: dict[Any, float] = {}

    def add(self, batch: dict[str, np.ndarray]) -> None:
        """Fold new rows in. Rows whose category or value is missing are not counted."""
        keys = batch[self.by]
        values = np.asarray(batch[self.value], dtype=float) if self.value else np.ones(len(keys))
        frame = pd.DataFrame({"key": keys, "value": values})
        frame = frame[frame["key"].notna() & np.isfinite(frame["value"].to_numpy())]
        if frame.empty:
            return
        grouped = frame.groupby("key", sort=False)["value"].agg(["count", "sum", "min", "max"])
        for key, count, total, low, high in grouped.itertuples():
            if key not in self.count:
                self.order.append(key)
                self.count[key], self.sum[key] = 0, 0.0
                self.min[key], self.max[key] = low, high
            self.count[key] += int(count)
            self.sum[key] += float(total)
            self.min[key] = min(self.min[key], low)
            self.max[key] = max(self.max[key], high)

    def values(self, agg: str) -> list[float]:
        """The aggregate of every category, in first-seen order."""
        if agg == "count":
            return [float(self.count[k]) for k in self.order]
        if agg == "sum":
            return [self.sum[k] for k in self.order]
        if agg == "mean":
            return [self.sum[k] / self.count[k] for k in self.order]
        if agg == "min":
            return [self.min[k] for k in self.order]
        if agg == "max":
            return [self.max[k] for k in self.order]
        raise ValueError(f"agg must be one of {', '.join(AGGS)}, not {agg!r}")

    def table(self, agg: str, sort: str = "value") -> pd.DataFrame:
        """Columns `category`, `value` and `rank` (first-seen index, for stable colors),
        sorted by value (largest first), by name, or in first-seen order."""
        frame = pd.DataFrame(
            {
                "category": [str(k) for k in self.order],
                "value": self.values(agg),
                "rank": np.arange(len(self.order), dtype=float),
            }
        )
        if sort == "value":
            frame = frame.sort_values("value", ascending=False, kind="stable")
        elif sort == "name":
            frame = frame.sort_values("category", kind="stable")
        return frame.reset_index(drop=True)
