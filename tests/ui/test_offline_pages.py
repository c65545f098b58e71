"""Every request a served page makes goes to the server that served it, never to a CDN:
for `sv.serve` in a process that rendered pages before (as a test run or a notebook does),
for a session Bokeh re-creates when the page's websocket arrives after its first session
expired, and for `streamvis serve`, `panel serve apps/dashboard.py` and `streamvis_server`.
CI has no internet, so a CDN address would show as a console error; the request log also
catches what a cached or blocked request would hide."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import bokeh.document
import panel as pn
import pytest
from bokeh.resources import CDN

import streamvis as sv
from streamvis.client import Client
from streamvis.hub import Hub
from tests.conftest import ROOT, accepts_connections, free_port, wait_until

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = {
    "title": "offline",
    "refresh_ms": 100,
    "plots": [
        {"id": "a", "kind": "line", "stream": "s", "x": "x", "y": "a", "at": [0, 0, 1, 1]},
        {"id": "b", "kind": "scatter", "stream": "s", "x": "x", "y": "b", "at": [0, 1, 1, 1]},
    ],
}
LAYOUT_YAML = textwrap.dedent("""\
    title: offline
    refresh_ms: 100
    plots:
      - {id: a, kind: line, stream: s, x: x, y: a, at: [0, 0, 1, 1]}
""")
HAS_FIGURE = "(name) => Boolean(Bokeh.documents[0].get_model_by_name(name))"
STYLESHEETS = """() => {
    const urls = [];
    for (const root of Bokeh.documents[0].roots())
        for (const model of root.references())
            if (model.type === "ImportedStyleSheet") urls.push(model.url);
    return urls;
}"""


class RecordedPage:
    """A page in its own browser context, with every request, console error and failed
    request it made since before it started loading."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1200, "height": 800})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.context.on("requestfailed", lambda request: self.errors.append(request.url))
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self, url: str) -> RecordedPage:
        self.page.goto(url)
        self.page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
        return self

    def elsewhere(self, port: int) -> list[str]:
        """Requests that did not go to 127.0.0.1:`port` (blob: and data: URLs are local)."""
        foreign = []
        for url in self.requests:
            if url.startswith("data:"):
                continue
            address = urlsplit(url.removeprefix("blob:"))
            if (address.scheme, address.hostname, address.port) != ("http", "127.0.0.1", port):
                foreign.append(url)
        return foreign


@pytest.fixture
def recorded(browser: Any) -> Iterator[Callable[[], RecordedPage]]:
    """Factory of recorded pages; their contexts close at the end."""
    pages: list[RecordedPage] = []

    def make() -> RecordedPage:
        pages.append(RecordedPage(browser))
        return pages[-1]

    yield make
    for page in pages:
        page.context.close()


def assert_served_locally(page: RecordedPage, port: int) -> None:
    """The page drew the first plot, and asked only its own server for anything."""
    wait_until(lambda: page.page.evaluate(HAS_FIGURE, "sv-figure:a"), message="the figure")
    stylesheets = page.page.evaluate(STYLESHEETS)
    assert stylesheets, "the page has Panel stylesheets (else this test checks nothing)"
    assert not [url for url in stylesheets if "://" in url], stylesheets
    assert page.elsewhere(port) == [], page.requests
    assert page.errors == []


def render_like_earlier_tests(tmp_path: Path) -> None:
    """What a test run or a notebook may do before serving: build a page into a plain
    Bokeh document (tests/render does) and save a page as HTML with CDN resources."""
    page = sv.dashboard(LAYOUT, hub=Hub(), start=False)
    page.get_root(bokeh.document.Document())
    page.sv_page.close()
    pn.Column(pn.pane.Markdown("saved")).save(str(tmp_path / "saved.html"), resources=CDN)


def bokeh_server(handle: Any) -> Any:
    """The Bokeh server behind the handle `sv.serve` returned (registered once it started)."""
    entry = wait_until(lambda: pn.state._servers.get(handle.server_id), message="the server")
    return entry[0]


def test_in_process_serve_after_rendering_asks_only_its_server(tmp_path, recorded) -> None:
    render_like_earlier_tests(tmp_path)
    port = free_port()
    handle = sv.serve(LAYOUT, port=port, hub=Hub())
    try:
        page = recorded().open(f"http://127.0.0.1:{port}/")
        assert_served_locally(page, port)
    finally:
        handle.stop()


def test_a_session_recreated_for_a_late_websocket_asks_only_its_server(recorded) -> None:
    # The page's first session expires while its scripts are held back; Bokeh then builds
    # a new session for the websocket without writing an HTML page (Panel's only place
    # that points stylesheets at the server). A slow machine does this by itself.
    port = free_port()
    handle = sv.serve(
        LAYOUT,
        port=port,
        hub=Hub(),
        check_unused_sessions_milliseconds=100,
        unused_session_lifetime_milliseconds=200,
    )
    server = bokeh_server(handle)
    held: list[str] = []

    def hold_until_first_session_expired(route: Any) -> None:
        if not held:  # the page's HTML was written, so its session exists: wait it out
            held.append(route.request.url)
            wait_until(lambda: not server.get_sessions("/"), timeout=60, message="expiry")
        route.continue_()

    try:
        page = recorded()
        page.page.route("**/static/js/bokeh.min.js*", hold_until_first_session_expired)
        page.open(f"http://127.0.0.1:{port}/")
        assert held, "the script was held back"
        wait_until(lambda: len(server.get_sessions("/")) == 1, message="the re-created session")
        assert_served_locally(page, port)
    finally:
        handle.stop()


@pytest.fixture
def streamvis_serve(tmp_path: Path) -> Iterator[int]:
    """`streamvis serve LAYOUT` on a free port of 127.0.0.1, in a subprocess; yields the port
    and dumps the server's output if it fails to come up."""
    layout = tmp_path / "layout.yaml"
    layout.write_text(LAYOUT_YAML)
    port = free_port()
    command = [str(Path(sys.executable).with_name("streamvis")), "serve", str(layout)]
    command += ["--port", str(port), "--store", str(tmp_path / "store.db")]
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(
                lambda: process.poll() is None and accepts_connections(port),
                timeout=60,
                message=f"streamvis serve on {port}: {log_path.read_text()}",
            )
            yield port
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def test_streamvis_serve_page_asks_only_its_server(streamvis_serve: int, recorded) -> None:
    page = recorded().open(f"http://127.0.0.1:{streamvis_serve}/")
    assert_served_locally(page, streamvis_serve)


def test_panel_serve_app_page_asks_only_its_server(tmp_path: Path, panel_server, recorded):
    layout = tmp_path / "layout.yaml"
    layout.write_text(LAYOUT_YAML)
    server = panel_server(str(layout))
    page = recorded().open(server.url)
    assert_served_locally(page, server.port)


def test_streamvis_server_page_asks_only_its_server(streamvis_server, recorded) -> None:
    server = streamvis_server("offline")
    client = Client(server.rest_url, "offline")
    client.set_layout(LAYOUT)
    assert client.flush(30), client.errors
    client.close()
    page = recorded().open(server.page_url)
    assert_served_locally(page, server.bokeh_port)
