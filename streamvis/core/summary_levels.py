"""The bucket layout of a level-of-detail summary (summary.py): sizes, the stats kept per
bucket, one resolution (`Level`) and where a view's rows lie (`Bounds`); shared by the fold
(summary.py) and the view (summary_view.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from streamvis.core.lod import ARRIVAL

BUCKET = 64  # rows per level-1 bucket
FAN = 8  # buckets of one level per bucket of the level above
LOW, HIGH, COUNT, TOTAL, SQUARES = range(5)
EMPTY = np.array([np.inf, -np.inf, 0.0, 0.0, 0.0])  # the stats of a bucket with no finite value


class Level:
    """One resolution: for the absolute bucket indices [offset, end), a (buckets, columns, 5)
    array of stats (min, max, count, sum, sum of squares per column, columns in the order
    of `Summary.index`); level 1 also keeps the running max of each column (ARRIVAL first)
    at each bucket's end, (columns, buckets)."""

    def __init__(self, rows: int, first: int) -> None:
        self.rows = rows  # rows per bucket
        self.offset = first  # absolute index of the bucket held at position 0
        self.end = first  # absolute index past the last bucket held
        self.stats = np.empty((0, 0, 5))
        self.runmax = np.empty((0, 0))

    @property
    def held(self) -> int:
        return self.end - self.offset

    def nbytes(self) -> int:
        return self.stats.nbytes + self.runmax.nbytes

    def add(self, stats: np.ndarray, runmax: np.ndarray | None) -> None:
        """Append the stats (and running max) of the next buckets; columns new since the last
        add get empty buckets (no finite value) before."""
        held, wanted = self.held, self.held + len(stats)
        if wanted == held:
            return
        self.stats = self._room(self.stats, wanted, stats.shape[1:], EMPTY)
        self.stats[held:wanted] = stats
        if runmax is not None:  # stored (columns, buckets): a view searches one column
            columns, size = self.runmax.shape
            if size < wanted or columns < runmax.shape[1]:
                size = max(wanted, size * 3 // 2, 16) if size < wanted else size
                grown = np.full((runmax.shape[1], size), -np.inf)
                grown[:columns, :held] = self.runmax[:, :held]
                self.runmax = grown
            self.runmax[: runmax.shape[1], held:wanted] = runmax.T
        self.end = self.offset + wanted

    def _room(
        self, array: np.ndarray, rows: int, shape: tuple[int, ...], fill: np.ndarray
    ) -> np.ndarray:
        """`array` with room for `rows` buckets of `shape` (grown geometrically)."""
        if len(array) >= rows and array.shape[1:] == shape:
            return array
        size = max(rows, len(array) * 3 // 2, 16) if len(array) < rows else len(array)
        grown = np.empty((size, *shape))
        held, columns = self.held, array.shape[1]
        grown[:held, :columns] = array[:held]
        grown[:held, columns:] = fill  # columns new since: no finite value before
        return grown

    def forget_before(self, index: int) -> None:
        """Drop buckets before absolute `index` once they are over half of what is held."""
        dead = min(index, self.end) - self.offset
        if dead <= 0 or dead * 2 < self.held:
            return
        self.stats = self.stats[dead : self.held].copy()
        self.runmax = self.runmax[:, dead : self.held].copy()
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
    index: Mapping[str, int]  # each summarised column's place in the levels' arrays
    carry: Mapping[str, float]  # running max of each column before `start`

    def runmax(self, name: str) -> np.ndarray:
        """The running max of column `name` at the end of each bucket [low, high)."""
        level = self.levels[0]
        place = 0 if name == ARRIVAL else self.index.get(name, -2) + 1
        if not 0 <= place < len(level.runmax) or self.high <= self.low:
            return np.full(self.high - self.low, -np.inf)
        return level.runmax[place, self.low - level.offset : self.high - level.offset]
