"""`histogram`: counts of a numeric column in bins. Automatic edges are fixed by the first
data and only widen (doubling the span) when values fall outside, so bars do not jump
around as data grows; `range: [low, high]` is not offered yet, `bins` sets the count."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from streamvis.kinds.base import axis_opts, points, range_selection
from streamvis.kinds.contract import Kind, PlotMarks
from streamvis.layout import fields
from streamvis.transforms.crossfilter import RowsState

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot


class StableEdges:
    """Bin edges that stay put while the data fits and widen by doubling when it does not."""

    def __init__(self, bins: int) -> None:
        self.bins = bins
        self.low: float | None = None
        self.high: float | None = None

    def edges(self, values: np.ndarray) -> np.ndarray:
        finite = values[np.isfinite(values)]
        if finite.size:
            low, high = float(finite.min()), float(finite.max())
            if self.low is None or self.high is None:
                pad = (high - low) * 0.05 or max(abs(low) * 0.05, 0.5)
                self.low, self.high = low - pad, high + pad
            while low < self.low or high > self.high:
                span = self.high - self.low
                if low < self.low:
                    self.low -= span
                if high > self.high:
                    self.high += span
        if self.low is None or self.high is None:
            return np.linspace(0.0, 1.0, self.bins + 1)
        return np.linspace(self.low, self.high, self.bins + 1)


def counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin, ignoring NaN and inf."""
    finite = values[np.isfinite(values)]
    return np.histogram(finite, bins=edges)[0]


def make_state(plot: Plot) -> RowsState | None:
    """In a crossfilter group: the newest rows passing the other charts' selections."""
    return RowsState(plot, points(plot), plot.get("value")) if plot.crossfilter else None


def build(plot: Plot, rows: Any, *, state: RowsState | None, marks: PlotMarks) -> Any:
    """A DynamicMap of hv.Histogram over the Buffer's rows."""
    import holoviews as hv

    column = plot.get("value")
    stable = StableEdges(int(plot.get("bins")))

    def draw(data: Any) -> Any:
        values = np.asarray(data[column], dtype=float)
        edges = stable.edges(values)
        return hv.Histogram((edges, counts(values, edges)), kdims=[column], vdims=["count"])

    opts = axis_opts(plot, marks)
    # HistogramPlot reads the count range HoloViews only computes with apply_ranges on; the
    # hook's DataRange1d axes still decide what the browser shows.
    opts.pop("apply_ranges")
    opts.update(
        xlabel=plot.options.get("xlabel", column), ylabel=plot.options.get("ylabel", "count")
    )
    style = {"alpha": plot.options.get("alpha", 0.85)}
    if plot.options.get("colors"):
        style["color"] = plot.options["colors"][0]
    dynamic_map = hv.DynamicMap(draw, streams=[rows])
    range_selection(dynamic_map, opts, plot, state, (column,))
    return dynamic_map.opts(**opts, **style)


KIND = Kind(
    name="histogram",
    fields={
        "value": fields.column(required=True),
        "bins": fields.count(default=30, limit="bins"),
    },
    options=("title", "xlabel", "ylabel", "logy", "points", "colors", "alpha"),
    build=build,
    make_state=make_state,
)
