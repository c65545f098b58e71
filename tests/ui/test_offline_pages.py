"""Every request a served page makes goes to the server that served it, never to a CDN, and
the address each command prints takes `?run=` and `?runs=` (docs/urls.md).

Serving paths: `sv.serve` in a process that rendered pages before (as a test run or a
notebook does), with every plot kind and a crossfilter group; a session
Bokeh re-creates when the page's websocket arrives after its first session expired;
`streamvis serve`; `panel serve apps/dashboard.py` (warmed, and its error page);
`streamvis_server` (its "waiting for a layout" page, then the layout); `streamvis demo`;
compare pages (`?runs=`) of `streamvis serve` and `streamvis demo`.
CI has no internet, so a CDN address would show as a console error; the request log (every
request and websocket of the page) also catches what a cached or blocked request would hide.
Every other browser test's pages are checked the same way by tests/conftest.py's
`open_page`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import bokeh.document
import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.resources import CDN

import streamvis as sv
from streamvis.client import Client
from streamvis.core.hub import Hub
from tests.conftest import accepts_connections, foreign_addresses, free_port, wait_until

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = {
    "title": "offline",
    "refresh_ms": 100,
    "plots": [
        {"id": "a", "kind": "line", "stream": "s", "x": "x", "y": "a", "at": [0, 0, 1, 1]},
        {"id": "b", "kind": "scatter", "stream": "s", "x": "x", "y": "b", "at": [0, 1, 1, 1]},
    ],
}
EVERY_KIND = {  # one plot of each kind, two of them in a crossfilter group
    "title": "every kind",
    "refresh_ms": 100,
    "plots": [
        {"id": "a", "kind": "line", "stream": "m", "x": "step", "y": "a", "at": [0, 0, 1, 1]},
        {"id": "sc", "kind": "scatter", "stream": "m", "x": "a", "y": "b", "crossfilter": "g",
         "at": [0, 1, 1, 1]},
        {"id": "bar", "kind": "bar", "stream": "m", "by": "cat", "crossfilter": "g",
         "at": [0, 2, 1, 1]},
        {"id": "row", "kind": "row", "stream": "m", "by": "cat", "value": "b", "agg": "sum",
         "at": [1, 0, 1, 1]},
        {"id": "ring", "kind": "ring", "stream": "m", "by": "cat", "at": [1, 1, 1, 1]},
        {"id": "pie", "kind": "pie", "stream": "m", "by": "cat", "at": [1, 2, 1, 1]},
        {"id": "hist", "kind": "histogram", "stream": "m", "value": "b", "bins": 8,
         "at": [2, 0, 1, 1]},
        {"id": "heat", "kind": "heatmap", "stream": "attn", "at": [2, 1, 1, 1]},
        {"id": "img", "kind": "image", "stream": "attn", "at": [2, 2, 1, 1]},
        {"id": "tab", "kind": "table", "stream": "m", "columns": ["step", "a", "cat"],
         "at": [3, 0, 1, 1]},
        {"id": "num", "kind": "number", "stream": "m", "value": "step", "format": "{:d}",
         "at": [3, 1, 1, 1]},
        {"id": "md", "kind": "markdown", "text": "**notes**", "at": [3, 2, 1, 1]},
    ],
}  # fmt: skip
DRAWN = [f"sv-figure:{p['id']}" for p in EVERY_KIND["plots"][:9]]
DRAWN.append("sv:tab:table")
LAYOUT_YAML = textwrap.dedent("""\
    title: offline
    refresh_ms: 100
    plots:
      - {id: a, kind: line, stream: s, x: x, y: a, at: [0, 0, 1, 1]}
""")
MISSING = "(names) => names.filter((name) => !Bokeh.documents[0].get_model_by_name(name))"
STYLESHEETS = """() => {
    const urls = [];
    for (const root of Bokeh.documents[0].roots())
        for (const model of root.references())
            if (model.type === "ImportedStyleSheet") urls.push(model.url);
    return urls;
}"""


class RecordedPage:
    """A page in its own browser context, with every request (websockets too), console
    error and failed request it made since before it started loading."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        self.url = ""
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.context.on("requestfailed", lambda request: self.errors.append(request.url))
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.page.on("websocket", lambda socket: self.requests.append(socket.url))
        self.page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self, url: str) -> RecordedPage:
        self.url = url
        self.page.goto(url)
        self.page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
        return self

    def text(self, selector: str) -> str:
        """The text of the page's elements matching `selector` (shadow roots included)."""
        return " ".join(self.page.locator(selector).all_text_contents())


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


