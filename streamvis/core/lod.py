"""Level-of-detail views of a line: the rows of an x range drawn at W pixel columns with at
most four points per column per line (M4: first, min, max, last; Jugel et al., VLDB 2014).

The screen, not the data, bounds what a page holds: a view of a million rows on a plot 1,600
pixels wide is at most 6,400 points per line, and the same min and max per pixel column as
drawing every row. This module defines what a view is (`View`, `Line`) and its exact meaning
(`reference_view`, the brute-force definition the fast summary is tested against).

Rules that hold for every view:
- Rows are selected by their *running* x, the largest x seen so far in arrival order, so a
  producer that sends a smaller x (a resumed run re-logging steps) still has its rows drawn,
  in arrival order, at their own x; the range [lo, hi] holds the rows logged while the
  running x was within it. Rows whose x is not finite are never drawn.
- A non-finite value (NaN, inf) is a gap; it never becomes a min or a max. A pixel column
  that starts or ends with a gap draws as one (its first or last point is NaN).
- A range of at most `raw_limit` rows is returned raw: every row, at its own x.
- The row just before and just after the range are included, so the line runs off the edges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

# The x of a view may be this pseudo column: each row's arrival time (int64 ns since epoch).
ARRIVAL = "@arrival"


class RawRows(Protocol):
    """Where a summary reads raw rows it does not hold (pixel column edges, zoomed-in
    ranges): the table's memory, or the store for history memory no longer holds."""

    def rows_between(self, start: int, stop: int, columns: Sequence[str]) -> dict[str, np.ndarray]:
        """Values of `columns` (ARRIVAL: arrival ns) for the rows with seq in [start, stop)."""
        ...


