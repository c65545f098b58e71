"""Runs compared on one page, `?run=`, and the line controls, rendered into a Bokeh document
without a server: each run draws in its own color under its name, a run that starts
matching joins on the timer, the smoothing slider draws TensorBoard's average over the raw
line and keeps it right while rows stream in, and the x axis select switches to time."""

from __future__ import annotations

import time

import numpy as np
import panel as pn
import pytest
from bokeh.models import ColumnDataSource, GlyphRenderer, Legend

from streamvis.core.hub import Hub
from streamvis.layout.spec import layout_from_dict
from streamvis.page.live import LivePage
from streamvis.transforms.smoothing import PALETTE, RAW_ALPHA, ema
from tests.render.conftest import Rendered, one_plot


def legend_labels(view: Rendered) -> list[str]:
    (legend,) = view.root.select({"type": Legend})
    return [item.label.value for item in legend.items]


def source_names(view: Rendered) -> set[str]:
    return {s.name for s in view.root.select({"type": ColumnDataSource}) if s.name}


def renderer(view: Rendered, name: str) -> GlyphRenderer:
    return next(r for r in view.root.select({"type": GlyphRenderer}) if r.data_source.name == name)


def header_text(view: Rendered) -> str:
    return " ".join(p.object for p in view.page.select(pn.pane.HTML) if "sv-run" in p.css_classes)


def controls(view: Rendered) -> tuple[pn.widgets.FloatSlider, pn.widgets.Select]:
    (slider,) = (w for w in view.page.select(pn.widgets.FloatSlider) if w.label == "smoothing")
    (select,) = (w for w in view.page.select(pn.widgets.Select) if w.label == "x axis")
    return slider, select


def two_runs() -> Hub:
    hub = Hub()
    hub.stream("s", {"x": [0.0, 1.0, 2.0], "y": [1.0, 2.0, 3.0]}, run="a")
    hub.stream("s", {"x": [0.0, 1.0], "y": [10.0, 20.0]}, run="b")
    hub.stream("s", {"x": [0.0], "y": [99.0]}, run="ab")  # "a|b" must not take it
    return hub


