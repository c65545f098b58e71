"""Per browser session: hub subscriptions feeding this session's HoloViews Buffers.

The only module that touches a Bokeh document. Every refresh tick (a Panel periodic
callback, which Bokeh runs under the session's document lock) each subscription is polled
once and its new rows are sent to every Buffer drawing that stream, so work per tick is
proportional to the new rows. Closing the tab closes the subscriptions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from streamvis.core.hub import Hub, Subscription, Update
from streamvis.errors import SpecError
from streamvis.kinds.base import ordered_changes
from streamvis.layout.spec import Layout, Plot
from streamvis.page.direct import replace_buffer
from streamvis.page.direct_charts import DirectChart, hold_table, writable
from streamvis.page.lines import LineFeed
from streamvis.page.loop_share import PAGES
from streamvis.transforms.crossfilter import Crossfilter
from streamvis.transforms.smoothing import WALL, with_times

if TYPE_CHECKING:
    from streamvis.page.on_screen import OnScreen

log = logging.getLogger("streamvis")
# A tick that took t seconds is followed by at least t * (TICK_DUTY_LIMIT - 1) of rest.
TICK_DUTY_LIMIT = 2.0


def finite_frame(batch: dict[str, np.ndarray], columns: list[str]) -> pd.DataFrame:
    """The plot's columns as a DataFrame, with inf turned into NaN so it draws as a gap."""
    data = {}
    for name in columns:
        values = batch[name]
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            values = np.where(np.isinf(values), np.nan, values)
        data[name] = values
    return pd.DataFrame(data)


