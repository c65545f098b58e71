"""`ring` (and `pie`, see pie.py): the `bar` aggregate drawn as wedges of a circle.

Same fields and the same exact, incremental aggregate as `bar` (`by`, `value`, `agg`,
`sort`), plus `inner_radius`: the hole's radius as a fraction of the outer radius (0 draws a
pie, the default 0.5 a ring). Wedges run clockwise from twelve o'clock in the table's order
(`sort`); each category keeps its color as new ones appear. A wedge's size is its share of
the total of the non-negative values (a negative value draws no wedge). The legend lists
every category with its value (`legend: false` hides it, a position moves it); hovering a
wedge shows category, value and share. Wedge opacity is the `alpha` option (default 0.9)
times the drawn table's `alpha` column when it has one (crossfilter dims the categories
outside a selection with it).

The wedges are hv.Polygons (annular sectors, one per category) in the data source
`sv:<plot id>:wedges`, whose columns include `category`, `value`, `color`, `alpha` and
`wedges` (the share of the total, 0..1).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from streamvis.kinds import bar
from streamvis.kinds.base import axis_opts
from streamvis.kinds.contract import Kind, PlotMarks
from streamvis.layout import fields

if TYPE_CHECKING:
    import pandas as pd

    from streamvis.layout.spec import Plot

MAX_INNER_RADIUS = 0.9
# Vertices of a full circle's arc: enough that the outline looks round at any cell size.
ARC_POINTS = 256
VDIMS = ["wedges", "category", "value", "color", "alpha", "label"]
TOOLTIPS = [
    ("category", "@{category}"),
    ("value", "@{value}{0,0.[0000]}"),
    ("share", "@{wedges}{0.0%}"),
]
INSIDE_POSITIONS = ("top_left", "top_right", "bottom_left", "bottom_right")
OUTSIDE_PLACES = {"top": "above", "bottom": "below", "left": "left", "right": "right"}


def validate(fields: dict[str, Any]) -> tuple[str, str] | None:
    """bar's checks, and an inner radius that leaves a visible ring."""
    inner = fields.get("inner_radius")
    if inner is not None and not 0 <= inner <= MAX_INNER_RADIUS:
        return (
            "inner_radius",
            f"must be between 0 (a pie) and {MAX_INNER_RADIUS} (a thin ring): a fraction of "
            f"the radius, not {inner:g}",
        )
    return bar.validate(fields)


def format_value(value: float) -> str:
    """A value as the legend shows it: 1,234.56, 3, 0.000123, 1.23457e+09."""
    return format(value, ",.6g")


def sector(start: float, end: float, inner: float) -> tuple[np.ndarray, np.ndarray]:
    """Outline of the annular sector between angles `start` and `end` (radians, clockwise
    from twelve o'clock), outer radius 1 and inner radius `inner`: the outer arc forwards,
    then the inner arc back (or the centre, for a pie)."""
    steps = max(2, math.ceil(ARC_POINTS * (end - start) / (2 * math.pi)) + 1)
    angles = np.linspace(start, end, steps)
    if inner > 0:
        back = angles[::-1]
        xs = np.concatenate([np.sin(angles), inner * np.sin(back)])
        ys = np.concatenate([np.cos(angles), inner * np.cos(back)])
    else:
        xs = np.append(np.sin(angles), 0.0)
        ys = np.append(np.cos(angles), 0.0)
    return xs, ys


