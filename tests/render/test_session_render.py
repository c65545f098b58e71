"""A dashboard rendered into a Bokeh document without a server: each `LiveSession.tick`
moves exactly the new rows of the hub into the plots' data sources (the tail by
`ColumnDataSource.stream`, a whole replacement as one data change), errors and the waiting
note show and hide, and closing the session releases its subscriptions."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import streamvis as sv
from streamvis.core.hub import Hub
from tests.render.conftest import Rendered, one_plot  # noqa: F401


def test_first_tick_sets_the_window_then_only_new_rows_are_streamed(render) -> None:
    view = render(one_plot(y=["a", "b"]))
    steps = np.arange(100)
    view.hub.stream("s", {"x": steps, "a": steps * 2.0, "b": steps * 3.0})

    assert view.session.tick() == 100
    for name in ("sv:m:a", "sv:m:b"):
        assert view.rows(name) == 100
        np.testing.assert_array_equal(view.column(name, "x"), steps)
    np.testing.assert_array_equal(view.column("sv:m:a", "a"), steps * 2.0)
    np.testing.assert_array_equal(view.column("sv:m:b", "b"), steps * 3.0)
    assert all(rows == 100 for _, rows, _ in view.streamed), view.streamed
    # the first window arrives as one data change per source, never row by row
    assert sorted(view.changes) == [
        ("ColumnDataChangedEvent", "sv:m:a", 100),
        ("ColumnDataChangedEvent", "sv:m:b", 100),
    ]

    for batch in range(3):
        view.forget()
        first = 100 + 3 * batch
        for step in range(first, first + 3):  # scalar rows: the hub's fast path
            view.hub.stream("s", {"x": step, "a": step * 2.0, "b": step * 3.0})
        assert view.session.tick() == 3
        assert sorted((name, rows) for name, rows, _ in view.streamed) == [
            ("sv:m:a", 3),
            ("sv:m:b", 3),
        ]
        for _, _, data in view.streamed:
            np.testing.assert_array_equal(data["x"], np.arange(first, first + 3))
        assert {event for event, _, _ in view.changes} == {"ColumnsStreamedEvent"}
        assert view.rows("sv:m:a") == view.rows("sv:m:b") == first + 3
    np.testing.assert_array_equal(view.column("sv:m:a", "x"), np.arange(109))

    # nothing new: nothing is sent, nothing changes
    view.forget()
    assert view.session.tick() == 0
    assert view.streamed == []
    assert view.changes == []
    assert view.rows("sv:m:a") == 109


def test_replace_swaps_the_whole_source_in_one_update(render) -> None:
    view = render(one_plot(kind="scatter"))
    view.hub.stream("s", {"x": np.arange(50.0), "y": np.ones(50)})
    view.session.tick()
    assert view.rows("sv:m:y") == 50

    for generation, size in ((2, 20), (3, 80)):
        view.forget()
        xs = np.arange(size) + 1000.0 * generation
        view.hub.stream("s", {"x": xs, "y": np.full(size, float(generation))}, mode="replace")
        assert view.session.tick() == size
        assert view.streamed == [], "a replacement must not be streamed onto the old rows"
        # one data change holding the new rows: viewers never see an empty plot in between
        assert view.changes == [("ColumnDataChangedEvent", "sv:m:y", size)]
        np.testing.assert_array_equal(view.column("sv:m:y", "x"), xs)
        np.testing.assert_array_equal(view.column("sv:m:y", "y"), np.full(size, generation))

    # appending after a replacement streams only the appended rows
    view.forget()
    view.hub.stream("s", {"x": [1.0, 2.0], "y": [9.0, 9.0]})
    assert view.session.tick() == 2
    assert [(name, rows) for name, rows, _ in view.streamed] == [("sv:m:y", 2)]
    assert view.rows("sv:m:y") == 82


@pytest.mark.parametrize("through", ["hub.clear", "sv.clear"])
def test_clear_empties_the_source_and_shows_waiting_again(render, through: str) -> None:
    if through == "sv.clear":  # the module-level API writes to the process-wide hub
        run = f"render-clear-{id(render)}"
        view = render(one_plot(), hub=sv.default_hub(), run=run)
        write = lambda data: sv.stream("s", data, run=run)  # noqa: E731
        clear = lambda: sv.clear("s", run=run)  # noqa: E731
    else:
        view = render(one_plot())
        write = lambda data: view.hub.stream("s", data)  # noqa: E731
        clear = lambda: view.hub.clear("s")  # noqa: E731
    try:
        write({"x": [1.0, 2.0, 3.0], "y": [4.0, 5.0, 6.0]})
        view.session.tick()
        assert view.rows("sv:m:y") == 3
        assert view.model("sv-waiting:m").visible is False

        assert clear() == 1
        view.session.tick()
        assert view.rows("sv:m:y") == 0
        assert view.model("sv-waiting:m").visible is True

        # rows written after the clear draw alone, not after the cleared ones
        write({"x": [7.0], "y": [8.0]})
        assert view.session.tick() == 1
        np.testing.assert_array_equal(view.column("sv:m:y", "x"), [7.0])
    finally:
        if through == "sv.clear":
            sv.clear(run=run)


def test_inf_arrives_as_nan(render) -> None:
    view = render(one_plot())
    view.hub.stream("s", {"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, np.inf, -np.inf, np.nan]})
    view.session.tick()
    np.testing.assert_array_equal(view.column("sv:m:y", "y"), [1.0, np.nan, np.nan, np.nan])

    view.forget()  # the streamed path converts too
    view.hub.stream("s", {"x": [4.0, np.inf], "y": [-np.inf, 2.0]})
    view.session.tick()
    ((_, _, data),) = view.streamed
    np.testing.assert_array_equal(data["y"], [np.nan, 2.0])
    np.testing.assert_array_equal(data["x"], [4.0, np.nan])
    assert not np.isinf(view.column("sv:m:y", "y")).any()
    assert not np.isinf(view.column("sv:m:y", "x")).any()


def test_points_caps_the_points_drawn_not_the_history(render) -> None:
    """`points` bounds what a line holds in the page; the view still spans the whole run,
    with each pixel column's min and max, and the note says how many rows it stands for."""
    plots = [
        {"id": "short", "kind": "line", "stream": "s", "x": "x", "y": "y", "at": [0, 0, 1, 1]},
        {"id": "long", "kind": "line", "stream": "s", "x": "x", "y": "y", "at": [0, 1, 1, 1]},
    ]
    plots[0]["options"] = {"points": 20}
    plots[1]["options"] = {"points": 400}
    view = render({"plots": plots})
    values = np.sin(np.arange(300) / 7.0)
    view.hub.stream("s", {"x": np.arange(300), "y": values})
    view.session.tick()
    short = view.column("sv:short:y", "x")
    assert len(short) <= 20
    assert short[0] == 0
    assert short[-1] == 299
    drawn = view.column("sv:short:y", "y")
    assert drawn.min() == values.min()
    assert drawn.max() == values.max()
    assert view.model("sv-lod:short").text == "300 rows, 20 drawn"
    np.testing.assert_array_equal(view.column("sv:long:y", "x"), np.arange(300))  # raw
    assert view.model("sv-lod:long").text == "300 rows (raw)"

    view.forget()  # a new row arrives as a delta while the view follows
    view.hub.stream("s", {"x": 300, "y": 5.0})
    view.session.tick()
    assert ("sv:long:y", 1) in [(name, rows) for name, rows, _ in view.streamed]
    assert view.column("sv:short:y", "x")[-1] == 300


