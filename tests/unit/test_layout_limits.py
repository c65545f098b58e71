"""Issue 9: layouts that would cost the server unbounded time or memory are refused when
they are read, with a short SpecError naming the key (and file:line from YAML), and the
limits can be changed through their environment variables (streamvis/wire/limits.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from streamvis.errors import SpecError
from streamvis.layout import limits
from streamvis.layout.spec import layout_from_dict, layout_from_yaml, load_layout
from streamvis.page.compare import matching_runs


def plot(index: int = 0, at: list[int] | None = None, **fields: Any) -> dict[str, Any]:
    """A line plot (unless fields say otherwise) in row `index`."""
    return {
        "id": f"p{index}",
        "kind": "line",
        "stream": "s",
        "x": "x",
        "y": "y",
        "at": at or [index, 0, 1, 1],
        **fields,
    }


def refused(raw: Any) -> str:
    with pytest.raises(SpecError) as info:
        layout_from_dict(raw)
    return str(info.value)


def test_more_plots_than_the_limit_are_refused_before_any_is_read() -> None:
    plots = [plot(i, at=[i // 8, i % 8, 1, 1]) for i in range(64)]
    assert len(layout_from_dict({"plots": plots}).plots) == 64
    message = refused({"plots": [*plots, plot(64, at=[47, 47, 1, 1])]})
    assert (
        message
        == "layout: plots: a layout may have at most 64 plots (STREAMVIS_MAX_PLOTS), not 65"
    )


def test_the_plot_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMVIS_MAX_PLOTS", "2")
    assert "at most 2 plots" in refused({"plots": [plot(0), plot(1), plot(2)]})
    monkeypatch.setenv("STREAMVIS_MAX_PLOTS", "lots")
    with pytest.raises(SpecError, match=re.escape("STREAMVIS_MAX_PLOTS='lots' must be a whole")):
        layout_from_dict({"plots": [plot(0)]})


def test_100000_overlapping_plots_get_a_short_answer() -> None:
    """The overlap error used to draw every plot; now the count is refused first."""
    message = refused({"plots": [plot(i, at=[0, 0, 1, 1]) for i in range(100_000)]})
    assert message.endswith("at most 64 plots (STREAMVIS_MAX_PLOTS), not 100,000")
    assert len(message) < 200


def test_the_overlap_error_stays_short_with_many_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMVIS_MAX_PLOTS", "3000")
    message = refused({"plots": [plot(i, at=[0, 0, 1, 1]) for i in range(3000)]})
    assert message == "layout: plots.p1.at: overlaps plot 'p0' at row 0, column 0"


def test_a_small_overlap_is_still_drawn() -> None:
    message = refused({"plots": [plot(0, at=[0, 0, 2, 2]), plot(1, at=[1, 1, 1, 2])]})
    assert "A A .\n      A # B" in message


def test_a_48_by_48_grid_is_bounded_by_the_plot_limit() -> None:
    """48 x 48 one-cell plots (2,304) took a page ~24 minutes: refused by the plot limit.
    A 48 x 48 grid with few plots is allowed and cheap (the grid itself costs nothing)."""
    cells = [plot(r * 48 + c, at=[r, c, 1, 1]) for r in range(48) for c in range(48)]
    assert "at most 64 plots" in refused({"grid": [48, 48], "plots": cells})
    layout = layout_from_dict({"grid": [48, 48], "plots": [plot(0, at=[47, 47, 1, 1])]})
    assert layout.shape == (48, 48)
    assert "between 1 and 48 (STREAMVIS_MAX_GRID)" in refused(
        {"grid": [49, 1], "plots": [plot(0)]}
    )
    assert "a grid has at most 48 of each" in refused({"plots": [plot(0, at=[40, 0, 9, 1])]})


def test_histogram_bins_that_would_allocate_gigabytes_are_refused() -> None:
    histogram = {"id": "h", "kind": "histogram", "stream": "s", "value": "v", "at": [0, 0, 1, 1]}
    assert layout_from_dict({"plots": [{**histogram, "bins": 10_000}]})
    message = refused({"plots": [{**histogram, "bins": 300_000_000}]})
    assert message == (
        "layout: plots.h.bins: must be at most 10,000 (STREAMVIS_MAX_BINS), not 300000000"
    )
    text = "plots:\n  - {id: h, kind: histogram, stream: s, value: v, at: [0, 0, 1, 1],\n"
    with pytest.raises(SpecError) as info:
        layout_from_yaml(text + "     bins: 300000000}\n", source="big.yaml")
    assert str(info.value).startswith("big.yaml:3:6: plots.h.bins: must be at most 10,000")


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("{:>300000000}", "width 300000000 is more than 100 (STREAMVIS_MAX_FORMAT_WIDTH)"),
        ("{:.300000000f}", "precision 300000000 is more than 100"),
        ("{:>" + "9" * 500 + "}", "width a number of 500 digits is more than 100"),
        ("{0.__class__}", "the placeholder must be {} or {0}, not {0.__class__}"),
        ("{:{}}", "has a format spec Python does not know"),
        ("{} and {}", "must hold exactly one {} placeholder for the value"),
        ("no placeholder", "must hold exactly one {} placeholder"),
        ("{:,.4q}", "has a format spec Python does not know: ',.4q'"),
        ("{", "is not a valid format"),
    ],
)
def test_number_formats_that_size_work_are_refused(pattern: str, problem: str) -> None:
    number = {"id": "n", "kind": "number", "stream": "s", "value": "v", "at": [0, 0, 1, 1]}
    message = refused({"plots": [{**number, "format": pattern}]})
    assert message.startswith("layout: plots.n.format: ")
    assert problem in message
    assert len(message) < 300


@pytest.mark.parametrize("pattern", ["{:,.4g}", "{:>12.3f} ms", "loss {0:.2%}", "{!r}", "{{}} {}"])
def test_ordinary_number_formats_are_kept(pattern: str) -> None:
    number = {"id": "n", "kind": "number", "stream": "s", "value": "v", "at": [0, 0, 1, 1]}
    layout = layout_from_dict({"plots": [{**number, "format": pattern}]})
    assert layout.plots[0].get("format") == pattern


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"options": {"points": 10**9}}, "options.points: must be at most 1,000,000"),
        ({"options": {"title": "t" * 1001}}, "options.title: must be at most 1,000 characters"),
        ({"options": {"xlabel": "x" * 5000}}, "options.xlabel: must be at most 1,000 characters"),
        ({"options": {"colors": ["red"] * 300}}, "options.colors: must list at most 256"),
        ({"options": {"line_width": 1e9}}, "options.line_width: must be at most 1000 pixels"),
        ({"options": {"alpha": float("nan")}}, "options.alpha: must be a finite number"),
        ({"y": [f"c{i}" for i in range(300)]}, "plots.p0.y: must list at most 256"),
        ({"x": "x" * 2000}, "plots.p0.x: must be at most 1,000 characters"),
        ({"crossfilter": "g" * 2000}, "crossfilter: must be at most 1,000 characters"),
    ],
)
def test_options_and_names_are_bounded(fields: dict[str, Any], message: str) -> None:
    assert message in refused({"plots": [plot(0, **fields)]})


def test_table_rows_markdown_text_title_and_sources_are_bounded() -> None:
    table = {"id": "t", "kind": "table", "stream": "s", "columns": ["a"], "at": [0, 0, 1, 1]}
    assert "plots.t.rows: must be at most 1,000 (STREAMVIS_MAX_TABLE_ROWS)" in refused(
        {"plots": [{**table, "rows": 10**7}]}
    )
    note = {"id": "m", "kind": "markdown", "text": "x" * 100_001, "at": [0, 0, 1, 1]}
    assert "plots.m.text: must be at most 100,000 characters (STREAMVIS_MAX_MARKDOWN)" in refused(
        {"plots": [note]}
    )
    assert "title: must be at most 1,000 characters" in refused(
        {"title": "T" * 1_001, "plots": [plot(0)]}
    )
    feeds = [
        {"name": f"f{i}", "type": "tcp", "stream": "s", "host": "h", "port": 1} for i in range(17)
    ]
    assert "a layout may have at most 16 sources (STREAMVIS_MAX_SOURCES)" in refused(
        {"plots": [plot(0)], "sources": feeds}
    )


def test_huge_values_are_quoted_briefly_in_errors() -> None:
    message = refused({"plots": [plot(0, at=list(range(100_000)))]})
    assert len(message) < 300
    nested: Any = []
    for _ in range(5_000):
        nested = [nested]
    assert len(refused({"plots": [plot(0, at=nested)]})) < 300


# ------------------------------------------------------------------ YAML oddities


def test_a_control_character_or_bad_byte_is_a_spec_error(tmp_path) -> None:
    """PyYAML's ReaderError used to escape."""
    with pytest.raises(SpecError, match=r"^bad\.yaml:2: YAML cannot contain the character"):
        layout_from_yaml("title: t\nplots: \x07\n", source="bad.yaml")
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"title: caf\xe9\n")
    with pytest.raises(SpecError, match="must be UTF-8 text; byte 10 is not"):
        load_layout(path)


