"""Crossfilter in a real page: a click on a bar and a box drawn on a scatter filter the rest."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.producers import CLUSTERS

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = textwrap.dedent("""\
    title: crossfilter
    refresh_ms: 100
    plots:
      - {id: cloud, kind: scatter, stream: clusters, x: x, y: y, crossfilter: g,
         at: [0, 0, 1, 1]}
      - {id: kinds, kind: bar, stream: clusters, by: kind, sort: name, crossfilter: g,
         at: [0, 1, 1, 1]}
""")

BARS = """() => { const m = Bokeh.documents[0].get_model_by_name('sv:kinds:value');
    if (!m) return null; const out = {};
    m.data.category.forEach((c, i) => { out[c] = [m.data.value[i], m.data.alpha[i]]; });
    return out; }"""


def test_box_select_on_scatter_and_click_on_bar(tmp_path: Path, panel_server, open_page) -> None:
    layout = tmp_path / "crossfilter.yaml"
    layout.write_text(LAYOUT)
    server = panel_server(str(layout), "--producer", "tests/producers.py:clusters")
    open_, console = open_page
    page = open_(server.url)
    everything = {"a": [CLUSTERS["a"], 1], "b": [CLUSTERS["b"], 1]}
    wait_until(lambda: page.evaluate(BARS) == everything, message="bars of all points")

    # a box over the lower-left cluster: the bar chart counts only its points
    page.locator(".bk-tool-icon-box-select").first.click()
    box = page.locator(".bk-Canvas").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.12, box["y"] + box["height"] * 0.55)
    page.mouse.down()  # inside the plot frame, above-left of the (0, 0) cluster
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.9, steps=6)
    page.mouse.up()
    chosen = """() => { const m = Bokeh.documents[0].get_model_by_name('sv:cloud:y');
        return m.selected.indices.map(i => m.data.x[i]); }"""
    selected = wait_until(lambda: page.evaluate(chosen), message="points in the box")
    assert all(x < 5 for x in selected)  # only the (0, 0) cluster, kind 'a'
    wait_until(lambda: page.evaluate(BARS) == {"a": [len(selected), 1]}, message="box filters")
    page.screenshot(path=str(tmp_path / "box.png"))

    # the group's reset brings every point back
    page.get_by_role("button", name="reset all (g)").click()
    wait_until(lambda: page.evaluate(BARS) == everything, message="group reset")

    # a click on bar 'b' dims 'a' in its own chart and keeps the other charts in step
    canvas = page.locator(".bk-Canvas").nth(1).bounding_box()
    page.mouse.click(canvas["x"] + canvas["width"] * 0.7, canvas["y"] + canvas["height"] * 0.7)
    wait_until(
        lambda: page.evaluate(BARS) == {"a": [CLUSTERS["a"], 0.25], "b": [CLUSTERS["b"], 1]},
        message="bar click selects b",
    )
    points = """() => Bokeh.documents[0].get_model_by_name('sv:cloud:y').data.x.length"""
    wait_until(lambda: page.evaluate(points) == CLUSTERS["b"], message="scatter filtered")
    page.screenshot(path=str(tmp_path / "click.png"))
    assert console.errors() == [], console.messages
