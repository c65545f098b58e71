"""Answering a level-of-detail view from a stream's summary (summary.py) plus the few raw rows
around each pixel column edge, vectorised across pixel columns (no Python loop per column).

Steps: the row where each pixel column starts is found by a binary search over the level-1
running max of x (which bucket) and the raw rows of that one bucket (which row); each column's
rows are then whole buckets, gathered level by level (at most 7 at each end per level), plus
raw rows at its two ends. The answer equals lod.py's `reference_view` over the same rows:
same first and last point, the same finite min and max, count, sum and sum of squares per
pixel column, the same context rows, the same raw rule. Sums may differ in the last bits
(they are added in another order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from streamvis.core.lod import Line, PixelStats, RawRows, View, columns_of, pixel_edges
from streamvis.core.summary import BUCKET, COUNT, EMPTY, FAN, HIGH, LOW, SQUARES, TOTAL, Bounds

Side = Literal["left", "right"]
_SPAN = np.arange(FAN - 1)  # the at most 7 buckets at either end of a range, per level


@dataclass(frozen=True)
class Pool:
    """Raw rows read for a view, sorted by seq: x as stored, the running x (-inf before the
    first finite x) and each y column as float64."""

    seq: np.ndarray
    x: np.ndarray
    run_x: np.ndarray
    ys: dict[str, np.ndarray]

    def at(self, seqs: np.ndarray) -> np.ndarray:
        """Positions of `seqs` (every one of which was read) in the pool."""
        return np.searchsorted(self.seq, seqs)


def finite_or(values: np.ndarray, fill: float) -> np.ndarray:
    return np.where(np.isfinite(values), values, fill)


class Finder:
    """Finds rows by running x over one stream's summary bounds and reads raw rows."""

    def __init__(self, bounds: Bounds, raw: RawRows, x: str, names: list[str]) -> None:
        self.bounds, self.raw, self.x, self.names = bounds, raw, x, names
        level = bounds.levels[0]
        runmax = level.runmax.get(x)
        low, high = bounds.low - level.offset, bounds.high - level.offset
        held = runmax[low:high] if runmax is not None else np.full(high - low, -np.inf)
        self.bucket_run = held
        self.carry = float(bounds.carry.get(x, -np.inf))
        head = self._x_of(bounds.start, bounds.head_end)
        self.head_run = max(self.carry, float(finite_or(head, -np.inf).max(initial=-np.inf)))
        self.tail_start = min(max(bounds.high * BUCKET, bounds.head_end), bounds.end)
        tail = self._x_of(self.tail_start, bounds.end)
        ends = [self.head_run, float(finite_or(tail, -np.inf).max(initial=-np.inf))]
        self.total = max(ends + ([float(held[-1])] if len(held) else []))

    def _x_of(self, start: int, stop: int) -> np.ndarray:
        if stop <= start:
            return np.empty(0)
        return np.asarray(self.raw.rows_between(start, stop, [self.x])[self.x], np.float64)

    def locate(self, values: np.ndarray, side: Side) -> tuple[np.ndarray, np.ndarray]:
        """The [lo, hi) rows of the block (raw head, bucket, raw tail) holding the first row
        whose running x reaches each value (>= for left, > for right)."""
        b = self.bounds
        head_reach = self.head_run >= values if side == "left" else self.head_run > values
        in_head = head_reach & (b.head_end > b.start)
        bucket = b.low + np.searchsorted(self.bucket_run, values, side)
        in_bucket = ~in_head & (bucket < b.high)
        lo = np.where(in_head, b.start, np.where(in_bucket, bucket * BUCKET, self.tail_start))
        hi = np.where(in_head, b.head_end, np.where(in_bucket, bucket * BUCKET + BUCKET, b.end))
        return lo, hi

    def run_before(self, seqs: np.ndarray) -> np.ndarray:
        """The running x at rows that end a block (the head's or a bucket's last row)."""
        b = self.bounds
        bucket = (seqs + 1) // BUCKET - 1 - b.low
        inside = (bucket >= 0) & (bucket < len(self.bucket_run)) & (seqs >= b.head_end)
        if len(self.bucket_run) == 0:
            return np.full(len(seqs), self.head_run)
        held = self.bucket_run[np.clip(bucket, 0, len(self.bucket_run) - 1)]
        return np.where(inside, held, self.head_run)

    def read(self, lo: np.ndarray, hi: np.ndarray) -> Pool:
        """The raw rows of the blocks [lo, hi), each with the row before it (whose running x
        the summary knows), merged into one pool."""
        b = self.bounds
        starts = np.maximum(lo - 1, b.start)
        keep = hi > starts
        starts, stops = np.unique(np.stack([starts[keep], hi[keep]]), axis=1)
        if len(starts) == 0:
            return Pool(
                np.empty(0, np.int64),
                np.empty(0),
                np.empty(0),
                {n: np.empty(0) for n in self.names},
            )
        reach = np.maximum.accumulate(stops)
        new = np.concatenate([[True], starts[1:] > reach[:-1]])
        group_starts = starts[new]
        group_stops = np.maximum.reduceat(stops, np.flatnonzero(new))
        wanted = list(dict.fromkeys([self.x, *self.names]))
        parts = [
            self.raw.rows_between(int(s), int(e), wanted)
            for s, e in zip(group_starts, group_stops)
        ]
        seq = np.concatenate([np.arange(s, e) for s, e in zip(group_starts, group_stops)])
        x = np.concatenate([np.asarray(p[self.x], np.float64) for p in parts])
        ys = {n: np.concatenate([np.asarray(p[n], np.float64) for p in parts]) for n in self.names}
        seeded = finite_or(x, -np.inf)
        firsts = np.concatenate([[0], np.cumsum(group_stops - group_starts)[:-1]])
        at_start = group_starts == b.start
        known = self.run_before(group_starts)
        seeded[firsts] = np.where(at_start, np.maximum(seeded[firsts], self.carry), known)
        return Pool(seq, x, np.maximum.accumulate(seeded), ys)

    def exact(self, pool: Pool, values: np.ndarray, side: Side) -> np.ndarray:
        """The first row whose running x reaches each value (`end` when none does); the
        blocks `locate` gave for these values must be in `pool`."""
        found = np.searchsorted(pool.run_x, values, side)
        seqs = np.append(pool.seq, self.bounds.end)
        return seqs[found]

    def find(self, value: float, side: Side) -> tuple[int, float]:
        """The first row whose running x reaches `value`, and the running x there."""
        values = np.array([value])
        pool = self.read(*self.locate(values, side))
        row = int(self.exact(pool, values, side)[0])
        at = pool.at(np.array([row]))
        return row, float(pool.run_x[at][0]) if row < self.bounds.end else np.nan


