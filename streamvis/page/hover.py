"""The hover table of a line plot: for the x under the mouse, one tooltip listing every drawn
line's value (with its run when runs are compared), read from raw rows.

The page runs without CustomJS (streamvis/page/csp.py), so the tooltip is Bokeh's own
HoverTool over one extra, invisible renderer per figure: a line glyph whose points are the
left edges of pixel columns, hit in `vline` mode (only the mouse x counts), so a mouse x
falls in exactly one segment, and `line_policy="none"` shows the row of that segment's
start. Its data source has one row per occupied pixel column of the drawn view:

- `x`: the representative x of the column, the largest x any drawn line holds there. Every
  point of a level-of-detail view is a raw row (M4 keeps the first, min, max and last row
  of each column, a raw view keeps every row), so this is the column's last raw row;
- `v0`, `v1` ...: each line's value at that x: its last held row with x <= the column's x
  that still lies in the column (found by binary search), NaN when it has none there.
  Lines of one run share their rows, and runs logging the same steps share x, so these are
  the raw rows at exactly that x;
- `edge`: the glyph's x (the column's left edge; a last row closes the last column) and `y`
  (NaN: the glyph draws nothing and takes no part in the axes' auto-ranging).

Cost: about one row per pixel column with 3 + lines numbers, against up to 4 points
(8 numbers) per pixel column per drawn line: a quarter to a third of the drawn data. It is
replaced with each whole view (zoom, pan, reset, a pixel width of new rows) and, while rows
arrive as deltas, only the rows of newly reached pixel columns are streamed (at most once
a second), so appends add a few numbers, not a copy of the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from streamvis.core.lod import as_float
from streamvis.kinds.base import run_label
from streamvis.transforms.smoothing import smoothed_name

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot
    from streamvis.page.direct import HeldLine

VALUE_FORMAT = "%.6g"  # sprintf's %g: plain numbers, six significant digits
X_FORMAT = "%.10g"  # a step of 9,900,000 reads 9900000
TIME_FORMAT = "%F %T"
STREAM_SECONDS = 1.0  # while rows arrive as deltas, new hover rows are sent this often


def hover_name(plot_id: str) -> str:
    return f"sv-hover:{plot_id}"


@dataclass(frozen=True)
class HoverLine:
    """One drawn line as the hover reads it: its tooltip label and held rows (axis units)."""

    label: str
    x: np.ndarray
    y: np.ndarray


def drawn_lines(plot: Plot, runs: Mapping[str, Mapping[str, HeldLine]]) -> list[HoverLine]:
    """Every drawn line of a plot (run -> key -> held rows; keys are y columns or their
    smoothed names) with its tooltip label: the column, with the run when runs are compared
    (as in the legend), and "(smoothed)" for a smoothed line."""
    compared = len(runs) > 1
    found = []
    for run, lines in runs.items():
        for key, line in lines.items():
            column = next((c for c in plot.y if key in (c, smoothed_name(c))), key)
            label = run_label(plot, column, run if compared else None)
            if key != column:
                label = f"{label} (smoothed)"
            found.append(HoverLine(label, line.x, line.y))
    return found


def plain_x(values: np.ndarray) -> np.ndarray:
    """x as float64 in Bokeh's units: datetimes as ms since the epoch."""
    if values.dtype.kind == "M":
        return as_float(values) / 1e6
    return np.asarray(values, dtype=np.float64)


