"""Compile a Layout into one browser session's page: a Panel GridSpec of live plots.

Call `dashboard(layout)` once per session (Panel runs the app script per session); each
call makes fresh Buffers and subscriptions, so viewers never share state.
"""

from __future__ import annotations

import html
from typing import Any

from streamvis.hub import Hub, default_hub
from streamvis.kinds import KINDS
from streamvis.kinds.base import points
from streamvis.session import LiveSession
from streamvis.spec import Layout, Plot, load_layout

ROW_HEIGHT = 260
ERROR_STYLE = {
    "color": "#b00020",
    "background": "#fdecea",
    "padding": "6px",
    "font-size": "12px",
    "white-space": "pre-wrap",
    "overflow": "auto",
}


def _empty_buffer(plot: Plot) -> Any:
    import holoviews as hv
    import pandas as pd

    example = pd.DataFrame({name: pd.Series(dtype="float64") for name in plot.columns})
    return hv.streams.Buffer(example, length=points(plot), index=False)


def _cell(plot: Plot, session: LiveSession) -> Any:
    """One grid cell: the plot, and a hidden error box shown when its data does not fit."""
    import panel as pn

    buffer = _empty_buffer(plot)
    dynamic_map = KINDS[plot.kind].build(plot, buffer)
    chart = pn.pane.HoloViews(dynamic_map, sizing_mode="stretch_both", linked_axes=False)
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

    session.add(plot, buffer, show_error, limit=points(plot))
    return pn.Column(error_box, chart, sizing_mode="stretch_both", margin=2)


def _equal_tracks(rows: int, cols: int) -> str:
    """CSS giving every grid row and column the same share of the page. Without it the grid
    tracks size to their content and a plot can push its neighbours off screen."""
    return (
        ":host { "
        f"grid-template-columns: repeat({cols}, minmax(0, 1fr)) !important; "
        f"grid-template-rows: repeat({rows}, minmax(0, 1fr)) !important; }}"
    )


def _header(layout: Layout, session: LiveSession) -> Any:
    import panel as pn

    title = pn.pane.HTML(
        f"<h2 style='margin:4px 8px'>{html.escape(layout.title)}</h2>", sizing_mode="stretch_width"
    )
    run = pn.pane.HTML(
        f"<span style='color:#666;margin:12px'>run: {html.escape(session.run)}</span>",
        width=260,
        align="end",
    )
    return pn.Row(title, run, sizing_mode="stretch_width", height=48)


def dashboard(
    layout: Layout | dict[str, Any] | str,
    *,
    hub: Hub | None = None,
    run: str | None = None,
    start: bool = True,
) -> Any:
    """A live page for `layout` (a Layout, a dict of the YAML schema, or a YAML path).

    Returns a Panel object; `.servable()` it in an app, or show it in a notebook."""
    import panel as pn

    layout = load_layout(layout)
    session = LiveSession(layout, hub or default_hub(), run=run)
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
    page = pn.Column(_header(layout, session), grid, sizing_mode="stretch_both")
    page.sv_session = session  # for tests and notebooks: the session behind this page
    if start:
        session.start()
    return page


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

    checked = load_layout(layout)

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
