"""Line plots drawn from level-of-detail views: the whole run at the plot's pixel width,
re-resolved for each zoom or pan, new rows sent as small deltas while the view follows.

One `LineFeed` per line plot of a page (all its runs when runs are compared). It owns one
HoloViews Buffer per drawn line (run x column, and the smoothed line of each column), which
the line kind's DynamicMaps draw. Bokeh events from the browser (`RangesUpdate` after a pan
or zoom, `Reset` from the toolbar) only record what was asked; the session's tick answers
the latest request once, so quick pans and zooms are coalesced and no stale request queues.

- Following (on open and after reset): the view is the whole run; new rows are appended to
  the Buffers (Bokeh `stream`), and once more than one pixel width of rows was appended the
  whole-run view is resolved again, so a line holds at most about 5 x width points.
- Zoomed or panned elsewhere: the user's x range stays (the browser's DataRange1d holds
  it); new rows are still appended, so rows arriving inside that range show at once, and
  after a pixel width of them the user's range is resolved again (rows beyond it are
  drawn when the user pans there: a pan is a new request).
- Smoothing is computed over the raw rows (the EMA of every row held; new rows continue it)
  and the smoothed series is drawn through its own views.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from streamvis.core.hub import Hub
from streamvis.core.lod import ARRIVAL, Line, View, as_float
from streamvis.core.summary import Summary
from streamvis.kinds.base import figure_sent, ordered_changes, source_name
from streamvis.layout.spec import Layout, Plot
from streamvis.page.direct import HeldLine, line_sources
from streamvis.page.hover import HoverTable, drawn_lines
from streamvis.page.log_ticks import LogTicks
from streamvis.transforms.smoothing import (
    RELATIVE,
    WALL,
    ema,
    smoothed_name,
    weight_of,
    x_axis_of,
    x_column,
)

log = logging.getLogger("streamvis")
DEFAULT_WIDTH = 1200  # pixel columns until the browser says how wide the plot is
POINTS_PER_PIXEL = 4
NOTE_SECONDS = 1.0  # while only deltas arrive, the note's row count changes this often
UNBOUNDED = 10**9  # the Buffers never drop rows themselves: the feed bounds what they hold
# A new figure's rows wait this long at most for the browser's word that it holds the figure
# (then they go straight to its data sources) before going through a HoloViews render.
CONFIRM_WAIT = 3.0


def note_name(plot_id: str) -> str:
    return f"sv-lod:{plot_id}"


def describe(rows: int, drawn: int, raw: bool) -> str:
    """The plot's note: what it shows of how many rows."""
    if rows == 0:
        return ""
    if raw:
        return f"{rows:,} rows (raw)"
    return f"{rows:,} rows, {drawn:,} drawn"


def whole_numbers(values: np.ndarray) -> bool:
    """True when every value is a finite whole number (an int column's x drawn as ints)."""
    return bool(np.isfinite(values).all() and (values == np.round(values)).all())


class SeriesRows:
    """A growing (x, y) series held by the page, read by its summary as `RawRows`."""

    def __init__(self) -> None:
        self.x = np.empty(1024)
        self.y = np.empty(1024)
        self.size = 0

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        needed = self.size + len(xs)
        if needed > len(self.x):
            capacity = max(needed, 2 * len(self.x))
            self.x = np.resize(self.x, capacity)
            self.y = np.resize(self.y, capacity)
        self.x[self.size : needed] = xs
        self.y[self.size : needed] = ys
        self.size = needed

    def rows_between(self, start: int, stop: int, columns: Sequence[str]) -> dict[str, Any]:
        arrays = {"x": self.x, "y": self.y, ARRIVAL: self.x}  # no arrival times: x stands in
        return {name: arrays[name][start:stop] for name in columns if name in arrays}


