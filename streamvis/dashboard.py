"""Compile a Layout into one browser session's page: a Panel GridSpec of live plots.

Call `dashboard(layout)` once per session (Panel runs the app script per session); each
call makes fresh Buffers and subscriptions, so viewers never share state.
"""

from __future__ import annotations

import html
import logging
import time
from typing import Any

from streamvis.crossfilter import Crossfilter
from streamvis.hub import Hub, default_hub
from streamvis.kinds import KINDS
from streamvis.kinds.base import points
from streamvis.session import LiveSession, quiet_closed_tabs
from streamvis.spec import Layout, Plot, load_layout

log = logging.getLogger("streamvis")
ROW_HEIGHT = 260
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


def _cell(plot: Plot, session: LiveSession) -> Any:
    """One grid cell: the plot, and a hidden error box shown when its data does not fit."""
    import panel as pn

    kind = KINDS[plot.kind]
    try:
        if not getattr(kind, "STREAM", True):  # static content: no Buffer, no subscription
            return pn.Column(kind.build(plot, None), sizing_mode="stretch_both", margin=2)
        make_state = getattr(kind, "make_state", None)
        state = make_state(plot) if make_state is not None else None
        group = None
        if state is not None and plot.crossfilter:
            group = session.crossfilter(plot.stream, plot.crossfilter)
            state.group = group
            group.join(plot.id, state)
        buffer = _empty_buffer(plot)
        view = kind.build(plot, buffer, state=state)
        chart = (
            view
            if isinstance(view, pn.viewable.Viewable)
            else pn.pane.HoloViews(view, sizing_mode="stretch_both", linked_axes=False)
        )
    except Exception as exc:  # one broken plot must not blank the page
        log.exception("plot '%s' (%s) could not be built", plot.id, plot.kind)
        message = f"plot '{plot.id}' ({plot.kind}) could not be built: {exc}"
        return pn.pane.Str(
            message, styles=ERROR_STYLE, css_classes=["sv-error"], sizing_mode="stretch_both"
        )
    error_box = pn.pane.Str(
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

    if state is not None:  # summaries (aggregates, filtered tables) see every kept row
        session.add(plot, buffer, show_error, limit=None, state=state)
    else:
        session.add(plot, buffer, show_error, limit=_buffer_length(plot))
    if group is not None and getattr(state, "column", ""):  # a member that can hold a filter
        return pn.Column(
            error_box, _reset_button(plot, group), chart, sizing_mode="stretch_both", margin=2
        )
    return pn.Column(error_box, chart, sizing_mode="stretch_both", margin=2)


def _reset_button(plot: Plot, group: Crossfilter) -> Any:
    """'reset' for one chart's selection, shown only while it has one."""
    import panel as pn

    button = pn.widgets.Button(
        label=f"reset {plot.id}",
        height=30,
        width=140,
        visible=False,
        css_classes=["sv-reset"],
    )
    button.on_click(lambda _event: group.select(plot.id, None))
    group.listeners.append(lambda: setattr(button, "visible", plot.id in group.selections))
    return button


def _group_resets(session: LiveSession) -> list[Any]:
    """'reset all' per crossfilter group of the page, shown while any member filters."""
    import panel as pn

    buttons = []
    for group in session.crossfilters.values():
        button = pn.widgets.Button(
            label=f"reset all ({group.name})",
            height=30,
            width=180,
            visible=False,
            css_classes=["sv-reset-group"],
        )
        button.on_click(lambda _event, g=group: g.reset())
        group.listeners.append(lambda b=button, g=group: setattr(b, "visible", g.active))
        buttons.append(button)
    return buttons


def _equal_tracks(rows: int, cols: int) -> str:
    """CSS giving every grid row and column the same share of the page. Without it the grid
    tracks size to their content and a plot can push its neighbours off screen."""
    return (
        ":host { "
        f"grid-template-columns: repeat({cols}, minmax(0, 1fr)) !important; "
        f"grid-template-rows: repeat({rows}, minmax(0, 1fr)) !important; }}"
    )


def _header(title: str, run: str) -> Any:
    import panel as pn

    heading = pn.pane.HTML(
        f"<h2 style='margin:4px 8px'>{html.escape(title)}</h2>", sizing_mode="stretch_width"
    )
    run_label = pn.pane.HTML(
        f"<span style='color:#666;margin:12px'>run: {html.escape(run)}</span>",
        width=260,
        align="end",
    )
    status = _source_status(run)
    parts = [heading, run_label] if status is None else [heading, status, run_label]
    row = pn.Row(*parts, sizing_mode="stretch_width", height=48)
    row.sv_refresh = getattr(status, "sv_refresh", None)  # LivePage calls it on its timer
    return row


def _source_status(run: str) -> Any:
    """One line per failing source of `run` (layout `sources:`), refreshed every second;
    None when the run has no sources."""
    import panel as pn

    from streamvis import sources

    if not sources.states(run):
        return None
    pane = pn.pane.HTML(
        "",
        css_classes=["sv-sources"],
        sizing_mode="stretch_width",
        height=44,
        styles={"color": "#b00020", "font-size": "12px", "overflow": "auto"},
    )

    last = [0.0]

    def update() -> None:
        """Called by the page's own timer; looks at the sources at most once a second."""
        if time.monotonic() - last[0] < 1.0:
            return
        last[0] = time.monotonic()
        text = "<br>".join(html.escape(line) for line in sources.problems(run))
        if pane.object != text:
            pane.object = text

    update()
    pane.sv_refresh = update
    return pane


def _grid(layout: Layout, session: LiveSession) -> Any:
    import panel as pn

    rows, cols = layout.shape
    grid = pn.GridSpec(
        sizing_mode="stretch_both",
        min_height=ROW_HEIGHT * rows,
        name="sv-grid",
        stylesheets=[_equal_tracks(rows, cols)],
    )
    for plot in layout.plots:
        top, left, height, width = plot.at
        grid[top : top + height, left : left + width] = _cell(plot, session)
    return grid


class LivePage:
    """One browser session's page for a run: a header and the grid of its layout.

    With a fixed layout the page shows it; without one it follows the layout the hub holds
    for the run (set by a layout file, `PUT /api/v1/runs/{run}/layout` or `Client.set_layout`)
    and rebuilds itself in place, without a reload, whenever that layout changes."""

    def __init__(self, hub: Hub, run: str | None, layout: Layout | None) -> None:
        import panel as pn

        self.hub = hub
        self.fixed = layout
        self.run = run or (layout.run if layout is not None else "default")
        self.version = -1
        self.session: LiveSession | None = None
        self.document: Any = None
        self.view = pn.Column(sizing_mode="stretch_both")
        self._callback: Any = None
        self._period: int | None = None
        self._closed = False
        self._refresh_header: Any = None
        self.rebuild_if_changed()

    def _layout(self) -> tuple[int, Layout | None]:
        if self.fixed is not None:
            return 0, self.fixed
        return self.hub.layout(self.run)

    @property
    def refresh_ms(self) -> int:
        return self.session.layout.refresh_ms if self.session else DEFAULT_REFRESH_MS

    def rebuild_if_changed(self) -> bool:
        """Swap in the run's current layout if it changed; True when the page was rebuilt."""
        import panel as pn

        version, layout = self._layout()
        if version == self.version:
            return False
        self.version = version
        if self.session is not None:
            self.session.close()
        if layout is None:
            self.session = None
            note = pn.pane.HTML(
                f"<p style='color:#888;margin:16px'>waiting for a layout for run "
                f"'{html.escape(self.run)}' (a layout file, PUT /api/v1/runs/{{run}}/layout "
                "or Client.set_layout)</p>",
                name="sv-waiting-layout",
            )
            header = _header("streamvis", self.run)
            self._refresh_header = header.sv_refresh
            self.view[:] = [header, note]
        else:
            self.session = LiveSession(layout, self.hub, run=self.run)
            self.session.document = self.document
            grid = _grid(layout, self.session)
            header = _header(layout.title, self.run)
            self._refresh_header = header.sv_refresh
            header.extend(_group_resets(self.session))
            self.view[:] = [header, grid]
        self.view.sv_session = self.session  # for tests and notebooks
        return True

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
        """Refresh every period in this session, once the browser has loaded the page;
        stop and unsubscribe when the session closes.

        Waiting for the load matters: a layout swap between the page's HTML render and the
        browser's first sync could leave the browser with references it never received."""
        import panel as pn

        quiet_closed_tabs()
        self.document = pn.state.curdoc
        if self.session is not None:
            self.session.document = self.document
        if self.document is not None and self.document.session_context is not None:
            self.document.on_session_destroyed(lambda _context: self.close())
        pn.state.onload(self._begin)

    def _begin(self) -> None:
        if self._closed:
            return
        self.rebuild_if_changed()
        if self.session is not None:
            self.session.tick()
        self._schedule()

    def close(self) -> None:
        self._closed = True
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        if self.session is not None:
            self.session.close()


def dashboard(
    layout: Layout | dict[str, Any] | str | None = None,
    *,
    hub: Hub | None = None,
    run: str | None = None,
    start: bool = True,
) -> Any:
    """A live page: for `layout` (a Layout, a dict of the YAML schema, or a YAML path), or,
    with no layout, for whatever layout the hub holds for `run` (updated live).

    Returns a Panel object; `.servable()` it in an app, or show it in a notebook."""
    fixed = load_layout(layout) if layout is not None else None
    page = LivePage(hub or default_hub(), run, fixed)
    page.view.sv_page = page
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
    **server_settings: Any,
) -> Any:
    """Serve `layout` from this process (the producer keeps calling `sv.stream`).

    Returns Panel's server handle; with `threaded=True` (default) it runs in a background
    thread and `handle.stop()` ends it. Extra keyword arguments go to `panel.serve` and on to
    Bokeh's server under Bokeh's names, e.g. `unused_session_lifetime_milliseconds=5000`
    (not the `panel serve` flag spellings, which Tornado would silently ignore)."""
    import panel as pn

    from streamvis.sources import start_sources

    checked = load_layout(layout)
    start_sources(checked, hub=hub)

    def page() -> Any:
        return dashboard(checked, hub=hub)

    return pn.serve(
        {"/": page},
        port=port,
        address=address,
        show=show,
        threaded=threaded,
        title=checked.title,
        websocket_origin=[f"{address}:{port}", f"localhost:{port}"],
        **server_settings,
    )