def wedges(table: pd.DataFrame, inner: float, alpha: float) -> list[dict[str, Any]]:
    """One polygon (with its vdims) per row of the aggregate table, in the table's order."""
    values = np.asarray(table["value"], dtype=float)
    sizes = np.where(np.isfinite(values) & (values > 0), values, 0.0)
    total = float(sizes.sum())
    shares = sizes / total if total > 0 else np.zeros(len(sizes))
    alphas = alpha * (np.asarray(table["alpha"], dtype=float) if "alpha" in table else 1.0)
    alphas = np.broadcast_to(alphas, len(table))
    ends = np.cumsum(shares) * 2 * math.pi
    polygons = []
    for index, (category, color) in enumerate(zip(table["category"], table["color"], strict=True)):
        start = ends[index - 1] if index else 0.0
        xs, ys = sector(start, ends[index], inner)
        polygons.append(
            {
                "x": xs,
                "y": ys,
                "wedges": float(shares[index]),
                "category": str(category),
                "value": float(values[index]),
                "color": str(color),
                "alpha": float(alphas[index]),
                "label": f"{category}: {format_value(values[index])}",
            }
        )
    return polygons


def build(plot: Plot, rows: Any, *, state: bar.BarState | None, marks: PlotMarks) -> Any:
    """A DynamicMap of hv.Polygons, one annular sector per category of the aggregate; in a
    crossfilter group a click on a wedge toggles its category."""
    import holoviews as hv

    inner = float(plot.get("inner_radius"))
    alpha = float(plot.options.get("alpha", 0.9))
    legend = plot.options.get("legend", True)

    def draw(data: Any) -> Any:
        if state is not None:  # polygon i is table row i: what a tap's index refers to
            state.shown = [str(c) for c in data["category"]]
        return hv.Polygons(wedges(data, inner, alpha), vdims=VDIMS)

    def ring_hook(hv_plot: Any, element: Any) -> None:
        """No frame outline; add the legend once (its labels are the `label` column, one entry
        per category), shown only while there are wedges."""
        from bokeh.core.properties import field
        from bokeh.models import Legend, LegendItem

        figure = hv_plot.handles["plot"]
        if marks.first(figure, "ring"):
            figure.min_border = 4
            figure.outline_line_color = None
            if legend is not False:
                item = LegendItem(
                    label=field("label"), renderers=[hv_plot.handles["glyph_renderer"]]
                )
                box = Legend(
                    name=f"sv-legend:{plot.id}",
                    items=[item],
                    border_line_alpha=0,
                    background_fill_alpha=0,
                    label_text_font_size="11px",
                    glyph_height=14,
                    glyph_width=14,
                    spacing=2,
                )
                if legend in INSIDE_POSITIONS:
                    box.location = legend
                    figure.add_layout(box, "center")
                else:
                    place = OUTSIDE_PLACES.get(legend, "right")
                    if place in ("above", "below"):
                        box.orientation, box.location = "horizontal", "center"
                    figure.add_layout(box, place)
        for box in figure.legend:
            if box.name == f"sv-legend:{plot.id}":
                box.visible = len(element) > 0

    opts = axis_opts(plot, marks, follow_in_browser=True)
    opts["hooks"].append(ring_hook)
    opts.update(
        show_legend=False,
        show_grid=False,
        data_aspect=1,  # one data unit as long across as up: the circle stays round
        xaxis=None,
        yaxis=None,
        tools=["hover"],  # also what makes HoloViews put the vdims in the data source
        default_tools=[],
        toolbar=None,
        hover_tooltips=TOOLTIPS,
        fill_color="color",
        fill_alpha="alpha",
        line_color="white",
        line_width=1.5,
    )
    dynamic_map = hv.DynamicMap(draw, streams=[rows])
    if state is not None and plot.crossfilter:
        opts["tools"] = [*opts["tools"], "tap"]
        opts["hooks"] = [*opts["hooks"], bar.remember_source(state, taps=True)]
        opts.update(nonselection_alpha=1.0, selection_alpha=1.0)
    return dynamic_map.opts(**opts)


KIND = Kind(
    name="ring",
    fields={**bar.KIND.fields, "inner_radius": fields.number(default=0.5)},
    options=("title", "legend", "colors", "alpha"),
    validate=validate,
    build=build,
    make_state=bar.make_state,
    buffer_columns=bar.buffer_columns,
)
