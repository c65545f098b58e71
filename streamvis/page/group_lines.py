"""Grouped runs on a `?runs=` page: each group's mean line with a shaded band (min-max or
mean +/- std) per x bucket at the view's resolution, the group's runs drawn faint behind it
in the group's colour (the numbers: streamvis/transforms/groups.py).

The page's grouping (`?group=RULE&band=std`, and the "group by" and "band" controls, in
the runs panel of a served page, `fitted_to_bar`, and in the header of a notebook cell)
becomes the `group` and `band` options of each compared line plot; compare.view then draws
the runs faint in their group's colour and hangs a `GroupDrawer` on the plot's LineFeed.
The drawer adds a band (VArea) and a mean line (Line) per group and y column to the figure
at each render, and recomputes them after the feed's tick when the view was
re-resolved (zoom, pan, width) at once, and as rows arrive at most once a second: per run
one level-of-detail view of the common range (O(buckets x runs), not O(rows)). Its data
sources are named `sv:<plot id>:@group/<group>/<column>/mean` (x: the bucket's centre,
bucket: its index, mean, min, max, std, count) and `.../band` (x, lower, upper), holding the
buckets some run of the group has a value in (the line joins them, as a run's line joins its
rows); the band's `tags` hold [lo, hi, buckets, band].
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from streamvis.core.lod import View
from streamvis.kinds.base import figure_sent, source_name, under_document_lock
from streamvis.layout.spec import Plot
from streamvis.transforms.groups import (
    ATTRIBUTE_PREFIX,
    BANDS,
    NAME_PREFIX,
    Band,
    GroupingError,
    aggregate,
    bucket_means,
    group_runs,
    means_of_sums,
    parse_band,
    parse_rule,
)
from streamvis.transforms.smoothing import PALETTE

log = logging.getLogger("streamvis")
GROUP_OPTION = "group"
BAND_OPTION = "band"
FAINT = 0.25  # the alpha of a grouped run's own line
BAND_ALPHA = 0.22
RECOMPUTE_SECONDS = 1.0
NAME_MODE = "name"  # the "group by" select's value for a regex on the run name
MEAN_COLUMNS = (
    "x",
    "bucket",
    "mean",
    "min",
    "max",
    "std",
    "count",
)  # while only new rows arrive, the bands are recomputed this often


def group_source_name(plot_id: str, group: str, column: str, part: str) -> str:
    """`sv:<plot>:@group/<group>/<column>/<part>` (part: mean or band)."""
    return source_name(plot_id, f"@group/{group}/{column}/{part}")


def page_grouping(arguments: Mapping[str, list[bytes]]) -> tuple[GroupSettings, str | None]:
    """(the grouping asked for by `?group=` and `?band=`, the problem with them or None)."""
    values = {
        key: arguments[key][-1].decode("utf-8", "replace")
        for key in (GROUP_OPTION, BAND_OPTION)
        if arguments.get(key)
    }
    settings = GroupSettings(values.get(GROUP_OPTION, ""), values.get(BAND_OPTION, BANDS[0]))
    try:
        parse_rule(settings.rule)
        parse_band(settings.band)
    except GroupingError as exc:
        return GroupSettings(), f"cannot group runs: {exc}"
    return settings, None


@dataclass
class GroupSettings:
    """The page's grouping: a rule (`name:REGEX`, `attr:NAME`, or empty: none) and a band."""

    rule: str = ""
    band: str = BANDS[0]

    def options(self) -> dict[str, Any]:
        return {GROUP_OPTION: self.rule, BAND_OPTION: self.band}

    def apply(self, plot: Plot) -> Plot:
        """`plot` with the page's grouping as options (line plots only)."""
        if plot.kind != "line" or not self.rule:
            return plot
        return replace(plot, options={**plot.options, **self.options()})

    def widgets(self, controls: Any, attribute_names: list[str]) -> list[Any]:
        """The "group by" select (none, a regex on the run name, or one of the runs'
        attributes), the regex, the "band" select and the problem line, sized for the
        header; a change redraws every line chart of `controls` (page/controls.py) grouped
        anew; a bad regex is said in the problem line."""
        import panel as pn

        from streamvis.page.panes import literal

        current = parse_rule(self.rule)
        modes = {"none": "", "run name (regex)": NAME_MODE}
        names = list(dict.fromkeys([*attribute_names, *self._attribute()]))
        modes.update({f"attribute: {name}": f"{ATTRIBUTE_PREFIX}{name}" for name in names})
        mode = pn.widgets.Select(
            label="group by",
            options=modes,
            value="" if current is None else self.rule if current.by == "attribute" else NAME_MODE,
            width=170,
            css_classes=["sv-group-by"],
        )
        regex = pn.widgets.TextInput(
            label="run name regex",
            value=current.value if current is not None and current.by == "name" else "",
            placeholder=r"^(.*)-seed\d+$",
            width=170,
            visible=mode.value == NAME_MODE,
            css_classes=["sv-group-regex"],
        )
        band = pn.widgets.Select(
            label="band", options=list(BANDS), value=self.band, width=100, css_classes=["sv-band"]
        )
        problem = literal("", visible=False, css_classes=["sv-group-error"], styles=ERROR)

        def apply(_event: Any = None) -> None:
            regex.visible = mode.value == NAME_MODE
            rule = str(mode.value)
            if rule == NAME_MODE:
                rule = f"{NAME_PREFIX}{regex.value}" if regex.value else ""
            try:
                parse_rule(rule)
            except GroupingError as exc:
                problem.object, problem.visible = str(exc), True
                return
            problem.object, problem.visible = "", False
            if (rule, band.value) == (self.rule, self.band):
                return
            self.rule, self.band = rule, str(band.value)
            under_document_lock(lambda: redraw_lines(controls, self.options()))

        for widget in (mode, regex, band):
            widget.param.watch(apply, "value")
        return [mode, regex, band, problem]

    def _attribute(self) -> list[str]:
        """The attribute grouped by now, if any (kept in the select's choices)."""
        rule = parse_rule(self.rule)
        return [rule.value] if rule is not None and rule.by == "attribute" else []


