"""`bar`: one vertical bar per category of `by`, the `agg` of `value` (exact over every row
this page received, updated with new rows only). Colors stay with their category as new
categories appear; the value axis rescales with the data."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from streamvis.kinds.base import axis_opts, ordered_changes
from streamvis.kinds.contract import Kind, PlotMarks
from streamvis.layout import fields
from streamvis.transforms.aggregate import AGGS, SORTS, GroupAggregate
from streamvis.transforms.crossfilter import Crossfilter, Selection, toggle
from streamvis.transforms.encodings import Need
from streamvis.transforms.members import CategoryMember

if TYPE_CHECKING:
    import pandas as pd

    from streamvis.layout.spec import Plot

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
TABLE_COLUMNS = {"category": "object", "value": "float64", "color": "object", "alpha": "float64"}
DIMMED = 0.25  # fill alpha of categories outside a selection


class BarState:
    """This page's aggregate for one chart, turned into the table it draws. Alone it folds
    the rows the page receives; in a crossfilter group it is a member: the group computes
    its tally over the stream's rows held in memory that pass the other members'
    selections, and a category's color follows its stream-wide code (first seen, first
    color), so it does not change when a filter is applied."""

    def __init__(self, plot: Plot) -> None:
        self.plot = plot
        self.column = plot.get("by")
        self.groups = GroupAggregate(self.column, plot.get("value"))
        self.member = (
            CategoryMember(self.column, plot.get("value"), plot.get("agg"))
            if plot.crossfilter
            else None
        )
        if self.member is not None:
            self.limit = 1  # the page's subscription only signals new rows: the group reads
        self.colors = list(plot.options.get("colors") or PALETTE)
        self.group: Crossfilter | None = None
        self.shown: list[str] = []  # categories in the order the chart last drew them
        self.source: Any = None  # the Bokeh data source, to clear its tap selection
        self.render_listeners: list[Callable[[Any], None]] = []  # told of each render

    def needs(self) -> list[Need]:
        return self.member.needs() if self.member is not None else []

    def recompute(self, group: Crossfilter, mask: np.ndarray | None) -> None:
        if self.member is not None:
            self.member.recompute(group, mask)

    def fold(self, group: Crossfilter, start: int, mask: np.ndarray | None) -> None:
        if self.member is not None:
            self.member.fold(group, start, mask)

    def update(self, batch: dict[str, Any], reset: bool, key: Any = None) -> pd.DataFrame:
        if self.group is not None:
            self.group.ingest(reset, key)
        else:
            if reset:
                self.groups.reset()
            if batch and len(batch[self.column]):
                self.groups.add(batch)
        return self.table()

    @property
    def selection(self) -> Selection | None:
        return self.group.selections.get(self.plot.id) if self.group is not None else None

    def table(self) -> pd.DataFrame:
        """The drawn table: `category`, `value`, `color` (by the category's rank: its code
        in a group, else first seen here) and `alpha` (dimmed outside the selection)."""
        import pandas as pd

        if self.group is not None and self.member is not None:
            names, values, ranks = self._group_columns(self.group, self.member)
        else:
            found = self.groups.table(self.plot.get("agg"), "first")
            names = list(found["category"])
            values, ranks = found["value"].to_numpy(), found["rank"].to_numpy().astype(int)
        sort = self.plot.get("sort")
        if sort == "value":
            order = np.argsort(-np.asarray(values, dtype=float), kind="stable")
        elif sort == "name":
            order = np.argsort(np.array(names, dtype=object), kind="stable")
        else:
            order = np.arange(len(names))
        chosen = self.selection.categories if self.selection is not None else None
        shown = [names[i] for i in order]
        return pd.DataFrame(
            {
                "category": pd.Series(shown, dtype=object),
                "value": np.asarray(values, dtype=float)[order],
                "color": [self.colors[int(ranks[i]) % len(self.colors)] for i in order],
                "alpha": [1.0 if not chosen or c in chosen else DIMMED for c in shown],
            }
        )

    def _group_columns(
        self, group: Crossfilter, member: CategoryMember
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(names, values, ranks) of every category with rows counted (as pandas' groupby
        would list them) in first-seen order; a rank is the stream-wide code - 1."""
        encodings = group.encodings
        categories = encodings.categories.get(self.column) if encodings is not None else None
        if categories is None:
            return [], np.empty(0), np.empty(0, dtype=int)
        present = np.flatnonzero(member.tally.count[1:]) + 1
        values = member.tally.values(self.plot.get("agg"))[present]
        return [categories.names[code - 1] for code in present], values, present - 1

    def tap(self, index: int) -> None:
        """A click on the bar drawn at `index`: toggle its category in this chart's selection."""
        if self.group is None or not 0 <= index < len(self.shown):
            return
        self.group.select(self.plot.id, toggle(self.selection, self.column, self.shown[index]))


