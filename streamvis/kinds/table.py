"""`table`: the newest rows of a stream, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamvis import fields

if TYPE_CHECKING:
    from streamvis.spec import Plot

FIELDS = {"columns": fields.columns(required=True), "rows": fields.count(default=20)}
OPTIONS = ("title",)


def buffer_length(plot: Plot) -> int:
    return int(plot.get("rows"))


class TableState:
    """In a crossfilter group: the newest rows that pass every selection of the group (the
    table filters nothing itself)."""

    column = ""

    def __init__(self, plot: Plot) -> None:
        self.plot = plot
        self.group: Any = None
        self.kept: dict[str, Any] = {}

    def rebuild(self, rows: dict[str, Any]) -> None:
        self.kept = {}
        self.fold(rows)

    def fold(self, rows: dict[str, Any]) -> None:
        import numpy as np

        if not rows or not len(next(iter(rows.values()))):
            return
        keep = buffer_length(self.plot)
        self.kept = {
            name: np.concatenate([self.kept[name], rows[name]])[-keep:]
            if name in self.kept
            else rows[name][-keep:]
            for name in self.plot.columns
        }

    def update(self, batch: dict[str, Any], reset: bool, key: Any = None) -> Any:
        self.group.ingest(batch, reset, key)
        return self.table()

    def table(self) -> Any:
        import pandas as pd

        return pd.DataFrame({name: self.kept.get(name, []) for name in self.plot.columns})


def make_state(plot: Plot) -> TableState | None:
    """Only a table in a crossfilter group needs a state; otherwise its Buffer suffices."""
    return TableState(plot) if plot.crossfilter else None


def build(plot: Plot, buffer: Any) -> Any:
    """A DynamicMap of hv.Table showing the Buffer's rows in reverse order."""
    import holoviews as hv

    def draw(data: Any) -> Any:
        return hv.Table(data.iloc[::-1].reset_index(drop=True), kdims=[], vdims=plot.columns)

    def name_source(hv_plot: Any, element: Any) -> None:
        """Name the data source for tests and users; let the table fill its cell (TablePlot
        takes no sizing options of its own)."""
        source = hv_plot.handles.get("source")
        if source is not None:
            source.name = f"sv:{plot.id}:table"
        hv_plot.state.sizing_mode = "stretch_both"

    return hv.DynamicMap(draw, streams=[buffer]).opts(title=plot.title, hooks=[name_source])
