"""`line`: one line per y column against a shared x (the 'tandem lines' of the first
release). NaN and inf are drawn as gaps.

Options `smoothing` (TensorBoard's moving average; the raw line stays, faint, behind) and
`x_axis` (step, wall or relative time) are the starting values of the page's controls,
which restyle every line plot of the page (see streamvis/page/controls.py)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from functools import reduce
from typing import TYPE_CHECKING, Any

from streamvis.kinds.base import axis_opts, points, range_selection, run_label
from streamvis.kinds.contract import Kind, PlotMarks
from streamvis.layout import fields
from streamvis.transforms.members import RowsState
from streamvis.transforms.smoothing import (
    PALETTE,
    RAW_ALPHA,
    TIME_COLUMNS,
    ema,
    smoothed_name,
    smoothing_stream,
    weight_of,
    x_axis_of,
    x_column,
    x_label,
)

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot

DASHES = ("solid", "dashed", "dotted", "dotdash", "dashdot")  # y columns of one compared run


def make_state(plot: Plot) -> RowsState | None:
    """In a crossfilter group: the newest rows passing the other charts' selections."""
    return RowsState(plot, points(plot), plot.x or "") if plot.crossfilter else None


def buffer_columns(plot: Plot) -> dict[str, str]:
    """The Buffer's columns: the plot's, and the arrival times the x axis choice needs
    (not for crossfilter members, whose rows come from a filtered summary)."""
    columns = dict.fromkeys(plot.columns, "float64")
    return columns if plot.crossfilter else {**columns, **TIME_COLUMNS}


def line_style(plot: Plot, index: int, color: str | None, *, fixed_color: bool) -> dict[str, Any]:
    """Bokeh style of y column `index`: a compared run's color with one dash per column, else
    the `colors` option, else (with `fixed_color`) the palette's color for that column."""
    options = plot.options
    style: dict[str, Any] = {
        "line_width": options.get("line_width", 2.0),
        "alpha": options.get("alpha", 1.0),
    }
    colors = options.get("colors") or []
    if color is not None:
        style.update(color=color, line_dash=DASHES[index % len(DASHES)])
    elif index < len(colors):
        style["color"] = colors[index]
    elif fixed_color:
        style["color"] = PALETTE[index % len(PALETTE)]
    return style


def layers(
    plot: Plot, buffer: Any, smoothing: Any, run: str | None = None, color: str | None = None
) -> Any:
    """A DynamicMap of `plot`'s lines from one Buffer, redrawn on new rows and on a
    smoothing event. `run` and `color` are set when several runs share the figure.

    With the `smoothing` option above 0 each column is a faint raw line and, in the same
    color, the smoothed line the legend names; at 0 it is the plain line."""
    import holoviews as hv
    import pandas as pd

    alpha = plot.options.get("alpha", 1.0)
    smoothed = weight_of(plot) > 0
    x = x_column(plot, x_axis_of(plot))

    def draw(data: Any, weight: float) -> Any:
        curves = []
        for index, column in enumerate(plot.y):
            label = run_label(plot, column, run)
            # the raw and the smoothed line must share a color
            style = line_style(plot, index, color, fixed_color=smoothed)
            if not smoothed:
                curves.append(hv.Curve(data, x, column, label=label).opts(**style))
                continue
            raw = hv.Curve(data, x, column, label=label)
            curves.append(raw.opts(**{**style, "alpha": alpha * RAW_ALPHA}, show_legend=False))
            name = smoothed_name(column)
            frame = pd.DataFrame({x: data[x], name: ema(data[column], weight)})
            value = hv.Dimension(name, label=column)
            curves.append(hv.Curve(frame, x, value, label=label).opts(**style))
        return curves[0] if len(curves) == 1 and run is None else hv.Overlay(curves)

    return hv.DynamicMap(draw, streams=[buffer, smoothing])


def is_feed(rows: Any) -> bool:
    """Rows given as a level-of-detail feed (streamvis/page/lines.py), not one Buffer."""
    return hasattr(rows, "line_buffer")


