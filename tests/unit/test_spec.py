"""Layouts: YAML / dict / Python -> validated Layout, and errors that say where and what."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streamvis.errors import SpecError, StreamvisError
from streamvis.kinds import KINDS
from streamvis.layout.spec import Layout, Plot, layout_from_dict, layout_from_yaml, load_layout

KIND_NAMES = ", ".join(KINDS)

EXAMPLE = Path(__file__).resolve().parents[2] / "streamvis" / "demo.yaml"

# Line numbers matter: the error table below points into this text.
BASE = """\
title: Demo
plots:
  - id: loss
    kind: line
    stream: loss
    x: step
    y: [train, val]
    at: [0, 0, 1, 1]
  - id: lr
    kind: line
    stream: lr
    x: step
    y: lr
    at: [0, 1, 1, 1]
"""


def edit(old: str, new: str, text: str = BASE) -> str:
    """BASE with one exact, unique fragment replaced (so a typo here cannot go unnoticed)."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def plot_dict(**changes) -> dict:
    raw = {"id": "a", "kind": "line", "stream": "s", "x": "t", "y": "v", "at": [0, 0, 1, 1]}
    raw.update(changes)
    return raw


# ---------------------------------------------------------------- valid layouts


def test_example_layout_loads():
    layout = load_layout(EXAMPLE)
    assert layout.title == "Training monitor"
    assert layout.refresh_ms == 50
    assert layout.run == "default"
    assert layout.grid is None
    assert layout.shape == (2, 3)
    assert layout.source == str(EXAMPLE)
    assert [p.id for p in layout.plots] == ["loss", "lr", "embedding"]
    loss = layout.plot("loss")
    assert loss.kind == "line"
    assert (loss.x, loss.y, loss.at) == ("step", ("train", "val"), (0, 0, 2, 2))
    assert loss.options == {"title": "Loss", "ylabel": "loss", "logy": True}
    assert layout.plot("lr").y == ("lr",)  # a single y is a one-item tuple
    assert layout.plot("lr").options["colors"] == ["#2ca02c"]
    embedding = layout.plot("embedding")
    assert (embedding.kind, embedding.color) == ("scatter", "cluster")
    assert embedding.options["size"] == 4.0
    assert isinstance(embedding.options["size"], float)
    assert embedding.columns == ["x", "y", "cluster"]


def test_load_layout_accepts_a_string_path_a_dict_and_a_layout():
    from_text_path = load_layout(str(EXAMPLE))
    assert [p.id for p in from_text_path.plots] == ["loss", "lr", "embedding"]
    assert load_layout(from_text_path) is from_text_path
    from_dict = load_layout({"plots": [plot_dict()]})
    assert from_dict.plots[0].id == "a"


def test_missing_layout_file():
    with pytest.raises(SpecError, match=re.escape("cannot read layout file '/no/such.yaml'")):
        load_layout("/no/such.yaml")


def test_layout_from_dict():
    layout = layout_from_dict(
        {
            "title": "From a dict",
            "refresh_ms": 500,
            "run": "exp-1",
            "plots": [
                plot_dict(id="a", y=["v", "w"], options={"logx": True, "points": 50}),
                plot_dict(id="b", kind="scatter", color="c", at=[1, 0, 1, 2]),
            ],
        }
    )
    assert (layout.title, layout.refresh_ms, layout.run) == ("From a dict", 500, "exp-1")
    assert layout.plots[0] == Plot(
        id="a",
        kind="line",
        stream="s",
        at=(0, 0, 1, 1),
        x="t",
        y=("v", "w"),
        options={"logx": True, "points": 50},
    )
    assert layout.plots[1].color == "c"
    assert layout.shape == (2, 2)


def test_base_text_is_valid():
    layout = layout_from_yaml(BASE, source="ok.yaml")
    assert [p.id for p in layout.plots] == ["loss", "lr"]
    assert layout.shape == (1, 2)
    assert layout.source == "ok.yaml"