def assert_served_locally(page: RecordedPage, drawn: Sequence[str] = ("sv-figure:a",)) -> None:
    """The page drew the named models, and asked only its own server for anything."""
    wait_until(lambda: not page.page.evaluate(MISSING, list(drawn)), message=f"{drawn} drawn")
    page.page.screenshot()  # every visible part is painted (fonts and images requested)
    stylesheets = page.page.evaluate(STYLESHEETS)
    assert stylesheets, "the page has Panel stylesheets (else this test checks nothing)"
    assert not [url for url in stylesheets if "://" in url], stylesheets
    assert any(url.startswith("ws") for url in page.requests), "the websocket was recorded"
    assert foreign_addresses(page.url, page.requests) == [], page.requests
    assert page.errors == []


def wait_for_shown(page: RecordedPage, expected: str) -> None:
    """The page header says what it shows ("run: NAME" or "runs: A, B")."""
    wait_until(lambda: page.text(".sv-run span") == expected, message=f"header {expected!r}")


def final_address(url: str) -> str:
    """Where a GET of `url` ends after every redirect (the page must answer 200)."""
    with urllib.request.urlopen(url, timeout=30) as reply:
        assert reply.status == 200
        assert b"Bokeh" in reply.read()
        return reply.url


def assert_query_survives(printed: str) -> None:
    """The printed address with ?run= and ?runs= ends, through any redirect, on a page
    address that still has them."""
    query = "run=r-1&runs=" + urllib.parse.quote("r-.*") + "&other=x"
    ended = urllib.parse.urlsplit(final_address(f"{printed}?{query}"))
    assert urllib.parse.parse_qs(ended.query) == {"run": ["r-1"], "runs": ["r-.*"], "other": ["x"]}


def printed_address(read_output: Callable[[], str], pattern: str) -> str:
    """The page address a command printed (the first group of `pattern` in its output)."""
    found = wait_until(lambda: re.search(pattern, read_output()), message=f"output {pattern}")
    return found.group(1)


def render_like_earlier_tests(tmp_path: Path) -> None:
    """What a test run or a notebook may do before serving: build a page into a plain
    Bokeh document (tests/render does) and save a page as HTML with CDN resources."""
    page = sv.dashboard(EVERY_KIND, hub=Hub(), start=False)
    page.view.get_root(bokeh.document.Document())
    page.close()
    pn.Column(pn.pane.Markdown("saved")).save(str(tmp_path / "saved.html"), resources=CDN)


def every_kind_data(hub: Hub, run: str, scale: float) -> None:
    steps = np.arange(40)
    hub.stream(
        "m",
        {
            "step": steps,
            "a": np.sin(steps / 5) * scale,
            "b": steps * scale,
            "cat": np.array(["x", "y", "z", "w"])[steps % 4],
        },
        run=run,
    )
    hub.stream("attn", pd.DataFrame(np.eye(6) * scale), mode="replace", run=run)


def bokeh_server(handle: Any) -> Any:
    """The Bokeh server behind the handle `sv.serve` returned (registered once it started)."""
    entry = wait_until(lambda: pn.state._servers.get(handle.server_id), message="the server")
    return entry[0]


def test_in_process_serve_every_kind_asks_only_its_server(tmp_path, recorded, capsys) -> None:
    render_like_earlier_tests(tmp_path)
    hub = Hub()
    every_kind_data(hub, "r-1", 1.0)
    every_kind_data(hub, "r-2", 2.0)
    port = free_port()
    handle = sv.serve(EVERY_KIND, port=port, hub=hub, run="r-1")
    try:
        printed = printed_address(
            lambda: capsys.readouterr().out, r"Launching server at (http://\S+)"
        )
        assert_query_survives(printed)
        page = recorded().open(f"{printed}?run=r-2")
        wait_for_shown(page, "run: r-2")
        wait_until(lambda: page.text(".sv-number-value") == "39", message="the number card")
        wait_until(lambda: "notes" in page.text("strong"), message="the markdown")
        assert_served_locally(page, DRAWN)
        page.page.screenshot(path=str(tmp_path / "every-kind.png"))
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
        assert_served_locally(page)
    finally:
        handle.stop()


class Command:
    """A streamvis command running in a subprocess on a free port, its output in a file."""

    def __init__(self, command: list[str], log_path: Path, port: int) -> None:
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=log_path.parent,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stop() ends the panel serve it starts too
        )
        try:
            wait_until(
                lambda: self.process.poll() is None and accepts_connections(port),
                timeout=60,
                message=f"{command[:2]} on {port}: {self.output()}",
            )
        except BaseException:
            self.stop()  # a command that never came up is not left running
            raise

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()


