"""The automatic layout: one line chart per numeric column of every stream of the shown runs,
for runs that have no layout of their own (no layout file, none set through the API).

Charts are grouped by stream (a stream's charts side by side, streams in name order) and
flow over a grid of `COLUMNS` columns. A chart's id depends only on its stream and column,
so when streams or columns arrive the page re-arranges in place (page/regrid.py) and keeps
the charts it already drew. x is the stream's `step` column (or another step-like column,
or a datetime column), else the rows' arrival (wall) time. Pure: no Panel, no HoloViews.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from streamvis.layout.spec import Layout, Plot

COLUMNS = 3  # charts side by side
MAX_CHARTS = 400  # charts an automatic layout draws at most (each costs server time per page)
STEP_NAMES = ("step", "global_step", "iteration", "epoch")  # x, in this order of preference
ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
MAX_ID = 128

# (stream, ((column, dtype kind), ...)): what the layout is made from, and the page's key
StreamColumns = tuple[str, tuple[tuple[str, str], ...]]


def is_number(kind: str) -> bool:
    """A column drawn as a line: integers and floats (not booleans, times or text)."""
    return kind in ("i", "u", "f")


def x_of(columns: Sequence[tuple[str, str]]) -> tuple[str | None, bool]:
    """(the x column, whether it is a time column) for a stream's columns; (None, False)
    when the stream has none and its charts are drawn against wall time."""
    kinds = dict(columns)
    for name in STEP_NAMES:
        if name in kinds and is_number(kinds[name]):
            return name, False
    for name, kind in columns:
        if kind == "M":
            return name, True
    return None, False


def charted_columns(columns: Sequence[tuple[str, str]]) -> list[str]:
    """The columns of a stream that get a chart: every numeric one but its x."""
    x, _ = x_of(columns)
    return [name for name, kind in columns if is_number(kind) and name != x]


def chart_id(stream: str, column: str) -> str:
    """A stable plot id for (stream, column): `stream.column` when that is a valid id,
    else its valid characters and a short hash of both names."""
    plain = f"{stream}.{column}"
    if len(plain) <= MAX_ID and all(c in ID_CHARACTERS for c in column):
        return plain
    digest = hashlib.sha1(f"{stream}\0{column}".encode()).hexdigest()[:10]
    safe = "".join(c if c in ID_CHARACTERS else "_" for c in column)
    return f"{stream}.{safe}"[: MAX_ID - 11] + f"-{digest}"


def chart_title(stream: str, column: str) -> str:
    """What a chart is called on the page (and what the search box matches)."""
    return f"{stream} / {column}"


def merged(per_run: Iterable[Iterable[StreamColumns]]) -> tuple[StreamColumns, ...]:
    """The union of several runs' streams (by name) and each stream's columns (in the order
    they first arrived, the first run's first), streams sorted by name."""
    streams: dict[str, dict[str, str]] = {}
    for run_streams in per_run:
        for stream, columns in run_streams:
            known = streams.setdefault(stream, {})
            for name, kind in columns:
                known.setdefault(name, kind)
    return tuple((stream, tuple(streams[stream].items())) for stream in sorted(streams))


def hub_streams(hub: Any, runs: Sequence[str]) -> tuple[StreamColumns, ...]:
    """What the hub holds of `runs`: each stream with its (column, dtype kind) pairs. Cheap
    (no rows are read): the page calls it about once a second to see if anything is new."""
    return merged(
        [
            (table.name, tuple((name, dtype.kind) for name, dtype in table.dtypes.items()))
            for table in hub.tables(run)
        ]
        for run in runs
    )


def stored_streams(records: Iterable[Any], codes: Mapping[str, Any]) -> tuple[StreamColumns, ...]:
    """The same from a store's stream records (`columns`: name -> dtype code; `codes`: code
    -> numpy dtype), for `streamvis layout --from-run`."""
    return merged(
        [
            [
                (
                    record.stream,
                    tuple(
                        (name, np.dtype(codes[code]).kind if code in codes else "O")
                        for name, code in record.columns.items()
                    ),
                )
                for record in records
            ]
        ]
    )


def auto_plots(streams: Sequence[StreamColumns]) -> list[Plot]:
    """One line plot per charted column, flowing over `COLUMNS` columns, stream by stream."""
    plots: list[Plot] = []
    for stream, columns in streams:
        x, _ = x_of(columns)
        for column in charted_columns(columns):
            if len(plots) >= MAX_CHARTS:
                return plots
            at = (len(plots) // COLUMNS, len(plots) % COLUMNS, 1, 1)
            options: dict[str, Any] = {"title": chart_title(stream, column)}
            if x is None:  # no step: the column against its rows' arrival time
                options["x_axis"] = "wall"
            plots.append(
                Plot(
                    id=chart_id(stream, column),
                    kind="line",
                    stream=stream,
                    at=at,
                    x=x or column,
                    y=(column,),
                    options=options,
                )
            )
    return plots


def auto_layout(streams: Sequence[StreamColumns], run: str) -> Layout | None:
    """The automatic layout of `run` (or of runs compared, their streams merged); None while
    no stream has a numeric column to chart."""
    plots = auto_plots(streams)
    if not plots:
        return None
    rows = (len(plots) + COLUMNS - 1) // COLUMNS
    return Layout(
        plots=tuple(plots),
        title=f"streamvis: {run} (automatic layout)",
        run=run,
        grid=(rows, COLUMNS),
        _checked=True,  # made here from valid names; no producer-given structure to check
    )
