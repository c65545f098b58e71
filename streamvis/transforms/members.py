"""The summaries crossfilter members keep per session, over the group's shared encodings.

`Tally`: per category code (or histogram bin) the count, sum, min and max of a value column
over the rows a mask lets through, by np.bincount (a few vectorised passes; new rows are
added, rows leaving memory make the group recompute). `RowsState`: the newest rows passing
the other members' selections, read back from the hub table. No Panel or HoloViews here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamvis.transforms.crossfilter import Crossfilter, Selection
from streamvis.transforms.encodings import Encodings, Need


class Tally:
    """Count, sum, min and max of `value` (None: count rows) per code of an integer code
    array; code 0 (a missing category or non-finite number) is never counted. Rows whose
    value is not finite are not counted either."""

    def __init__(self, value: str | None, extremes: bool) -> None:
        self.value = value
        self.extremes = extremes  # min and max are wanted (they cost a slower pass)
        self.count: np.ndarray = np.zeros(1, dtype=np.int64)
        self.sum: np.ndarray = np.zeros(1)
        self.min: np.ndarray = np.full(1, np.nan)
        self.max: np.ndarray = np.full(1, np.nan)

    def needs(self) -> list[Need]:
        return [Need("numbers", self.value)] if self.value else []

    def add(
        self,
        codes: np.ndarray,
        size: int,
        encodings: Encodings,
        start: int,
        mask: np.ndarray | None,
        reset: bool,
    ) -> None:
        """Add rows `start` .. of `codes` (`mask` covering those rows), or with `reset` start
        over from them; `size` is the number of codes (categories + 1). Rows a mask drops
        are moved to code 0, so each sum is one bincount over all rows."""
        values = None
        if self.value is not None:
            values = encodings.numbers[self.value].values[start : start + len(codes)]
            if not encodings.finite.get(self.value, False):  # rows without a value not counted
                finite = np.isfinite(values)
                mask = finite if mask is None else finite & mask
                values = np.where(finite, values, 0.0)
        if mask is not None:
            codes = codes * mask
        count = _counts(codes, size)
        total = np.bincount(codes, weights=values, minlength=size) if values is not None else None
        if reset:
            self.count = count.astype(np.int64)
            self.sum = total if total is not None else count.astype(float)
            self.min, self.max = np.full(size, np.nan), np.full(size, np.nan)
        else:
            self.count = _grown(self.count, size) + count
            self.sum = _grown(self.sum, size) + (total if total is not None else count)
            self.min, self.max = _grown(self.min, size, np.nan), _grown(self.max, size, np.nan)
        if self.extremes and values is not None and len(codes):
            chosen, seen = codes[codes > 0], values[codes > 0]
            low, high = np.full(size, np.inf), np.full(size, -np.inf)
            np.minimum.at(low, chosen, seen)
            np.maximum.at(high, chosen, seen)
            self.min = np.fmin(self.min, np.where(np.isinf(low), np.nan, low))
            self.max = np.fmax(self.max, np.where(np.isinf(high), np.nan, high))

    def values(self, agg: str) -> np.ndarray:
        """The aggregate per code (index 0 unused): count and sum 0 where nothing counts,
        mean, min and max NaN there."""
        if agg == "count":
            return self.count.astype(float)
        if agg == "sum":
            return self.sum
        if agg == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(self.count > 0, self.sum / np.maximum(self.count, 1), np.nan)
        if agg == "min":
            return self.min
        if agg == "max":
            return self.max
        raise ValueError(f"agg must be count, sum, mean, min or max, not {agg!r}")


FEW_CODES = 40  # up to this many one-byte codes, a comparison per code beats np.bincount


def _counts(codes: np.ndarray, size: int) -> np.ndarray:
    """How many rows hold each code 0 .. size - 1."""
    if codes.dtype != np.uint8 or size > FEW_CODES:
        return np.bincount(codes, minlength=size)
    counts = np.zeros(size, dtype=np.int64)
    for code in range(1, size):
        counts[code] = np.count_nonzero(codes == code)
    counts[0] = len(codes) - counts[1:].sum()
    return counts


def _grown(values: np.ndarray, size: int, fill: float = 0) -> np.ndarray:
    if len(values) >= size:
        return values
    return np.concatenate([values, np.full(size - len(values), fill, dtype=values.dtype)])


class CategoryMember:
    """A bar, row, ring or pie chart in a group: the `agg` of `value` per category of `by`."""

    def __init__(self, by: str, value: str | None, agg: str) -> None:
        self.column = by
        self.tally = Tally(value, extremes=agg in ("min", "max"))

    def needs(self) -> list[Need]:
        return [Need("codes", self.column), *self.tally.needs()]

    def _add(self, group: Crossfilter, start: int, mask: np.ndarray | None, reset: bool) -> None:
        encodings = group.encodings
        assert encodings is not None
        categories = encodings.categories[self.column]
        codes = categories.codes.values[start:]
        self.tally.add(codes, len(categories.names) + 1, encodings, start, mask, reset)

    def recompute(self, group: Crossfilter, mask: np.ndarray | None) -> None:
        self._add(group, 0, mask, reset=True)

    def fold(self, group: Crossfilter, start: int, mask: np.ndarray | None) -> None:
        self._add(group, start, mask, reset=False)


class RowsState:
    """A group member that draws rows (table, line, scatter): the newest `keep` rows
    passing the other members' selections. `column` (and `also`) are what its own range
    selection filters on (empty: it filters nothing)."""

    def __init__(self, plot: Any, keep: int, column: str = "", also: str = "") -> None:
        self.plot = plot
        self.keep = keep
        self.column = column
        self.ranged = [name for name in (column, also) if name]
        self.group: Crossfilter | None = None
        self.kept: dict[str, np.ndarray] = {}
        self.limit = 1  # the page's subscription only signals new rows: the group reads

    def needs(self) -> list[Need]:
        return [Need("numbers", name) for name in self.ranged]

    def recompute(self, group: Crossfilter, mask: np.ndarray | None) -> None:
        self.kept = {}
        self.fold(group, 0, mask)

    def fold(self, group: Crossfilter, start: int, mask: np.ndarray | None) -> None:
        rows = group.rows - start
        if rows <= 0:
            return
        chosen = np.arange(rows) if mask is None else np.flatnonzero(mask)
        chosen = chosen[-self.keep :] + start
        if not len(chosen):
            return
        found = group.rows_at(chosen, list(self.plot.columns))
        self.kept = {
            name: (np.concatenate([self.kept[name], values]) if name in self.kept else values)[
                -self.keep :
            ]
            for name, values in found.items()
        }

    def update(self, batch: Any, reset: bool, key: Any = None) -> Any:
        if self.group is not None:
            self.group.ingest(reset, key)
        return self.table()

    def table(self) -> Any:
        import pandas as pd

        return pd.DataFrame({name: self.kept.get(name, []) for name in self.plot.columns})

    def select_range(self, ranges: list[tuple[str, float, float]]) -> None:
        """A box or range drawn on this chart: filter the rest of the group by it."""
        if self.group is None or not ranges:
            return
        (column, low, high), *more = ranges
        self.group.select(self.plot.id, Selection(column, low=low, high=high, also=tuple(more)))
