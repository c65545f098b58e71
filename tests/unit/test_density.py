"""streamvis/transforms/density.py against brute force: every point placed in its bin by
comparing it with the bin edges one by one."""

from __future__ import annotations

import numpy as np
import pytest

from streamvis.transforms.density import Density, Grid, bin_counts, extent, spread


def brute_counts(x: np.ndarray, y: np.ndarray, grid: Grid) -> np.ndarray:
    """Each finite point inside the area, in the bin whose edges hold it (the last bin of an
    axis holds its upper edge)."""
    x_edges = grid.x0 + (grid.x1 - grid.x0) * np.arange(grid.nx + 1) / grid.nx
    y_edges = grid.y0 + (grid.y1 - grid.y0) * np.arange(grid.ny + 1) / grid.ny
    counts = np.zeros((grid.ny, grid.nx), dtype=np.int64)
    for px, py in zip(x.tolist(), y.tolist(), strict=True):
        if not (grid.x0 <= px <= grid.x1 and grid.y0 <= py <= grid.y1):
            continue  # NaN fails every comparison too
        column = next(i for i in range(grid.nx) if px < x_edges[i + 1] or i == grid.nx - 1)
        row = next(j for j in range(grid.ny) if py < y_edges[j + 1] or j == grid.ny - 1)
        counts[row, column] += 1
    return counts


def cloud(seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=size) * 3
    y = rng.uniform(-5, 5, size=size)
    holes = rng.random(size)
    x[holes < 0.05] = np.nan
    y[(holes > 0.05) & (holes < 0.08)] = np.inf
    x[(holes > 0.08) & (holes < 0.1)] = -np.inf
    return x, y


@pytest.mark.parametrize("seed", range(6))
def test_counts_equal_brute_force_on_random_points_with_gaps(seed: int) -> None:
    x, y = cloud(seed, 2_000)
    rng = np.random.default_rng(100 + seed)
    x0, y0 = rng.uniform(-6, 0), rng.uniform(-6, 0)
    grid = Grid(x0, x0 + rng.uniform(0.5, 8), y0, y0 + rng.uniform(0.5, 8), *rng.integers(1, 9, 2))
    np.testing.assert_array_equal(bin_counts(x, y, grid), brute_counts(x, y, grid))


def test_points_on_edges_go_up_except_at_the_top_edge() -> None:
    grid = Grid(0.0, 4.0, 0.0, 2.0, 4, 2)
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 4.0, -0.5, 4.5])
    y = np.array([0.0, 1.0, 2.0, 0.5, 2.0, 0.0, 1.0, 1.0])
    counts = bin_counts(x, y, grid)
    np.testing.assert_array_equal(counts, brute_counts(x, y, grid))
    assert counts.sum() == 6  # the two points left and right of the area are not counted
    assert counts[0, 3] == 2
    assert counts[1, 3] == 1
    assert counts[1, 2] == 1  # (2, 2): on an inner x edge (goes right), on the top y edge


def test_batches_of_every_size_add_up_to_the_whole() -> None:
    x, y = cloud(7, 3_000)
    grid = Grid(-4.0, 4.0, -5.0, 5.0, 16, 9)
    density = Density(grid)
    start, rng = 0, np.random.default_rng(3)
    while start < len(x):
        size = int(rng.choice([0, 1, 2, 17, 500]))
        density.add(x[start : start + size], y[start : start + size])
        start += size
    np.testing.assert_array_equal(density.counts, brute_counts(x, y, grid))
    finite = np.isfinite(x) & np.isfinite(y)
    assert density.total + density.outside == finite.sum()
    image = density.image()
    assert image.dtype == np.float32
    assert np.isnan(image[density.counts == 0]).all()
    assert np.nansum(image) == density.total


def test_extent_holds_every_finite_point_and_is_never_empty() -> None:
    x, y = cloud(1, 500)
    x0, x1, y0, y1 = extent(x, y) or (0, 0, 0, 0)
    finite = np.isfinite(x) & np.isfinite(y)
    assert (x0, x1) == (x[finite].min(), x[finite].max())
    assert (y0, y1) == (y[finite].min(), y[finite].max())
    assert extent(np.array([np.nan, 1.0]), np.array([1.0, np.inf])) is None
    assert extent(np.array([2.0, 2.0]), np.array([5.0, 5.0])) == (1.5, 2.5, 4.5, 5.5)
    assert spread(1000.0, 1000.0) == (995.0, 1005.0)


def test_a_grid_of_no_area_or_no_bins_is_refused() -> None:
    with pytest.raises(ValueError, match="empty area"):
        Grid(1.0, 1.0, 0.0, 1.0, 2, 2)
    with pytest.raises(ValueError, match="at least one bin"):
        Grid(0.0, 1.0, 0.0, 1.0, 0, 2)