@pytest.mark.parametrize("text", ["? [a, b]: 1\n", "{[1]: 2}\n", "plots:\n  - {? {a: 1}: 2}\n"])
def test_an_unhashable_key_is_a_spec_error(text: str) -> None:
    """A list or mapping as a key used to raise TypeError."""
    with pytest.raises(SpecError, match="a key must be a plain word or number"):
        layout_from_yaml(text, source="keys.yaml")


def test_a_bad_scalar_and_an_alias_bomb_are_spec_errors() -> None:
    with pytest.raises(SpecError, match=r"keys\.yaml:1:8: cannot load '2001-02-30'"):
        layout_from_yaml("title: 2001-02-30\n", source="keys.yaml")
    with pytest.raises(SpecError, match="cannot load '' as tag:yaml.org,2002:float"):
        layout_from_yaml("title: !!float\n", source="keys.yaml")
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        previous = chr(ord("a") + level - 1)
        bomb.append(f"{chr(ord('a') + level)}: &{chr(ord('a') + level)} [" + ", ".join(
            [f"*{previous}"] * 10) + "]")  # fmt: skip
    with pytest.raises(SpecError, match=r"more than 100,000 values \(STREAMVIS_MAX_LAYOUT_NODES"):
        layout_from_yaml("\n".join(bomb) + "\n", source="bomb.yaml")
    deep = "plots: " + "[" * 5_000 + "]" * 5_000 + "\n"
    with pytest.raises(
        SpecError, match=r"deep\.yaml:1:58: YAML syntax error: the layout is nested"
    ):
        layout_from_yaml(deep, source="deep.yaml")