def test_missing_column_shows_the_error_until_valid_rows_arrive(render, caplog) -> None:
    layout = {
        "plots": [
            {
                "id": "typo",
                "kind": "line",
                "stream": "s",
                "x": "step",
                "y": "lsos",
                "at": [0, 0, 1, 1],
            },
            {
                "id": "good",
                "kind": "line",
                "stream": "s",
                "x": "step",
                "y": "loss",
                "at": [0, 1, 1, 1],
            },
        ]
    }
    view = render(layout)
    assert view.errors() == []
    caplog.set_level(logging.ERROR, logger="streamvis")

    view.hub.stream("s", {"step": [0, 1], "loss": [0.5, 0.4]})
    assert view.session.tick() == 2  # the other plot of the stream still draws
    (error,) = view.errors()
    assert error == (
        "layout: plots.typo.y: stream 's' has no column 'lsos'; it has ['loss', 'step']. "
        "Did you mean 'loss'?"
    )
    assert view.rows("sv:good:loss") == 2
    assert view.model("sv-waiting:typo").visible is True

    view.hub.stream("s", {"step": 2, "loss": 0.3})  # the same mistake is logged once
    view.session.tick()
    assert view.errors() == [error]
    assert [r.getMessage() for r in caplog.records if r.name == "streamvis"] == [error]

    # once the column exists the plot redraws from the stream's kept rows, like a new page
    view.hub.stream("s", {"step": [3], "loss": [0.2], "lsos": [7.0]})
    assert view.session.tick() == 1 + 4  # 'good' gets the new row, 'typo' all four
    assert view.errors() == []
    np.testing.assert_array_equal(view.column("sv:typo:lsos", "step"), [0, 1, 2, 3])
    np.testing.assert_array_equal(view.column("sv:typo:lsos", "lsos"), [np.nan] * 3 + [7.0])


