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
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from streamvis.core.lod import Line, PixelStats, RawRows, View, columns_of, pixel_edges
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

Side = Literal["left", "right"]


@dataclass(frozen=True)
class Pool:
    """Raw rows read for a view, sorted by seq: x as stored, the running x (-inf before the
    first finite x) and each y column as float64."""

    seq: np.ndarray
    x: np.ndarray
    run_x: np.ndarray
    ys: dict[str, np.ndarray]

    def at(self, seqs: np.ndarray) -> np.ndarray:
        """Positions of `seqs` in the pool (rows not read: a neighbour, never used)."""
        return np.minimum(np.searchsorted(self.seq, seqs), max(len(self.seq) - 1, 0))


@runtime_checkable
class SpanRows(Protocol):
    """A `RawRows` that can also read many seq ranges in one call (the table's memory does,
    with one gather per column): a view reads about one range per pixel column edge."""

    def rows_in_spans(
        self, starts: np.ndarray, stops: np.ndarray, columns: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """Values of `columns` for the rows of every [starts[i], stops[i]), in that order."""
        ...


def spans(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Every seq of the ranges [starts[i], stops[i]), concatenated."""
    lengths = stops - starts
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    found: np.ndarray = np.arange(int(lengths.sum()), dtype=np.int64) + offsets
    return found


def read_spans(
    raw: RawRows, starts: np.ndarray, stops: np.ndarray, columns: Sequence[str]
) -> dict[str, np.ndarray]:
    """The rows of several ranges: in one call when `raw` offers `rows_in_spans`, else one
    `rows_between` per range."""
    if isinstance(raw, SpanRows):
        return raw.rows_in_spans(starts, stops, columns)
    parts = [raw.rows_between(int(a), int(b), columns) for a, b in zip(starts, stops, strict=True)]
    return {name: np.concatenate([part[name] for part in parts]) for name in columns}


def finite_or(values: np.ndarray, fill: float) -> np.ndarray:
    return np.where(np.isfinite(values), values, fill)


class Finder:
    """Finds rows by running x over one stream's summary bounds and reads raw rows."""

    def __init__(self, bounds: Bounds, raw: RawRows, x: str, names: list[str]) -> None:
        self.bounds, self.raw, self.x, self.names = bounds, raw, x, names
        held = self.bucket_run = bounds.runmax(x)
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
        order = np.argsort(starts[keep], kind="stable")
        starts, stops = starts[keep][order], hi[keep][order]
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
        seq = spans(group_starts, group_stops)
        found = read_spans(self.raw, group_starts, group_stops, wanted)
        x = np.asarray(found[self.x], np.float64)
        ys = {name: np.asarray(found[name], np.float64) for name in self.names}
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
    pool = finder.read(*(np.concatenate(part) for part in zip(*blocks, strict=True)))
    cuts = np.append(finder.exact(pool, left, "left"), finder.exact(pool, np.array([hi]), "right"))
    cuts = np.clip(cuts, start, stop)
    plan = Plan(bounds, pool, cuts)
    context = pool.at(np.array([before] if before < start else [], np.int64))
    tail = pool.at(np.array([stop] if stop < after else [], np.int64))
    lines, stats = {}, {}
    for name in names:
        line, stats[name] = plan.line(name)
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


class Plan:
    """What every y column of an M4 view shares: pixel column p holds rows [cuts[p],
    cuts[p+1]), made of whole level-1 buckets (gathered level by level) and raw rows of the
    pool at its ends; and which rows become points."""

    def __init__(self, bounds: Bounds, pool: Pool, cuts: np.ndarray) -> None:
        self.bounds, self.pool, self.width = bounds, pool, len(cuts) - 1
        begin, finish = cuts[:-1], cuts[1:]
        whole_lo = np.maximum(-(-begin // BUCKET), bounds.low)
        whole_hi = np.maximum(np.minimum(finish // BUCKET, bounds.high), whole_lo)
        self.gathers = gathers(bounds, whole_lo, whole_hi)
        # the pool's rows in each pixel column that no whole bucket of it holds
        places = np.searchsorted(pool.seq, cuts)
        column = np.repeat(np.arange(self.width), np.diff(places))
        seq = pool.seq[places[0] : places[-1]]
        bucket = seq // BUCKET
        loose = (bucket < whole_lo[column]) | (bucket >= whole_hi[column])
        self.loose = places[0] + np.flatnonzero(loose)
        column = column[loose]
        self.filled = np.flatnonzero(np.bincount(column, minlength=self.width))
        self.segments = np.searchsorted(column, self.filled)
        # points: every row of a column of at most 4 rows, else first, min, max, last
        rows = finish - begin
        self.big = rows > 4
        points = np.where(self.big, 4, rows)
        self.owner = np.repeat(np.arange(self.width), points)
        self.slot = np.arange(len(self.owner)) - np.repeat(np.cumsum(points) - points, points)
        big_point = self.big[self.owner]
        last = big_point & (self.slot == 3)
        seqs = np.where(last, finish[self.owner] - 1, begin[self.owner] + (~big_point) * self.slot)
        self.at = pool.at(seqs)
        self.low_point = big_point & (self.slot == 1)
        self.high_point = big_point & (self.slot == 2)
        middle = (pool.x[pool.at(begin)] + pool.x[pool.at(np.maximum(finish - 1, begin))]) / 2
        self.x = np.where(self.low_point | self.high_point, middle[self.owner], pool.x[self.at])

    def line(self, name: str) -> tuple[Line, PixelStats]:
        """The points of y column `name` and its finite count, sum and sum of squares per
        pixel column."""
        stats = whole_stats(self.bounds, name, self.gathers, self.width)
        ys = self.pool.ys[name]
        if len(self.filled):
            loose = ys[self.loose]
            finite = np.isfinite(loose)
            zeroed = np.where(finite, loose, 0.0)
            cut, filled = self.segments, self.filled
            stats[filled, COUNT] += np.add.reduceat(finite.astype(np.float64), cut)
            stats[filled, TOTAL] += np.add.reduceat(zeroed, cut)
            stats[filled, SQUARES] += np.add.reduceat(zeroed * zeroed, cut)
            low = np.minimum.reduceat(np.where(finite, loose, np.inf), cut)
            high = np.maximum.reduceat(np.where(finite, loose, -np.inf), cut)
            stats[filled, LOW] = np.minimum(stats[filled, LOW], low)
            stats[filled, HIGH] = np.maximum(stats[filled, HIGH], high)
        low, high = stats[:, LOW], stats[:, HIGH]
        low[np.isinf(low)], high[np.isinf(high)] = np.nan, np.nan
        values = gaps(ys[self.at])
        values = np.where(self.low_point, low[self.owner], values)
        values = np.where(self.high_point, high[self.owner], values)
        count = stats[:, COUNT].astype(np.int64)
        return Line(self.x, values), PixelStats(count, stats[:, TOTAL], stats[:, SQUARES])


Gather = tuple[Level, np.ndarray, np.ndarray]  # a level, bucket positions, their pixel column


def gathers(bounds: Bounds, lo: np.ndarray, hi: np.ndarray) -> list[Gather]:
    """Where the level-1 buckets [lo, hi) of each pixel column are held: the coarsest
    buckets that fit, at most FAN - 1 at either end of the range per level."""
    found = []
    columns = np.arange(len(lo))
    for level in bounds.levels:
        if not (lo < hi).any():
            break
        up_lo, up_hi = -(-lo // FAN) * FAN, hi // FAN * FAN
        head_stop = np.minimum(up_lo, hi)
        tail_start = np.maximum(up_hi, head_stop)
        first = np.concatenate([lo, tail_start])
        stop = np.maximum(np.concatenate([head_stop, hi]), first)
        owner = np.repeat(np.concatenate([columns, columns]), stop - first)
        if len(owner):
            found.append((level, spans(first, stop) - level.offset, owner))
        lo, hi = up_lo // FAN, np.maximum(up_hi // FAN, up_lo // FAN)
    return found


def whole_stats(bounds: Bounds, name: str, plan: list[Gather], width: int) -> np.ndarray:
    """(width, 5) stats of each pixel column's whole buckets of y column `name`."""
    result = np.tile(EMPTY, (width, 1))
    place = bounds.index.get(name, -1)
    parts = [
        (np.take(level.stats, positions, axis=0)[:, place], owner)
        for level, positions, owner in plan
        if 0 <= place < level.stats.shape[1]
    ]
    if not parts:
        return result
    got = np.concatenate([stats for stats, _ in parts])
    owner = np.concatenate([owner for _, owner in parts])
    for stat in (COUNT, TOTAL, SQUARES):
        result[:, stat] = np.bincount(owner, got[:, stat], width)
    np.minimum.at(result[:, LOW], owner, got[:, LOW])
    np.maximum.at(result[:, HIGH], owner, got[:, HIGH])
    return result