def test_layout_built_in_python_is_validated():
    layout = Layout(plots=[plot_dict(at=[0, 0, 1, 2], options={"colors": "red"})], title="Py")
    assert layout.title == "Py"
    assert isinstance(layout.plots[0], Plot)
    assert layout.plots[0].y == ("v",)
    assert layout.plots[0].options == {"colors": ["red"]}
    assert layout.shape == (1, 2)


def test_layout_built_from_plot_objects():
    plot = Plot(id="p", kind="scatter", stream="s", at=(2, 1, 1, 1), x="x", y=("y",))
    layout = Layout(plots=[plot], refresh_ms=1000)
    assert layout.plots == (plot,)
    assert layout.shape == (3, 2)


def test_declared_grid_is_the_shape():
    layout = Layout(plots=[plot_dict()], grid=(3, 4))
    assert layout.grid == (3, 4)
    assert layout.shape == (3, 4)
    from_yaml = layout_from_yaml("grid: [2, 5]\n" + BASE)
    assert from_yaml.shape == (2, 5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"plots": [plot_dict(kind="lien")]},
            "layout: plots.a.kind: unknown kind 'lien'. Did you mean 'line'?",
            id="kind",
        ),
        pytest.param({"plots": []}, "layout: plots: 'plots' must be a non-empty list", id="empty"),
        pytest.param(
            {"plots": [plot_dict()], "title": 3},
            "layout: title: must be text, not an integer",
            id="title",
        ),
        pytest.param(
            {"plots": [plot_dict()], "refresh_ms": 1},
            "layout: refresh_ms: must be between 10 and 60000, not 1",
            id="refresh",
        ),
        pytest.param(
            {"plots": [plot_dict()], "run": "a b"},
            "layout: run: run name 'a b' is not allowed",
            id="run",
        ),
        pytest.param(
            {"plots": [plot_dict(at=[0, 0, 1, 2])], "grid": (1, 1)},
            "layout: plots.a.at: cell [0, 0, 1, 2] reaches row 1 and column 2, "
            "outside the 1x1 grid",
            id="grid",
        ),
        pytest.param(
            {"plots": [plot_dict()], "source": "mine.py"},
            None,
            id="valid-with-source",
        ),
    ],
)
def test_layout_in_python_raises_like_yaml(kwargs, message):
    if message is None:
        assert Layout(**kwargs).source == "mine.py"
        return
    with pytest.raises(SpecError) as info:
        Layout(**kwargs)
    assert str(info.value).startswith(message)


def test_plot_helpers():
    layout = Layout(
        plots=[plot_dict(id="a", kind="scatter", y=["v", "t"], color="v", options={"title": "T"})]
    )
    plot = layout.plot("a")
    assert plot.columns == ["t", "v"]  # x first, then unique names
    assert plot.title == "T"
    assert Layout(plots=[plot_dict(id="b")]).plots[0].title == "b"
    with pytest.raises(KeyError):
        layout.plot("nope")


def test_spec_error_is_a_streamvis_error():
    with pytest.raises(StreamvisError):
        layout_from_dict({"plots": []})
    with pytest.raises(ValueError, match="must be a non-empty list"):
        layout_from_dict({"plots": []})


# ---------------------------------------------------------------- bad layouts

AT_LOSS = "    at: [0, 0, 1, 1]\n"
OPTIONS_BLOCK = AT_LOSS + "    options:\n"

