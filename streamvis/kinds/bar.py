"""`bar`: one vertical bar per category of `by`, the `agg` of `value` (exact over every row
this page received, updated with new rows only). Colors stay with their category as new
categories appear; the value axis rescales with the data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamvis import fields
from streamvis.aggregate import AGGS, SORTS, GroupAggregate
from streamvis.kinds.base import axis_opts

if TYPE_CHECKING:
    import pandas as pd

    from streamvis.spec import Plot

FIELDS = {
    "by": fields.column(required=True),
    "value": fields.column(),
    "agg": fields.choice(*AGGS, default="count"),
    "sort": fields.choice(*SORTS, default="value"),
}
OPTIONS = ("title", "xlabel", "ylabel", "logy", "colors", "palette", "alpha")
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
TABLE_COLUMNS = {"category": "object", "value": "float64", "color": "object"}


class BarState:
    """This page's running aggregate for one chart, turned into the table it draws."""

    def __init__(self, plot: Plot) -> None:
        self.plot = plot
        self.groups = GroupAggregate(plot.get("by"), plot.get("value"))
        self.colors = list(plot.options.get("colors") or PALETTE)

    def update(self, batch: dict[str, Any], reset: bool) -> pd.DataFrame:
        if reset:
            self.groups.reset()
        if batch:
            self.groups.add(batch)
        table = self.groups.table(self.plot.get("agg"), self.plot.get("sort"))
        table["color"] = [self.colors[int(rank) % len(self.colors)] for rank in table["rank"]]
        return table[list(TABLE_COLUMNS)]


def _placeholder() -> Any:
    import pandas as pd

    return pd.DataFrame({"category": [" "], "value": [float("nan")], "color": ["#ffffff"]})


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


def build(plot: Plot, buffer: Any, horizontal: bool = False) -> Any:
    """A DynamicMap of hv.Bars drawn from the aggregate table in the session's Buffer."""
    import holoviews as hv

    label = value_label(plot)

    def draw(data: Any) -> Any:
        # An empty first frame would give a numeric axis; a blank category of NaN height
        # makes it categorical from the start and draws nothing.
        shown = data if len(data) else PLACEHOLDER
        if horizontal:  # rows are drawn bottom-up: reverse so the first category is on top
            shown = shown.iloc[::-1]
        return hv.Bars(shown, kdims=["category"], vdims=["value", "color"])

    opts = axis_opts(plot, follow_in_browser=False)
    opts.update(
        xlabel=plot.options.get("xlabel", plot.get("by")),
        ylabel=plot.options.get("ylabel", label),
        show_legend=False,
        invert_axes=horizontal,
        color="color",
        alpha=plot.options.get("alpha", 0.9),
    )
    return hv.DynamicMap(draw, streams=[buffer]).opts(**opts)