def _placeholder() -> Any:
    import pandas as pd

    return pd.DataFrame(
        {"category": [" "], "value": [float("nan")], "color": ["#ffffff"], "alpha": [1.0]}
    )


PLACEHOLDER = _placeholder()


def validate(fields: dict[str, Any]) -> tuple[str, str] | None:
    """(key, problem) when the fields do not make sense together."""
    agg = fields.get("agg", "count")
    if agg != "count" and not fields.get("value"):
        return "agg", f"'{agg}' needs a 'value' column to aggregate (only 'count' does not)"
    return None


def make_state(plot: Plot) -> BarState:
    return BarState(plot)


def buffer_columns(plot: Plot) -> dict[str, str]:
    """The table this kind draws (its Buffer's columns and dtypes): categories are text, so
    the axis is categorical from the first render."""
    return TABLE_COLUMNS


def value_label(plot: Plot) -> str:
    agg, value = plot.get("agg"), plot.get("value")
    return "count" if agg == "count" and not value else f"{agg} of {value}"


def bars(
    plot: Plot, rows: Any, *, state: BarState | None, marks: PlotMarks, horizontal: bool
) -> Any:
    """A DynamicMap of hv.Bars drawn from the aggregate table in the session's Buffer; in a
    crossfilter group a click (tap) on a bar toggles its category."""
    import holoviews as hv
    from bokeh.models import HoverTool

    label = value_label(plot)

    def draw(data: Any) -> Any:
        # An empty first frame would give a numeric axis; a blank category of NaN height
        # makes it categorical from the start and draws nothing.
        shown = data if len(data) else PLACEHOLDER
        if horizontal:  # rows are drawn bottom-up: reverse so the first category is on top
            shown = shown.iloc[::-1]
        if state is not None:
            state.shown = [str(c) for c in shown["category"]]
        return hv.Bars(shown, kdims=["category"], vdims=["value", "color", "alpha"])

    opts = axis_opts(plot, marks, follow_in_browser=False)
    opts.update(
        xlabel=plot.options.get("xlabel", plot.get("by")),
        ylabel=plot.options.get("ylabel", label),
        show_legend=False,
        invert_axes=horizontal,
        color="color",
        alpha="alpha",
        nonselection_alpha=1.0,
        selection_alpha=1.0,
    )
    # our own hover: HoloViews' default would also list the internal color and alpha columns
    hover = HoverTool(tooltips=[(plot.get("by"), "@category"), (label, "@value")])
    opts["tools"] = [hover, *(tool for tool in opts["tools"] if tool != "hover")]
    dynamic_map = hv.DynamicMap(draw, streams=[rows])
    if state is not None and plot.crossfilter:
        opts["tools"] = [*opts["tools"], "tap"]
        opts["hooks"] = [*opts["hooks"], remember_source(state, taps=True)]
    return dynamic_map.opts(**opts)


def build(plot: Plot, rows: Any, *, state: BarState | None, marks: PlotMarks) -> Any:
    """Vertical bars, in the table's order from left to right."""
    return bars(plot, rows, state=state, marks=marks, horizontal=False)


def remember_source(state: Any, taps: bool = False) -> Any:
    """A render hook: the state keeps the chart's data source and tells its listeners of
    the render (the page pairs crossfilter charts with their Bokeh models this way). With
    `taps`, a tap's selection in a new data source toggles its category (`on_tap`)."""

    def hook(hv_plot: Any, element: Any) -> None:
        source = hv_plot.handles.get("source")
        if taps and source is not None and source is not state.source:
            source.selected.on_change("indices", lambda _a, _o, new: on_tap(state, list(new)))
        state.source = source
        for listener in state.render_listeners:
            listener(hv_plot)

    return hook


def on_tap(state: BarState, index: list[int]) -> None:
    """A tap in the browser selected row `index` of the data source: toggle its category.

    Bokeh calls this while it applies the browser's change, under the document lock, so
    the group is filtered at once (HoloViews' Selection1D stream would first queue the
    change, sleep and hop through further event-loop turns). Bokeh's own selection is
    cleared at once too, so that the next click on the same bar is seen again (our alpha
    column shows what is selected); all of it (the clearing, the charts' new data, the
    reset buttons) as one patch queued behind Panel's (`ordered_changes`)."""
    if not index:
        return
    source = state.source
    with ordered_changes():
        if source is not None:
            source.selected.indices = []
        state.tap(index[0])


KIND = Kind(
    name="bar",
    fields={
        "by": fields.column(required=True),
        "value": fields.column(),
        "agg": fields.choice(*AGGS, default="count"),
        "sort": fields.choice(*SORTS, default="value"),
    },
    options=("title", "xlabel", "ylabel", "logy", "colors", "palette", "alpha"),
    validate=validate,
    build=build,
    make_state=make_state,
    buffer_columns=buffer_columns,
)
