"""The runs panel: a collapsible side bar listing every run of the hub (its color, name,
start, last write, rows, a live mark) with a checkbox each, a regex filter and All / None.

The checked runs are what the page compares: a checkbox, All or None hands the page the
`?runs=` pattern of exactly those names (`compare.names_pattern`) and writes it into the
page address without a reload, so the address can be shared. Runs are looked at on the
page's timer at most once a second, and a Bokeh model is touched only when what it shows
changed. Producer text (run names, `run_details`) is escaped: shown, never markup.

Two seams for later parts: `run_details(hub, run)` gives a run's extra text (its
attributes), and `RunsPanel.show_controls` puts other controls in the bar, between
All / None and the list (the grouping controls, page/group_lines.py `fitted_to_bar`).
"""

from __future__ import annotations

import html
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import panel as pn

from streamvis.core.attributes import as_text
from streamvis.core.hub import Hub, RunFacts
from streamvis.page import compare

LIVE_SECONDS = 10.0  # a run written within this many seconds is marked live
REFRESH_SECONDS = 1.0  # the list is looked at no more often than this
WIDTH = 300  # the bar's width when open (px); closed, only its toggle shows
CLOSED_WIDTH = 44
LIST_OFFSET = 150  # px of the window above the run list (toggle, filter, buttons, note)
CONTROLS_HEIGHT = 130  # px the controls take at most (grouping: two rows and a problem)
SWATCH = "display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px"
FACTS_STYLE = "color:#666;font-size:11px"
LIVE_MARK = (
    f"<span class='sv-live' title='written in the last {LIVE_SECONDS:g} s' "
    "style='color:#2ca02c;margin-left:6px;font-size:11px'>&#9679; live</span>"
)


class RunsPage(Protocol):
    """What the panel needs of its page (streamvis/page/live.py `LivePage`)."""

    hub: Hub
    run: str
    pattern: str | None

    def select_runs(self, pattern: str) -> None: ...


@dataclass(frozen=True)
class RunRow:
    """What one row of the panel shows for a run."""

    run: str
    color: str
    facts: RunFacts
    live: bool
    details: str = ""


def run_details(hub: Hub, run: str) -> str:
    """Extra text shown under a run's facts (plain text, escaped when shown): the run's
    attributes as one line, `lr=0.0003 seed=1` (core/attributes.py `as_text`)."""
    return as_text(hub.attributes(run))


def clock(ns: int, today: str) -> str:
    """A time of day in UTC ("15:52:03"), with its date when it is not `today`."""
    when = datetime.fromtimestamp(ns / 1e9, UTC)
    day = when.strftime("%Y-%m-%d")
    return when.strftime("%H:%M:%S") if day == today else when.strftime("%Y-%m-%d %H:%M")


def row_of(hub: Hub, run: str, color: str, now_ns: int) -> RunRow:
    """The row of `run` at `now_ns`: live while its last write is under LIVE_SECONDS old."""
    facts = hub.run_facts(run)
    live = facts.streams > 0 and now_ns - facts.last_write < LIVE_SECONDS * 1e9
    return RunRow(run, color, facts, live, run_details(hub, run))


def row_html(row: RunRow, today: str) -> str:
    """The HTML of one row: every text from producers escaped."""
    name = html.escape(row.run)
    color = html.escape(row.color)
    swatch = f"<span class='sv-swatch' style='{SWATCH};background:{color}'></span>"
    facts = row.facts
    started, last = clock(facts.started, today), clock(facts.last_write, today)
    unit = "row" if facts.rows == 1 else "rows"
    lines = [
        f"<div class='sv-run-title'>{swatch}<span class='sv-run-name'>{name}</span>"
        f"{LIVE_MARK if row.live else ''}</div>",
        f"<div class='sv-run-facts' style='{FACTS_STYLE}' title='times in UTC'>"
        f"started {started} &middot; last {last} &middot; {facts.rows} {unit}</div>",
    ]
    if row.details:
        lines.append(
            f"<div class='sv-run-details' style='{FACTS_STYLE}'>{html.escape(row.details)}</div>"
        )
    return "".join(lines)


