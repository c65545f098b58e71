"""A smoothed level-of-detail line stays the EMA of every raw row when rows arrive in ways
other than small deltas: a burst of more than a pixel width (answered by a whole view), and
rows written while a view is being computed. Found by tests/ui/test_lod_lines.py."""

from __future__ import annotations

import numpy as np
from bokeh.events import RangesUpdate

from streamvis.transforms.smoothing import ema
from tests.render.conftest import Rendered, one_plot  # noqa: F401

WEIGHT = 0.9


def signal(steps: np.ndarray) -> np.ndarray:
    return np.sin(steps / 50.0) + (steps % 7) / 10.0


def write(view: Rendered, start: int, stop: int) -> None:
    steps = np.arange(start, stop)
    view.hub.stream("s", {"x": steps, "y": signal(steps)})


def smoothed_of(view: Rendered, x0: float, x1: float) -> tuple[np.ndarray, np.ndarray]:
    """Zoom to [x0, x1] (few enough rows to be raw) and read the smoothed line."""
    figure = view.model("sv-figure:m")
    figure._trigger_event(RangesUpdate(figure, x0=x0, x1=x1, y0=-2.0, y1=2.0))
    view.session.tick()
    x = view.column("sv:m:y_smoothed", "x").astype(int)
    return x, view.column("sv:m:y_smoothed", "y_smoothed")


def test_a_burst_of_rows_is_smoothed_too(render) -> None:
    view = render(one_plot(options={"smoothing": WEIGHT}))
    view.session.lines["m"].width = 50
    write(view, 0, 1000)
    view.session.tick()
    write(view, 1000, 1200)  # more than a pixel width: a whole view, not deltas
    view.session.tick()
    write(view, 1200, 1210)  # then deltas again
    view.session.tick()
    delta = view.streamed[-1]
    assert delta[0] == "sv:m:y_smoothed"
    np.testing.assert_allclose(delta[2]["y_smoothed"], ema(signal(np.arange(1210)), WEIGHT)[-10:])

    x, smoothed = smoothed_of(view, 1100.0, 1205.0)
    np.testing.assert_array_equal(x, np.arange(1099, 1207))  # every row, the burst's too
    np.testing.assert_allclose(smoothed, ema(signal(np.arange(1210)), WEIGHT)[x])


def test_rows_written_while_a_view_is_computed_are_smoothed_once(render, monkeypatch) -> None:
    view = render(one_plot(options={"smoothing": WEIGHT}))
    view.session.lines["m"].width = 50
    write(view, 0, 1000)
    table = view.hub.table("default", "s")
    real = table.view

    def view_then_rows_arrive(*args, **kwargs):
        found = real(*args, **kwargs)
        if table.next_seq == 1000:
            write(view, 1000, 1010)  # after the view, before the page smooths
        return found

    monkeypatch.setattr(table, "view", view_then_rows_arrive)
    view.session.tick()  # the view of 1,000 rows; the 10 rows come as deltas next tick
    view.session.tick()
    x, smoothed = smoothed_of(view, 900.0, 1009.0)
    np.testing.assert_array_equal(x, np.arange(899, 1010))
    np.testing.assert_allclose(smoothed, ema(signal(np.arange(1010)), WEIGHT)[x])


def test_rows_written_in_replace_mode_are_smoothed_afresh(render) -> None:
    view = render(one_plot(options={"smoothing": WEIGHT}))
    view.session.lines["m"].width = 50
    write(view, 0, 1000)
    view.session.tick()
    steps = np.arange(100)
    view.hub.stream("s", {"x": steps, "y": -signal(steps)}, mode="replace")
    view.session.tick()
    x, smoothed = smoothed_of(view, 0.0, 99.0)
    np.testing.assert_array_equal(x, steps)
    np.testing.assert_allclose(smoothed, ema(-signal(steps), WEIGHT))  # none of the old rows
