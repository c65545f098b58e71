"""Binary columns over HTTP (wire/columns.py) against a real `panel serve --plugins
streamvis.ingest` with its SQLite store: stored exactly (float32 and nanosecond times kept),
acknowledged once committed, a retried batch stored once, a malformed body refused with a
JSON error naming the run and stream and nothing stored; `sv.Client` sends numeric rows
this way and text as JSON, and every row arrives, in order."""

from __future__ import annotations

import http.client
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from streamvis import Client
from streamvis.wire import columns
from tests.conftest import PanelServer

pytestmark = [pytest.mark.server]

API = "/api/v1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelServer]:
    log = tmp_path_factory.mktemp("binary") / "server.log"
    started = PanelServer([], log, plugins=True)
    yield started
    started.stop()


def request(
    port: int, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def post_binary(port: int, run: str, stream: str, body: bytes, **headers: str) -> tuple[int, Any]:
    kind = {"Content-Type": columns.MEDIA_TYPE}
    return request(port, "POST", f"{API}/runs/{run}/streams/{stream}", body, **kind, **headers)


def read(port: int, run: str, stream: str) -> tuple[int, Any]:
    return request(port, "GET", f"{API}/runs/{run}/streams/{stream}")


def stored_rows(server: PanelServer, run: str) -> int:
    """Rows of `run` in the server's SQLite file, read with sqlite3 (WAL included)."""
    with sqlite3.connect(server.log_path.with_suffix(".db")) as db:
        found = db.execute("SELECT SUM(rows) FROM streams WHERE run = ?", (run,)).fetchone()
    return found[0] or 0


def test_binary_rows_are_stored_exactly_and_once(server: PanelServer) -> None:
    port, run = server.port, "binary-exact"
    batch = {
        "step": np.arange(3, dtype=np.int64),
        "loss": np.array([0.5, np.nan, 0.25]),
        "lr": np.array([0.1, 0.2, 0.3], dtype=np.float32),
        "ok": np.array([True, False, True]),
        "at": np.array(["2026-01-01T00:00:00.000000001"] * 3, dtype="datetime64[ns]"),
    }
    body = columns.encode(batch)
    status, answer = post_binary(port, run, "s", body, **{"X-Streamvis-Batch": "b:1"})
    assert (status, answer) == (200, {"run": run, "stream": "s", "rows": 3, "seq": 3})
    assert stored_rows(server, run) == 3  # acknowledged: already committed to SQLite
    status, again = post_binary(port, run, "s", body, **{"X-Streamvis-Batch": "b:1"})
    assert (status, again["rows"], again.get("duplicate")) == (200, 0, True)
    status, listed = request(port, "GET", f"{API}/runs/{run}/streams")
    (described,) = listed["streams"]
    assert described["columns"] == {
        "step": "integers",
        "loss": "numbers",
        "lr": "float32",
        "ok": "booleans",
        "at": "timestamps",
    }
    status, got = read(port, run, "s")
    assert got["columns"] == {
        "step": [0, 1, 2],
        "loss": [0.5, None, 0.25],
        "lr": [float(np.float32(v)) for v in (0.1, 0.2, 0.3)],
        "ok": [True, False, True],
        "at": ["2026-01-01T00:00:00.000000001"] * 3,
    }


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"SVC1\x05\x00\x00\x00[1,2]", "must be a JSON object"),
        (
            columns.encode({"x": np.arange(4.0)})[:-1],
            "1 columns of 4 rows need a body of 74 bytes, not 73",
        ),
    ],
    ids=["header_not_an_object", "body_one_byte_short"],
)
def test_a_malformed_binary_body_is_refused_and_stores_nothing(
    server: PanelServer, body: bytes, words: str
) -> None:
    port, run = server.port, "binary-bad"
    status, answer = post_binary(port, run, "s", body)
    assert status == 400
    assert (answer["error"], answer["run"], answer["stream"]) == ("invalid_columns", run, "s")
    assert words in answer["detail"]
    status, _ = read(port, run, "s")
    assert status == 404  # no stream was made
    assert stored_rows(server, run) == 0


def test_client_sends_numbers_as_binary_and_text_as_json(server: PanelServer) -> None:
    port, run = server.port, "binary-client"
    client = Client(f"http://127.0.0.1:{port}", run)
    kinds: list[str] = []
    send = client._send

    def counted(request: Any, *args: Any) -> Any:
        kinds.append(request.content_type)
        return send(request, *args)

    client._send = counted  # type: ignore[method-assign]
    try:
        nanoseconds = np.array(["2026-01-01T00:00:00.000000007"], dtype="datetime64[ns]")
        for start in range(0, 3000, 1000):  # batches, as a fast producer sends them
            steps = np.arange(start, start + 1000)
            client.stream("fast", {"step": steps, "at": np.repeat(nanoseconds, 1000)})
        for step in range(3000, 3100):  # scalar rows
            client.stream("fast", {"step": step, "at": nanoseconds[0]})
        client.stream("words", {"step": 1, "word": "text goes as JSON"})
        assert client.flush(timeout=120)
        assert client.errors == []
    finally:
        client.close()
    assert columns.MEDIA_TYPE in kinds
    assert "application/json" in kinds
    status, got = read(port, run, "fast")
    assert got["columns"]["step"] == list(range(3100))  # all of them, in order
    assert set(got["columns"]["at"]) == {"2026-01-01T00:00:00.000000007"}  # ns kept
    status, words = read(port, run, "words")
    assert words["columns"] == {"step": [1], "word": ["text goes as JSON"]}