def listed_runs(filter_text: str, runs: Iterable[str]) -> tuple[list[str], str | None]:
    """(the runs the filter box lets through, the problem with its text or None): the
    whole list for an empty box or a bad pattern. Matched by the linear-time engine of
    streamvis/layout/runpattern.py (through compare.matching_runs), never by `re`."""
    runs = sorted(runs)
    if not filter_text:
        return runs, None
    try:
        return compare.matching_runs(filter_text, runs), None
    except ValueError as exc:
        return runs, f"filter: {exc}"


def checked_runs(page: RunsPage, runs: list[str]) -> set[str]:
    """The runs the page shows: those its pattern matches, or its one run."""
    if page.pattern is None:
        return {page.run}
    try:
        return set(compare.matching_runs(page.pattern, runs))
    except ValueError:
        return set()


def selection_note(page: RunsPage) -> str:
    """A line under the buttons saying what a regex selection means (empty otherwise)."""
    if page.pattern is None or compare.pattern_names(page.pattern) is not None:
        return ""
    if page.pattern == "":
        return "no run checked"
    return f"runs matching {page.pattern} (new ones join)"


def address_with(search: str, pattern: str) -> str:
    """The page address's query with `runs=pattern` (and no `run=`: the runs rule)."""
    query = [
        (key, value)
        for key, value in urllib.parse.parse_qsl(search.lstrip("?"), keep_blank_values=True)
        if key not in ("run", "runs")
    ]
    return "?" + urllib.parse.urlencode([*query, ("runs", pattern)])


class _Row:
    """The widgets of one run's row, and what they show now."""

    def __init__(self, run: str, on_toggle: Callable[[str, bool], None]) -> None:
        self.checkbox = pn.widgets.Checkbox(
            label="", value=False, width=18, margin=(6, 2, 0, 4), css_classes=["sv-run-check"]
        )
        self.checkbox.param.watch(lambda event: on_toggle(run, bool(event.new)), "value")
        self.pane = pn.pane.HTML("", width=WIDTH - 50, margin=(2, 4), css_classes=["sv-run-text"])
        self.view = pn.Row(self.checkbox, self.pane, css_classes=["sv-run-row"], margin=0)


