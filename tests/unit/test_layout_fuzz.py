"""Property tests: whatever a layout is (YAML text, or plain data as a PUT body gives it),
the parser answers with a Layout or a SpecError, never another exception; and `?runs=`
patterns match exactly the names Python's `re.fullmatch` would, in linear time.

Bounded (max_examples) and derandomized, so CI runs the same examples every time."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamvis.errors import SpecError
from streamvis.kinds import KINDS
from streamvis.layout.runpattern import RunPattern
from streamvis.layout.spec import Layout, layout_from_dict, layout_from_yaml

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

WORDS = [
    "title", "refresh_ms", "run", "grid", "plots", "sources", "id", "kind", "stream", "at",
    "options", "crossfilter", "x", "y", "color", "value", "bins", "by", "agg", "sort",
    "columns", "rows", "format", "text", "origin", "inner_radius", "points", "colors",
    "legend", "smoothing", "x_axis", "alpha", "size", "line_width", "palette", "name",
    "type", "url", "path", "port", "host", "function", "every_ms", "mode", *KINDS,
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(WORDS),
    st.sampled_from(["{:,.4g}", "{:>300000000}", "{0.__class__}", "{:{}}", "{", "{}{}"]),
)
KEYS = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=12),
    st.integers(),
    st.none(),
    st.booleans(),
    st.tuples(st.integers(), st.integers()),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(KEYS, inner, max_size=5),
        st.tuples(inner, inner),
    ),
    max_leaves=25,
)


def valid_plot(kind: str, index: int) -> dict[str, Any]:
    """A plot of `kind` that parses, to be damaged by the strategies below."""
    plot: dict[str, Any] = {"id": f"p{index}", "kind": kind, "at": [index, 0, 1, 1]}
    if KINDS[kind].streams:
        plot["stream"] = "s"
    for key, declared in KINDS[kind].fields.items():
        if declared.required:
            plot[key] = "text" if declared.type == "text" else "c"
    return plot


@st.composite
def damaged_layouts(draw: st.DrawFn) -> dict[str, Any]:
    """A valid layout with some keys (top level, plot, options) set to random values."""
    kinds = draw(st.lists(st.sampled_from(list(KINDS)), min_size=1, max_size=4))
    plots = [valid_plot(k, i) for i, k in enumerate(kinds)]
    layout: dict[str, Any] = {"plots": plots}  # `plots` may itself be replaced below
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["layout", "plot", "options"]))
        key, value = draw(st.sampled_from(WORDS)), draw(VALUES)
        if where == "layout":
            layout[key] = value
        else:
            plot = draw(st.sampled_from(plots))
            if where == "plot":
                plot[key] = value
            else:
                if not isinstance(plot.get("options"), dict):
                    plot["options"] = {}
                plot["options"][key] = value
    return layout


YAML_PIECES = st.sampled_from(
    [
        "plots:", "\n", "  ", "- ", "id: a", "kind: line", "stream: s", "x: x", "y: [a, b]",
        "at: [0, 0, 1, 1]", "{", "}", "[", "]", ": ", ", ", "? ", "&a ", "*a", "!!binary ",
        "!!python/object:os.system ", "!!float ", "!!int ", "!!set ", "!!omap ", "2001-02-30",
        "1e999", "0x", "~", "'", '"', "\\", "#", "---", "...", "%YAML 1.1", "\x00", "\x07",
        "\ufeff", "\udcff", "\t", "|", ">", "-", "[a, b]: 1", "{[1]: 2}", "bins: 300000000",
        "format: '{:>300000000}'", "options: {title: t}", "grid: [48, 48]",
    ]
)  # fmt: skip


def only_spec_error(call: Any, *args: Any) -> None:
    """`call(*args)` returns a Layout or raises a short SpecError; anything else fails."""
    refused: SpecError | None = None
    result: Any = None
    try:
        result = call(*args)
    except SpecError as error:
        refused = error
    if refused is None:
        assert isinstance(result, Layout)
    else:
        assert str(refused), "a SpecError must say what is wrong"
        assert len(str(refused)) < 5_000, "error messages stay short"


@FUZZ
@given(st.text(max_size=200))
def test_any_text_is_a_layout_or_a_spec_error(text: str) -> None:
    only_spec_error(layout_from_yaml, text)


@FUZZ
@given(st.lists(YAML_PIECES, max_size=30).map("".join))
def test_yaml_made_of_layout_pieces_is_a_layout_or_a_spec_error(text: str) -> None:
    only_spec_error(layout_from_yaml, text)


@FUZZ
@given(VALUES)
def test_any_data_is_a_layout_or_a_spec_error(raw: Any) -> None:
    only_spec_error(layout_from_dict, raw)


@FUZZ
@given(damaged_layouts())
def test_a_damaged_layout_is_a_layout_or_a_spec_error(raw: dict[str, Any]) -> None:
    only_spec_error(layout_from_dict, raw)


# ------------------------------------------------------------------- ?runs= patterns

ATOMS = st.sampled_from(["a", "b", "1", ".", "[ab]", "[^a]", "[a-b1]", "\\d", "\\w", "\\.", "-"])


def _group(inner: str) -> str:
    return f"({inner})"


PATTERNS = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map("".join),
        st.tuples(inner, inner).map("|".join),
        inner.map(_group),
        inner.map(lambda p: f"(?:{p})"),
        st.tuples(
            inner.map(_group), st.sampled_from(["*", "+", "?", "{2}", "{1,2}", "{,2}", "*?"])
        ).map("".join),
        inner.map(lambda p: f"^{p}$"),
    ),
    max_leaves=8,
)


@FUZZ
@given(PATTERNS, st.lists(st.text(alphabet="ab1.-", max_size=8), min_size=1, max_size=6))
def test_run_patterns_match_what_python_re_matches(pattern: str, names: list[str]) -> None:
    compiled = RunPattern(pattern)
    for name in names:
        assert compiled.fullmatch(name) == (re.fullmatch(pattern, name) is not None), (
            pattern,
            name,
        )


def test_a_catastrophic_pattern_is_matched_in_linear_steps() -> None:
    """`(a+)+$` against 'aaa...ab' takes Python's re 2^n steps; here at most
    len(name) x states (a behaviour test: it counts steps, it does not time them)."""
    compiled = RunPattern("(a+)+$")
    states = len(compiled.nfa.states)
    for length in (30, 128, 5_000):
        compiled.steps = 0
        assert compiled.fullmatch("a" * length + "b") is False
        assert compiled.fullmatch("a" * length) is True
        assert compiled.steps <= 2 * (length + 2) * states
        assert not math.isinf(compiled.steps)


@pytest.mark.parametrize(
    "pattern",
    ["${7*7}", "{{7*7}}", "x{", "a{,2}b", "{label}", "$$x^2$$", "a|", "()", "[]a]", "[a-]"],
)
def test_braces_anchors_and_odd_classes_read_as_python_reads_them(pattern: str) -> None:
    compiled = RunPattern(pattern)
    for name in ["", "a", "b", "ab", "x{", "{{777}}", "{label}", "]a", "-", "aab", "7"]:
        assert compiled.fullmatch(name) == (re.fullmatch(pattern, name) is not None), name


@pytest.mark.parametrize("pattern", ["$*", "^{2}", "*a", "a**", "a{2,1}", "[b-a]"])
def test_patterns_python_refuses_are_refused(pattern: str) -> None:
    with pytest.raises(re.error):
        re.compile(pattern)
    with pytest.raises(ValueError, match="at position"):
        RunPattern(pattern)
