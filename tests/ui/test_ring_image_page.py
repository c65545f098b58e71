"""ring, pie and heatmap kinds in a real page, fed by a producer inside `panel serve`."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import wait_until
from tests.producers import ATTENTION_SHAPE, attention, purchase

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = textwrap.dedent("""\
    title: rings and a heatmap
    refresh_ms: 100
    plots:
      - {id: years, kind: ring, stream: purchases, by: Year, value: Spent, agg: sum,
         sort: name, at: [0, 0, 1, 1]}
      - {id: people, kind: pie, stream: purchases, by: Name, sort: name,
         options: {legend: bottom}, at: [0, 1, 1, 1]}
      - {id: attn, kind: heatmap, stream: attn, options: {title: attention}, at: [1, 0, 1, 2]}
""")

WEDGES = """() => { const out = {};
    for (const id of ['years', 'people']) {
        const m = Bokeh.documents[0].get_model_by_name(`sv:${id}:wedges`);
        if (!m) return null;
        out[id] = Object.fromEntries(m.data.category.map((c, i) => [c, m.data.value[i]]));
    }
    return out; }"""

IMAGE = """() => { const m = Bokeh.documents[0].get_model_by_name('sv:attn:image');
    if (!m || !m.data.image.length) return null;
    const image = m.data.image[0];
    return {shape: Array.from(image.shape), values: Array.from(image)}; }"""

# Page coordinates of the middle of the ring's first wedge (between the radii 0.5 and 1).
FIRST_WEDGE = """() => { const doc = Bokeh.documents[0];
    const source = doc.get_model_by_name('sv:years:wedges');
    const view = Bokeh.index.find_one(doc.get_model_by_name('sv-figure:years'));
    const angle = Math.PI * source.data.wedges[0], radius = 0.75;
    const box = view.el.getBoundingClientRect();
    return {category: source.data.category[0],
            x: box.left + view.frame.x_scale.compute(radius * Math.sin(angle)),
            y: box.top + view.frame.y_scale.compute(radius * Math.cos(angle))}; }"""

FIGURES = """() => { const doc = Bokeh.documents[0];
    const attn = doc.get_model_by_name('sv-figure:attn');
    return {colorbar: attn.right.some(m => m.constructor.__name__ === 'ColorBar'),
            legends: ['years', 'people'].map(
                id => doc.get_model_by_name(`sv-legend:${id}`).visible),
            waiting: ['years', 'people', 'attn'].map(
                id => doc.get_model_by_name(`sv-waiting:${id}`).visible)}; }"""


def expected(records: int) -> dict[str, dict[str, float]]:
    """What the two wedge charts must show after the first `records` purchases."""
    years: dict[str, float] = {}
    people: Counter[str] = Counter()
    for index in range(records):
        row = purchase(index)
        years[str(row["Year"])] = years.get(str(row["Year"]), 0.0) + float(row["Spent"])
        people[str(row["Name"])] += 1
    return {"years": years, "people": {name: float(n) for name, n in people.items()}}


def consistent(page) -> dict[str, dict[str, float]] | None:
    """The wedges, once both charts have caught up with the same record count (>= 12: all
    four years) and the sums match that many purchases exactly."""
    shown = page.evaluate(WEDGES)
    if not shown:
        return None
    records = int(sum(shown["people"].values()))
    return shown if records >= 12 and shown == expected(records) else None


def test_ring_pie_and_heatmap_draw_live_data(tmp_path: Path, panel_server, open_page) -> None:
    layout = tmp_path / "rings.yaml"
    layout.write_text(LAYOUT)
    server = panel_server(str(layout), "--producer", "tests/producers.py:purchases_and_matrix")
    open_, console = open_page
    page = open_(server.url)

    shown = wait_until(lambda: consistent(page), message="wedges equal to the records' sums")
    assert list(shown["years"]) == ["2011", "2012", "2013", "2014"]  # sort: name
    assert "Cy <b>" in shown["people"]  # a name with markup is plain text in data and legend
    first = int(sum(shown["people"].values()))
    later = wait_until(
        lambda: (s := consistent(page)) and sum(s["people"].values()) > first + 5 and s,
        message="wedges follow new records",
    )
    assert later["years"]["2014"] > shown["years"]["2014"]

    image = wait_until(lambda: page.evaluate(IMAGE), message="heatmap drawn")
    assert image["shape"] == list(ATTENTION_SHAPE)
    generation = int(image["values"][0] // 100)
    np.testing.assert_array_equal(image["values"], attention(generation).ravel())
    swapped = wait_until(
        lambda: (i := page.evaluate(IMAGE)) and i["values"][0] // 100 > generation and i,
        message="a replace swaps the matrix",
    )
    np.testing.assert_array_equal(
        swapped["values"], attention(int(swapped["values"][0] // 100)).ravel()
    )

    figures = page.evaluate(FIGURES)
    assert figures == {"colorbar": True, "legends": [True, True], "waiting": [False] * 3}

    wedge = page.evaluate(FIRST_WEDGE)
    page.mouse.move(wedge["x"], wedge["y"])
    tooltip = page.locator(".bk-Tooltip").filter(has_text="category")
    wait_until(lambda: tooltip.count() > 0 and tooltip.first.is_visible(), message="hover")
    text = tooltip.first.evaluate("el => (el.shadowRoot || el).textContent")
    assert wedge["category"] == "2011"
    assert "2011" in text
    assert "value" in text
    assert "share" in text

    page.screenshot(path=str(tmp_path / "rings.png"))
    assert console.errors() == [], console.messages
