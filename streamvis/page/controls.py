"""The page's line controls: a smoothing slider and an x axis select in the header, driving
every line plot of the page.

A weight change within the same look (smoothed stays smoothed) is a Smoothing stream event:
HoloViews redraws the smoothed lines at once. Turning smoothing on or off, or changing the
x axis (a datetime axis is a different figure), rebuilds that chart on the same Buffers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from streamvis.layout.spec import Plot
from streamvis.transforms.smoothing import MAX_WEIGHT, X_AXES, is_smoothing, weight_of, x_axis_of

# make(plot) -> (the HoloViews object drawing `plot`, the Smoothing streams it listens to)
Maker = Callable[[Plot], tuple[Any, list[Any]]]


def smoothing_streams(view: Any) -> list[Any]:
    """The Smoothing streams of a DynamicMap built by the line kind."""
    return [stream for stream in getattr(view, "streams", []) if is_smoothing(stream)]


class LineChart:
    """One line plot's pane, restyled by the page's controls."""

    def __init__(self, plot: Plot, make: Maker) -> None:
        import panel as pn

        self.plot = plot
        self.make = make
        self.weight = weight_of(plot)
        self.x_axis = x_axis_of(plot)
        view, self.streams = make(plot)
        self.pane = pn.pane.HoloViews(view, sizing_mode="stretch_both", linked_axes=False)

    def show(self, weight: float, x_axis: str) -> None:
        """Draw with this smoothing weight and x axis."""
        if self.plot.crossfilter:  # its selections are ranges of the x column
            x_axis = "step"
        if x_axis == "step" and self.plot.x in self.plot.y:  # no x column: stays on time
            x_axis = x_axis_of(self.plot)
        if (weight > 0, x_axis) != (self.weight > 0, self.x_axis):
            self.weight, self.x_axis = weight, x_axis
            options = {**self.plot.options, "smoothing": weight, "x_axis": x_axis}
            view, self.streams = self.make(replace(self.plot, options=options))
            self._unname_drawn()
            self.pane.object = view
        elif weight != self.weight:
            self.weight = weight
            for stream in self.streams:
                stream.event(weight=weight)

    def redraw(self, options: dict[str, Any]) -> None:
        """Draw again with these options set (the page's grouping, page/group_lines.py)."""
        self.plot = replace(self.plot, options={**self.plot.options, **options})
        shown = {**self.plot.options, "smoothing": self.weight, "x_axis": self.x_axis}
        view, self.streams = self.make(replace(self.plot, options=shown))
        self._unname_drawn()
        self.pane.object = view

    def _unname_drawn(self) -> None:
        """Take the `sv:`/`sv-` names off the figure being replaced: the browser may keep
        the old models, and `get_model_by_name` must find only the new ones."""
        for model, _parent in list(getattr(self.pane, "_models", {}).values()):
            for part in model.references():
                name = getattr(part, "name", None)
                if isinstance(name, str) and name.startswith(("sv:", "sv-")):
                    part.name = None


class LineControls:
    """The smoothing slider and x axis select of one page, and the line charts they drive.
    They start at the first line plot's `smoothing` and `x_axis` options."""

    def __init__(self) -> None:
        self.charts: list[LineChart] = []
        self._widgets: list[Any] = []

    def chart(self, plot: Plot, make: Maker) -> Any:
        """A pane for a line plot that follows the controls."""
        chart = LineChart(plot, make)
        self.charts.append(chart)
        return chart.pane

    def widgets(self) -> list[Any]:
        """The header's slider and select; none when the page has no line plot."""
        import panel as pn

        if not self.charts:
            return []
        if self._widgets:  # a page re-arranged by a layout edit keeps its controls
            return self._widgets
        first = self.charts[0]
        slider = pn.widgets.FloatSlider(
            label="smoothing",
            start=0.0,
            end=MAX_WEIGHT,
            step=0.01,
            value=first.weight,
            width=180,
            css_classes=["sv-smoothing"],
        )
        select = pn.widgets.Select(
            label="x axis",
            options=list(X_AXES),
            value=first.x_axis,
            width=110,
            css_classes=["sv-x-axis"],
        )

        def apply(_event: Any = None) -> None:
            for chart in self.charts:
                chart.show(float(slider.value), str(select.value))

        slider.param.watch(apply, "value")
        select.param.watch(apply, "value")
        self._widgets = [slider, select]
        return self._widgets

    def follow(self, charts: list[LineChart]) -> None:
        """Charts added after the controls were made (a layout edit) take their values."""
        if self._widgets:
            slider, select = self._widgets
            for chart in charts:
                chart.show(float(slider.value), str(select.value))
