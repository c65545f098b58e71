"""Crossfilter wiring in a rendered page: taps, dimming, reset buttons, independent sessions."""

from __future__ import annotations

import panel as pn

from streamvis.core.hub import Hub
from streamvis.page.header import DISABLED_LOOK, LOOK_NAME

LAYOUT = {
    "plots": [
        {
            "id": "years",
            "kind": "bar",
            "stream": "p",
            "by": "year",
            "value": "spent",
            "agg": "sum",
            "sort": "name",
            "crossfilter": "shop",
            "at": [0, 0, 1, 1],
        },
        {
            "id": "names",
            "kind": "row",
            "stream": "p",
            "by": "name",
            "value": "spent",
            "agg": "sum",
            "crossfilter": "shop",
            "at": [0, 1, 1, 1],
        },
        {
            "id": "recent",
            "kind": "table",
            "stream": "p",
            "columns": ["name", "year"],
            "rows": 10,
            "crossfilter": "shop",
            "at": [1, 0, 1, 2],
        },
    ]
}
ROWS = {
    "year": ["2012", "2014", "2014", "2015"],
    "name": ["Ben", "Ben", "Vijay", "Aziz"],
    "spent": [330.0, 440.0, 555.0, 100.0],
}


def state(view, plot_id: str):
    return next(t.state for t in view.session.feeds["p"].targets if t.plot.id == plot_id)


def values(view, plot_id: str) -> dict[str, float]:
    data = view.source(f"sv:{plot_id}:value").data
    return dict(zip(data["category"], data["value"], strict=True))


def button(view, css: str):
    return next(b for b in view.page.select(pn.widgets.Button) if css in b.css_classes)


def looks_disabled(view, css: str) -> bool:
    """What the browser is told of a reset button: its model's own `disabled` never changes
    (a re-render lays the page out again); its style sheet's text carries the state."""
    ((model, _),) = button(view, css)._models.values()
    assert model.disabled is False
    (look,) = [s for s in model.stylesheets if getattr(s, "name", None) == LOOK_NAME]
    return look.css == DISABLED_LOOK


def tap(view, plot_id: str, category: str) -> None:
    member = state(view, plot_id)
    member.tap(member.shown.index(category))


def test_tapping_a_bar_filters_the_rest_of_the_group(render) -> None:
    view = render(LAYOUT)
    view.hub.stream("p", ROWS)
    view.session.tick()
    tap(view, "years", "2014")
    assert values(view, "names") == {"Ben": 440.0, "Vijay": 555.0}
    assert values(view, "years") == {"2012": 330.0, "2014": 995.0, "2015": 100.0}
    alpha = dict(
        zip(
            view.source("sv:years:value").data["category"],
            view.source("sv:years:value").data["alpha"],
            strict=True,
        )
    )
    assert alpha == {"2012": 0.25, "2014": 1.0, "2015": 0.25}
    assert set(view.column("sv:recent:table", "year")) == {"2014"}
    assert button(view, "sv-reset").disabled is False
    assert button(view, "sv-reset-group").disabled is False
    assert not looks_disabled(view, "sv-reset")
    assert not looks_disabled(view, "sv-reset-group")

    # new rows arrive under the filter
    view.hub.stream("p", {"year": ["2014", "2012"], "name": ["Zoe", "Zoe"], "spent": [1.0, 2.0]})
    view.session.tick()
    assert values(view, "names") == {"Ben": 440.0, "Vijay": 555.0, "Zoe": 1.0}

    # tapping again unselects; the reset buttons are disabled (they keep their place)
    tap(view, "years", "2014")
    assert values(view, "names") == {"Ben": 770.0, "Vijay": 555.0, "Aziz": 100.0, "Zoe": 3.0}
    assert button(view, "sv-reset").disabled is True
    assert looks_disabled(view, "sv-reset")
    assert looks_disabled(view, "sv-reset-group")


def test_reset_buttons_clear_one_chart_or_the_group(render) -> None:
    view = render(LAYOUT)
    view.hub.stream("p", ROWS)
    view.session.tick()
    tap(view, "years", "2012")
    tap(view, "names", "Ben")
    assert values(view, "years") == {"2012": 330.0, "2014": 440.0}
    next(b for b in view.page.select(pn.widgets.Button) if b.label == "reset names").clicks += 1
    assert values(view, "years") == {"2012": 330.0, "2014": 995.0, "2015": 100.0}
    button(view, "sv-reset-group").clicks += 1
    assert values(view, "names") == {"Ben": 770.0, "Vijay": 555.0, "Aziz": 100.0}


def test_two_sessions_filter_independently(render) -> None:
    hub = Hub()
    first, second = render(LAYOUT, hub=hub), render(LAYOUT, hub=hub)
    hub.stream("p", ROWS)
    first.session.tick()
    second.session.tick()
    tap(first, "years", "2015")
    assert values(first, "names") == {"Aziz": 100.0}
    assert values(second, "names") == {"Ben": 770.0, "Vijay": 555.0, "Aziz": 100.0}


SCATTER_GROUP = {
    "plots": [
        {
            "id": "cloud",
            "kind": "scatter",
            "stream": "q",
            "x": "x",
            "y": "y",
            "crossfilter": "g",
            "at": [0, 0, 1, 1],
        },
        {
            "id": "kinds",
            "kind": "bar",
            "stream": "q",
            "by": "kind",
            "crossfilter": "g",
            "at": [0, 1, 1, 1],
        },
        {
            "id": "spread",
            "kind": "histogram",
            "stream": "q",
            "value": "x",
            "bins": 4,
            "crossfilter": "g",
            "at": [1, 0, 1, 2],
        },
    ]
}
POINTS = {
    "x": [0.0, 1.0, 2.0, 3.0, 4.0],
    "y": [0.0, 1.0, 2.0, 3.0, 4.0],
    "kind": ["a", "a", "b", "b", "c"],
}


def test_a_box_on_the_scatter_filters_the_bars(render) -> None:
    view = render(SCATTER_GROUP)
    view.hub.stream("q", POINTS)
    view.session.tick()
    cloud = next(t.state for t in view.session.feeds["q"].targets if t.plot.id == "cloud")
    cloud.select_range([("x", 0.5, 3.5), ("y", -1.0, 2.5)])  # x in 1..3 and y in 0..2
    assert values(view, "kinds") == {"a": 1.0, "b": 1.0}
    assert len(view.column("sv:cloud:y", "x")) == 5  # the box's own chart keeps every point
    assert view.column("sv:spread:count", "top").sum() == 2
    button(view, "sv-reset-group").clicks += 1
    assert values(view, "kinds") == {"a": 2.0, "b": 2.0, "c": 1.0}


def test_an_x_range_on_the_histogram_filters_the_scatter(render) -> None:
    view = render(SCATTER_GROUP)
    view.hub.stream("q", POINTS)
    view.session.tick()
    spread = next(t.state for t in view.session.feeds["q"].targets if t.plot.id == "spread")
    spread.select_range([("x", 3.0, 10.0)])
    assert sorted(view.column("sv:cloud:y", "x")) == [3.0, 4.0]
    assert values(view, "kinds") == {"b": 1.0, "c": 1.0}
