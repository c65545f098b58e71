"""Serving for real: `sv.serve` in-process and `panel serve apps/dashboard.py` in a
subprocess. Closed tabs release their subscriptions, the layout may come from the
environment, user mistakes (bad layout, missing file) are shown on the page and logged
without a traceback, `--run` picks the run, and a failing producer does not stop the
server."""

from __future__ import annotations

import textwrap
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import streamvis as sv
from streamvis.core.hub import Hub
from tests.conftest import free_port, wait_until
from tests.producers import FAILURE_MESSAGE, OTHER_RUN_ROWS, metric_a, other_value

pytestmark = [pytest.mark.server]

COLUMN = """([name, column]) => {
    const doc = window.Bokeh && Bokeh.documents[0];
    const model = doc && doc.get_model_by_name(name);
    return model && model.data[column] ? Array.from(model.data[column]) : null;
}"""
HAS_MODEL = """(name) => {
    const doc = window.Bokeh && Bokeh.documents[0];
    return Boolean(doc && doc.get_model_by_name(name));
}"""

METRICS_LAYOUT = textwrap.dedent("""\
    title: served
    refresh_ms: 100
    plots:
      - {id: m, kind: line, stream: metrics, x: step, y: a, at: [0, 0, 1, 1]}
""")


def column(page, name: str, col: str) -> list | None:
    return page.evaluate(COLUMN, [name, col])


def http_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=20) as response:
        return response.status


