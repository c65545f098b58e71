"""The parts of a page around its plots: the header row (title, failing sources, line
controls, what the page shows) and the crossfilter reset buttons."""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import panel as pn

from streamvis.core import status

if TYPE_CHECKING:
    from streamvis.layout.spec import Plot
    from streamvis.page.session import LiveSession
    from streamvis.transforms.crossfilter import Crossfilter


# The browser side of ResetButton: the new state goes straight onto the button element and,
# silently, into the model (what a later render of the button reads); nothing re-renders.
SWITCH_JS = """
const off = cb_obj.tags.includes('sv-disabled');
cb_obj.setv({disabled: off}, {silent: true});
for (const view of Bokeh.index.find(cb_obj)) {
    if (view.button_el != null) view.button_el.disabled = off;
}
"""


class ResetButton(pn.widgets.Button):
    """A Button whose `disabled` changes reach the browser without a re-render.

    Bokeh re-renders a button whose `disabled` changes, and a re-rendered widget lays the
    whole page out again (every figure measured and repainted): 60-190 ms of the browser's
    time on each crossfilter click on a busy 2-core machine (bench/crossfilter.py). Here
    the model is made with the current `disabled`, and later changes travel in its `tags`,
    which a small browser callback applies to the button element. Python code reads and
    sets `disabled` as on any Button."""

    def _get_model(self, doc: Any, root: Any = None, parent: Any = None, comm: Any = None) -> Any:
        from bokeh.models import CustomJS

        model = super()._get_model(doc, root, parent, comm)
        model.tags = self._tags(self.disabled)
        model.js_on_change("tags", CustomJS(code=SWITCH_JS))
        return model

    @staticmethod
    def _tags(disabled: bool) -> list[str]:
        return ["sv-disabled"] if disabled else []

    def _update_model(
        self, events: Any, msg: dict[str, Any], root: Any, model: Any, doc: Any, comm: Any
    ) -> None:
        if "disabled" in msg:
            msg = dict(msg)
            msg["tags"] = self._tags(bool(msg.pop("disabled")))
        super()._update_model(events, msg, root, model, doc, comm)


def reset_button(plot: Plot, group: Crossfilter) -> Any:
    """'reset' for one chart's selection, enabled only while it has one. It keeps its place
    either way: showing and hiding it moved every chart of the page, and the browser's new
    layout made a click about 0.2 s slower to draw (bench/crossfilter.py); for the same
    reason its state changes without a re-render (ResetButton)."""
    button = ResetButton(
        label=f"reset {plot.id}",
        height=30,
        width=140,
        disabled=True,
        css_classes=["sv-reset"],
    )
    button.on_click(lambda _event: group.select(plot.id, None))
    group.listeners.append(lambda: setattr(button, "disabled", plot.id not in group.selections))
    return button


def group_resets(session: LiveSession, made: dict[Any, Any] | None = None) -> list[Any]:
    """'reset all' per crossfilter group of the page, enabled while any member filters (in
    place either way, as `reset_button`). `made` keeps each group's button, so a page
    re-arranged by a layout edit reuses it."""
    buttons = []
    made = {} if made is None else made
    for group in session.crossfilters.values():
        if group in made:
            buttons.append(made[group])
            continue
        button = ResetButton(
            label=f"reset all ({group.name})",
            height=30,
            width=180,
            disabled=True,
            css_classes=["sv-reset-group"],
        )
        button.on_click(lambda _event, g=group: g.reset())
        group.listeners.append(lambda b=button, g=group: setattr(b, "disabled", not g.active))
        made[group] = button
        buttons.append(button)
    return buttons


class Header:
    """A page's header row (`row`): title, failing sources of `run`, the line controls, and
    what is shown ("run: a"). The page calls `refresh` on its timer."""

    def __init__(self, title: str, run: str, shown: str, widgets: Sequence[Any] = ()) -> None:
        self.sources = SourceStatus.of(run)
        self.row = _header_row(title, shown, self.sources, widgets)

    def refresh(self) -> None:
        """Bring the failing-sources line up to date (at most once a second)."""
        if self.sources is not None:
            self.sources.refresh()


def _header_row(
    title: str, shown: str, sources: SourceStatus | None, widgets: Sequence[Any]
) -> Any:
    import panel as pn

    heading = pn.pane.HTML(
        f"<h2 style='margin:4px 8px'>{html.escape(title)}</h2>",
        sizing_mode="stretch_width",
        css_classes=["sv-title"],
    )
    run_label = pn.pane.HTML(
        f"<span style='color:#666;margin:12px'>{html.escape(shown)}</span>",
        width=260,
        align="end",
        css_classes=["sv-run"],
    )
    parts = [heading] if sources is None else [heading, sources.pane]
    return pn.Row(*parts, *widgets, run_label, sizing_mode="stretch_width", height=56)


class SourceStatus:
    """One line per failing source of a run (layout `sources:`), refreshed every second.
    The sources report through streamvis/core/status.py (the page does not import them)."""

    def __init__(self, run: str) -> None:
        import panel as pn

        self.run = run
        self.checked = 0.0
        self.pane = pn.pane.HTML(
            "",
            css_classes=["sv-sources"],
            sizing_mode="stretch_width",
            height=44,
            styles={"color": "#b00020", "font-size": "12px", "overflow": "auto"},
        )
        self.refresh()

    @classmethod
    def of(cls, run: str) -> SourceStatus | None:
        """The status line of `run`, or None when the run has no sources."""
        return None if status.problems(run) is None else cls(run)

    def refresh(self) -> None:
        """Called by the page's own timer; looks at the sources at most once a second."""
        if time.monotonic() - self.checked < 1.0:
            return
        self.checked = time.monotonic()
        text = "<br>".join(html.escape(line) for line in status.problems(self.run) or ())
        if self.pane.object != text:
            self.pane.object = text
