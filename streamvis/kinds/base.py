"""What every kind shares: options -> HoloViews opts, and the live-view hook.

The hook gives each figure and data source a stable `name` (tests and users find them in
`Bokeh.documents`), shows a 'waiting for data' note while a plot is empty, and swaps
HoloViews' zoom handling for the browser's: axes are DataRange1d, which follow the data
until the user zooms or pans and follow again after the toolbar's reset. HoloViews would
instead stop drawing new rows after a zoom (Buffer.following / hold_render).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from streamvis.kinds.contract import PlotMarks
from streamvis.kinds.sanitize import format_literal

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot

DEFAULT_POINTS = 10_000
WAITING = "waiting for data"


def figure_name(plot_id: str) -> str:
    return f"sv-figure:{plot_id}"


def source_name(plot_id: str, column: str) -> str:
    return f"sv:{plot_id}:{column}"


def points(plot: Plot) -> int:
    """How many rows the plot keeps drawn (its Buffer length)."""
    return int(plot.options.get("points", DEFAULT_POINTS))


def axis_opts(
    plot: Plot,
    marks: PlotMarks,
    follow_in_browser: bool = True,
    source_key: Callable[[Any], str] | None = None,
) -> dict[str, Any]:
    """HoloViews opts for title, axis labels, log axes and stretching to the grid cell.

    `follow_in_browser=False` (categorical charts) leaves the axes to HoloViews, which then
    rescales them on every update (`framewise`). `source_key` names data sources (see
    `live_hook`); `marks` is the page's memory of this plot's figures."""
    options = plot.options
    opts: dict[str, Any] = {
        "title": format_literal(plot.title),  # HoloViews formats titles: keep `{x}` as text
        "responsive": True,
        "show_grid": True,
        "apply_ranges": not follow_in_browser,
        "backend_opts": {"plot.output_backend": "canvas"},
        "framewise": not follow_in_browser,
        "tools": ["hover"],
        "hooks": [live_hook(plot, marks, follow_in_browser, source_key)],
        "xlabel": options.get("xlabel", plot.x or ""),
        "ylabel": options.get("ylabel", ", ".join(plot.y) if len(plot.y) == 1 else ""),
        "logx": options.get("logx", False),
        "logy": options.get("logy", False),
    }
    legend = options.get("legend", True)
    opts["show_legend"] = bool(legend)
    if isinstance(legend, str):
        opts["legend_position"] = legend
    return opts


def _series_plots(hv_plot: Any) -> list[Any]:
    subplots = getattr(hv_plot, "subplots", None)
    return list(subplots.values()) if subplots else [hv_plot]


def _drew_nothing(frame: Any) -> bool:
    """No rows, or only a placeholder row whose values are all NaN."""
    if frame is None or len(frame) == 0:
        return True
    if not frame.vdims:
        return False
    values = frame.dimension_values(frame.vdims[0])
    return values.dtype.kind == "f" and bool(np.isnan(values).all())


def value_key(frame: Any) -> str:
    """A data source's key: the name of the first value dimension (the y column)."""
    return str(frame.vdims[0].name)


def plain_text(text: Any) -> Any:
    """A Bokeh label that is drawn as written: a string with `$$`, `\\(` or `\\[` would be
    read as TeX (waiting forever for a MathJax this page does not load)."""
    from bokeh.models import PlainText

    return PlainText(text=text) if isinstance(text, str) and text else text


def plain_labels(figure: Any) -> None:
    """Make the figure's title and axis labels plain text (HoloViews sets strings)."""
    title = figure.title
    if title is not None and isinstance(title.text, str) and title.text:
        title.text = plain_text(title.text)
    for axis in (*figure.xaxis, *figure.yaxis):
        if isinstance(axis.axis_label, str) and axis.axis_label:
            axis.axis_label = plain_text(axis.axis_label)


PLAIN_LOW = -7  # tick labels are plain decimals from 1e-7 ...
PLAIN_HIGH = 15  # ... to 1e15 (a step of 990,000 reads 990000, not 9.900e+5)


