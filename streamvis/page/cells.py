"""One grid cell of a page: a plot drawn by its kind's record, fed by the session, with a
hidden error box shown when its data does not fit.

The cell asks the kind's record (streamvis/kinds/contract.py) what it needs: whether it
reads a stream, its state, its Buffer's length and columns, whether runs compared on a
`?runs=` page share its figure, whether the line controls restyle it.
"""

from __future__ import annotations

import logging
from typing import Any

from streamvis.kinds import KINDS
from streamvis.kinds.base import points
from streamvis.kinds.contract import PlotMarks
from streamvis.layout.spec import Plot
from streamvis.page import compare
from streamvis.page.chart_tools import framed, make_tools
from streamvis.page.compare import first_run_plot
from streamvis.page.controls import LineControls, smoothing_streams
from streamvis.page.header import reset_button
from streamvis.page.lines import LineFeed
from streamvis.page.loss_notes import notes_for
from streamvis.page.session import LiveSession

log = logging.getLogger("streamvis")
ERROR_STYLE = {
    "color": "#b00020",
    "background": "#fdecea",
    "padding": "6px",
    "font-size": "12px",
    "white-space": "pre-wrap",
    "overflow": "auto",
}


def buffer_length(plot: Plot) -> int:
    """Rows a plot keeps: its kind's own need (a table's rows, a number's last two), or the
    `points` option."""
    length = KINDS[plot.kind].buffer_length
    return int(length(plot)) if length is not None else points(plot)


def empty_buffer(plot: Plot) -> Any:
    """A HoloViews Buffer with the columns (and dtypes) the plot's kind draws from."""
    import holoviews as hv
    import pandas as pd

    declared = KINDS[plot.kind].buffer_columns
    dtypes = declared(plot) if declared is not None else dict.fromkeys(plot.columns, "float64")
    example = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
    return hv.streams.Buffer(example, length=buffer_length(plot), index=False)


def group_note(group: Any) -> Any:
    """A small line over the group's first chart, shown while the store holds rows that
    memory dropped (the group counts only the rows held in memory)."""
    from streamvis.page.panes import literal

    note = literal(
        "",
        visible=False,
        styles={"color": "#555555", "font-size": "11px"},
        css_classes=["sv-crossfilter-note"],
        sizing_mode="stretch_width",
    )

    def show(text: str) -> None:
        note.object = text
        note.visible = bool(text)

    group.note_listeners.append(show)
    return note


def make_cell(
    plot: Plot,
    session: LiveSession,
    controls: LineControls,
    marks: PlotMarks,
    runs: list[str] | None = None,
) -> Any:
    """One grid cell: the plot, and a hidden error box shown when its data does not fit.
    With `runs` (runs compared) a comparable kind draws each of them in one figure; other
    kinds show the first run. `marks` is the page's memory of this plot's figures."""
    import panel as pn

    from streamvis.page.panes import literal

    kind = KINDS[plot.kind]
    compared = bool(runs) and kind.comparable
    color = compare.colors_of(session.hub)  # a run's color, whatever else is shown
    if runs and not compared and kind.streams:
        plot = first_run_plot(plot, session.run)
    state: Any = None
    group: Any = None
    feed: LineFeed | None = None
    buffers: dict[str, Any] = {}
    try:
        if not kind.streams:  # static content: no Buffer, no subscription
            view = kind.build(plot, None, state=None, marks=marks)
            return pn.Column(view, sizing_mode="stretch_both", margin=2)
        if kind.level_of_detail and not plot.crossfilter:
            shown_runs = list(runs or ()) if compared else [session.run]
            lines = feed = LineFeed(plot, session.hub, shown_runs)

            def make(shown: Plot) -> tuple[Any, list[Any]]:
                lines.restyle(shown)
                if compared:
                    return compare.view(shown, dict.fromkeys(runs or (), lines), marks, color)
                return kind.build(shown, lines, state=None, marks=marks), [lines]

        elif compared:
            buffers = {run: empty_buffer(plot) for run in runs or ()}

            def make(shown: Plot) -> tuple[Any, list[Any]]:
                return compare.view(shown, buffers, marks, color)

        else:
            state = kind.make_state(plot) if kind.make_state is not None else None
            if state is not None and plot.crossfilter:
                group = session.crossfilter(plot.stream, plot.crossfilter)
                state.group = group
                group.join(plot.id, state)
            buffers = {session.run: empty_buffer(plot)}

            def make(shown: Plot) -> tuple[Any, list[Any]]:
                view = kind.build(shown, buffers[session.run], state=state, marks=marks)
                return view, smoothing_streams(view)

        line_chart = None
        if kind.line_controls:
            chart = controls.chart(plot, make)
            line_chart = controls.charts[-1]
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

    tools = make_tools(plot, session.hub, line_chart, feed, compared)
    bar = [tools.row] if tools is not None else []  # log y, CSV, full window
    shown_runs = list(runs or ()) if compared else [session.run]
    streams = [(run, plot.stream) for run in shown_runs]
    loss_note = notes_for(session).pane(plot.id, streams, compared)  # rows lost upstream
    if feed is not None:
        feed.show_error = show_error
        session.add_lines(feed)
    for run, buffer in buffers.items():
        if state is not None:  # summaries (aggregates, filtered tables) see every kept row
            session.add(plot, buffer, show_error, limit=None, state=state)
        else:
            session.add(plot, buffer, show_error, limit=buffer_length(plot), run=run)
    notes = [group_note(group)] if group is not None and len(group.members) == 1 else []
    if group is not None and getattr(state, "column", ""):  # a member that can hold a filter
        return framed(
            tools,
            pn.Column(
                error_box,
                *notes,
                loss_note,
                reset_button(plot, group),
                *bar,
                chart,
                sizing_mode="stretch_both",
                margin=2,
            ),
        )
    cell = pn.Column(
        error_box, *notes, loss_note, *bar, chart, sizing_mode="stretch_both", margin=2
    )
    return framed(tools, cell)
