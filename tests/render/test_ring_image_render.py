"""ring/pie (the bar aggregate as wedges) and heatmap/image (a 2-D array) in a Bokeh document."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bokeh.models import ColorBar, Legend

from streamvis.errors import SpecError
from streamvis.kinds import KINDS, image, pie, ring
from streamvis.layout.spec import load_layout

SPENT = {"Year": [2012, 2013, 2012, 2014, 2012], "Spent": [10.0, 5.5, 2.0, 7.0, 1.0]}


def wedge_plot(kind: str = "ring", **fields: object) -> dict[str, object]:
    plot = {"id": "r", "kind": kind, "stream": "p", "by": "Year", "at": [0, 0, 1, 1], **fields}
    return {"plots": [plot]}


def heatmap(kind: str = "heatmap", **fields: object) -> dict[str, object]:
    return {"plots": [{"id": "h", "kind": kind, "stream": "m", "at": [0, 0, 1, 1], **fields}]}


def wedges(view, column: str = "value") -> dict[str, object]:
    data = view.source("sv:r:wedges").data
    return dict(zip(data["category"], data[column], strict=True))


def tick_labels(figure) -> dict[int, str]:
    """The x axis's named ticks (plain-text labels: a `$$` in a column name is not TeX)."""
    return {tick: label.text for tick, label in figure.xaxis[0].major_label_overrides.items()}


def radii(view) -> list[np.ndarray]:
    """Distance from the centre of every vertex, per wedge."""
    data = view.source("sv:r:wedges").data
    return [np.hypot(xs[0][0], ys[0][0]) for xs, ys in zip(data["xs"], data["ys"], strict=True)]


def fill_alphas(view) -> dict[str, float]:
    """Each wedge's drawn fill alpha, whether Bokeh got a column or one shared number."""
    source = view.source("sv:r:wedges")
    (renderer,) = [r for r in view.model("sv-figure:r").renderers if r.data_source is source]
    alpha = renderer.glyph.fill_alpha
    field = getattr(alpha, "field", None) or (
        alpha.get("field") if isinstance(alpha, dict) else None
    )
    values = source.data[field] if field else [alpha] * len(source.data["category"])
    return dict(zip(source.data["category"], map(float, values), strict=True))


def test_ring_draws_the_aggregate_one_wedge_per_category(render) -> None:
    view = render(wedge_plot(value="Spent", agg="sum", sort="name"))
    view.hub.stream("p", SPENT)
    view.session.tick()
    assert wedges(view) == {"2012": 13.0, "2013": 5.5, "2014": 7.0}
    shares = wedges(view, "wedges")
    assert shares == pytest.approx({"2012": 13 / 25.5, "2013": 5.5 / 25.5, "2014": 7 / 25.5})
    assert wedges(view, "label") == {"2012": "2012: 13", "2013": "2013: 5.5", "2014": "2014: 7"}
    # the wedges tile the circle clockwise from twelve o'clock in the table's (name) order
    data = view.source("sv:r:wedges").data
    starts = [
        np.arctan2(xs[0][0][0], ys[0][0][0]) % (2 * np.pi)
        for xs, ys in zip(data["xs"], data["ys"], strict=True)
    ]
    ends = np.cumsum([0.0, *list(shares.values())]) * 2 * np.pi
    assert starts == pytest.approx(list(ends[:-1]), abs=1e-9)
    # new rows fold into the totals
    view.hub.stream("p", {"Year": [2013], "Spent": [4.5]})
    view.session.tick()
    assert wedges(view) == {"2012": 13.0, "2013": 10.0, "2014": 7.0}


def test_a_category_appearing_later_leaves_the_others_colors_alone(render) -> None:
    view = render(wedge_plot())  # count, sorted by value: the newcomer sorts first
    view.hub.stream("p", {"Year": [2012, 2013]})
    view.session.tick()
    before = wedges(view, "color")
    view.hub.stream("p", {"Year": [2020, 2020, 2020]})
    view.session.tick()
    after = wedges(view, "color")
    assert list(view.source("sv:r:wedges").data["category"])[0] == "2020"
    assert {k: after[k] for k in before} == before
    assert len(set(after.values())) == 3


@pytest.mark.parametrize(
    ("kind", "fields", "inner"),
    [
        ("ring", {}, 0.5),
        ("pie", {}, 0.0),
        ("ring", {"inner_radius": 0.8}, 0.8),
        ("pie", {"inner_radius": 0.25}, 0.25),
    ],
)
def test_inner_radius_defaults_to_a_ring_or_a_pie(render, kind, fields, inner) -> None:
    view = render(wedge_plot(kind, **fields))
    view.hub.stream("p", {"Year": [1, 2, 2]})
    view.session.tick()
    for distances in radii(view):
        assert distances.max() == pytest.approx(1.0)
        assert distances.min() == pytest.approx(inner, abs=1e-9)
    assert view.model("sv-figure:r").match_aspect is True  # round, whatever the cell's shape


