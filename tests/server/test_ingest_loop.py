"""Producers are acknowledged while Panel's event loop is busy with pages: a real `panel
serve --plugins streamvis.ingest` whose page holds the loop (its building waits for a file
the test writes only after the acknowledgements), so only an ingest served on a loop of
its own (server/ingest_loop.py) can answer meanwhile; the page is served once released."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tornado.websocket import websocket_connect

from tests.conftest import PATIENCE, ROOT, accepts_connections, end_process, free_port, wait_until

pytestmark = [pytest.mark.server]

SLOW_PAGE = '''
"""A page whose building holds Panel's event loop until the test writes SLOW_RELEASE."""
import os, pathlib, threading, time
import panel as pn

held, release = (pathlib.Path(os.environ[name]) for name in ("SLOW_HELD", "SLOW_RELEASE"))
held.write_text(threading.current_thread().name)
deadline = time.monotonic() + 600  # a test that died never holds a server for good
while not release.exists() and time.monotonic() < deadline:
    time.sleep(0.02)
pn.pane.Markdown("released").servable()
'''


def call(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60 * PATIENCE)
    try:
        sent = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=sent, headers=headers)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    is_json = response.getheader("Content-Type", "").startswith("application/json")
    return response.status, json.loads(payload) if is_json else payload


async def over_websocket(port: int, message: dict[str, Any]) -> Any:
    socket = await websocket_connect(f"ws://127.0.0.1:{port}/api/v1/ws")
    try:
        await socket.write_message(json.dumps(message))
        return json.loads(await socket.read_message())
    finally:
        socket.close()


def test_ingest_is_acknowledged_while_the_pages_loop_is_held(tmp_path: Path) -> None:
    page_file = tmp_path / "slow.py"
    page_file.write_text(SLOW_PAGE)
    held, release = tmp_path / "held", tmp_path / "release"
    port = free_port()
    command = [sys.executable, "-m", "panel", "serve", str(page_file), "--address", "127.0.0.1"]
    command += ["--port", str(port), "--allow-websocket-origin", f"127.0.0.1:{port}"]
    command += ["--plugins", "streamvis.ingest"]
    env = {**os.environ, "STREAMVIS_STORE": str(tmp_path / "store.db")}
    env |= {"SLOW_HELD": str(held), "SLOW_RELEASE": str(release)}
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log, concurrent.futures.ThreadPoolExecutor(1) as pool:
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_until(lambda: accepts_connections(port), message="panel serve listening")
            page = pool.submit(call, port, "GET", "/slow")  # holds Panel's loop from here on
            wait_until(held.exists, message="the page's building began")
            assert held.read_text() == "MainThread"  # Panel's loop runs on the main thread

            path = "/api/v1/runs/default/streams/s"
            first = call(port, "POST", path, {"step": [0, 1], "v": [0.5, 1.5]})
            second = call(port, "POST", path, {"step": [2], "v": [2.5]})
            message = {"id": 7, "stream": "s", "data": {"step": [3], "v": [3.5]}}
            third = asyncio_run(over_websocket(port, message))
            read_back = call(port, "GET", path)
            assert not page.done(), "the page was served: the loop was not held after all"

            assert first == (200, {"run": "default", "stream": "s", "rows": 2, "seq": 2})
            assert second == (200, {"run": "default", "stream": "s", "rows": 1, "seq": 3})
            assert (third["id"], third["ok"], third["seq"]) == (7, True, 4)
            assert read_back[0] == 200
            assert read_back[1]["columns"] == {"step": [0, 1, 2, 3], "v": [0.5, 1.5, 2.5, 3.5]}

            release.write_text("go")
            status, body = page.result(timeout=60 * PATIENCE)
            assert status == 200, body[:500]  # other connections are Panel's, as before
        finally:
            release.write_text("go")
            end_process(server)
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-5000:]


def asyncio_run(coroutine: Any) -> Any:
    import asyncio

    return asyncio.run(coroutine)
