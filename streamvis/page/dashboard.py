"""Compile a Layout into one browser session's page: a Panel GridSpec of live plots.

Call `dashboard(layout)` once per session (Panel runs the app script per session); each
call makes fresh Buffers and subscriptions, so viewers never share state. The page address
picks what is drawn: `?run=NAME` another run, `?runs=REGEX` several runs compared
(streamvis/page/compare.py). Line plots follow the header's smoothing and x axis controls
(streamvis/page/controls.py); the header and reset buttons are in streamvis/page/header.py.
"""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path
from typing import Any

from streamvis.core.hub import Hub, check_name, default_hub
from streamvis.errors import StreamError
from streamvis.kinds import KINDS
from streamvis.kinds.base import points
from streamvis.layout.spec import Layout, Plot, load_layout
from streamvis.page import compare, notebook
from streamvis.page.assets import use_server_assets
from streamvis.page.compare import COMPARED, first_run_plot
from streamvis.page.controls import LineControls, smoothing_streams
from streamvis.page.header import group_resets, reset_button
from streamvis.page.header import header as make_header
from streamvis.page.regrid import ROW_HEIGHT, EditErrorBox, LiveGrid
from streamvis.page.served import ServedDashboard, check_listen
from streamvis.page.session import LiveSession, quiet_closed_tabs

log = logging.getLogger("streamvis")
__all__ = ["ROW_HEIGHT", "LivePage", "dashboard", "page_query", "serve"]
DEFAULT_REFRESH_MS = 200
ERROR_STYLE = {
    "color": "#b00020",
    "background": "#fdecea",
    "padding": "6px",
    "font-size": "12px",
    "white-space": "pre-wrap",
    "overflow": "auto",
}


def _buffer_length(plot: Plot) -> int:
    """Rows a plot keeps: its kind's own need (a table's rows, a number's last two), or the
    `points` option."""
    length = getattr(KINDS[plot.kind], "buffer_length", None)
    return int(length(plot)) if length is not None else points(plot)


def _empty_buffer(plot: Plot) -> Any:
    import holoviews as hv
    import pandas as pd

    declared = getattr(KINDS[plot.kind], "buffer_columns", None)
    dtypes = declared(plot) if declared is not None else dict.fromkeys(plot.columns, "float64")
    example = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
    return hv.streams.Buffer(example, length=_buffer_length(plot), index=False)


def _cell(
    plot: Plot, session: LiveSession, controls: LineControls, runs: list[str] | None = None
) -> Any:
    """One grid cell: the plot, and a hidden error box shown when its data does not fit.
    With `runs` (runs compared) a line or scatter plot draws each of them."""
    import panel as pn

    from streamvis.page.panes import literal

    kind = KINDS[plot.kind]
    compared = bool(runs) and plot.kind in COMPARED
    if runs and not compared and getattr(kind, "STREAM", True):
        plot = first_run_plot(plot, session.run)
    state = group = None
    try:
        if not getattr(kind, "STREAM", True):  # static content: no Buffer, no subscription
            return pn.Column(kind.build(plot, None), sizing_mode="stretch_both", margin=2)
        if compared:
            buffers = {run: _empty_buffer(plot) for run in runs or ()}

            def make(shown: Plot) -> tuple[Any, list[Any]]:
                return compare.view(shown, buffers)

        else:
            make_state = getattr(kind, "make_state", None)
            state = make_state(plot) if make_state is not None else None
            if state is not None and plot.crossfilter:
                group = session.crossfilter(plot.stream, plot.crossfilter)
                state.group = group
                group.join(plot.id, state)
            buffers = {session.run: _empty_buffer(plot)}

            def make(shown: Plot) -> tuple[Any, list[Any]]:
                view = kind.build(shown, buffers[session.run], state=state)
                return view, smoothing_streams(view)

        if plot.kind == "line":
            chart = controls.chart(plot, make)
        else:
            view = make(plot)[0]
            chart = (
                view
                if isinstance(view, pn.viewable.Viewable)
                else pn.pane.HoloViews(view, sizing_mode="stretch_both", linked_axes=False)
            )
    except Exception as exc:  # one broken plot must not blank the page
        log.exception("plot '%s' (%s) could not be built", plot.id, plot.kind)
        message = f"plot '{plot.id}' ({plot.kind}) could not be built: {exc}"
        return literal(
            message, styles=ERROR_STYLE, css_classes=["sv-error"], sizing_mode="stretch_both"
        )
    error_box = literal(
        "",
        stylesheets=["pre { white-space: pre-wrap; margin: 0; }"],
        visible=False,
        styles=ERROR_STYLE,
        sizing_mode="stretch_width",
        css_classes=["sv-error"],
    )

    def show_error(message: str | None) -> None:
        error_box.object = message or ""
        error_box.visible = message is not None

    for run, buffer in buffers.items():
        if state is not None:  # summaries (aggregates, filtered tables) see every kept row
            session.add(plot, buffer, show_error, limit=None, state=state)
        else:
            session.add(plot, buffer, show_error, limit=_buffer_length(plot), run=run)
    if group is not None and getattr(state, "column", ""):  # a member that can hold a filter
        return pn.Column(
            error_box, reset_button(plot, group), chart, sizing_mode="stretch_both", margin=2
        )
    return pn.Column(error_box, chart, sizing_mode="stretch_both", margin=2)