BAD_LAYOUTS = [
    pytest.param(
        "title: Demo\nplots: [\n  - id: a\n",
        [
            "bad.yaml:3:3: YAML syntax error: expected the node content, but found '-'",
            "3 |   - id",
        ],
        id="yaml-syntax",
    ),
    pytest.param(
        edit("    kind: line\n    stream: loss", "     kind: line\n    stream: loss"),
        [
            "bad.yaml:4:10: YAML syntax error: mapping values are not allowed here",
            "4 |      kind: line",
        ],
        id="yaml-indentation",
    ),
    pytest.param(
        "", ["bad.yaml: the layout is empty; it needs at least 'plots'"], id="empty-file"
    ),
    pytest.param(
        "# only a comment\n",
        ["bad.yaml: the layout is empty; it needs at least 'plots'"],
        id="only-comments",
    ),
    pytest.param(
        edit("title: Demo\n", "title: Demo\ntitle: Again\n"),
        ["bad.yaml:2:1: key 'title' appears twice"],
        id="duplicate-top-level-key",
    ),
    pytest.param(
        edit("    x: step\n    y: lr", "    x: step\n    x: epoch\n    y: lr"),
        ["bad.yaml:13:5: key 'x' appears twice"],
        id="duplicate-plot-key",
    ),
    pytest.param(
        "- id: loss\n",
        ["bad.yaml:1:1: a layout must be a mapping with 'plots', not a list"],
        id="not-a-mapping",
    ),
    pytest.param(
        edit("title: Demo", "titel: Demo"),
        [
            "bad.yaml:1:1: titel: unknown key in the layout. Did you mean 'title'? "
            "Valid keys: title, refresh_ms, run, grid, plots, sources.",
            "1 | titel: Demo",
        ],
        id="unknown-top-level-key",
    ),
    pytest.param(
        edit("stream: loss", "strem: loss"),
        [
            "bad.yaml:5:5: plots.loss.strem: unknown key in a line plot. "
            "Did you mean 'stream'? Valid keys: id, kind, stream, at, options, crossfilter, x, y.",
            "5 |     strem: loss",
        ],
        id="unknown-plot-key",
    ),
    pytest.param(
        edit("kind: line\n    stream: loss", "kind: lien\n    stream: loss"),
        [
            "bad.yaml:4:5: plots.loss.kind: unknown kind 'lien'. Did you mean 'line'? "
            f"Kinds: {KIND_NAMES}.",
            "4 |     kind: lien",
        ],
        id="unknown-kind",
    ),
    pytest.param(
        edit("    kind: line\n    stream: loss\n", "    stream: loss\n"),
        [f"bad.yaml:3:5: plots.loss: 'kind' is required (one of: {KIND_NAMES})"],
        id="missing-kind",
    ),
    pytest.param(
        edit("  - id: loss\n    kind", "  - kind"),
        ["bad.yaml:3:5: plots[0]: 'id' is required for a line plot", "3 |   - kind: line"],
        id="missing-id",
    ),
    pytest.param(
        edit("    stream: loss\n", ""),
        ["bad.yaml:3:5: plots.loss: 'stream' is required for a line plot", "3 |   - id: loss"],
        id="missing-stream",
    ),
    pytest.param(
        edit("    at: [0, 0, 1, 1]\n", ""),
        ["bad.yaml:3:5: plots.loss: 'at' is required for a line plot"],
        id="missing-at",
    ),
    pytest.param(
        edit("    x: step\n    y: [train", "    y: [train"),
        ["bad.yaml:3:5: plots.loss: 'x' is required for a line plot"],
        id="missing-x",
    ),
    pytest.param(
        edit("    y: lr\n", ""),
        ["bad.yaml:9:5: plots.lr: 'y' is required for a line plot", "9 |   - id: lr"],
        id="missing-y",
    ),
    pytest.param(
        edit(AT_LOSS, OPTIONS_BLOCK + "      logg: true\n"),
        [
            "bad.yaml:10:7: plots.loss.options.logg: unknown key in line options. "
            "Did you mean 'logy'?",
            "10 |       logg: true",
        ],
        id="unknown-option",
    ),
    pytest.param(
        edit(AT_LOSS, AT_LOSS + "    options: {title: L, palette: x}\n"),
        [
            "bad.yaml:9:25: plots.loss.options.palette: unknown key in line options. Valid keys:",
        ],
        id="scatter-option-on-a-line",
    ),
    pytest.param(
        edit(AT_LOSS, OPTIONS_BLOCK + "      points: 0\n"),
        [
            "bad.yaml:10:7: plots.loss.options.points: must be at least 1, not 0",
            "10 |       points: 0",
        ],
        id="points-zero",
    ),
    pytest.param(
        edit(AT_LOSS, OPTIONS_BLOCK + '      logy: "yes"\n'),
        ["bad.yaml:10:7: plots.loss.options.logy: must be true or false, not text"],
        id="logy-text",
    ),
    pytest.param(
        edit(AT_LOSS, OPTIONS_BLOCK + "      alpha: 1.5\n"),
        ["bad.yaml:10:7: plots.loss.options.alpha: must be between 0 and 1, not 1.5"],
        id="alpha-above-one",
    ),
    pytest.param(
        edit(AT_LOSS, OPTIONS_BLOCK + "      legend: top_lft\n"),
        [
            "bad.yaml:10:7: plots.loss.options.legend: must be true, false or one of top_left,",
            "not 'top_lft'. Did you mean 'top_left'?",
        ],
        id="legend-position",
    ),
    pytest.param(
        edit(AT_LOSS, AT_LOSS + "    options: [logy]\n"),
        ["bad.yaml:9:5: plots.loss.options: must be a mapping, not a list"],
        id="options-not-a-mapping",
    ),
    pytest.param(
        edit("at: [0, 0, 1, 1]", "at: [0, 0, 1]"),
        [
            "bad.yaml:8:5: plots.loss.at: must be four integers [top, left, height, width], "
            "not [0, 0, 1]",
            "8 |     at: [0, 0, 1]",
        ],
        id="at-three-numbers",
    ),
    pytest.param(
        edit("at: [0, 0, 1, 1]", "at: [-1, 0, 1, 1]"),
        ["bad.yaml:8:5: plots.loss.at: top must be at least 0, not -1"],
        id="at-negative-top",
    ),
    pytest.param(
        edit("at: [0, 0, 1, 1]", "at: [0, 0, 1, 0]"),
        ["bad.yaml:8:5: plots.loss.at: width must be at least 1, not 0"],
        id="at-zero-width",
    ),
    pytest.param(
        edit("at: [0, 0, 1, 1]", "at: [0, 0, 1.5, 1]"),
        ["bad.yaml:8:5: plots.loss.at: must be four integers"],
        id="at-float",
    ),
    pytest.param(
        edit("at: [0, 0, 1, 1]", "at: [0, 49, 1, 1]"),
        ["bad.yaml:8:5: plots.loss.at: left must be at most 48 (STREAMVIS_MAX_GRID), not 49"],
        id="at-too-far",
    ),
    pytest.param(
        edit("at: [0, 1, 1, 1]", "at: [0, 0, 2, 2]"),
        [
            "bad.yaml:14:5: plots.lr.at: overlaps plot 'loss' at row 0, column 0\n"
            "      # B\n"
            "      B B\n"
            "      (A=loss, B=lr; # = overlap)\n"
            "      14 |     at: [0, 0, 2, 2]"
        ],
        id="overlap",
    ),
    pytest.param(
        "grid: [1, 1]\n" + BASE,
        [
            "bad.yaml:15:5: plots.lr.at: cell [0, 1, 1, 1] reaches row 1 and column 2, "
            "outside the 1x1 grid",
            "15 |     at: [0, 1, 1, 1]",
        ],
        id="outside-grid",
    ),
    pytest.param(
        "grid: [1, 2, 3]\n" + BASE,
        [
            "bad.yaml:1:1: grid: must be [rows, columns] between 1 and 48 (STREAMVIS_MAX_GRID), "
            "not [1, 2, 3]"
        ],
        id="grid-three-numbers",
    ),
    pytest.param(
        "grid: [0, 2]\n" + BASE,
        [
            "bad.yaml:1:1: grid: must be [rows, columns] between 1 and 48 (STREAMVIS_MAX_GRID), "
            "not [0, 2]"
        ],
        id="grid-zero-rows",
    ),
    pytest.param(
        edit("id: lr", "id: loss"),
        ["bad.yaml:9:5: plots.loss.id: plot id 'loss' is used twice", "9 |   - id: loss"],
        id="duplicate-plot-id",
    ),
    pytest.param(
        edit("title: Demo\n", "title: Demo\nrefresh_ms: 5\n"),
        ["bad.yaml:2:1: refresh_ms: must be between 10 and 60000, not 5"],
        id="refresh-too-fast",
    ),
    pytest.param(
        edit("title: Demo\n", "title: Demo\nrefresh_ms: 60001\n"),
        ["bad.yaml:2:1: refresh_ms: must be between 10 and 60000, not 60001"],
        id="refresh-too-slow",
    ),
    pytest.param(
        edit("title: Demo\n", "title: Demo\nrefresh_ms: fast\n"),
        ["bad.yaml:2:1: refresh_ms: must be an integer, not text"],
        id="refresh-not-a-number",
    ),
    pytest.param(
        edit("stream: loss", "stream: my loss"),
        [
            "bad.yaml:5:5: plots.loss.stream: stream name 'my loss' is not allowed: "
            "use 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
        ],
        id="invalid-stream-name",
    ),
    pytest.param(
        edit("stream: lr", "stream: a/b"),
        ["bad.yaml:11:5: plots.lr.stream: stream name 'a/b' is not allowed"],
        id="stream-name-with-slash",
    ),
    pytest.param(
        edit("id: lr", "id: l r"),
        ["bad.yaml:9:5: plots.l r.id: id name 'l r' is not allowed", "9 |   - id: l r"],
        id="invalid-plot-id",
    ),
    pytest.param(
        "run: .hidden\n" + BASE,
        ["bad.yaml:1:1: run: run name '.hidden' is not allowed"],
        id="invalid-run",
    ),
    pytest.param(
        edit("x: step\n    y: [train", "x: [step]\n    y: [train"),
        ["bad.yaml:6:5: plots.loss.x: must be text, not a list"],
        id="x-not-text",
    ),
    pytest.param(
        edit("y: [train, val]", "y: []"),
        ["bad.yaml:7:5: plots.loss.y: must be a list of text, not a list"],
        id="y-empty",
    ),
    pytest.param(
        "title: Demo\nplots: []\n",
        ["bad.yaml:2:1: plots: 'plots' must be a non-empty list of plots", "2 | plots: []"],
        id="plots-empty",
    ),
    pytest.param(
        "title: Demo\n",
        ["bad.yaml:1:1: plots: 'plots' must be a non-empty list of plots"],
        id="plots-missing",
    ),
    pytest.param(
        "plots:\n  - 3\n",
        ["bad.yaml:2:5: plots[0]: each plot must be a mapping of keys, not an integer"],
        id="plot-not-a-mapping",
    ),
]


