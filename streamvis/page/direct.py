"""New rows straight into a rendered plot's Bokeh data source, skipping HoloViews' re-render.

HoloViews answers every Buffer event by rendering the whole DynamicMap again (the callback,
ranges, styles, legend, hooks): about 50-150 ms per event on this project's machines, once
per drawn line per tick. A Bokeh `ColumnDataSource.stream` of the same rows costs well under
a millisecond. So once HoloViews has drawn a plot, each tick's rows go to the data source
directly (`stream` for new rows, one `data` assignment for a whole new view), and the Buffer
is kept holding the same rows without an event, its count stepped past HoloViews' own so
that any later render (a resize, a new figure) replaces the source from the Buffer in full.
The plot stays a DynamicMap fed by its Buffer; only the per-tick path is direct.
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


def _silently_hold(buffer: Any, frame: pd.DataFrame) -> None:
    """Make the Buffer hold `frame` without an event; a later HoloViews render then
    replaces the whole source (its count moved by more than one)."""
    import param

    with param.parameterized.edit_constant(buffer):
        buffer.data = frame
    buffer._count += 2


def _columns(frame: pd.DataFrame, x_name: str, y_name: str, key: str) -> dict[str, np.ndarray]:
    x_values = frame[x_name].to_numpy()
    y_values = frame[key].to_numpy()
    return {x_name: x_values, y_name: y_values}


class DirectLine:
    """One drawn line: its Buffer (what HoloViews would draw) and its Bokeh data source."""

    def __init__(self, buffer: Any, source: Any, x_name: str, y_name: str, key: str) -> None:
        self.buffer = buffer
        self.source = source
        self.x_name = x_name
        self.y_name = y_name
        self.key = key  # the Buffer's column of y values

    def append(self, frame: pd.DataFrame) -> None:
        """New rows at the end of the line."""
        if len(frame) == 0:
            return
        held = self.buffer.data
        joined = frame if len(held) == 0 else pd.concat([held, frame], ignore_index=True)
        _silently_hold(self.buffer, joined)
        self.source.stream(_columns(frame, self.x_name, self.y_name, self.key))

    def replace(self, frame: pd.DataFrame) -> None:
        """A whole new line (a new view) in one message."""
        _silently_hold(self.buffer, frame.reset_index(drop=True))
        self.source.data = _columns(frame, self.x_name, self.y_name, self.key)

    @property
    def rows(self) -> int:
        return len(self.buffer.data)


def line_sources(figure: Any) -> dict[str, Any]:
    """The figure's data sources by name (streamvis names them `sv:<plot>:<key>`)."""
    found = {}
    for renderer in getattr(figure, "renderers", []):
        source = getattr(renderer, "data_source", None)
        name = getattr(source, "name", None)
        if name:
            found[name] = source
    return found
