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


def plain_numbers(columns: list[Any]) -> list[Any]:
    """Numbers as written: 2014, not HoloViews' "2,014"; 0.5 and 0.0000123 in full (ten
    decimals at most, trailing zeros dropped); e-notation only below 1e-7 or from 1e16."""
    from bokeh.models import NumberFormatter, ScientificFormatter

    for column in columns:
        if isinstance(column.formatter, NumberFormatter):
            column.formatter = ScientificFormatter(
                precision=10, power_limit_low=-7, power_limit_high=16, nan_format="NaN"
            )
    return columns


def keep_plain(hv_plot: Any) -> None:
    """HoloViews makes the table's columns again, with its own formatters, on every update
    (without running hooks): have its column maker give plain ones (once per plot)."""
    make = hv_plot._get_columns
    if getattr(make, "plain_numbers", False):
        return

    def plain_columns(element: Any, data: Any) -> list[Any]:
        return plain_numbers(make(element, data))

    plain_columns.plain_numbers = True  # type: ignore[attr-defined]
    hv_plot._get_columns = plain_columns


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
        columns = hv_plot.handles.get("table")
        if columns is not None:
            plain_numbers(columns.columns)
        keep_plain(hv_plot)

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
