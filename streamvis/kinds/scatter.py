"""`scatter`: points of (x, y), appended or replaced as a whole (an evolving point cloud),
optionally colored by a numeric `color` column through a colormap (`palette`). Above
`density_above` rows the plot draws a density of every kept row instead (scatter_density)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from functools import reduce
from typing import TYPE_CHECKING, Any

from streamvis.kinds.base import axis_opts, points, range_selection, run_label
from streamvis.kinds.contract import Kind, PlotMarks
from streamvis.kinds.scatter_density import ScatterState, compare_note
from streamvis.layout import fields
from streamvis.transforms.members import RowsState

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot


def make_state(plot: Plot) -> RowsState | ScatterState:
    """In a crossfilter group: the newest rows passing the other charts' selections (always
    points); otherwise points or a density of every kept row (see scatter_density)."""
    if plot.crossfilter:
        return RowsState(plot, points(plot), plot.x or "", plot.y[0] if plot.y else "")
    return ScatterState(plot)


MARKERS = ("circle", "square", "triangle", "diamond", "inverted_triangle")  # y columns of a run


def layers(
    plot: Plot,
    buffer: Any,
    run: str | None = None,
    color: str | None = None,
    state: ScatterState | None = None,
) -> Any:
    """A DynamicMap of hv.Scatter per y column from one Buffer. With `run` and `color` (runs
    compared in one figure) every point of the run has its color, one marker per column,
    and the legend names the run; the `color` column is not mapped then. While `state`
    shows a density, no point is drawn."""
    import holoviews as hv

    colors = plot.options.get("colors") or []
    size = plot.options.get("size", 5.0)
    alpha = plot.options.get("alpha", 0.8)
    palette = plot.options.get("palette", "Viridis")
    mapped = plot.color if run is None else None

    def draw(data: Any) -> Any:
        if state is not None and state.dense:  # the density, or a zoom's few rows
            data = state.in_view if state.in_view is not None else data.iloc[:0]
        layers = []
        for index, column in enumerate(plot.y):
            vdims = [column, mapped] if mapped else [column]
            style: dict[str, Any] = {"size": size, "alpha": alpha}
            label = column
            if run is not None:
                label = run_label(plot, column, run)
                style.update(color=color, marker=MARKERS[index % len(MARKERS)])
            elif mapped:
                style.update(color=mapped, cmap=palette, colorbar=index == 0)
            elif index < len(colors):
                style["color"] = colors[index]
            layers.append(hv.Scatter(data, plot.x, vdims, label=label).opts(**style))
        return layers[0] if len(layers) == 1 and run is None else hv.Overlay(layers)

    return hv.DynamicMap(draw, streams=[buffer])


def build(
    plot: Plot, rows: Any, *, state: RowsState | ScatterState | None, marks: PlotMarks
) -> Any:
    """A DynamicMap of hv.Scatter per y column from the session's Buffer; with a
    ScatterState also the density image and the note of what is drawn."""
    dynamic_map = layers(plot, rows, state=state if isinstance(state, ScatterState) else None)
    opts = axis_opts(plot, marks)
    if isinstance(state, ScatterState):
        state.points_stream = rows
        opts["hooks"] = [*opts["hooks"], state.hook(marks)]
    else:
        range_selection(dynamic_map, opts, plot, state, (plot.x or "", plot.y[0]))
    return dynamic_map.opts(**opts)


def compare(
    plot: Plot,
    rows: Mapping[str, Any],
    colors: Mapping[str, str],
    source_key: Callable[[Any], str],
    marks: PlotMarks,
) -> tuple[Any, list[Any]]:
    """Every run's points in one figure, in the run's color (one marker per y column):
    always points, the newest `points` rows of each run, which the note says."""
    drawn = [layers(plot, rows[run], run, colors[run]) for run in rows]
    opts = axis_opts(plot, marks, source_key=source_key)
    opts["hooks"] = [*opts["hooks"], compare_note(plot, rows, marks)]
    return reduce(operator.mul, drawn).opts(**opts), []


KIND = Kind(
    name="scatter",
    fields={
        "x": fields.column(required=True),
        "y": fields.columns(required=True),
        "color": fields.column(),
    },
    options=(
        "title",
        "xlabel",
        "ylabel",
        "logx",
        "logy",
        "legend",
        "points",
        "density_above",
        "colors",
        "palette",
        "size",
        "alpha",
    ),
    build=build,
    make_state=make_state,
    compare=compare,
)