def streamvis_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("streamvis")), *args]


@pytest.fixture
def streamvis_serve(tmp_path: Path) -> Iterator[Command]:
    """`streamvis serve LAYOUT` on a free port of 127.0.0.1, in a subprocess."""
    layout = tmp_path / "layout.yaml"
    layout.write_text(LAYOUT_YAML)
    port = free_port()
    command = streamvis_command("serve", str(layout), "--port", str(port))
    served = Command(command + ["--store", str(tmp_path / "store.db")], tmp_path / "log", port)
    yield served
    served.stop()


def post_row(port: int, run: str) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/runs/{run}/streams/s",
        data=json.dumps({"x": [0, 1], "a": [1.0, 2.0]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 200


def test_streamvis_serve_printed_address_takes_run_and_asks_only_its_server(
    streamvis_serve: Command, recorded
) -> None:
    printed = printed_address(streamvis_serve.output, r"dashboard at (http://\S+),")
    assert printed == f"http://127.0.0.1:{streamvis_serve.port}/"
    assert_query_survives(printed)
    assert_query_survives(f"{printed}serve_app")  # the page's other address
    for run in ("r-1", "r-2"):
        post_row(streamvis_serve.port, run)
    page = recorded().open(f"{printed}?run=r-2")
    wait_for_shown(page, "run: r-2")
    assert_served_locally(page)
    compared = recorded().open(f"{printed}?runs={urllib.parse.quote('r-.*')}")
    wait_for_shown(compared, "runs: r-1, r-2")
    assert_served_locally(compared)


def test_panel_serve_warmed_page_takes_run_and_asks_only_its_server(
    tmp_path: Path, panel_server, recorded
) -> None:
    layout = tmp_path / "layout.yaml"
    layout.write_text(LAYOUT_YAML)
    server = panel_server(str(layout), extra=["--warm"])
    printed = printed_address(server.output, r"Bokeh app running at: (http://\S+)")
    assert_query_survives(printed)
    page = recorded().open(f"{printed}?run=elsewhere")
    wait_for_shown(page, "run: elsewhere")
    assert_served_locally(page)


def test_panel_serve_error_page_asks_only_its_server(tmp_path: Path, panel_server, recorded):
    server = panel_server(str(tmp_path / "missing.yaml"))  # plain panel serve: starts anyway
    page = recorded().open(server.url)
    wait_until(
        lambda: "cannot read layout file" in page.text("pre"), message="the error in the page"
    )
    page.page.screenshot()
    assert foreign_addresses(page.url, page.requests) == [], page.requests
    assert page.errors == []
    assert "missing.yaml" in server.output()  # the server log says it too


def test_streamvis_server_waiting_page_then_layout_ask_only_its_server(
    streamvis_server, recorded
) -> None:
    server = streamvis_server("offline")
    printed = printed_address(server.output, r"run 'offline' at (http://\S+)")
    assert printed == server.page_url
    assert_query_survives(printed)
    page = recorded().open(f"{printed}?run=offline")
    wait_until(lambda: "waiting for a layout" in page.text("p"), message="the waiting page")
    client = Client(server.rest_url, "offline")
    client.set_layout(LAYOUT)
    assert client.flush(30), client.errors
    client.close()
    assert_served_locally(page)  # the page rebuilt itself with the layout, still offline


def test_streamvis_demo_compare_address_asks_only_its_server(tmp_path: Path, recorded) -> None:
    port = free_port()
    command = streamvis_command("demo", "--port", str(port), "--run", "demo-1")
    demo = Command(command + ["--store", "none"], tmp_path / "demo.log", port)
    try:
        compare = printed_address(demo.output, r"demo runs: (http://\S+)")
        assert compare == f"http://127.0.0.1:{port}/?runs=demo-.*"
        page = recorded().open(compare)
        wait_for_shown(page, "runs: demo-1")
        assert_served_locally(page, ["sv-figure:loss"])
    finally:
        demo.stop()


def test_explicit_cdn_resources_are_honoured(tmp_path, monkeypatch) -> None:
    # BOKEH_RESOURCES=cdn is the user's explicit choice: then the page points at the CDN.
    monkeypatch.setenv("BOKEH_RESOURCES", "cdn")
    port = free_port()
    handle = sv.serve(LAYOUT, port=port, hub=Hub())
    try:
        html = wait_until(
            lambda: (
                accepts_connections(port)
                and urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read()
            ),
            message="the page",
        )
        assert b"https://cdn.bokeh.org/" in html
    finally:
        handle.stop()
