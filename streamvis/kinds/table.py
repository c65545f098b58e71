"""`table`: the newest rows of a stream, newest first.

Bokeh's table puts its column headers, and HoloViews the table's title, into the page as
HTML: both get escaped text here (cells are escaped by Bokeh's own formatters)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from streamvis.kinds.contract import Kind, PlotMarks
from streamvis.kinds.sanitize import format_literal
from streamvis.layout import fields
from streamvis.transforms.members import RowsState

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot


def buffer_length(plot: Plot) -> int:
    return int(plot.get("rows"))


def make_state(plot: Plot) -> RowsState | None:
    """Only a table in a crossfilter group needs a state (the newest rows passing the
    group's filters); otherwise its Buffer suffices."""
    return RowsState(plot, buffer_length(plot)) if plot.crossfilter else None


def plain_numbers(table: Any) -> None:
    """Numbers as written: 2014, not HoloViews' "2,014"; 0.5 and 0.0000123 in full (ten
    decimals at most, trailing zeros dropped); e-notation only below 1e-7 or from 1e16."""
    from bokeh.models import NumberFormatter, ScientificFormatter

    for column in table.columns:
        if isinstance(column.formatter, NumberFormatter):
            column.formatter = ScientificFormatter(
                precision=10, power_limit_low=-7, power_limit_high=16, nan_format="NaN"
            )


def build(plot: Plot, rows: Any, *, state: Any, marks: PlotMarks) -> Any:
    """A DynamicMap of hv.Table showing the Buffer's rows in reverse order."""
    import holoviews as hv

    headers = [hv.Dimension(column, label=html.escape(column)) for column in plot.columns]

    def draw(data: Any) -> Any:
        return hv.Table(data.iloc[::-1].reset_index(drop=True), kdims=[], vdims=headers)

    def name_source(hv_plot: Any, element: Any) -> None:
        """Name the data source for tests and users; let the table fill its cell (TablePlot
        takes no sizing options of its own)."""
        source = hv_plot.handles.get("source")
        if source is not None:
            source.name = f"sv:{plot.id}:table"
        table = hv_plot.handles.get("plot")  # not there yet on the very first call
        if table is not None:
            table.sizing_mode = "stretch_both"
            plain_numbers(table)

    title = format_literal(html.escape(plot.title))
    return hv.DynamicMap(draw, streams=[rows]).opts(title=title, hooks=[name_source])


KIND = Kind(
    name="table",
    fields={
        "columns": fields.columns(required=True),
        "rows": fields.count(default=20, limit="table_rows"),
    },
    options=("title",),
    build=build,
    make_state=make_state,
    buffer_length=buffer_length,
)
