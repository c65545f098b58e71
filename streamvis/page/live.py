"""The page object of one browser session (or notebook cell): a Panel `Viewer` holding its
session, header, line controls, grid and the render-hook memory of its plots.

It draws a fixed layout, or follows the layout the hub holds for its run and re-arranges
itself in place when it changes (regrid.py); `?runs=` pages compare runs (compare.py).
Built and started by `streamvis.page.dashboard.dashboard`.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable
from typing import Any

import panel as pn
from panel.viewable import Viewer

from streamvis.core.hub import Hub
from streamvis.errors import SpecError
from streamvis.kinds.contract import PlotMarks
from streamvis.layout.held import as_layout
from streamvis.layout.spec import Layout
from streamvis.page import compare
from streamvis.page.auto_page import AutoLayouts, ChartSearch
from streamvis.page.cells import ERROR_STYLE, make_cell
from streamvis.page.controls import LineControls
from streamvis.page.group_lines import GroupSettings, attribute_names, fitted_to_bar
from streamvis.page.header import Header, group_resets
from streamvis.page.lag import LagNote
from streamvis.page.loss_notes import notes_for
from streamvis.page.notebook import NotebookTicks
from streamvis.page.on_screen import OnScreen, on_screen
from streamvis.page.regrid import EditErrorBox, LiveGrid
from streamvis.page.runs_panel import WIDTH as BAR_WIDTH
from streamvis.page.runs_panel import RunsPanel
from streamvis.page.served import warm_up_session
from streamvis.page.session import LiveSession, quiet_closed_tabs
from streamvis.page.store_notice import StoreNotice

log = logging.getLogger("streamvis")
DEFAULT_REFRESH_MS = 50


def quiet_timer(callback: Callable[[], None], period_ms: int) -> Any:
    """A started Panel periodic callback that neither marks the session busy nor logs each
    run. At 20 runs a second per page, Panel's busy bookkeeping (a parameter change and its
    watchers at each start and end of a run) cost more than an idle tick."""
    from panel.io.callbacks import PeriodicCallback

    timer = PeriodicCallback(callback=callback, period=period_ms, background=True, log=False)
    timer.start()
    return timer


class LivePage(Viewer):
    """One browser session's page for a run (or, with `runs`, several runs compared): a
    header and the grid of its layout.

    With a fixed layout the page shows it; without one it follows the layout the hub holds
    for the run (set by a layout file, `PUT /api/v1/runs/{run}/layout` or `Client.set_layout`)
    and rebuilds itself in place, without a reload, whenever that layout changes: plots
    that did not change keep their figure (data, zoom, selection; regrid.py), and while the
    layout file's latest edit does not load, its error is shown above the plots. `run` is
    the app's run; `shown` (from `?run=`) is drawn instead, with its own layout if the hub
    has one, else the app's run's. `runs` (from `?runs=`) is a regular expression over run
    names; the set of matching runs is checked once a second and the page rebuilt when it
    changes. `problem` is shown instead of any plot (a bad page address).

    The page is a Panel `Viewer`: it shows as `view` (`__panel__`), in a served page or a
    notebook cell. Its session, header and controls are its own attributes; `marks` holds
    what each plot's render hooks remember (by plot id), so nothing is stuck onto Panel or
    HoloViews objects."""

    def __init__(
        self,
        hub: Hub,
        run: str | None,
        layout: Layout | None,
        *,
        shown: str | None = None,
        runs: str | None = None,
        problem: str | None = None,
        grouping: GroupSettings | None = None,
        build: bool = True,
    ) -> None:
        super().__init__()
        self.hub = hub
        self.fixed = layout
        self.home = run or (layout.run if layout is not None else "default")
        self.run = shown or self.home
        self.pattern = runs
        self.problem = problem
        self.grouping = grouping or GroupSettings()  # runs grouped (page/group_lines.py)
        self._refused_key: Any = None  # the layout key whose plain data did not validate
        self.runs: list[str] = []
        self._runs_checked: float | None = None
        self.version: Any = None
        self._failed_version: Any = None
        self._retry_at = 0.0
        self.session: LiveSession | None = None
        self.controls: LineControls | None = None
        self.grid: LiveGrid | None = None
        self.header: Header | None = None
        self.marks: dict[str, PlotMarks] = {}
        self.ticks: NotebookTicks | None = None  # set in a Jupyter kernel (notebook.attach)
        self._layout_run: str | None = None  # the run whose layout is drawn
        self._group_buttons: dict[Any, Any] = {}
        self.layout_error = EditErrorBox(ERROR_STYLE)
        self.auto = AutoLayouts()  # runs without a layout: a chart per numeric column
        self.search: ChartSearch | None = None  # the automatic layout's search box
        self.lag = LagNote()  # "behind 2.3 s" in the header while the page lags
        self.store_notice = StoreNotice()  # "data service unavailable" above the plots
        self.document: Any = None
        self.view = pn.Column(sizing_mode="stretch_both")
        # the side bar of a served page: runs listed, checked, filtered (not in a notebook)
        served = getattr(pn.state.curdoc, "session_context", None) is not None
        self.runs_panel = RunsPanel(self) if served else None
        self.root = (
            pn.Row(self.runs_panel.view, self.view, sizing_mode="stretch_both")
            if self.runs_panel is not None
            else self.view
        )
        self._callback: Any = None
        self._period: int | None = None
        self._closed = False
        if build:  # a served page builds once the browser is connected (start)
            self.rebuild_if_changed()

    def __panel__(self) -> Any:
        """What Panel shows for this page: its view (header, error box and grid), served
        with the runs panel beside it."""
        return self.root

    def select_runs(self, pattern: str) -> None:
        """Compare the runs `pattern` matches from the next tick on (the runs panel's
        choice): a page of one run becomes a compare page."""
        self.pattern = pattern
        self.problem = None  # a bad ?run= / ?runs= is replaced by the runs chosen
        self._runs_checked = None

    def _marks(self, plot_id: str) -> PlotMarks:
        """The render-hook memory of one plot of this page."""
        return self.marks.setdefault(plot_id, PlotMarks())

    def _matching(self) -> list[str]:
        """The runs `?runs=` matches, looked up at most once a second."""
        now = time.monotonic()
        if self.pattern is not None and (
            self._runs_checked is None or now - self._runs_checked >= 1.0
        ):
            self._runs_checked = now
            try:
                self.runs = compare.matching_runs(self.pattern, self.hub.runs())
            except ValueError as exc:
                self.problem = str(exc)
        return self.runs

    def _validated(self, key: Any, held: Any) -> Layout | None:
        """The layout to draw for what the hub holds: plain data (a PUT, or replayed from
        the store) is validated here; data that no longer makes a layout draws nothing."""
        try:
            return as_layout(held, self._layout_run or self.home)
        except SpecError as exc:  # stored by an older version, say
            if key != self._refused_key:
                self._refused_key = key
                log.error("%s", exc)
            return None

    def _held_layout(self) -> tuple[Any, Any]:
        """(a key that changes when the layout to draw does, what the hub holds for it)."""
        self._layout_run = None if self.fixed is not None else self.home
        if self.problem is not None:
            return "problem", None
        if self.pattern is not None:
            runs = self._matching()
            if self.problem is not None or not runs:
                return ("runs", tuple(runs), self.problem), None
            version, layout = (
                (0, self.fixed)
                if self.fixed is not None
                else compare.shared_layout(self.hub, self.home, runs)
            )
            if layout is None:
                version, layout = self.auto.held(self.hub, runs, self.home)
            return (version, tuple(runs)), layout
        if self.fixed is not None:
            return 0, self.fixed
        version, layout = self.hub.layout(self.run)
        if layout is None and self.run != self.home:  # a run without its own layout
            home_version, layout = self.hub.layout(self.home)
            if layout is not None:
                return (version, home_version), layout
        self._layout_run = self.run
        if layout is None:  # no layout anywhere: the automatic one (layout/auto.py)
            return self.auto.held(self.hub, [self.run], self.run)
        return version, layout

    @property
    def refresh_ms(self) -> int:
        return self.session.layout.refresh_ms if self.session else DEFAULT_REFRESH_MS

    @property
    def shown(self) -> str:
        """What the header says the page shows."""
        if self.pattern is None:
            return f"run: {self.run}"
        return f"runs: {', '.join(self.runs)}" if self.runs else f"runs: {self.pattern}"

    def _note(self) -> Any:
        """The text shown while there is nothing to draw."""
        from streamvis.page.panes import literal

        if self.problem is not None:
            return literal(
                self.problem, styles=ERROR_STYLE, css_classes=["sv-error", "sv-page-error"]
            )
        if self.pattern == "":
            text = "no run checked: check runs in the runs panel"
        elif self.pattern is not None and not self.runs:
            text = (
                f"no run matches runs={self.pattern!r} yet (runs: "
                f"{', '.join(self.hub.runs()) or 'none'}); waiting for one"
            )
        else:
            text = (
                f"waiting for a layout for run '{self.run}' (a layout file, "
                "PUT /api/v1/runs/{run}/layout or Client.set_layout), or for data: "
                "each numeric column of its streams then gets a chart"
            )
        return pn.pane.HTML(
            f"<p style='color:#888;margin:16px'>{html.escape(text)}</p>", name="sv-waiting-layout"
        )

    def rebuild_if_changed(self) -> bool:
        """Swap in the run's current layout (or set of compared runs) if it changed; True
        when the page was rebuilt."""
        version, held = self._held_layout()
        source = self._layout_run and self.hub.layout_file(self._layout_run)
        self.layout_error.show(source or None)  # a layout file's edit that did not load
        if version == self.version or time.monotonic() < self._retry_at:
            return False
        try:
            self._build(self._validated(version, held))  # only when the layout changed
        except Exception:  # keep what is drawn; build again from scratch a second later
            if version != self._failed_version:
                log.exception("the page of run '%s' could not be rebuilt; retrying", self.run)
            self._failed_version = version
            self._retry_at = time.monotonic() + 1.0
            self.grid = None
            return False
        self.version = version  # only once the new view is in place: a failure is retried
        return True

    def _build(self, layout: Layout | None) -> None:
        """Draw `layout`: in place when the page already has a grid (regrid.py), else anew."""
        if layout is not None and self.grid is not None and self.pattern is None:
            self._rearrange(layout)
            return
        if self.session is not None:
            self.session.close()
        self.grid = None
        self._group_buttons = {}
        self.marks = {}
        if layout is None:
            self.session = self.controls = None
            self._grouping()  # none: the runs panel's are taken away
            self.header = Header("streamvis", self.home, self.shown)
            self.view[:] = [self.header.row, self.store_notice.pane, self._note()]
        else:
            runs = self.runs if self.pattern is not None else None
            self.session = LiveSession(layout, self.hub, run=runs[0] if runs else self.run)
            self.session.document = self.document
            self.controls = LineControls()
            session, controls = self.session, self.controls
            automatic = self.auto.is_auto(layout)  # its later layouts are new objects
            # an automatic layout may hold 100 charts: once drawn, only those on screen are
            # ticked (page/on_screen.py)
            screen = OnScreen() if automatic and self.runs_panel else None
            self.grid = LiveGrid(
                layout,
                session,
                lambda plot: on_screen(
                    screen,
                    plot.id,
                    make_cell(
                        self.grouping.apply(plot) if runs else plot,
                        session,
                        controls,
                        self._marks(plot.id),
                        runs,
                    ),
                ),
            )
            # The rows the hub holds go into the Buffers before the grid joins the page, so
            # each plot is rendered once with its data instead of rendered empty and then
            # updated: one patch to the browser, not one re-layout of the page per plot.
            self.session.tick()
            self.session.screen = screen
            self.view[:] = [*self._top(layout), self.grid.view]
            self._follow_search()

    def _follow_search(self) -> None:
        """Filter the grid by the search box (automatic layouts only)."""
        if self.search is not None:
            self.search.follow(self.grid)

    def _header(self, layout: Layout) -> Any:
        """A new header for `layout` (its row, which the page shows)."""
        assert self.session is not None
        assert self.controls is not None
        widgets = self.controls.widgets()
        widgets = [*widgets, *self._grouping()]
        if not self.auto.is_auto(layout):
            self.search = None
        elif self.search is None:
            self.search = ChartSearch()
        if self.search is not None:
            widgets = [*widgets, *self.search.widgets()]
        self.header = Header(layout.title, self.home, self.shown, widgets)
        self.header.row.extend(group_resets(self.session, self._group_buttons))
        self.header.row.append(self.lag.pane)
        return self.header.row

    def _grouping(self) -> list[Any]:
        """The grouping controls, when runs are compared in line plots: put in the runs panel
        when the page has one (its controls emptied otherwise), else returned for the header
        (a notebook cell)."""
        grouping: list[Any] = []
        if self.pattern is not None and self.controls is not None and self.controls.widgets():
            names = attribute_names(self.hub, self.runs)
            grouping = self.grouping.widgets(self.controls, names)
        if self.runs_panel is None:
            return grouping
        self.runs_panel.show_controls(fitted_to_bar(grouping, BAR_WIDTH))
        return []

    def _top(self, layout: Layout) -> list[Any]:
        """What goes above the grid: the header, the store's notice, the layout file's error."""
        return [self._header(layout), self.store_notice.pane, self.layout_error.pane]

    def _rearrange(self, layout: Layout) -> None:
        """The layout changed: move, add and remove plots in place (regrid.py)."""
        assert self.grid is not None
        assert self.controls is not None
        self.grid.rearrange(layout, self.controls)
        self.marks = {key: marks for key, marks in self.marks.items() if key in self.grid.cells}
        self.session = self.grid.session
        self.session.tick()
        self.view[:] = [*self._top(layout), self.grid.view]
        self._follow_search()

    def on_timer(self) -> None:
        if self._closed:
            return
        if self.runs_panel is not None:
            self.runs_panel.refresh()  # at most once a second
        if self.ticks is None:  # served: lag and loss notes (not in a notebook: lag-and-loss.md)
            self.lag.refresh(self.session, self.refresh_ms)  # before this firing's tick
            self.store_notice.refresh(self.hub)  # the store unreachable, or back
            if self.session is not None:
                notes_for(self.session).refresh()  # rows lost before reaching the server
        if self.header is not None:
            self.header.refresh()
        if self.rebuild_if_changed() and self.session is not None:
            self.session.tick()
            if self._period != self.refresh_ms:
                self._schedule()
            return
        if self.session is not None:
            self.session.on_timer()

    def _schedule(self) -> None:
        if self._callback is not None:
            self._callback.stop()
        self._period = self.refresh_ms
        self._callback = quiet_timer(self.on_timer, self._period)

    def start(self) -> None:
        """Build and refresh the page once the browser has loaded it; stop and unsubscribe
        when the session closes.

        Panel counts a session as connected only once the browser reports its document
        ready, and drops document changes made before that, expecting to send the whole
        document on connection (panel/io/document.py); but Bokeh sends the document
        earlier, when the browser asks for it, so a change in between never reaches the
        browser and every later update of those models fails: the page stops drawing.
        So a served page is built (`dashboard(..., start=True)` makes it empty) and changed
        only from `_begin` on, and `_begin` always starts the timer: when a layout changes
        relative to the page's connection no longer matters."""
        quiet_closed_tabs()
        self.document = pn.state.curdoc
        if self.session is not None:
            self.session.document = self.document
        if self.document is not None and self.document.session_context is not None:
            self.document.on_session_destroyed(lambda _context: self.close())
        pn.state.onload(self._begin)

    def _begin(self) -> None:
        """The browser is connected: draw the current layout, then refresh on a timer."""
        if self._closed:
            return
        try:
            self.rebuild_if_changed()
            if self.session is not None:
                self.session.tick()
        finally:
            if not warm_up_session(self.document):  # a warm-up's page is thrown away
                self._schedule()  # whatever the first build did, the page keeps updating

    def close(self) -> None:
        self._closed = True
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        if self.session is not None:
            self.session.close()
