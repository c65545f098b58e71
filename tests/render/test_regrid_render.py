"""A rendered page following a run's layout re-arranges in place when the layout changes:
kept plots keep their Bokeh models and crossfilter selections, removed plots leave (with
their selections), new plots start with the stream's history; a failed rebuild is retried."""

from __future__ import annotations

from typing import Any

import pytest

from streamvis.core.hub import Hub
from streamvis.layout.spec import layout_from_dict
from streamvis.page.live import LivePage

RUN = "r"
ROWS = {
    "year": ["2012", "2014", "2014", "2015"],
    "name": ["Ben", "Ben", "Vijay", "Aziz"],
    "spent": [330.0, 440.0, 555.0, 100.0],
}
YEARS = {"id": "years", "kind": "bar", "stream": "p", "by": "year", "value": "spent",
         "agg": "sum", "sort": "name", "crossfilter": "shop"}  # fmt: skip
NAMES = {"id": "names", "kind": "row", "stream": "p", "by": "name", "value": "spent",
         "agg": "sum", "crossfilter": "shop"}  # fmt: skip
RECENT = {"id": "recent", "kind": "table", "stream": "p", "columns": ["name", "year"],
          "rows": 10, "crossfilter": "shop"}  # fmt: skip
SPENT = {"id": "spent", "kind": "line", "stream": "p", "x": "spent", "y": "spent"}


def layout(*placed: tuple[dict[str, Any], list[int]]) -> Any:
    return layout_from_dict({"plots": [{**plot, "at": at} for plot, at in placed]})


def values(view: Any, plot_id: str) -> dict[str, float]:
    data = view.source(f"sv:{plot_id}:value").data
    return dict(zip(data["category"], data["value"], strict=True))


def tap(view: Any, plot_id: str, category: str) -> None:
    member = next(
        t.state for f in view.session.feeds.values() for t in f.targets if t.plot.id == plot_id
    )
    member.tap(member.shown.index(category))


def named(view: Any, name: str) -> list[Any]:
    return list(view.root.select({"name": name}))


def test_a_layout_change_keeps_unchanged_plots_and_their_selection(render) -> None:
    hub = Hub()
    hub.set_layout(
        RUN, layout((YEARS, [0, 0, 1, 1]), (NAMES, [0, 1, 1, 1]), (RECENT, [1, 0, 1, 2]))
    )
    hub.stream("p", ROWS, run=RUN)
    view = render(None, hub=hub, run=RUN)
    view.session.tick()
    tap(view, "years", "2014")
    figure = view.model("sv-figure:names")
    assert values(view, "names") == {"Ben": 440.0, "Vijay": 555.0}

    # names and years swap places, recent goes, spent comes
    hub.set_layout(
        RUN, layout((NAMES, [0, 0, 1, 1]), (YEARS, [0, 1, 1, 1]), (SPENT, [1, 0, 1, 2]))
    )
    assert view.live.rebuild_if_changed() is True
    assert view.model("sv-figure:names") is figure  # the same figure: zoom and view kept
    assert values(view, "names") == {"Ben": 440.0, "Vijay": 555.0}  # the selection holds
    assert named(view, "sv-figure:recent") == []
    assert sorted(view.column("sv:spent:spent", "spent")) == sorted(ROWS["spent"])  # history
    grid = view.live.grid.view.objects
    assert grid[(0, 0, 1, 1)] is view.live.grid.cells["names"][1]
    assert grid[(1, 0, 2, 2)] is view.live.grid.cells["spent"][1]

    # new rows reach kept and new plots, once each
    hub.stream("p", {"year": ["2014"], "name": ["Zoe"], "spent": [1.0]}, run=RUN)
    view.session.tick()
    assert values(view, "names") == {"Ben": 440.0, "Vijay": 555.0, "Zoe": 1.0}
    assert len(view.column("sv:spent:spent", "spent")) == 5

    # the plot holding the selection goes: its filter goes with it
    hub.set_layout(RUN, layout((NAMES, [0, 0, 1, 1])))
    assert view.live.rebuild_if_changed() is True
    assert view.model("sv-figure:names") is figure
    assert values(view, "names") == {"Ben": 770.0, "Vijay": 555.0, "Aziz": 100.0, "Zoe": 1.0}


def test_a_failed_rebuild_is_retried(render, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = Hub()
    hub.set_layout(RUN, layout((NAMES, [0, 0, 1, 1])))
    view = render(None, hub=hub, run=RUN)
    page = view.live
    hub.set_layout(RUN, layout((NAMES, [0, 0, 1, 1]), (YEARS, [0, 1, 1, 1])))
    failures = iter([RuntimeError("the page could not be drawn")])
    original = LivePage._rearrange

    def fails_once(self: LivePage, new: Any) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        original(self, new)

    monkeypatch.setattr(LivePage, "_rearrange", fails_once)
    assert page.rebuild_if_changed() is False
    page._retry_at = 0.0  # the retry's second has passed
    assert page.rebuild_if_changed() is True  # not recorded as done: built again
    assert set(page.grid.cells) == {"names", "years"}


def test_the_timer_starts_even_when_the_first_build_fails(
    render, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub()
    view = render(None, hub=hub, run=RUN)
    page = view.live
    hub.set_layout(RUN, layout((NAMES, [0, 0, 1, 1])))
    started: list[bool] = []
    monkeypatch.setattr(page, "_schedule", lambda: started.append(True))

    def broken(_layout: Any) -> None:
        raise RuntimeError("the page could not be drawn")

    monkeypatch.setattr(page, "_build", broken)
    page._begin()
    assert started == [True]
