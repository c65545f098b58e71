"""Run attributes over HTTP against a real `panel serve --plugins streamvis.ingest`: PUT
merges and GET returns them (and the runs listing), bad input is a 4xx JSON envelope naming
run and key with nothing changed, markup is kept as text, and `sv.Client(attributes=...)`
lands them before its rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import streamvis as sv
from tests.conftest import PanelServer, wait_until
from tests.server.test_ingest_api import call, get_json

pytestmark = [pytest.mark.server]
API = "/api/v1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelServer]:
    """One server for the file; each test uses runs of its own."""
    log = tmp_path_factory.mktemp("attributes") / "server.log"
    started = PanelServer(["--run", "attributes"], log, plugins=True)
    try:
        yield started
    finally:
        started.stop()


def unique(prefix: str = "run") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def put(server: PanelServer, run: str, body: Any) -> Any:
    text = body if isinstance(body, str) else json.dumps(body)
    return call(server.port, "PUT", f"{API}/runs/{run}/attributes", text)


def test_put_merges_get_returns_and_the_runs_listing_shows_them(server: PanelServer) -> None:
    run = unique()
    assert call(server.port, "GET", f"{API}/runs/{run}/attributes").status == 404
    first = put(server, run, {"lr": 0.0003, "seed": 1, "optimizer": "adam", "warmup": True})
    assert first.status == 200, first
    second = put(server, run, {"warmup": None, "seed": 2})
    expected = {"lr": 0.0003, "seed": 2, "optimizer": "adam"}
    assert second.json == {"run": run, "attributes": expected}
    assert get_json(server.port, f"{API}/runs/{run}/attributes") == expected
    listed = {r["run"]: r for r in get_json(server.port, f"{API}/runs")["runs"]}
    assert listed[run]["attributes"] == expected
    assert listed[run]["streams"] == 0  # attributes before any row make the run
    payload = "<img src=x onerror=sv_pwn('attr')>"
    assert put(server, run, {"note": payload}).status == 200
    reply = call(server.port, "GET", f"{API}/runs/{run}/attributes")
    assert reply.headers["content-type"] == "application/json"
    assert reply.json["note"] == payload  # kept as the characters it is


BAD = [  # (body, path run, status, error code, key)
    ('{"bad key": 1}', None, 422, "invalid_attributes", "bad key"),
    ('{"lr": Infinity}', None, 422, "invalid_attributes", "lr"),
    ('{"lr": NaN}', None, 422, "invalid_attributes", "lr"),
    ('{"cfg": {"depth": 3}}', None, 422, "invalid_attributes", "cfg"),
    ('{"note": "' + "x" * 201 + '"}', None, 422, "invalid_attributes", "note"),
    ('{"n": 9223372036854775808}', None, 422, "invalid_attributes", "n"),
    (json.dumps({f"k{i}": i for i in range(65)}), None, 422, "invalid_attributes", None),
    ("[1, 2]", None, 422, "invalid_attributes", None),
    ('"lr"', None, 422, "invalid_attributes", None),
    ('{"lr": ', None, 400, "invalid_json", None),
    ('{"lr": 1}', "bad name", 400, "invalid_name", None),
]


@pytest.mark.parametrize(("body", "path_run", "status", "code", "key"), BAD)
def test_bad_attributes_are_a_4xx_envelope_naming_run_and_key_and_change_nothing(
    server: PanelServer, body: str, path_run: str | None, status: int, code: str, key: str | None
) -> None:
    run = unique()
    assert put(server, run, {"seed": 1}).status == 200
    target = run if path_run is None else path_run.replace(" ", "%20")
    reply = put(server, target, body)
    assert reply.status == status, reply
    assert reply.json["error"] == code
    if code == "invalid_attributes":
        assert reply.json["run"] == run
        assert f"run '{run}'" in reply.json["detail"]
        assert reply.json.get("key") == key
        if key is not None:
            assert f"'{key}'" in reply.json["detail"]
    assert get_json(server.port, f"{API}/runs/{run}/attributes") == {"seed": 1}


def test_the_websocket_sets_them_too(server: PanelServer) -> None:
    import asyncio
    import concurrent.futures

    from tornado.websocket import websocket_connect

    run = unique()

    async def exchange() -> list[Any]:
        socket = await websocket_connect(f"ws://127.0.0.1:{server.port}{API}/ws")
        try:
            replies = []
            for message in (
                {"id": 1, "op": "attributes", "run": run, "attributes": {"seed": 5}},
                {"id": 2, "op": "attributes", "run": run, "attributes": {"seed": [5]}},
            ):
                await socket.write_message(json.dumps(message))
                replies.append(json.loads(await socket.read_message()))
            return replies
        finally:
            socket.close()

    # on a thread of its own: an earlier test may leave an event loop running on this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        good, bad = pool.submit(asyncio.run, exchange()).result()
    assert good == {"id": 1, "ok": True, "run": run, "attributes": {"seed": 5}}
    assert bad["ok"] is False
    assert (bad["error"], bad["run"], bad["key"]) == ("invalid_attributes", run, "seed")
    assert get_json(server.port, f"{API}/runs/{run}/attributes") == {"seed": 5}


def test_a_client_sends_its_attributes_before_its_rows(server: PanelServer) -> None:
    run = unique("client")
    client = sv.Client(
        f"http://127.0.0.1:{server.port}", run, attributes={"lr": 0.001, "optimizer": "sgd"}
    )
    try:
        client.stream("loss", {"step": 0, "loss": 1.0})
        client.set_attributes(seed=3, optimizer=None)
        assert client.flush(timeout=120)
        assert client.errors == []
    finally:
        client.close()
    expected = {"lr": 0.001, "seed": 3}
    wait_until(
        lambda: get_json(server.port, f"{API}/runs/{run}/attributes") == expected,
        message="the client's attributes on the server",
    )
    streams = get_json(server.port, f"{API}/runs/{run}/streams")["streams"]
    assert [s["stream"] for s in streams] == ["loss"]