def test_compared_runs_draw_in_their_colors_with_the_run_names_in_the_legend(render) -> None:
    layout = one_plot()
    layout["plots"].append(
        {"id": "n", "kind": "number", "stream": "s", "value": "y", "at": [0, 1, 1, 1]}
    )
    view = render(layout, hub=two_runs(), runs="a|b")
    assert view.session.tick() == 0  # the kept rows were drawn when the page was built
    np.testing.assert_array_equal(view.column("sv:m:a/y", "y"), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(view.column("sv:m:b/y", "y"), [10.0, 20.0])
    assert not any(name.startswith("sv:m:ab/") for name in source_names(view))
    assert legend_labels(view) == ["a", "b"]
    assert renderer(view, "sv:m:a/y").glyph.line_color == PALETTE[0]
    assert renderer(view, "sv:m:b/y").glyph.line_color == PALETTE[1]
    assert header_text(view).endswith("runs: a, b</span>")
    # a kind that is not compared shows the first matching run and says so
    assert any("n (run a)" in str(p.object) for p in view.page.select(pn.pane.HTML))


def test_several_y_columns_name_run_and_column(render) -> None:
    hub = Hub()
    for run, scale in (("r1", 1.0), ("r2", 2.0)):
        hub.stream("s", {"x": [0.0, 1.0], "p": [scale, scale], "q": [-scale, -scale]}, run=run)
    view = render(one_plot(y=["p", "q"]), hub=hub, runs="r.")
    view.session.tick()
    assert legend_labels(view) == ["r1: p", "r1: q", "r2: p", "r2: q"]
    np.testing.assert_array_equal(view.column("sv:m:r2/q", "q"), [-2.0, -2.0])
    p_line, q_line = renderer(view, "sv:m:r1/p").glyph, renderer(view, "sv:m:r1/q").glyph
    assert p_line.line_color == q_line.line_color  # one color per run, one dash per column
    assert p_line.line_dash != q_line.line_dash


def test_compared_scatter_colors_points_by_run(render) -> None:
    view = render(one_plot(kind="scatter"), hub=two_runs(), runs="a|b")
    view.session.tick()
    np.testing.assert_array_equal(view.column("sv:m:b/y", "y"), [10.0, 20.0])
    assert legend_labels(view) == ["a", "b"]
    assert renderer(view, "sv:m:b/y").glyph.fill_color == PALETTE[1]


def test_a_run_that_starts_matching_joins_when_the_page_next_looks(render) -> None:
    hub = Hub()
    hub.stream("s", {"x": [0.0], "y": [1.0]}, run="a")
    view = render(one_plot(), hub=hub, runs="a|b")
    page = view.live
    page.session.tick()
    hub.stream("s", {"x": [0.0, 1.0], "y": [5.0, 6.0]}, run="b")
    page._runs_checked = time.monotonic() + 3600  # as if it had just looked, however slow CI
    assert page.rebuild_if_changed() is False  # looked less than a second ago
    page._runs_checked = time.monotonic() - 1.0
    assert page.rebuild_if_changed() is True
    page.session.tick()
    assert page.runs == ["a", "b"]
    np.testing.assert_array_equal(view.column("sv:m:b/y", "y"), [5.0, 6.0])
    assert legend_labels(view) == ["a", "b"]
    assert "runs: a, b" in header_text(view)


def test_bad_pattern_or_no_matching_run_is_said_on_the_page(render) -> None:
    view = render(one_plot(), hub=two_runs(), runs="nomatch")
    notes = [p.object for p in view.page.select(pn.pane.HTML)]
    assert any("no run matches runs=&#x27;nomatch&#x27; yet (runs: a, ab, b)" in n for n in notes)
    broken = render(one_plot(), hub=two_runs(), runs="a(")
    (box,) = (p for p in broken.page.select(pn.pane.Str) if "sv-page-error" in p.css_classes)
    assert "runs='a(' is not a valid regular expression" in box.object
    assert broken.live.session is None


def test_shown_run_draws_its_data_with_the_app_run_layout() -> None:
    hub = two_runs()
    hub.set_layout("a", layout_from_dict(one_plot()))
    page = LivePage(hub, "a", None, shown="b")
    assert page.session is not None
    assert page.session.run == "b"
    page.session.tick()
    (lines,) = page.session.lines.values()  # a line plot draws level-of-detail views
    assert list(lines.runs["b"].buffers["y"].data["y"]) == [10.0, 20.0]
    assert page.shown == "run: b"
    page.close()


@pytest.fixture
def smoothed_page(render) -> Rendered:
    view = render(one_plot())
    view.hub.stream("s", {"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 3.0, np.nan, 2.0]})
    view.session.tick()
    return view


def test_smoothing_slider_draws_the_average_over_the_faint_raw_line(smoothed_page) -> None:
    view = smoothed_page
    slider, select = controls(view)
    assert (slider.value, select.value) == (0.0, "step")
    assert "sv:m:y_smoothed" not in source_names(view)

    slider.value = 0.6
    view.session.tick()  # line plots redraw on the next tick
    raw = [1.0, 3.0, np.nan, 2.0]
    np.testing.assert_allclose(view.column("sv:m:y_smoothed", "y_smoothed"), ema(raw, 0.6))
    np.testing.assert_array_equal(view.column("sv:m:y", "y"), raw)
    assert renderer(view, "sv:m:y").glyph.line_alpha == pytest.approx(RAW_ALPHA)
    assert renderer(view, "sv:m:y_smoothed").glyph.line_alpha == 1.0
    same = renderer(view, "sv:m:y").glyph.line_color
    assert renderer(view, "sv:m:y_smoothed").glyph.line_color == same
    (legend,) = view.root.select({"type": Legend})
    assert [len(item.renderers) for item in legend.items] == [1]  # only the smoothed line

    # rows keep streaming: the average covers them
    view.hub.stream("s", {"x": [4.0, 5.0], "y": [8.0, 0.0]})
    view.session.tick()
    raw += [8.0, 0.0]
    np.testing.assert_allclose(view.column("sv:m:y_smoothed", "y_smoothed"), ema(raw, 0.6))

    # another weight redraws in place; zero goes back to the plain line
    figure = view.model("sv-figure:m")
    slider.value = 0.9
    view.session.tick()  # line plots redraw on the next tick
    np.testing.assert_allclose(view.column("sv:m:y_smoothed", "y_smoothed"), ema(raw, 0.9))
    assert view.model("sv-figure:m") is figure
    slider.value = 0.0
    view.session.tick()  # line plots redraw on the next tick
    assert "sv:m:y_smoothed" not in source_names(view)
    assert renderer(view, "sv:m:y").glyph.line_alpha == 1.0


def test_smoothing_works_while_comparing_runs(render) -> None:
    view = render(one_plot(options={"smoothing": 0.5}), hub=two_runs(), runs="a|b")
    view.session.tick()
    slider, _ = controls(view)
    assert slider.value == 0.5  # the slider starts at the plot's option
    np.testing.assert_allclose(view.column("sv:m:b/y_smoothed", "y_smoothed"), [10.0, 50 / 3])
    assert legend_labels(view) == ["a", "b"]
    slider.value = 0.2
    view.session.tick()  # line plots redraw on the next tick
    np.testing.assert_allclose(
        view.column("sv:m:a/y_smoothed", "y_smoothed"), ema([1.0, 2.0, 3.0], 0.2)
    )


def test_x_axis_select_switches_to_wall_and_relative_time(smoothed_page) -> None:
    view = smoothed_page
    _, select = controls(view)
    times = view.hub.table("default", "s").read(-1, 0, None).times
    select.value = "wall"
    view.session.tick()  # line plots redraw on the next tick
    figure = view.model("sv-figure:m")
    assert figure.xaxis[0].axis_label.text == "wall time (UTC)"  # PlainText: never TeX
    drawn = view.column("sv:m:y", "_wall_time")
    # views carry x as float64: arrival times are exact to well under a microsecond
    np.testing.assert_allclose(
        drawn.astype("datetime64[ns]").astype("int64"), times.astype("int64"), rtol=0, atol=1000
    )
    select.value = "relative"
    view.session.tick()  # line plots redraw on the next tick
    assert view.model("sv-figure:m").xaxis[0].axis_label.text == "relative time (s)"
    np.testing.assert_allclose(view.column("sv:m:y", "_relative"), (times - times[0]) / 1e9)
    select.value = "step"
    view.session.tick()  # line plots redraw on the next tick
    np.testing.assert_array_equal(view.column("sv:m:y", "x"), [0.0, 1.0, 2.0, 3.0])
