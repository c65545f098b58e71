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
`due` (one int comparison) and, every FOLD_ROWS (65,536) rows, asks the background folder
(core/folder.py) to fold the complete level-1 buckets written since. A fold has three steps,
so only the first and last hold the table's lock: `plan` reads the rows (from an
`InPlaceRows` such as the table's memory: views into the ring's chunks, no copy, and each
bucket's latest arrival time from the chunks' time runs), `compute` takes the statistics
(min and max by ufunc.reduceat, sums by a matrix product, 65,536-row pieces), `apply` adds
them and merges the levels above (1/8 as many buckets each), unless the summary moved on
since `plan` (`version` changed, or `folded` moved because someone else folded those rows).
Work is proportional to the rows folded, never to the rows held. `Table.view` folds what is
pending first (`catch_up`: the three steps at once, under the lock), so a view reads at
most 63 unfolded rows raw.

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
from typing import Protocol, runtime_checkable

import numpy as np

from streamvis.core.lod import ARRIVAL, RawRows, View
from streamvis.core.summary_levels import (
    BUCKET,
    COUNT,
    EMPTY,
    FAN,
    HIGH,
    LOW,
    SQUARES,
    TOTAL,
    Bounds,
    Level,
)
from streamvis.core.summary_view import answer

FOLD_ROWS = 65536  # rows written before they are folded (a view folds what is left first)
PIECE_ROWS = 65536  # rows whose stats are taken at once (numpy's per-call cost amortised)
_ONES = np.ones(BUCKET)
_STARTS = np.arange(0, PIECE_ROWS, BUCKET)


@runtime_checkable
class InPlaceRows(Protocol):
    """A `RawRows` that can hand its rows over in place (the table's memory: chunks of
    the ring): where its arrays break, and the arrival times' maxima per bucket straight
    from their per-batch runs, so a fold copies nothing and expands no arrival time."""

    def in_place(self, start: int, stop: int) -> bool:
        """True when the rows [start, stop) are all held here (else read them joined)."""
        ...

    def contiguous(self, start: int, stop: int) -> list[int]:
        """[start, ..., stop]: the rows between consecutive bounds lie in one array, so
        `rows_between` over them returns views (no copy)."""
        ...

    def arrival_highs(self, start: int, stop: int, size: int) -> np.ndarray:
        """For each `size`-row bucket of [start, stop), the latest arrival time of the
        rows from `start` to the bucket's end."""
        ...


