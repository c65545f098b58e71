"""A crossfilter group over a million rows in a real page: a wedge click gives exactly the
totals pandas computes, every chart of the group counts the same rows, and no category
changes colour when the filter is applied."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import wait_until
from tests.producers import MILLION, tutorial_purchases
from tests.ui.test_purchases_tutorial import click_2014

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = textwrap.dedent("""\
    title: a million purchases
    refresh_ms: 100
    plots:
      - {id: by_year, kind: ring, stream: purchases, by: Year, value: Spent, agg: sum,
         sort: name, crossfilter: shop, at: [0, 0, 1, 1]}
      - {id: by_name, kind: row, stream: purchases, by: Name, value: Spent, agg: sum,
         crossfilter: shop, at: [0, 1, 1, 1]}
      - {id: pay, kind: bar, stream: purchases, by: payType, crossfilter: shop,
         at: [1, 0, 1, 1]}
      - {id: spent, kind: histogram, stream: purchases, value: Spent, bins: 20,
         crossfilter: shop, at: [1, 1, 1, 1]}
""")

# every chart of the group as {source: {category: [value, color]}}; histogram bins as counts
CHARTS = """() => {
    const doc = Bokeh.documents[0], out = {};
    for (const name of ['sv:by_year:wedges', 'sv:by_name:value', 'sv:pay:value']) {
        const m = doc.get_model_by_name(name);
        if (!m) return null;
        const shown = {};
        Array.from(m.data.category).forEach((c, i) => {
            shown[c] = [m.data.value[i], m.data.color[i]]; });
        out[name] = shown;
    }
    const bins = doc.get_model_by_name('sv:spent:count');
    if (!bins) return null;
    out.bins = Array.from(bins.data.top);
    return out;
}"""


def totals(frame: pd.DataFrame, by: str, agg: str) -> dict[str, float]:
    found = frame.groupby(by)["Spent"].agg(agg)
    return {str(key): float(value) for key, value in found.items()}


def values(shown: dict[str, list]) -> dict[str, float]:
    return {category: value for category, (value, _) in shown.items()}


def colors(charts: dict) -> dict[tuple[str, str], str]:
    return {
        (name, category): color
        for name, shown in charts.items()
        if name != "bins"
        for category, (_, color) in shown.items()
    }


def showing(page, frame: pd.DataFrame, ring_frame: pd.DataFrame) -> dict | None:
    """The charts when they hold exactly pandas' totals of `frame` (the ring: `ring_frame`,
    its own selection does not filter it), else None."""
    charts = page.evaluate(CHARTS)
    if charts is None:
        return None
    wanted = {
        "sv:by_year:wedges": totals(ring_frame, "Year", "sum"),
        "sv:by_name:value": totals(frame, "Name", "sum"),
        "sv:pay:value": totals(frame, "payType", "count"),
    }
    same = all(values(charts[name]) == want for name, want in wanted.items())
    return charts if same and sum(charts["bins"]) == len(frame) else None


def test_a_wedge_click_over_a_million_rows_is_exact(
    tmp_path: Path, panel_server, open_page
) -> None:
    layout = tmp_path / "million.yaml"
    layout.write_text(LAYOUT)
    server = panel_server(str(layout), "--producer", "tests/producers.py:million_purchases")
    everything = pd.DataFrame(tutorial_purchases())
    assert len(everything) == MILLION
    open_, console = open_page
    page = open_(server.url)
    before = wait_until(
        lambda: showing(page, everything, everything), timeout=240, message="all rows counted"
    )

    click_2014(page)
    in_2014 = everything[everything["Year"] == 2014]
    after = wait_until(
        lambda: showing(page, in_2014, everything), timeout=120, message="exact 2014 totals"
    )
    # the row, bar and histogram count the same 2014 rows; no category changed colour
    assert sum(values(after["sv:pay:value"]).values()) == len(in_2014) == sum(after["bins"])
    assert colors(after) == colors(before)
    assert np.count_nonzero(after["bins"]) > 1
    page.screenshot(path=str(tmp_path / "million-2014.png"))
    assert console.errors() == [], console.messages
