"""The first release's client API on `Client` (streamvis/compat/__init__.py), without a server:
`set_layout` with a grid map, `tandem_lines`, `scatter`, shape errors and `fig_kwargs`.

Every test stops the client's sender before it takes anything and reads what was queued,
so nothing ever touches the network (the URL points at a port nobody listens on)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from streamvis import Client
from streamvis.client.transport import Item
from streamvis.errors import StreamError
from streamvis.layout.spec import layout_from_dict

# port 9 (discard) on loopback: nothing listens; no test lets a request get that far
UNREACHABLE = "http://127.0.0.1:9"
GRID_MAP = {
    "top_plot": (0, 0, 1, 2),  # (top, left, height, width)
    "low_left_plot": (1, 0, 2, 1),
    "low_right_plot": (1, 1, 2, 2),
}


class Recorded:
    """A Client whose writes and commands are recorded instead of queued."""

    def __init__(self) -> None:
        self.client = Client(UNREACHABLE, "compat")
        self.client._closing = True  # the sender takes nothing: the queue is read below

    @property
    def items(self) -> list[Item]:
        """What was queued, in order (a scalar row as the `Item` it stands for)."""
        items: list[Item] = []
        for entry in self.client._queue:
            if type(entry) is Item:
                items.append(entry)
            else:  # consecutive scalar rows of a stream: (stream, rows)
                items.extend(Item(entry[0], "row", row) for row in entry[1])
        return items

    def layouts(self) -> list[dict[str, Any]]:
        return [item.payload for item in self.items if item.kind == "layout"]

    def writes(self) -> list[Any]:
        return [item for item in self.items if item.kind in ("row", "batch")]

    def plot(self, layout: dict[str, Any], plot_id: str) -> dict[str, Any]:
        (plot,) = [p for p in layout["plots"] if p["id"] == plot_id]
        return plot


@pytest.fixture
def rec() -> Iterator[Recorded]:
    recorded = Recorded()
    yield recorded
    recorded.client._queue.clear()  # read, never meant to be sent
    recorded.client._closing = False
    assert recorded.client.close(timeout=0) is True
    assert not recorded.client._thread.is_alive()
    assert not recorded.client._thread.is_alive()


def test_grid_map_places_every_plot_at_its_cell_as_placeholder_lines(rec: Recorded) -> None:
    rec.client.set_layout(GRID_MAP)
    assert len(rec.items) == 1
    item = rec.items[0]
    assert (item.kind, item.stream, item.rows) == ("layout", None, 0)
    layout = item.payload
    assert layout["title"] == "compat"
    assert [p["id"] for p in layout["plots"]] == list(GRID_MAP)
    for plot_id, cell in GRID_MAP.items():
        plot = rec.plot(layout, plot_id)
        assert plot["at"] == list(cell)
        assert plot["stream"] == plot_id
        assert (plot["kind"], plot["x"], plot["y"]) == ("line", "x", "y")
    # the server validates it the same way: it must be a layout it accepts
    checked = layout_from_dict({**layout, "run": "compat"})
    assert {p.id: p.at for p in checked.plots} == GRID_MAP
    assert checked.shape == (3, 3)


def test_grid_map_accepts_lists_and_numpy_ints(rec: Recorded) -> None:
    rec.client.set_layout({"a": [0, 0, 1, 1], "b": (np.int64(0), 1, 1, 1)})
    (layout,) = rec.layouts()
    assert [p["at"] for p in layout["plots"]] == [[0, 0, 1, 1], [0, 1, 1, 1]]
    assert all(type(v) is int for p in layout["plots"] for v in p["at"])


def test_tandem_lines_declares_a_line_plot_and_queues_one_row(rec: Recorded) -> None:
    rec.client.set_layout(GRID_MAP)
    rec.client.tandem_lines("top_plot", [3, 0.5, np.float32(-1.25), 2])
    assert [item.kind for item in rec.items] == ["layout", "layout", "row"]
    plot = rec.plot(rec.layouts()[-1], "top_plot")
    assert plot["kind"] == "line"
    assert plot["x"] == "x"
    assert plot["y"] == ["y1", "y2", "y3"]
    assert plot["at"] == [0, 0, 1, 2]
    row = rec.items[-1]
    assert (row.stream, row.mode, row.rows) == ("top_plot", "append", 1)
    assert row.payload == {"x": 3.0, "y1": 0.5, "y2": -1.25, "y3": 2.0}
    assert all(type(v) is float for v in row.payload.values())
    # the other plots stay placeholders, and the layout still validates
    assert rec.plot(rec.layouts()[-1], "low_left_plot")["kind"] == "line"
    layout_from_dict({**rec.layouts()[-1], "run": "compat"})

    # the same shape again: only a row, the layout is not re-sent
    rec.client.tandem_lines("top_plot", [4, 1, 2, 3])
    assert [item.kind for item in rec.items] == ["layout", "layout", "row", "row"]
    assert rec.items[-1].payload == {"x": 4.0, "y1": 1.0, "y2": 2.0, "y3": 3.0}


def test_tandem_lines_outside_the_grid_map_sends_no_layout(rec: Recorded) -> None:
    rec.client.tandem_lines("free", np.array([1.0, 2.0]))
    assert [item.kind for item in rec.items] == ["row"]
    assert rec.items[0].payload == {"x": 1.0, "y1": 2.0}


def test_float32_values_stay_float32_in_tandem_lines_and_scatter(rec: Recorded) -> None:
    """float32 arrays (and tensors, which arrive as such) keep their width; others widen."""
    rec.client.tandem_lines("lines", np.array([7, 0.1, -2.5], dtype=np.float32))
    rec.client.scatter("cloud", np.array([[0.1, 0.2], [0.3, 0.4]], dtype=np.float32))
    rec.client.scatter("half", np.array([[1, 2]], dtype=np.float16))
    rec.client.scatter("ints", np.array([[1, 2]]))
    lines, cloud, half, ints = rec.writes()
    assert lines.payload["y1"].dtype == np.float32
    assert lines.payload["y1"][0] == np.float32(0.1)
    assert [cloud.payload[c].dtype for c in "xy"] == [np.float32, np.float32]
    np.testing.assert_array_equal(cloud.payload["y"], np.array([0.2, 0.4], dtype=np.float32))
    assert half.payload["x"].dtype == np.float32
    assert ints.payload["x"].dtype == np.float64


def test_scatter_declares_a_scatter_and_queues_a_replace_of_all_points(rec: Recorded) -> None:
    rec.client.set_layout(GRID_MAP)
    rng = np.random.default_rng(0)
    points = rng.normal(size=(1000, 2))
    rec.client.scatter("low_left_plot", points.tolist(), spatial_dim=1, append=False)
    assert [item.kind for item in rec.items] == ["layout", "layout", "batch"]
    plot = rec.plot(rec.layouts()[-1], "low_left_plot")
    assert (plot["kind"], plot["x"], plot["y"]) == ("scatter", "x", "y")
    assert plot["at"] == [1, 0, 2, 1]
    layout_from_dict({**rec.layouts()[-1], "run": "compat"})
    write = rec.items[-1]
    assert (write.stream, write.mode, write.rows) == ("low_left_plot", "replace", 1000)
    assert set(write.payload) == {"x", "y"}
    np.testing.assert_array_equal(write.payload["x"], points[:, 0])
    np.testing.assert_array_equal(write.payload["y"], points[:, 1])


def test_scatter_spatial_dim_0_and_append(rec: Recorded) -> None:
    points = np.arange(10.0).reshape(5, 2)
    rec.client.scatter("q", points.T, spatial_dim=0, append=True)
    (write,) = rec.writes()
    assert (write.mode, write.rows) == ("append", 5)
    np.testing.assert_array_equal(write.payload["x"], [0, 2, 4, 6, 8])
    np.testing.assert_array_equal(write.payload["y"], [1, 3, 5, 7, 9])


def test_scatter_color_by_index(rec: Recorded) -> None:
    rec.client.set_layout({"q": (0, 0, 1, 1)})
    rec.client.scatter("q", np.zeros((4, 2)), color_mode="index", palette="Magma")
    plot = rec.plot(rec.layouts()[-1], "q")
    assert plot["color"] == "index"
    assert plot["options"]["palette"] == "Magma"
    layout_from_dict({**rec.layouts()[-1], "run": "compat"})
    np.testing.assert_array_equal(rec.writes()[0].payload["index"], [0, 1, 2, 3])
    with pytest.raises(StreamError, match=r"scatter\('q'\).*color_mode"):
        rec.client.scatter("q", np.zeros((4, 2)), color_mode="rainbow")


@pytest.mark.parametrize(
    ("values", "shown"),
    [([1.0], "1 value"), ([], "0 value"), (np.zeros((1, 1)), "1 value")],
)
def test_tandem_lines_without_a_y_names_the_plot(rec: Recorded, values: Any, shown: str) -> None:
    with pytest.raises(StreamError, match=rf"tandem_lines\('loss'\).*{shown}"):
        rec.client.tandem_lines("loss", values)
    assert rec.items == []


@pytest.mark.parametrize(
    ("points", "spatial_dim", "shape"),
    [
        (np.zeros((5, 3)), 1, "(5, 3)"),
        (np.zeros(6), 1, "(6,)"),
        (np.zeros((2, 2, 2)), 1, "(2, 2, 2)"),
        (np.zeros((5, 2)), 0, "(5, 2)"),  # 2 coordinates along dim 1, not dim 0
        (np.zeros((2, 5)), 1, "(2, 5)"),
        (np.zeros((5, 2)), -1, "(5, 2)"),
    ],
)
def test_scatter_wrong_shapes_name_the_plot(
    rec: Recorded, points: Any, spatial_dim: int, shape: str
) -> None:
    with pytest.raises(StreamError) as raised:
        rec.client.scatter("cloud", points, spatial_dim=spatial_dim)
    message = str(raised.value)
    assert "scatter('cloud')" in message
    assert f"spatial_dim={spatial_dim}" in message
    assert shape in message
    assert rec.items == []


def test_scatter_out_of_range_spatial_dim_is_a_stream_error(rec: Recorded) -> None:
    with pytest.raises(StreamError, match=r"scatter\('cloud'\)"):
        rec.client.scatter("cloud", np.zeros((5, 2)), spatial_dim=2)


def test_scatter_ragged_points_are_a_stream_error(rec: Recorded) -> None:
    with pytest.raises(StreamError, match=r"scatter\('cloud'\)"):
        rec.client.scatter("cloud", [[1.0, 2.0], [3.0]])


def test_fig_kwargs_map_to_options(rec: Recorded) -> None:
    rec.client.set_layout({"p": (0, 0, 1, 1), "q": (0, 1, 1, 1)})
    rec.client.tandem_lines(
        "p",
        [0, 1, 2],
        fig_kwargs={
            "title": "Loss",
            "x_axis_label": "step",
            "y_axis_label": 7,  # made text
            "x_axis_type": "log",
            "y_axis_type": "log",
            "width": 400,  # Bokeh sizing: not an option, ignored
        },
    )
    options = rec.plot(rec.layouts()[-1], "p")["options"]
    assert options == {
        "title": "Loss",
        "xlabel": "step",
        "ylabel": "7",
        "logx": True,
        "logy": True,
    }
    rec.client.scatter("q", np.ones((3, 2)), fig_kwargs={"x_axis_type": "linear", "title": "Q"})
    options = rec.plot(rec.layouts()[-1], "q")["options"]
    assert options == {"title": "Q", "palette": "Viridis"}
    checked = layout_from_dict({**rec.layouts()[-1], "run": "compat"})
    p = checked.plot("p")
    assert (p.title, p.options["logx"], p.options["logy"]) == ("Loss", True, True)
    assert checked.plot("q").title == "Q"

    # new fig_kwargs for a declared plot re-send the layout; the same ones do not
    before = len(rec.layouts())
    rec.client.tandem_lines("p", [1, 2, 3], fig_kwargs={"title": "Loss", "x_axis_label": "step"})
    assert len(rec.layouts()) == before + 1
    assert rec.plot(rec.layouts()[-1], "p")["options"] == {"title": "Loss", "xlabel": "step"}
    rec.client.tandem_lines("p", [2, 3, 4], fig_kwargs={"title": "Loss", "x_axis_label": "step"})
    assert len(rec.layouts()) == before + 1


def test_a_new_grid_map_forgets_declared_plots(rec: Recorded) -> None:
    rec.client.set_layout({"p": (0, 0, 1, 1)})
    rec.client.scatter("p", np.ones((3, 2)))
    assert rec.plot(rec.layouts()[-1], "p")["kind"] == "scatter"
    rec.client.set_layout({"p": (0, 0, 1, 1), "r": (1, 0, 1, 1)})
    layout = rec.layouts()[-1]
    assert [(p["id"], p["kind"]) for p in layout["plots"]] == [("p", "line"), ("r", "line")]


def test_yaml_schema_dicts_are_not_grid_maps(rec: Recorded) -> None:
    plots = [
        {"id": f"p{i}", "kind": "line", "stream": "s", "x": "x", "y": "y", "at": [0, i, 1, 1]}
        for i in range(3)
    ]
    rec.client.set_layout({"plots": plots})
    (layout,) = rec.layouts()
    assert [p["id"] for p in layout["plots"]] == ["p0", "p1", "p2"]
    assert not hasattr(rec.client, "_grid")


def test_yaml_schema_dict_with_four_plots_is_not_a_grid_map(rec: Recorded) -> None:
    plots = [
        {"id": f"p{i}", "kind": "line", "stream": "s", "x": "x", "y": "y", "at": [0, i, 1, 1]}
        for i in range(4)
    ]
    rec.client.set_layout({"plots": plots})
    (layout,) = rec.layouts()
    assert [p["id"] for p in layout["plots"]] == ["p0", "p1", "p2", "p3"]
