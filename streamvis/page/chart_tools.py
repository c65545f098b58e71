"""Per-chart tools in a small row over a chart: a log y axis toggle and a CSV download of
the raw rows shown (line plots), and a full-window view (line and scatter plots). Until the
user clicks a chart's "⋯ tools" button the cell holds only that button (one Bokeh model);
the click puts the row (four) in its place.

- log y: the chart is built again with its `logy` option flipped (the way the header's
  controls rebuild it), on the same level-of-detail feed; the user's x range is kept.
- CSV: Panel's FileDownload with a callback, so the file is made on the server only when
  the button is clicked (page/chart_csv.py says what it holds).
- full window: a CSS class on the cell (`sv-full-window`) pins it over the whole browser
  window; the same models stay on the page, so the chart keeps updating. The same button
  brings it back. No script: the page's CSP forbids them.
"""

from __future__ import annotations

import io
import os
from typing import Any

from streamvis.core.hub import Hub
from streamvis.kinds.base import under_document_lock
from streamvis.layout.spec import Plot
from streamvis.page.chart_csv import csv_cap, csv_text, file_name, run_rows, within
from streamvis.page.controls import LineChart
from streamvis.page.lines import LineFeed

FULL_WINDOW = "sv-full-window"
# the cell's own style sheet: the class pins it over the window (its shadow root's :host)
CELL_CSS = f"""
:host(.{FULL_WINDOW}) {{
  position: fixed !important; inset: 0 !important; z-index: 1000 !important;
  width: 100vw !important; height: 100vh !important; max-width: none !important;
  max-height: none !important; margin: 0 !important; padding: 8px !important;
  box-sizing: border-box; background: #ffffff; display: flex !important;
  flex-direction: column;
}}
"""
# heights by CSS, not Panel's height=: a fixed height makes Panel give the cell and the grid a
# min_height, sent with the grid's new children when it re-arranges, and BokehJS then lays
# the grid out before it has built the new children's views ("parent_style" of undefined)
TOOL_CSS = """
:host { opacity: 0.75; height: 22px; }
:host(:hover) { opacity: 1; }
.bk-btn { font-size: 11px; padding: 1px 6px; line-height: 16px; min-height: 0;
  display: flex; align-items: center; justify-content: center; }
.bk-btn a { line-height: 16px; padding: 0 !important; }
"""
SWITCH_VARIABLE = "STREAMVIS_CHART_TOOLS"  # "off": pages show no chart tools
TOOL_KINDS = {"line": ("log", "csv", "full"), "scatter": ("full",)}


def tools_for(plot: Plot) -> tuple[str, ...]:
    """The tools a plot's kind gets (none for kinds not listed in TOOL_KINDS, none at all
    with `STREAMVIS_CHART_TOOLS=off`)."""
    if os.environ.get(SWITCH_VARIABLE, "").strip().lower() in ("off", "0", "no", "false"):
        return ()
    if plot.crossfilter:  # a crossfilter member draws a filtered summary: full window only
        return ("full",) if plot.kind in TOOL_KINDS else ()
    return TOOL_KINDS.get(plot.kind, ())


