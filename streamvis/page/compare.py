"""Comparing runs on one page (`?runs=REGEX`): which runs match, which layout they share,
and figures that draw every matching run (kinds whose record is `comparable`: line and
scatter; the kind's `compare` draws them).

Each run gets its own Buffer and hub subscription, and its own DynamicMap; the figure is
their overlay, so new rows of one run redraw only that run. A run's color is fixed by its
position among the matching runs (sorted by name) in PALETTE, its legend entry is the run
name ("run: column" when the plot has several y columns), and its data sources are named
`sv:<plot id>:<run>/<column>` (`<column>_smoothed` for a smoothed line). Other kinds show
the first matching run, said in their title.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from streamvis.core.hub import Hub
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
    try:
        compiled = compile_runs(pattern)
    except PatternError as exc:
        shown = repr(pattern) if len(pattern) <= 200 else f"{pattern[:60]!r}..."  # refused
        raise ValueError(f"runs={shown} is not a valid regular expression: {exc}") from None
    return sorted(run for run in runs if compiled.fullmatch(run))


def run_color(runs: list[str], run: str) -> str:
    """The run's color: stable while the set of matching runs is."""
    return PALETTE[runs.index(run) % len(PALETTE)]


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


def view(plot: Plot, buffers: Mapping[str, Any], marks: PlotMarks) -> tuple[Any, list[Any]]:
    """(the figure of every run's lines or points, the Smoothing streams it listens to),
    drawn by the plot's kind, which must be comparable."""
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

    colors = {run: run_color(runs, run) for run in runs}
    grouped = regroup(plot, buffers)  # runs grouped: faint, in their group's colour
    if grouped is not None:
        plot, colors = grouped
    return compare(plot, buffers, colors, source_key, marks)
