"""Who may open the ingest websocket and with which token, against real servers: the Origin
must be the served origin (scheme, host and port) or a configured one, a request without
Origin (a producer) passes, and blank tokens stop every server at start."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from tests.conftest import ROOT, PanelServer, free_port

pytestmark = [pytest.mark.server]

TOKEN = "origin-test-token"
EXTRA = "https://dash.example.org"


async def _open_and_send(url: str, headers: dict[str, str], frame: str) -> Any:
    """The reply to one frame, or the refused handshake's status code."""
    try:
        connection = await websocket_connect(
            HTTPRequest(url, headers=headers, connect_timeout=30, request_timeout=30)
        )
    except HTTPClientError as exc:
        return exc.code
    try:
        await connection.write_message(frame)
        reply = await asyncio.wait_for(connection.read_message(), 30)
    finally:
        connection.close()
        while await asyncio.wait_for(connection.read_message(), 30) is not None:
            pass
    return json.loads(reply) if reply is not None else None


def ws_write(port: int, origin: str | None, run: str, value: int) -> Any:
    """Send one row over ws://127.0.0.1:PORT/api/v1/ws with the token and `origin`."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if origin is not None:
        headers["Origin"] = origin
    frame = json.dumps({"id": "m", "run": run, "stream": "s", "data": {"v": value}})
    url = f"ws://127.0.0.1:{port}/api/v1/ws"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _open_and_send(url, headers, frame)).result()


def stored_values(port: int, run: str) -> list[int]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        connection.request("GET", f"/api/v1/runs/{run}/streams/s", headers=headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status == 404:
        return []
    assert response.status == 200, (response.status, body)
    return json.loads(body)["columns"]["v"]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelServer]:
    """A token, and one extra origin (a TLS proxy's) allowed by STREAMVIS_ALLOWED_ORIGINS."""
    log = tmp_path_factory.mktemp("origin") / "server.log"
    env = {"STREAMVIS_TOKEN": TOKEN, "STREAMVIS_ALLOWED_ORIGINS": EXTRA}
    server = PanelServer([], log, env=env, plugins=True)
    yield server
    server.stop()


def test_the_websocket_accepts_only_allowed_origins(guarded: PanelServer) -> None:
    port, other = guarded.port, free_port()
    run = "origins"
    cases = {
        f"http://127.0.0.1:{port}": True,  # the page's own origin
        f"http://localhost:{port}": True,  # the same server by name
        None: True,  # no Origin: a producer (sv.Client, a script), not a browser page
        EXTRA: True,  # configured
        f"{EXTRA}:443": True,  # the same origin, port spelled out
        f"http://localhost:{other}": False,  # another local web app's page
        f"http://127.0.0.1:{other}": False,
        f"https://127.0.0.1:{port}": False,  # another scheme
        "http://dash.example.org": False,  # the configured host, another scheme
        "https://dash.example.org:8443": False,  # the configured host, another port
        "http://evil.example": False,
        "null": False,  # sandboxed frames and file:// pages
    }
    accepted = []
    for value, (origin, allowed) in enumerate(cases.items()):
        reply = ws_write(port, origin, run, value)
        if allowed:
            assert isinstance(reply, dict), (origin, reply)
            assert (reply["ok"], reply["rows"]) == (True, 1), (origin, reply)
            accepted.append(value)
        else:
            assert reply == 403, (origin, reply)
    assert stored_values(port, run) == accepted  # a refused socket wrote nothing


def _env_without_streamvis(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMVIS_")}
    return {**env, **extra}


def _script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@pytest.mark.parametrize(
    ("how", "token"),
    [("env", " "), ("env", ""), ("env", "\t\n"), ("env", " padded ")],
)
def test_panel_serve_refuses_a_blank_token_at_start(how: str, token: str) -> None:
    command = [sys.executable, "-m", "panel", "serve", str(ROOT / "apps" / "dashboard.py")]
    command += ["--plugins", "streamvis.ingest", "--address", "127.0.0.1"]
    command += ["--port", str(free_port()), "--args"]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=_env_without_streamvis(STREAMVIS_TOKEN=token),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "streamvis: refusing to start: the ingest token" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("args", "env_token"),
    [(["--token", " "], None), (["--token", ""], None), ([], "  "), (["--token", " x"], None)],
)
def test_streamvis_serve_refuses_a_blank_token_in_one_line(
    tmp_path: Path, args: list[str], env_token: str | None
) -> None:
    env = _env_without_streamvis()
    if env_token is not None:
        env["STREAMVIS_TOKEN"] = env_token
    command = [_script("streamvis"), "serve", "--port", str(free_port())]
    command += ["--store", str(tmp_path / "s.db"), *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("streamvis serve: the ingest token "), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "s.db").exists(), "refused, yet it opened the store"


def test_streamvis_server_refuses_a_blank_token(tmp_path: Path) -> None:
    command = [_script("streamvis_server"), "--token", "   "]
    command += ["--rest_port", str(free_port()), "--bokeh_port", str(free_port())]
    command += ["--store", str(tmp_path / "s.db")]
    env = _env_without_streamvis()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == (
        "streamvis_server: the ingest token is blank ('   '): give a real one with --token or "
        "STREAMVIS_TOKEN, or unset STREAMVIS_TOKEN to serve without a token on 127.0.0.1\n"
    )