def sorted_line(line: HoverLine) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) ordered by x (a resumed run's re-logged rows keep their arrival order)."""
    x = plain_x(line.x)
    y = np.asarray(line.y, dtype=np.float64)
    finite = np.isfinite(x)
    x, y = x[finite], y[finite]
    if len(x) > 1 and (np.diff(x) < 0).any():
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
    return x, y


@dataclass(frozen=True)
class Grid:
    """The pixel columns hover rows are made at: [lo, lo + width * pixel)."""

    lo: float
    pixel: float

    def column(self, x: np.ndarray) -> np.ndarray:
        return np.floor((x - self.lo) / self.pixel).astype(np.int64)

    def left(self, columns: np.ndarray) -> np.ndarray:
        return self.lo + columns.astype(np.float64) * self.pixel


def grid_of(lines: Sequence[tuple[np.ndarray, np.ndarray]], width: int) -> Grid | None:
    """Pixel columns over the lines' x extent (None: no line holds a row)."""
    xs = [x for x, _ in lines if len(x)]
    if not xs:
        return None
    lo = min(float(x[0]) for x in xs)
    hi = max(float(x[-1]) for x in xs)
    pixel = (hi - lo) / max(1, width) if hi > lo else 1.0
    return Grid(lo, pixel * (1 + 1e-9))  # the last row falls inside the last column


def hover_rows(
    lines: Sequence[tuple[np.ndarray, np.ndarray]], grid: Grid, after: float = -np.inf
) -> dict[str, np.ndarray]:
    """One row per occupied pixel column (only columns holding an x > `after`): the
    representative x, the column's left edge, and each line's value there (`v<i>`)."""
    columns, xs = [], []
    for x, _ in lines:  # each line's last row per pixel column (x is sorted)
        kept = x[x > after]
        if len(kept):
            column = grid.column(kept)
            last = np.flatnonzero(np.diff(column, append=column[-1] + 1))
            columns.append(column[last])
            xs.append(kept[last])
    if not columns:
        return {}
    every_column, every_x = np.concatenate(columns), np.concatenate(xs)
    order = np.lexsort((every_x, every_column))  # by column, then x: a column's largest last
    every_column, every_x = every_column[order], every_x[order]
    last = np.flatnonzero(np.diff(every_column, append=every_column[-1] + 1))
    occupied, representative = every_column[last], every_x[last]
    left = grid.left(occupied)
    rows = {"x": representative, "edge": left, "y": np.full(len(occupied), np.nan)}
    for index, (x, y) in enumerate(lines):
        found = np.searchsorted(x, representative, side="right") - 1
        safe = np.clip(found, 0, max(len(x) - 1, 0))
        inside = (found >= 0) & (x[safe] >= left) if len(x) else np.zeros(len(left), bool)
        rows[f"v{index}"] = np.where(inside, y[safe] if len(y) else np.nan, np.nan)
    return rows


def closing_row(rows: dict[str, np.ndarray], grid: Grid) -> dict[str, np.ndarray]:
    """The row that ends the last column's segment (its values are never shown)."""
    last = float(rows["edge"][-1]) + grid.pixel
    return {name: np.array([last if name == "edge" else np.nan]) for name in rows}


def joined(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([first[name], second[name]]) for name in first}


def tooltips(
    x_label: str, labels: Sequence[str], time_axis: bool
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Bokeh tooltips (x first, then label: value per line) and their formatters. Labels
    are producer text: Bokeh puts them into the page as text nodes, never as markup."""
    x_format = TIME_FORMAT if time_axis else X_FORMAT
    rows = [(x_label, f"@{{x}}{{{x_format}}}")]
    formatters = {"@{x}": "datetime" if time_axis else "printf"}
    for index, label in enumerate(labels):
        rows.append((label, f"@{{v{index}}}{{{VALUE_FORMAT}}}"))
        formatters[f"@{{v{index}}}"] = "printf"
    return rows, formatters


class HoverTable:
    """The hover renderer, tool and data source of one line plot in one session."""

    def __init__(self, plot_id: str) -> None:
        self.plot_id = plot_id
        self.figure: Any = None
        self.source: Any = None
        self.tool: Any = None
        self.grid: Grid | None = None
        self.labels: tuple[str, ...] = ()
        self.x_label = ""
        self.time_axis = False
        self.shown_up_to = -np.inf  # the largest representative x in the source
        self.streamed_at = 0.0
        self.rows_sent = 0  # hover rows sent to the browser (whole views and streams)

    def attach(self, figure: Any) -> None:
        """Add the invisible hover renderer and its HoverTool to a new figure (once)."""
        from bokeh.models import ColumnDataSource, HoverTool

        if self.figure is figure:
            return
        self.figure = figure
        empty = {"x": [], "edge": [], "y": []}
        self.source = ColumnDataSource(empty, name=hover_name(self.plot_id))
        renderer = figure.line(
            "edge", "y", source=self.source, line_alpha=0.0, name=f"sv-hover-line:{self.plot_id}"
        )
        self.tool = HoverTool(
            renderers=[renderer],
            mode="vline",
            line_policy="none",
            name=f"sv-hover-tool:{self.plot_id}",
            description="Values at the mouse's x",
        )
        figure.add_tools(self.tool)
        self.labels = ()
        self.grid = None
        self.shown_up_to = -np.inf

    def stream_due(self, now: float) -> bool:
        """New rows may be streamed now (at most once every STREAM_SECONDS)."""
        return now - self.streamed_at >= STREAM_SECONDS

    def refresh(
        self,
        lines: Sequence[HoverLine],
        width: int,
        x_label: str,
        time_axis: bool,
        whole: bool,
        now: float,
    ) -> None:
        """Bring the hover rows up to the held lines: all of them after a whole view (or
        when the lines changed), else the rows of newly reached pixel columns."""
        if self.source is None:
            return
        labels = tuple(line.label for line in lines)
        ordered = [sorted_line(line) for line in lines]
        if labels != self.labels or (x_label, time_axis) != (self.x_label, self.time_axis):
            self.labels, self.x_label, self.time_axis = labels, x_label, time_axis
            self.tool.tooltips, self.tool.formatters = tooltips(x_label, labels, time_axis)
            whole = True
        if whole or self.grid is None:
            self._replace(ordered, width)
        elif self.stream_due(now):
            self._extend(ordered)
        else:
            return
        self.streamed_at = now

    def _replace(self, ordered: list[tuple[np.ndarray, np.ndarray]], width: int) -> None:
        self.grid = grid_of(ordered, width)
        rows = {} if self.grid is None else hover_rows(ordered, self.grid)
        if not rows:
            columns = ["x", "edge", "y", *(f"v{i}" for i in range(len(ordered)))]
            self.source.data = {name: np.empty(0) for name in columns}
            self.shown_up_to = -np.inf
            return
        assert self.grid is not None
        self.source.data = joined(rows, closing_row(rows, self.grid))
        self.shown_up_to = float(rows["x"][-1])
        self.rows_sent += len(rows["x"]) + 1

    def _extend(self, ordered: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Rows of pixel columns past the last one shown: the closing row becomes the
        first of them (a patch), the rest and a new closing row are streamed."""
        assert self.grid is not None
        last_column = self.grid.column(np.array([self.shown_up_to]))[0]
        after = float(self.grid.left(np.array([last_column + 1]))[0]) - 1e-12
        rows = hover_rows(ordered, self.grid, max(after, self.shown_up_to))
        if not rows or len(self.source.data.get("edge", ())) == 0:
            return
        closing = len(self.source.data["edge"]) - 1
        self.source.patch({name: [(closing, float(values[0]))] for name, values in rows.items()})
        tail = {name: values[1:] for name, values in rows.items()}
        self.source.stream(joined(tail, closing_row(rows, self.grid)))
        self.shown_up_to = float(rows["x"][-1])
        self.rows_sent += len(rows["x"]) + 1