@pytest.mark.parametrize(("text", "fragments"), BAD_LAYOUTS)
def test_bad_layout_messages(text, fragments):
    with pytest.raises(SpecError) as info:
        layout_from_yaml(text, source="bad.yaml")
    message = str(info.value)
    assert message.startswith(fragments[0]), message
    for fragment in fragments[1:]:
        assert fragment in message, message


def test_default_source_name():
    with pytest.raises(SpecError, match=re.escape("<layout>:1:1: titel: unknown key")):
        layout_from_yaml(edit("title: Demo", "titel: Demo"))


def test_python_tags_on_a_sequence_are_not_constructed():
    # the tag is ignored (nothing is executed); the value is then an ordinary list
    text = edit("title: Demo", "title: !!python/object/apply:os.system ['true']")
    with pytest.raises(
        SpecError, match=re.escape("bad.yaml:1:1: title: must be text, not a list")
    ):
        layout_from_yaml(text, source="bad.yaml")


def test_yaml_timestamps_and_binary_are_just_wrong_types():
    with pytest.raises(SpecError, match=re.escape("bad.yaml:1:1: title: must be text, not date")):
        layout_from_yaml("title: 2024-01-01\n" + edit("title: Demo\n", ""), source="bad.yaml")


@pytest.mark.parametrize("tag", ["!!python/name:os.system", "!custom"])
def test_unknown_yaml_tag_is_a_spec_error(tag):
    text = edit("title: Demo", f"title: {tag} x")
    with pytest.raises(SpecError, match=re.escape("bad.yaml:1:8:")):
        layout_from_yaml(text, source="bad.yaml")