class _ClosedTabFilter(logging.Filter):
    """Drop asyncio's 'Task exception was never retrieved' for a websocket the browser already
    closed: Bokeh writes to the socket without awaiting, so every closed tab printed a
    traceback that is not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        from tornado.websocket import WebSocketClosedError

        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, WebSocketClosedError)


def quiet_closed_tabs() -> None:
    """Install the filter above once per process."""
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, _ClosedTabFilter) for f in asyncio_log.filters):
        asyncio_log.addFilter(_ClosedTabFilter())


@dataclass
class Target:
    """One plot in this session: its Buffer and where to show its errors."""

    plot: Plot
    buffer: Any
    show_error: Callable[[str | None], None]
    reread: Callable[[], Update | None]
    state: Any = None  # a kind's running summary (e.g. aggregates): it draws a table instead
    first_time: Callable[[], int | None] | None = None  # set when the Buffer holds times
    error: str | None = None
    stale: bool = False
    origin: int | None = None  # arrival (ns) of the stream's oldest row, for relative time
    direct: DirectChart | None = None  # a crossfilter chart drawn without HoloViews

    def apply(self, update: Update, layout: Layout) -> int:
        """Send an update to the Buffer; returns rows sent (0 when the plot is in error).

        An update the plot cannot draw leaves it stale: when the data fits again it redraws
        from the stream's current content, so rows that a skipped replace removed never
        come back and rows that arrived meanwhile are not lost."""
        if update.batch:
            problem = layout.check_columns(self.plot, update.batch)
            if problem is not None:
                self.stale = True
                self._fail(problem)
                return 0
        if self.stale and not update.reset:
            update = self.reread() or update
        self.stale = False
        if self.error:
            self.error = None
            self.show_error(None)
        key = (update.generation, update.seq, update.reset)
        if self.state is not None and not getattr(self.state, "watches", False):
            # fold new rows into the summary, draw the whole summary
            self.redraw(self.state.update(update.batch, update.reset, key))
            return update.rows
        if self.state is not None:  # a state that watches the rows the Buffer draws...
            if not self.state.update(update.batch, update.reset, key):
                return update.rows  # ...and draws them itself for now (a scatter's density)
        if not update.batch:
            if update.reset:
                self.buffer.clear()
            return 0
        frame = finite_frame(update.batch, self.plot.columns)
        restart = update.reset or len(self.buffer.data) == 0
        if self.first_time is not None:  # a line plot: add arrival times for its x axis
            if restart or self.origin is None:
                self.origin = self.first_time()
            frame = with_times(frame, update.times, self.origin)
        if restart:
            replace_buffer(self.buffer, frame)
        else:
            self.buffer.send(frame)
        return len(frame)

    def catch_up(self) -> None:
        """Work the plot's state deferred to the tick (a scatter's density re-binned after a
        zoom): states that have some say `due`, and get a reader of every kept row."""
        if self.state is not None and getattr(self.state, "due", False) and not self.error:
            self.state.catch_up(self.reread)

    def redraw(self, table: pd.DataFrame | None = None) -> None:
        """Replace what the plot shows with its state's table (summaries are small):
        straight into its data source when it can (page/direct_charts.py), else through
        HoloViews."""
        table = self.state.table() if table is None else table
        if not self.draw_directly(table):
            replace_buffer(self.buffer, table)

    def draw_directly(self, table: pd.DataFrame) -> bool:
        """Write `table` straight into the chart's data source; False when it must go
        through HoloViews (not drawn yet, the browser's word missing, a new shape)."""
        if self.direct is None or not self.direct.write(table):
            return False
        hold_table(self.buffer, table)
        return True

    @property
    def direct_ready(self) -> bool:
        """Its next table may go straight into its data source (a new shape still goes
        through HoloViews then, outside the tick's freeze: correct, only slower)."""
        return self.direct is not None and self.direct.ready()

    def _fail(self, problem: SpecError) -> None:
        message = str(problem)
        if message != self.error:
            self.error = message
            log.error("%s", message)
            self.show_error(message)


def first_arrival(hub: Hub, run: str, stream: str) -> int | None:
    """Arrival time (ns) of the oldest row the hub keeps of a stream; None when empty."""
    table = hub.table(run, stream)
    return table.first_arrival() if table is not None else None


@dataclass
class Feed:
    """One hub subscription and the plots of this session that draw its stream."""

    subscription: Subscription
    targets: list[Target] = field(default_factory=list)


class LiveSession:
    """Subscriptions and Buffers of one browser session, advanced by `tick`."""

    def __init__(self, layout: Layout, hub: Hub, run: str | None = None) -> None:
        self.layout = layout
        self.hub = hub
        self.run = run or layout.run
        # by stream; a stream of another run (runs compared on one page) by "run/stream"
        self.feeds: dict[str, Feed] = {}
        self.crossfilters: dict[tuple[str, str], Crossfilter] = {}
        self.lines: dict[str, LineFeed] = {}  # level-of-detail line plots, by plot id
        self.document: Any = None  # the Bokeh document this session's plots live in
        self._resume_at = 0.0
        self.polled_at: float | None = None  # when the last tick read the hub (page/lag.py)
        # which charts the browser shows (page/on_screen.py); None: every chart is ticked
        self.screen: OnScreen | None = None

    def add(
        self,
        plot: Plot,
        buffer: Any,
        show_error: Callable[[str | None], None],
        limit: int | None,
        state: Any = None,
        run: str | None = None,
    ) -> None:
        """Draw `plot` from its stream of `run` (default: the session's); `limit=None` means
        every kept row (exact summaries), or the newest `state.limit` when the state has
        one. A Buffer with a `_wall_time` column also gets each row's arrival time."""
        run = run or self.run
        if limit is None and state is not None:
            limit = getattr(state, "limit", None)
        key = plot.stream if run == self.run else f"{run}/{plot.stream}"
        feed = self.feeds.get(key)
        if feed is None:
            subscription = self.hub.subscribe(plot.stream, run=run, limit=limit)
            feed = self.feeds[key] = Feed(subscription)
        current = feed.subscription.limit
        feed.subscription.limit = None if limit is None or current is None else max(current, limit)
        reread = self._rereader(run, plot.stream, limit)
        timed = WALL in getattr(buffer.data, "columns", ())
        first = (lambda: first_arrival(self.hub, run, plot.stream)) if timed else None
        target = Target(plot, buffer, show_error, reread, state, first)
        listeners = getattr(state, "render_listeners", None)
        if listeners is not None and writable(plot):
            target.direct = DirectChart(plot, lambda shown: setattr(state, "shown", shown))
            listeners.append(target.direct.rendered)
        feed.targets.append(target)

    def add_lines(self, feed: LineFeed) -> None:
        """Draw a line plot from level-of-detail views, brought up to date every tick."""
        self.lines[feed.plot.id] = feed

    def crossfilter(self, stream: str, name: str) -> Crossfilter:
        """This session's group `name` over `stream` (the stream's rows held in memory); a
        selection in it redraws its members."""
        group = self.crossfilters.get((stream, name))
        if group is None:
            run = self.run
            group = Crossfilter(name, table=lambda: self.hub.table(run, stream))
            self.crossfilters[(stream, name)] = group
            group.listeners.append(lambda: self._redraw_members(group))
        return group

    def _redraw_members(self, group: Crossfilter) -> None:
        """After a selection change: every member's new table, straight into its data
        source where it can (page/direct_charts.py); the rest through HoloViews under one
        Bokeh `freeze()` (as a tick's), else each property change recomputes the model
        graph. Direct writes change no references and need no freeze."""
        members = [
            target
            for feed in self.feeds.values()
            for target in feed.targets
            if target.state is not None and getattr(target.state, "group", None) is group
        ]
        self._remember_synced()
        rendered = []
        with ordered_changes():  # one patch queued behind Panel's (within a click's, that one)
            for target in members:
                table = target.state.table()
                if not target.draw_directly(table):
                    rendered.append((target, table))
            if rendered:
                document = self.document
                with document.models.freeze() if document is not None else nullcontext():
                    for target, table in rendered:
                        replace_buffer(target.buffer, table)

    def _remember_synced(self) -> None:
        """At a callback's start, before it changes anything: which directly drawn charts'
        models Bokeh counts as sent (at an earlier callback's end)."""
        for feed in self.feeds.values():
            for target in feed.targets:
                if target.direct is not None:
                    target.direct.remember_synced()

    def _rereader(self, run: str, stream: str, limit: int | None) -> Callable[[], Update | None]:
        """Reads the whole kept content of a stream (newest `limit` rows) as a reset."""

        def reread() -> Update | None:
            table = self.hub.table(run, stream)
            return table.read(-1, 0, limit) if table is not None else None

        return reread

    def tick(self) -> int:
        """Move every new row of every subscribed stream into this session's Buffers.

        All plot updates of one tick share one Bokeh `freeze()`, so the document's model
        graph is recomputed once per tick rather than once per plot, and go out as one
        patch queued behind Panel's (`ordered_changes`). Layout changes stay outside: the
        browser lays a grid out again while it still builds the views of new children,
        and a tick's changes in the same patch made it read a child view not yet built."""
        with ordered_changes():
            return self._tick()

    def _tick(self) -> int:
        started = self.polled_at = time.monotonic()
        updates = [(feed, feed.subscription.poll()) for feed in self.feeds.values()]
        updates = [(feed, update) for feed, update in updates if update is not None]
        deferred = [t for f in self.feeds.values() for t in f.targets if t.state is not None]
        due = any(getattr(t.state, "due", False) for t in deferred)
        screen = self.screen  # charts out of view wait until shown (page/on_screen.py)
        lines = [f for f in self.lines.values() if screen is None or screen.shown(f.plot.id)]
        if not updates and not lines and not due:
            return 0
        # HoloViews renders change the model graph: one freeze() recomputes it once per tick.
        # Updates that go straight to data sources change no references, and a freeze would
        # cost a walk of every model of the page for nothing (page/direct.py).
        self._remember_synced()  # before anything changes: what earlier callbacks sent
        rendering = (
            due
            or not all(f.direct for f in lines)
            or any(not t.direct_ready for feed, _ in updates for t in feed.targets)
        )
        document = self.document if rendering else None
        frozen = document.models.freeze() if document is not None else nullcontext()
        sent = 0
        with frozen:
            for feed, update in updates:
                for target in feed.targets:
                    try:
                        sent += target.apply(update, self.layout)
                    except Exception:  # one broken plot must not stop the others updating
                        log.exception("plot '%s' failed to update", target.plot.id)
            for line_feed in lines:
                try:
                    sent += line_feed.tick(self.layout)
                except Exception:
                    log.exception("plot '%s' failed to update", line_feed.plot.id)
            for target in deferred:
                try:
                    target.catch_up()
                except Exception:
                    log.exception("plot '%s' failed to update", target.plot.id)
        self._resume_at = started + TICK_DUTY_LIMIT * (time.monotonic() - started)
        return sent

    def on_timer(self) -> int:
        """The refresh callback: a tick, unless the last one asks for rest.

        A session whose ticks grow slow (many plots, a busy machine) skips timer ticks so that
        it spends at most half its time drawing and never starves the producer or other
        pages; rows skipped are delivered by the next tick, none are lost."""
        if time.monotonic() < self._resume_at or not PAGES.allows():
            return 0
        started = time.monotonic()
        try:
            return self.tick()
        finally:
            PAGES.spent(time.monotonic() - started)

    def drop(self, plot_ids: set[str]) -> None:
        """Stop drawing these plots (a layout edit removed them): a stream no plot draws any
        more is unsubscribed, and a crossfilter member leaves its group, selection too."""
        for plot_id in plot_ids & set(self.lines):
            del self.lines[plot_id]
        for key, feed in list(self.feeds.items()):
            feed.targets = [t for t in feed.targets if t.plot.id not in plot_ids]
            if not feed.targets:
                feed.subscription.close()
                del self.feeds[key]
        for key, group in list(self.crossfilters.items()):
            for plot_id in plot_ids & set(group.members):
                del group.members[plot_id]
                if plot_id in group.selections:
                    group.select(plot_id, None)
            if not group.members:
                del self.crossfilters[key]

    def replot(self, plots: dict[str, Plot]) -> None:
        """Point kept plots at their Plot in the new layout (a new place, new error lines)."""
        for feed in self.feeds.values():
            for target in feed.targets:
                target.plot = plots.get(target.plot.id, target.plot)
        for lines in self.lines.values():
            lines.replot(plots.get(lines.plot.id, lines.plot))

    def refill(self, plot_ids: set[str]) -> None:
        """New plots joined streams this session already reads: the next tick sends those
        streams' kept rows again, as a reset, so the new plots start with the history."""
        for feed in self.feeds.values():
            if feed.subscription.generation != -1 and any(
                t.plot.id in plot_ids for t in feed.targets
            ):
                feed.subscription.generation = -1

    def close(self) -> None:
        for feed in self.feeds.values():
            feed.subscription.close()
        self.feeds.clear()
        self.lines.clear()
