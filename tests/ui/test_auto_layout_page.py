"""The automatic layout in a real page (`panel serve apps/dashboard.py` with no layout, rows
POSTed over HTTP): a chart per numeric column, a metric logged after the page opened gets
its chart, the search box hides charts, a column name carrying HTML shows as text, and a
layout set through the API rules over the automatic one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamvis.layout.auto import chart_id
from tests.conftest import COLUMN, LIVE_MODEL, api_json, wait_until

pytestmark = [pytest.mark.server, pytest.mark.ui]

PAYLOAD = "<img src=x onerror=window.svAutoXss=1>"
TITLE = (
    """(name) => {"""
    + LIVE_MODEL
    + """
    const figure = live(name);
    if (!figure) return null;
    let text = figure.title;
    while (text && typeof text !== "string") text = text.text;
    return text || "";
}"""
)


def test_automatic_layout_follows_new_metrics_searches_and_yields_to_an_api_layout(
    panel_server, open_page, tmp_path: Path
) -> None:
    run = "auto"
    server = panel_server("--run", run, plugins=True)
    port = server.port
    metrics = {"step": [0, 1, 2], "loss": [1.0, 0.5, 0.25], "acc": [0.1, 0.2, 0.3]}
    api_json(port, "POST", f"runs/{run}/streams/metrics", metrics)
    api_json(port, "POST", f"runs/{run}/streams/gpu", {"util": [0.5, 0.7]})
    open_, console = open_page
    page = open_(server.url)

    def column(name: str, col: str) -> list[Any] | None:
        return page.evaluate(COLUMN, [name, col])

    def drawn(plot_id: str) -> bool:
        return page.evaluate(TITLE, f"sv-figure:{plot_id}") is not None

    wait_until(lambda: column("sv:metrics.loss:loss", "loss") == [1.0, 0.5, 0.25], message="loss")
    wait_until(lambda: column("sv:metrics.acc:acc", "acc") == [0.1, 0.2, 0.3], message="acc")
    wait_until(lambda: column("sv:gpu.util:util", "util") == [0.5, 0.7], message="util")
    assert page.evaluate(TITLE, "sv-figure:metrics.loss") == "metrics / loss"

    # a metric logged after the page opened gets its chart; rows keep arriving in the others
    new_rows = {"step": [3], "loss": [0.2], "acc": [0.4], "lr": [0.01], PAYLOAD: [1.0]}
    api_json(port, "POST", f"runs/{run}/streams/metrics", new_rows)
    # (its earlier rows have no value: gaps)
    wait_until(lambda: (column("sv:metrics.lr:lr", "lr") or [None])[-1] == 0.01, message="lr")
    wait_until(lambda: column("sv:metrics.loss:loss", "loss") == [1.0, 0.5, 0.25, 0.2])
    assert page.get_by_text(f"streamvis: {run} (automatic layout)").count() == 1

    # a column named with HTML: its chart's title is that text, nothing of it runs
    payload_title = f"metrics / {PAYLOAD}"
    payload_id = chart_id("metrics", PAYLOAD)
    wait_until(
        lambda: page.evaluate(TITLE, f"sv-figure:{payload_id}") == payload_title,
        message="the payload's chart, titled with its text",
    )
    assert page.evaluate("() => window.svAutoXss") is None
    assert page.locator("img[src='x']").count() == 0

    # the search box hides the charts whose title does not match, and shows them again
    search = page.locator(".sv-chart-search input")
    search.fill("loss|lr")
    search.press("Enter")  # the typed text and the value both change: one call each
    wait_until(lambda: not drawn("metrics.acc") and not drawn("gpu.util"), message="hidden")
    assert drawn("metrics.loss")
    assert drawn("metrics.lr")
    page.screenshot(path=str(tmp_path / "auto-search.png"))
    search.fill("")
    wait_until(lambda: drawn("metrics.acc") and drawn("gpu.util"), message="shown again")
    wait_until(lambda: column("sv:metrics.acc:acc", "acc") == [0.1, 0.2, 0.3, 0.4])
    page.screenshot(path=str(tmp_path / "auto.png"))

    # a layout set through the API rules
    layout = {
        "title": "from the API",
        "plots": [
            {"id": "mine", "kind": "line", "stream": "metrics", "x": "step", "y": "loss",
             "at": [0, 0, 1, 1]},
        ],
    }  # fmt: skip
    api_json(port, "PUT", f"runs/{run}/layout", layout)
    wait_until(lambda: drawn("mine") and not drawn("metrics.loss"), message="the API layout")
    box = page.locator(".sv-chart-search")
    wait_until(lambda: box.count() == 0, message="no search box over a layout set by the API")
    assert console.errors() == [], console.messages