class Summary:
    """The multi-resolution summary of one stream (see the module docstring). Not
    thread-safe: the table calls it under its lock."""

    def __init__(self, origin: int = 0) -> None:
        self.reset(origin)

    def reset(self, origin: int) -> None:
        """Forget everything; the next row written has seq `origin`."""
        self.version = getattr(self, "version", 0) + 1  # a fold planned before is void
        self.origin = self.start = origin
        self.folded = -(-origin // BUCKET) * BUCKET  # rows before are a raw head (< 64)
        self.due = self.folded + FOLD_ROWS
        self.levels: list[Level] = [Level(BUCKET, self.folded // BUCKET)]
        self.index: dict[str, int] = {}  # numeric columns, in the order of the stats arrays
        self.carry: dict[str, float] = {}  # running max of each column before `start`

    def postpone(self, written: int) -> None:
        """A fold of the rows before `written` was asked for: the next is due FOLD_ROWS
        rows later."""
        self.due = written + FOLD_ROWS

    @property
    def nbytes(self) -> int:
        """Bytes the summary holds (for the memory budget)."""
        return sum(level.nbytes() for level in self.levels)

    def catch_up(self, raw: RawRows, first: int, end: int, dtypes: Mapping[str, np.dtype]) -> None:
        """Fold the complete level-1 buckets of rows [folded, end) (read from `raw`, whose
        oldest readable row is `first`); `dtypes` are the stream's columns."""
        plan = self.plan(raw, first, end, dtypes)
        if plan is not None:
            self.apply(plan, *compute(plan), first)

    def plan(
        self, raw: RawRows, first: int, end: int, dtypes: Mapping[str, np.dtype]
    ) -> FoldPlan | None:
        """The first step of a fold of rows [folded, end), under the caller's lock: the rows
        to fold (in place when `raw` is `InPlaceRows`: views a write never changes), or
        None when no whole bucket is pending. `compute` may then run without the lock."""
        if first > self.folded:  # rows dropped before they were folded: start again there
            self.reset(first)
        self._trim(first)
        stop = end // BUCKET * BUCKET
        self.due = max(self.folded, stop) + FOLD_ROWS
        if stop <= self.folded:
            return None
        numeric = [n for n, d in dtypes.items() if d.kind in "biuf" and n not in self.index]
        names = [ARRIVAL, *self.index, *numeric]  # runmax order: ARRIVAL, then stats order
        start = self.folded
        head = None
        if self.levels[0].held == 0 and start > self.start:  # the raw head seeds runmax
            rows = raw.rows_between(self.start, start, names)
            head = np.array([finite_max(rows[name]) for name in names])
        if isinstance(raw, InPlaceRows) and raw.in_place(start, stop):
            pieces = [
                (begin, finish, raw.rows_between(begin, finish, names[1:]))
                for begin, finish in bucket_segments(raw.contiguous(start, stop))
            ]
            arrival = raw.arrival_highs(start, stop, BUCKET)
        else:
            pieces, arrival = [(start, stop, raw.rows_between(start, stop, names))], None
        return FoldPlan(self.version, self.start, start, stop, names, head, pieces, arrival)

    def apply(self, plan: FoldPlan, stats: np.ndarray, highs: np.ndarray, first: int) -> bool:
        """The last step of a fold, under the caller's lock (reads no row): add the buckets
        `compute` made, unless the summary changed since `plan` (then False: dropped)."""
        moved = (plan.version, plan.origin, plan.start) != (self.version, self.start, self.folded)
        if moved or first > plan.start:
            return False
        names = plan.names
        for name in names[1 + len(self.index) :]:
            self.index[name] = len(self.index)
        level = self.levels[0]
        seed = np.array([self.carry.get(name, -np.inf) for name in names])
        if level.held:
            held = level.runmax[:, level.held - 1]
            seed[: len(held)] = held
        elif plan.head is not None:  # the raw head before the first bucket
            seed = np.maximum(seed, plan.head)
        level.add(stats, np.maximum(np.maximum.accumulate(highs, axis=0), seed))
        self.folded = plan.stop
        self._fold_up()
        return True

    def _fold_up(self) -> None:
        """Make the buckets of each level above from complete groups of FAN below."""
        for place, below in enumerate(self.levels):
            if place + 1 == len(self.levels):
                first = -(-below.offset // FAN)
                if below.end // FAN <= first:
                    return
                self.levels.append(Level(below.rows * FAN, first))
            above = self.levels[place + 1]
            stop = below.end // FAN
            if stop <= above.end:
                return
            begin, finish = above.end * FAN - below.offset, stop * FAN - below.offset
            above.add(merge_groups(below.stats[begin:finish]), None)

    def forget_before(self, first: int) -> None:
        """Rows before `first` are gone for good (dropped from memory, no store behind it)."""
        self._trim(first)

    def _trim(self, first: int) -> None:
        """Rows before `first` can no longer be read: views start there, and buckets held
        only for them are dropped (amortised)."""
        if first <= self.start:
            return
        level = self.levels[0]
        bucket = first // BUCKET - 1  # the last bucket wholly before `first`'s bucket
        if level.offset <= bucket < level.end:
            for place, name in enumerate([ARRIVAL, *self.index]):
                if place < len(level.runmax):
                    self.carry[name] = float(level.runmax[place, bucket - level.offset])
        self.start = first
        aligned = -(-first // BUCKET) * BUCKET
        for place, level in enumerate(self.levels):
            keep = -(-aligned // level.rows)
            if place + 1 < len(self.levels):  # the level above still folds from these
                keep = min(keep, self.levels[place + 1].end * FAN)
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
        return Bounds(start, head_end, low, high, end, self.levels, self.index, self.carry)

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
        with np.errstate(all="ignore"):  # inf x, as reference_view draws it
            return answer(self.bounds(first, end), raw, x, columns, lo, hi, width, raw_limit)


def finite_max(values: np.ndarray) -> float:
    """The largest finite value, -inf when there is none."""
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.max()) if len(finite) else -np.inf


@dataclass(frozen=True)
class FoldPlan:
    """A fold's rows, read under the table's lock (`Summary.plan`): the whole buckets
    [start, stop) as (first seq, end seq, columns) pieces, and, when read in place, each
    bucket's arrival maximum (else ARRIVAL is one of the pieces' columns)."""

    version: int  # the summary's version when planned: a reset since voids the plan
    origin: int  # the summary's `start` when planned: a trim since voids the plan
    start: int
    stop: int
    names: list[str]  # ARRIVAL, then the numeric columns in stats order
    head: np.ndarray | None  # per name, the max of the raw head (rows before bucket 1)
    pieces: list[tuple[int, int, dict[str, np.ndarray]]]
    arrival: np.ndarray | None


def compute(plan: FoldPlan) -> tuple[np.ndarray, np.ndarray]:
    """The stats ((buckets, columns, 5)) and per-bucket highs ((buckets, names)) of a
    plan's rows, PIECE_ROWS rows at a time; touches nothing but the plan (no lock needed)."""
    names = plan.names
    buckets = (plan.stop - plan.start) // BUCKET
    stats = np.empty((buckets, len(names) - 1, 5))
    stats[:] = EMPTY  # a column a piece lacks has no finite value there
    highs = np.full((buckets, len(names)), -np.inf)
    if plan.arrival is not None:
        highs[:, 0] = plan.arrival
    for begin, finish, rows in plan.pieces:
        for offset in range(0, finish - begin, PIECE_ROWS):
            at = (begin - plan.start + offset) // BUCKET
            for place, name in enumerate(names):
                if name not in rows:
                    continue
                values = rows[name][offset : offset + PIECE_ROWS]
                count = len(values) // BUCKET
                if name == ARRIVAL:  # only ever an x: its running max is all a view needs
                    highs[at : at + count, 0] = np.maximum.reduceat(values, _STARTS[:count])
                    continue
                column_stats(values, stats[at : at + count, place - 1])
                highs[at : at + count, place] = stats[at : at + count, place - 1, HIGH]
    return stats, highs


def bucket_segments(bounds: Sequence[int]) -> list[tuple[int, int]]:
    """Split the rows [bounds[0], bounds[-1]) (bucket-aligned ends; rows between consecutive
    bounds lie in one array) into bucket-aligned ranges: the whole buckets inside one array,
    and each bucket that straddles arrays on its own (read joined, 64 rows)."""
    segments: list[tuple[int, int]] = []
    stop = bounds[-1]
    done = bounds[0]
    for begin, finish in zip(bounds[:-1], bounds[1:], strict=True):
        inner = -(-begin // BUCKET) * BUCKET
        outer = finish // BUCKET * BUCKET
        if outer <= inner:
            continue
        segments.extend((b, b + BUCKET) for b in range(done, inner, BUCKET))
        segments.append((inner, outer))
        done = outer
    segments.extend((b, b + BUCKET) for b in range(done, stop, BUCKET))
    return segments


def column_stats(values: np.ndarray, out: np.ndarray) -> None:
    """Fill `out` ((buckets, 5)) with the stats of consecutive BUCKET-row buckets of
    `values` (any numeric dtype, at most PIECE_ROWS rows), over finite values only. Min and
    max straight from the rows by ufunc.reduceat (exact in any dtype: float64 conversion
    keeps order), sums in float64 by a matrix product; buckets holding a non-finite value
    (their min or max shows it) are redone."""
    starts = _STARTS[: len(values) // BUCKET]
    with np.errstate(all="ignore"):  # inf - inf, overflow: such buckets are redone below
        out[:, LOW] = np.minimum.reduceat(values, starts)
        out[:, HIGH] = np.maximum.reduceat(values, starts)
        wide = np.asarray(values, np.float64).reshape(-1, BUCKET)  # a copy of <= 64 KiB
        out[:, COUNT] = BUCKET
        out[:, TOTAL] = wide @ _ONES
        out[:, SQUARES] = np.einsum("bi,bi->b", wide, wide)
        if values.dtype.kind == "f":
            _redo_non_finite(wide, out)


def _redo_non_finite(buckets: np.ndarray, out: np.ndarray) -> None:
    """Recompute, over finite values only, the buckets whose min or max is not finite."""
    clean = np.isfinite(out[:, LOW]) & np.isfinite(out[:, HIGH])
    if clean.all():
        return
    dirty = buckets[~clean]
    finite = np.isfinite(dirty)
    zeroed = np.where(finite, dirty, 0.0)
    fixed = out[~clean]
    fixed[:, LOW] = np.where(finite, dirty, np.inf).min(axis=1)
    fixed[:, HIGH] = np.where(finite, dirty, -np.inf).max(axis=1)
    fixed[:, COUNT] = finite.sum(axis=1)
    fixed[:, TOTAL] = zeroed.sum(axis=1)
    fixed[:, SQUARES] = np.einsum("ij,ij->i", zeroed, zeroed)
    out[~clean] = fixed


def merge_groups(stats: np.ndarray) -> np.ndarray:
    """The stats of each group of FAN consecutive buckets ((n, columns, 5) -> n / FAN), by
    ufunc.reduceat along the buckets (a reduction over a middle axis is many times slower)."""
    starts = np.arange(0, len(stats), FAN)
    merged: np.ndarray = np.add.reduceat(stats, starts, axis=0)
    merged[:, :, LOW] = np.minimum.reduceat(stats[:, :, LOW], starts, axis=0)
    merged[:, :, HIGH] = np.maximum.reduceat(stats[:, :, HIGH], starts, axis=0)
    return merged
