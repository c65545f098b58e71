"""Rows a producer's full queue dropped reach the server's counts (docs/lag-and-loss.md):
a real `sv.Client` overflowing its queue against a real `panel serve --plugins
streamvis.ingest`, and the same report sent by hand over HTTP and the websocket, where a
producer that never reports (an older client) is unaffected."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.websocket import websocket_connect

from streamvis import Client
from tests.conftest import PanelServer, wait_until

pytestmark = [pytest.mark.server]

API = "/api/v1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelServer]:
    started = PanelServer([], tmp_path_factory.mktemp("drops") / "server.log", plugins=True)
    yield started
    started.stop()
    assert "Traceback" not in started.output(), started.output()[-5000:]


def request(port: int, method: str, path: str, body: Any = None, **headers: str) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        if body is not None:
            headers["Content-Type"] = "application/json"
        sent = None if body is None else json.dumps(body)
        connection.request(method, path, body=sent, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def producer_dropped(port: int, run: str) -> dict[str, int]:
    """`producer_dropped` of each stream of `run`, as the streams listing gives it."""
    status, body = request(port, "GET", f"{API}/runs/{run}/streams")
    assert status == 200, body
    return {stream["stream"]: stream["producer_dropped"] for stream in body["streams"]}


def test_a_client_whose_queue_overflows_reports_what_it_dropped(server: PanelServer) -> None:
    written = 5_000
    # the sender lets a batch gather for half a second: the loop below fills the queue first
    client = Client(f"127.0.0.1:{server.port}", "lossy", queue_rows=100, flush_interval=0.5)
    client.set_when_full("kept", "drop_newest")
    try:
        client.stream("kept", {"i": 0})  # kept's stream exists before its rows are dropped
        for i in range(written):
            client.stream("steps", {"i": i})
        for i in range(1, 6):
            client.stream("kept", {"i": i})  # drop_newest: kept's new rows go, not steps'
        assert client.flush(timeout=120), "the client did not deliver"
        dropped = client.dropped()
        assert dropped["steps"] > 0, "the queue never overflowed"
        assert client.errors == []
        counts = wait_until(
            lambda: (c := producer_dropped(server.port, "lossy")) == dropped and c,
            message="the server's counts equal the client's",
        )
        assert counts == dropped
        status, body = request(server.port, "GET", f"{API}/runs/lossy/streams/steps")
        assert status == 200
        assert len(body["columns"]["i"]) + dropped["steps"] == written
        assert body["columns"]["i"][-1] == written - 1  # drop_oldest keeps the newest
        status, body = request(server.port, "GET", f"{API}/runs/lossy/streams/kept")
        assert body["columns"]["i"][0] == 0
        assert len(body["columns"]["i"]) + dropped.get("kept", 0) == 6
    finally:
        client.close(timeout=0)
        client._disconnect()


def test_reports_by_hand_count_once_per_producer(server: PanelServer) -> None:
    path = f"{API}/runs/hand/streams/s"
    row = {"x": 1.0}
    assert request(server.port, "POST", path, row)[0] == 200  # no report: an older client
    assert producer_dropped(server.port, "hand") == {"s": 0}
    report = {"X-Streamvis-Dropped": "40", "X-Streamvis-Producer": "a"}
    for _ in range(2):  # a resent report (a retry) counts once
        assert request(server.port, "POST", path, row, **report)[0] == 200
    assert request(server.port, "POST", path, row, **{"X-Streamvis-Dropped": "2"})[0] == 200
    assert producer_dropped(server.port, "hand") == {"s": 42}
    status, refused = request(server.port, "POST", path, row, **{"X-Streamvis-Dropped": "-1"})
    assert status == 400
    assert refused["error"] == "invalid_dropped"
    assert (refused["run"], refused["stream"]) == ("hand", "s")
    assert "X-Streamvis-Dropped" in refused["detail"]

    async def over_the_websocket() -> list[Any]:
        connection = await websocket_connect(f"ws://127.0.0.1:{server.port}{API}/ws")
        replies = []
        for dropped in (8, -3):
            message = {"run": "hand", "stream": "s", "data": row, "dropped": dropped}
            await connection.write_message(json.dumps({**message, "producer": "w", "id": 1}))
            replies.append(json.loads(await connection.read_message()))
        connection.close()
        return replies

    # a thread with a loop of its own: Playwright's may be running in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        accepted, bad = pool.submit(asyncio.run, over_the_websocket()).result()
    assert accepted["ok"] is True
    assert (bad["ok"], bad["error"], bad["stream"]) == (False, "invalid_dropped", "s")
    assert producer_dropped(server.port, "hand") == {"s": 50}
    status, body = request(server.port, "GET", f"{API}/runs/hand/streams/s")
    assert len(body["columns"]["x"]) == 5  # refused reports stored nothing
