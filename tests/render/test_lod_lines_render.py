"""Line plots drawn from level-of-detail views, in a Bokeh document without a browser: the
whole run at the plot's width, a zoom answered with the raw rows of its range in the next
tick, quick zooms coalesced into one answer, the user's range kept while rows arrive, reset
back to following, and the note saying what is drawn."""

from __future__ import annotations

import numpy as np
from bokeh.events import RangesUpdate, Reset

from streamvis.core.lod import pixel_min_max
from tests.render.conftest import Rendered, one_plot  # noqa: F401

ROWS = 20_000


def signal(steps: np.ndarray) -> np.ndarray:
    return np.sin(steps / 50.0) + (steps % 7) / 10.0


def drawn(view: Rendered, name: str = "sv:m:y") -> tuple[np.ndarray, np.ndarray]:
    return view.column(name, "x").astype(float), view.column(name, "y").astype(float)


def zoom(view: Rendered, x0: float, x1: float) -> None:
    figure = view.model("sv-figure:m")
    figure._trigger_event(RangesUpdate(figure, x0=x0, x1=x1, y0=-2.0, y1=2.0))


def test_the_whole_run_at_the_plot_width_then_raw_rows_of_a_zoom(render) -> None:
    view = render(one_plot())
    lines = view.session.lines["m"]
    lines.width = 400  # what the browser reports as the plot's inner width
    steps = np.arange(ROWS)
    view.hub.stream("s", {"x": steps, "y": signal(steps)})
    view.session.tick()

    x, y = drawn(view)
    assert len(x) <= 4 * 400
    assert x[0] == 0
    assert x[-1] == ROWS - 1
    low, high = pixel_min_max_of(x, y, 0, ROWS - 1, 400)
    want_low, want_high = pixel_min_max_of(steps * 1.0, signal(steps), 0, ROWS - 1, 400)
    np.testing.assert_array_equal(low, want_low)  # the same picture as every row
    np.testing.assert_array_equal(high, want_high)
    assert view.model("sv-lod:m").text == f"{ROWS:,} rows, {len(x):,} drawn"

    zoom(view, 5000.0, 5600.0)
    view.session.tick()
    x, y = drawn(view)
    assert view.session.lines["m"].following is False
    np.testing.assert_array_equal(x, np.arange(4999, 5602))  # a row of context each side
    np.testing.assert_array_equal(y, signal(np.arange(4999, 5602)))
    assert view.model("sv-lod:m").text == "601 rows (raw)"


def pixel_min_max_of(
    x: np.ndarray, y: np.ndarray, lo: float, hi: float, width: int
) -> tuple[np.ndarray, np.ndarray]:
    from streamvis.core.lod import Line

    return pixel_min_max(Line(x, y), lo, hi, width)


def test_quick_zooms_are_answered_once_with_the_latest(render, monkeypatch) -> None:
    view = render(one_plot())
    steps = np.arange(ROWS)
    view.hub.stream("s", {"x": steps, "y": signal(steps)})
    view.session.tick()
    table = view.hub.table("default", "s")
    asked = []
    real = table.view
    monkeypatch.setattr(table, "view", lambda *a, **k: asked.append(a[2:4]) or real(*a, **k))

    for start in range(100, 1100, 100):  # ten wheel steps before the next tick
        zoom(view, float(start), float(start + 500))
    view.session.tick()
    assert asked == [(1000.0, 1500.0)]
    x, _ = drawn(view)
    assert x[1] == 1000
    assert x[-2] == 1500


