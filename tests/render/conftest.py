"""Shared by the render tests: compile a layout into a Bokeh document without a server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import bokeh.document
import numpy as np
import panel as pn
import pytest
from bokeh.document.events import ColumnDataChangedEvent, ColumnsStreamedEvent
from bokeh.models import ColumnDataSource

import streamvis as sv
from streamvis.core.hub import Hub


def one_plot(plot_id: str = "m", stream: str = "s", **fields: Any) -> dict[str, Any]:
    """A layout of a single plot (a line of `y` against `x` unless fields say otherwise)."""
    plot = {
        "id": plot_id,
        "kind": "line",
        "stream": stream,
        "x": "x",
        "y": "y",
        "at": [0, 0, 1, 1],
    }
    plot.update(fields)
    return {"plots": [plot]}


@dataclass
class Rendered:
    """One session's page in a Bokeh document, with every data-source update recorded."""

    page: Any  # the Panel layout the page shows
    live: Any  # the page object (streamvis.page.live.LivePage)
    root: Any
    session: Any
    hub: Hub
    streamed: list[tuple[str, int, dict[str, np.ndarray]]]  # (source, rows, new data)
    changes: list[tuple[str, str, int]] = field(default_factory=list)  # (event, source, rows)

    def model(self, name: str) -> Any:
        return next(iter(self.root.select({"name": name})))

    def source(self, name: str) -> ColumnDataSource:
        source = self.model(name)
        assert isinstance(source, ColumnDataSource)
        return source

    def rows(self, name: str) -> int:
        return len(next(iter(self.source(name).data.values())))

    def column(self, name: str, column: str) -> np.ndarray:
        return np.asarray(self.source(name).data[column])

    def errors(self) -> list[str]:
        """Text of the visible error boxes."""
        return [
            box.object
            for box in self.page.select(pn.pane.Str)
            if "sv-error" in box.css_classes and box.visible
        ]

    def forget(self) -> None:
        """Drop what was recorded so far (the next assertions see only the next tick)."""
        self.streamed.clear()
        self.changes.clear()


@pytest.fixture(autouse=True)
def own_tick_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's timer ticks are its own: the process-wide budget of page ticks
    (page/loop_share.py, tested in tests/unit/test_loop_share.py) would otherwise carry
    the previous tests' ticks, or a slow first render, into this one."""
    from streamvis.page import session
    from streamvis.page.loop_share import LoopShare

    monkeypatch.setattr(session, "PAGES", LoopShare(share=float("inf")))


def hover_table(source: Any) -> bool:
    """A line plot's hover table (page/hover.py): not drawn data, so not recorded here;
    tests/unit/test_hover_rows.py and tests/ui/test_hover.py check it."""
    return str(getattr(source, "name", "") or "").startswith("sv-hover:")


@pytest.fixture
def render(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Rendered]]:
    """Factory: compile a layout into a page (no server, no periodic callback) and record
    each `ColumnDataSource.stream` call and each data change of the document."""
    streamed: list[tuple[str, int, dict[str, np.ndarray]]] = []
    original = ColumnDataSource.stream

    def spy(self: ColumnDataSource, new_data: Any, rollover: int | None = None, **kw: Any) -> Any:
        copy = {key: np.array(values) for key, values in new_data.items()}
        if not hover_table(self):
            streamed.append((self.name, len(next(iter(copy.values()))), copy))
        return original(self, new_data, rollover, **kw)

    monkeypatch.setattr(ColumnDataSource, "stream", spy)
    made: list[Rendered] = []

    def make(
        layout: Any, hub: Hub | None = None, run: str | None = None, runs: str | None = None
    ) -> Rendered:
        hub = hub if hub is not None else Hub()
        live = sv.dashboard(layout, hub=hub, run=run, runs=runs, start=False)
        document = bokeh.document.Document()
        root = live.view.get_root(document)
        document.add_root(root)
        rendered = Rendered(live.view, live, root, live.session, hub, streamed)

        def on_change(event: Any) -> None:
            if isinstance(event, ColumnDataChangedEvent | ColumnsStreamedEvent):
                model = event.model
                if hover_table(model):
                    return
                rows = len(next(iter(model.data.values()), ()))
                rendered.changes.append((type(event).__name__, model.name, rows))

        document.on_change(on_change)
        made.append(rendered)
        return rendered

    yield make
    for rendered in made:
        rendered.live.close()  # its current session, even after a rebuild