def attribute_names(hub: Any, runs: list[str]) -> list[str]:
    """The attribute names the runs carry (sorted), when the hub keeps attributes."""
    attributes = getattr(hub, "attributes", None)
    if not callable(attributes):
        return []
    return sorted({str(name) for run in runs for name in (attributes(run) or {})})


ERROR = {"color": "#b00020", "font-size": "12px"}
WIDGET_MARGIN = 10  # Panel's margin on each side of a widget (px)
BAND_WIDTH = 90  # the band select's width in a side bar


def fitted_to_bar(widgets: list[Any], width: int) -> list[Any]:
    """The controls of `GroupSettings.widgets` laid out for a side bar `width` px wide (the
    runs panel): "group by" and "band" side by side, the regex and its problem under them."""
    import panel as pn

    if not widgets:
        return []
    mode, regex, band, problem = widgets
    inner = width - 2 * WIDGET_MARGIN
    band.width = BAND_WIDTH
    mode.width = inner - BAND_WIDTH - 2 * WIDGET_MARGIN
    regex.width = problem.width = inner
    return [pn.Row(mode, band, margin=0, css_classes=["sv-group-controls"]), regex, problem]


def group_colors(groups: Mapping[str, list[str]]) -> dict[str, str]:
    """Each group's colour: its place among the groups (ordered by first run) in PALETTE."""
    return {key: PALETTE[index % len(PALETTE)] for index, key in enumerate(groups)}


def regroup(plot: Plot, rows: Mapping[str, Any]) -> tuple[Plot, dict[str, str]] | None:
    """For compare.view: with the plot's `group` option and a level-of-detail feed, hang a
    GroupDrawer on the feed and return (the plot with faint lines, each run's group colour);
    else None (and the feed draws no groups)."""
    feeds = {id(feed): feed for feed in rows.values() if hasattr(feed, "line_buffer")}
    if len(feeds) != 1:
        return None
    feed = next(iter(feeds.values()))
    try:
        rule = parse_rule(plot.options.get(GROUP_OPTION))
        band = parse_band(plot.options.get(BAND_OPTION))
    except GroupingError as exc:
        log.error("plot '%s': %s", plot.id, exc)
        rule = None
    if rule is None:
        feed.groups = None
        return None
    attributes = getattr(feed.hub, "attributes", None)
    held = {run: attributes(run) for run in rows} if callable(attributes) else {}
    drawer = GroupDrawer(plot, feed, group_runs(rule, list(rows), held), band)
    feed.groups = drawer
    faint = {**plot.options, "alpha": plot.options.get("alpha", 1.0) * FAINT}
    return replace(plot, options=faint), drawer.run_colors()


@dataclass(frozen=True)
class Frame:
    """The buckets of the bands drawn: [lo, hi] in axis units, cut into `width`."""

    lo: float
    hi: float
    width: int


