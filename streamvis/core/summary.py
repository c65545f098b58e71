"""The level-of-detail summary of one stream: per bucket of rows, at several resolutions, the
finite min, max, count, sum and sum of squares of every numeric column, and the running max of
each column at the end of each smallest bucket (what a search by running x needs).

Layout. Level 1 buckets hold 64 rows; each level above holds 8 buckets of the one below (512,
4,096, 32,768 rows...). Buckets are aligned to absolute seq (level-l bucket j holds the rows
[j * 64 * 8**(l-1), (j+1) * 64 * 8**(l-1))), so a summary can start and be trimmed at any seq.
64 rows keep the raw rows a view reads at each pixel column edge small (one bucket), and the
fan-out of 8 bounds the buckets a range needs to at most 14 per level. Per numeric column a
level-1 bucket costs 6 float64 (min, max, count, sum, sum of squares, running max), 48 bytes
for 64 rows, and the levels above add 1/7 of 40/64 bytes: about 0.84 bytes per row per numeric
column (float32 columns hold 4 raw bytes a row, float64 8). The ARRIVAL pseudo column (each
row's arrival ns) is only ever an x, so it keeps just its running max: 0.125 bytes a row.

Cost per append. Rows are not folded when they arrive: a write compares its new seq with
`due` (one int comparison) and, every `FOLD_ROWS` rows, folds the complete level-1 buckets
written since, reading them back through `RawRows` (vectorised numpy over a few thousand rows,
then 1/8 as many at each level above): work proportional to the rows written, never to the
rows held. The rows not yet folded (fewer than FOLD_ROWS + 64) are read raw by a view.

Cost per view (lod.py defines what a view is): pixel column edges are found by a binary search
over the level-1 running max (log of the buckets held) and the raw rows of the one bucket that
holds each edge; each pixel column's rows are whole buckets (at most 14 per level) plus raw
rows at its edges. Everything is vectorised across pixel columns: a view reads about 65 raw
rows per pixel column edge and does O(width x levels) numpy work, whatever the rows held.

x must not decrease within a stream for a view to be a plain x range. When it does (a resumed
run re-logging steps), rows are placed by their running x, the largest x logged so far, as
lod.py's `reference_view` defines: the re-logged rows are drawn in arrival order, at their own
x, in the pixel columns where the running x puts them (so they stay after the rows logged
before them). The running x counts every row since the stream's start, its last replace or
clear, including rows memory no longer holds (when the oldest rows were dropped and x went
back, the rows of the oldest partly held bucket count at bucket granularity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from streamvis.core.lod import ARRIVAL, RawRows, View

BUCKET = 64  # rows per level-1 bucket
FAN = 8  # buckets of one level per bucket of the level above
FOLD_ROWS = 4096  # rows written before they are folded into level 1 (fewer: read raw)
LOW, HIGH, COUNT, TOTAL, SQUARES = range(5)
EMPTY = np.array([np.inf, -np.inf, 0.0, 0.0, 0.0])  # the stats of a bucket with no finite value


class Level:
    """One resolution: per column an (n, 5) array of bucket stats (min, max, count, sum, sum
    of squares) for the absolute bucket indices [offset, end); level 1 also keeps `runmax`."""

    def __init__(self, rows: int, first: int) -> None:
        self.rows = rows  # rows per bucket
        self.offset = first  # absolute index of the bucket held at position 0
        self.end = first  # absolute index past the last bucket held
        self.stats: dict[str, np.ndarray] = {}
        self.runmax: dict[str, np.ndarray] = {}

    @property
    def held(self) -> int:
        return self.end - self.offset

    def nbytes(self) -> int:
        arrays = list(self.stats.values()) + list(self.runmax.values())
        return sum(array.nbytes for array in arrays)

    def _room(self, array: np.ndarray, wanted: int) -> np.ndarray:
        if len(array) >= wanted:
            return array
        grown = np.empty((max(wanted, 2 * len(array), 16),) + array.shape[1:], array.dtype)
        grown[: self.held] = array[: self.held]
        return grown

    def add(
        self, added: int, stats: Mapping[str, np.ndarray], runmax: Mapping[str, np.ndarray]
    ) -> None:
        """Append the stats of the next `added` buckets; a column held but not given gets
        empty buckets (no finite value)."""
        if added <= 0:
            return
        held, wanted = self.held, self.held + added
        for name in self.stats.keys() - stats.keys():
            self.stats[name] = self._room(self.stats[name], wanted)
            self.stats[name][held:wanted] = EMPTY
        for name in self.runmax.keys() - runmax.keys():
            self.runmax[name] = self._room(self.runmax[name], wanted)
            self.runmax[name][held:wanted] = self.runmax[name][held - 1] if held else -np.inf
        for name, values in stats.items():
            array = self.stats.get(name)
            if array is None:  # a column new to the stream: no finite value before
                array = np.empty((0, 5))
                array = self._room(array, wanted)
                array[:held] = EMPTY
            array = self._room(array, wanted)
            array[held:wanted] = values
            self.stats[name] = array
        for name, values in runmax.items():
            array = self.runmax.get(name)
            if array is None:
                array = np.full(max(wanted, 16), -np.inf)
            array = self._room(array, wanted)
            array[held:wanted] = values
            self.runmax[name] = array
        self.end += added

    def forget_before(self, index: int) -> None:
        """Drop buckets before absolute `index` once they are over half of what is held."""
        dead = min(index, self.end) - self.offset
        if dead <= 0 or dead * 2 < self.held:
            return
        for table in (self.stats, self.runmax):
            for name, array in table.items():
                table[name] = array[dead : self.held].copy()
        self.offset += dead


@dataclass(frozen=True)
class Bounds:
    """Where a view's rows lie: a raw head [start, head_end) (< 64 rows), the level-1
    buckets [low, high) (absolute indices) and a raw tail [max(high * 64, head_end), end)."""

    start: int
    head_end: int
    low: int
    high: int
    end: int
    levels: Sequence[Level]
    carry: Mapping[str, float]  # running max of each column before `start`


class Summary:
    """The multi-resolution summary of one stream (see the module docstring). Not
    thread-safe: the table calls it under its lock."""

    def __init__(self, origin: int = 0) -> None:
        self.reset(origin)

    def reset(self, origin: int) -> None:
        """Forget everything; the next row written has seq `origin`."""
        self.origin = self.start = origin
        self.folded = -(-origin // BUCKET) * BUCKET  # rows before are a raw head (< 64)
        self.due = self.folded + FOLD_ROWS
        self.levels: list[Level] = [Level(BUCKET, self.folded // BUCKET)]
        self.carry: dict[str, float] = {}  # running max of each column before `start`

    @property
    def nbytes(self) -> int:
        """Bytes the summary holds (for the memory budget)."""
        return sum(level.nbytes() for level in self.levels)

    def catch_up(self, raw: RawRows, first: int, end: int, dtypes: Mapping[str, np.dtype]) -> None:
        """Fold the complete level-1 buckets of rows [folded, end) (read from `raw`, whose
        oldest readable row is `first`); `dtypes` are the stream's columns."""
        if first > self.folded:  # rows dropped before they were folded: start again there
            self.reset(first)
        self._trim(first)
        stop = end // BUCKET * BUCKET
        self.due = max(self.folded, stop) + FOLD_ROWS
        if stop <= self.folded:
            return
        level = self.levels[0]
        names = [name for name, dtype in dtypes.items() if dtype.kind in "biuf"] + [ARRIVAL]
        read_from = self.start if level.held == 0 else self.folded  # the head seeds runmax
        rows = raw.rows_between(read_from, stop, names)
        head, buckets = self.folded - read_from, (stop - self.folded) // BUCKET
        stats, runmax = {}, {}
        for name in names:
            values = np.asarray(rows[name], dtype=np.float64)
            seed = self.carry.get(name, -np.inf)
            if level.held:
                seed = float(level.runmax[name][level.held - 1]) if name in level.runmax else seed
            elif head:
                seed = max(seed, finite_max(values[:head]))
            values = values[head:].reshape(buckets, BUCKET)
            if name == ARRIVAL:
                high = values.max(axis=1)
            else:
                stats[name] = bucket_stats(values)
                high = stats[name][:, HIGH]
            runmax[name] = np.maximum(np.maximum.accumulate(high), seed)
        level.add(buckets, stats, runmax)
        self.folded = stop
        self._fold_up()

    def _fold_up(self) -> None:
        """Make the buckets of each level above from complete groups of FAN below."""
        for index, below in enumerate(self.levels):
            if index + 1 == len(self.levels):
                first = -(-below.offset // FAN)
                if below.end // FAN <= first:
                    return
                self.levels.append(Level(below.rows * FAN, first))
            above = self.levels[index + 1]
            stop = below.end // FAN
            if stop <= above.end:
                return
            begin, finish = above.end * FAN - below.offset, stop * FAN - below.offset
            merged = {
                name: merge_groups(array[begin:finish]) for name, array in below.stats.items()
            }
            above.add(stop - above.end, merged, {})

    def _trim(self, first: int) -> None:
        """Rows before `first` can no longer be read: views start there, and buckets held
        only for them are dropped (amortised)."""
        if first <= self.start:
            return
        level = self.levels[0]
        bucket = first // BUCKET - 1  # the last bucket wholly before `first`'s bucket
        if level.offset <= bucket < level.end:
            for name, runmax in level.runmax.items():
                self.carry[name] = float(runmax[bucket - level.offset])
        self.start = first
        aligned = -(-first // BUCKET) * BUCKET
        for index, level in enumerate(self.levels):
            keep = -(-aligned // level.rows)
            if index + 1 < len(self.levels):  # the level above still folds from these
                keep = min(keep, self.levels[index + 1].end * FAN)
            level.forget_before(keep)

    def rebuild(self, raw: RawRows, first: int, end: int, dtypes: Mapping[str, np.dtype]) -> None:
        """Fold again every row (after rows changed in place, e.g. refused by the store)."""
        self.reset(first)
        self.catch_up(raw, first, end, dtypes)

    def bounds(self, first: int, end: int) -> Bounds:
        """Where the held buckets lie among the rows [first, end) a view may read."""
        self._trim(first)
        level = self.levels[0]
        start = max(self.start, first)
        head_end = min(-(-start // BUCKET) * BUCKET, end)
        low = max(-(-start // BUCKET), level.offset)
        high = max(low, min(level.end, self.folded // BUCKET))
        return Bounds(start, head_end, low, high, end, self.levels, self.carry)

    def view(
        self,
        raw: RawRows,
        first: int,
        end: int,
        x: str,
        columns: Sequence[str],
        lo: float | None,
        hi: float | None,
        width: int,
        raw_limit: int,
    ) -> View:
        """The view lod.py's `reference_view` gives over the rows [first, end) (`first`: the
        oldest row `raw` can read), in time that does not grow with the rows held."""
        from streamvis.core.summary_view import answer  # it imports this module

        return answer(self.bounds(first, end), raw, x, columns, lo, hi, width, raw_limit)


def finite_max(values: np.ndarray) -> float:
    """The largest finite value, -inf when there is none."""
    finite = values[np.isfinite(values)]
    return float(finite.max()) if len(finite) else -np.inf


def bucket_stats(values: np.ndarray) -> np.ndarray:
    """(buckets, 5) stats of a (buckets, rows) float64 array, over finite values only."""
    low, high = values.min(axis=1), values.max(axis=1)  # NaN and inf show here
    stats = np.empty((len(values), 5))
    stats[:, LOW], stats[:, HIGH] = low, high
    stats[:, COUNT] = values.shape[1]
    stats[:, TOTAL] = values.sum(axis=1)
    stats[:, SQUARES] = np.einsum("ij,ij->i", values, values)
    clean = np.isfinite(low) & np.isfinite(high)
    if not clean.all():
        dirty = values[~clean]
        finite = np.isfinite(dirty)
        zeroed = np.where(finite, dirty, 0.0)
        stats[~clean, LOW] = np.where(finite, dirty, np.inf).min(axis=1)
        stats[~clean, HIGH] = np.where(finite, dirty, -np.inf).max(axis=1)
        stats[~clean, COUNT] = finite.sum(axis=1)
        stats[~clean, TOTAL] = zeroed.sum(axis=1)
        stats[~clean, SQUARES] = np.einsum("ij,ij->i", zeroed, zeroed)
    return stats


def merge_groups(stats: np.ndarray) -> np.ndarray:
    """The stats of each group of FAN consecutive buckets."""
    groups = stats.reshape(-1, FAN, 5)
    merged = groups.sum(axis=1)
    merged[:, LOW] = groups[:, :, LOW].min(axis=1)
    merged[:, HIGH] = groups[:, :, HIGH].max(axis=1)
    return merged
