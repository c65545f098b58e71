"""`row`: the bar chart laid on its side (dc.js rowChart style): one horizontal bar per
category, largest on top by default. Same fields as `bar`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from streamvis.kinds import bar
from streamvis.kinds.contract import PlotMarks

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot


def build(plot: Plot, rows: Any, *, state: bar.BarState | None, marks: PlotMarks) -> Any:
    """Horizontal bars, the first category (the largest, by default) on top."""
    return bar.bars(plot, rows, state=state, marks=marks, horizontal=True)


KIND = replace(bar.KIND, name="row", build=build)
