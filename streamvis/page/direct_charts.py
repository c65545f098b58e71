"""Crossfilter member charts (ring, pie, row, bar, histogram) written straight into their
Bokeh data sources, skipping HoloViews' render of the whole chart.

A selection change in a group (a click) and new rows both give every member a new small
table; HoloViews would render each member's DynamicMap again from its Buffer (100-500 ms
per chart on a busy 2-core machine). Once HoloViews has drawn a chart and the browser holds
it, the page instead writes the columns HoloViews would have drawn (same names, dtypes,
order) in one `data` assignment per chart, and sets what HoloViews' render would also have
changed: the bars' value range and category order (their axes are HoloViews', not the
browser's) and which glyph alphas map a column (HoloViews maps one only while it varies:
a selection dims the other categories). Anything else (categories appearing or leaving, a
column set HoloViews laid out differently, log axes) goes through HoloViews as before, and
so does every chart until the browser shows it holds it (the rule of page/lines.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from streamvis.kinds import ring
from streamvis.kinds.base import figure_sent
from streamvis.layout.spec import Plot

BAR_KINDS = ("bar", "row")
RING_KINDS = ("ring", "pie")
BAR_COLUMNS = frozenset(("category", "value", "color", "alpha"))
RING_COLUMNS = frozenset((*ring.VDIMS, "xs", "ys", "fill_color"))
HISTOGRAM_COLUMNS = ("top", "left", "right", "count")
# Which glyph alphas HoloViews maps to which column while a chart's alphas vary (and sets
# to the one value while they do not): per glyph of the renderer, property -> column.
BAR_ALPHAS = {
    "glyph": {"fill_alpha": "alpha", "line_alpha": "alpha"},
    "hover_glyph": {"fill_alpha": "alpha", "line_alpha": "alpha"},
    "selection_glyph": {"fill_alpha": "alpha"},
}
RING_ALPHAS = {"glyph": {"fill_alpha": "fill_alpha"}}
PADDING = 0.1  # HoloViews' default padding of a bar chart's value axis


def writable(plot: Plot) -> bool:
    """A chart this module can draw: a crossfilter member of a known kind, linear axes."""
    if not plot.crossfilter or plot.options.get("logx") or plot.options.get("logy"):
        return False
    return plot.kind in BAR_KINDS or plot.kind in RING_KINDS or plot.kind == "histogram"


def bar_columns(table: pd.DataFrame, horizontal: bool) -> dict[str, Any]:
    """What HoloViews' hv.Bars puts in the data source (a row chart lists bottom-up)."""
    shown = table.iloc[::-1] if horizontal else table
    return {
        "category": [str(c) for c in shown["category"]],
        "value": shown["value"].to_numpy(dtype=np.float64),
        "color": [str(c) for c in shown["color"]],
        "alpha": shown["alpha"].to_numpy(dtype=np.float64),
    }


def ring_columns(table: pd.DataFrame, inner: float, alpha: float) -> dict[str, Any]:
    """What HoloViews' hv.Polygons of ring.wedges puts in the data source (multi-polygons:
    one outline per wedge, no holes); `fill_alpha` is HoloViews' copy of a varying alpha."""
    polygons = ring.wedges(table, inner, alpha)
    outlines = [closed(p["x"], p["y"]) for p in polygons]
    data: dict[str, Any] = {
        "xs": [[[xs]] for xs, _ in outlines],
        "ys": [[[ys]] for _, ys in outlines],
    }
    for name in ring.VDIMS:
        values = [p[name] for p in polygons]
        text = name in ("category", "color", "label")
        data[name] = values if text else np.asarray(values, dtype=np.float64)
    data["fill_color"] = list(data["color"])
    data["fill_alpha"] = data["alpha"].copy()
    return data