def test_recursive_alias_is_a_spec_error():
    with pytest.raises(SpecError):
        layout_from_yaml(edit("title: Demo", "title: &a [*a]"), source="bad.yaml")


def test_unhashable_kind_is_a_spec_error():
    with pytest.raises(SpecError, match=re.escape("bad.yaml:4:5: plots.loss.kind: unknown kind")):
        layout_from_yaml(
            edit("kind: line\n    stream: loss", "kind: [line]\n    stream: loss"),
            source="bad.yaml",
        )


def test_grid_refuses_booleans():
    with pytest.raises(SpecError, match=re.escape("grid: must be [rows, columns]")):
        layout_from_yaml("grid: [true, 2]\n" + BASE, source="bad.yaml")


# ---------------------------------------------------------------- columns a stream lacks


def test_check_columns_names_file_plot_key_and_column():
    layout = load_layout(EXAMPLE)
    error = layout.check_columns(layout.plot("loss"), ["step", "train", "vall"])
    assert isinstance(error, SpecError)
    assert str(error) == (
        f"{EXAMPLE}:10:16: plots.loss.y[1]: stream 'loss' has no column 'val'; "
        "it has ['step', 'train', 'vall']. Did you mean 'vall'?\n"
        "      10 |     y: [train, val]"
    )


