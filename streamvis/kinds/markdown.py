"""`markdown`: static text from the layout (headings, notes, links). Raw HTML in the text is
shown as text, never run: layouts may come from producers over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamvis import fields

if TYPE_CHECKING:
    from streamvis.spec import Plot

FIELDS = {"text": fields.text(required=True, limit="markdown")}
OPTIONS = ("title",)
STREAM = False  # no data: nothing to subscribe to


def build(plot: Plot, buffer: Any, state: Any = None) -> Any:
    """A Panel Markdown pane (the one kind that is not a HoloViews object)."""
    import panel as pn

    return pn.pane.Markdown(
        str(plot.get("text")),
        renderer_options={"html": False},
        sizing_mode="stretch_both",
        name=f"sv-markdown:{plot.id}",
        css_classes=["sv-markdown"],
    )
