"""Writes that used to wedge, poison or corrupt a stream, against a real server and its
SQLite file: an empty first batch, text the store cannot encode next to a healthy write,
integers past int64, and a disk that fills up and frees again. After each, what the API
serves equals what a restarted server replays from the file."""

from __future__ import annotations

import http.client
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.unit.test_store_invariant import fill, small_disk  # noqa: F401 - a fixture

pytestmark = [pytest.mark.server]

API = "/api/v1"
LAYOUT = textwrap.dedent("""\
    title: faults
    plots:
      - {id: curve, kind: line, stream: s, x: step, y: v, at: [0, 0, 1, 1]}
""")


def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        payload = raw if raw is not None else (None if body is None else json.dumps(body))
        connection.request(
            method, API + path, payload, {"Content-Type": "application/json", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def columns(port: int, stream: str, run: str = "default") -> dict[str, list[Any]] | None:
    status, reply = request(port, "GET", f"/runs/{run}/streams/{stream}")
    return reply["columns"] if status == 200 else None


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    path = tmp_path / "layout.yaml"
    path.write_text(LAYOUT)
    return path


def test_bad_writes_leave_every_stream_writable_and_the_store_equal_to_memory(
    panel_server, layout: Path, tmp_path: Path
) -> None:
    db = str(tmp_path / "faults.db")
    server = panel_server(str(layout), "--store", db, plugins=True)
    port = server.port
    # an empty first batch to a new stream: a no-op, and the stream stays writable
    for empty in ([], {}):
        assert request(port, "POST", "/runs/default/streams/fresh", empty)[0] == 200
    assert request(port, "POST", "/runs/default/streams/fresh", {"a": [1, 2]})[0] == 200
    assert request(port, "POST", "/runs/default/streams/fresh", [])[0] == 200
    assert request(port, "POST", "/runs/default/streams/fresh", {"a": 3})[0] == 200
    # an empty replace empties an existing stream
    assert request(port, "POST", "/runs/default/streams/cloud", {"x": [1.0, 2.0]})[0] == 200
    status, _ = request(port, "POST", "/runs/default/streams/cloud?mode=replace", [])
    assert status == 200
    assert columns(port, "cloud") == {}
    assert request(port, "POST", "/runs/default/streams/cloud", {"x": [5.0]})[0] == 200
    # a lone surrogate is refused up front, naming stream and column; others unharmed
    assert request(port, "POST", "/runs/default/streams/victim", {"v": 1.0})[0] == 200
    status, reply = request(
        port, "POST", "/runs/default/streams/bad", raw=b'{"a": "\\ud800", "b": 1}'
    )
    assert (status, reply["error"], reply["column"]) == (422, "invalid_data", "a")
    assert "stream 'bad', column 'a'" in reply["detail"]
    assert request(port, "POST", "/runs/default/streams/victim", {"v": 2.0})[0] == 200
    # integers past int64 are refused, never wrapped
    for value in (2**63, 2**64 - 1, -(2**63) - 1):
        status, reply = request(port, "POST", "/runs/default/streams/ints", {"i": [1, value]})
        assert (status, reply["error"], reply["column"]) == (422, "invalid_data", "i")
        assert "outside the 64-bit integer range" in reply["detail"]
    assert request(port, "POST", "/runs/default/streams/ints", {"i": [2**63 - 1]})[0] == 200

    expected = {
        "fresh": {"a": [1, 2, 3]},
        "cloud": {"x": [5.0]},
        "victim": {"v": [1.0, 2.0]},
        "ints": {"i": [2**63 - 1]},
    }
    for stream, want in expected.items():
        assert columns(port, stream) == want, stream
    assert columns(port, "bad") is None
    server.stop()
    again = panel_server(str(layout), "--store", db, plugins=True)
    for stream, want in expected.items():
        assert columns(again.port, stream) == want, stream
    assert columns(again.port, "bad") is None


def test_a_full_disk_answers_503_then_recovers_without_loss_or_duplicates(
    panel_server,
    layout: Path,
    small_disk: Path,  # noqa: F811 - the fixture imported above
) -> None:
    db = str(small_disk / "store.db")
    server = panel_server(
        str(layout), "--store", db, plugins=True, env={"STREAMVIS_STORE_WAIT": "1"}
    )
    port = server.port
    acknowledged: set[int] = set()  # a duplicate reply acknowledges too: it is stored

    def send(batch: int) -> tuple[int, dict[str, Any]]:
        rows = list(range(batch * 2000, batch * 2000 + 2000))
        status, reply = request(
            port,
            "POST",
            "/runs/default/streams/s",
            {"step": rows, "v": [0.5] * len(rows)},
            headers={"X-Streamvis-Batch": f"b{batch}"},
        )
        if status == 200:
            acknowledged.update(rows)
        return status, reply

    assert send(0)[0] == 200
    filler = fill(small_disk)
    codes = set()
    batch = 1
    for batch in range(1, 200):  # write until the store says it is failing
        status, reply = send(batch)
        if status != 200:
            codes.add((status, reply["error"]))
            break
    assert codes, "the store never reported the full disk"
    assert codes <= {(503, "store_pending"), (503, "store_unavailable")}, codes
    status, reply = send(batch + 1)  # while failing, new writes are refused up front...
    assert (status, reply["error"]) in {(503, "store_unavailable"), (503, "store_pending")}
    assert columns(port, "s") is not None  # ...and reads still answer
    filler.unlink()  # space returns

    def retried() -> bool:
        return all(send(b)[0] == 200 for b in (batch, batch + 1))

    wait_until(retried, timeout=60, interval=0.5, message="writes to succeed again")
    stored = columns(port, "s")
    assert stored is not None
    assert stored["step"] == sorted(set(stored["step"])), "a row was stored twice"
    assert stored["step"] == sorted(acknowledged), "memory holds what was not acknowledged"
    server.stop()
    again = panel_server(str(layout), "--store", db, plugins=True)
    assert columns(again.port, "s") == stored