def test_an_alpha_column_in_the_table_sets_each_wedges_opacity(render) -> None:
    view = render(wedge_plot(options={"alpha": 0.5}))
    view.hub.stream("p", {"Year": [1, 2, 2]})
    view.session.tick()
    assert fill_alphas(view) == {"2": 0.5, "1": 0.5}  # the option, times the table's 1.0
    state = view.session.feeds["p"].targets[0].state
    original = state.update

    def dim_one(batch, reset, key=None):  # what crossfilter does to unselected categories
        table = original(batch, reset, key)
        table["alpha"] = [1.0 if c == "2" else 0.25 for c in table["category"]]
        return table

    state.update = dim_one
    view.hub.stream("p", {"Year": [1]})
    view.session.tick()
    assert fill_alphas(view) == {"2": 0.5, "1": 0.125}
    assert wedges(view, "alpha") == {"2": 0.5, "1": 0.125}


def test_ring_says_waiting_while_empty_and_after_a_clear(render) -> None:
    view = render(wedge_plot())
    (legend,) = [
        m for m in view.model("sv-figure:r").select({"type": Legend}) if m.name == "sv-legend:r"
    ]
    assert view.model("sv-waiting:r").visible is True
    assert legend.visible is False
    assert view.rows("sv:r:wedges") == 0
    view.hub.stream("p", {"Year": ["<b>x</b>"]})
    view.session.tick()
    assert view.model("sv-waiting:r").visible is False
    assert legend.visible is True
    assert wedges(view, "label") == {"<b>x</b>": "<b>x</b>: 1"}  # text, drawn as text
    view.hub.clear("p")
    view.session.tick()
    assert view.model("sv-waiting:r").visible is True
    assert view.rows("sv:r:wedges") == 0


def test_legend_false_draws_none_and_a_position_places_it(render) -> None:
    hidden = render(wedge_plot(options={"legend": False}))
    assert [m.name for m in hidden.model("sv-figure:r").select({"type": Legend}) if m.name] == []
    below = render(wedge_plot(options={"legend": "bottom"}))
    figure = below.model("sv-figure:r")
    assert [m.name for m in figure.below if isinstance(m, Legend)] == ["sv-legend:r"]


def test_negative_values_draw_no_wedge_but_keep_their_entry() -> None:
    table = pd.DataFrame({"category": ["a", "b"], "value": [3.0, -1.0], "color": ["r", "g"]})
    drawn = ring.wedges(table, inner=0.5, alpha=0.9)
    assert [w["wedges"] for w in drawn] == [1.0, 0.0]
    assert [w["label"] for w in drawn] == ["a: 3", "b: -1"]


def test_ring_and_pie_fields_are_validated() -> None:
    assert KINDS["ring"] is ring.KIND
    assert KINDS["pie"] is pie.KIND
    with pytest.raises(
        SpecError,
        match=r"plots\.r\.inner_radius: must be between 0 \(a pie\) "
        r"and 0\.9 \(a thin ring\): a fraction of the radius, not 1\.5",
    ):
        load_layout(wedge_plot(inner_radius=1.5))
    with pytest.raises(SpecError, match=r"plots\.r\.inner_radius: must be a number, not text"):
        load_layout(wedge_plot("pie", inner_radius="half"))
    with pytest.raises(SpecError, match=r"plots\.r\.agg: 'mean' needs a 'value' column"):
        load_layout(wedge_plot(agg="mean"))
    with pytest.raises(SpecError, match=r"plots\.r: 'by' is required for a pie plot"):
        load_layout({"plots": [{"id": "r", "kind": "pie", "stream": "p", "at": [0, 0, 1, 1]}]})
    with pytest.raises(SpecError, match=r"plots\.r\.options\.logy: unknown key in ring options"):
        load_layout(wedge_plot(options={"logy": True}))
    plot = load_layout(wedge_plot("pie", value="Spent", agg="sum")).plots[0]
    assert plot.columns == ["Year", "Spent"]
    assert plot.get("inner_radius") == 0.0


def test_heatmap_draws_the_matrix_with_row_zero_on_top_and_a_colorbar(render) -> None:
    view = render(heatmap())
    matrix = np.arange(12.0).reshape(3, 4) ** 1.5
    view.hub.stream("m", pd.DataFrame(matrix), mode="replace")
    view.session.tick()
    data = view.source("sv:h:image").data
    assert len(data["image"]) == 1  # one image glyph, not a rectangle per cell
    np.testing.assert_array_equal(data["image"][0], matrix)
    assert (data["dw"][0], data["dh"][0]) == (4.0, 3.0)
    figure = view.model("sv-figure:h")
    assert (figure.y_range.start, figure.y_range.end) == (2.5, -0.5)  # row 0 at the top
    (colorbar,) = [m for m in figure.right if isinstance(m, ColorBar)]
    mapper = colorbar.color_mapper
    assert (mapper.low, mapper.high) == (matrix.min(), matrix.max())
    assert view.model("sv-waiting:h").visible is False


