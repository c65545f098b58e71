"""Basic auth end to end: a real `streamvis serve --basic-auth users.json --token ...` on
127.0.0.1 and headless Chromium. Pages and their websocket need the login (a token alone
opens no page); a producer writes with the token and no login; a wrong password is refused;
after logging in through the form the dashboard draws the rows, with the page's query kept."""

from __future__ import annotations

import asyncio
import http.client
import json
import secrets
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from bokeh.util.token import generate_jwt_token, generate_session_id
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from tests.conftest import wait_until
from tests.serve_process import ServeProcess

pytestmark = [pytest.mark.server, pytest.mark.ui]

TOKEN = "producer-" + secrets.token_hex(8)
PROXY = "https://dash.example.test"  # the address a TLS proxy in front would serve
USERS = {"ann": "Correct-Horse-1", "bob": "battery staple"}
LAYOUT = textwrap.dedent("""\
    title: viewers
    refresh_ms: 100
    plots:
      - {id: a, kind: line, stream: s, x: step, y: a, at: [0, 0, 1, 1]}
""")
ROWS = """() => {
    const source = Bokeh.documents[0].get_model_by_name("sv:a:a");
    return source ? Array.from(source.data.step) : null;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One `streamvis serve` with basic auth (a credentials file) and an ingest token."""
    folder = tmp_path_factory.mktemp("viewer-login")
    (folder / "layout.yaml").write_text(LAYOUT)
    (folder / "users.json").write_text(json.dumps(USERS))
    options = ["--store", str(folder / "store.db"), "--token", TOKEN]
    options += ["--basic-auth", str(folder / "users.json")]
    options += [f"--cookie-secret={secrets.token_urlsafe(32)}"]  # may start with '-'
    options += ["--allow-origin", PROXY, "--use-xheaders"]  # as behind a TLS proxy
    process = ServeProcess(folder / "layout.yaml", options, folder / "serve.log", {})
    yield process
    process.stop()
    print(f"---- streamvis serve log ----\n{process.output()}")


class Viewer:
    """A fresh browser context (no cookies) that records console errors and every request."""

    def __init__(self, browser: Any, server: ServeProcess) -> None:
        self.server = server
        self.context = browser.new_context(viewport={"width": 1200, "height": 800})
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.context.on("request", self._record)
        self.context.on("requestfailed", lambda request: self.errors.append(request.url))
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _record(self, request: Any) -> None:
        address = urlsplit(request.url)
        if address.scheme not in ("data", "blob") and address.port != self.server.port:
            self.foreign.append(request.url)

    def log_in(self, user: str, password: str) -> None:
        self.page.fill("#username", user)
        self.page.fill("#password", password)
        self.page.click("#submit")

    def cookie_header(self) -> str:
        return "; ".join(f"{c['name']}={c['value']}" for c in self.context.cookies())


@pytest.fixture
def viewer(browser: Any, server: ServeProcess) -> Iterator[Viewer]:
    made = Viewer(browser, server)
    yield made
    made.context.close()


