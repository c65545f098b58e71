"""The pure parts of the runs panel (streamvis/page/runs_panel.py) and of the comparison
path it drives (streamvis/page/compare.py): the selection as a `?runs=` pattern and back,
stable run colors, a run's facts from the hub, the rows' escaped HTML, the filter."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from streamvis.core.hub import Hub
from streamvis.page import runs_panel
from streamvis.page.compare import (
    RunColors,
    colors_of,
    matching_runs,
    names_pattern,
    pattern_names,
)
from streamvis.page.runs_panel import (
    LIVE_SECONDS,
    RunRow,
    address_with,
    checked_runs,
    listed_runs,
    row_html,
    row_of,
    selection_note,
)
from streamvis.transforms.smoothing import PALETTE
from tests.unit.test_page_text import PAYLOADS, _has_active_content

NAMES = ["a", "run.1", "run-2", "run_3", "r10", "x.y.z"]


def test_a_selection_is_a_pattern_matching_exactly_its_runs() -> None:
    pattern = names_pattern(["run.1", "a", "x.y.z", "a"])
    assert pattern == r"a|run\.1|x\.y\.z"
    assert pattern_names(pattern) == ["a", "run.1", "x.y.z"]
    assert matching_runs(pattern, [*NAMES, "runX1", "b"]) == ["a", "run.1", "x.y.z"]
    # the same runs as the regex engine gives for that pattern
    assert matching_runs(pattern, NAMES) == sorted(
        run for run in NAMES if run in ("a", "run.1", "x.y.z")
    )
    assert names_pattern([]) == ""
    assert matching_runs("", NAMES) == []  # nothing checked: no run


@pytest.mark.parametrize("pattern", ["a.*", "run.1", "a|", "|a", "a\\", "a\\d", "(a)", "a b", ""])
def test_a_regex_is_not_taken_for_names(pattern: str) -> None:
    assert pattern_names(pattern) is None


def test_a_long_selection_has_no_pattern_length_limit() -> None:
    runs = [f"experiment-{i:03d}.seed" for i in range(200)]  # ~4,600 characters
    pattern = names_pattern(runs[::2])
    assert len(pattern) > 2000
    assert matching_runs(pattern, runs) == runs[::2]
    with pytest.raises(ValueError, match="at most 200"):
        matching_runs(pattern.replace("|", "|(") + ")" * 100, runs)  # a regex: limited


def test_run_colors_stay_whatever_is_shown_and_follow_start_order() -> None:
    hub = Hub()
    for run in ("b", "a", "c"):  # started in this order
        hub.stream("s", {"x": 1}, run=run)
    colors = RunColors(hub)
    assert [colors(run) for run in ("b", "a", "c")] == list(PALETTE[:3])
    hub.stream("s", {"x": 1}, run="aa")  # a new run: the next color, the others keep theirs
    assert colors("aa") == PALETTE[3]
    assert [colors(run) for run in ("a", "b", "c")] == [PALETTE[1], PALETTE[0], PALETTE[2]]
    hub.delete_run("a")
    hub.stream("s", {"x": 1}, run="d")
    assert colors("d") == PALETTE[4]  # a deleted run's color is not handed on
    assert colors("never-written") == PALETTE[5]
    assert colors_of(hub) is colors_of(hub)  # one per hub: every page agrees


def test_run_facts_sum_the_runs_streams() -> None:
    hub = Hub()
    hub.stream("s", {"x": [1, 2, 3]}, run="a")
    hub.stream("t", {"y": [1, 2]}, run="a")
    hub.stream("s", {"x": [1]}, run="b")
    facts = hub.run_facts("a")
    assert (facts.rows, facts.streams) == (5, 2)
    assert 0 < facts.started <= facts.last_write
    assert hub.run_facts("b").rows == 1
    assert tuple(hub.run_facts("missing")) == (0, 0, 0, 0)
    hub.delete_run("a")
    assert hub.run_facts("a").streams == 0


def test_a_run_is_live_while_written_recently() -> None:
    hub = Hub()
    hub.stream("s", {"x": 1}, run="a")
    written = hub.run_facts("a").last_write
    assert row_of(hub, "a", "#000000", written + 1).live
    assert not row_of(hub, "a", "#000000", written + int(LIVE_SECONDS * 1e9) + 1).live
    hub.set_layout("layout-only", {"plots": []})
    assert not row_of(hub, "layout-only", "#000000", written).live  # no rows: not live


@pytest.mark.parametrize("text", PAYLOADS)
def test_row_text_is_escaped(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = Hub().run_facts("none")
    shown = row_html(RunRow(text, "#30a2da", facts, True, details=text), "1970-01-01")
    assert not _has_active_content(shown.replace(" style='", " data-s='"))  # ours aside
    for tag in ("<script", "<img", "<svg", "<a "):
        assert tag not in shown
    assert shown.count("&lt;") >= 2 * text.count("<")
    monkeypatch.setattr(runs_panel, "run_details", lambda hub, run: text)  # the seam
    hub = Hub()
    hub.stream("s", {"x": 1}, run="a")
    assert row_of(hub, "a", "#000000", 0).details == text


def test_row_shows_times_rows_and_live_mark() -> None:
    hub = Hub()
    hub.stream("s", {"x": [1, 2]}, run="a")
    row = row_of(hub, "a", "#fc4f30", hub.run_facts("a").last_write)
    shown = row_html(row, "1970-01-01")
    for part in ("2 rows", "background:#fc4f30", "sv-live"):
        assert part in shown
    assert "started 20" in shown  # another day than "today": with its date


def test_filter_lists_matching_runs_and_says_what_is_wrong() -> None:
    assert listed_runs("", ["b", "a"]) == (["a", "b"], None)
    assert listed_runs("run.*", NAMES) == (["run-2", "run.1", "run_3"], None)
    runs, problem = listed_runs("(a", NAMES)
    assert runs == sorted(NAMES)
    assert "not a valid regular expression" in (problem or "")
    runs, problem = listed_runs("(a+)+$" + "|x" * 100, NAMES)  # too long: refused, not run
    assert problem is not None


def test_checked_runs_and_note_follow_the_page() -> None:
    one = SimpleNamespace(run="a", pattern=None)
    assert checked_runs(one, NAMES) == {"a"}
    assert selection_note(one) == ""
    regex = SimpleNamespace(run="a", pattern="run.*")
    assert checked_runs(regex, NAMES) == {"run.1", "run-2", "run_3"}
    assert selection_note(regex) == "runs matching run.* (new ones join)"
    picked = SimpleNamespace(run="a", pattern=names_pattern(["a", "r10"]))
    assert checked_runs(picked, NAMES) == {"a", "r10"}
    assert selection_note(picked) == ""
    assert checked_runs(SimpleNamespace(run="a", pattern="("), NAMES) == set()


def test_the_address_keeps_other_arguments_and_drops_run() -> None:
    assert address_with("", "a|b") == "?runs=a%7Cb"
    assert address_with("?run=a&theme=dark&runs=x", r"a|b\.c") == "?theme=dark&runs=a%7Cb%5C.c"
    assert address_with("?runs=a", "") == "?runs="
