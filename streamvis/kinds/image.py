"""`heatmap` / `image`: a 2-D array (an attention map, a weight matrix) as colored cells.

Each row of the stream is a row of the matrix; its columns are `columns` in order, or by
default every numeric column of the stream in stream order (what
`sv.stream("attn", pandas.DataFrame(matrix), mode="replace")` writes: "0" .. "n-1").

- Replace mode: each write is the whole matrix, and the picture swaps to it.
- Append mode: the matrix is the kept rows, oldest at row 0; once it has more than `points`
  rows (default 10000) only the newest `points` are drawn (a scrolling spectrogram).

Values go through the `palette` colormap (default Viridis), rescaled to each matrix's own
range and shown in a colorbar; NaN and inf cells are left blank. `origin: top` (default,
like a printed matrix) puts row 0 at the top, `origin: bottom` at the bottom. Hovering a
cell shows its row, column and value.

Drawn as one hv.Image (a single Bokeh image glyph, cheap at 256x256 and beyond) in the data
source `sv:<plot id>:image`, whose `image` column holds the matrix (row 0 first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from streamvis.kinds.base import axis_opts, plain_text, points
from streamvis.kinds.contract import Kind, PlotMarks
from streamvis.layout import fields

if TYPE_CHECKING:
    import pandas as pd

    from streamvis.layout.spec import Plot

TABLE_COLUMNS = {"matrix": "object", "columns": "object"}
NUMERIC = "iuf"  # numpy dtype kinds that count as matrix values (not bool, text or time)
TOOLTIPS = [("row", "$y{0}"), ("column", "$x{0}"), ("value", "@image{0,0.[0000]}")]
PLACEHOLDER = "Placeholder"  # the HoloViews group of the blank frame drawn while waiting
MAX_NAMED_TICKS = 40  # up to this many named columns get one x tick each


class ImageState:
    """This page's matrix for one plot: replaced on reset, grown (up to `points`) by
    appended rows. `update` returns a one-row table holding the matrix and its columns.

    A heatmap does not filter or get filtered in a crossfilter group: `recompute` and `fold`
    (what a group calls on its members) leave the matrix alone."""

    def __init__(self, plot: Plot) -> None:
        self.chosen = list(plot.get("columns") or [])
        self.keep = points(plot)
        self.names: list[str] = list(self.chosen)
        self.matrix: np.ndarray | None = None
        self.group: Any = None

    def update(self, batch: dict[str, np.ndarray], reset: bool, key: Any = None) -> pd.DataFrame:
        if reset:
            self.names, self.matrix = list(self.chosen), None
        if batch:
            if not self.names:  # the stream's numeric columns, fixed until the next reset
                self.names = [n for n, v in batch.items() if np.asarray(v).dtype.kind in NUMERIC]
            block = rows_of(batch, self.names)
            if self.matrix is not None and self.matrix.shape[1] == block.shape[1]:
                block = np.concatenate([self.matrix, block])
            self.matrix = block[-self.keep :]
        return self.table()

    def table(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame({"matrix": [self.matrix], "columns": [tuple(self.names)]})

    def needs(self) -> list[Any]:
        """Nothing encoded: not filtered by a crossfilter group (see the class docstring)."""
        return []

    def recompute(self, group: Any, mask: Any) -> None:
        """Not filtered by a crossfilter group (see the class docstring)."""

    def fold(self, group: Any, start: int, mask: Any) -> None:
        """Not filtered by a crossfilter group (see the class docstring)."""


def rows_of(batch: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """The batch as a float matrix (rows x names): text becomes NaN, inf becomes NaN, a
    column the batch lacks is all NaN."""
    length = len(next(iter(batch.values())))
    matrix = np.full((length, len(names)), np.nan)
    for index, name in enumerate(names):
        values = batch.get(name)
        if values is not None and np.asarray(values).dtype.kind in NUMERIC + "b":
            matrix[:, index] = values
    matrix[~np.isfinite(matrix)] = np.nan
    return matrix


def make_state(plot: Plot) -> ImageState:
    return ImageState(plot)


def buffer_columns(plot: Plot) -> dict[str, str]:
    return TABLE_COLUMNS


def buffer_length(plot: Plot) -> int:
    """The Buffer holds one row: the current matrix."""
    return 1


def build(plot: Plot, rows: Any, *, state: Any, marks: PlotMarks) -> Any:
    """A DynamicMap of hv.Image over the matrix in the session's Buffer, with a colorbar."""
    import holoviews as hv
    from holoviews.plotting.util import process_cmap

    palette = plot.options.get("palette", "Viridis")
    process_cmap(palette)  # an unknown colormap fails here, shown in the plot's cell
    value = hv.Dimension("image", label="value")
    kdims = ["column", "row"]
    named: dict[str, list[str]] = {"columns": []}

    def draw(data: Any) -> Any:
        matrix = data["matrix"].iloc[-1] if len(data) else None
        if matrix is None or matrix.size == 0 or not np.isfinite(matrix).any():
            # An all-NaN image makes HoloViews warn; draw a transparent cell instead.
            named["columns"] = []
            blank = hv.Image(
                np.zeros((1, 1)),
                bounds=(-0.5, -0.5, 0.5, 0.5),
                kdims=kdims,
                vdims=[value],
                group=PLACEHOLDER,
            )
            return blank.opts(alpha=0)
        rows, cols = matrix.shape
        named["columns"] = list(data["columns"].iloc[-1])
        # hv.Image puts the array's first row on top: reverse so row r sits at y = r.
        image = hv.Image(
            matrix[::-1], bounds=(-0.5, -0.5, cols - 0.5, rows - 0.5), kdims=kdims, vdims=[value]
        )
        return image.opts(alpha=1)

    def image_hook(hv_plot: Any, element: Any) -> None:
        """Say 'waiting' over the blank frame; label x ticks with named columns."""
        from bokeh.models import BasicTicker, FixedTicker

        figure = hv_plot.handles["plot"]
        for label in figure.center:
            if getattr(label, "name", "") == f"sv-waiting:{plot.id}":
                label.visible = element.group == PLACEHOLDER
        names = named["columns"]
        if not marks.changed(figure, "columns", names):
            return
        axis = figure.xaxis[0]
        numbered = names == [str(i) for i in range(len(names))]
        if names and not numbered and len(names) <= MAX_NAMED_TICKS:
            axis.ticker = FixedTicker(ticks=list(range(len(names))))
            axis.major_label_overrides = {i: plain_text(str(name)) for i, name in enumerate(names)}
        elif axis.major_label_overrides:
            axis.ticker = BasicTicker()
            axis.major_label_overrides = {}

    opts = axis_opts(plot, marks, follow_in_browser=False)
    opts["hooks"].append(image_hook)
    opts.update(
        xlabel=plot.options.get("xlabel", "column"),
        ylabel=plot.options.get("ylabel", "row"),
        show_grid=False,
        show_legend=False,
        colorbar=True,
        cmap=palette,
        invert_yaxis=plot.get("origin") == "top",
        hover_tooltips=TOOLTIPS,
    )
    return hv.DynamicMap(draw, streams=[rows]).opts(**opts)


KIND = Kind(
    name="image",
    fields={"columns": fields.columns(), "origin": fields.choice("top", "bottom")},
    options=("title", "xlabel", "ylabel", "palette", "points"),
    build=build,
    make_state=make_state,
    buffer_length=buffer_length,
    buffer_columns=buffer_columns,
)
