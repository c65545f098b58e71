"""Which charts of a page the browser shows on screen, so ticks can leave the others alone.

A page of 100 charts cannot repaint each of them on every new step: Bokeh's canvas paint
reads computed CSS many times, and at about 30 charts a page falls tens of seconds behind
(bench/RESULTS.md, "an automatic layout of 100 charts"). Charts scrolled out of view need
no paint, so their ticks wait until they are scrolled back into view and then catch up in
one step.

The browser's word comes from Panel's `Feed` layout, not from any script of ours: a Feed that
does not scroll watches its children with an IntersectionObserver against the viewport and
syncs the ids of those on screen (`visible_children`). Each chart cell is wrapped in a
one-child Feed (`ScreenSensor`). A chart is ticked only while its sensor last said it is on
screen: its first render carries the rows held when the page opened, and while a page of 100
charts is still being built (tens of seconds), ticking every chart would queue updates the
browser then spends longer still working through. A browser tab in the background reports
nothing until it is shown again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn


class ScreenSensor(pn.Feed):  # type: ignore[misc]
    """One chart cell in a non-scrolling Feed, reporting whether it is on screen."""

    def __init__(self, cell: Any, report: Callable[[bool], None]) -> None:
        super().__init__(cell, scroll=False, sizing_mode="stretch_both", margin=0)
        self._report = report

    def _process_property_change(self, props: dict[str, Any]) -> dict[str, Any]:
        if "visible_children" in props:  # the browser's list of on-screen children
            self._report(bool(props["visible_children"]))
        result: dict[str, Any] = super()._process_property_change(props)
        return result


class OnScreen:
    """The on-screen state of every chart of one page (see the module docstring)."""

    def __init__(self) -> None:
        self._shown: dict[str, bool] = {}

    def wrap(self, plot_id: str, cell: Any) -> ScreenSensor:
        """`cell` in a sensor whose reports say whether `plot_id` is on screen."""
        return ScreenSensor(cell, lambda shown: self._report(plot_id, shown))

    def _report(self, plot_id: str, shown: bool) -> None:
        self._shown[plot_id] = shown

    def shown(self, plot_id: str) -> bool:
        """True while the browser says the chart is on screen."""
        return self._shown.get(plot_id, False)


def on_screen(screen: OnScreen | None, plot_id: str, cell: Any) -> Any:
    """The cell, wrapped in a sensor when the page watches what is on screen."""
    return screen.wrap(plot_id, cell) if screen is not None else cell