# ------------------------------------------------------------------ ?runs= patterns


def test_a_catastrophic_runs_pattern_is_answered() -> None:
    """`(a+)+$` stalled the server for seconds under `re`; matched here in linear time."""
    names = ["a" * 120 + "b", "a" * 128, "b"]
    assert matching_runs("(a+)+$", names) == ["a" * 128]
    assert matching_runs("(a|aa)*c", ["a" * 128]) == []


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("(a)\\1", "backreferences are not supported"),
        ("(?=a)b", "lookaround, named and other (?...) groups are not supported"),
        ("a*+", "possessive quantifiers are not supported"),
        ("a{1000}", "repeat counts above 100 are not supported"),
        ("x" * 201, "at most 200 are allowed (STREAMVIS_MAX_RUNS_PATTERN)"),
        ("a(", "missing ), unterminated subpattern"),
    ],
)
def test_runs_patterns_outside_the_safe_subset_are_refused(pattern: str, problem: str) -> None:
    with pytest.raises(ValueError, match="is not a valid regular expression") as info:
        matching_runs(pattern, ["a"])
    assert problem in str(info.value)
    assert len(str(info.value)) < 300


def test_limits_default_table_is_complete() -> None:
    assert set(limits.ENVIRONMENT) == {f.name for f in limits.fields(limits.LayoutLimits)}
    assert limits.current() == limits.DEFAULTS
