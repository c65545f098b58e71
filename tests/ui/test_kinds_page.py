"""Histogram, table, number and markdown kinds in a real page."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.producers import metric_a

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = textwrap.dedent("""\
    title: kinds
    refresh_ms: 100
    plots:
      - {id: hist, kind: histogram, stream: tagged, value: v, bins: 10, at: [0, 0, 1, 1]}
      - {id: tab, kind: table, stream: tagged, columns: [step, v, tag], rows: 5, at: [0, 1, 1, 1]}
      - {id: num, kind: number, stream: tagged, value: step, format: "{:d}", at: [1, 0, 1, 1]}
      - id: notes
        kind: markdown
        text: "## Notes\\n<img src=x onerror=alert(1)> **bold**"
        at: [1, 1, 1, 1]
""")

TABLE = """() => { const m = Bokeh.documents[0].get_model_by_name('sv:tab:table');
    return m ? {step: Array.from(m.data.step), v: Array.from(m.data.v)} : null; }"""


def test_kinds_draw_live_data(tmp_path: Path, panel_server, open_page) -> None:
    layout = tmp_path / "kinds.yaml"
    layout.write_text(LAYOUT)
    server = panel_server(str(layout), "--producer", "tests/producers.py:tagged")
    open_, console = open_page
    page = open_(server.url)

    table = wait_until(
        lambda: (t := page.evaluate(TABLE)) and len(t["step"]) == 5 and t, message="table rows"
    )
    assert table["step"] == sorted(table["step"], reverse=True)  # newest first
    assert all(
        abs(v - metric_a(int(s))) < 1e-9 for s, v in zip(table["step"], table["v"], strict=True)
    )
    first = table["step"][0]
    wait_until(lambda: page.evaluate(TABLE)["step"][0] > first + 5, message="table moves on")

    number = page.locator(".sv-number-value")
    wait_until(
        lambda: number.count() == 1 and number.text_content().isdigit(), message="number card"
    )
    shown = int(number.text_content())
    wait_until(lambda: int(number.text_content()) > shown, message="number updates")
    assert page.locator(".sv-number-change").text_content().startswith("▲")

    heights = """() => { const m = Bokeh.documents[0].get_model_by_name('sv:hist:count');
        return m ? Array.from(m.data.top).reduce((a, b) => a + b, 0) : 0; }"""
    total = wait_until(lambda: page.evaluate(heights), message="histogram drawn")
    wait_until(lambda: page.evaluate(heights) > total, message="histogram grows")

    assert page.get_by_text("<img src=x onerror=alert(1)>", exact=False).count() == 1
    assert page.locator("img[src=x]").count() == 0
    page.screenshot(path=str(tmp_path / "kinds.png"))
    assert console.errors() == [], console.messages