@dataclass(frozen=True)
class Line:
    """One line of a view: float64 x and y, in drawing order; NaN in y is a gap."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class View:
    """What a plot draws for the x range [lo, hi] at `width` pixel columns."""

    lines: dict[str, Line]
    rows: int  # rows whose running x lies in [lo, hi]
    raw: bool  # every one of those rows is in `lines`
    lo: float  # the range answered (a whole-run view: the first and last x)
    hi: float
    width: int
    next_seq: int = 0  # the seq the next row written will get (where live deltas start)
    generation: int = 0
    stats: dict[str, PixelStats] = field(default_factory=dict)

    @property
    def drawn(self) -> int:
        """Points held per line (the longest line)."""
        return max((len(line) for line in self.lines.values()), default=0)


@dataclass(frozen=True)
class PixelStats:
    """Per pixel column of one y column: finite count, sum and sum of squares (for a mean
    and a standard-deviation band); empty for a raw view."""

    count: np.ndarray
    total: np.ndarray
    squares: np.ndarray


def as_float(values: np.ndarray) -> np.ndarray:
    """x values as float64 (datetimes as ns since the epoch, NaT as NaN)."""
    if values.dtype.kind == "M":
        stamps = values.astype("datetime64[ns]")
        found: np.ndarray = np.where(
            np.isnat(stamps), np.nan, stamps.view("int64").astype(np.float64)
        )
        return found
    return np.asarray(values, dtype=np.float64)


def running_x(x: np.ndarray) -> np.ndarray:
    """The largest x seen so far at each row (NaN until the first finite x)."""
    values = np.asarray(x, dtype=np.float64)
    values = np.where(np.isfinite(values), values, np.nan)
    return np.fmax.accumulate(values) if len(values) else values


def reference_view(
    x: np.ndarray,
    columns: Mapping[str, np.ndarray],
    lo: float | None,
    hi: float | None,
    width: int,
    raw_limit: int,
) -> View:
    """The view by brute force over every row (O(rows)): the definition of a view's meaning,
    used by tests and as the fallback for small tables. `lo`/`hi` None: the whole run."""
    xs = np.asarray(x, dtype=np.float64)
    run_x = running_x(xs)
    finite = np.isfinite(run_x)
    if not finite.any():
        empty = {name: Line(np.empty(0), np.empty(0)) for name in columns}
        return View(empty, 0, True, float("nan"), float("nan"), width)
    first = float(run_x[finite][0])
    last = float(run_x[finite][-1])
    lo = first if lo is None else float(lo)
    hi = last if hi is None else float(hi)
    start = int(np.searchsorted(run_x[finite], lo, "left")) + int(np.argmax(finite))
    stop = int(np.searchsorted(run_x[finite], hi, "right")) + int(np.argmax(finite))
    rows = max(0, stop - start)
    before, after = max(start - 1, int(np.argmax(finite))), min(stop + 1, len(xs))
    if rows <= raw_limit or hi <= lo:
        lines = {}
        for name, values in columns.items():
            keep = np.isfinite(xs[before:after])
            lines[name] = Line(xs[before:after][keep], _gaps(values[before:after])[keep])
        return View(lines, rows, True, lo, hi, width)
    pixel = _pixel_of(run_x[start:stop], lo, hi, width)
    lines, stats = {}, {}
    for name, values in columns.items():
        points_x, points_y, count, total, squares = _m4(
            xs[start:stop], _gaps(values[start:stop]), pixel, width
        )
        edge_x = [xs[before]] if before < start else []
        edge_y = [_gaps(values[before : before + 1])[0]] if before < start else []
        tail_x = [xs[stop]] if stop < after else []
        tail_y = [_gaps(values[stop : stop + 1])[0]] if stop < after else []
        lines[name] = Line(
            np.concatenate([edge_x, points_x, tail_x]).astype(np.float64),
            np.concatenate([edge_y, points_y, tail_y]).astype(np.float64),
        )
        stats[name] = PixelStats(count, total, squares)
    return View(lines, rows, False, lo, hi, width, stats=stats)


def pixel_edges(lo: float, hi: float, width: int) -> np.ndarray:
    """The x where each pixel column starts (width + 1 values, the last is `hi`)."""
    return lo + (hi - lo) * np.arange(width + 1) / width


def _pixel_of(run_x: np.ndarray, lo: float, hi: float, width: int) -> np.ndarray:
    """The pixel column of each row: columns are [edge_i, edge_i+1), the last includes hi."""
    edges = pixel_edges(lo, hi, width)
    return np.clip(np.searchsorted(edges, run_x, "right") - 1, 0, width - 1)


def _gaps(values: np.ndarray) -> np.ndarray:
    """float64 values with every non-finite value as NaN."""
    result = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(result), result, np.nan)


def _m4(
    xs: np.ndarray, ys: np.ndarray, pixel: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel column: first, min, max, last points (fewer when it has fewer rows), and
    the finite count, sum and sum of squares."""
    out_x: list[float] = []
    out_y: list[float] = []
    count = np.zeros(width, dtype=np.int64)
    total = np.zeros(width, dtype=np.float64)
    squares = np.zeros(width, dtype=np.float64)
    bounds = np.searchsorted(pixel, np.arange(width + 1), "left")
    for column in range(width):
        a, b = int(bounds[column]), int(bounds[column + 1])
        if a == b:
            continue
        cx, cy = xs[a:b], ys[a:b]
        good = np.isfinite(cy)
        count[column] = int(good.sum())
        total[column] = float(cy[good].sum())
        squares[column] = float((cy[good] ** 2).sum())
        if b - a <= 4:
            out_x.extend(cx.tolist())
            out_y.extend(cy.tolist())
            continue
        middle = (cx[0] + cx[-1]) / 2
        low = float(cy[good].min()) if good.any() else np.nan
        high = float(cy[good].max()) if good.any() else np.nan
        out_x.extend([cx[0], middle, middle, cx[-1]])
        out_y.extend([cy[0], low, high, cy[-1]])
    return np.asarray(out_x), np.asarray(out_y), count, total, squares


def pixel_min_max(line: Line, lo: float, hi: float, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel column, the min and max of a line's finite points in [lo, hi] (NaN where
    none): what tests compare between a view and every raw row."""
    inside = (line.x >= lo) & (line.x <= hi) & np.isfinite(line.y)
    pixel = _pixel_of(line.x[inside], lo, hi, width)
    low = np.full(width, np.inf)
    high = np.full(width, -np.inf)
    np.minimum.at(low, pixel, line.y[inside])
    np.maximum.at(high, pixel, line.y[inside])
    low[np.isinf(low)] = np.nan
    high[np.isinf(high)] = np.nan
    return low, high


def columns_of(names: Sequence[str]) -> list[str]:
    """The y columns a view is asked for, without duplicates, in order."""
    return list(dict.fromkeys(names))
