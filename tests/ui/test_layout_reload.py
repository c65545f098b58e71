"""Live reload of the layout file in a real page (issue 10, point 4): an edit re-arranges the
open page keeping each remaining plot's figure, zoom and crossfilter selection; a broken
edit shows its error and keeps the last good layout drawn and updating; the fix applies;
a run whose layout came through the API keeps it while the file's run follows the edits;
`sv.serve` of a file follows it too."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

import streamvis as sv
from streamvis.core.hub import Hub
from tests.conftest import drag_first_plot, free_port, wait_until
from tests.server.test_ingest_api import API, call

pytestmark = [pytest.mark.server, pytest.mark.ui]

FIRST = textwrap.dedent("""\
    title: reload one
    refresh_ms: 100
    plots:
      - {id: trend, kind: line, stream: tagged, x: step, y: v, at: [0, 0, 1, 1]}
      - {id: tags, kind: bar, stream: tagged, by: tag, sort: name, crossfilter: g,
         at: [0, 1, 1, 1]}
      - {id: dots, kind: scatter, stream: tagged, x: step, y: v, crossfilter: g,
         at: [1, 0, 1, 1]}
      - {id: gone, kind: line, stream: tagged, x: step, y: v, at: [1, 1, 1, 1]}
""")
# trend, tags and dots move; gone goes; fresh comes; the title changes
SECOND = textwrap.dedent("""\
    title: reload two
    refresh_ms: 100
    plots:
      - {id: tags, kind: bar, stream: tagged, by: tag, sort: name, crossfilter: g,
         at: [0, 0, 1, 1]}
      - {id: dots, kind: scatter, stream: tagged, x: step, y: v, crossfilter: g,
         at: [0, 1, 1, 1]}
      - {id: fresh, kind: line, stream: tagged, x: step, y: v, at: [0, 2, 1, 1]}
      - {id: trend, kind: line, stream: tagged, x: step, y: v, at: [1, 0, 1, 3]}