def request(
    server: ServeProcess, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request without following redirects and without any cookie."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        payload = json.dumps(body) if body is not None else None
        connection.request(method, path, payload, headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def write_rows(server: ServeProcess, run: str, steps: range) -> None:
    rows = [{"step": step, "a": step * 0.5} for step in steps]
    status, _, body = request(server, "POST", f"/api/v1/runs/{run}/streams/s", rows, TOKEN)
    assert status == 200, body


def open_websocket(server: ServeProcess, cookie: str | None, origin: str | None = None) -> str:
    """Open the page websocket as Bokeh's client does; its first message, or why it failed."""

    async def connect() -> str:
        token = generate_jwt_token(generate_session_id(signed=False), signed=False)
        headers = {"Origin": origin or server.url, **({"Cookie": cookie} if cookie else {})}
        target = HTTPRequest(f"ws://127.0.0.1:{server.port}/serve_app/ws", headers=headers)
        try:
            connection = await websocket_connect(target, subprotocols=["bokeh", token])
        except HTTPClientError as exc:
            return f"refused: HTTP {exc.code}"
        first = str(await connection.read_message())
        connection.close()
        while await connection.read_message() is not None:  # until the socket is closed
            pass
        return first

    with ThreadPoolExecutor(1) as thread:  # Playwright's loop owns this thread
        return thread.submit(asyncio.run, connect()).result()


def test_without_login_no_page_and_no_websocket(server: ServeProcess, viewer: Viewer) -> None:
    for path in ("/?run=auth", "/serve_app?run=auth"):
        status, headers, _ = request(server, "GET", path, token=TOKEN)  # the token opens no page
        assert status == 302, (path, status)
        assert headers["Location"].startswith("./login?next="), headers
    assert open_websocket(server, cookie=None) == "refused: HTTP 403"

    viewer.page.goto(f"{server.url}/serve_app?run=auth")
    viewer.page.wait_for_selector("#username")
    assert urlsplit(viewer.page.url).path == "/login"
    assert viewer.page.evaluate("() => typeof window.Bokeh") == "undefined"
    assert viewer.errors == []
    assert viewer.foreign == []


def test_a_wrong_password_is_refused(server: ServeProcess, viewer: Viewer, tmp_path: Path) -> None:
    viewer.page.goto(f"{server.url}/?run=auth")
    viewer.log_in("ann", USERS["bob"])  # a password, but not ann's
    viewer.page.wait_for_selector("#error")
    assert "Invalid username or password" in viewer.page.inner_text("#error")
    viewer.log_in("nobody", USERS["ann"])
    viewer.page.wait_for_selector("#error")
    viewer.page.screenshot(path=str(tmp_path / "refused.png"))
    assert urlsplit(viewer.page.url).path == "/login"
    assert "user" not in {cookie["name"] for cookie in viewer.context.cookies()}
    assert viewer.page.evaluate("() => typeof window.Bokeh") == "undefined"
    assert viewer.errors == []
    assert viewer.foreign == []


def test_after_login_the_dashboard_draws_what_producers_write_with_the_token(
    server: ServeProcess, viewer: Viewer, tmp_path: Path
) -> None:
    status, _, body = request(server, "POST", "/api/v1/runs/auth/streams/s", [{"step": 0}])
    assert status == 401, body  # the API keeps its token: no token, no write
    write_rows(server, "auth", range(5))  # the producer: token, no login, no cookie

    page_url = f"{server.url}/serve_app?run=auth"
    viewer.page.goto(page_url)
    viewer.page.wait_for_selector("#username")
    viewer.log_in("ann", USERS["ann"])
    viewer.page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
    assert viewer.page.url == page_url  # the login sends the viewer back, query and all
    wait_until(lambda: viewer.page.evaluate(ROWS) == list(range(5)), message="stored rows")
    write_rows(server, "auth", range(5, 9))  # live rows reach the logged-in page
    wait_until(lambda: viewer.page.evaluate(ROWS) == list(range(9)), message="live rows")
    viewer.page.screenshot(path=str(tmp_path / "logged-in.png"))
    assert viewer.errors == []
    assert viewer.foreign == []

    # the websocket opens with the login cookie (and, above, not without it), also from a
    # page the proxy serves (--allow-origin), and not from a page of another site
    cookie = viewer.cookie_header()
    assert '"msgtype": "ACK"' in open_websocket(server, cookie)
    assert '"msgtype": "ACK"' in open_websocket(server, cookie, origin=PROXY)
    assert open_websocket(server, cookie, origin="https://other.example") == "refused: HTTP 403"
    status, _, body = request(server, "GET", "/api/v1/runs", token=TOKEN)
    assert status == 200
    assert "auth" in {run["run"] for run in json.loads(body)["runs"]}

    viewer.page.goto(f"{server.url}/logout")  # logging out closes the pages again
    viewer.page.goto(f"{server.url}/?run=auth")
    viewer.page.wait_for_selector("#username")
    assert viewer.errors == []
    assert viewer.foreign == []
