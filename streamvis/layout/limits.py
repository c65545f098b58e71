"""Bounds on what a layout (and a page address) may ask for (limits.py bounds what
producers send), so that no layout can make the
server spend unbounded time or memory: plots, grid size, option values that size work, text
lengths. Each has a default and an environment variable that changes it; a layout beyond a
bound is refused when it is set (a SpecError, 422 over HTTP), never when a page opens.
The table of limits is in docs/layout.md ("Limits")."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from streamvis.errors import SpecError


@dataclass(frozen=True)
class LayoutLimits:
    """The bounds in force; `current()` reads them from the environment."""

    plots: int = 64  # plots in one layout (each costs ~0.2 s of server time per page)
    grid: int = 48  # rows, and columns, of the grid; also the most a cell may span
    sources: int = 16  # layout-declared sources (each is a thread or a connection)
    bins: int = 10_000  # histogram bins
    points: int = 1_000_000  # rows a plot keeps drawn (the hub keeps at most 1,000,000 too)
    table_rows: int = 1_000  # rows a table shows
    columns: int = 256  # columns (or colors) one key of a plot may list
    text: int = 1_000  # characters of a title, label, column name or other text value
    markdown: int = 100_000  # characters of a markdown plot's text
    format_width: int = 100  # width and precision inside a number's format
    yaml_nodes: int = 100_000  # YAML values read, each alias counted every time it is used
    runs_pattern: int = 200  # characters of a `?runs=` pattern


ENVIRONMENT = {
    "plots": "STREAMVIS_MAX_PLOTS",
    "grid": "STREAMVIS_MAX_GRID",
    "sources": "STREAMVIS_MAX_SOURCES",
    "bins": "STREAMVIS_MAX_BINS",
    "points": "STREAMVIS_MAX_POINTS",
    "table_rows": "STREAMVIS_MAX_TABLE_ROWS",
    "columns": "STREAMVIS_MAX_PLOT_COLUMNS",
    "text": "STREAMVIS_MAX_TEXT",
    "markdown": "STREAMVIS_MAX_MARKDOWN",
    "format_width": "STREAMVIS_MAX_FORMAT_WIDTH",
    "yaml_nodes": "STREAMVIS_MAX_LAYOUT_NODES",
    "runs_pattern": "STREAMVIS_MAX_RUNS_PATTERN",
}
DEFAULTS = LayoutLimits()


def current() -> LayoutLimits:
    """The limits in force: the defaults, each overridden by its environment variable.
    Read on every call (cheap), so a test or a server started with another value sees it."""
    values = {}
    for item in fields(LayoutLimits):
        variable = ENVIRONMENT[item.name]
        text = os.environ.get(variable)
        if text is None or not text.strip():
            continue
        try:
            number = int(text.strip().replace("_", ""))
        except ValueError:
            number = 0
        if number < 1:
            raise SpecError(f"{variable}={text!r} must be a whole number of at least 1")
        values[item.name] = number
    return LayoutLimits(**values) if values else DEFAULTS