""")
BROKEN = SECOND.replace("kind: scatter", "kind: scater")
FIXED = SECOND.replace("title: reload two", "title: reload three").replace(
    "  - {id: fresh, kind: line, stream: tagged, x: step, y: v, at: [0, 2, 1, 1]}\n", ""
)

# Models reachable from the page's roots (BokehJS keeps dropped models for a while).
LIVE = """(name) => { const found = new Set();
    for (const root of Bokeh.documents[0].roots())
        for (const model of root.references()) if (model.name === name) found.add(model);
    return found.size === 1 ? [...found][0] : null; }"""
PROP = f"""([name, prop]) => {{ const m = ({LIVE})(name); return m ? m[prop] : null; }}"""
STEPS = f"""(name) => {{ const m = ({LIVE})(name); return m ? Array.from(m.data.step) : null; }}"""
BARS = f"""() => {{ const m = ({LIVE})('sv:tags:value'); if (!m) return null; const out = {{}};
    m.data.category.forEach((c, i) => {{ out[c] = m.data.alpha[i]; }}); return out; }}"""
PLACE = """(name) => { const m = Bokeh.documents[0].get_model_by_name('sv-grid');
    const found = m.children.find(([child]) => [...child.references()].some(r => r.name === name));
    return found ? found.slice(1) : null; }"""


def prop(page: Any, name: str, attribute: str) -> Any:
    return page.evaluate(PROP, [name, attribute])


def last_step(page: Any, plot_id: str) -> float:
    steps = page.evaluate(STEPS, f"sv:{plot_id}:v")
    return steps[-1] if steps else -1


def place(page: Any, plot_id: str) -> list[int] | None:
    """[row, column, rows, columns] of the plot's cell in the page's grid."""
    return page.evaluate(PLACE, f"sv-figure:{plot_id}")


def edit(path: Path, text: str) -> None:
    """Rewrite the file the way an editor saving in place does."""
    path.write_text(text)


API_LAYOUT = {
    "title": "set by the producer",
    "refresh_ms": 100,
    "plots": [
        {
            "id": "mine",
            "kind": "line",
            "stream": "tagged",
            "x": "step",
            "y": "v",
            "at": [0, 0, 1, 1],
        }
    ],
}


def test_edits_rearrange_the_open_page_keeping_zoom_and_selection(
    tmp_path: Path, panel_server, open_page
) -> None:
    layout = tmp_path / "layout.yaml"
    layout.write_text(FIRST)
    server = panel_server(str(layout), "--producer", "tests/producers.py:tagged", plugins=True)
    # run 'own' has a layout of its own, set through the API: file edits leave it alone
    reply = call(server.port, "PUT", f"{API}/runs/own/layout", json.dumps(API_LAYOUT))
    assert reply.status == 200, reply
    open_, console = open_page
    own = open_(f"{server.url}?run=own")
    wait_until(lambda: prop(own, "sv-figure:mine", "type") == "Figure", message="API layout")
    page = open_(server.url)
    for plot_id in ("trend", "tags", "dots", "gone"):
        wait_until(lambda p=plot_id: prop(page, f"sv-figure:{p}", "type") == "Figure")
    wait_until(lambda: last_step(page, "trend") > 30, message="rows drawn")

    # the user pans the trend plot and picks bar t2 of the crossfilter group
    drag_first_plot(page, 150)
    held = (prop(page, "sv-x:trend", "start"), prop(page, "sv-x:trend", "end"))
    figure_id = prop(page, "sv-figure:trend", "id")
    bars = page.locator(".bk-Canvas").nth(1).bounding_box()
    page.mouse.click(bars["x"] + bars["width"] * 0.78, bars["y"] + bars["height"] * 0.7)
    chosen = {"t0": 0.25, "t1": 0.25, "t2": 1}
    wait_until(lambda: page.evaluate(BARS) == chosen, message="bar t2 selected")
    page.screenshot(path=str(tmp_path / "before.png"))

    edit(layout, SECOND)
    wait_until(lambda: prop(page, "sv-figure:fresh", "type") == "Figure", message="new plot")
    wait_until(lambda: page.get_by_text("reload two").count() == 1, message="new title")
    wait_until(lambda: prop(page, "sv-figure:gone", "type") is None, message="removed plot")
    assert place(page, "trend") == [1, 0, 1, 3]
    assert place(page, "tags") == [0, 0, 1, 1]
    # the kept plot is the same figure, still panned where the user left it, still live
    assert prop(page, "sv-figure:trend", "id") == figure_id
    rows = last_step(page, "trend")
    wait_until(lambda: last_step(page, "trend") > rows + 20, message="trend keeps updating")
    assert (prop(page, "sv-x:trend", "start"), prop(page, "sv-x:trend", "end")) == held
    # the selection holds, and the new plot starts with the history and keeps up
    assert page.evaluate(BARS) == chosen
    wait_until(lambda: last_step(page, "fresh") >= last_step(page, "trend") - 5)
    assert page.evaluate(STEPS, "sv:fresh:v")[0] < rows - 20
    page.screenshot(path=str(tmp_path / "after.png"))
    assert prop(own, "sv-figure:mine", "type") == "Figure"
    assert prop(own, "sv-figure:fresh", "type") is None
    assert call(server.port, "GET", f"{API}/runs/own/layout").json["title"] == API_LAYOUT["title"]
    assert call(server.port, "GET", f"{API}/runs/default/layout").json["title"] == "reload two"
    own.screenshot(path=str(tmp_path / "own.png"))

    # a broken edit: its error (file:line) in the page, the last good layout still drawn
    edit(layout, BROKEN)
    error = page.locator(".sv-layout-error pre")
    wait_until(lambda: "scater" in (error.text_content() or ""), message="edit error shown")
    text = error.text_content()
    assert f"{layout}:6:" in text, text
    rows = last_step(page, "trend")
    wait_until(lambda: last_step(page, "trend") > rows + 20, message="still updating")
    assert prop(page, "sv-figure:dots", "type") == "Figure"
    assert page.evaluate(BARS) == chosen
    page.screenshot(path=str(tmp_path / "broken.png"))

    # fixed: the error goes and the fixed layout applies
    edit(layout, FIXED)
    wait_until(lambda: page.get_by_text("reload three").count() == 1, message="fix applied")
    wait_until(lambda: prop(page, "sv-figure:fresh", "type") is None, message="fresh removed")
    wait_until(lambda: not error.is_visible(), message="error hidden")
    assert prop(page, "sv-figure:trend", "id") == figure_id
    assert (prop(page, "sv-x:trend", "start"), prop(page, "sv-x:trend", "end")) == held
    page.screenshot(path=str(tmp_path / "fixed.png"))
    assert console.errors() == [], console.messages


def test_in_process_serve_of_a_file_follows_its_edits(tmp_path: Path, open_page) -> None:
    layout = tmp_path / "layout.yaml"
    layout.write_text(FIRST)
    hub, port = Hub(), free_port()
    hub.stream("tagged", {"step": [0, 1, 2], "v": [0.0, 0.5, 1.0], "tag": ["t0", "t1", "t2"]})
    server = sv.serve(str(layout), port=port, hub=hub)
    try:
        open_, _console = open_page
        page = open_(f"http://127.0.0.1:{port}/")
        wait_until(lambda: prop(page, "sv-figure:gone", "type") == "Figure", message="first")
        edit(layout, SECOND)
        wait_until(lambda: prop(page, "sv-figure:fresh", "type") == "Figure", message="edit")
        assert prop(page, "sv-figure:gone", "type") is None
        assert hub.layout("default")[1].title == "reload two"
    finally:
        server.stop()
