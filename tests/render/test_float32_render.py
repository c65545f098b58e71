"""float32 columns on a page: lines (smoothed too), scatter, histogram and crossfiltered
bars draw them as they draw float64, and keep drawing when a float64 value widens them."""

from __future__ import annotations

import numpy as np
import panel as pn

from streamvis.transforms.smoothing import ema

AT = [[0, 0, 1, 1], [0, 1, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1], [2, 0, 1, 1], [2, 1, 1, 1]]
LAYOUT = {
    "plots": [
        {"id": "line", "kind": "line", "stream": "s", "x": "x", "y": "y", "at": AT[0]},
        {"id": "dots", "kind": "scatter", "stream": "s", "x": "x", "y": "y", "at": AT[1]},
        {"id": "hist", "kind": "histogram", "stream": "s", "value": "y", "bins": 4, "at": AT[2]},
        {
            "id": "bars",
            "kind": "bar",
            "stream": "s",
            "by": "tag",
            "value": "y",
            "agg": "sum",
            "crossfilter": "g",
            "at": AT[3],
        },
        {"id": "num", "kind": "number", "stream": "s", "value": "y", "at": AT[4]},
        {"id": "tab", "kind": "table", "stream": "s", "columns": ["x", "y"], "at": AT[5]},
    ],
}


def test_float32_columns_draw_and_keep_drawing_once_widened(render) -> None:
    view = render(LAYOUT)
    x = np.arange(4, dtype=np.float32)
    y = np.array([0.1, np.inf, 0.3, np.nan], dtype=np.float32)  # inf draws as a gap
    view.hub.stream("s", {"x": x, "y": y, "tag": ["a", "b", "a", "b"]})
    view.session.tick()
    assert view.errors() == []
    shown = np.array([0.1, np.nan, 0.3, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(view.column("sv:line:y", "y"), shown)
    np.testing.assert_array_equal(view.column("sv:dots:y", "y"), shown)
    assert view.column("sv:hist:count", "top").sum() == 2  # the two finite values
    bars = view.source("sv:bars:value").data
    summed = dict(zip(bars["category"], bars["value"], strict=True))["a"]
    assert summed == float(np.float32(0.1)) + float(np.float32(0.3))  # summed in float64
    card = next(p for p in view.page.select(pn.pane.HTML) if p.name == "sv-number:num")
    assert ">nan<" in card.object  # the latest y is NaN, shown as such
    assert view.column("sv:tab:table", "y")[1] == np.float32(0.3)  # newest first

    view.hub.stream("s", {"x": 4.0, "y": 0.5, "tag": "a"})  # float64 values widen both columns
    assert view.hub.read("s")["y"].dtype == np.float64
    view.session.tick()
    assert view.errors() == []
    assert view.column("sv:line:y", "y")[-1] == 0.5
    assert view.column("sv:hist:count", "top").sum() == 3
    card = next(p for p in view.page.select(pn.pane.HTML) if p.name == "sv-number:num")
    assert ">0.5<" in card.object


def test_smoothing_a_float32_line(render) -> None:
    plot = {"id": "m", "kind": "line", "stream": "s", "x": "x", "y": "y", "at": AT[0]}
    view = render({"plots": [{**plot, "options": {"smoothing": 0.5}}]})
    y = np.array([1.0, 3.0, np.nan, 2.0], dtype=np.float32)
    view.hub.stream("s", {"x": np.arange(4, dtype=np.float32), "y": y})
    view.session.tick()
    assert view.errors() == []
    np.testing.assert_allclose(view.column("sv:m:y_smoothed", "y_smoothed"), ema(y, 0.5))
