"""A page's grid of plots, re-arranged in place when its layout changes (live reload).

Plots whose spec did not change (moving them with `at` is not a change) keep their Panel
cell, so the browser keeps their Bokeh figure: its data, zoom and selection stay, and their
session keeps their Buffers and crossfilter state. Removed plots leave the session (their
crossfilter selections with them); new plots are built and filled from the hub. No Bokeh
document code here: Panel reuses the models of cells it already drew.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamvis.layout.spec import Layout, Plot
    from streamvis.page.controls import LineControls
    from streamvis.page.session import LiveSession

ROW_HEIGHT = 260
# make_cell(plot) -> the Panel object drawing `plot` in this page's session
CellMaker = Callable[["Plot"], Any]


def equal_tracks(rows: int, cols: int) -> str:
    """CSS giving every grid row and column the same share of the page. Without it the grid
    tracks size to their content and a plot can push its neighbours off screen."""
    return (
        ":host { "
        f"grid-template-columns: repeat({cols}, minmax(0, 1fr)) !important; "
        f"grid-template-rows: repeat({rows}, minmax(0, 1fr)) !important; }}"
    )


def _unplaced(plot: Plot) -> Plot:
    """The plot's spec without its place: two plots equal here draw the same thing."""
    return replace(plot, at=(0, 0, 0, 0))


class LiveGrid:
    """The GridSpec of one page and the cell drawing each of its plots."""

    def __init__(self, layout: Layout, session: LiveSession, make_cell: CellMaker) -> None:
        import panel as pn

        self.session = session
        self.make_cell = make_cell
        self.cells: dict[str, tuple[Plot, Any]] = {}
        self.view = pn.GridSpec(sizing_mode="stretch_both", name="sv-grid")
        self.layout = layout
        for plot in layout.plots:
            self.cells[plot.id] = (plot, make_cell(plot))
        self._place(layout)

    def _place(self, layout: Layout) -> None:
        """Put every cell where `layout` says, in one change of the GridSpec."""
        rows, cols = layout.shape
        objects = {}
        for plot in layout.plots:
            top, left, height, width = plot.at
            objects[(top, left, top + height, left + width)] = self.cells[plot.id][1]
        self.view.param.update(
            min_height=ROW_HEIGHT * rows, stylesheets=[equal_tracks(rows, cols)]
        )
        self.view.objects = objects

    def rearrange(self, layout: Layout, controls: LineControls) -> None:
        """Show `layout`, keeping the cells (and their state) of plots that did not change."""
        kept_specs = {plot.id: _unplaced(plot) for plot in layout.plots}
        gone = {
            plot_id
            for plot_id, (plot, _cell) in self.cells.items()
            if kept_specs.get(plot_id) != _unplaced(plot)
        }
        self.session.tick()  # kept plots are up to date before any feed is read again
        self.session.drop(gone)
        controls.charts = [chart for chart in controls.charts if chart.plot.id not in gone]
        for plot_id in gone:
            del self.cells[plot_id]
        self.session.layout = layout
        self.session.replot({plot.id: plot for plot in layout.plots})
        added = [plot for plot in layout.plots if plot.id not in self.cells]
        charts_before = len(controls.charts)
        for plot in added:
            self.cells[plot.id] = (plot, self.make_cell(plot))
        for plot in layout.plots:  # kept plots take their new place (and Plot object)
            self.cells[plot.id] = (plot, self.cells[plot.id][1])
        controls.follow(controls.charts[charts_before:])
        self.session.refill({plot.id for plot in added})
        self.layout = layout
        self._place(layout)


class EditErrorBox:
    """The box above a page's grid saying why the layout file's latest edit is not drawn
    (hidden while the file loads)."""

    def __init__(self, styles: dict[str, str]) -> None:
        from streamvis.page.panes import literal

        self.pane = literal(
            "",
            visible=False,
            styles=styles,
            sizing_mode="stretch_width",
            css_classes=["sv-error", "sv-layout-error"],
        )

    def show(self, source: Any) -> None:
        """Show the error of `source` (a watched LayoutFile, or None)."""
        problem = getattr(source, "error", None)
        text = (
            ""
            if problem is None
            else "the layout file's latest edit was not applied; the last good layout "
            f"stays until it is fixed:\n{problem}"
        )
        if text != self.pane.object:
            self.pane.object = text
            self.pane.visible = problem is not None