def test_replace_swaps_the_matrix_and_its_shape(render) -> None:
    view = render(heatmap(kind="image", origin="bottom"))
    view.hub.stream("m", pd.DataFrame(np.zeros((2, 2)) + [[1, 2], [3, 4]]), mode="replace")
    view.session.tick()
    view.hub.stream("m", np.eye(5), columns=list("abcde"), mode="replace")
    view.session.tick()
    np.testing.assert_array_equal(view.source("sv:h:image").data["image"][0], np.eye(5))
    figure = view.model("sv-figure:h")
    assert (figure.y_range.start, figure.y_range.end) == (-0.5, 4.5)  # origin: bottom
    assert tick_labels(figure) == dict(enumerate("abcde"))


def test_a_256_square_matrix_is_one_array_of_floats(render) -> None:
    view = render(heatmap())
    matrix = np.random.default_rng(1).random((256, 256))
    view.hub.stream("m", pd.DataFrame(matrix), mode="replace")
    view.session.tick()
    drawn = view.source("sv:h:image").data["image"]
    assert len(drawn) == 1
    np.testing.assert_array_equal(drawn[0], matrix)


def test_append_mode_keeps_the_newest_points_rows_of_the_named_columns(render) -> None:
    view = render(heatmap(columns=["c", "a"], options={"points": 3}))
    view.hub.stream("m", {"a": [1.0, 2.0], "b": ["x", "y"], "c": [10, 20]})
    view.session.tick()
    np.testing.assert_array_equal(view.source("sv:h:image").data["image"][0], [[10, 1], [20, 2]])
    view.hub.stream("m", {"a": [3.0, np.inf], "b": ["z", "w"], "c": [30, 40]})
    view.session.tick()
    np.testing.assert_array_equal(
        view.source("sv:h:image").data["image"][0], [[20, 2], [30, 3], [40, np.nan]]
    )  # inf is left blank
    assert tick_labels(view.model("sv-figure:h")) == {0: "c", 1: "a"}


def test_by_default_every_numeric_column_in_stream_order(render) -> None:
    view = render(heatmap())
    view.hub.stream(
        "m",
        {"z": [1.0, 2.0], "label": ["p", "q"], "a": [3, 4], "ok": [True, False]},
        mode="replace",
    )
    view.session.tick()
    np.testing.assert_array_equal(view.source("sv:h:image").data["image"][0], [[1, 3], [2, 4]])


def test_heatmap_says_waiting_while_empty_and_after_a_clear(render) -> None:
    view = render(heatmap())
    assert view.model("sv-waiting:h").visible is True
    view.hub.stream("m", {"0": [np.nan, 1.0]}, mode="replace")
    view.session.tick()
    assert view.model("sv-waiting:h").visible is False
    view.hub.clear("m")
    view.session.tick()
    assert view.model("sv-waiting:h").visible is True
    view.hub.stream("m", {"0": [np.nan]}, mode="replace")  # nothing to color: still waiting
    view.session.tick()
    assert view.model("sv-waiting:h").visible is True


def test_a_missing_named_column_shows_in_the_cell(render) -> None:
    view = render(heatmap(columns=["a", "q"]))
    view.hub.stream("m", {"a": [1.0], "b": [2.0]}, mode="replace")
    view.session.tick()
    (error,) = view.errors()
    assert "plots.h.columns[1]: stream 'm' has no column 'q'" in error


def test_an_unknown_palette_fails_in_its_own_cell(render) -> None:
    view = render(heatmap(options={"palette": "NoSuchMap"}))
    (error,) = view.errors()
    assert error.startswith("plot 'h' (heatmap) could not be built:")
    assert "NoSuchMap" in error


def test_heatmap_fields_are_validated() -> None:
    assert KINDS["heatmap"].build is image.KIND.build
    assert KINDS["image"] is image.KIND
    with pytest.raises(
        SpecError,
        match=r"plots\.h\.origin: must be one of top, bottom, not "
        r"'lower'\.",
    ):
        load_layout(heatmap(origin="lower"))
    with pytest.raises(
        SpecError, match=r"plots\.h\.columns: must be a list of text, not a number"
    ):
        load_layout(heatmap(columns=1.5))
    with pytest.raises(SpecError, match=r"plots\.h\.options\.alpha: unknown key in image options"):
        load_layout(heatmap(kind="image", options={"alpha": 0.5}))
    plot = load_layout(heatmap(columns=["x", "y"])).plots[0]
    assert (plot.columns, plot.get("origin")) == (["x", "y"], "top")
