"""Comparing runs on one page (`?runs=REGEX`): which runs match, which layout they share,
and figures that draw every matching run (kinds whose record is `comparable`: line and
scatter; the kind's `compare` draws them).

A pattern that is only run names joined by `|` (`.` escaped as `\\.`: what the runs panel
writes, `names_pattern`) is a set of names: looked up directly, with no length limit.

Each run gets its own Buffer and hub subscription, and its own DynamicMap; the figure is
their overlay, so new rows of one run redraw only that run. A run's color (`RunColors`) is
its own for as long as the process runs: the next PALETTE color, in the order the runs
started, whatever is shown or hidden. Its legend entry is the run name ("run: column" when
the plot has several y columns), and its data sources are named `sv:<plot id>:<run>/<column>`
(`<column>_smoothed` for a smoothed line). Other kinds show the first matching run, said in
their title.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from streamvis.core.hub import Hub, check_name
from streamvis.errors import StreamError
from streamvis.kinds import KINDS
from streamvis.kinds.base import run_label
from streamvis.kinds.contract import PlotMarks
from streamvis.layout.runpattern import PatternError, compile_runs
from streamvis.layout.spec import Plot
from streamvis.page.group_lines import regroup
from streamvis.transforms.smoothing import PALETTE


def matching_runs(pattern: str, runs: Iterable[str]) -> list[str]:
    """The runs whose whole name matches `pattern`, sorted; ValueError for a bad pattern.

    The pattern comes from an unauthenticated page address, so it is matched by
    streamvis.layout.runpattern (linear time, a subset of Python's syntax), never by `re`."""
    if not isinstance(pattern, str):  # the page shows this, like a bad pattern
        raise ValueError(f"runs={pattern!r:.60} is not text (a regular expression of run names)")
    names = pattern_names(pattern)
    if names is not None:  # the runs panel's set of names: no regex needed, no length limit
        return sorted(set(runs).intersection(names))
    try:
        compiled = compile_runs(pattern)
    except PatternError as exc:
        shown = repr(pattern) if len(pattern) <= 200 else f"{pattern[:60]!r}..."  # refused
        raise ValueError(f"runs={shown} is not a valid regular expression: {exc}") from None
    return sorted(run for run in runs if compiled.fullmatch(run))


def names_pattern(runs: Iterable[str]) -> str:
    """The `?runs=` pattern matching exactly `runs` (sorted names joined by `|`, `.`
    escaped); "" (matching no run) for none."""
    return "|".join(sorted({run.replace(".", "\\.") for run in runs}))


def pattern_names(pattern: str) -> list[str] | None:
    """The run names of a pattern that is only names joined by `|` (`names_pattern`'s
    form), else None (a regular expression). Scanned by hand: the text is untrusted."""
    if not pattern:
        return None
    names = []
    for part in pattern.split("|"):
        name, escaped = [], False
        for char in part:
            if escaped:
                if char != ".":
                    return None
                name.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == "." or not (char.isascii() and (char.isalnum() or char in "_-")):
                return None  # `.` unescaped is a regex wildcard
            else:
                name.append(char)
        try:
            names.append(check_name("run", "".join(name)))
        except StreamError:
            return None
        if escaped:
            return None
    return names


def run_color(runs: list[str], run: str) -> str:
    """The color of the run at its position in `runs` (`RunColors` keeps them stable)."""
    return PALETTE[runs.index(run) % len(PALETTE)]


class RunColors:
    """Each run's color, fixed the first time it is asked for and kept for as long as this
    object lives: runs are numbered in the order they started (then by name), the number
    picks the PALETTE color (repeating after 12 runs). Hiding or showing runs never
    recolors the others; a run deleted keeps its number, so no new run takes its color."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._numbers: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, run: str) -> str:
        number = self._numbers.get(run)
        if number is None:
            number = self._number(run)
        return PALETTE[number % len(PALETTE)]

    def _number(self, run: str) -> int:
        """Number every run of the hub not numbered yet (by start, then name), and `run`."""
        with self._lock:
            fresh = [name for name in self.hub.runs() if name not in self._numbers]
            fresh.sort(key=lambda name: (self.hub.run_facts(name).started, name))
            if run not in self._numbers and run not in fresh:
                fresh.append(run)
            for name in fresh:
                self._numbers[name] = len(self._numbers)
            return self._numbers[run]


_COLORS: weakref.WeakKeyDictionary[Hub, RunColors] = weakref.WeakKeyDictionary()
_COLORS_LOCK = threading.Lock()


def colors_of(hub: Hub) -> RunColors:
    """The run colors every page of `hub` in this process shares."""
    with _COLORS_LOCK:
        colors = _COLORS.get(hub)
        if colors is None:
            colors = _COLORS[hub] = RunColors(hub)
        return colors


def shared_layout(hub: Hub, home: str, runs: list[str]) -> tuple[int, Any]:
    """(version, what the hub holds) for the layout the compared runs are drawn with: the
    page's own run's, else that of the first matching run that has one."""
    version, layout = hub.layout(home)
    if layout is not None:
        return version, layout
    for run in runs:
        version, layout = hub.layout(run)
        if layout is not None:
            return version, layout
    return 0, None


def first_run_plot(plot: Plot, run: str) -> Plot:
    """A plot that is not compared shows the first matching run and says so in its title."""
    return replace(plot, options={**plot.options, "title": f"{plot.title} (run {run})"})


def view(
    plot: Plot,
    buffers: Mapping[str, Any],
    marks: PlotMarks,
    color: Callable[[str], str] | None = None,
) -> tuple[Any, list[Any]]:
    """(the figure of every run's lines or points, the Smoothing streams it listens to),
    drawn by the plot's kind, which must be comparable; `color` gives each run's color
    (`colors_of(hub)`), else its position among the runs shown."""
    compare = KINDS[plot.kind].compare
    if compare is None:
        raise ValueError(f"plot kind '{plot.kind}' does not compare runs")
    runs = list(buffers)
    owners = {}
    for run in runs:
        for column in plot.y:
            owners[run_label(plot, column, run)] = run

    def source_key(element: Any) -> str:
        return f"{owners.get(element.label, '?')}/{element.vdims[0].name}"

    colors = {run: color(run) if color else run_color(runs, run) for run in runs}
    grouped = regroup(plot, buffers)  # runs grouped: faint, in their group's colour
    if grouped is not None:
        plot, colors = grouped
    return compare(plot, buffers, colors, source_key, marks)
