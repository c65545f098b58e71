"""The CSV a line chart's "CSV" button downloads: the raw rows the hub keeps of the chart's
stream, for each run it shows, within the x range the browser shows (the whole run while it
follows), its x and y columns, at most `csv_cap()` rows.

Producer text (run and column names, text cells) that a spreadsheet would read as a formula
(starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is written with a leading `'`,
so opening the file never runs it; numbers are written as numbers, whole ones without a
decimal point or exponent. A download cut at the cap ends with a `# truncated: ...` line.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamvis.core.hub import Hub
from streamvis.transforms.smoothing import RELATIVE, WALL

DEFAULT_CAP = 100_000
CAP_VARIABLE = "STREAMVIS_CSV_ROWS"  # the most rows one download holds (a whole number >= 1)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER_NAMES = {WALL: "wall_time", RELATIVE: "relative_seconds"}


def csv_cap() -> int:
    """The most rows one download holds: `STREAMVIS_CSV_ROWS`, else 100,000. A value that
    is not a whole number >= 1 is ignored (the default applies)."""
    text = os.environ.get(CAP_VARIABLE, "").strip()
    if text.isdigit() and int(text) >= 1:
        return int(text)
    return DEFAULT_CAP


def guard_text(text: str) -> str:
    """A text cell a spreadsheet shows as text: a leading `'` on what it would evaluate."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def plain(value: Any) -> str:
    """One cell: whole numbers as digits, floats as Python's shortest round-trip text, a
    missing value empty, datetimes as ISO 8601 UTC, text guarded against formulas."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return ""
        if number.is_integer() and abs(number) < 2**53:
            return str(int(number))
        return repr(number)
    if isinstance(value, np.datetime64):
        return "" if np.isnat(value) else f"{np.datetime_as_string(value, unit='us')}Z"
    return guard_text(str(value))


def cells(values: np.ndarray) -> list[str]:
    """A column's cells as text (datetimes kept as datetimes: `tolist` would give ns)."""
    if values.dtype.kind == "M":
        return [plain(value) for value in values.astype("datetime64[us]")]
    return [plain(value) for value in values.tolist()]


@dataclass(frozen=True)
class RunRows:
    """One run's rows of the chart: its x values (axis units, for the range) and columns."""

    run: str
    axis_x: np.ndarray  # the x the browser's range is in (ms for datetimes, s for relative)
    columns: dict[str, np.ndarray]  # the written x column, then each y column


def axis_values(x_axis: str, x_values: np.ndarray, times: np.ndarray, origin: int) -> np.ndarray:
    """x in the units of the browser's x range: steps as they are, datetimes and arrival
    times in ms since the epoch (Bokeh's datetime axis), relative time in seconds."""
    if x_axis == "wall":
        return times.astype(np.float64) / 1e6
    if x_axis == "relative":
        return (times.astype(np.float64) - origin) / 1e9
    if x_values.dtype.kind == "M":
        return x_values.astype("datetime64[ns]").astype(np.int64).astype(np.float64) / 1e6
    if x_values.dtype.kind in "biuf":
        return x_values.astype(np.float64)
    return np.full(len(x_values), np.nan)


def run_rows(
    hub: Hub,
    run: str,
    stream: str,
    x: str,
    ys: Sequence[str],
    x_axis: str,
    origin: int | None = None,
) -> RunRows | None:
    """The rows the hub keeps of `run`'s `stream` (None when the run has no such stream)."""
    table = hub.table(run, stream)
    if table is None:
        return None
    snapshot = table.snapshot(0)
    batch, times = snapshot.batch, snapshot.times
    count = len(times)
    start = origin if origin is not None else table.first_arrival() or 0
    if x_axis == "wall":
        x_name, x_column = WALL, times.astype("datetime64[ns]")
    elif x_axis == "relative":
        x_name, x_column = RELATIVE, (times.astype(np.float64) - start) / 1e9
    else:
        x_name, x_column = x, batch.get(x, np.full(count, np.nan))
    columns = {x_name: x_column}
    for name in ys:
        if name != x_name:
            columns[name] = batch.get(name, np.full(count, np.nan))
    return RunRows(run, axis_values(x_axis, np.asarray(x_column), times, start), columns)


def within(rows: RunRows, span: tuple[float, float] | None) -> RunRows:
    """The rows whose x lies in `span` (both ends included); all of them for None."""
    if span is None:
        return rows
    lo, hi = min(span), max(span)
    keep = (rows.axis_x >= lo) & (rows.axis_x <= hi)
    return RunRows(
        rows.run, rows.axis_x[keep], {name: values[keep] for name, values in rows.columns.items()}
    )


def shares(counts: Sequence[int], cap: int) -> list[int]:
    """How many rows each run gets under `cap`: an equal share each, what a short run leaves
    going to the others (the first runs get the remainder's extra rows)."""
    given = [0] * len(counts)
    left = cap
    waiting = sorted(range(len(counts)), key=lambda index: counts[index])
    while waiting and left > 0:
        share, extra = divmod(left, len(waiting))
        index = waiting[0]
        if counts[index] <= share:  # a short run takes all it has
            given[index] = counts[index]
            left -= counts[index]
            waiting.pop(0)
            continue
        for order, index in enumerate(sorted(waiting)):
            given[index] = share + (1 if order < extra else 0)
        break
    return given


def csv_text(runs: Iterable[RunRows], compared: bool, cap: int) -> tuple[str, int, int]:
    """(the CSV, rows written, rows in range): a `run` column first when runs are compared,
    then the x and y columns; a `# truncated` line last when the cap cut rows."""
    found = list(runs)
    counts = [len(rows.axis_x) for rows in found]
    total = sum(counts)
    given = shares(counts, cap)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = list(found[0].columns) if found else []
    header = (["run"] if compared else []) + [
        guard_text(HEADER_NAMES.get(name, name)) for name in names
    ]
    writer.writerow(header)
    for rows, limit in zip(found, given, strict=True):
        lead = [guard_text(rows.run)] if compared else []
        columns = [cells(rows.columns[name][:limit]) for name in names]
        for values in zip(*columns, strict=True):
            writer.writerow(lead + list(values))
    written = sum(given)
    if written < total:
        out.write(
            f"# truncated: {written:,} of {total:,} rows written "
            f"(at most {cap:,} rows per download; the first rows of each run)\n"
        )
    return out.getvalue(), written, total


def file_name(stream: str, plot_id: str) -> str:
    """A download's file name from the plot's id and stream: safe characters only."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{plot_id}-{stream}").strip("._") or "chart"
    return f"{safe[:100]}.csv"