def answer(
    bounds: Bounds,
    raw: RawRows,
    x: str,
    columns: Sequence[str],
    lo: float | None,
    hi: float | None,
    width: int,
    raw_limit: int,
) -> View:
    """`reference_view` of the rows [bounds.start, bounds.end), from the summary."""
    names = columns_of(columns)
    finder = Finder(bounds, raw, x, names)
    never, first_x = finder.find(-np.inf, "right")  # the first row with a finite x
    if never >= bounds.end:
        empty = {name: Line(np.empty(0), np.empty(0)) for name in names}
        return View(empty, 0, True, float("nan"), float("nan"), width)
    lo = first_x if lo is None else float(lo)
    hi = finder.total if hi is None else float(hi)
    start, stop = finder.find(lo, "left")[0], finder.find(hi, "right")[0]
    rows = max(0, stop - start)
    before, after = max(start - 1, never), min(stop + 1, bounds.end)
    if rows <= raw_limit or hi <= lo:
        return View(raw_lines(raw, x, names, before, after), rows, True, lo, hi, width)
    edges = pixel_edges(lo, hi, width)
    left = np.concatenate([[lo], edges[1:width]])
    blocks = [finder.locate(left, "left"), finder.locate(np.array([hi]), "right")]
    pool = finder.read(*(np.concatenate(part) for part in zip(*blocks)))
    cuts = np.append(finder.exact(pool, left, "left"), finder.exact(pool, np.array([hi]), "right"))
    cuts = np.clip(cuts, start, stop)
    lines, stats = {}, {}
    for name in names:
        line, stats[name] = m4_line(bounds, pool, name, cuts, width)
        context = pool.at(np.array([before] if before < start else [], np.int64))
        tail = pool.at(np.array([stop] if stop < after else [], np.int64))
        ys = pool.ys[name]
        lines[name] = Line(
            np.concatenate([pool.x[context], line.x, pool.x[tail]]),
            np.concatenate([gaps(ys[context]), line.y, gaps(ys[tail])]),
        )
    return View(lines, rows, False, lo, hi, width, stats=stats)


def gaps(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.nan)


def raw_lines(raw: RawRows, x: str, names: list[str], before: int, after: int) -> dict[str, Line]:
    """Every row in [before, after) with a finite x, at its own x."""
    if after <= before:
        return {name: Line(np.empty(0), np.empty(0)) for name in names}
    rows = raw.rows_between(before, after, list(dict.fromkeys([x, *names])))
    xs = np.asarray(rows[x], np.float64)
    keep = np.isfinite(xs)
    return {name: Line(xs[keep], gaps(np.asarray(rows[name], np.float64))[keep]) for name in names}


