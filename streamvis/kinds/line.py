"""`line`: one line per y column against a shared x (the 'tandem lines' of the first
release). NaN and inf are drawn as gaps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamvis import fields
from streamvis.crossfilter import RowsState
from streamvis.kinds.base import axis_opts, points, range_selection

if TYPE_CHECKING:
    from streamvis.spec import Plot

FIELDS = {"x": fields.column(required=True), "y": fields.columns(required=True)}
OPTIONS = (
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
)


def make_state(plot: Plot) -> RowsState | None:
    """In a crossfilter group: the newest rows passing the other charts' selections."""
    return RowsState(plot, points(plot), plot.x or "") if plot.crossfilter else None


def build(plot: Plot, buffer: Any, state: RowsState | None = None) -> Any:
    """A DynamicMap drawing `plot.y` against `plot.x` from the session's Buffer."""
    import holoviews as hv

    colors = plot.options.get("colors") or []
    width = plot.options.get("line_width", 2.0)
    alpha = plot.options.get("alpha", 1.0)

    def draw(data: Any) -> Any:
        curves = []
        for index, column in enumerate(plot.y):
            style: dict[str, Any] = {"line_width": width, "alpha": alpha}
            if index < len(colors):
                style["color"] = colors[index]
            curves.append(hv.Curve(data, plot.x, column, label=column).opts(**style))
        return curves[0] if len(curves) == 1 else hv.Overlay(curves)

    dynamic_map = hv.DynamicMap(draw, streams=[buffer])
    opts = axis_opts(plot)
    range_selection(dynamic_map, opts, plot, state, (plot.x or "",))
    return dynamic_map.opts(**opts)
