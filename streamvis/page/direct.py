"""A drawn line's rows, written straight into its Bokeh data source, skipping HoloViews.

HoloViews answers every Buffer event by rendering the whole DynamicMap again (the callback,
ranges, styles, legend, hooks): 50-150 ms per event on this project's machines, once per
drawn line per tick, plus a pandas frame per update. A Bokeh `ColumnDataSource.stream` of
the same rows costs a fraction of a millisecond. So the page holds each line's rows itself
(numpy arrays, at most a few pixel widths of points), and once HoloViews has drawn the
figure and the browser holds it, a tick sends new rows with `stream` and a whole new view
with one `data` assignment. The Buffer the DynamicMap draws is brought up to date only
when HoloViews would read it: before a send through it, and at a render (a resize, a
rebuilt figure), whose hook also writes the held rows into the new data source.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def column_pair(source: Any, x_name: str) -> tuple[str, str] | None:
    """(x column, y column) of a line's data source, or None when it holds anything else
    (a source HoloViews laid out differently is left to HoloViews)."""
    columns = list(source.data)
    if len(columns) != 2 or x_name not in columns:
        return None
    y_name = columns[1] if columns[0] == x_name else columns[0]
    return x_name, y_name


def line_sources(figure: Any) -> dict[str, Any]:
    """The figure's data sources by name (streamvis names them `sv:<plot>:<key>`)."""
    found = {}
    for renderer in getattr(figure, "renderers", []):
        source = getattr(renderer, "data_source", None)
        name = getattr(source, "name", None)
        if name:
            found[name] = source
    return found


def whole_data_pending(source: Any) -> bool:
    """True while a whole-`data` change of `source` waits in its document's hold.

    Such a change is serialized when the hold ends, from the source's data as it is then;
    a `stream` into that same data would reach the browser twice (in the whole data, then
    as streamed rows), so a line appended under it is sent whole again instead."""
    from bokeh.document.events import ColumnDataChangedEvent

    document = getattr(source, "document", None)
    if document is None or document.callbacks.hold_value is None:
        return False
    return any(
        isinstance(event, ColumnDataChangedEvent) and event.model is source
        for event in document.callbacks._held_events
    )


def replace_buffer(buffer: Any, frame: pd.DataFrame) -> None:
    """Make `buffer` hold exactly `frame`, sent as one whole-source update.

    HoloViews streams only the tail when a Buffer's event count moved by exactly one;
    stepping it one further makes the send replace the data source in one message, so the
    browser never draws the empty plot that `Buffer.clear()` would."""
    import param

    buffer._count += 1
    with param.parameterized.edit_constant(buffer):
        buffer.data = frame.iloc[:0]
    buffer.send(frame)


class HeldLine:
    """One drawn line: the rows the page holds for it (x in axis units, y), the Buffer its
    DynamicMap draws, and, once paired, the Bokeh data source HoloViews made for it."""

    def __init__(self, buffer: Any, x_name: str, key: str) -> None:
        self.buffer = buffer
        self.x_name = x_name  # the Buffer's columns: x and `key` (a y column or smoothed)
        self.key = key
        self.x: np.ndarray = np.empty(0)
        self.y: np.ndarray = np.empty(0)
        self.source: Any = None
        self.source_columns: tuple[str, str] | None = None
        self.stale = False  # the Buffer lags the held rows (updates went to the source)

    @property
    def rows(self) -> int:
        return len(self.x)

    def pair(self, source: Any) -> None:
        """Take the data source a render made; it gets the held rows if HoloViews drew it
        from a Buffer that lagged them."""
        columns = None if source is None else column_pair(source, self.x_name)
        self.source, self.source_columns = (source, columns) if columns else (None, None)
        if self.source is not None and self.stale:
            self.source.data = self._source_data(self.x, self.y)

    def append(self, x: np.ndarray, y: np.ndarray, direct: bool) -> None:
        """New rows at the end: a Bokeh `stream` of just them, or a Buffer send."""
        if len(x) == 0:
            return
        if not (direct and self.source is not None):
            self._catch_up_buffer()  # with the rows held so far; the send adds the new
        self.x = np.concatenate([self.x, x]) if len(self.x) else x
        self.y = np.concatenate([self.y, y]) if len(self.y) else y
        if direct and self.source is not None:
            if whole_data_pending(self.source):
                self.source.data = self._source_data(self.x, self.y)
            else:
                self.source.stream(self._source_data(x, y))
            self.stale = True
        else:
            self.buffer.send(self._frame(x, y))

    def replace(self, x: np.ndarray, y: np.ndarray, direct: bool) -> None:
        """A whole new line (a new view) in one message."""
        self.x, self.y = x, y
        if direct and self.source is not None:
            self.source.data = self._source_data(x, y)
            self.stale = True
        else:
            self.stale = False
            replace_buffer(self.buffer, self._frame(x, y))

    def _catch_up_buffer(self) -> None:
        """Before HoloViews reads the Buffer: make it hold the rows the source holds, with
        its count moved so the next send replaces the source in full."""
        if not self.stale:
            return
        import param

        with param.parameterized.edit_constant(self.buffer):
            self.buffer.data = self._frame(self.x, self.y)
        self.buffer._count += 2
        self.stale = False

    def _source_data(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        assert self.source_columns is not None
        x_column, y_column = self.source_columns
        return {x_column: x, y_column: y}

    def _frame(self, x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({self.x_name: x, self.key: y})