def write_layout(tmp_path: Path, text: str, name: str = "layout.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.ui
def test_in_process_serve_streams_and_closed_tabs_unsubscribe(open_page) -> None:
    hub = Hub()
    layout = {
        "refresh_ms": 100,
        "plots": [
            {"id": "a", "kind": "line", "stream": "s", "x": "x", "y": "a", "at": [0, 0, 1, 1]},
            {"id": "b", "kind": "scatter", "stream": "s", "x": "x", "y": "b", "at": [0, 1, 1, 1]},
            {"id": "c", "kind": "line", "stream": "t", "x": "x", "y": "c", "at": [1, 0, 1, 2]},
        ],
    }
    streams = 1  # the scatter's stream: line plots read level-of-detail views, no subscription
    port = free_port()
    server = sv.serve(
        layout,
        port=port,
        hub=hub,
        # Bokeh's own names: `check_unused_sessions=` would be silently ignored
        check_unused_sessions_milliseconds=200,
        unused_session_lifetime_milliseconds=500,
    )
    try:
        # the page sv.serve builds before it listens (Panel's warm-up) let go of its streams
        assert hub.subscription_count == 0
        open_, console = open_page
        url = f"http://127.0.0.1:{port}/"
        first = open_(url)
        wait_until(lambda: hub.subscription_count == streams, message="first page subscribed")
        second = open_(url)
        wait_until(lambda: hub.subscription_count == 2 * streams, message="both subscribed")

        # rows written after load reach both pages
        hub.stream("s", {"x": [1.0, 2.0, 3.0], "a": [4.0, 5.0, 6.0], "b": [7.0, 8.0, 9.0]})
        hub.stream("t", {"x": [1.0], "c": [10.0]})
        for page in (first, second):
            wait_until(lambda p=page: column(p, "sv:a:a", "a") == [4.0, 5.0, 6.0], message="a")
            wait_until(lambda p=page: column(p, "sv:b:b", "b") == [7.0, 8.0, 9.0], message="b")
            wait_until(lambda p=page: column(p, "sv:c:c", "c") == [10.0], message="c")

        # closing one tab drops its subscriptions only; the other page keeps updating
        first.context.close()
        wait_until(lambda: hub.subscription_count == streams, message="first tab unsubscribed")
        hub.stream("s", {"x": 4.0, "a": 11.0, "b": 12.0})
        wait_until(lambda: column(second, "sv:a:a", "a") == [4.0, 5.0, 6.0, 11.0], message="more")
        second.context.close()
        wait_until(lambda: hub.subscription_count == 0, message="every tab unsubscribed")
        assert console.errors() == [], console.messages
    finally:
        server.stop()


@pytest.mark.ui
def test_layout_and_producer_from_environment(tmp_path: Path, panel_server, open_page) -> None:
    layout = write_layout(tmp_path, METRICS_LAYOUT)
    server = panel_server(
        env={
            "STREAMVIS_LAYOUT": str(layout),
            "STREAMVIS_PRODUCER": "tests/producers.py:counting",
        }
    )
    open_, console = open_page
    page = open_(server.url)
    wait_until(lambda: page.evaluate(HAS_MODEL, "sv-figure:m"), message="figure")
    steps = wait_until(lambda: column(page, "sv:m:a", "step"), message="producer rows")
    values = column(page, "sv:m:a", "a")
    assert len(values) >= len(steps)
    assert np.allclose(values[: len(steps)], [metric_a(int(s)) for s in steps])
    assert page.get_by_text("served", exact=True).count() == 1
    assert console.errors() == [], console.messages


@pytest.mark.ui
def test_layout_error_is_shown_and_logged_without_traceback(
    tmp_path: Path, panel_server, open_page
) -> None:
    layout = write_layout(
        tmp_path,
        textwrap.dedent("""\
            title: broken
            plots:
              - id: m
                kind: lnie
                stream: metrics
                x: step
                y: a
                at: [0, 0, 1, 1]
        """),
    )
    server = panel_server(str(layout))
    assert http_status(server.url) == 200
    open_, _ = open_page
    page = open_(server.url)
    message = page.locator("pre", has_text="unknown kind")
    wait_until(lambda: message.count() == 1, message="error shown on the page")
    text = message.text_content()
    assert f"{layout}:4:" in text
    assert "plots.m.kind: unknown kind 'lnie'. Did you mean 'line'?" in text
    assert "kind: lnie" in text  # the offending line is quoted
    assert page.get_by_text("streamvis cannot show this layout").count() == 1

    log = wait_until(
        lambda: "unknown kind 'lnie'" in server.output() and server.output(), message="log"
    )
    assert f"{layout}:4:" in log
    assert "Traceback" not in log


@pytest.mark.ui
def test_missing_layout_file_is_explained(tmp_path: Path, panel_server, open_page) -> None:
    missing = tmp_path / "no-such-layout.yaml"
    server = panel_server(str(missing))
    open_, _ = open_page
    page = open_(server.url)
    message = page.locator("pre", has_text="cannot read layout file")
    wait_until(lambda: message.count() == 1, message="missing file explained")
    assert str(missing) in message.text_content()
    log = wait_until(lambda: "cannot read layout file" in server.output() and server.output())
    assert "Traceback" not in log


@pytest.mark.ui
def test_run_argument_shows_that_run(tmp_path: Path, panel_server, open_page) -> None:
    layout = write_layout(tmp_path, METRICS_LAYOUT)
    server = panel_server(
        str(layout), "--producer", "tests/producers.py:other_run", "--run", "other"
    )
    open_, console = open_page
    page = open_(server.url)
    expected = [other_value(step) for step in range(OTHER_RUN_ROWS)]
    wait_until(lambda: column(page, "sv:m:a", "a") == expected, message="rows of run 'other'")
    assert column(page, "sv:m:a", "step") == list(range(OTHER_RUN_ROWS))
    assert page.get_by_text("run: other").count() == 1
    assert console.errors() == [], console.messages


@pytest.mark.ui
def test_failing_producer_is_logged_and_the_server_keeps_serving(
    tmp_path: Path, panel_server, open_page
) -> None:
    layout = write_layout(tmp_path, METRICS_LAYOUT)
    server = panel_server(str(layout), "--producer", "tests/producers.py:failing")
    assert http_status(server.url) == 200  # the first session starts the producer
    log = wait_until(
        lambda: FAILURE_MESSAGE in server.output() and server.output(), message="failure logged"
    )
    assert "producer tests/producers.py:failing stopped with an error" in log
    assert f"RuntimeError: {FAILURE_MESSAGE}" in log

    assert server.process.poll() is None
    open_, console = open_page
    page = open_(server.url)  # a session opened after the failure still works
    wait_until(lambda: column(page, "sv:m:a", "a") == [1.0], message="row written before")
    assert console.errors() == [], console.messages
    assert server.output().count(FAILURE_MESSAGE) == 1, "the producer must start only once"
