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


# How a disabled Bokeh button looks (bokeh's `.bk-btn[disabled]` rule, and no focus ring:
# a browser takes the focus off a disabled button), clicks included.
DISABLED_LOOK = (
    ".bk-btn { cursor: not-allowed; pointer-events: none; opacity: 0.65; box-shadow: none; }"
    " .bk-btn, .bk-btn:focus, .bk-btn:focus-visible { outline: none !important; }"
)
LOOK_NAME = "sv-disabled-look"
DISABLED_TAG = "sv-disabled"


class ResetButton(pn.widgets.Button):
    """A Button whose `disabled` reaches the browser without a re-render.

    Bokeh re-renders a button whose `disabled` changes, and a re-rendered widget lays the
    whole page out again (every figure measured and repainted): 60-190 ms of the browser's
    time per crossfilter click on a busy 2-core machine (bench/crossfilter_probe.py). So the
    model's own `disabled` stays false and the state is the text of a style sheet of the
    button (disabled: Bokeh's look of a disabled button, clicks ignored), which the browser
    applies to the button alone. Python code reads and sets `disabled` as on any Button;
    Panel carries the change to the model as it would `disabled` (`_update_model`). (A
    `CustomJS` setting the element's attribute would need `'unsafe-eval'`: docs/security.md.)"""

    def _process_param_change(self, params: dict[str, Any]) -> dict[str, Any]:
        """What the model gets: `disabled` only as a tag, which `_update_model` turns into
        the style sheet's text (a message Panel sends the model for the change)."""
        props = super()._process_param_change(params)
        if "disabled" in props:
            props["tags"] = [DISABLED_TAG] if props.pop("disabled") else []
        return props

    def _get_model(self, doc: Any, root: Any = None, parent: Any = None, comm: Any = None) -> Any:
        from bokeh.models import InlineStyleSheet

        model = super()._get_model(doc, root, parent, comm)
        look = InlineStyleSheet(name=LOOK_NAME, css=look_css(self.disabled))
        model.stylesheets = [*model.stylesheets, look]
        return model

    def _update_model(
        self, events: Any, msg: dict[str, Any], root: Any, model: Any, doc: Any, comm: Any
    ) -> None:
        msg = dict(msg)
        looks = [s for s in model.stylesheets if getattr(s, "name", None) == LOOK_NAME]
        if "stylesheets" in msg:  # Panel's own sheets replaced: keep the look
            msg["stylesheets"] = [*msg["stylesheets"], *looks]
        if "tags" in msg:
            disabled = DISABLED_TAG in msg.pop("tags")
            for look in looks:
                look.css = look_css(disabled)
        super()._update_model(events, msg, root, model, doc, comm)


def look_css(disabled: bool) -> str:
    """The text of a ResetButton's style sheet."""
    return DISABLED_LOOK if disabled else ""


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
        # one line, cut with an ellipsis: a long title never wraps under the controls
        f"<h2 style='margin:4px 8px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis'"
        f" title='{html.escape(title, quote=True)}'>{html.escape(title)}</h2>",
        sizing_mode="stretch_width",
        min_width=120,
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