def test_check_columns_for_x_and_color():
    layout = load_layout(EXAMPLE)
    error = layout.check_columns(layout.plot("lr"), ["stp", "lr"])
    assert str(error).startswith(
        f"{EXAMPLE}:19:5: plots.lr.x: stream 'lr' has no column 'step'; it has ['lr', 'stp']. "
        "Did you mean 'stp'?"
    )
    error = layout.check_columns(layout.plot("embedding"), ["x", "y", "clusters"])
    assert str(error).startswith(
        f"{EXAMPLE}:28:5: plots.embedding.color: stream 'embedding' has no column 'cluster'; "
        "it has ['clusters', 'x', 'y']. Did you mean 'clusters'?"
    )


def test_check_columns_without_a_close_match_has_no_suggestion():
    layout = layout_from_yaml(BASE, source="t.yaml")
    error = layout.check_columns(layout.plot("lr"), ["step", "zzz"])
    assert str(error).startswith(
        "t.yaml:13:5: plots.lr.y: stream 'lr' has no column 'lr'; it has ['step', 'zzz']."
    )
    assert "Did you mean" not in str(error)


def test_check_columns_returns_none_when_all_exist():
    layout = load_layout(EXAMPLE)
    assert layout.check_columns(layout.plot("loss"), ["step", "train", "val", "extra"]) is None
    assert layout.check_columns(layout.plot("embedding"), iter(["cluster", "y", "x"])) is None


def test_check_columns_on_a_layout_built_in_python():
    layout = Layout(plots=[plot_dict(id="p", y=["v"])])
    error = layout.check_columns(layout.plots[0], ["t", "w"])
    assert str(error) == "layout: plots.p.y: stream 's' has no column 'v'; it has ['t', 'w']."