def plain(formatter: Any) -> bool:
    """The formatter is already the plain one `plain_ticks` sets."""
    limits = (getattr(formatter, "power_limit_low", 0), getattr(formatter, "power_limit_high", 0))
    return limits == (PLAIN_LOW, PLAIN_HIGH)


def plain_ticks(figure: Any) -> None:
    """Give the figure's numeric axes (linear and log) a formatter printing plain numbers,
    with the precision the ticks need (trailing zeros dropped); datetime and categorical
    axes keep theirs."""
    from bokeh.models import BasicTickFormatter, LogTickFormatter

    for axis in (*figure.xaxis, *figure.yaxis):
        formatter = getattr(axis, "formatter", None)
        if type(formatter) not in (BasicTickFormatter, LogTickFormatter) or plain(formatter):
            continue
        axis.formatter = BasicTickFormatter(power_limit_low=PLAIN_LOW, power_limit_high=PLAIN_HIGH)


def drop_eval_callbacks(figure: Any) -> None:
    """Remove HoloViews' browser-side un-pause on reset (a CustomJS, which the browser
    could only run with 'unsafe-eval', refused by the page policy, streamvis/page/csp.py). With
    pause-on-zoom removed it has nothing to undo."""
    callbacks = dict(figure.js_event_callbacks)
    kept = [c for c in callbacks.get("reset", []) if "hold_render" not in getattr(c, "code", "")]
    if kept:
        callbacks["reset"] = kept
    else:
        callbacks.pop("reset", None)
    figure.js_event_callbacks = callbacks


def run_label(plot: Plot, column: str, run: str | None) -> str:
    """The legend entry of one column: the column, or in a comparison the run (and column)."""
    if run is None:
        return column
    return run if len(plot.y) == 1 else f"{run}: {column}"


def figure_sent(figure: Any) -> bool:
    """False while `figure` (or any model: a data source) is in a served document but not
    yet sent to the browser.

    Panel sends changes of plain properties (a data source, a label's text) at once, ahead
    of the patch that adds a new figure, and the browser refuses a change to a model it does
    not know ("reference isn't known"); so the page's ticks leave a new figure alone until it
    was sent. Outside a served session (tests, notebooks) there is nothing to wait for."""
    document = getattr(figure, "document", None)
    if document is None or document.session_context is None:
        return True
    models = document.models
    unsent = getattr(models, "_new_models", None)  # Bokeh's set behind synced_references
    if unsent is None:
        return figure in models.synced_references
    return models.get_by_id(figure.id) is figure and figure not in unsent


@contextmanager
def ordered_changes() -> Iterator[None]:
    """Send the model changes made inside as one patch, queued behind any patch Panel has
    not written yet.

    Panel writes the changes made in its own `unlocked()` blocks (HoloViews renders, pane
    updates) itself, and while the socket is busy it queues them for a later write. A
    change made straight on a Bokeh model in a locked callback is written by Bokeh instead,
    which does not know Panel's queue: it overtook a queued patch that added a new figure,
    and the browser refused the change to a model it had not received ("reference isn't
    known"). Made inside this block, the change joins Panel's queue in order. Outside a
    served, loaded session it changes nothing."""
    from panel.io.document import unlocked

    with unlocked():
        yield


def under_document_lock(change: Callable[[], None]) -> None:
    """Run `change` at the session's next tick, under its document lock. A text box's value
    typed in the browser (Enter) reaches its watchers outside that lock, where replacing a
    figure raises in Bokeh's session ("_pending_writes should be non-None"); a served page's
    next-tick callback always holds it. Outside a served page `change` runs at once."""
    import panel as pn

    document = pn.state.curdoc
    if document is not None and getattr(document, "session_context", None) is not None:
        document.add_next_tick_callback(change)
    else:
        change()