class GroupDrawer:
    """The mean lines and bands of one compared line plot's groups (module docstring)."""

    def __init__(self, plot: Plot, feed: Any, groups: dict[str, list[str]], band: str) -> None:
        self.plot = plot
        self.feed = feed
        self.groups = groups
        self.band = band
        self.colors = group_colors(groups)
        self.figure: Any = None
        self.sources: dict[
            tuple[str, str], tuple[Any, Any]
        ] = {}  # (group, column) -> (mean, band)
        self.legend_items: list[Any] = []
        self.bands: dict[tuple[str, str], Band] = {}
        self.frame: Frame | None = None
        self.signature: Any = None
        self.computed_at = 0.0
        self.unwritten = False
        self._synced_before: set[int] = set()

    def run_colors(self) -> dict[str, str]:
        return {run: self.colors[key] for key, runs in self.groups.items() for run in runs}

    # -- drawing --------------------------------------------------------------------------
    def rendered(self, figure: Any) -> None:
        """A render of the plot (the feed's render hook): add the glyphs to a new figure,
        keep the legend entries, and write bands not yet written (a render carries them)."""
        if figure is not self.figure:
            self.figure = figure
            self._add_glyphs(figure)
            self.signature = None
        if figure.legend:
            items = figure.legend[0].items
            missing = [item for item in self.legend_items if item not in items]
            if missing:
                figure.legend[0].items = [*items, *missing]
        if self.signature is None:
            self._compute()
        if self.unwritten:
            self._write()

    def _add_glyphs(self, figure: Any) -> None:
        from bokeh.core.properties import value
        from bokeh.models import ColumnDataSource, LegendItem, Line, VArea

        self.sources, self.legend_items = {}, []
        for key, color in self.colors.items():
            for column in self.plot.y:
                band_source = ColumnDataSource(
                    data={"x": [], "lower": [], "upper": []},
                    name=group_source_name(self.plot.id, key, column, "band"),
                )
                mean_source = ColumnDataSource(
                    data={name: [] for name in MEAN_COLUMNS},
                    name=group_source_name(self.plot.id, key, column, "mean"),
                )
                area = figure.add_glyph(
                    band_source,
                    VArea(x="x", y1="lower", y2="upper", fill_color=color, fill_alpha=BAND_ALPHA),
                )
                line = figure.add_glyph(
                    mean_source, Line(x="x", y="mean", line_color=color, line_width=2.5)
                )
                label = key if len(self.plot.y) == 1 else f"{key}: {column}"
                self.legend_items.append(LegendItem(label=value(label), renderers=[area, line]))
                self.sources[(key, column)] = (mean_source, band_source)
        self.unwritten = True

    def tick(self) -> None:
        """After the feed's tick: recompute when the view or the rows changed, and write."""
        if self.figure is None:
            return
        signature = self._signature()
        if signature != self.signature:
            resolved = self.signature is None or signature[:-1] != self.signature[:-1]
            if resolved or time.monotonic() - self.computed_at >= RECOMPUTE_SECONDS:
                self._compute(signature)
        if self.unwritten and self._may_write():
            self._write()
        self._remember_synced()

    def _signature(self) -> tuple[Any, ...]:
        """What the bands depend on: the range asked, width, axis and band, and last the
        rows of every run (the part that changes as rows arrive)."""
        feed = self.feed
        tables = [feed.hub.table(run, self.plot.stream) for run in feed.runs]
        rows = tuple((t.generation, t.next_seq) if t is not None else None for t in tables)
        generations = tuple(r[0] if r else None for r in rows)
        head = (feed.requested, feed._limit(), feed.x_axis, self.band, generations)
        return (*head, rows)

    def _may_write(self) -> bool:
        """Ticks write the sources directly once the browser has them (as the feed does)."""
        document = getattr(self.figure, "document", None)
        if document is None or document.session_context is None:
            return True
        sources = [s for pair in self.sources.values() for s in pair]
        return self.feed.direct and all(
            figure_sent(s) and id(s) in self._synced_before for s in sources
        )

    def _remember_synced(self) -> None:
        sources = [s for pair in self.sources.values() for s in pair]
        self._synced_before = {id(s) for s in sources if figure_sent(s)}

    def _write(self) -> None:
        self.unwritten = False
        frame = self.frame
        for (key, column), (mean_source, band_source) in self.sources.items():
            band = self.bands.get((key, column))
            if band is None or frame is None:
                mean_source.data = {name: [] for name in mean_source.data}
                band_source.data = {"x": [], "lower": [], "upper": []}
                continue
            shown = band.count > 0  # buckets no run has a value in are left out (joined)
            x = self._axis_x(band.x[shown])
            lower, upper = (edge[shown] for edge in band.bounds(self.band))
            mean_source.data = {
                "x": x,
                "bucket": np.flatnonzero(shown),
                "mean": band.mean[shown],
                "min": band.low[shown],
                "max": band.high[shown],
                "std": band.std[shown],
                "count": band.count[shown],
            }
            band_source.data = {"x": x, "lower": lower, "upper": upper}
            tags = [frame.lo, frame.hi, frame.width, self.band]
            if band_source.tags != tags:
                band_source.tags = tags

    # -- computing ------------------------------------------------------------------------
    def _time_axis(self) -> bool:
        return bool(self.feed.x_axis == "wall" or self.feed.x_is_time)

    def _axis_x(self, x: np.ndarray) -> np.ndarray:
        """Bucket centres as the axis draws them (datetimes on a time axis)."""
        if self._time_axis():
            return x.astype("int64").astype("datetime64[ns]")
        return x

    def _scale(self, run: str) -> tuple[float, float]:
        """(offset, scale) of a run's view x: view = axis * scale + offset (time axes in ns)."""
        if self.feed.x_axis == "relative":
            state = self.feed.runs[run]
            table = self.feed.hub.table(run, self.plot.stream)
            if state.origin is None and table is not None:  # as the feed sets it
                state.origin = table.first_arrival()
            return float(state.origin or 0), 1e9
        return 0.0, 1.0

    def _requested(self) -> tuple[float, float] | None:
        """The user's x range in axis units (ns on a datetime axis), None when following."""
        if self.feed.requested is None:
            return None
        lo, hi = self.feed.requested
        return (lo * 1e6, hi * 1e6) if self._time_axis() else (lo, hi)

    def _compute(self, signature: Any = None) -> None:
        """The bands of every group and column over one range at the view's width."""
        feed = self.feed
        self.signature = signature if signature is not None else self._signature()
        self.computed_at = time.monotonic()
        self.unwritten = True
        width, raw_limit = feed._limit()
        x = feed._view_x()
        columns = list(self.plot.y)
        tables = {run: feed.hub.table(run, self.plot.stream) for run in feed.runs}
        tables = {run: table for run, table in tables.items() if table is not None}
        whole: dict[str, View] = {}
        span = self._requested()
        if span is None:  # following: the union of the runs' whole ranges
            ends = []
            for run, table in tables.items():
                view = self._held_view(run, table, width, None, None) or table.view(
                    x, columns, None, None, width, raw_limit
                )
                whole[run] = view
                offset, scale = self._scale(run)
                if np.isfinite(view.lo) and np.isfinite(view.hi):
                    ends += [(view.lo - offset) / scale, (view.hi - offset) / scale]
            if not ends:
                self.bands, self.frame = {}, None
                return
            span = (min(ends), max(ends))
        lo, hi = span
        per_run: dict[str, dict[str, np.ndarray]] = {}
        for run, table in tables.items():
            offset, scale = self._scale(run)
            run_lo, run_hi = lo * scale + offset, hi * scale + offset
            view = whole.get(run)
            if view is None or (view.lo, view.hi) != (run_lo, run_hi):
                view = self._held_view(run, table, width, run_lo, run_hi) or table.view(
                    x, columns, run_lo, run_hi, width, raw_limit
                )
            per_run[run] = {
                column: run_means(view, column, run_lo, run_hi, width) for column in columns
            }
        self.frame = Frame(lo, hi, width)
        self.bands = {}
        for key, runs in self.groups.items():
            for column in columns:
                values = [per_run[run][column] for run in runs if run in per_run]
                self.bands[(key, column)] = aggregate(values, lo, hi, width)

    def _held_view(
        self, run: str, table: Any, width: int, lo: float | None, hi: float | None
    ) -> View | None:
        """The view the feed resolved this tick for `run`, when it answers the same question
        (range, width, every row of the table, per-bucket sums kept): asking the table again
        would cost as much again. None otherwise (or once the feed appended deltas to it)."""
        state = self.feed.runs.get(run)
        held = state.view if state is not None else None
        if held is None or state.appended or held.width != width:
            return None
        if (held.generation, held.next_seq) != (table.generation, table.next_seq):
            return None
        if not held.raw and any(column not in held.stats for column in self.plot.y):
            return None
        if lo is None or hi is None:  # the whole run: the feed must be following too
            return held if self.feed.requested is None else None
        return held if (held.lo, held.hi) == (lo, hi) else None


def run_means(view: View, column: str, lo: float, hi: float, width: int) -> np.ndarray:
    """A run's value in each bucket (the mean of its rows there): from the view's pixel
    sums, or from its rows when the view is raw (every row)."""
    stats = view.stats.get(column)
    if not view.raw and stats is not None and len(stats.count) == width:
        return means_of_sums(stats.count, stats.total)
    line = view.lines.get(column)
    if line is None:
        return np.full(width, np.nan)
    return bucket_means(line.x, line.y, lo, hi, width)


def redraw_lines(controls: Any, options: dict[str, Any]) -> None:
    """Draw every line chart of `controls` again with the grouping `options`."""
    for chart in controls.charts:
        if chart.plot.kind == "line":
            chart.redraw(options)