class LivePage:
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
    changes. `problem` is shown instead of any plot (a bad page address)."""

    def __init__(
        self,
        hub: Hub,
        run: str | None,
        layout: Layout | None,
        *,
        shown: str | None = None,
        runs: str | None = None,
        problem: str | None = None,
        build: bool = True,
    ) -> None:
        import panel as pn

        self.hub = hub
        self.fixed = layout
        self.home = run or (layout.run if layout is not None else "default")
        self.run = shown or self.home
        self.pattern = runs
        self.problem = problem
        self.runs: list[str] = []
        self._runs_checked: float | None = None
        self.version: Any = None
        self._failed_version: Any = None
        self._retry_at = 0.0
        self.session: LiveSession | None = None
        self.controls: LineControls | None = None
        self.grid: LiveGrid | None = None
        self._layout_run: str | None = None  # the run whose layout is drawn
        self._group_buttons: dict[Any, Any] = {}
        self.layout_error = EditErrorBox(ERROR_STYLE)
        self.document: Any = None
        self.view = pn.Column(sizing_mode="stretch_both")
        self._callback: Any = None
        self._period: int | None = None
        self._closed = False
        self._refresh_header: Any = None
        if build:  # a served page builds once the browser is connected (start)
            self.rebuild_if_changed()

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

    def _layout(self) -> tuple[Any, Layout | None]:
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
            return (version, tuple(runs)), layout
        if self.fixed is not None:
            return 0, self.fixed
        version, layout = self.hub.layout(self.run)
        if layout is None and self.run != self.home:  # a run without its own layout
            home_version, layout = self.hub.layout(self.home)
            return (version, home_version), layout
        self._layout_run = self.run
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
        import panel as pn

        from streamvis.page.panes import literal

        if self.problem is not None:
            return literal(
                self.problem, styles=ERROR_STYLE, css_classes=["sv-error", "sv-page-error"]
            )
        if self.pattern is not None and not self.runs:
            text = (
                f"no run matches runs={self.pattern!r} yet (runs: "
                f"{', '.join(self.hub.runs()) or 'none'}); waiting for one"
            )
        else:
            text = (
                f"waiting for a layout for run '{self.run}' (a layout file, "
                "PUT /api/v1/runs/{run}/layout or Client.set_layout)"
            )
        return pn.pane.HTML(
            f"<p style='color:#888;margin:16px'>{html.escape(text)}</p>", name="sv-waiting-layout"
        )

    def rebuild_if_changed(self) -> bool:
        """Swap in the run's current layout (or set of compared runs) if it changed; True
        when the page was rebuilt."""
        version, layout = self._layout()
        source = self._layout_run and self.hub.layout_file(self._layout_run)
        self.layout_error.show(source or None)  # a layout file's edit that did not load
        if version == self.version or time.monotonic() < self._retry_at:
            return False
        try:
            self._build(layout)
        except Exception:  # keep what is drawn; build again from scratch a second later
            if version != self._failed_version:
                log.exception("the page of run '%s' could not be rebuilt; retrying", self.run)
            self._failed_version = version
            self._retry_at = time.monotonic() + 1.0
            self.grid = None
            return False
        self.version = version  # only once the new view is in place: a failure is retried
        self.view.sv_session = self.session  # for tests and notebooks
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
        if layout is None:
            self.session = self.controls = None
            header = make_header("streamvis", self.home, self.shown)
            self._refresh_header = header.sv_refresh
            self.view[:] = [header, self._note()]
        else:
            runs = self.runs if self.pattern is not None else None
            self.session = LiveSession(layout, self.hub, run=runs[0] if runs else self.run)
            self.session.document = self.document
            self.controls = LineControls()
            session, controls = self.session, self.controls
            self.grid = LiveGrid(
                layout, session, lambda plot: _cell(plot, session, controls, runs)
            )
            # The rows the hub holds go into the Buffers before the grid joins the page, so
            # each plot is rendered once with its data instead of rendered empty and then
            # updated: one patch to the browser, not one re-layout of the page per plot.
            self.session.tick()
            self.view[:] = [self._header(layout), self.layout_error.pane, self.grid.view]

    def _header(self, layout: Layout) -> Any:
        assert self.session is not None
        assert self.controls is not None
        header = make_header(layout.title, self.home, self.shown, self.controls.widgets())
        self._refresh_header = header.sv_refresh
        header.extend(group_resets(self.session, self._group_buttons))
        return header

    def _rearrange(self, layout: Layout) -> None:
        """The layout changed: move, add and remove plots in place (regrid.py)."""
        assert self.grid is not None
        assert self.controls is not None
        self.grid.rearrange(layout, self.controls)
        self.session = self.grid.session
        self.session.tick()
        self.view[:] = [self._header(layout), self.layout_error.pane, self.grid.view]

    def on_timer(self) -> None:
        if self._refresh_header is not None:
            self._refresh_header()
        if self.rebuild_if_changed() and self.session is not None:
            self.session.tick()
            if self._period != self.refresh_ms:
                self._schedule()
            return
        if self.session is not None:
            self.session.on_timer()

    def _schedule(self) -> None:
        import panel as pn

        if self._callback is not None:
            self._callback.stop()
        self._period = self.refresh_ms
        self._callback = pn.state.add_periodic_callback(self.on_timer, period=self._period)

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
        import panel as pn

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
            self._schedule()  # whatever the first build did, the page keeps updating

    def close(self) -> None:
        self._closed = True
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        if self.session is not None:
            self.session.close()


def page_query(arguments: dict[str, list[bytes]]) -> tuple[str | None, str | None, str | None]:
    """(`?run=`, `?runs=`, the problem with them or None) from a page request's arguments."""
    values = {key: arguments[key][-1].decode("utf-8", "replace") for key in ("run", "runs")
              if arguments.get(key)}  # fmt: skip
    shown, runs = values.get("run"), values.get("runs")
    if shown is not None:
        try:
            check_name("run", shown)
        except StreamError as exc:
            return None, None, f"cannot show ?run={shown}: {exc}"
    if runs is not None:
        try:
            compare.matching_runs(runs, ())
        except ValueError as exc:
            return shown, None, str(exc)
    return shown, runs, None


