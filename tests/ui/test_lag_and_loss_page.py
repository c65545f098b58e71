"""Headless Chromium against a real `panel serve apps/dashboard.py --plugins
streamvis.ingest`: the header's "behind" badge appears when the server falls behind (a test
hook makes every tick block the event loop, tests/lag_producer.py) and goes once it caught
up; the note above a plot says how many rows a real `sv.Client` dropped from its full queue,
and that the stream's source is reconnecting (docs/lag-and-loss.md)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from streamvis import Client
from tests.conftest import free_port, wait_until

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = """\
    title: lag and loss
    refresh_ms: 100
    sources:
      - {{name: feed, type: tcp, stream: fed, host: 127.0.0.1, port: {port}}}
    plots:
      - {{id: metrics, kind: line, stream: metrics, x: step, y: v, at: [0, 0, 1, 1]}}
      - {{id: lossy, kind: line, stream: lossy, x: i, y: v, at: [0, 1, 1, 1]}}
      - {{id: fed, kind: line, stream: fed, x: i, y: v, at: [1, 0, 1, 2]}}
"""
ROWS = """(name) => {
    const model = Bokeh.documents[0].get_model_by_name(name);
    return model ? model.data["i"].length : null;
}"""
FIGURE = """(name) => {
    const model = Bokeh.documents[0].get_model_by_name(name);
    return model ? model.type : null;
}"""
BEHIND = re.compile(r"behind \d+(\.\d)? s")


def test_the_page_says_when_it_is_behind_and_what_its_streams_lost(
    tmp_path: Path, panel_server, open_page
) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    layout = tmp_path / "layout.yaml"
    layout.write_text(textwrap.dedent(LAYOUT).format(port=free_port()))  # nothing listens
    server = panel_server(
        str(layout),
        "--producer",
        "tests/lag_producer.py:rows",
        plugins=True,
        env={"STREAMVIS_TEST_GATES": str(gates)},
    )
    open_, console = open_page
    page = open_(server.url)
    for plot_id in ("metrics", "lossy", "fed"):
        wait_until(
            lambda p=plot_id: page.evaluate(FIGURE, f"sv-figure:{p}") == "Figure",
            message=f"figure {plot_id}",
        )
    badge = page.locator(".sv-lag span")  # in the pane's shadow root; none while up to date
    wait_until(lambda: badge.count() == 0, message="no badge while the page keeps up")

    # the server falls behind: every tick blocks the event loop for 2 s
    (gates / "slow").touch()
    wait_until(lambda: badge.count() == 1 and badge.is_visible(), message="the behind badge")
    text = badge.text_content() or ""
    assert BEHIND.fullmatch(text), text
    page.screenshot(path=str(tmp_path / "behind.png"))

    # ...and catches up
    (gates / "slow").unlink()
    wait_until(lambda: badge.count() == 0, message="the badge gone after catching up")

    # a producer whose queue overflowed: the count it dropped shows above its plot
    client = Client(f"127.0.0.1:{server.port}", queue_rows=50, flush_interval=0.5)
    try:
        for i in range(2_000):
            client.stream("lossy", {"i": i, "v": float(i % 7)})
        assert client.flush(timeout=120), "the client did not deliver"
        dropped = client.dropped()["lossy"]
    finally:
        client.close(timeout=0)
        client._disconnect()
    assert dropped > 0, "the queue never overflowed"
    note = page.locator(".sv-loss .sv-loss-text", has_text="'lossy'")
    wanted = f"{dropped:,} rows of 'lossy' dropped by the producer before sending"
    wait_until(lambda: wanted in (note.text_content() or ""), message="the dropped-rows note")
    delivered = 2_000 - dropped
    wait_until(lambda: page.evaluate(ROWS, "sv:lossy:v") == delivered, message="lossy's rows")

    # the tcp source of `fed` finds nothing listening: it is reconnecting
    fed = page.locator(".sv-loss .sv-loss-text", has_text="source 'feed'")
    wait_until(
        lambda: "source 'feed' reconnecting" in (fed.text_content() or ""),
        message="the reconnecting note",
    )
    assert page.locator(".sv-loss .sv-loss-text", has_text="'metrics'").count() == 0
    page.screenshot(path=str(tmp_path / "loss.png"))
    assert console.errors() == [], console.messages
