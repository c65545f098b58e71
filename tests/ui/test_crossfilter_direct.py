"""A crossfilter click in a real page is drawn straight into the charts' data sources
(page/direct_charts.py): the four charts' new data arrive in one patch message, the
figures, renderers and data sources stay the same models, the totals are exactly pandas'
and no category changes colour; the undo click likewise."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import wait_until
from tests.producers import SOME_PURCHASES, tutorial_purchases
from tests.ui.test_crossfilter_million import LAYOUT, colors, showing
from tests.ui.test_purchases_tutorial import WEDGE_CENTER, click_2014

pytestmark = [pytest.mark.server, pytest.mark.ui]

SOURCES = ["sv:by_year:wedges", "sv:by_name:value", "sv:pay:value", "sv:spent:count"]

# the ids of every chart's figure, renderers and data source
MODEL_IDS = """(sources) => {
    const doc = Bokeh.documents[0], out = {};
    for (const name of sources) {
        const plot = name.split(':')[1];
        const figure = doc.get_model_by_name('sv-figure:' + plot);
        out[plot] = [figure.id, figure.renderers.map(r => r.id).join(','),
                     doc.get_model_by_name(name).id];
    }
    return out;
}"""

# from now on, record which data sources each patch message from the server replaced
SPY_PATCHES = """() => {
    const doc = Bokeh.documents[0];
    const apply = doc.apply_json_patch.bind(doc);
    window.svPatches = [];
    doc.apply_json_patch = (patch, buffers) => {
        const ids = patch.events.filter(e => e.kind === 'ColumnDataChanged').map(e => e.model.id);
        ids.buffers = buffers == null ? 0 : buffers.size;
        window.svPatches.push(ids);
        return apply(patch, buffers);
    };
}"""
# the four charts' data came in one message, as JSON (no binary buffers: fewer frames)
ONE_MESSAGE = """(ids) => window.svPatches.some(
    p => ids.every(id => p.includes(id)) && p.buffers === 0)"""
# what the browser shows of a reset button: Bokeh's disabled look, clicks ignored
RESET_LOOK = """(button) => {
    const style = getComputedStyle(button);
    return [button.disabled, style.pointerEvents === 'none', style.opacity];
}"""

TAP_CLEARED = """() => Bokeh.documents[0].get_model_by_name('sv:by_year:wedges')
    .selected.indices.length === 0"""


def test_a_click_is_drawn_directly_in_one_message(tmp_path: Path, panel_server, open_page) -> None:
    layout = tmp_path / "direct.yaml"
    layout.write_text(LAYOUT)
    server = panel_server(str(layout), "--producer", "tests/producers.py:some_purchases")
    everything = pd.DataFrame(tutorial_purchases(SOME_PURCHASES))
    open_, console = open_page
    page = open_(server.url)
    before = wait_until(
        lambda: showing(page, everything, everything), timeout=120, message="all rows counted"
    )
    ids = page.evaluate(MODEL_IDS, SOURCES)
    source_ids = [found[2] for found in ids.values()]
    page.evaluate(SPY_PATCHES)

    click_2014(page)
    in_2014 = everything[everything["Year"] == 2014]
    after = wait_until(
        lambda: showing(page, in_2014, everything), timeout=60, message="exact 2014 totals"
    )
    assert page.evaluate(ONE_MESSAGE, source_ids), page.evaluate("() => window.svPatches")
    assert page.evaluate(MODEL_IDS, SOURCES) == ids
    assert colors(after) == colors(before)
    # the reset buttons' state changes without a re-render (page/header.py ResetButton)
    for name in ("reset by_year", "reset all (shop)"):
        button = page.get_by_role("button", name=name)
        wait_until(lambda b=button: b.evaluate(RESET_LOOK)[1] is False, message=name)
        assert button.evaluate(RESET_LOOK) == [False, False, "1"]
    page.screenshot(path=str(tmp_path / "direct-2014.png"))

    # the second click on the wedge clears the filter, drawn the same way
    wait_until(lambda: page.evaluate(TAP_CLEARED), message="tap selection cleared")
    page.evaluate(SPY_PATCHES)
    page.mouse.click(*page.evaluate(WEDGE_CENTER))
    undone = wait_until(
        lambda: showing(page, everything, everything), timeout=60, message="totals restored"
    )
    assert page.evaluate(ONE_MESSAGE, source_ids), page.evaluate("() => window.svPatches")
    assert page.evaluate(MODEL_IDS, SOURCES) == ids
    assert colors(undone) == colors(before)
    for name in ("reset by_year", "reset all (shop)"):
        button = page.get_by_role("button", name=name)
        wait_until(lambda b=button: b.evaluate(RESET_LOOK)[1] is True, message=name)
        assert button.evaluate(RESET_LOOK) == [False, True, "0.65"]
    assert console.errors() == [], console.messages
