"""`markdown`: static text from the layout (headings, notes, links). Layouts may come from
producers over HTTP, so the text is rendered by streamvis.kinds.sanitize: raw HTML is shown as
text, links keep only http(s), mailto and relative targets, images show their alt text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamvis.kinds.contract import Kind, PlotMarks
from streamvis.kinds.sanitize import markdown_html
from streamvis.layout import fields

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot

STYLESHEET = (
    ":host { overflow: auto; } "
    "table { border-collapse: collapse; } th, td { border: 1px solid #ddd; padding: 2px 6px; }"
)


def build(plot: Plot, rows: Any, *, state: Any, marks: PlotMarks) -> Any:
    """A Panel HTML pane of the sanitised rendering (the one kind that is not a HoloViews
    object). Math (`$$`) is not typeset: it stays text."""
    import panel as pn

    return pn.pane.HTML(
        markdown_html(str(plot.get("text"))),
        disable_math=True,
        sizing_mode="stretch_both",
        stylesheets=[STYLESHEET],
        name=f"sv-markdown:{plot.id}",
        css_classes=["sv-markdown"],
    )


KIND = Kind(
    name="markdown",
    fields={"text": fields.text(required=True, limit="markdown")},
    options=("title",),
    streams=False,  # no data: nothing to subscribe to
    build=build,
)
