"""A line's direct writes sent under a document hold (one ordered patch per refresh) reach a
second document, through Bokeh's own patch protocol, exactly once."""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.document import Document
from bokeh.models import ColumnDataSource
from bokeh.protocol import Protocol

from streamvis.page.direct import HeldLine, whole_data_pending


class _NoBuffer:
    """Direct writes never touch the Buffer; any use of it is a test failure."""

    def send(self, frame: Any) -> None:
        raise AssertionError("the Buffer was used")


def _pair() -> tuple[Document, Document, ColumnDataSource, HeldLine]:
    """A server document with one line's source and the browser's copy of it."""
    server = Document()
    source = ColumnDataSource(data={"x": np.empty(0), "y": np.empty(0)}, name="sv:p:y")
    server.add_root(source)
    browser = Document.from_json(server.to_json())
    line = HeldLine(_NoBuffer(), "x", "y")
    line.pair(source)
    return server, browser, source, line


def _send_held(server: Document, browser: Document, changes: Any) -> None:
    """Run `changes` under a hold, then send what the hold released as one patch."""
    released: list[Any] = []
    server.on_change(released.append)
    server.hold("combine")
    changes()
    server.unhold()
    server.callbacks._change_callbacks.clear()
    message = Protocol().create("PATCH-DOC", released)
    message.apply_to_document(browser)


def _browser_rows(browser: Document) -> list[float]:
    source = browser.get_model_by_name("sv:p:y")
    return [float(v) for v in source.data["x"]]


def test_a_view_then_new_rows_in_one_hold_arrive_once() -> None:
    server, browser, source, line = _pair()

    def changes() -> None:
        line.replace(np.arange(3.0), np.arange(3.0), direct=True)
        assert whole_data_pending(source)
        line.append(np.array([3.0, 4.0]), np.array([3.0, 4.0]), direct=True)

    _send_held(server, browser, changes)
    assert _browser_rows(browser) == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_appends_alone_are_streamed() -> None:
    server, browser, source, line = _pair()
    _send_held(server, browser, lambda: line.replace(np.arange(2.0), np.zeros(2), direct=True))
    assert not whole_data_pending(source)

    def changes() -> None:
        line.append(np.array([2.0]), np.array([1.0]), direct=True)
        line.append(np.array([3.0]), np.array([1.0]), direct=True)

    _send_held(server, browser, changes)
    assert _browser_rows(browser) == [0.0, 1.0, 2.0, 3.0]


def test_without_a_hold_nothing_is_pending() -> None:
    _server, _browser, source, line = _pair()
    line.replace(np.arange(2.0), np.zeros(2), direct=True)
    assert not whole_data_pending(source)
