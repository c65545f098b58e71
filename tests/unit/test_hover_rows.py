"""The hover table's rows (streamvis/page/hover.py) and a log axis' ticks
(streamvis/page/log_ticks.py), checked against a brute-force reading of the raw rows."""

from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from streamvis.core.lod import reference_view
from streamvis.page.hover import HoverLine, HoverTable, grid_of, hover_rows, sorted_line, tooltips
from streamvis.page.log_ticks import log_ticks


def m4_line(x: np.ndarray, y: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The drawn (downsampled) line of the whole series at `width` pixel columns."""
    view = reference_view(x, {"y": y}, None, None, width, raw_limit=4 * width)
    return view.lines["y"].x, view.lines["y"].y


def test_each_row_is_the_last_raw_row_of_its_pixel_column_with_every_lines_value() -> None:
    steps = np.arange(0, 100_000, 10, dtype=np.float64)
    loss = np.sin(steps / 7_000) + 0.01 * (steps % 13)
    acc = np.cos(steps / 5_000)
    width = 200
    lines = [m4_line(steps, loss, width), m4_line(steps, acc, width)]
    assert len(lines[0][0]) < len(steps)  # drawn downsampled
    grid = grid_of(lines, width)
    assert grid is not None
    rows = hover_rows(lines, grid)
    columns = np.floor((steps - steps[0]) / grid.pixel).astype(int)
    last_of_column = {column: index for index, column in enumerate(columns)}
    want = np.array([steps[last_of_column[c]] for c in sorted(last_of_column)])
    np.testing.assert_array_equal(rows["x"], want)
    at = np.searchsorted(steps, rows["x"])
    np.testing.assert_array_equal(rows["v0"], loss[at])  # the raw rows at that x
    np.testing.assert_array_equal(rows["v1"], acc[at])
    assert np.isnan(rows["y"]).all()  # the glyph draws nothing and ranges nothing
    assert (np.diff(rows["edge"]) > 0).all()
    assert (rows["edge"] <= rows["x"]).all()


def test_a_line_without_a_row_in_the_column_shows_no_value() -> None:
    long_run = (np.arange(100.0), np.arange(100.0) * 2)
    short_run = (np.arange(50.0), np.arange(50.0) * 3)
    grid = grid_of([long_run, short_run], 100)
    assert grid is not None
    rows = hover_rows([long_run, short_run], grid)
    assert rows["v1"][49] == 147.0
    assert np.isnan(rows["v1"][50:]).all()  # run b's last value is not carried on


def test_rows_of_a_resumed_run_are_read_in_x_order() -> None:
    x, y = sorted_line(HoverLine("loss", np.array([0.0, 1, 2, 1.5, 3]), np.arange(5.0)))
    np.testing.assert_array_equal(x, [0, 1, 1.5, 2, 3])
    np.testing.assert_array_equal(y, [0, 1, 3, 2, 4])


def test_new_pixel_columns_are_streamed_not_resent() -> None:
    plot = figure()
    table = HoverTable("p")
    table.attach(plot)
    x = np.arange(1000.0)
    table.refresh([HoverLine("loss", x, x * 2)], 100, "step", False, whole=True, now=0.0)
    sent = {name: np.array(values) for name, values in table.source.data.items()}
    assert len(sent["x"]) == 101  # a row per pixel column and the closing row
    more = np.arange(1100.0)
    table.refresh([HoverLine("loss", more, more * 2)], 100, "step", False, whole=False, now=5.0)
    data = {name: np.asarray(values) for name, values in table.source.data.items()}
    assert table.grid is not None
    whole = hover_rows([(more, more * 2)], table.grid)  # what a whole refresh would send
    np.testing.assert_array_equal(data["x"][:-1], whole["x"])
    np.testing.assert_array_equal(data["v0"][:-1], whole["x"] * 2)
    np.testing.assert_array_equal(data["edge"][:-1], whole["edge"])
    np.testing.assert_array_equal(data["x"][:100], sent["x"][:100])  # kept, not resent
    assert (np.diff(data["edge"]) > 0).all()
    assert np.isnan(data["x"][-1])  # the closing row


def test_tooltips_label_each_line_and_format_numbers_plainly() -> None:
    rows, formatters = tooltips("step", ["a: loss", "<b>x</b>"], time_axis=False)
    assert rows == [
        ("step", "@{x}{%.10g}"),
        ("a: loss", "@{v0}{%.6g}"),
        ("<b>x</b>", "@{v1}{%.6g}"),
    ]
    assert formatters == {"@{x}": "printf", "@{v0}": "printf", "@{v1}": "printf"}
    rows, formatters = tooltips("wall time", ["loss"], time_axis=True)
    assert formatters["@{x}"] == "datetime"


def test_log_ticks_label_every_decade_and_more_within_few() -> None:
    wide = log_ticks(1e-6, 1e3)
    assert all(10.0**e in wide for e in range(-6, 4))
    assert 2e-3 not in wide
    few = log_ticks(0.005, 1.4)
    assert {0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0} <= set(few)
    narrow = log_ticks(0.1, 0.5)
    assert {0.1, 0.15, 0.2, 0.3, 0.4, 0.5} <= set(narrow)
    assert log_ticks(0.0, 1.0) == []
    assert log_ticks(float("nan"), 1.0) == []


def test_no_rows_make_no_grid() -> None:
    assert grid_of([(np.empty(0), np.empty(0))], 100) is None
    table = HoverTable("p")
    table.attach(figure())
    table.refresh([HoverLine("loss", np.empty(0), np.empty(0))], 100, "step", False, True, 0.0)
    assert isinstance(table.source, ColumnDataSource)
    assert len(table.source.data["x"]) == 0


def test_labels_name_the_run_when_compared_and_the_smoothed_lines() -> None:
    from types import SimpleNamespace

    from streamvis.page.hover import drawn_lines

    held = SimpleNamespace(x=np.arange(3.0), y=np.ones(3))
    one_column = SimpleNamespace(y=["loss"])
    two_columns = SimpleNamespace(y=["loss", "acc"])
    runs = {"a": {"loss": held, "loss_smoothed": held}, "b": {"loss": held}}
    labels = [line.label for line in drawn_lines(one_column, runs)]  # type: ignore[arg-type]
    assert labels == ["a", "a (smoothed)", "b"]
    alone = {"a": {"loss": held, "acc": held}}
    labels = [line.label for line in drawn_lines(two_columns, alone)]  # type: ignore[arg-type]
    assert labels == ["loss", "acc"]
    both = {"a": {"loss": held}, "<b>run</b>": {"acc": held}}
    labels = [line.label for line in drawn_lines(two_columns, both)]  # type: ignore[arg-type]
    assert labels == ["a: loss", "<b>run</b>: acc"]  # text, shown as text by Bokeh
