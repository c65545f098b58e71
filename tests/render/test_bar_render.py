"""bar and row charts: exact aggregates over every kept row, folded in incrementally."""

from __future__ import annotations

import numpy as np
import pytest

from streamvis.errors import SpecError
from streamvis.layout.spec import load_layout


def bars(kind: str = "bar", **fields: object) -> dict[str, object]:
    plot = {"id": "b", "kind": kind, "stream": "p", "by": "who", "at": [0, 0, 1, 1], **fields}
    return {"plots": [plot]}


def drawn(view) -> dict[str, float]:
    source = view.source("sv:b:value")
    return dict(zip(source.data["category"], source.data["value"], strict=True))


def test_sums_are_exact_over_more_rows_than_a_plot_keeps(render) -> None:
    view = render(bars(value="spent", agg="sum", options={"title": "t"}))
    who = np.array(list("abc") * 5000)  # 15,000 rows: more than the default 10,000 points
    view.hub.stream("p", {"who": who, "spent": np.ones(15_000)})
    view.session.tick()
    assert drawn(view) == {"a": 5000.0, "b": 5000.0, "c": 5000.0}
    view.hub.stream("p", {"who": "a", "spent": 2.5})
    view.session.tick()
    assert drawn(view)["a"] == 5002.5


def test_only_new_rows_are_folded_in(render) -> None:
    view = render(bars())
    view.hub.stream("p", {"who": ["x", "y", "x"]})
    view.session.tick()
    state = view.session.feeds["p"].targets[0].state
    seen = []
    original = state.groups.add
    state.groups.add = lambda batch: (seen.append(len(batch["who"])), original(batch))[1]
    view.hub.stream("p", {"who": ["y", "z"]})
    view.session.tick()
    assert seen == [2]
    assert drawn(view) == {"x": 2.0, "y": 2.0, "z": 1.0}


def test_replace_starts_the_aggregate_over(render) -> None:
    view = render(bars())
    view.hub.stream("p", {"who": ["x", "x"]})
    view.session.tick()
    view.hub.stream("p", {"who": ["q"]}, mode="replace")
    view.session.tick()
    assert drawn(view) == {"q": 1.0}


def test_colors_stay_with_their_category_as_new_ones_appear(render) -> None:
    view = render(bars(sort="value"))
    view.hub.stream("p", {"who": ["a", "b"]})
    view.session.tick()
    before = dict(
        zip(
            view.source("sv:b:value").data["category"],
            view.source("sv:b:value").data["color"],
            strict=True,
        )
    )
    view.hub.stream("p", {"who": ["c", "c", "c"]})  # a new category that sorts first
    view.session.tick()
    after = dict(
        zip(
            view.source("sv:b:value").data["category"],
            view.source("sv:b:value").data["color"],
            strict=True,
        )
    )
    assert after["a"] == before["a"]
    assert after["b"] == before["b"]
    assert len(set(after.values())) == 3


def test_row_chart_puts_the_largest_on_top_and_waits_politely(render) -> None:
    view = render(bars(kind="row"))
    assert view.model("sv-waiting:b").visible is True
    view.hub.stream("p", {"who": ["small", "big", "big", "big", "mid", "mid"]})
    view.session.tick()
    assert view.model("sv-waiting:b").visible is False
    # rows are laid out bottom-up, so the source runs from the smallest to the largest
    assert list(view.source("sv:b:value").data["category"]) == ["small", "mid", "big"]


def test_bar_fields_are_validated() -> None:
    with pytest.raises(
        SpecError,
        match=r"plots\.b\.agg: must be one of count, sum, mean, min, "
        r"max, not 'summ'\. Did you mean 'sum'\?",
    ):
        load_layout(bars(agg="summ", value="v"))
    with pytest.raises(SpecError, match=r"plots\.b\.agg: 'sum' needs a 'value' column"):
        load_layout(bars(agg="sum"))
    with pytest.raises(SpecError, match=r"plots\.b: 'by' is required for a row plot"):
        load_layout({"plots": [{"id": "b", "kind": "row", "stream": "p", "at": [0, 0, 1, 1]}]})


def test_hover_shows_the_category_and_value_only(render) -> None:
    from bokeh.models import HoverTool

    view = render(bars(value="spent", agg="sum"))
    view.hub.stream("p", {"who": ["a"], "spent": [1.0]})
    view.session.tick()
    (hover,) = view.root.select({"type": HoverTool})
    assert hover.tooltips == [("who", "@category"), ("sum of spent", "@value")]
