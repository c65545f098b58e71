"""`row`: the bar chart laid on its side (dc.js rowChart style): one horizontal bar per
category, largest on top by default. Same fields as `bar`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamvis.kinds import bar

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot

FIELDS = bar.FIELDS
OPTIONS = bar.OPTIONS
make_state = bar.make_state
buffer_columns = bar.buffer_columns
validate = bar.validate


def build(plot: Plot, buffer: Any, state: bar.BarState | None = None) -> Any:
    """Horizontal bars, the first category (the largest, by default) on top."""
    return bar.build(plot, buffer, horizontal=True, state=state)
