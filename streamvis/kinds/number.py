"""`number`: the latest value of a column, large, with its change since the previous one."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

from streamvis.kinds.contract import Kind, PlotMarks
from streamvis.layout import fields

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot


def buffer_length(plot: Plot) -> int:
    return 2  # the latest value and the one before it


def _shown(value: Any, pattern: str) -> str:
    try:
        return pattern.format(value)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):  # e.g. "{label}"
        return str(value)


def render(plot: Plot, values: list[Any]) -> str:
    """The HTML of the number card; every piece of text is escaped."""
    title = html.escape(plot.title)
    if not values:
        body = "<div class='sv-number-value' style='color:#888'>waiting for data</div>"
        return f"<div class='sv-number'><div>{title}</div>{body}</div>"
    pattern = str(plot.get("format"))
    latest = values[-1]
    parts = [
        f"<div style='color:#555'>{title}</div>",
        f"<div class='sv-number-value' style='font-size:2.4em;font-weight:600'>"
        f"{html.escape(_shown(latest, pattern))}</div>",
    ]
    if len(values) > 1:
        try:
            change = float(latest) - float(values[-2])
        except (TypeError, ValueError):
            change = math.nan
        if math.isfinite(change):
            arrow, color = (
                ("▲", "#1a7f37")
                if change > 0
                else ("▼", "#b00020")
                if change < 0
                else ("■", "#666")
            )
            parts.append(
                f"<div class='sv-number-change' style='color:{color}'>{arrow} "
                f"{html.escape(_shown(change, pattern))}</div>"
            )
    return f"<div class='sv-number' style='padding:8px'>{''.join(parts)}</div>"


def build(plot: Plot, rows: Any, *, state: Any, marks: PlotMarks) -> Any:
    """A Panel HTML card redrawn from the Buffer's last two rows on every Buffer event."""
    import panel as pn

    column = plot.get("value")
    card = pn.pane.HTML(
        render(plot, []),
        sizing_mode="stretch_both",
        name=f"sv-number:{plot.id}",
        css_classes=["sv-number-card"],
    )

    def update(data: Any) -> None:
        card.object = render(plot, list(data[column]) if len(data) else [])

    rows.add_subscriber(update)
    return card


KIND = Kind(
    name="number",
    fields={
        "value": fields.column(required=True),
        "format": fields.number_format(default="{:,.4g}"),
    },
    options=("title",),
    build=build,
    buffer_length=buffer_length,
)