def test_waiting_label_until_data(render) -> None:
    view = render(one_plot())
    assert view.model("sv-waiting:m").visible is True
    view.session.tick()  # nothing written yet: still waiting
    assert view.model("sv-waiting:m").visible is True
    view.hub.stream("s", {"x": 1.0, "y": 2.0})
    view.session.tick()
    assert view.model("sv-waiting:m").visible is False


def test_plots_of_one_stream_share_a_subscription(render) -> None:
    hub = Hub()
    plots = [
        {"id": "p1", "kind": "line", "stream": "s", "x": "x", "y": "a", "at": [0, 0, 1, 1]},
        {"id": "p2", "kind": "scatter", "stream": "s", "x": "x", "y": "b", "at": [0, 1, 1, 1]},
    ]
    plots.append({**plots[1], "id": "p4", "y": "a", "at": [1, 1, 1, 1]})
    view = render({"plots": plots}, hub=hub)
    assert len(view.session.feeds) == 1  # line plots read views, not subscriptions
    assert hub.subscription_count == 1

    hub.stream("s", {"x": [1, 2], "a": [3.0, 4.0], "b": [5.0, 6.0]})
    assert view.session.tick() == 6  # two rows to each of three plots
    np.testing.assert_array_equal(view.column("sv:p1:a", "a"), [3.0, 4.0])
    np.testing.assert_array_equal(view.column("sv:p2:b", "b"), [5.0, 6.0])
    np.testing.assert_array_equal(view.column("sv:p4:a", "a"), [3.0, 4.0])

    other = render(
        {"plots": [*plots, {**plots[1], "id": "p3", "stream": "t", "at": [2, 0, 1, 1]}]}, hub=hub
    )
    assert len(other.session.feeds) == 2
    assert hub.subscription_count == 3

    view.session.close()
    other.session.close()
    assert hub.subscription_count == 0
    assert view.session.feeds == {}
    hub.stream("s", {"x": [3], "a": [0.0], "b": [0.0]})
    assert view.session.tick() == 0  # a closed session draws nothing more
    assert view.rows("sv:p1:a") == 2


def test_column_that_appears_later_starts_drawing(render) -> None:
    view = render(one_plot(x="step", y="b"))
    view.hub.stream("s", {"step": [0, 1], "a": [1.0, 1.0]})
    assert view.session.tick() == 0
    assert "has no column 'b'" in " ".join(view.errors())

    view.hub.stream("s", {"step": [2, 3], "a": [1.0, 1.0], "b": [5.0, 6.0]})
    assert view.session.tick() == 4  # redrawn from the kept rows: earlier ones lack 'b'
    assert view.errors() == []
    np.testing.assert_array_equal(view.column("sv:m:b", "step"), [0, 1, 2, 3])
    np.testing.assert_array_equal(view.column("sv:m:b", "b"), [np.nan, np.nan, 5.0, 6.0])

    view.hub.stream("s", {"step": 4, "a": 1.0, "b": 7.0})
    assert view.session.tick() == 1
    np.testing.assert_array_equal(view.column("sv:m:b", "b"), [np.nan, np.nan, 5.0, 6.0, 7.0])


