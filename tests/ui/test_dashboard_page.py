"""Headless Chromium against a real `panel serve apps/dashboard.py`: plots exist, rows
streamed after load arrive, replace replaces, pages update independently, zoom holds
while data keeps arriving, and the console stays clean."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from tests.conftest import drag_first_plot, wait_until
from tests.producers import CLOUD_POINTS, metric_a

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = textwrap.dedent("""\
    title: "UI test <b>not bold</b>"
    refresh_ms: 100
    plots:
      - {id: metrics, kind: line, stream: metrics, x: step, y: [a, b], at: [0, 0, 1, 2]}
      - {id: cloud, kind: scatter, stream: cloud, x: x, y: y, at: [1, 0, 1, 1]}
      - {id: pending, kind: line, stream: never_written, x: t, y: v, at: [1, 1, 1, 1]}
      - {id: typo, kind: line, stream: metrics, x: step, y: bb, at: [0, 2, 2, 1]}
""")

SOURCE = """(name) => {
    const model = Bokeh.documents[0].get_model_by_name(name);
    if (!model) return null;
    const out = {};
    for (const [key, values] of Object.entries(model.data)) out[key] = Array.from(values);
    return out;
}"""
COLUMN = """([name, column]) => {
    const model = Bokeh.documents[0].get_model_by_name(name);
    return model ? Array.from(model.data[column]) : null;
}"""
MODEL_PROP = """([name, prop]) => {
    const model = Bokeh.documents[0].get_model_by_name(name);
    return model ? model[prop] : null;
}"""


def column(page, name: str, col: str) -> list[float] | None:
    return page.evaluate(COLUMN, [name, col])


def prop(page, name: str, attribute: str):
    return page.evaluate(MODEL_PROP, [name, attribute])


def last_step(page) -> float:
    steps = column(page, "sv:metrics:a", "step")
    return steps[-1] if steps else -1


@pytest.fixture
def served(tmp_path: Path, panel_server):
    layout = tmp_path / "layout.yaml"
    layout.write_text(LAYOUT)
    return panel_server(str(layout), "--producer", "tests/producers.py:counting")


def test_page_draws_live_rows_and_replaces(served, open_page, tmp_path: Path) -> None:
    open_, console = open_page
    page = open_(served.url)
    for plot_id in ("metrics", "cloud", "pending", "typo"):
        wait_until(
            lambda p=plot_id: prop(page, f"sv-figure:{p}", "type") == "Figure",
            message=f"figure {plot_id}",
        )

    # rows streamed after the page loaded arrive, in order, with the producer's values
    start = wait_until(lambda: last_step(page) >= 0 and last_step(page), message="first rows")
    wait_until(lambda: last_step(page) >= start + 25, message="rows streamed after load")
    data = page.evaluate(SOURCE, "sv:metrics:a")  # one read: the columns of one moment
    steps, values = data["step"], data["a"]
    assert all(b - a == 1 for a, b in zip(steps, steps[1:], strict=False)), "gap or repeat"
    assert all(
        math.isclose(v, metric_a(int(s)), abs_tol=1e-9) for s, v in zip(steps, values, strict=True)
    )
    other = page.evaluate(SOURCE, "sv:metrics:b")
    assert other["b"] == [step * 0.5 for step in other["step"]]

    # replace mode: the cloud is always exactly one generation of 200 points, and it moves on
    def cloud_generation() -> float | None:
        ys = column(page, "sv:cloud:y", "y")
        if not ys:
            return None
        assert len(ys) == CLOUD_POINTS, f"not replaced: {len(ys)} rows"
        assert len(set(ys)) == 1, "rows of two replacements mixed"
        return ys[0]

    first = wait_until(cloud_generation, message="cloud drawn")
    wait_until(lambda: cloud_generation() > first, message="cloud replaced")

    # an empty plot says it is waiting; drawn plots do not
    assert prop(page, "sv-waiting:pending", "visible") is True
    assert prop(page, "sv-waiting:metrics", "visible") is False

    # a plot naming a column its stream lacks shows where the layout is wrong
    error = page.locator(".sv-error pre", has_text="no column")
    wait_until(lambda: error.count() == 1, message="column error shown")
    text = error.text_content()
    assert "layout.yaml:7:" in text
    assert "plots.typo.y" in text
    assert "stream 'metrics' has no column 'bb'" in text
    assert "Did you mean 'b'" in text

    # producer text is shown escaped, never as markup
    assert page.get_by_text("UI test <b>not bold</b>").count() == 1

    page.screenshot(path=str(tmp_path / "dashboard.png"))
    assert console.errors() == [], console.messages


def test_two_pages_update_independently(served, open_page) -> None:
    open_, console = open_page
    first, second = open_(served.url), open_(served.url)
    for page in (first, second):
        start = (
            wait_until(lambda p=page: last_step(p) >= 0 and last_step(p) + 1, message="first rows")
            - 1
        )
        wait_until(lambda p=page, s=start: last_step(p) >= s + 10, message="both pages update")
    first.close()
    start = last_step(second)
    wait_until(lambda: last_step(second) >= start + 10, message="second page after first closed")
    assert console.errors() == [], console.messages


ZOOM_LAYOUT = textwrap.dedent("""\
    title: zoom
    refresh_ms: 100
    plots:
      - {id: metrics, kind: line, stream: metrics, x: step, y: a, at: [0, 0, 1, 1]}
""")


def test_zoom_holds_while_rows_keep_arriving(tmp_path: Path, panel_server, open_page) -> None:
    layout = tmp_path / "zoom.yaml"
    layout.write_text(ZOOM_LAYOUT)
    server = panel_server(str(layout), "--producer", "tests/producers.py:counting")
    open_, console = open_page
    page = open_(server.url)
    wait_until(lambda: last_step(page) > 20, message="rows drawn")
    # following: the x axis end moves with the data
    end = prop(page, "sv-x:metrics", "end")
    wait_until(lambda: prop(page, "sv-x:metrics", "end") > end + 5, message="axis follows data")

    # the user pans: the view stays where they put it while rows keep arriving
    drag_first_plot(page, 150)
    held = (prop(page, "sv-x:metrics", "start"), prop(page, "sv-x:metrics", "end"))
    rows = last_step(page)
    wait_until(lambda: last_step(page) > rows + 30, message="rows still drawn after pan")
    assert (prop(page, "sv-x:metrics", "start"), prop(page, "sv-x:metrics", "end")) == held

    # the reset tool resumes following
    page.locator(".bk-tool-icon-reset").first.click()
    wait_until(lambda: prop(page, "sv-x:metrics", "end") > held[1] + 20, message="follows again")
    assert console.errors() == [], console.messages
