"""Density of a point cloud: counts of (x, y) points on a grid of bins, the picture a scatter
plot draws when it holds more points than the screen can show one by one.

A `Grid` is the x/y range drawn and its bin counts (the page picks them from the plot's size
in pixels). Bins are half-open, [edge_i, edge_i+1), except the last of each axis, which
holds its upper edge too (numpy's histogram2d does the same). Points with a non-finite
coordinate or outside the grid are not counted. `Density` adds batches of points to the
counts (work proportional to the batch), so new rows keep a density current without
re-reading the rows already counted. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """The area [x0, x1] x [y0, y1] cut into `nx` columns and `ny` rows of bins."""

    x0: float
    x1: float
    y0: float
    y1: float
    nx: int
    ny: int

    def __post_init__(self) -> None:
        if not (self.x1 > self.x0 and self.y1 > self.y0):
            raise ValueError(f"an empty area: x [{self.x0}, {self.x1}], y [{self.y0}, {self.y1}]")
        if self.nx < 1 or self.ny < 1:
            raise ValueError(f"a grid needs at least one bin per axis, not {self.nx}x{self.ny}")

    def holds(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Which points lie inside the area (non-finite ones never do)."""
        return (x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1)


def bin_index(values: np.ndarray, low: float, high: float, bins: int) -> np.ndarray:
    """The bin of each value in [low, high] cut into `bins`; the upper edge is in the last."""
    scaled = (values - low) * (bins / (high - low))
    return np.clip(scaled.astype(np.int64), 0, bins - 1)


def bin_counts(x: np.ndarray, y: np.ndarray, grid: Grid) -> np.ndarray:
    """Points per bin as an int64 array of shape (ny, nx): row j is y bin j (bottom first),
    the layout an image glyph draws."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    inside = grid.holds(xs, ys)
    columns = bin_index(xs[inside], grid.x0, grid.x1, grid.nx)
    rows = bin_index(ys[inside], grid.y0, grid.y1, grid.ny)
    flat = np.bincount(rows * grid.nx + columns, minlength=grid.nx * grid.ny)
    return flat.reshape(grid.ny, grid.nx)


def spread(low: float, high: float) -> tuple[float, float]:
    """A non-empty range around [low, high]: a single value gets half a unit (or half a
    percent of its size) either side, so the points sit in the middle of the picture."""
    if high > low:
        return low, high
    half = max(abs(low) * 0.005, 0.5)
    return low - half, high + half


def extent(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float] | None:
    """(x0, x1, y0, y1) of the points with both coordinates finite; None when there are none."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    finite = np.isfinite(xs) & np.isfinite(ys)
    if not finite.any():
        return None
    x0, x1 = spread(float(xs[finite].min()), float(xs[finite].max()))
    y0, y1 = spread(float(ys[finite].min()), float(ys[finite].max()))
    return x0, x1, y0, y1


class Density:
    """Running counts of points on one grid; `outside` counts finite points that fell off it
    (a density that follows the data is re-binned on a wider grid when that is not 0)."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.counts = np.zeros((grid.ny, grid.nx), dtype=np.int64)
        self.outside = 0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Count a batch of points (several y columns: call once per column)."""
        xs = np.asarray(x, dtype=np.float64)
        ys = np.asarray(y, dtype=np.float64)
        self.counts += bin_counts(xs, ys, self.grid)
        finite = np.isfinite(xs) & np.isfinite(ys)
        self.outside += int((finite & ~self.grid.holds(xs, ys)).sum())

    @property
    def total(self) -> int:
        """Points counted inside the grid."""
        return int(self.counts.sum())

    def image(self) -> np.ndarray:
        """The counts as float32 with empty bins NaN (drawn transparent)."""
        shown = self.counts.astype(np.float32)
        shown[self.counts == 0] = np.nan
        return shown
