"""Smoothing and x axis of line plots: TensorBoard's debiased moving average, the arrival-time
columns a line plot's Buffer carries, and the colors that keep a raw line and its smoothed
line (or one run in a comparison) the same. No Panel here; HoloViews only inside functions.

A line plot's Buffer holds, besides the plot's columns, `_wall_time` (each row's arrival,
datetime64[ns] UTC) and `_relative` (seconds since the oldest row the stream keeps), so the
x axis can switch between step, wall time and relative time without asking the hub again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from streamvis.layout.checks import X_AXES

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot

__all__ = ["X_AXES", "ema", "with_times", "smoothing_stream"]
WALL = "_wall_time"
RELATIVE = "_relative"
TIME_COLUMNS = {WALL: "datetime64[ns]", RELATIVE: "float64"}
MAX_WEIGHT = 0.99
RAW_ALPHA = 0.25  # the raw line behind a smoothed one
# HoloViews' default color cycle: plain plots and smoothed or compared ones look alike.
PALETTE = (
    "#30a2da",
    "#fc4f30",
    "#e5ae38",
    "#6d904f",
    "#8b8b8b",
    "#17becf",
    "#9467bd",
    "#d62728",
    "#1f77b4",
    "#e377c2",
    "#8c564b",
    "#bcbd22",
)
_smoothing_class: Any = None


def ema(values: Any, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: a debiased exponential moving average with `weight` (0 = off).

    Missing values (NaN) stay missing and do not count, so a gap neither drags the average
    toward zero nor ages it."""
    data = np.asarray(values, dtype="float64")
    if weight <= 0 or len(data) == 0:
        return data.copy()
    smoothed = pd.Series(data).ewm(alpha=1.0 - weight, adjust=True, ignore_na=True).mean()
    result = smoothed.to_numpy(dtype="float64", copy=True)
    result[np.isnan(data)] = np.nan
    return result


def smoothed_name(column: str) -> str:
    """The column (and data source suffix) holding `column`'s smoothed values."""
    return f"{column}_smoothed"


def weight_of(plot: Plot) -> float:
    """The plot's `smoothing` option (0 = off)."""
    return float(plot.options.get("smoothing", 0.0))


def x_axis_of(plot: Plot) -> str:
    """The plot's `x_axis` option; plots in a crossfilter group always use their x column
    (their selections are ranges of it)."""
    return "step" if plot.crossfilter else str(plot.options.get("x_axis", "step"))


def x_column(plot: Plot, x_axis: str) -> str:
    """The Buffer column drawn on the x axis."""
    return {"wall": WALL, "relative": RELATIVE}.get(x_axis, plot.x or "")


def x_label(plot: Plot, x_axis: str) -> str:
    """The x axis title: the `xlabel` option for steps, else what the time axis measures."""
    if x_axis == "wall":
        return "wall time (UTC)"
    if x_axis == "relative":
        return "relative time (s)"
    return str(plot.options.get("xlabel", plot.x or ""))


def with_times(frame: pd.DataFrame, times: np.ndarray | None, origin: int | None) -> pd.DataFrame:
    """`frame` with the arrival-time columns added (`origin`: ns of the run's first row;
    None means the first row of `times`). Rows without times get NaT and NaN."""
    rows = len(frame)
    if times is None or len(times) != rows:
        frame[WALL] = pd.Series(np.full(rows, np.datetime64("NaT"), "datetime64[ns]"))
        frame[RELATIVE] = np.full(rows, np.nan)
        return frame
    stamps = np.asarray(times, dtype="int64")
    start = int(stamps[0]) if origin is None and rows else int(origin or 0)
    frame[WALL] = stamps.astype("datetime64[ns]")
    frame[RELATIVE] = (stamps - start) / 1e9
    return frame


def smoothing_stream(weight: float) -> Any:
    """A HoloViews stream holding the smoothing weight: an event redraws at once."""
    global _smoothing_class
    if _smoothing_class is None:
        import holoviews as hv

        _smoothing_class = hv.streams.Stream.define("Smoothing", weight=0.0)
    return _smoothing_class(weight=float(weight))


def is_smoothing(stream: Any) -> bool:
    return _smoothing_class is not None and isinstance(stream, _smoothing_class)