def feed_layers(plot: Plot, feed: Any, run: str | None = None, color: str | None = None) -> Any:
    """`plot`'s lines from a level-of-detail feed: one DynamicMap per drawn line, each on
    its own Buffer (a line's points are its own: min and max sit at different x per column).
    With smoothing each column is a faint raw line and the smoothed line the legend names."""
    import holoviews as hv

    alpha = plot.options.get("alpha", 1.0)
    smoothed = weight_of(plot) > 0
    x = feed.x_name()
    drawn = []

    def curve(value: Any, label: str, style: dict[str, Any]) -> Callable[[Any], Any]:
        return lambda data: hv.Curve(data, x, value, label=label).opts(**style)

    for index, column in enumerate(plot.y):
        label = run_label(plot, column, run)
        style = line_style(plot, index, color, fixed_color=True)
        raw_style = {**style, "alpha": alpha * RAW_ALPHA, "show_legend": False}
        drawn.append(
            hv.DynamicMap(
                curve(column, label, raw_style if smoothed else style),
                streams=[feed.line_buffer(run, column)],
            )
        )
        if smoothed:
            name = smoothed_name(column)
            value = hv.Dimension(name, label=column)
            drawn.append(
                hv.DynamicMap(curve(value, label, style), streams=[feed.line_buffer(run, name)])
            )
    return reduce(operator.mul, drawn)


def attach_feed(feed: Any) -> Callable[[Any, Any], None]:
    """A render hook that lets the feed listen to its figure's zooms, pans and width, and
    update the plot's note."""

    def hook(hv_plot: Any, element: Any) -> None:
        feed.rendered(hv_plot.handles["plot"])

    return hook


def figure_opts(plot: Plot, marks: PlotMarks, **kwargs: Any) -> dict[str, Any]:
    """axis_opts with the x axis titled for the plot's x axis choice. The mouse wheel zooms
    x only, so the y axis keeps fitting the rows on screen (a view holds just those)."""
    opts = axis_opts(plot, marks, **kwargs)
    opts["xlabel"] = x_label(plot, x_axis_of(plot))
    opts["default_tools"] = ["save", "pan", "xwheel_zoom", "box_zoom", "reset"]
    opts["active_tools"] = ["pan", "xwheel_zoom"]
    return opts


def without_point_hover(opts: dict[str, Any]) -> dict[str, Any]:
    """Lines drawn from a feed get the feed's hover table (page/hover.py) instead of
    HoloViews' per-point hover, which would show downsampled points one line at a time."""
    opts["tools"] = [tool for tool in opts["tools"] if tool != "hover"]
    return opts


def build(plot: Plot, rows: Any, *, state: RowsState | None, marks: PlotMarks) -> Any:
    """A DynamicMap drawing `plot.y` against `plot.x` (or a time axis) from the session's
    Buffer; its Smoothing stream is in `.streams` for the page's slider. Given a
    level-of-detail feed instead (every plot outside a crossfilter group), draws from it."""
    if is_feed(rows):
        opts = without_point_hover(figure_opts(plot, marks))
        opts["hooks"] = [*opts["hooks"], attach_feed(rows)]
        return feed_layers(plot, rows).opts(**opts)
    dynamic_map = layers(plot, rows, smoothing_stream(weight_of(plot)))
    opts = figure_opts(plot, marks)
    range_selection(dynamic_map, opts, plot, state, (plot.x or "",))
    return dynamic_map.opts(**opts)


def compare(
    plot: Plot,
    rows: Mapping[str, Any],
    colors: Mapping[str, str],
    source_key: Callable[[Any], str],
    marks: PlotMarks,
) -> tuple[Any, list[Any]]:
    """Every run's lines in one figure, in the run's color (one dash per y column), all
    following one Smoothing stream (returned for the page's slider). From a level-of-detail
    feed (the same one for every run) the feed itself follows the slider."""
    feeds = {id(feed): feed for feed in rows.values() if is_feed(feed)}
    if feeds:
        feed = next(iter(feeds.values()))
        drawn = [feed_layers(plot, feed, run, colors[run]) for run in rows]
        opts = without_point_hover(figure_opts(plot, marks, source_key=source_key))
        opts["hooks"] = [*opts["hooks"], attach_feed(feed)]
        return reduce(operator.mul, drawn).opts(**opts), [feed]
    smoothing = smoothing_stream(weight_of(plot))
    drawn = [layers(plot, rows[run], smoothing, run, colors[run]) for run in rows]
    opts = figure_opts(plot, marks, source_key=source_key)
    return reduce(operator.mul, drawn).opts(**opts), [smoothing]


KIND = Kind(
    name="line",
    fields={"x": fields.column(required=True), "y": fields.columns(required=True)},
    options=(
        "title",
        "xlabel",
        "ylabel",
        "logx",
        "logy",
        "legend",
        "points",
        "colors",
        "line_width",
        "alpha",
        "smoothing",
        "x_axis",
    ),
    build=build,
    make_state=make_state,
    buffer_columns=buffer_columns,
    compare=compare,
    line_controls=True,
    level_of_detail=True,
)