class RunsPanel:
    """The side bar (`view`) of one page; `refresh()` is called on the page's timer."""

    def __init__(self, page: RunsPage) -> None:
        self.page = page
        self.hub = page.hub
        self.colors = compare.colors_of(page.hub)
        self._rows: dict[str, _Row] = {}
        self._shown: dict[str, str] = {}  # run -> HTML its row shows
        self._listed: list[str] = []
        self._checked: set[str] = set()
        self._syncing = False  # the panel itself is setting checkboxes: not a user's click
        self._refreshed: float | None = None
        served = getattr(pn.state.curdoc, "session_context", None) is not None
        self.location = pn.state.location if served else None
        self.toggle = pn.widgets.Button(
            label="◀", width=34, height=30, margin=(4, 4), css_classes=["sv-runs-toggle"]
        )
        self.toggle.on_click(lambda _event: self.set_open(not self.body.visible))
        self.title = pn.pane.HTML(
            "<b>runs</b>", margin=(10, 4, 0, 4), css_classes=["sv-runs-title"]
        )
        self.filter = pn.widgets.TextInput(
            placeholder="filter runs (regex)", width=WIDTH - 24, css_classes=["sv-runs-filter"]
        )
        self.filter.param.watch(lambda _event: self._apply_filter(), "value_input")
        self.all_button = pn.widgets.Button(label="All", width=60, css_classes=["sv-runs-all"])
        self.none_button = pn.widgets.Button(label="None", width=60, css_classes=["sv-runs-none"])
        self.all_button.on_click(lambda _event: self._check_listed(True))
        self.none_button.on_click(lambda _event: self._check_listed(False))
        self.note = pn.pane.HTML(
            "", margin=(0, 8), css_classes=["sv-runs-note"], styles={"font-size": "11px"}
        )
        self.controls = pn.Column(margin=0, css_classes=["sv-runs-controls"])  # grouping
        self.list = pn.Column(  # scrolls within the window, under the bar's controls
            margin=0,
            css_classes=["sv-runs-list"],
            scroll=True,
            styles={"max-height": f"calc(100vh - {LIST_OFFSET}px)"},
        )
        self.body = pn.Column(
            self.filter,
            pn.Row(self.all_button, self.none_button, margin=0),
            self.note,
            self.controls,
            self.list,
            margin=0,
        )
        self.view = pn.Column(
            pn.Row(self.toggle, self.title, margin=0),
            self.body,
            width=WIDTH,
            sizing_mode="stretch_height",
            css_classes=["sv-runs-panel"],
            styles={"border-right": "1px solid #ddd"},
        )
        self.refresh(force=True)

    def show_controls(self, widgets: list[Any]) -> None:
        """Show these controls (laid out for the bar's WIDTH) in place of those shown, and
        keep the run list within the window under them."""
        if list(self.controls.objects) == widgets:
            return
        self.controls.objects = widgets
        offset = LIST_OFFSET + (CONTROLS_HEIGHT if widgets else 0)
        self.list.styles = {"max-height": f"calc(100vh - {offset}px)"}

    def set_open(self, shown: bool) -> None:
        """Open or close the bar (closed: only its toggle, so the plots get the width)."""
        self.body.visible = self.title.visible = shown
        self.toggle.label = "◀" if shown else "▶"
        self.view.width = WIDTH if shown else CLOSED_WIDTH

    def refresh(self, force: bool = False) -> None:
        """Bring the list up to date: at most once a second unless `force`; models are
        changed only where what they show changed."""
        now = time.monotonic()
        if not force and self._refreshed is not None and now - self._refreshed < REFRESH_SECONDS:
            return
        self._refreshed = now
        runs = self.hub.runs()
        now_ns = time.time_ns()
        today = datetime.fromtimestamp(now_ns / 1e9, UTC).strftime("%Y-%m-%d")
        for run in runs:
            text = row_html(row_of(self.hub, run, self.colors(run), now_ns), today)
            row = self._rows.get(run)
            if row is None:
                row = self._rows[run] = _Row(run, self._toggled)
            if self._shown.get(run) != text:
                row.pane.object = self._shown[run] = text
        for gone in set(self._rows) - set(runs):
            del self._rows[gone]
            self._shown.pop(gone, None)
        self._sync_checks(checked_runs(self.page, runs))
        self._apply_filter(runs)

    def _sync_checks(self, checked: set[str]) -> None:
        """Set the checkboxes to what the page shows (not taken for a user's click)."""
        self._checked = checked
        self._syncing = True
        try:
            for run, row in self._rows.items():
                if row.checkbox.value != (run in checked):
                    row.checkbox.value = run in checked
        finally:
            self._syncing = False

    def _apply_filter(self, runs: list[str] | None = None) -> None:
        """Show the rows the filter box lets through (in name order), and the note: the
        filter's problem, else what a regex selection means."""
        listed, problem = listed_runs(self.filter.value_input or "", runs or list(self._rows))
        if listed != self._listed:
            self._listed = listed
            self.list.objects = [self._rows[run].view for run in listed if run in self._rows]
        styles = {"outline": "1px solid #b00020"} if problem else {}
        if self.filter.styles != styles:
            self.filter.styles = styles
        note = html.escape(problem or selection_note(self.page))
        if self.note.object != note:
            self.note.object = note

    def _toggled(self, run: str, checked: bool) -> None:
        """A user checked or unchecked one run."""
        if self._syncing:
            return
        chosen = self._checked | {run} if checked else self._checked - {run}
        self._choose(chosen)

    def _check_listed(self, checked: bool) -> None:
        """All / None: check or uncheck every run the filter lists, keeping the others."""
        listed = set(self._listed)
        self._choose(self._checked | listed if checked else self._checked - listed)

    def _choose(self, runs: set[str]) -> None:
        """Make `runs` the page's selection, in the page and in its address."""
        pattern = compare.names_pattern(runs)
        self._checked = set(runs)
        self.page.select_runs(pattern)
        if self.location is not None:
            self.location.search = address_with(self.location.search or "", pattern)
        self.refresh(force=True)
