"""Runs compared in a real page (`?runs=a|b`), one run picked (`?run=b`), and the smoothing
slider, against `panel serve` with the ingest API: rows are POSTed over HTTP and read back
from the browser's Bokeh models."""

from __future__ import annotations

import math
import textwrap
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import COLUMN, LIVE_MODEL, post_json, wait_until

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = textwrap.dedent("""\
    title: compare
    run: a
    refresh_ms: 100
    plots:
      - {id: loss, kind: line, stream: metrics, x: step, y: v, at: [0, 0, 1, 1]}
""")
A = [1.0, 3.0, 2.0, 6.0]
B = [10.0, 8.0, 12.0, 7.0]

MODELS = """const all = Bokeh.documents[0]._all_models;
    const models = all instanceof Map ? [...all.values()] : [...all];"""
FIGURE = (
    """(name) => {"""
    + MODELS
    + LIVE_MODEL
    + """
    const figure = live(name);
    if (!figure) return null;
    const glyphs = figure.renderers.filter((r) => r.type === "GlyphRenderer" && r.visible);
    const legends = models.filter((m) => m.type === "Legend" && figure.center.includes(m));
    const labels = legends.flatMap((l) => l.items.map((i) =>
        typeof i.label === "string" ? i.label : i.label.value));
    return {glyphs: glyphs.map((r) => r.data_source.name), labels};
}"""
)
SET_SLIDER = (
    """(value) => {"""
    + MODELS
    + """
    const slider = models.find((m) => m.type === "Slider" && m.title === "smoothing");
    if (!slider) return false;
    slider.value = value;
    return true;
}"""
)


def post(port: int, run: str, stream: str, body: dict) -> None:
    post_json(port, f"runs/{run}/streams/{stream}", body)


def tensorboard_smoothing(values: list[float], weight: float) -> list[float]:
    """TensorBoard's debiased moving average, by hand."""
    last, count, out = 0.0, 0, []
    for value in values:
        last = last * weight + (1 - weight) * value
        count += 1
        out.append(last / (1 - weight**count))
    return out


@pytest.fixture
def served(tmp_path: Path, panel_server):
    layout = tmp_path / "compare.yaml"
    layout.write_text(LAYOUT)
    server = panel_server(str(layout), plugins=True)
    for run, values in (("a", A), ("b", B)):
        post(server.port, run, "metrics", {"step": [0, 1, 2, 3], "v": values})
    return server


def test_runs_pattern_overlays_runs_with_their_names_in_the_legend(
    served, open_page, tmp_path: Path
) -> None:
    open_, console = open_page
    page = open_(f"{served.url}?runs={urllib.parse.quote('a|b')}")

    def column(name: str, col: str) -> list[float] | None:
        return page.evaluate(COLUMN, [name, col])

    wait_until(lambda: column("sv:loss:a/v", "v") == A, message="run a drawn")
    wait_until(lambda: column("sv:loss:b/v", "v") == B, message="run b drawn")
    figure = wait_until(lambda: page.evaluate(FIGURE, "sv-figure:loss"), message="one figure")
    # each run's line, and the hover table of the figure (page/hover.py)
    assert sorted(figure["glyphs"]) == ["sv-hover:loss", "sv:loss:a/v", "sv:loss:b/v"]
    assert figure["labels"] == ["a", "b"]
    assert page.get_by_text("runs: a, b").count() == 1

    # rows that arrive later are drawn in their run's line
    post(served.port, "b", "metrics", {"step": [4], "v": [5.0]})
    wait_until(lambda: column("sv:loss:b/v", "v") == [*B, 5.0], message="b streams on")
    page.screenshot(path=str(tmp_path / "compare.png"))

    # the smoothing slider: a smoothed line per run over the faint raw ones
    assert page.evaluate(SET_SLIDER, 0.6)
    expected = tensorboard_smoothing([*B, 5.0], 0.6)

    def smoothed() -> bool:
        values = column("sv:loss:b/v_smoothed", "v_smoothed")
        if values is None or len(values) != len(expected):  # not drawn yet (next tick)
            return False
        return all(math.isclose(v, e, rel_tol=1e-9) for v, e in zip(values, expected, strict=True))

    wait_until(smoothed, message="b smoothed")
    smoothed_a = column("sv:loss:a/v_smoothed", "v_smoothed")
    assert smoothed_a == pytest.approx(tensorboard_smoothing(A, 0.6))
    figure = wait_until(lambda: page.evaluate(FIGURE, "sv-figure:loss"), message="one figure")
    assert len(figure["glyphs"]) == 5  # raw and smoothed per run, and the hover table
    assert figure["labels"] == ["a", "b"]
    page.screenshot(path=str(tmp_path / "compare-smoothed.png"))
    assert console.errors() == [], console.messages


def test_run_parameter_shows_that_run_and_bad_values_say_why(served, open_page) -> None:
    open_, console = open_page
    page = open_(f"{served.url}?run=b")
    wait_until(lambda: page.evaluate(COLUMN, ["sv:loss:v", "v"]) == B, message="b drawn")
    assert page.get_by_text("run: b").count() == 1

    bad = open_(f"{served.url}?run={urllib.parse.quote('../x')}")
    message = bad.locator(".sv-page-error", has_text="cannot show ?run=../x")
    wait_until(lambda: message.count() == 1, message="bad run explained")
    regex = open_(f"{served.url}?runs={urllib.parse.quote('a(')}")
    wait_until(
        lambda: regex.get_by_text("not a valid regular expression", exact=False).count() == 1,
        message="bad pattern explained",
    )
    assert console.errors() == [], console.messages
