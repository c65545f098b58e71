"""OAuth through `streamvis serve` (no provider is reachable here, none is needed): a started
server sends a page's viewer to the provider's authorize URL with the client id and redirect
URI it was given, refuses the page websocket without a login, and keeps its ingest API on the
token; an incomplete OAuth setting stops `streamvis serve` before any server starts."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import ROOT
from tests.serve_process import STREAMVIS, ServeProcess

pytestmark = pytest.mark.server

TOKEN = "oauth-producer-token"
CLIENT_ID = "streamvis-test-client"
REDIRECT = "https://dash.example.org/login"
LAYOUT = textwrap.dedent("""\
    title: oauth
    plots:
      - {id: a, kind: line, stream: s, x: step, y: a, at: [0, 0, 1, 1]}
""")
PANEL_VARIABLES = ("PANEL_OAUTH_KEY", "PANEL_OAUTH_SECRET", "PANEL_COOKIE_SECRET")


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("oauth") / "layout.yaml"
    path.write_text(LAYOUT)
    return path


@pytest.fixture(scope="module")
def server(layout: Path) -> Iterator[ServeProcess]:
    options = ["--store", "none", "--token", TOKEN, "--oauth-provider", "github"]
    options += ["--oauth-key", CLIENT_ID, "--oauth-secret", "not-a-real-secret"]
    options += ["--oauth-redirect-uri", REDIRECT, "--cookie-secret", "c00kie-secret"]
    process = ServeProcess(layout, options, layout.with_name("serve.log"), {})
    yield process
    process.stop()
    print(f"---- streamvis serve log ----\n{process.output()}")


def get(server: ServeProcess, path: str, headers: dict[str, str] | None = None):
    """GET without following redirects: (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_a_page_sends_the_viewer_to_the_provider(server: ServeProcess) -> None:
    status, headers, _ = get(server, "/serve_app?run=demo")
    assert status == 302
    login = urlsplit(headers["Location"])
    assert login.path == "./login"
    assert parse_qs(login.query)["next"] == ["/serve_app?run=demo"]

    status, headers, _ = get(server, f"/login?{login.query}")
    assert status == 302
    provider = urlsplit(headers["Location"])
    assert (provider.scheme, provider.hostname) == ("https", "github.com")
    assert provider.path == "/login/oauth/authorize"
    query = parse_qs(provider.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [REDIRECT]
    assert query["state"]  # Panel's anti-forgery state, checked when the viewer returns


def test_the_page_websocket_needs_the_login(server: ServeProcess) -> None:
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    upgrade |= {"Sec-WebSocket-Key": "c3RyZWFtdmlzLXRlc3Qta2V5", "Origin": server.url}
    upgrade |= {"Sec-WebSocket-Protocol": "bokeh, not-a-session-token"}
    status, _, _ = get(server, "/serve_app/ws", upgrade)
    assert status == 403


def test_producers_keep_the_token_and_need_no_login(server: ServeProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        rows = json.dumps([{"step": 1, "a": 0.5}])
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        connection.request("POST", "/api/v1/runs/demo/streams/s", rows, headers)
        response = connection.getresponse()
        assert response.status == 200, response.read()
        response.read()
    finally:
        connection.close()
    status, _, body = get(server, "/api/v1/runs", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert [run["run"] for run in json.loads(body)["runs"]] == ["demo"]
    status, _, body = get(server, "/api/v1/runs")  # a browser's login is not the token
    assert status == 401
    assert json.loads(body)["error"] == "unauthorized"


def test_an_incomplete_oauth_setting_stops_before_serving(layout: Path) -> None:
    command = [STREAMVIS, "serve", str(layout), "--store", "none", "--token", TOKEN]
    command += ["--oauth-provider", "github", "--cookie-secret", "c", "--oauth-key", "k"]
    env = {k: v for k, v in os.environ.items() if k not in PANEL_VARIABLES}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "streamvis: OAuth (github) needs --oauth-secret (or PANEL_OAUTH_SECRET)"
    )
    assert done.stdout == ""