class ChartTools:
    """The tool row of one chart; `attach(cell)` lets the full-window button move the cell."""

    def __init__(
        self,
        plot: Plot,
        hub: Hub,
        chart: LineChart | None = None,
        feed: LineFeed | None = None,
        compared: bool = False,
    ) -> None:
        import panel as pn

        self.plot = plot
        self.hub = hub
        self.chart = chart
        self.feed = feed
        self.compared = compared
        self.cell: Any = None
        if feed is not None and chart is not None:  # a figure started at a carried range
            feed.redraw_on_reset = lambda: under_document_lock(lambda: chart.redraw({}))
        self.log: Any = None
        self.download: Any = None
        self.full: Any = None
        # one small button until the user asks for the tools: a page of 100 charts pays
        # one model per chart, not four (bench/RESULTS.md, "per-chart tools (issue 15)")
        self.opener = pn.widgets.Button(
            label="⋯ tools",
            width=58,
            margin=(0, 2),
            align="end",
            css_classes=["sv-tools-open"],
            stylesheets=[TOOL_CSS],
        )
        self.opener.on_click(self._open)
        self.row: Any = self.opener  # what the cell shows over the chart

    def _open(self, _event: Any = None) -> None:
        """Put the tool row in the cell in place of the opener."""
        if self.cell is None or self.row is not self.opener:
            return
        self.row = self._make_row()
        self.cell[list(self.cell.objects).index(self.opener)] = self.row

    def _make_row(self) -> Any:
        """The row of the plot's tools (tools_for)."""
        import panel as pn

        plot, wanted = self.plot, tools_for(self.plot)
        widgets: list[Any] = []
        common = {"margin": (0, 2), "stylesheets": [TOOL_CSS]}
        if "log" in wanted and self.chart is not None:
            self.log = pn.widgets.Toggle(
                label="log y",
                value=bool(self.chart.plot.options.get("logy", False)),
                width=52,
                css_classes=["sv-tool-log"],
                **common,
            )
            self.log.param.watch(self._toggle_log, "value")
            widgets.append(self.log)
        if "csv" in wanted and self.feed is not None:
            cap = csv_cap()
            self.download = pn.widgets.FileDownload(
                callback=self.csv_file,
                filename=file_name(plot.stream or "", plot.id),
                label=f"CSV ≤{cap:,} rows",
                button_type="default",
                width=120,
                css_classes=["sv-tool-csv"],
                **common,
            )
            widgets.append(self.download)
        self.full = pn.widgets.Toggle(
            label="⤢ full window", width=100, css_classes=["sv-tool-full"], **common
        )
        self.full.param.watch(self._toggle_full, "value")
        widgets.append(self.full)
        return pn.Row(*widgets, margin=0, align="end")

    def attach(self, cell: Any) -> Any:
        """The cell the full-window button pins over the window (returned, with its style)."""
        self.cell = cell
        cell.stylesheets = [*cell.stylesheets, CELL_CSS]
        return cell

    def _toggle_full(self, event: Any) -> None:
        if self.cell is None:
            return
        classes = [name for name in self.cell.css_classes if name != FULL_WINDOW]
        self.cell.css_classes = [*classes, FULL_WINDOW] if event.new else classes
        if self.full is not None:
            self.full.label = "✕ close" if event.new else "⤢ full window"

    def _toggle_log(self, event: Any) -> None:
        """Build the chart again with a log (or linear) y axis, keeping the x range shown."""
        chart = self.chart
        if chart is None:
            return
        feed = self.feed
        span = feed.requested if feed is not None and not feed.following else None
        if feed is not None:
            feed.carry_span = span  # the new figure starts at the user's range (lines.py)
        # the feed follows the whole run again (LineFeed.restyle) ...
        chart.redraw({"logy": bool(event.new)})
        if feed is not None and span is not None:  # ... unless the user had zoomed or panned
            feed.requested, feed.following, feed.pending = span, False, True

    def csv_file(self) -> io.StringIO:
        """The CSV of the rows shown now (made when the button is clicked)."""
        feed = self.feed
        if feed is None:
            return io.StringIO("")
        plot = feed.plot
        span = None if feed.following else feed.requested
        found = []
        for run, state in feed.runs.items():
            rows = run_rows(
                self.hub, run, plot.stream or "", plot.x or "", plot.y, feed.x_axis, state.origin
            )
            if rows is not None:
                found.append(within(rows, span))
        text, _written, _total = csv_text(found, self.compared, csv_cap())
        return io.StringIO(text)


def make_tools(
    plot: Plot,
    hub: Hub,
    chart: LineChart | None,
    feed: LineFeed | None,
    compared: bool,
) -> ChartTools | None:
    """The tool row of a plot, or None when its kind gets no tools."""
    return ChartTools(plot, hub, chart, feed, compared) if tools_for(plot) else None


def framed(tools: ChartTools | None, cell: Any) -> Any:
    """The cell, with the full-window button told which element to pin."""
    return tools.attach(cell) if tools is not None else cell