class Smoother:
    """The smoothed series of one column of one run: TensorBoard's EMA over every raw row,
    continued row by row as rows arrive, with its own level-of-detail summary so a view of
    it costs what a view of the raw rows does."""

    def __init__(self, weight: float) -> None:
        self.weight = weight
        self.seen = 0  # seq of the first row not smoothed yet (kept equal to the run's cursor)
        self.total = 0.0
        self.norm = 0.0
        self.rows = SeriesRows()
        self.summary = Summary(0)

    def restart(self, xs: np.ndarray, values: np.ndarray) -> None:
        """Smooth a whole history at once (vectorised), keeping the state for what follows."""
        data = np.where(np.isfinite(values), values.astype(np.float64), np.nan)
        self.rows = SeriesRows()
        self.summary = Summary(0)
        self.rows.extend(xs, ema(data, self.weight))
        finite = data[np.isfinite(data)]
        if len(finite):  # the EMA's numerator and denominator after the last finite value
            powers = self.weight ** np.arange(len(finite) - 1, -1, -1, dtype=np.float64)
            self.total = float((powers * finite).sum())
            self.norm = float(powers.sum())
        else:
            self.total = self.norm = 0.0

    def extend(self, xs: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Smoothed values of new rows (NaN stays NaN and does not age the average)."""
        out = np.full(len(values), np.nan)
        decay = self.weight
        total, norm = self.total, self.norm
        for index, value in enumerate(values.tolist()):
            if value == value and value not in (float("inf"), float("-inf")):
                total = decay * total + value
                norm = decay * norm + 1.0
                out[index] = total / norm
        self.total, self.norm = total, norm
        self.rows.extend(xs, out)
        return out

    def view(self, lo: float | None, hi: float | None, width: int, raw_limit: int) -> Line:
        """The smoothed line for [lo, hi] at `width` pixel columns."""
        size = self.rows.size
        self.summary.catch_up(self.rows, 0, size, SERIES_DTYPES)
        found = self.summary.view(self.rows, 0, size, "x", ["y"], lo, hi, width, raw_limit)
        return found.lines.get("y", Line(np.empty(0), np.empty(0)))


SERIES_DTYPES = {"x": np.dtype(np.float64), "y": np.dtype(np.float64)}


@dataclass
class RunState:
    """What the page shows of one run: its Buffers and where its deltas start."""

    buffers: dict[str, Any] = field(default_factory=dict)  # drawn line -> Buffer
    lines: dict[str, HeldLine] = field(default_factory=dict)  # ... -> its rows and source
    generation: int = -1
    cursor: int = 0  # seq of the first row not yet drawn
    appended: int = 0  # rows sent as deltas since the last whole view
    origin: int | None = None  # arrival (ns) of the oldest row, for relative time
    view: View | None = None
    smoothers: dict[str, Smoother] = field(default_factory=dict)
    failed: bool = False  # the stream lacked a column the plot names at the last look


class LineFeed:
    """The level-of-detail data of one line plot in one session (see the module docstring)."""

    def __init__(
        self,
        plot: Plot,
        hub: Hub,
        runs: list[str],
        show_error: Callable[[str | None], None] | None = None,
    ) -> None:
        self.plot = plot
        self.hub = hub
        self.runs = {run: RunState() for run in runs}
        self.show_error = show_error or (lambda message: None)
        self.error: str | None = None
        self.x_axis = x_axis_of(plot)
        self.weight = weight_of(plot)
        self.width = DEFAULT_WIDTH
        self.following = True
        self.requested: tuple[float, float] | None = None  # the user's x range, axis units
        # a rebuilt figure (the log toggle) starts at this x range, so its Reset button
        # returns there; a reset of that figure asks for a fresh one through redraw_on_reset
        self.carry_span: tuple[float, float] | None = None
        self.redraw_on_reset: Callable[[], None] | None = None
        self._pinned_figure: Any = None
        self.pending = True  # a whole resolve is due (events, width, weight, axis)
        self.figure: Any = None
        self.note: Any = None
        self.waiting: Any = None  # the figure's "waiting for data" label
        # data sources the browser is known to hold: ticks change these directly, others
        # through HoloViews (whose patch carries a new source along with its change)
        self.confirmed: set[int] = set()
        self._noted_at = 0.0  # when a tick last set the note's text
        self._resolved = False
        self._synced_before: set[int] = set()  # models sent before this tick (ids)
        self.layout: Layout | None = None
        self._answer_due = False  # a pan or zoom's view is scheduled ahead of the timer
        self._answered_at = 0.0
        self.x_is_time = False  # the x column holds datetimes (drawn on a datetime axis)
        self.x_is_int = False  # ... or whole numbers (drawn as such while they are)
        self.hover = HoverTable(plot.id)  # the tooltip table of values at the mouse's x
        self._hover_due = True  # the hover rows wait for a whole refresh
        self._hover_waiting = False  # ... or for a stream of new rows
        self.log_ticks = LogTicks()  # a log y axis' ticks, from the rows drawn
        self._attached_at = 0.0  # when the current figure was first seen
        self.groups: Any = None  # grouped runs' means and bands (page/group_lines.py)

    # -- what the kind's DynamicMaps draw ------------------------------------------------
    def x_name(self) -> str:
        return x_column(self.plot, self.x_axis)

    def line_buffer(self, run: str | None, key: str) -> Any:
        """The Buffer of one drawn line (`key`: a y column or its smoothed name)."""
        import holoviews as hv

        state = self.runs[run if run is not None else next(iter(self.runs))]
        x_name = self.x_name()
        buffer = state.buffers.get(key)
        if buffer is None or x_name not in buffer.data.columns:
            x_dtype = "datetime64[ns]" if x_name == WALL else "float64"
            example = pd.DataFrame(
                {x_name: pd.Series(dtype=x_dtype), key: pd.Series(dtype="float64")}
            )
            buffer = state.buffers[key] = hv.streams.Buffer(example, length=UNBOUNDED, index=False)
            state.lines[key] = HeldLine(buffer, x_name, key)
            self.pending = True
        return buffer

    def restyle(self, plot: Plot) -> None:
        """The controls changed the x axis or turned smoothing on or off: redraw in full."""
        self.plot = plot
        self.x_axis = x_axis_of(plot)
        self.weight = weight_of(plot)
        self.requested, self.following = None, True
        for state in self.runs.values():
            state.smoothers.clear()
        self.pending = True

    def replot(self, plot: Plot) -> None:
        """A layout edit moved the plot: keep the controls' smoothing and x axis."""
        options = {**plot.options, "smoothing": self.weight, "x_axis": self.x_axis}
        self.plot = replace(plot, options=options)

    def event(self, weight: float = 0.0, **_: Any) -> None:
        """The smoothing slider moved (the controls call this like a Smoothing stream)."""
        if float(weight) != self.weight:
            self.weight = float(weight)
            for state in self.runs.values():
                state.smoothers.clear()
            self.pending = True

    # -- the browser's requests ----------------------------------------------------------
    def rendered(self, figure: Any) -> None:
        """A render of the plot (a render hook): listen to a new figure, and say in the note
        what is drawn now. The note changes only within renders, like the rest of the
        figure, so it never reaches the browser ahead of the figure it belongs to."""
        self.attach(figure)
        self._find_sources(figure)
        self._update_note()
        self.hover.attach(figure)
        self.log_ticks.attach(figure)
        self._refresh_hover(whole=True, in_render=True)
        if self.groups is not None:
            self.groups.rendered(figure)

    def _find_sources(self, figure: Any) -> None:
        """Pair each drawn line with the data source HoloViews made for it, so ticks can
        update it directly (page/direct.py) once the browser shows it has them. Sources are
        named by kinds/base.py's live_hook: `sv:<plot>:<key>`, or `sv:<plot>:<run>/<key>`
        when runs are compared."""
        sources = line_sources(figure)
        for run, state in self.runs.items():
            for key, line in state.lines.items():
                line.pair(
                    sources.get(source_name(self.plot.id, f"{run}/{key}"))
                    or sources.get(source_name(self.plot.id, key))
                )

    def attach(self, figure: Any) -> None:
        """Listen to the figure's pans, zooms, resets and width (once per figure)."""
        from bokeh.events import RangesUpdate, Reset

        if self.figure is figure:
            return
        self.figure = figure
        self._attached_at = time.monotonic()
        if self.carry_span is not None:  # in the render, before the browser has the figure
            figure.x_range.update(start=self.carry_span[0], end=self.carry_span[1])
            self._pinned_figure, self.carry_span = figure, None
        figure.on_event(RangesUpdate, self._on_range)
        figure.on_event(Reset, self._on_reset)
        figure.on_change("inner_width", lambda _a, _o, new: self._on_width(new, figure))
        labels = {getattr(m, "name", ""): m for m in figure.center}
        self.note = labels.get(note_name(self.plot.id))  # made by kinds/base.py's live_hook
        self.waiting = labels.get(f"sv-waiting:{self.plot.id}")
        try:
            width = figure.inner_width  # unset until a browser has laid the figure out
        except Exception:
            width = None
        self._on_width(width, None)  # known from an earlier layout: no word from the browser

    def _confirm(self, figure: Any) -> None:
        """An event came from the browser's copy of the figure: it holds the figure and
        every source the figure had when the browser sent it.

        Bokeh counts a model as synced once it is serialized, but Panel may hold the patch
        carrying a new figure while plain changes (new rows, a label's text) go ahead, and
        the browser refuses a change to a model it does not know; so direct changes wait
        for the browser's word (its first report of the figure's width, a pan, a reset).
        Only the current figure's word counts, and only for sources that figure draws: a
        late event from a figure a render replaced says nothing of the new one."""
        if figure is None or figure is not self.figure:
            return
        drawn = {id(source) for source in line_sources(figure).values()}
        self.confirmed |= {id(line.source) for line in self._held() if id(line.source) in drawn}

    def _on_range(self, event: Any) -> None:
        self._confirm(getattr(event, "model", None))
        if event.x0 is None or event.x1 is None:
            return
        self.requested = (float(event.x0), float(event.x1))
        self.following = False
        self.pending = True
        self._answer_soon()

    def _on_reset(self, event: Any) -> None:
        figure = getattr(event, "model", None)
        self._confirm(figure)
        if figure is not None and figure is self._pinned_figure and self.redraw_on_reset:
            self._pinned_figure = None  # its DataRange1d would return to the carried span
            self.redraw_on_reset()
        self.requested, self.following = None, True
        self.pending = True
        self._answer_soon()

    def _answer_soon(self) -> None:
        """Answer a pan, zoom or reset in the event loop's next turn rather than at the next
        timer tick (up to a refresh period later). Events that come while it waits are
        coalesced: it answers the latest range once, and within a refresh period of its
        last answer the timer's tick answers instead (a wheel zoom sends an event per step)."""
        document = getattr(self.figure, "document", None)
        if self._answer_due or document is None or document.session_context is None:
            return
        period = (self.layout.refresh_ms if self.layout is not None else 50) / 1000
        if time.monotonic() - self._answered_at < period:
            return
        self._answer_due = True
        document.add_next_tick_callback(self._answer)

    def _answer(self) -> None:
        self._answer_due = False
        self._answered_at = time.monotonic()
        if self.pending and self.layout is not None:
            with ordered_changes():
                self.tick(self.layout)

    def _on_width(self, new: Any, figure: Any) -> None:
        """The browser laid the figure out at `new` pixels (`figure`: whose report it is)."""
        if isinstance(new, int) and new > 0:
            self._confirm(figure)
        if isinstance(new, int) and new > 0 and new != self.width:
            self.width = new
            self.pending = True

    def _held(self) -> list[HeldLine]:
        return [line for state in self.runs.values() for line in state.lines.values()]

    def _may_write(self, line: HeldLine) -> bool:
        """A tick may write this line's data source directly (page/direct.py)."""
        if line.source is None:
            return False
        if not self._served():
            return True
        return id(line.source) in self.confirmed and id(line.source) in self._synced_before

    @property
    def direct(self) -> bool:
        """Every drawn line goes straight to its data source (no HoloViews render)."""
        return self.figure is not None and all(self._may_write(line) for line in self._held())

    # -- answering -----------------------------------------------------------------------
    def tick(self, layout: Layout) -> int:
        """Bring every run's lines up to date; returns the rows newly drawn (a whole view
        counts the rows it stands for)."""
        self.layout = layout
        if self.figure is not None and not self._sent():
            return 0  # a new figure or data source: its lines wait until the browser has it
        if self._awaiting_browser():
            self._remember_synced()
            return 0
        sent = 0
        whole = self.pending
        self._resolved = False  # set by a whole view this tick (the note changes with it)
        self.pending = False
        for run, state in self.runs.items():
            table = self.hub.table(run, self.plot.stream)
            if table is None or not state.buffers:
                continue
            if whole or state.failed or state.generation != table.generation:
                sent += self._resolve(run, state, table)
                continue
            if table.next_seq > state.cursor:
                sent += self._append(run, state, table)
        # the note changes with each new view, and at most once a second as deltas arrive
        # (each change is a message to the browser); without direct writes it changes with
        # the next render (the rendered hook)
        now = time.monotonic()
        labels_known = self._labels_known()
        if (
            self.direct
            and labels_known
            and (self._resolved or now - self._noted_at >= NOTE_SECONDS)
        ):
            self._noted_at = now
            self._update_note()
        if sent or self._resolved or self._hover_due or self._hover_waiting:
            self._refresh_hover(whole=self._resolved)
        self._remember_synced()
        if self.groups is not None:
            self.groups.tick()
        return sent

    def _awaiting_browser(self) -> bool:
        """A served figure the browser has not confirmed yet (page opened, chart re-drawn):
        its new rows wait, up to CONFIRM_WAIT, to go straight to its data sources, rather
        than each tick re-rendering it through HoloViews (50-150 ms a chart: on a page of
        100 charts, seconds per tick until the browser answered for every figure)."""
        return (
            self.figure is not None
            and self._served()
            and not self.direct
            and time.monotonic() - self._attached_at < CONFIRM_WAIT
        )

    def _served(self) -> bool:
        document = getattr(self.figure, "document", None)
        return document is not None and document.session_context is not None

    def _remember_synced(self) -> None:
        """At a tick's end: the models Bokeh counts as sent now. A later tick may change
        them directly; this one may not, because Panel can hold the patch that carries a
        model made in this callback while it sends plain changes ahead."""
        models = [self.figure, self.note, self.waiting, self.hover.source]
        models += [line.source for line in self._held()]
        self._synced_before = {
            id(model) for model in models if model is not None and figure_sent(model)
        }

    def _labels_known(self) -> bool:
        """The note and waiting label may change outside a render (see _remember_synced)."""
        if not self._served():
            return True
        labels = [m for m in (self.note, self.waiting) if m is not None]
        return all(id(label) in self._synced_before for label in labels)

    def _sent(self) -> bool:
        """The browser has the figure and every data source the ticks update directly."""
        if not figure_sent(self.figure):
            return False
        return all(figure_sent(line.source) for line in self._held() if line.source is not None)

    def _view_x(self) -> str:
        """The column views are asked against: arrival time for the time axes, else x."""
        return ARRIVAL if self.x_axis in ("wall", "relative") else self.plot.x or ""

    def _limit(self) -> tuple[int, int]:
        """(pixel columns, most rows drawn raw): the `points` option caps both."""
        cap = int(self.plot.options.get("points", 10_000))
        width = max(1, min(self.width, cap // POINTS_PER_PIXEL))
        return width, min(cap, POINTS_PER_PIXEL * width)

    def _range(self, state: RunState) -> tuple[float | None, float | None]:
        """The requested range in the units of the view's x (ns for time axes)."""
        if self.requested is None:
            return None, None
        lo, hi = self.requested
        if self.x_axis == "wall" or self.x_is_time:  # Bokeh datetime axes: ms since epoch
            return lo * 1e6, hi * 1e6
        if self.x_axis == "relative":
            origin = state.origin or 0
            return origin + lo * 1e9, origin + hi * 1e9
        return lo, hi

    def _checked(self, table: Any) -> bool:
        """Show the layout's error when the stream lacks a column the plot names."""
        _, _, empty = table.rows(since=table.next_seq)
        x_values = empty.get(self.plot.x or "")
        self.x_is_time = x_values is not None and x_values.dtype.kind == "M"
        self.x_is_int = x_values is not None and x_values.dtype.kind in "iu"
        problem = None
        if empty and self.layout is not None:
            problem = self.layout.check_columns(self.plot, empty)
        message = None if problem is None else str(problem)
        if message != self.error:
            self.error = message
            if message:
                log.error("%s", message)
            self.show_error(message)
        return problem is None

    def _resolve(self, run: str, state: RunState, table: Any) -> int:
        """Send the view of the requested range (or the whole run) for every line."""
        self._resolved = True
        state.failed = not self._checked(table)
        if state.failed:
            state.generation, state.cursor = table.generation, table.next_seq
            return 0
        width, raw_limit = self._limit()
        lo, hi = self._range(state)
        x = self._view_x()
        view = table.view(x, self.plot.y, lo, hi, width, raw_limit)
        if view.generation != state.generation:  # cleared or replaced: smooth the new rows
            state.smoothers.clear()
        state.generation, state.cursor, state.view = view.generation, view.next_seq, view
        state.appended = 0
        if self.x_axis == "relative" and state.origin is None:
            state.origin = table.first_arrival()
        for column in self.plot.y:
            line = view.lines.get(column, Line(np.empty(0), np.empty(0)))
            self._replace(state, column, line)
            if self.weight > 0:
                smoothed = self._smoothed_view(state, table, x, column, lo, hi, width, raw_limit)
                self._replace(state, smoothed_name(column), smoothed)
        return view.rows

    def _smoothed_view(
        self,
        state: RunState,
        table: Any,
        x: str,
        column: str,
        lo: float | None,
        hi: float | None,
        width: int,
        raw_limit: int,
    ) -> Line:
        """The view of the smoothed series (smoothed over every raw row held).

        The smoother first takes the rows up to the view's cursor it has not seen (rows
        that came as a burst, not as deltas), and never the rows after it: those come as
        deltas next tick, and would otherwise be smoothed twice."""
        smoother = state.smoothers.get(column)
        if smoother is not None and smoother.seen < state.cursor:
            first, xs, values = self._raw(table, x, column, smoother.seen, state.cursor)
            if first == smoother.seen:
                smoother.extend(xs, values)
                smoother.seen = state.cursor
            else:  # rows it never saw are no longer kept: smooth what is kept
                smoother = None
        if smoother is None:
            smoother = state.smoothers[column] = Smoother(self.weight)
            first, xs, values = self._raw(table, x, column, 0, state.cursor)
            smoother.restart(xs, values)
            smoother.seen = state.cursor
        return smoother.view(lo, hi, width, raw_limit)

    def _raw(
        self, table: Any, x: str, column: str, since: int, upto: int
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """(seq of the first row, x, values) of the kept rows with seq in [since, upto)."""
        snapshot = table.snapshot(since)
        count = max(0, upto - snapshot.first_seq)
        xs = snapshot.times if x == ARRIVAL else snapshot.batch.get(x, np.empty(0))
        values = snapshot.batch.get(column, np.full(len(xs), np.nan))
        return snapshot.first_seq, as_float(xs[:count]), np.asarray(values[:count], np.float64)

    def _append(self, run: str, state: RunState, table: Any) -> int:
        """New rows: send them as deltas, or resolve again once more than a pixel width of
        them was appended since the last view."""
        snapshot = table.snapshot(state.cursor)
        rows = len(snapshot.times)
        width, _ = self._limit()
        if rows == 0:
            state.cursor = snapshot.next_seq
            return 0
        if state.appended + rows > width or snapshot.first_seq != state.cursor:
            return self._resolve(run, state, table)
        x = self._view_x()
        xs = snapshot.times if x == ARRIVAL else snapshot.batch.get(x)
        if xs is None or any(c not in snapshot.batch for c in self.plot.y):
            return self._resolve(run, state, table)
        self.x_is_int = xs.dtype.kind in "iu"
        xs = as_float(xs)
        for column in self.plot.y:
            values = np.asarray(snapshot.batch[column], dtype=np.float64)
            self._send(state, column, xs, values)
            smoother = state.smoothers.get(column)
            if self.weight > 0 and smoother is not None and smoother.seen == state.cursor:
                self._send(state, smoothed_name(column), xs, smoother.extend(xs, values))
                smoother.seen = snapshot.next_seq
        state.cursor = snapshot.next_seq
        state.appended += rows
        if state.view is not None:
            state.view = View(
                state.view.lines,
                state.view.rows + rows,
                state.view.raw,
                state.view.lo,
                state.view.hi,
                state.view.width,
                snapshot.next_seq,
                state.view.generation,
            )
        return rows

    def _axis_values(
        self, state: RunState, xs: np.ndarray, ys: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) in the axis' units: steps, datetimes or seconds since the origin; non-finite
        y as NaN (a gap)."""
        name = self.x_name()
        values = np.where(np.isfinite(ys), ys, np.nan)
        if name == WALL or self.x_is_time:
            return xs.astype("int64").astype("datetime64[ns]"), values
        if name == RELATIVE:
            return (xs - float(state.origin or 0)) / 1e9, values
        if self.x_is_int and whole_numbers(xs):
            return xs.astype(np.int64), values
        return np.where(np.isfinite(xs), xs, np.nan), values

    def _replace(self, state: RunState, key: str, line: Line) -> None:
        """A whole new line: straight into its data source once drawn, else via the Buffer."""
        held = state.lines.get(key)
        if held is not None:
            held.replace(*self._axis_values(state, line.x, line.y), self._may_write(held))

    def _send(self, state: RunState, key: str, xs: np.ndarray, ys: np.ndarray) -> None:
        """New rows of one line (a Bokeh `stream` of just them)."""
        held = state.lines.get(key)
        if held is not None:
            held.append(*self._axis_values(state, xs, ys), self._may_write(held))

    def _refresh_hover(self, whole: bool, in_render: bool = False) -> None:
        """Update the hover rows (page/hover.py) in a render, or in a tick once the browser
        holds the hover source; a refresh that has to wait is done whole later."""
        source = self.hover.source
        if source is None:
            return
        if not in_render and self._served() and id(source) not in self._synced_before:
            self._hover_due = True
            return
        whole = whole or self._hover_due
        if not (whole or self.hover.stream_due(time.monotonic())):
            self._hover_waiting = True  # new rows: a tick sends them once a stream is due
            return
        lines = drawn_lines(self.plot, {run: state.lines for run, state in self.runs.items()})
        self.log_ticks.update([line.y for line in lines])
        self.hover.refresh(
            lines,
            self._limit()[0],
            self.x_name(),
            self.x_name() == WALL or self.x_is_time,
            whole,
            time.monotonic(),
        )
        self._hover_due = self._hover_waiting = False

    def _update_note(self) -> None:
        """Say what is drawn, and show "waiting for data" while no line has rows."""
        held = [line.rows for line in self._held()]
        if self.waiting is not None and self.waiting.visible != (not any(held)):
            self.waiting.visible = not any(held)
        if self.note is None:
            return
        views = [s.view for s in self.runs.values() if s.view is not None]
        rows = sum(view.rows for view in views)
        drawn = max(held, default=0)
        text = describe(rows, drawn, bool(views) and all(view.raw for view in views))
        if self.note.text != text:
            self.note.text = text