def test_the_range_stays_while_rows_arrive_and_reset_follows_again(render) -> None:
    view = render(one_plot())
    lines = view.session.lines["m"]
    lines.width = 100
    steps = np.arange(ROWS)
    view.hub.stream("s", {"x": steps, "y": signal(steps)})
    view.session.tick()
    zoom(view, 100.0, 200.0)
    view.session.tick()
    assert lines.following is False

    more = np.arange(ROWS, ROWS + 50)  # new rows still arrive as deltas (the live edge)
    view.hub.stream("s", {"x": more, "y": signal(more)})
    view.forget()
    view.session.tick()
    assert [(name, rows) for name, rows, _ in view.streamed] == [("sv:m:y", 50)]
    x, _ = drawn(view)
    assert x[0] == 99
    assert x[-1] == ROWS + 49

    later = np.arange(ROWS + 50, ROWS + 500)  # more than a width of them: resolved again
    view.hub.stream("s", {"x": later, "y": signal(later)})
    view.session.tick()
    x, _ = drawn(view)
    np.testing.assert_array_equal(x, np.arange(99, 202))  # the user's range, raw
    assert lines.following is False

    figure = view.model("sv-figure:m")
    figure._trigger_event(Reset(figure))
    view.session.tick()
    assert lines.following is True
    x, _ = drawn(view)
    assert x[0] == 0
    assert x[-1] == ROWS + 499
    assert len(x) <= 4 * 100


def test_a_smoothed_line_is_smoothed_over_the_raw_rows(render) -> None:
    from streamvis.transforms.smoothing import ema

    view = render(one_plot(options={"smoothing": 0.9}))
    view.session.lines["m"].width = 50
    steps = np.arange(ROWS)
    values = signal(steps)
    view.hub.stream("s", {"x": steps, "y": values})
    view.session.tick()
    zoom(view, 3000.0, 3100.0)
    view.session.tick()
    x = view.column("sv:m:y_smoothed", "x").astype(int)
    smoothed = view.column("sv:m:y_smoothed", "y_smoothed")
    np.testing.assert_allclose(smoothed, ema(values, 0.9)[x])  # not an EMA of 100 rows
    assert x[1] == 3000
    assert x[-2] == 3100


def test_compared_runs_each_get_a_view(render) -> None:
    from streamvis.core.hub import Hub

    hub = Hub()
    for run, scale in (("a", 1.0), ("b", 2.0)):
        steps = np.arange(ROWS)
        hub.stream("s", {"x": steps, "y": scale * signal(steps)}, run=run)
    view = render(one_plot(), hub=hub, runs="a|b")
    view.session.tick()
    lines = view.session.lines["m"]
    lines.width, lines.pending = 200, True  # the browser reported the plot's width
    view.session.tick()
    for run, scale in (("a", 1.0), ("b", 2.0)):
        x, y = drawn(view, f"sv:m:{run}/y")
        assert len(x) <= 800
        assert x[0] == 0
        assert x[-1] == ROWS - 1
        assert y.max() == (scale * signal(np.arange(ROWS))).max()
    assert view.model("sv-lod:m").text == f"{2 * ROWS:,} rows, 800 drawn"


def test_new_rows_go_straight_to_the_data_source_and_a_render_keeps_them(render) -> None:
    """Once drawn, a tick streams only the new rows into the line's data source without a
    HoloViews render; a render afterwards (a resize, a rebuilt figure), drawn from a Buffer
    that lagged, still ends with every held row in the source."""
    view = render(one_plot())
    renders = []
    feed = view.session.lines["m"]
    real_rendered = feed.rendered
    feed.rendered = lambda figure: renders.append(figure) or real_rendered(figure)
    view.hub.stream("s", {"x": np.arange(100), "y": signal(np.arange(100))})
    view.session.tick()
    view.forget()
    renders.clear()

    view.hub.stream("s", {"x": np.arange(100, 103), "y": signal(np.arange(100, 103))})
    view.session.tick()
    assert renders == []  # no HoloViews render for new rows
    assert [(name, rows) for name, rows, _ in view.streamed] == [("sv:m:y", 3)]
    np.testing.assert_array_equal(view.column("sv:m:y", "x"), np.arange(103))

    buffer = feed.runs["default"].buffers["y"]
    buffer.trigger([buffer])  # HoloViews renders again from its Buffer
    assert renders
    np.testing.assert_array_equal(view.column("sv:m:y", "x"), np.arange(103))
    np.testing.assert_array_equal(view.column("sv:m:y", "y"), signal(np.arange(103)))

    renders.clear()
    zoom(view, 10.0, 20.0)  # a new view replaces the source's data in one change
    view.session.tick()
    assert renders == []
    np.testing.assert_array_equal(view.column("sv:m:y", "x"), np.arange(9, 22))
