"""What a scatter plot draws: its points while the stream holds at most `density_above` rows,
above that a density image of the newest `DENSITY_ROWS` (1,000,000) rows the hub keeps;
and a note saying which.

A cloud of more points than the plot has room for draws as a blot in which nothing can be
told apart, and every point costs the browser memory and time. Above the threshold the
plot shows instead how many points fall in each bin of 2 x 2 screen pixels (log-scaled
color, empty bins transparent), binned on the server from those rows. A zoom or pan
re-bins the range the user chose at the plot's pixel size, and a zoom into at most
`density_above` rows draws those rows as points; the toolbar's reset returns to the whole
cloud, which then grows with the data. New rows are added to the counts as they
arrive (work proportional to the batch); the image is re-sent at most every
`IMAGE_SECONDS`, and re-binned from every row when a zoom asks for it, when the cloud grows
past the binned area, or when rows the page has not binned from scratch exceed `DRIFT`
of those it has (the hub drops its oldest rows once full). Zoom events only record the
range; the session's tick does the work, so quick zooms are coalesced into one re-binning.

The Bokeh models (image, note, event callbacks) are added by a render hook, once per figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from streamvis.kinds.base import figure_sent, points
from streamvis.kinds.contract import PlotMarks
from streamvis.transforms.density import Density, Grid, extent

if TYPE_CHECKING:
    import pandas as pd

    from streamvis.core.hub import Update
    from streamvis.layout.spec import Plot

DEFAULT_DENSITY_ABOVE = 10_000  # rows; see docs/layout.md (`density_above`) for why
# The newest rows a density covers: binning them again for a zoom takes about 0.1 s here
# (the hub may keep hundreds of millions, in its memory budget); as a crossfilter group's.
DENSITY_ROWS = 1_000_000
BIN_PIXELS = 2  # a bin is this many screen pixels wide and high
FALLBACK_SIZE = (600, 400)  # inner pixel size until the browser has reported the plot's
IMAGE_SECONDS = 0.5  # new rows re-send the image at most this often
REBIN_SECONDS = 1.0  # growth or drift re-bins every row at most this often
DRIFT = 0.01  # re-bin once rows added since the last full binning exceed this share
TRANSPARENT = "rgba(0, 0, 0, 0)"
Range = tuple[float, float, float, float]  # x0, x1, y0, y1


def note_name(plot_id: str) -> str:
    return f"sv-lod:{plot_id}"


def density_name(plot_id: str) -> str:
    return f"sv-density:{plot_id}"


def density_above(plot: Plot) -> int | None:
    """Rows above which the plot draws a density; None: never (log axes, where an image of
    equal bins would be distorted)."""
    if plot.options.get("logx") or plot.options.get("logy"):
        return None
    return int(plot.options.get("density_above", DEFAULT_DENSITY_ABOVE))


def coordinates(values: np.ndarray) -> np.ndarray:
    """A column as float64 plot coordinates: datetimes in ms (Bokeh's unit), non-finite and
    non-numeric values NaN (never binned)."""
    if values.dtype.kind == "M":
        numbers = values.astype("datetime64[ms]").astype(np.float64)
        return np.where(np.isnat(values), np.nan, numbers)
    if values.dtype.kind not in "biuf":
        return np.full(len(values), np.nan)
    numbers = values.astype(np.float64)
    return np.where(np.isfinite(numbers), numbers, np.nan)


def pixel_size(figure: Any) -> tuple[int, int]:
    """The figure's inner (plot area) size in pixels, as the browser last reported it
    (FALLBACK_SIZE before it has, or before the plot's figure was made)."""
    if figure is None:
        return FALLBACK_SIZE
    sizes = []
    for name, fallback in zip(("inner_width", "inner_height"), FALLBACK_SIZE, strict=True):
        try:
            value = getattr(figure, name)
        except ValueError:  # Bokeh's UnsetValueError: no browser has drawn the figure yet
            value = None
        sizes.append(int(value) if isinstance(value, int | float) and value > 0 else fallback)
    return sizes[0], sizes[1]


def palette_colors(name: str) -> list[str]:
    """256 colors of a colormap named as HoloViews names them (Viridis if unknown)."""
    from holoviews.plotting.util import process_cmap

    try:
        return list(process_cmap(name, ncolors=256))
    except Exception:  # an unknown name: the layout validator only checks it is text
        return list(process_cmap("Viridis", ncolors=256))


class ScatterState:
    """One scatter plot of one page: rows known, points or density, the zoom asked for.

    The session feeds it the newest `limit` kept rows (`update`) besides the Buffer, which
    keeps the newest `points` rows as today (`watches`: it draws no table of its own), and
    runs its deferred work once a tick (`catch_up`, given a reader of those rows). While the
    density is shown the plot's points layer draws nothing (`dense`)."""

    watches = True
    limit = DENSITY_ROWS  # the newest rows the session feeds it and `read` returns

    def __init__(self, plot: Plot) -> None:
        self.plot = plot
        self.threshold = density_above(plot)
        self.cap = points(plot)
        self.rows = 0  # rows the stream keeps, as far as this page knows
        self.dense = False
        self.density: Density | None = None
        self.requested: Range | None = None  # the range a zoom asked for; None: follow data
        self.binned_rows = 0  # rows at the last binning from scratch
        self.added = 0  # rows added to the counts since then
        self.rebin = False  # the counts must be made again from every row
        self.urgent = False  # ...because the user asked (zoom, reset, resize): no waiting
        self.last_rebin = 0.0
        self.image_dirty = False
        self.last_image = 0.0
        self.figure: Any = None
        self.source: Any = None
        self.mapper: Any = None
        self.note: Any = None
        self.in_view: pd.DataFrame | None = None  # a zoom's rows, when few: drawn as points
        self.points_stream: Any = None  # the Buffer the points layer draws from

    # --- rows -------------------------------------------------------------------------

    def update(self, batch: dict[str, np.ndarray], reset: bool, key: Any = None) -> bool:
        """Take new rows (all kept rows when `reset`); True when the Buffer should get them
        too (points are drawn), False while the density is (the Buffer is refilled by the
        reset that brings the plot back under the threshold)."""
        rows = len(next(iter(batch.values()))) if batch else 0
        if reset:
            self.rows = 0
            self.density = None
            self._show_rows(None)
        self.rows += rows
        above = self.threshold is not None and self.rows > self.threshold
        if above != self.dense:
            self.dense = above
            self.density = None
            self.in_view = None
            self.image_dirty = True
            self._redraw_points()
        if not self.dense:
            pass  # the Buffer draws the newest `points` rows itself
        elif reset:
            self._bin_all(batch, rows)  # a reset carries the kept rows: bin them now
        elif self.density is None:
            self._ask_rebin(urgent=True)  # just crossed the threshold: read every row
        else:
            self._add(batch, rows)
        self._write_note()
        return not self.dense

    def _add(self, batch: dict[str, np.ndarray], rows: int) -> None:
        """Fold new rows into the counts; ask for a re-binning if they do not fit."""
        density = self.density
        if density is None or not rows or self.plot.x not in batch:
            return
        x = coordinates(batch[self.plot.x])
        for column in self.plot.y:
            if column in batch:
                density.add(x, coordinates(batch[column]))
        self.added += rows
        self.image_dirty = True
        if self.in_view is not None:  # a zoom drawn as points: add the new rows inside it
            new = self._rows_inside(batch, density.grid)
            if len(self.in_view) + len(new) > (self.threshold or 0):
                self._show_rows(None)  # too many for points now: the density again
            elif len(new):
                import pandas as pd

                self._show_rows(pd.concat([self.in_view, new], ignore_index=True))
        if (self.requested is None and density.outside) or self.added > DRIFT * self.binned_rows:
            self._ask_rebin(urgent=False)

    def _bin_all(self, batch: dict[str, np.ndarray], rows: int) -> None:
        """Counts from scratch over the newest `limit` kept rows, on the range asked for or
        the cloud's."""
        if rows > self.limit:
            batch = {name: values[-self.limit :] for name, values in batch.items()}
            rows = self.limit
        self.rows = rows
        self.binned_rows, self.added = rows, 0
        self.rebin = self.urgent = False
        self.last_rebin = time.monotonic()
        self.image_dirty = True
        if not rows or self.plot.x not in batch:
            self.density = None
            return
        x = coordinates(batch[self.plot.x])
        ys = [coordinates(batch[column]) for column in self.plot.y if column in batch]
        area = self.requested or _cloud(x, ys)
        if area is None:
            self.density = None
            return
        width, height = pixel_size(self.figure)
        grid = Grid(*area, max(1, width // BIN_PIXELS), max(1, height // BIN_PIXELS))
        self.density = Density(grid)
        for y in ys:
            self.density.add(x, y)
        shown = None
        if self.requested is not None:  # a zoom holding few rows shows them as points
            inside = self._rows_inside(batch, grid)
            shown = inside if len(inside) <= (self.threshold or 0) else None
        self._show_rows(shown)

    def _rows_inside(self, batch: dict[str, np.ndarray], grid: Grid) -> pd.DataFrame:
        """The plot's columns of the rows with a point (of any y column) inside `grid`."""
        import pandas as pd

        x = coordinates(batch[self.plot.x])
        inside = np.zeros(len(x), dtype=bool)
        for column in self.plot.y:
            if column in batch:
                inside |= grid.holds(x, coordinates(batch[column]))
        return pd.DataFrame(
            {
                name: coordinates(values[inside]) if values.dtype.kind == "f" else values[inside]
                for name, values in batch.items()
                if name in self.plot.columns
            }
        )

    def _show_rows(self, rows: pd.DataFrame | None) -> None:
        """Draw these rows as points over (instead of) the density; None: no points."""
        if rows is None and self.in_view is None:
            return
        self.in_view = rows
        self.image_dirty = True
        self._redraw_points()

    def _redraw_points(self) -> None:
        """Draw the points layer again (it shows nothing, or a zoom's rows, while dense)."""
        if self.points_stream is not None:
            import holoviews as hv

            hv.streams.Stream.trigger([self.points_stream])

    def _ask_rebin(self, urgent: bool) -> None:
        self.rebin = True
        self.urgent = self.urgent or urgent

    # --- the tick's deferred work -------------------------------------------------------

    @property
    def due(self) -> bool:
        """Whether `catch_up` has work now (the session asks every tick). A plot whose size
        in bins no longer matches its counts (the browser resized it) asks for a re-binning."""
        if self.source is None:
            return False
        if not self.dense:
            return self.image_dirty  # clear the image left from a density
        now = time.monotonic()
        if self.density is not None and self._bins() != (
            self.density.grid.nx,
            self.density.grid.ny,
        ):
            self._ask_rebin(urgent=True)  # the plot was resized
        if self.rebin and (self.urgent or now - self.last_rebin >= REBIN_SECONDS):
            return True
        return self.image_dirty and now - self.last_image >= IMAGE_SECONDS

    def catch_up(self, read: Callable[[], Update | None]) -> None:
        """Re-bin from the kept rows (`read()`) if asked, and send the image if it changed
        (once the browser has the figure: see kinds/base.py figure_sent)."""
        if not self.due or not figure_sent(self.figure):
            return
        now = time.monotonic()
        if self.rebin and (self.urgent or now - self.last_rebin >= REBIN_SECONDS):
            update = read()
            if update is not None:
                self._bin_all(update.batch, update.rows)
        if self.image_dirty:
            self.draw()

    def _bins(self) -> tuple[int, int]:
        width, height = pixel_size(self.figure)
        return max(1, width // BIN_PIXELS), max(1, height // BIN_PIXELS)

    # --- zoom events (Bokeh callbacks: record only) ----------------------------------------

    def zoomed(self, x0: Any, x1: Any, y0: Any, y1: Any) -> None:
        """The user zoomed or panned to this range: re-bin it at the next tick."""
        values = [x0, x1, y0, y1]
        if not all(isinstance(v, int | float) and np.isfinite(v) for v in values):
            return
        area = (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))
        if area[1] > area[0] and area[3] > area[2] and area != self.requested:
            self.requested = (float(area[0]), float(area[1]), float(area[2]), float(area[3]))
            self._ask_rebin(urgent=True)

    def followed(self) -> None:
        """The toolbar's reset: draw the whole cloud again, and follow it as it grows."""
        self.requested = None
        self._ask_rebin(urgent=True)

    # --- Bokeh ----------------------------------------------------------------------------

    def draw(self) -> None:
        """Send the counts to the image (an empty image in points mode) and update the note."""
        self.image_dirty = False
        self.last_image = time.monotonic()
        if self.source is None:
            return
        density = self.density if self.dense else None
        if density is None or self.in_view is not None:
            self.source.data = {"image": [], "x": [], "y": [], "dw": [], "dh": []}
        else:
            grid = density.grid
            self.source.data = {
                "image": [density.image()],
                "x": [grid.x0],
                "y": [grid.y0],
                "dw": [grid.x1 - grid.x0],
                "dh": [grid.y1 - grid.y0],
            }
            self.mapper.high = float(max(2, int(density.counts.max())))
        self._write_note()

    def note_text(self) -> str:
        """What the plot shows, e.g. '1,000,000 rows as density' or '8,000 rows'."""
        if not self.rows:
            return ""
        if not self.dense:
            if self.rows > self.cap:
                return f"{self.rows:,} rows, newest {self.cap:,} drawn"
            return f"{self.rows:,} rows"
        counted = f"newest {self.limit:,}" if self.rows >= self.limit else f"{self.rows:,}"
        if self.in_view is not None:
            return f"{counted} rows, {len(self.in_view):,} in view drawn as points"
        text = f"{counted} rows as density"
        if self.requested is not None and self.density is not None:
            what = "rows" if len(self.plot.y) == 1 else "points"
            text += f", {self.density.total:,} {what} in view"
        return text

    def _write_note(self, rendering: bool = False) -> None:
        """Say what is drawn (outside a render only once the browser has the figure)."""
        if self.note is not None and (rendering or figure_sent(self.figure)):
            self.note.text = self.note_text()

    def hook(self, marks: PlotMarks) -> Callable[[Any, Any], None]:
        """The render hook: image, note and zoom callbacks once per figure; the note and
        'waiting for data' label kept true on every render."""

        def hook(hv_plot: Any, element: Any) -> None:
            figure = hv_plot.handles["plot"]
            if marks.first(figure, "density"):
                self.attach(figure)
            self._write_note(rendering=True)
            if self.dense and self.rows:
                for label in figure.center:
                    if getattr(label, "name", "") == f"sv-waiting:{self.plot.id}":
                        label.visible = False

        return hook

    def attach(self, figure: Any) -> None:
        """Add the density image (under the points, its hover saying a bin's count), the note
        and the zoom callbacks."""
        from bokeh.events import RangesUpdate, Reset
        from bokeh.models import ColumnDataSource, HoverTool, LogColorMapper

        self.figure = figure
        self.source = ColumnDataSource(
            name=density_name(self.plot.id),
            data={"image": [], "x": [], "y": [], "dw": [], "dh": []},
        )
        self.mapper = LogColorMapper(
            palette=palette_colors(str(self.plot.options.get("palette", "Viridis"))),
            low=1,
            high=2,
            nan_color=TRANSPARENT,
        )
        image = figure.image(
            image="image",
            x="x",
            y="y",
            dw="dw",
            dh="dh",
            source=self.source,
            color_mapper=self.mapper,
            name=f"sv-density-image:{self.plot.id}",
        )
        figure.renderers = [image, *(r for r in figure.renderers if r is not image)]
        figure.add_tools(HoverTool(renderers=[image], tooltips=[("points in bin", "@image")]))
        self.note = add_note(figure, self.plot.id)

        def on_ranges(event: Any) -> None:
            self.zoomed(event.x0, event.x1, event.y0, event.y1)

        figure.on_event(RangesUpdate, on_ranges)
        figure.on_event(Reset, lambda event: self.followed())
        self.image_dirty = True
        if self.density is not None:
            self._ask_rebin(urgent=True)  # bins were sized before the figure was known


def _cloud(x: np.ndarray, ys: list[np.ndarray]) -> Range | None:
    """The area holding every point of every y column; None when no point is finite."""
    areas = [found for found in (extent(x, y) for y in ys) if found is not None]
    if not areas:
        return None
    return (
        min(a[0] for a in areas),
        max(a[1] for a in areas),
        min(a[2] for a in areas),
        max(a[3] for a in areas),
    )


def add_note(figure: Any, plot_id: str) -> Any:
    """The plot's note (a small label at the plot area's bottom left saying what it shows),
    made with the figure by kinds/base.py's live_hook; made here only if it is missing."""
    from streamvis.kinds.base import note_label

    for model in figure.center:
        if getattr(model, "name", "") == note_name(plot_id):
            return model
    note = note_label(plot_id)
    figure.add_layout(note)
    return note


def compare_note(plot: Plot, rows: Mapping[str, Any], marks: PlotMarks) -> Callable[..., None]:
    """Compared runs draw points only (one density per run would hide the others): the
    note says how many rows of the runs are drawn, the newest `points` of each."""
    cap = points(plot)

    def hook(hv_plot: Any, element: Any) -> None:
        figure = hv_plot.handles["plot"]
        if marks.first(figure, "compare-note"):
            add_note(figure, plot.id)
        drawn = sum(len(getattr(buffer, "data", ())) for buffer in rows.values())
        text = f"{drawn:,} rows as points (newest {cap:,} per run)" if drawn else ""
        for label in figure.center:
            if getattr(label, "name", "") == note_name(plot.id):
                label.text = text

    return hook
