"""The automatic layout (streamvis/layout/auto.py): a line chart per numeric column, step as
x, grouped by stream, stable ids; and its YAML (`streamvis layout --from-run`) loads back."""

from __future__ import annotations

import numpy as np
import pytest

from streamvis.core.hub import Hub
from streamvis.layout.auto import (
    COLUMNS,
    auto_layout,
    chart_id,
    hub_streams,
    merged,
)
from streamvis.layout.auto_yaml import layout_yaml
from streamvis.layout.spec import layout_from_yaml
from streamvis.page.auto_page import title_filter


def metrics_hub() -> Hub:
    hub = Hub()
    hub.stream(
        "train",
        {
            "step": np.arange(3),
            "loss": [1.0, 0.5, 0.25],
            "acc": np.array([1, 2, 3], dtype=np.int64),
            "done": [False, False, True],
            "phase": ["a", "b", "c"],
        },
        run="r1",
    )
    hub.stream("gpu", {"util": [0.5, 0.7]}, run="r1")
    return hub


def test_one_chart_per_numeric_column_with_step_as_x() -> None:
    layout = auto_layout(hub_streams(metrics_hub(), ["r1"]), "r1")
    assert layout is not None
    plots = {plot.id: plot for plot in layout.checked_plots}
    assert list(plots) == ["gpu.util", "train.loss", "train.acc"]  # no bool, no text, no step
    assert (plots["train.loss"].x, plots["train.loss"].y) == ("step", ("loss",))
    assert plots["train.loss"].title == "train / loss"
    assert plots["gpu.util"].options["x_axis"] == "wall"  # no step: against arrival time
    assert [plot.at for plot in layout.checked_plots] == [
        (0, 0, 1, 1),
        (0, 1, 1, 1),
        (0, 2, 1, 1),
    ]
    assert layout.run == "r1"
    assert layout.shape == (1, COLUMNS)


def test_a_new_column_adds_a_chart_and_keeps_the_ids_of_the_others() -> None:
    hub = metrics_hub()
    before = auto_layout(hub_streams(hub, ["r1"]), "r1")
    new_row = {"step": [3], "loss": [0.2], "acc": [4], "done": [True], "lr": [0.01]}
    hub.stream("train", new_row, run="r1")
    hub.stream("eval", {"step": [0], "bleu": [3.0]}, run="r1")
    after = auto_layout(hub_streams(hub, ["r1"]), "r1")
    assert before is not None
    assert after is not None
    ids = [plot.id for plot in after.checked_plots]
    assert ids == ["eval.bleu", "gpu.util", "train.loss", "train.acc", "train.lr"]
    old = {plot.id: plot for plot in before.checked_plots}
    for plot in after.checked_plots:  # the same stream, columns and kind under the same id
        if plot.id in old:
            assert (plot.stream, plot.x, plot.y) == (
                old[plot.id].stream,
                old[plot.id].x,
                old[plot.id].y,
            )


def test_no_numeric_column_no_layout() -> None:
    hub = Hub()
    hub.stream("notes", {"text": ["a"]}, run="r")
    assert auto_layout(hub_streams(hub, ["r"]), "r") is None
    assert auto_layout((), "r") is None


def test_runs_compared_chart_the_union_of_their_streams() -> None:
    hub = Hub()
    hub.stream("loss", {"step": [0], "train": [1.0]}, run="a")
    hub.stream("loss", {"step": [0], "val": [1.0]}, run="b")
    hub.stream("gpu", {"step": [0], "util": [1.0]}, run="b")
    streams = hub_streams(hub, ["a", "b"])
    assert streams == merged([hub_streams(hub, ["a"]), hub_streams(hub, ["b"])])
    layout = auto_layout(streams, "a")
    assert layout is not None
    assert [plot.id for plot in layout.checked_plots] == ["gpu.util", "loss.train", "loss.val"]


@pytest.mark.parametrize("column", ["loss", "val loss", "a/b", "<img src=x onerror=alert(1)>"])
def test_chart_ids_are_valid_and_stable(column: str) -> None:
    made = chart_id("train", column)
    assert made == chart_id("train", column)
    assert len(made) <= 128
    assert all(c.isalnum() or c in "_.-" for c in made)
    assert chart_id("train", "val loss") != chart_id("train", "val_loss")


def test_the_yaml_loads_back_to_the_same_charts() -> None:
    hub = metrics_hub()
    layout = auto_layout(hub_streams(hub, ["r1"]), "r1")
    assert layout is not None
    loaded = layout_from_yaml(layout_yaml(layout), source="auto.yaml")
    assert loaded.checked_plots == layout.checked_plots
    assert (loaded.run, loaded.grid) == (layout.run, layout.grid)


def test_search_is_a_linear_time_pattern_anywhere_in_the_title() -> None:
    matches, problem = title_filter("los+")
    assert problem is None
    assert matches("train / loss")
    assert not matches("gpu / util")
    matches, problem = title_filter("")
    assert matches("anything")
    matches, problem = title_filter("(a")
    assert problem is not None
    assert "regular expression" in problem
    matches, problem = title_filter("(a+)+$")  # no catastrophic backtracking
    assert not matches("a" * 5000 + "!")