def dashboard(
    layout: Layout | dict[str, Any] | str | None = None,
    *,
    hub: Hub | None = None,
    run: str | None = None,
    runs: str | None = None,
    start: bool = True,
) -> Any:
    """A live page: for `layout` (a Layout, a dict of the YAML schema, or a YAML path), or,
    with no layout, for whatever layout the hub holds for `run` (updated live).

    `runs` (a regular expression) compares the matching runs. In a server the page address
    overrides both: `?run=NAME` shows that run, `?runs=REGEX` compares runs.
    Returns a Panel object; `.servable()` it in an app, or make it a notebook cell's last
    expression: it shows itself live, with nothing else to call."""
    import panel as pn

    use_server_assets()  # before any model exists: a served page never points at a CDN

    from streamvis.page.csp import protect

    protect(pn.state.curdoc)  # served: the page's Content-Security-Policy (streamvis/page/csp.py)
    fixed = load_layout(layout) if layout is not None else None
    shown, pattern, problem = page_query(pn.state.session_args)
    served = start and getattr(pn.state.curdoc, "session_context", None) is not None
    page = LivePage(
        hub or default_hub(),
        run,
        fixed,
        shown=shown,
        runs=pattern or runs,
        problem=problem,
        build=not served,  # served: built once the browser is connected (LivePage.start)
    )
    page.view.sv_page = page
    if (
        notebook.in_kernel()
    ):  # Jupyter: inline resources, no lost rows (page/notebook.py)
        notebook.prepare()
        notebook.attach(page)
    if start:
        page.start()
    return page.view


def serve(
    layout: Layout | dict[str, Any] | str,
    *,
    port: int = 5006,
    address: str = "127.0.0.1",
    show: bool = False,
    threaded: bool = True,
    hub: Hub | None = None,
    run: str | None = None,
    **server_settings: Any,
) -> Any:
    """Serve `layout` from this process (the producer keeps calling `sv.stream`).

    Returns Panel's server handle; with `threaded=True` (default) it runs in a background
    thread and `handle.stop()` ends it, closing the connections open pages still hold.
    Extra keyword arguments go to `panel.serve` and on to
    Bokeh's server under Bokeh's names, e.g. `unused_session_lifetime_milliseconds=5000`
    (not the `panel serve` flag spellings, which Tornado would silently ignore)."""
    import panel as pn

    from streamvis.page.csp import install_header
    from streamvis.sources import start_sources

    check_listen(port, address)
    checked = load_layout(layout)
    followed = None
    if isinstance(layout, str | Path):  # a file: pages follow its edits (layout_watch.py)
        from streamvis.layout.watch import follow_file

        followed = run or checked.run
        follow_file(hub or default_hub(), followed, layout)
    start_sources(checked, hub=hub, run=run)
    # pages load BokehJS from this server (Bokeh's server default) and Panel's CSS too
    # (dashboard() pins each session's stylesheets; see page_assets.py), never from a CDN
    install_header()  # each page's Content-Security-Policy also as a response header

    def page() -> Any:
        if followed is not None:
            return dashboard(None, hub=hub, run=followed)
        return dashboard(checked, hub=hub, run=run)

    handle = pn.serve(
        {"/": page},
        port=port,
        address=address,
        show=show,
        threaded=threaded,
        title=checked.title,
        websocket_origin=[f"{address}:{port}", f"localhost:{port}"],
        **server_settings,
    )
    return ServedDashboard(handle) if threaded else handle
