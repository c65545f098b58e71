"""Kind records: a kind is one frozen `Kind`, the validator and the page read only the record,
and the page object holds its session, header and the plots' hook memory itself."""

from __future__ import annotations

import dataclasses
from typing import Any

import panel as pn
import pytest

from streamvis.errors import SpecError
from streamvis.kinds import KINDS
from streamvis.kinds.base import axis_opts
from streamvis.kinds.contract import Kind, PlotMarks
from streamvis.layout import catalogue, fields
from streamvis.layout.spec import load_layout
from streamvis.page.header import Header
from tests.render.conftest import one_plot


def test_every_kind_is_one_frozen_record_and_the_validator_sees_exactly_those() -> None:
    assert all(isinstance(kind, Kind) for kind in KINDS.values())
    assert all(name == kind.name for name, kind in KINDS.items())
    assert dict(catalogue.catalogue()) == KINDS  # same records, same order (error messages)
    with pytest.raises(dataclasses.FrozenInstanceError):
        KINDS["line"].line_controls = False  # type: ignore[misc]
    assert [n for n, k in KINDS.items() if k.comparable] == ["line", "scatter"]
    assert [n for n, k in KINDS.items() if k.line_controls] == ["line"]
    assert [n for n, k in KINDS.items() if not k.streams] == ["markdown"]


def step_build(plot: Any, rows: Any, *, state: Any, marks: PlotMarks) -> Any:
    import holoviews as hv

    def draw(data: Any) -> Any:
        return hv.Curve(data, plot.x, plot.y[0]).opts(interpolation="steps-post")

    return hv.DynamicMap(draw, streams=[rows]).opts(**axis_opts(plot, marks))


STEP = Kind(
    name="step",
    fields={"x": fields.column(required=True), "y": fields.columns(required=True)},
    options=("title",),
    build=step_build,
)


@pytest.fixture
def step_kind(monkeypatch: pytest.MonkeyPatch) -> Kind:
    """The kind of docs/layout.md's 'Adding a kind', registered for one test."""
    monkeypatch.setitem(KINDS, "step", STEP)
    monkeypatch.setitem(catalogue._REGISTRY.entries, "step", STEP)
    return STEP


def test_a_new_kind_is_one_record_checked_and_drawn_like_the_built_in_ones(
    render: Any, step_kind: Kind
) -> None:
    with pytest.raises(SpecError, match=r"plots\.m: 'y' is required for a step plot"):
        load_layout({"plots": [{"id": "m", "kind": "step", "stream": "s", "x": "x",
                                "at": [0, 0, 1, 1]}]})  # fmt: skip
    with pytest.raises(SpecError, match=r"unknown key in step options"):
        load_layout(one_plot(kind="step", options={"logy": True}))
    view = render(one_plot(kind="step"))
    view.hub.stream("s", {"x": [0.0, 1.0, 2.0], "y": [1.0, 3.0, 2.0]})
    view.session.tick()
    assert view.column("sv:m:y", "y").tolist() == [1.0, 1.0, 3.0, 3.0, 2.0]  # drawn as steps
    assert view.model("sv-figure:m").x_range.name == "sv-x:m"  # the shared live hook ran


def test_the_page_is_a_viewer_holding_its_session_header_and_hook_marks(render: Any) -> None:
    view = render(one_plot())
    live = view.live
    assert isinstance(live, pn.viewable.Viewer)
    assert pn.panel(live) is live.view is view.page
    assert live.session is view.session
    assert isinstance(live.header, Header)
    assert live.header.row in live.view.objects
    view.hub.stream("s", {"x": [0.0, 1.0], "y": [1.0, 2.0]})
    view.session.tick()
    figure = view.model("sv-figure:m")
    assert (figure.id, "live") in live.marks["m"].done
    for model in view.root.references():  # nothing of ours is stuck onto Bokeh models
        assert not [name for name in vars(model) if name.startswith(("sv_", "_sv_"))]


def test_the_live_setup_runs_once_per_figure_and_again_for_a_new_one() -> None:
    class Figure:
        def __init__(self, figure_id: str) -> None:
            self.id = figure_id

    marks = PlotMarks()
    first, second = Figure("a"), Figure("b")
    assert marks.first(first, "live")
    assert not marks.first(first, "live")
    assert marks.first(second, "live")
    assert marks.changed(first, "columns", ["x"])
    assert not marks.changed(first, "columns", ["x"])
    assert marks.changed(first, "columns", ["y"])