def test_datetime_x_column(render) -> None:
    view = render(one_plot(x="time"))
    times = pd.date_range("2024-01-01", periods=5, freq="s")
    view.hub.stream("s", {"time": times, "y": np.arange(5.0)})
    view.session.tick()
    x = view.column("sv:m:y", "time")
    assert x.dtype.kind == "M"
    np.testing.assert_array_equal(x, times.to_numpy())

    view.forget()
    later = pd.Timestamp("2024-01-01 00:01:00")
    view.hub.stream("s", {"time": [later.to_pydatetime()], "y": [9.0]})
    view.session.tick()
    ((_, rows, data),) = view.streamed
    assert rows == 1
    assert data["time"].dtype.kind == "M"
    assert view.column("sv:m:y", "time")[-1] == later.to_datetime64()


def test_text_columns_not_drawn_do_not_break_the_plot(render) -> None:
    view = render(one_plot())
    view.hub.stream("s", {"x": [1.0, 2.0], "y": [3.0, 4.0], "phase": ["warmup", "train"]})
    assert view.session.tick() == 2
    view.hub.stream("s", {"x": 3.0, "y": 5.0, "phase": "eval"})
    view.hub.stream("s", {"x": 4.0, "y": 6.0})  # and rows without it
    assert view.session.tick() == 2
    assert view.errors() == []
    np.testing.assert_array_equal(view.column("sv:m:y", "y"), [3.0, 4.0, 5.0, 6.0])
    assert "phase" not in view.source("sv:m:y").data


def test_int_x_keeps_drawing_when_floats_arrive(render) -> None:
    view = render(one_plot())
    view.hub.stream("s", {"x": [1, 2, 3], "y": [1.0, 2.0, 3.0]})
    view.session.tick()
    assert view.column("sv:m:y", "x").dtype.kind == "i"

    view.hub.stream("s", {"x": [3.5, 4.5], "y": [4.0, 5.0]})
    assert view.session.tick() == 2
    view.hub.stream("s", {"x": 6, "y": 6.0})
    assert view.session.tick() == 1
    assert view.errors() == []
    np.testing.assert_array_equal(view.column("sv:m:y", "x"), [1, 2, 3, 3.5, 4.5, 6])
    np.testing.assert_array_equal(view.column("sv:m:y", "y"), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])


def test_rows_from_before_a_failed_replace_never_return(render) -> None:
    view = render(one_plot(y="b"))
    view.hub.stream("s", {"x": [0.0, 1.0], "b": [5.0, 5.0]})
    view.session.tick()
    view.hub.stream("s", {"x": [10.0, 11.0], "a": [1.0, 1.0]}, mode="replace")
    view.session.tick()
    assert "has no column 'b'" in " ".join(view.errors())

    view.hub.stream("s", {"x": [12.0], "a": [1.0], "b": [7.0]})
    view.session.tick()
    x = view.column("sv:m:b", "x").tolist()
    assert x == [10.0, 11.0, 12.0], f"not the stream's content after the replace: x={x}"
    np.testing.assert_array_equal(view.column("sv:m:b", "b"), [np.nan, np.nan, 7.0])


def test_a_slow_session_skips_ticks_but_loses_no_rows(render) -> None:
    view = render(one_plot(y="b"))
    view.hub.stream("s", {"x": [0.0], "b": [1.0]})
    assert view.session.on_timer() == 1
    assert view.session._resume_at > 0  # the tick's own duration sets the earliest next one
    view.session._resume_at = float("inf")  # as if the last tick had been very slow
    view.hub.stream("s", {"x": [1.0, 2.0], "b": [2.0, 3.0]})
    assert view.session.on_timer() == 0
    view.hub.stream("s", {"x": 3.0, "b": 4.0})
    view.session._resume_at = 0.0
    assert view.session.on_timer() == 3
    np.testing.assert_array_equal(view.column("sv:m:b", "x"), [0.0, 1.0, 2.0, 3.0])