def closed(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An outline ending where it starts, as HoloViews hands polygons to Bokeh."""
    if len(xs) and (xs[0] != xs[-1] or ys[0] != ys[-1]):
        return np.append(xs, xs[0]), np.append(ys, ys[0])
    return xs, ys


def histogram_columns(table: pd.DataFrame, column: str) -> dict[str, Any]:
    """What HoloViews' hv.Histogram puts in the data source: bin edges, centres, counts."""
    low = table["low"].to_numpy(dtype=np.float64)
    high = table["high"].to_numpy(dtype=np.float64)
    counts = table["count"].to_numpy(dtype=np.float64)
    return {"top": counts, "left": low, "right": high, column: (low + high) / 2, "count": counts}


def listed(value: Any) -> Any:
    """A column as plain (nested) lists. Bokeh sends every NumPy array as a binary buffer of
    its own, two websocket frames each, which the browser takes in one task at a time: the
    ~20 small arrays of a click cost more than their numbers do as JSON text."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list):
        return [listed(item) for item in value]
    return value


def send_columns(source: Any, data: dict[str, Any]) -> None:
    """Replace `source`'s data with `data`, its arrays as lists (`listed`)."""
    source.data = {name: listed(values) for name, values in data.items()}


def value_range(values: np.ndarray) -> tuple[float, float] | None:
    """The value axis HoloViews gives bars: the data's span padded by a tenth, always
    including 0; None when there is nothing finite to span."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None
    low, high = float(finite.min()), float(finite.max())
    pad = PADDING * (high - low)
    start = 0.0 if low >= 0 else min(low - pad, 0.0)
    end = 0.0 if high <= 0 else max(high + pad, 0.0)
    return (start, end) if end > start else None


def uniform(values: np.ndarray) -> float | None:
    """The one value of `values`, or None when they differ."""
    if len(values) and bool((values == values[0]).all()):
        return float(values[0])
    return None


class DirectChart:
    """One crossfilter member chart of a page: the Bokeh models HoloViews made for it and
    whether the browser holds them; `write` draws a new table into them or says it cannot.
    `tell_shown` receives the categories in drawn order (what a tap's index refers to)."""

    def __init__(self, plot: Plot, tell_shown: Callable[[list[str]], None]) -> None:
        self.plot = plot
        self.tell_shown = tell_shown
        self.figure: Any = None
        self.source: Any = None
        self.renderer: Any = None
        # data sources the browser is known to hold (its width report of their figure)
        self.confirmed: set[int] = set()
        self._synced_before: set[int] = set()  # models sent before this callback (ids)
        self.writes = 0  # tables drawn here rather than by HoloViews (tests and benches)

    # -- pairing with what HoloViews drew --------------------------------------------------
    def rendered(self, hv_plot: Any) -> None:
        """A render of the chart (a hook): take its figure, data source and renderer, and
        listen to a new figure's width reports."""
        figure = hv_plot.handles.get("plot")
        self.source = hv_plot.handles.get("source")
        self.renderer = hv_plot.handles.get("glyph_renderer")
        if figure is not None and figure is not self.figure:
            self.figure = figure
            figure.on_change("inner_width", lambda _a, _o, new: self._on_width(new, figure))

    def _on_width(self, new: Any, figure: Any) -> None:
        """The browser laid `figure` out: it holds the figure and the source it draws now.
        Only the current figure's word counts (page/lines.py's rule)."""
        if isinstance(new, int) and new > 0 and figure is self.figure and self._draws_source():
            self.confirmed.add(id(self.source))

    def _draws_source(self) -> bool:
        renderers = getattr(self.figure, "renderers", [])
        return self.renderer in renderers and self.renderer.data_source is self.source

    def _served(self) -> bool:
        document = getattr(self.figure, "document", None)
        return document is not None and document.session_context is not None

    def ready(self) -> bool:
        """The chart may be written directly: HoloViews drew it and, on a served page, the
        browser confirmed its source, which was sent before this callback."""
        if self.source is None or self.renderer is None or not self._draws_source():
            return False
        if not self._served():
            return True
        return id(self.source) in self.confirmed and id(self.source) in self._synced_before

    def remember_synced(self) -> None:
        """At a callback's start: the models Bokeh counts as sent by then (at an earlier
        callback's end) may be written in this one."""
        models = (self.figure, self.source)
        self._synced_before = {id(m) for m in models if m is not None and figure_sent(m)}

    # -- drawing -----------------------------------------------------------------------
    def write(self, table: pd.DataFrame) -> bool:
        """Draw `table` (the member's state table) into the chart; False when the chart
        must go through HoloViews instead (not ready, or the shape changed)."""
        if not self.ready():
            return False
        kind = self.plot.kind
        if kind in BAR_KINDS:
            return self._write_bars(table, horizontal=kind == "row")
        if kind in RING_KINDS:
            return self._write_ring(table)
        return self._write_histogram(table)

    def _same_categories(self, categories: list[str]) -> bool:
        drawn = self.source.data.get("category")
        return drawn is not None and sorted(map(str, drawn)) == sorted(categories)

    def _write_bars(self, table: pd.DataFrame, horizontal: bool) -> bool:
        data = bar_columns(table, horizontal)
        span = value_range(data["value"])
        if set(self.source.data) != BAR_COLUMNS or span is None:
            return False
        if not self._same_categories(data["category"]):
            return False
        factors, values = (
            (self.figure.y_range, self.figure.x_range)
            if horizontal
            else (self.figure.x_range, self.figure.y_range)
        )
        if not hasattr(factors, "factors") or not hasattr(values, "reset_end"):
            return False
        self._map_alphas(BAR_ALPHAS, data["alpha"])
        send_columns(self.source, data)
        if list(factors.factors) != data["category"]:
            factors.factors = list(data["category"])
        start, end = span
        if (values.start, values.end) != (start, end):
            values.update(start=start, end=end, reset_start=start, reset_end=end)
        return self._written(data["category"])

    def _write_ring(self, table: pd.DataFrame) -> bool:
        inner = float(self.plot.get("inner_radius"))
        data = ring_columns(table, inner, float(self.plot.options.get("alpha", 0.9)))
        if set(self.source.data) - {"fill_alpha"} != RING_COLUMNS:
            return False
        if not self._same_categories(data["category"]):
            return False
        if uniform(data["alpha"]) is not None:
            del data["fill_alpha"]  # HoloViews sets the glyph's one alpha instead
        self._map_alphas(RING_ALPHAS, data["alpha"])
        send_columns(self.source, data)
        return self._written(data["category"])

    def _write_histogram(self, table: pd.DataFrame) -> bool:
        column = self.plot.get("value")
        data = histogram_columns(table, column)
        if set(self.source.data) != {*HISTOGRAM_COLUMNS, column}:
            return False
        if len(self.source.data["top"]) != len(data["top"]):
            return False
        send_columns(self.source, data)
        return self._written(None)

    def _written(self, shown: list[str] | None) -> bool:
        if shown is not None:
            self.tell_shown(shown)
        self.writes += 1
        return True

    def _map_alphas(self, mapping: dict[str, dict[str, str]], alphas: np.ndarray) -> None:
        """Set each mapped glyph alpha as HoloViews would for these alphas: the one value
        while they are all equal, else the column holding them."""
        from bokeh.core.properties import field

        one = uniform(alphas)
        for glyph_name, properties in mapping.items():
            glyph = getattr(self.renderer, glyph_name, None)
            if glyph is None:
                continue
            for name, column in properties.items():
                current = getattr(glyph, name)
                if one is not None:
                    if not (isinstance(current, int | float) and math.isclose(current, one)):
                        setattr(glyph, name, one)
                elif getattr(current, "field", None) != column:
                    setattr(glyph, name, field(column))


def hold_table(buffer: Any, table: pd.DataFrame) -> None:
    """After a direct write: the chart's Buffer holds the drawn table without an event, its
    count moved so that a later send through HoloViews replaces the data source in full
    (a render for another reason, a resize or a rebuilt figure, draws the current table)."""
    import param

    with param.parameterized.edit_constant(buffer):
        buffer.data = table
    buffer._count += 2
