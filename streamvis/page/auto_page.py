"""The automatic layout on a page (streamvis/layout/auto.py makes it): followed as streams
and columns arrive, and a search box that hides the charts whose title does not match.

The hub's streams are looked at about once a second (a cheap key: each stream's columns
and their dtype kinds); the layout is made again only when the key changed, and the page
re-arranges in place, keeping the charts it drew. The search box's text is a regular
expression matched anywhere in a chart's title by streamvis.layout.runpattern (linear
time, never Python's `re`); charts that do not match leave the grid, the others close up
in their order and keep their figures.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from streamvis.core.hub import Hub
from streamvis.layout.auto import auto_layout, hub_streams
from streamvis.layout.runpattern import PatternError, compile_runs
from streamvis.layout.spec import Layout

if TYPE_CHECKING:
    from streamvis.page.regrid import LiveGrid

CHECK_SECONDS = 1.0  # how often the hub's streams are looked at


class AutoLayouts:
    """The automatic layout of the runs a page shows, made again only when what the hub
    holds of them changed (checked at most once a `CHECK_SECONDS`)."""

    def __init__(self) -> None:
        self.key: Any = None
        self.layout: Layout | None = None
        self._checked_at: float | None = None
        self._runs: tuple[str, ...] = ()

    def held(self, hub: Hub, runs: list[str], run: str) -> tuple[Any, Layout | None]:
        """(a key that changes with the layout, the layout; None while nothing is charted)."""
        now = time.monotonic()
        if (
            self._checked_at is None
            or tuple(runs) != self._runs
            or now - self._checked_at >= CHECK_SECONDS
        ):
            self._checked_at, self._runs = now, tuple(runs)
            key = (run, hub_streams(hub, runs))
            if key != self.key:
                self.key, self.layout = key, auto_layout(key[1], run)
        return ("auto", self.key), self.layout

    def is_auto(self, layout: Layout | None) -> bool:
        """`layout` is the automatic one (the page then shows the search box)."""
        return layout is not None and layout is self.layout


def title_filter(text: str) -> tuple[Any, str | None]:
    """(a test of chart titles, the problem with `text`): empty text matches every title;
    the pattern matches anywhere in a title (wrapped as `.*(?:text).*`)."""
    if not text.strip():
        return (lambda title: True), None
    try:
        compile_runs(text)  # its own errors, at positions in the text typed
        compiled = compile_runs(f".*(?:{text}).*")
    except PatternError as exc:
        return (lambda title: True), f"not a valid regular expression: {exc}"
    return compiled.fullmatch, None


class ChartSearch:
    """The search box over an automatic layout's chart titles and the grid it filters."""

    def __init__(self) -> None:
        import panel as pn

        from streamvis.page.panes import literal

        self.box = pn.widgets.TextInput(
            placeholder="search charts (regular expression)",
            width=280,
            css_classes=["sv-chart-search"],
            name="",
        )
        self.problem = literal("", visible=False, styles={"color": "#b00020"})
        self.grid: LiveGrid | None = None
        self.shown: list[str] = []  # ids of the charts the grid shows
        self.text = ""
        self.box.param.watch(self._typed, ["value_input", "value"])

    def _typed(self, *events: Any) -> None:
        """Each key typed (`value_input`) or the text set from Python (`value`); Enter
        changes both at once, so Param hands over one event for each."""
        self.text = str(events[-1].new or "")
        self.apply()

    def widgets(self) -> list[Any]:
        """What goes in the header."""
        return [self.box, self.problem]

    def follow(self, grid: LiveGrid | None) -> None:
        """Filter `grid` (the page's grid, just built or re-arranged: it shows every chart)."""
        self.grid = grid
        self.shown = [plot.id for plot in grid.layout.checked_plots] if grid is not None else []
        self.apply()

    def apply(self) -> None:
        """Show only the charts whose title matches, closed up in their order."""
        test, problem = title_filter(self.text)
        message = problem or ""
        if self.problem.object != message:
            self.problem.object = message
            self.problem.visible = bool(message)
        grid = self.grid
        if grid is None:
            return
        plots = [plot for plot in grid.layout.checked_plots if test(plot.title)]
        ids = [plot.id for plot in plots]
        if ids == self.shown:
            return
        self.shown = ids
        columns = max(1, grid.layout.shape[1])
        objects = {}
        for index, plot in enumerate(plots):
            top, left = divmod(index, columns)
            objects[(top, left, top + 1, left + 1)] = grid.cells[plot.id][1]
        rows = max(1, (len(plots) + columns - 1) // columns)
        place(grid, objects, rows, columns)


def place(
    grid: LiveGrid, objects: dict[tuple[int, int, int, int], Any], rows: int, cols: int
) -> None:
    """Put `objects` in the grid's GridSpec, sized for `rows` x `cols`, in one change."""
    from streamvis.page.regrid import ROW_HEIGHT, equal_tracks

    grid.view.param.update(min_height=ROW_HEIGHT * rows, stylesheets=[equal_tracks(rows, cols)])
    grid.view.objects = objects