def note_label(plot_id: str) -> Any:
    """The plot's note of what it draws (`sv-lod:<plot id>`, e.g. "1,000,000 rows, 6,400
    drawn"), empty until the page fills it in; made with the figure, at its bottom left."""
    from bokeh.models import Label

    return Label(
        name=f"sv-lod:{plot_id}",
        text="",
        x=6,
        y=4,
        x_units="screen",
        y_units="screen",
        text_color="#555555",
        text_font_size="11px",
        background_fill_color="white",
        background_fill_alpha=0.8,
    )


def live_hook(
    plot: Plot,
    marks: PlotMarks,
    follow_in_browser: bool = True,
    source_key: Callable[[Any], str] | None = None,
) -> Callable[[Any, Any], None]:
    """A HoloViews hook run on every render of `plot` (see the module docstring). Data
    sources are named `sv:<plot id>:<key>`, the key from `source_key(element)` (default:
    the y column; `run/column` when runs are compared). The one-time setup of each figure
    is remembered in `marks` (the page's), not on HoloViews' plot object."""
    key_of = source_key or value_key

    def hook(hv_plot: Any, element: Any) -> None:
        from bokeh.models import DataRange1d, Label, Node

        figure = hv_plot.handles["plot"]
        figure.name = figure_name(plot.id)
        plain_labels(figure)
        plain_ticks(figure)
        if marks.first(figure, "live"):
            if follow_in_browser:
                figure.x_range = DataRange1d(name=f"sv-x:{plot.id}")
                figure.y_range = DataRange1d(name=f"sv-y:{plot.id}")
            figure._event_callbacks.pop("rangesupdate", None)  # HoloViews' pause-on-zoom
            drop_eval_callbacks(figure)
            figure.add_layout(
                Label(
                    name=f"sv-waiting:{plot.id}",
                    text=WAITING,
                    anchor="center",
                    x=Node(target="frame", symbol="center"),
                    y=Node(target="frame", symbol="center"),
                    x_units="screen",
                    y_units="screen",
                    text_color="#888888",
                    text_font_size="13px",
                )
            )
            figure.add_layout(note_label(plot.id))
        for series in _series_plots(hv_plot):
            source = series.handles.get("source")
            frame = series.current_frame
            if source is not None and frame is not None and frame.vdims:
                source.name = source_name(plot.id, key_of(frame))
        empty = all(_drew_nothing(s.current_frame) for s in _series_plots(hv_plot))
        for label in figure.center:
            if getattr(label, "name", "") == f"sv-waiting:{plot.id}":
                label.visible = empty

    return hook


def range_selection(
    dynamic_map: Any, opts: dict[str, Any], plot: Plot, state: Any, columns: tuple[str, ...]
) -> None:
    """In a crossfilter group: a box (two columns) or x-range (one column) drawn on the chart
    filters the rest of the group. Adds the select tool, and a hook that remembers the
    document so the selection is applied in a next-tick callback (under its lock)."""
    import holoviews as hv

    if state is None or not plot.crossfilter:
        return
    holder: dict[str, Any] = {}

    def remember(hv_plot: Any, element: Any) -> None:
        holder["document"] = hv_plot.handles["plot"].document

    def apply(ranges: list[tuple[str, float, float]]) -> None:
        document = holder.get("document")
        if document is not None:
            document.add_next_tick_callback(lambda: state.select_range(ranges))
        else:
            state.select_range(ranges)

    if len(columns) == 2:
        opts["tools"] = [*opts["tools"], "box_select"]
        stream = hv.streams.BoundsXY(source=dynamic_map)

        def on_box(bounds: Any = None) -> None:
            if bounds:
                left, bottom, right, top = bounds
                apply([(columns[0], left, right), (columns[1], bottom, top)])

        stream.add_subscriber(on_box)
    else:
        opts["tools"] = [*opts["tools"], "xbox_select"]
        stream = hv.streams.BoundsX(source=dynamic_map)

        def on_range(boundsx: Any = None) -> None:
            if boundsx:
                apply([(columns[0], boundsx[0], boundsx[1])])

        stream.add_subscriber(on_range)
    opts["hooks"] = [*opts["hooks"], remember]
