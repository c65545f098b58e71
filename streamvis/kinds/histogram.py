"""`histogram`: counts of a numeric column in bins. Automatic edges are fixed by the first
data and only widen (doubling the span) when values fall outside, so bars do not jump
around as data grows; `range: [low, high]` is not offered yet, `bins` sets the count."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from streamvis.kinds.bar import remember_source
from streamvis.kinds.base import axis_opts, range_selection
from streamvis.kinds.contract import Kind, PlotMarks
from streamvis.layout import fields
from streamvis.transforms.crossfilter import Crossfilter, Selection
from streamvis.transforms.encodings import Need, widened
from streamvis.transforms.members import Tally

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot


class StableEdges:
    """Bin edges that stay put while the data fits and widen by doubling when it does not."""

    def __init__(self, bins: int) -> None:
        self.bins = bins
        self.low: float | None = None
        self.high: float | None = None

    def edges(self, values: np.ndarray) -> np.ndarray:
        self.low, self.high = widened(self.low, self.high, values)
        if self.low is None or self.high is None:
            return np.linspace(0.0, 1.0, self.bins + 1)
        return np.linspace(self.low, self.high, self.bins + 1)


def counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin, ignoring NaN and inf."""
    finite = values[np.isfinite(values)]
    return np.histogram(finite, bins=edges)[0]


class HistogramState:
    """A histogram in a crossfilter group: counts per bin of the stream's rows held in
    memory that pass the other members' selections (the bins are the stream's, shared by
    every page); a range drawn on it filters the rest of the group by `value`."""

    def __init__(self, plot: Plot) -> None:
        self.plot = plot
        self.column = plot.get("value")
        self.bins = int(plot.get("bins"))
        self.tally = Tally(None, extremes=False)
        self.group: Crossfilter | None = None
        self.limit = 1  # the page's subscription only signals new rows: the group reads
        self.source: Any = None  # the Bokeh data source (bar.remember_source)
        self.render_listeners: list[Callable[[Any], None]] = []  # told of each render

    def needs(self) -> list[Need]:
        return [Need("bins", self.column, self.bins)]

    def _add(self, group: Crossfilter, start: int, mask: np.ndarray | None, reset: bool) -> None:
        encodings = group.encodings
        assert encodings is not None
        codes = encodings.bins[(self.column, self.bins)].codes.values[start:]
        self.tally.add(codes, self.bins + 1, encodings, start, mask, reset)

    def recompute(self, group: Crossfilter, mask: np.ndarray | None) -> None:
        self._add(group, 0, mask, reset=True)

    def fold(self, group: Crossfilter, start: int, mask: np.ndarray | None) -> None:
        self._add(group, start, mask, reset=False)

    def update(self, batch: Any, reset: bool, key: Any = None) -> Any:
        if self.group is not None:
            self.group.ingest(reset, key)
        return self.table()

    def table(self) -> Any:
        """Columns `low`, `high` (each bin's edges) and `count`."""
        import pandas as pd

        encodings = self.group.encodings if self.group is not None else None
        binned = encodings.bins.get((self.column, self.bins)) if encodings else None
        edges = binned.edges if binned is not None else np.linspace(0.0, 1.0, self.bins + 1)
        counts = np.zeros(self.bins + 1)
        counts[: min(len(self.tally.count), self.bins + 1)] = self.tally.count[: self.bins + 1]
        return pd.DataFrame({"low": edges[:-1], "high": edges[1:], "count": counts[1:]})

    def select_range(self, ranges: list[tuple[str, float, float]]) -> None:
        """A range drawn on this chart: filter the rest of the group by it."""
        if self.group is None or not ranges:
            return
        column, low, high = ranges[0]
        self.group.select(self.plot.id, Selection(column, low=low, high=high))


def make_state(plot: Plot) -> HistogramState | None:
    """In a crossfilter group: counts of the rows passing the other charts' selections."""
    return HistogramState(plot) if plot.crossfilter else None


def buffer_columns(plot: Plot) -> dict[str, str]:
    """In a group the page draws the state's table of bins; alone, the value column."""
    if plot.crossfilter:
        return dict.fromkeys(("low", "high", "count"), "float64")
    return dict.fromkeys(plot.columns, "float64")


def build(plot: Plot, rows: Any, *, state: HistogramState | None, marks: PlotMarks) -> Any:
    """A DynamicMap of hv.Histogram over the Buffer's rows (in a group: its table of bins)."""
    import holoviews as hv

    column = plot.get("value")
    stable = StableEdges(int(plot.get("bins")))

    def draw(data: Any) -> Any:
        if state is not None:
            low, high = np.asarray(data["low"], float), np.asarray(data["high"], float)
            edges = np.append(low, high[-1:]) if len(low) else stable.edges(np.empty(0))
            found = np.asarray(data["count"], float) if len(low) else np.zeros(len(edges) - 1)
            return hv.Histogram((edges, found), kdims=[column], vdims=["count"])
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
    if state is not None and plot.crossfilter:
        opts["hooks"] = [*opts["hooks"], remember_source(state)]
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
    buffer_columns=buffer_columns,
)