def m4_line(
    bounds: Bounds, pool: Pool, name: str, cuts: np.ndarray, width: int
) -> tuple[Line, PixelStats]:
    """First, min, max, last per pixel column (every row of a column of at most 4), and the
    column's finite count, sum and sum of squares; column p holds rows [cuts[p], cuts[p+1])."""
    begin, finish = cuts[:-1], cuts[1:]
    whole_lo = np.maximum(-(-begin // BUCKET), bounds.low)
    whole_hi = np.maximum(np.minimum(finish // BUCKET, bounds.high), whole_lo)
    stats = whole_stats(bounds, name, whole_lo, whole_hi)
    # raw rows of each column outside its whole buckets
    inside = (pool.seq >= cuts[0]) & (pool.seq < cuts[-1])
    seq, ys = pool.seq[inside], pool.ys[name][inside]
    column = np.searchsorted(cuts, seq, "right") - 1
    bucket = seq // BUCKET
    loose = ~((bucket >= whole_lo[column]) & (bucket < whole_hi[column]))
    column, ys = column[loose], ys[loose]
    finite = np.isfinite(ys)
    zeroed = np.where(finite, ys, 0.0)
    stats[:, COUNT] += np.bincount(column, finite, width)
    stats[:, TOTAL] += np.bincount(column, zeroed, width)
    stats[:, SQUARES] += np.bincount(column, zeroed * zeroed, width)
    low, high = np.full(width, np.inf), np.full(width, -np.inf)
    np.minimum.at(low, column, np.where(finite, ys, np.inf))
    np.maximum.at(high, column, np.where(finite, ys, -np.inf))
    low, high = np.minimum(low, stats[:, LOW]), np.maximum(high, stats[:, HIGH])
    low[np.isinf(low)], high[np.isinf(high)] = np.nan, np.nan
    # points: every row of a column of at most 4 rows, else first, min, max, last
    rows = finish - begin
    big = rows > 4
    points = np.where(big, 4, rows)
    owner = np.repeat(np.arange(width), points)
    slot = np.arange(len(owner)) - np.repeat(np.cumsum(points) - points, points)
    big_point = big[owner]
    seqs = np.where(
        big_point & (slot == 3), finish[owner] - 1, begin[owner] + np.where(big_point, 0, slot)
    )
    at = pool.at(seqs)
    xs, values = pool.x[at], gaps(pool.ys[name][at])
    first_x, last_x = pool.x[pool.at(begin[big])], pool.x[pool.at(finish[big] - 1)]
    middle = np.zeros(width)
    middle[big] = (first_x + last_x) / 2
    extreme = big_point & ((slot == 1) | (slot == 2))
    xs = np.where(extreme, middle[owner], xs)
    values = np.where(big_point & (slot == 1), low[owner], values)
    values = np.where(big_point & (slot == 2), high[owner], values)
    count = stats[:, COUNT].astype(np.int64)
    return Line(xs, values), PixelStats(count, stats[:, TOTAL], stats[:, SQUARES])


def whole_stats(bounds: Bounds, name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(width, 5) stats of the level-1 buckets [lo, hi) of each pixel column, gathered from
    the coarsest buckets that fit: at most FAN - 1 at either end per level."""
    result = np.tile(EMPTY, (len(lo), 1))
    lo, hi = lo.copy(), hi.copy()
    for level in bounds.levels:
        if not (lo < hi).any():
            break
        array = level.stats.get(name)
        up_lo, up_hi = -(-lo // FAN) * FAN, hi // FAN * FAN
        head_stop = np.minimum(up_lo, hi)
        tail_start = np.maximum(up_hi, head_stop)
        for first, stop in ((lo, head_stop), (tail_start, hi)):
            index = first[:, None] + _SPAN
            mask = index < stop[:, None]
            if array is None or not mask.any():
                continue
            got = array[np.clip(index - level.offset, 0, level.held - 1)]
            got = np.where(mask[:, :, None], got, EMPTY)
            result[:, LOW] = np.minimum(result[:, LOW], got[:, :, LOW].min(axis=1))
            result[:, HIGH] = np.maximum(result[:, HIGH], got[:, :, HIGH].max(axis=1))
            result[:, COUNT:] += got[:, :, COUNT:].sum(axis=1)
        lo, hi = up_lo // FAN, np.maximum(up_hi // FAN, up_lo // FAN)
    return result
