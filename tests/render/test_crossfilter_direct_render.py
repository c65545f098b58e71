"""Crossfilter member charts drawn straight into their data sources (page/direct_charts.py):
what they hold is what HoloViews would have drawn, a new shape still goes through
HoloViews, and a served chart waits for the browser's word before it is written."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from streamvis.core.hub import Hub
from streamvis.transforms.crossfilter import Selection

CHARTS = ("by_year", "by_name", "pay", "spent")
ALPHAS = ("fill_alpha", "line_alpha")
LAYOUT = {
    "plots": [
        {"id": "by_year", "kind": "ring", "stream": "p", "by": "Year", "value": "Spent",
         "agg": "sum", "sort": "name", "crossfilter": "shop", "at": [0, 0, 1, 1]},
        {"id": "by_name", "kind": "row", "stream": "p", "by": "Name", "value": "Spent",
         "agg": "sum", "crossfilter": "shop", "at": [0, 1, 1, 1]},
        {"id": "pay", "kind": "bar", "stream": "p", "by": "payType", "crossfilter": "shop",
         "at": [1, 0, 1, 1]},
        {"id": "spent", "kind": "histogram", "stream": "p", "value": "Spent", "bins": 20,
         "crossfilter": "shop", "at": [1, 1, 1, 1]},
    ]
}  # fmt: skip


def purchases(rows: int, seed: int, names: tuple[str, ...] = ("Ben", "Aziz", "Vijay")) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "Year": rng.integers(2012, 2016, rows),
        "Name": np.array(names, dtype=object)[rng.integers(0, len(names), rows)],
        "payType": np.array(["cash", "visa", "tab"], dtype=object)[rng.integers(0, 3, rows)],
        "Spent": rng.integers(10, 601, rows).astype(float),
    }


def targets(view) -> dict[str, Any]:
    return {t.plot.id: t for feed in view.session.feeds.values() for t in feed.targets}


def drawn(view) -> dict[str, Any]:
    """Per chart: its data source's columns, its ranges and its glyphs' alphas, as plain
    values; a column no glyph reads (HoloViews leaves a stale `fill_alpha`) is left out."""
    out: dict[str, Any] = {}
    for plot_id, target in targets(view).items():
        figure = view.model(f"sv-figure:{plot_id}")
        renderer = figure.renderers[0]
        glyphs = {
            name: {p: str(getattr(getattr(renderer, name), p)) for p in ALPHAS}
            for name in ("glyph", "hover_glyph", "selection_glyph", "nonselection_glyph")
            if getattr(renderer, name) is not None
        }
        data = dict(renderer.data_source.data)
        if "Field" not in glyphs["glyph"]["fill_alpha"] and plot_id == "by_year":
            data.pop("fill_alpha", None)
        columns = {
            name: repr([np.asarray(v).tolist() for v in values])
            if name in ("xs", "ys")
            else repr(np.asarray(values).tolist())
            for name, values in data.items()
        }
        ranges = [
            [str(f) for f in r.factors] if hasattr(r, "factors") else (r.start, r.end)
            for r in (figure.x_range, figure.y_range)
        ]
        out[plot_id] = (columns, ranges, glyphs, renderer.data_source.id, figure.id)
        assert target.state is not None
    return out


def name_colours(view) -> dict[str, str]:
    data = view.source("sv:by_name:value").data
    return dict(zip(data["category"], data["color"], strict=True))


def writes(view) -> dict[str, int]:
    return {plot_id: t.direct.writes for plot_id, t in targets(view).items()}


@pytest.fixture
def pages(render):
    """Two pages of one hub: `holoviews` draws every change through HoloViews, `direct`
    the way pages do."""
    hub = Hub()
    hub.stream("p", purchases(3_000, seed=1))
    holoviews, direct = render(LAYOUT, hub=hub), render(LAYOUT, hub=hub)
    for target in targets(holoviews).values():
        target.direct = None
    for view in (holoviews, direct):
        view.session.tick()
    return hub, holoviews, direct


def both(pages, change) -> None:
    _, holoviews, direct = pages
    for view in (holoviews, direct):
        change(view.session.crossfilters[("p", "shop")])


def test_direct_writes_hold_what_holoviews_draws(pages) -> None:
    hub, holoviews, direct = pages
    ids = {plot_id: found[3:] for plot_id, found in drawn(direct).items()}
    assert writes(direct) == dict.fromkeys(CHARTS, 0)  # the first draw is HoloViews'
    steps = [
        lambda group: group.select("by_year", Selection("Year", frozenset({"2014"}))),
        lambda group: group.select("pay", Selection("payType", frozenset({"visa", "tab"}))),
        lambda group: group.select("by_year", None),
        lambda group: group.reset(),
    ]
    for count, step in enumerate(steps, start=1):
        both(pages, step)
        assert writes(direct) == dict.fromkeys(CHARTS, count)
        want, got = drawn(holoviews), drawn(direct)
        for plot_id in CHARTS:
            assert got[plot_id][:3] == want[plot_id][:3], (count, plot_id)
            assert got[plot_id][3:] == ids[plot_id]  # the same data source and figure
    # rows arriving under a filter: drawn directly too, still what HoloViews draws
    both(pages, lambda group: group.select("by_year", Selection("Year", frozenset({"2013"}))))
    hub.stream("p", purchases(500, seed=2))
    for view in (holoviews, direct):
        view.session.tick()
    assert writes(direct) == dict.fromkeys(CHARTS, 6)
    want, got = drawn(holoviews), drawn(direct)
    assert {k: v[:3] for k, v in got.items()} == {k: v[:3] for k, v in want.items()}


def test_a_new_category_goes_through_holoviews_and_colours_hold(pages) -> None:
    hub, _, direct = pages
    both(pages, lambda group: group.select("pay", Selection("payType", frozenset({"cash"}))))
    before = writes(direct)
    colours = name_colours(direct)
    hub.stream("p", purchases(200, seed=3, names=("Jarrod",)))
    direct.session.tick()
    after = writes(direct)
    assert after["by_name"] == before["by_name"]  # a new category: HoloViews drew it
    assert after["pay"] == before["pay"] + 1  # no new pay type: written directly
    shown = name_colours(direct)
    assert set(shown) == {"Ben", "Aziz", "Vijay", "Jarrod"}
    assert {name: shown[name] for name in colours} == colours
    # the next change is direct again, the new category included
    both(pages, lambda group: group.select("pay", None))
    assert writes(direct)["by_name"] == after["by_name"] + 1


def test_a_served_chart_waits_for_the_browsers_word(pages, monkeypatch) -> None:
    _, _, direct = pages
    chart = targets(direct)["pay"].direct
    monkeypatch.setattr(chart, "_served", lambda: True)
    assert not chart.ready()
    chart._on_width(0, chart.figure)  # not laid out yet
    chart._on_width(640, object())  # a figure it no longer draws
    chart.remember_synced()
    assert not chart.ready()
    chart._on_width(640, chart.figure)
    assert chart.ready()
